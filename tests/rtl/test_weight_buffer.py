"""WeightBuffer: cocotb + Verilator, ping-pong swaps under every speed ratio of loads and passes."""

import json

import pytest

from rtl.buffers.line_buffer import DirectLineBuffer
from rtl.buffers.weight_buffer import WeightBuffer
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog
from tests.rtl.tb_buffer_harness import layout_fields

# pm != pn, a depth that is not a power of two, 16-bit data (the Q8.8 build option).
BUILD = dict(pm=2, pn=3, data_width=16, depth=11)


def weight_buffer_params(dut, **extra):
    return dict(pm=dut.pm, pn=dut.pn, data_width=dut.data_width, depth=dut.depth,
                load_fields=layout_fields(dut.load_layout), tap_fields=layout_fields(dut.tap_layout),
                out_fields=layout_fields(dut.o.payload.shape()), **extra)


def weight_buffer_model():
    dut = WeightBuffer(**BUILD)
    return dut, build(to_verilog(dut, "weight_buffer"), "weight_buffer")


def test_weight_buffer_ping_pong():
    dut, model = weight_buffer_model()
    run_cocotb(model, "tests.rtl.tb_weight_buffer", extra_env={PARAMS_ENV: json.dumps(weight_buffer_params(dut))})


def test_tap_field_matches_line_buffer():
    """wiring.connect(line_buffer.o, weight_buffer.i) works at the default and reduced depths."""
    lb = DirectLineBuffer(8, 8, 224, 64, 3)
    assert WeightBuffer(8, 8, 8, 576).i.signature.flip() == lb.o.signature
    small = WeightBuffer(8, 8, 8, 200, tap_width=lb.tap_width)
    assert small.i.signature.flip() == lb.o.signature
    with pytest.raises(ValueError, match="tap_width"):
        WeightBuffer(8, 8, 8, 576, tap_width=9)
