"""Requantiser: cocotb + Verilator against sim.reference.requantize."""

import json

import pytest

from rtl.pe.requantiser import Requantiser
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog

# (pm, acc_width, lanes, relu): one step of pm lanes, pm steps of one lane, and two steps of two
# lanes (step s, lane k must take channel s * lanes + k's parameters).
CONFIGS = [(4, 28, 4, 0), (4, 28, 1, 1), (2, 40, 2, 1), (4, 28, 2, 0)]


@pytest.mark.parametrize("pm,accw,lanes,relu", CONFIGS, ids=[f"pm{a}-acc{b}-lanes{c}-relu{d}" for a, b, c, d in CONFIGS])
def test_requantiser_matches_reference(pm, accw, lanes, relu):
    dut = Requantiser(pm, accw, lanes=lanes)
    model = build(to_verilog(dut, "requantiser"), "requantiser")
    params = dict(pm=pm, acc_width=accw, relu=relu, pixels=7, groups=6, seed=pm + accw + lanes)
    run_cocotb(model, "tests.rtl.tb_requantiser", extra_env={PARAMS_ENV: json.dumps(params)})


def test_requantiser_refuses_bad_lanes():
    with pytest.raises(ValueError, match="lanes must divide pm"):
        Requantiser(4, 28, lanes=3)
