"""Pooling: cocotb + Verilator against numpy 2x2 stride-2 max and average pooling."""

import json

import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from rtl.pe.pooling import Pooling
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog

# (pm, dw, max_width): int8 pixels at an even and an odd maximum width, and 16-bit pixels
# (whose sums would overflow an int8 reference).
CONFIGS = [(4, 8, 16), (3, 8, 10), (2, 16, 8)]


def pixel_layout(pm, dw):
    """The requantiser's output layout."""
    return data.StructLayout({"data": data.ArrayLayout(signed(dw), pm), "last": 1})


@pytest.mark.parametrize("pm,dw,max_width", CONFIGS, ids=[f"pm{a}-dw{b}-w{c}" for a, b, c in CONFIGS])
def test_pooling_matches_numpy(pm, dw, max_width):
    dut = Pooling(pixel_layout(pm, dw), max_width)
    model = build(to_verilog(dut, "pooling"), "pooling")
    params = dict(pm=pm, dw=dw, max_width=max_width, latency=Pooling.LATENCY, seed=pm * 100 + dw + max_width)
    run_cocotb(model, "tests.rtl.tb_pooling", extra_env={PARAMS_ENV: json.dumps(params)})


@pytest.mark.parametrize("payload", [
    data.StructLayout({"data": data.ArrayLayout(8, 4), "last": 1}),             # unsigned lanes
    data.StructLayout({"data": data.ArrayLayout(signed(8), 4)}),                # no last
    data.StructLayout({"data": data.ArrayLayout(signed(8), 4), "last": 2}),     # wide last
    data.StructLayout({"data": signed(8), "last": 1}),                          # not an array
    data.ArrayLayout(signed(8), 4),                                             # not a struct
], ids=["unsigned", "no-last", "wide-last", "scalar-data", "array"])
def test_pooling_refuses_bad_payload(payload):
    with pytest.raises(ValueError, match="payload must be StructLayout"):
        Pooling(payload, 8)


def test_pooling_refuses_narrow_rows():
    with pytest.raises(ValueError, match="max_width must be >= 2"):
        Pooling(pixel_layout(4, 8), 1)
