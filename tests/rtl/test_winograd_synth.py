"""Yosys synth_xilinx: Winograd transforms use no DSP48E1; the EWMM array one per multiplier (int8).

The default suite checks every transform's Verilog for multiplications (none: shifts and adds)
and runs two syntheses (an F(4,3) filter transform and an F(2,3) EWMM array with pn = 2);
``-m slow`` synthesises every stage of every F(m,3). bench/bench_winograd_synth.py prints the
full LUT/FF/DSP table.
"""

import re

import pytest

from dse.synth import synth_counts
from rtl.pe.ewmm_array import EwmmArray
from rtl.pe.winograd_filter_transform import WinogradFilterTransform
from rtl.pe.winograd_input_transform import WinogradInputTransform
from rtl.pe.winograd_output_transform import WinogradOutputTransform
from rtl.verilog import to_verilog

TRANSFORMS = {
    "input": lambda m: WinogradInputTransform(m, pn=1),
    "filter": lambda m: WinogradFilterTransform(m, pm=1, pn=1),
    "output": lambda m: WinogradOutputTransform(m, pm=1, max_channels=64),
}


#: A binary ``*`` between two operands in Amaranth's Verilog (not ``(* attr *)``, ``@*``, comments).
MULTIPLY = re.compile(r"[\w\])]\s\*\s[\w$\\(]")


@pytest.mark.parametrize("kind", list(TRANSFORMS))
@pytest.mark.parametrize("m", [2, 4, 6])
def test_transforms_contain_no_multiplier(m, kind):
    """Structural check of the generated Verilog: constants are shifts and adds, no ``*`` at all."""
    assert not MULTIPLY.search(to_verilog(TRANSFORMS[kind](m), "t")), "a multiplication in a Winograd transform"


def test_multiplier_pattern_finds_the_ewmm_products():
    assert len(MULTIPLY.findall(to_verilog(EwmmArray(2, 1, 1, max_channels=4), "t"))) == 16


def test_filter_transform_uses_no_dsp():
    counts = synth_counts(to_verilog(WinogradFilterTransform(4, pm=1, pn=1), "ft"), "ft")
    assert counts["DSP"] == 0, counts["cells"]
    assert counts["BRAM36"] == 0 and counts["LUT"] > 0


def test_ewmm_array_uses_one_dsp_per_multiplier():
    dut = EwmmArray(2, pm=1, pn=2, max_channels=512)
    counts = synth_counts(to_verilog(dut, "ewmm"), "ewmm")
    assert counts["DSP"] == dut.multipliers == 32, counts["cells"]
    assert counts["BRAM36"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(TRANSFORMS))
@pytest.mark.parametrize("m", [2, 4, 6])
def test_every_transform_uses_no_dsp(m, kind):
    counts = synth_counts(to_verilog(TRANSFORMS[kind](m), "t"), "t")
    assert counts["DSP"] == 0, counts["cells"]


@pytest.mark.slow
@pytest.mark.parametrize("m", [2, 4, 6])
def test_every_ewmm_uses_one_dsp_per_multiplier(m):
    dut = EwmmArray(m, pm=2, pn=1, max_channels=512)
    counts = synth_counts(to_verilog(dut, "ewmm"), "ewmm")
    assert counts["DSP"] == dut.multipliers == 2 * (m + 2) ** 2, counts["cells"]
