"""Yosys synth_xilinx: the MAC array maps every multiplier onto its own DSP48E1."""

import pytest

from dse.synth import synth_counts
from rtl.pe.mac_array import MacArray
from rtl.verilog import to_verilog


@pytest.mark.parametrize("pm,pn,dw", [(2, 2, 8), (3, 4, 16)])
def test_mac_array_uses_one_dsp_per_multiplier(pm, pn, dw):
    counts = synth_counts(to_verilog(MacArray(pm, pn, dw, max_terms=9 * 512), "mac_array"), "mac_array")
    assert counts["DSP"] == pm * pn, counts["cells"]
    assert counts["BRAM36"] == 0
    assert counts["LUT"] > 0 and counts["FF"] > 0
