"""The timing estimate: exact arithmetic on a hand-made netlist, and the paths of synthesised modules."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dse.delay_model import DELAY_MODELS
from dse.report import timing_lines
from dse.synth import synthesize
from dse.timing import TimingError, estimate_timing
from rtl.verilog import to_verilog

M = DELAY_MODELS["xc7"]


def _fd(d, q):
    return {"type": "FDRE", "parameters": {}, "port_directions": {"C": "input", "CE": "input", "D": "input", "R": "input", "Q": "output"},
            "connections": {"C": [2], "CE": ["1"], "D": [d], "R": ["0"], "Q": [q]}}


def _netlist(cells, ports=None, netnames=None):
    return {"modules": {"top": {"ports": ports or {"clk": {"direction": "input", "bits": [2]}},
                                "cells": cells, "netnames": netnames or {}}}}


def test_hand_made_path_is_summed_exactly():
    """FF -> LUT2 -> CARRY4 (S[0] -> CO[3]) -> CARRY4 (CI -> O[1]) -> FF; the LUT output also
    feeds a second FF, so its net has fan-out 2."""
    carry_dirs = {"CI": "input", "CYINIT": "input", "DI": "input", "S": "input", "O": "output", "CO": "output"}
    cells = {
        "a": _fd(20, 10),
        "lut": {"type": "LUT2", "parameters": {}, "port_directions": {"I0": "input", "I1": "input", "O": "output"},
                "connections": {"I0": [10], "I1": [10], "O": [11]}},
        "c0": {"type": "CARRY4", "parameters": {}, "port_directions": carry_dirs,
               "connections": {"CI": ["0"], "CYINIT": ["0"], "DI": ["0"] * 4, "S": [11, "0", "0", "0"],
                               "O": [30, 31, 32, 33], "CO": [40, 41, 42, 43]}},
        "c1": {"type": "CARRY4", "parameters": {}, "port_directions": carry_dirs,
               "connections": {"CI": [43], "CYINIT": ["0"], "DI": ["0"] * 4, "S": ["0"] * 4,
                               "O": [50, 51, 52, 53], "CO": [60, 61, 62, 63]}},
        "b": _fd(51, 21),
        "c": _fd(11, 22),
    }
    names = {"a_q": {"bits": [10], "hide_name": 0}, "b_q": {"bits": [21], "hide_name": 0}}
    r = estimate_timing(_netlist(cells, netnames=names), "top", "xc7")
    expected = (M.ff_clock_to_q + M.route(2) + M.lut            # a.Q fans out to both LUT inputs
                + M.route(2) + M.carry_in                       # LUT O -> c0.S[0] and c.D
                + 0.0 + M.carry_sum                             # dedicated CO[3] -> CI, CI -> O[1]
                + M.route(1) + M.ff_setup_d)
    assert r.worst == pytest.approx(expected)
    assert r.paths[0].start == "a_q" and r.paths[0].end == "b_q (D)"
    assert [s.cell for s in r.paths[0].stages] == ["FDRE", "LUT2", "CARRY4", "CARRY4"]
    assert r.fmax_mhz == pytest.approx(1000 / expected)
    assert r.failing(1000 / (expected - 0.01)) == 1 and r.failing(1000 / (expected + 0.01)) == 0


def test_unknown_cells_and_loops_are_refused():
    with pytest.raises(TimingError, match="MYSTERY"):
        estimate_timing(_netlist({"x": {"type": "MYSTERY", "parameters": {}, "port_directions": {}, "connections": {}}}), "top")
    lut = {"I0": "input", "O": "output"}
    loop = {"l1": {"type": "LUT1", "parameters": {}, "port_directions": lut, "connections": {"I0": [5], "O": [6]}},
            "l2": {"type": "LUT1", "parameters": {}, "port_directions": lut, "connections": {"I0": [6], "O": [5]}}}
    with pytest.raises(TimingError, match="loop"):
        estimate_timing(_netlist(loop), "top")


def test_fanout_grows_the_routing_delay_up_to_the_cap():
    assert M.route(1) == pytest.approx(M.net)
    assert M.route(8) == pytest.approx(M.net + 3 * M.net_per_doubling)
    assert M.route(10 ** 6) == M.route(M.fanout_cap)


class _Adder(wiring.Component):
    """Registered a, b -> a + b (``width`` bits), optionally split over two cycles."""

    def __init__(self, width: int, split: bool):
        self.width, self.split = width, split
        super().__init__({"a": In(width), "b": In(width), "s": Out(width + 1)})

    def elaborate(self, platform):
        m = Module()
        a = Signal(self.width, name="ra")
        b = Signal(self.width, name="rb")
        m.d.sync += [a.eq(self.a), b.eq(self.b)]
        if self.split:
            half = self.width // 2
            lo = Signal(half + 1, name="lo")
            a_hi = Signal(self.width - half, name="a_hi")
            b_hi = Signal(self.width - half, name="b_hi")
            m.d.sync += [lo.eq(a[:half] + b[:half]), a_hi.eq(a[half:]), b_hi.eq(b[half:])]
            m.d.sync += self.s.eq((((a_hi + b_hi + lo[half]) << half) | lo[:half]))
        else:
            m.d.sync += self.s.eq(a + b)
        return m


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_a_wide_adder_is_a_carry_chain_and_splitting_it_helps(family):
    reports = {}
    for split in (False, True):
        top = f"adder_{'split' if split else 'whole'}"
        syn = synthesize(to_verilog(_Adder(96, split), top), top, family)
        reports[split] = estimate_timing(syn.netlist(), top, family)
    whole = reports[False]
    assert any(s.cell.startswith("CARRY") for s in whole.paths[0].stages)
    assert whole.paths[0].start.startswith(("ra[", "rb[")) and whole.paths[0].end.startswith("s[")
    assert reports[True].worst < whole.worst


def test_report_states_the_estimate_and_the_verdict():
    """The report section says estimate, the verdict against the design's clock and the worst paths."""
    top = "adder_report"
    syn = synthesize(to_verilog(_Adder(96, False), top), top, "xc7")
    r = estimate_timing(syn.netlist(), top, "xc7")
    slow, fast = r.fmax_mhz * 1.1, r.fmax_mhz * 0.9
    text = "\n".join(timing_lines(r.to_dict(mhz=slow), slow))
    assert "## Timing (estimate)" in text and "does NOT meet" in text and "not Vivado sign-off" in text
    assert f"{r.fmax_mhz:.1f} MHz" in text and f"| {r.worst:.3f} |" in text
    assert f"`{r.paths[0].start}`" in text
    ok = "\n".join(timing_lines(r.to_dict(mhz=fast), fast))
    assert "meets its" in ok and ": 0 of " in ok
    assert timing_lines(None, 150) == []
