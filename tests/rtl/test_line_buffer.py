"""DirectLineBuffer: cocotb + Verilator against numpy window extraction (one build, many passes)."""

import json

import pytest

from rtl.buffers.line_buffer import DirectLineBuffer
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog
from tests.rtl.tb_buffer_harness import layout_fields

# Build maxima: pn=2, max_width=9, max_cg=3, K<=5, S<=2, and row_words=20 < 9*3 so the
# W*CG product, not both maxima, bounds a row (as AcceleratorConfig.row_words does).
BUILD = dict(pn=2, data_width=8, max_width=9, max_channel_groups=3, max_kernel=5, max_stride=2, row_words=20)
MAX_HEIGHT = 12

# (W, H, CG, K, S, P): odd and even sizes, widths below the maximum, stride 1 and 2, every
# padding up to K-1, 1x1 kernels, trailing rows no output uses (H=8, K=3, S=2, P=0), Ho=1.
CONFIGS = [
    (9, 6, 2, 3, 1, 1),
    (6, 5, 3, 3, 2, 1),
    (5, 8, 2, 3, 2, 0),
    (7, 7, 1, 5, 1, 2),
    (4, 4, 2, 1, 1, 0),
    (8, 6, 2, 5, 2, 4),
    (3, 3, 1, 3, 1, 2),
    (9, 2, 2, 1, 2, 0),
    (1, 1, 1, 1, 1, 0),
    (2, 9, 3, 3, 2, 2),
    (6, 11, 3, 5, 1, 0),
    (9, 12, 2, 4, 2, 3),
    (10 - 1, 3, 1, 2, 1, 1),
]
THROUGHPUT_CONFIGS = [(9, 6, 2, 3, 1, 1), (6, 5, 3, 1, 1, 0), (8, 7, 2, 3, 2, 1)]


def line_buffer_params(dut, **extra):
    return dict(pn=dut.pn, data_width=dut.data_width, rows=dut.rows, cfg_fields=layout_fields(dut.cfg_layout),
                tap_fields=layout_fields(dut.tap_layout), configs=CONFIGS,
                throughput_configs=THROUGHPUT_CONFIGS, **extra)


def line_buffer_model():
    dut = DirectLineBuffer(**BUILD, max_height=MAX_HEIGHT)
    return dut, build(to_verilog(dut, "line_buffer"), "line_buffer")


def test_line_buffer_matches_numpy_windows():
    dut, model = line_buffer_model()
    run_cocotb(model, "tests.rtl.tb_line_buffer", extra_env={PARAMS_ENV: json.dumps(line_buffer_params(dut))})


# Many channel groups on narrow rows: a ring row (CG * W words) is far longer than any pixel
# coordinate (max(W, H) + 2K + S), so the column counters need the row's width, not a pixel's.
DEEP_BUILD = dict(pn=2, data_width=8, max_width=8, max_channel_groups=6, max_kernel=3, max_stride=2, row_words=48)
DEEP_CONFIGS = [(8, 5, 6, 3, 1, 1), (6, 6, 6, 1, 1, 0), (8, 7, 6, 3, 2, 0), (7, 4, 5, 2, 1, 1)]


def test_line_buffer_long_rows_of_many_channel_groups():
    dut = DirectLineBuffer(**DEEP_BUILD, max_height=8)
    model = build(to_verilog(dut, "line_buffer_deep"), "line_buffer_deep")
    params = line_buffer_params(dut)
    params.update(configs=DEEP_CONFIGS, throughput_configs=DEEP_CONFIGS[:1])
    run_cocotb(model, "tests.rtl.tb_line_buffer", extra_env={PARAMS_ENV: json.dumps(params)})


def test_geometry_and_refusals():
    dut = DirectLineBuffer(8, 8, 224, 8, 3)
    assert dut.rows == 5 and dut.row_words == 224 * 8 and dut.depth == 5 * 224 * 8
    assert dut.tap_width == 7  # taps 0..71
    assert DirectLineBuffer(8, 8, 224, 8, 3, row_words=896).depth == 5 * 896
    with pytest.raises(ValueError, match="row_words"):
        DirectLineBuffer(8, 8, 224, 8, 3, row_words=224 * 8 + 1)
    with pytest.raises(ValueError, match="max_stride"):
        DirectLineBuffer(8, 8, 224, 8, 3, max_stride=3)
    with pytest.raises(ValueError, match="data_width"):
        DirectLineBuffer(8, 12, 224, 8, 3)
