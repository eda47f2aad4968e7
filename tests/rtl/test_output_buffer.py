"""OutputBuffer: cocotb + Verilator, tiles in, raster pixels out, against numpy (F(4,3) tiles)."""

import json

import pytest

from rtl.buffers.output_buffer import OutputBuffer
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog
from tests.rtl.tb_buffer_harness import layout_fields

# m=4, pm=3, 20-bit elements (an accumulator-like width), max output width 13; and F(2,3) and
# F(6,3) builds (the edge-tile flags depend on m).
BUILDS = {4: dict(m=4, pm=3, data_width=20, max_width=13, max_groups=3),
          2: dict(m=2, pm=2, data_width=12, max_width=13, max_groups=3),
          6: dict(m=6, pm=1, data_width=16, max_width=13, max_groups=3)}
MAX_HEIGHT = 20

# (Wo, Ho): exact multiples of m, partial last tile column/row, narrower than the maximum,
# a single pixel, a single strip, one column.
# (Wo, Ho, G): G output-channel groups visit each strip in turn.
CONFIGS = [(13, 10), (8, 8), (5, 13), (12, 3), (1, 1), (4, 4), (7, 20), (1, 9), (11, 17),
           (13, 10, 2), (5, 6, 3), (1, 1, 3), (12, 12), (6, 7, 2), (2, 2, 2)]
THROUGHPUT_CONFIGS = [(13, 10), (8, 12), (8, 6, 3)]


def output_buffer_params(dut, **extra):
    return dict(m=dut.m, pm=dut.pm, data_width=dut.data_width, cfg_fields=layout_fields(dut.cfg_layout),
                configs=CONFIGS, throughput_configs=THROUGHPUT_CONFIGS, **extra)


def output_buffer_model(m=4):
    dut = OutputBuffer(**BUILDS[m], max_height=MAX_HEIGHT)
    return dut, build(to_verilog(dut, "output_buffer"), "output_buffer")


@pytest.mark.parametrize("m", [2, 4, 6])
def test_output_buffer_raster_order(m):
    dut, model = output_buffer_model(m)
    run_cocotb(model, "tests.rtl.tb_output_buffer", extra_env={PARAMS_ENV: json.dumps(output_buffer_params(dut))})


def test_output_buffer_geometry():
    dut = OutputBuffer(4, 8, 32, 224)
    assert dut.depth == 2 * 4 * 224
    with pytest.raises(ValueError, match="m must be"):
        OutputBuffer(3, 8, 32, 224)
