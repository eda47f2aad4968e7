"""MacArray: cocotb + Verilator against numpy for several (pm, pn, width) configurations."""

import json

import pytest

from rtl.pe.mac_array import MacArray
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog

# pn = 6 (a parallelism of 3 * 2^a, as the DSE picks for LeNet on PYNQ-Z2: pm = 24, pn = 6) makes
# three pairs of products: an adder-tree level with an odd element, which the others never have.
CONFIGS = [(2, 2, 8), (4, 8, 8), (3, 4, 16), (1, 1, 8), (2, 6, 8)]


@pytest.mark.parametrize("pm,pn,dw", CONFIGS, ids=[f"pm{a}-pn{b}-w{c}" for a, b, c in CONFIGS])
def test_mac_array_matches_numpy(pm, pn, dw):
    dut = MacArray(pm, pn, dw, max_terms=11 * pn)
    model = build(to_verilog(dut, "mac_array"), "mac_array")
    params = dict(pm=pm, pn=pn, data_width=dw, acc_width=dut.acc_width, latency=MacArray.LATENCY, seed=pm * 100 + pn)
    run_cocotb(model, "tests.rtl.tb_mac_array", extra_env={PARAMS_ENV: json.dumps(params)})


def test_accumulator_width_is_exact():
    # int8: 11 products of (-128)*(-128) = 180224 needs 19 bits signed.
    assert MacArray(1, 1, 8, max_terms=11).acc_width == 19
    # VGG16's largest direct accumulation, 3*3*512 int8 products: 16384*4608 = 2^26 * 1.125 -> 28 bits.
    assert MacArray(1, 1, 8, max_terms=9 * 512).acc_width == 28


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="data_width"):
        MacArray(2, 2, 12)
    with pytest.raises(ValueError, match="pm and pn"):
        MacArray(0, 2)
