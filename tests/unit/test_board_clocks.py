"""Every board claims a PL clock its PS PLL delivers, and a build carries that clock everywhere
(issue 29): the DSE's configuration, CLOCK_KHZ, the report, design.json and the driver's times."""

import json
import math

import pytest

from dse.boards import BOARDS, PL_DIVISOR_MAX, get_board, pl_clock_at_most
from dse.build import build
from rtl.registers import control_register_map


@pytest.mark.parametrize("name", list(BOARDS))
def test_every_board_claims_a_clock_its_pll_makes(name):
    b = get_board(name)
    n = b.pl_divisor(b.clock_mhz)
    assert n is not None and b.pl_pll_mhz > 0
    # n is a product of two divisors of 1..63, and the clock is the PLL over it, exactly.
    assert any(n % a == 0 and n // a <= PL_DIVISOR_MAX for a in range(1, PL_DIVISOR_MAX + 1))
    assert math.isclose(b.pl_pll_mhz / n, b.clock_mhz, rel_tol=1e-12)
    # The fastest such clock not above the target the designs close timing at.
    assert b.clock_mhz == max(f for f in b.pl_clocks(10, 1000) if f <= b.clock_mhz * (1 + 1e-12))


def test_the_clocks_of_the_issue():
    """PYNQ-Z2 runs 1000/7 MHz (PYNQ's own base overlay asks 142 and gets 142.857)."""
    assert get_board("pynq-z2").clock_mhz == 1000 / 7
    assert pl_clock_at_most(1000.0, 150.0) == 1000 / 7 and pl_clock_at_most(1000.0, 200.0) == 200.0
    assert get_board("pynq-z2").pl_clocks(100, 200) == (200.0, 1000 / 6, 1000 / 7, 125.0, 1000 / 9, 100.0)
    assert get_board("kv260").pl_divisor(200.0) is None       # 1499.985 MHz / 7.5: not an integer
    assert get_board("kv260").pl_divisor(1499.985 / 8) == 8


def test_a_build_carries_the_board_clock_everywhere(tmp_path):
    folder, design = build("lenet", "pynq-z2", tmp_path / "lenet", population=6, generations=2, write_verilog=False)
    cfg = design.config
    assert cfg.clock_mhz == 1000 / 7
    assert control_register_map(cfg)["CLOCK_HZ"]["CLOCK_HZ"].constant == 142857143
    dj = json.loads((folder / "design.json").read_text())
    rj = json.loads((folder / "report.json").read_text())
    assert dj["clock_mhz"] == rj["clock_mhz"] == dj["config"]["clock_mhz"] == 1000 / 7
    assert "142.857 MHz" in (folder / "report.md").read_text() and "150 MHz" not in (folder / "report.md").read_text()
