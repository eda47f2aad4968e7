"""WinogradTileBuffer: cocotb + Verilator against numpy tile extraction, F(2,3), F(4,3) (F(6,3): slow)."""

import json

import pytest

from rtl.buffers.tile_buffer import WinogradTileBuffer, tile_region_depth
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog
from tests.rtl.tb_buffer_harness import layout_fields

# Build maxima: max_width 11, max_cg 3, row_words 24 < 33 (the W*CG product bounds a row).
BUILD = dict(pn=2, data_width=8, max_width=11, max_channel_groups=3, row_words=24, max_groups=3)
MAX_HEIGHT = 16

# (W, H, CG, P): odd and even sizes, widths below the maximum, padding 0/1/2, partial edge tiles,
# a single tile, maps smaller than a tile (W=1 with P=1).
CONFIGS = [
    (8, 8, 3, 1),
    (11, 9, 2, 1),
    (7, 10, 3, 0),
    (5, 5, 1, 2),
    (6, 13, 2, 2),
    (3, 3, 2, 0),
    (1, 2, 3, 1),
    (10, 4, 2, 0),
    (11, 16, 1, 1),
    (4, 7, 3, 2),
    # (W, H, CG, P, G): every tile row visited by G output-channel groups in turn.
    (8, 8, 3, 1, 2),
    (5, 9, 2, 0, 3),
    (1, 2, 3, 1, 3),
]
# Maps tall enough that the input could overrun the storage if the writer limit were wrong.
TALL_CONFIGS = [(5, 16, 2, 1), (4, 15, 3, 0), (3, 14, 2, 2)]
# A tile row needs m*CG*W new input words but emits only Tx*CG ~ W*CG/m tiles, so at one word
# per cycle the input cannot keep up across rows; the check is II=1 within every tile row.
THROUGHPUT_CONFIGS = [(8, 8, 3, 1), (11, 9, 2, 1)]


def tile_buffer_params(dut, **extra):
    return dict(m=dut.m, pn=dut.pn, data_width=dut.data_width, cfg_fields=layout_fields(dut.cfg_layout),
                tile_fields=layout_fields(dut.tile_layout), configs=CONFIGS,
                throughput_configs=THROUGHPUT_CONFIGS, tall_configs=TALL_CONFIGS, **extra)


def tile_buffer_model(m):
    dut = WinogradTileBuffer(m, **BUILD, max_height=MAX_HEIGHT)
    return dut, build(to_verilog(dut, f"tile_buffer_m{m}"), f"tile_buffer_m{m}")


@pytest.mark.parametrize("m", [2, 4, pytest.param(6, marks=pytest.mark.slow)])
def test_tile_buffer_matches_numpy_tiles(m):
    dut, model = tile_buffer_model(m)
    run_cocotb(model, "tests.rtl.tb_tile_buffer", extra_env={PARAMS_ENV: json.dumps(tile_buffer_params(dut))})


def test_region_depth():
    # F(4,3), pn=8, VGG-like row of 896 words: CG=4, W=224 -> 4 * (227//4 + 1) = 228 ... the max
    # over CG of CG * NB(min(224, 896 // CG)).
    expect = max(cg * ((min(224, 896 // cg) - 1 + 4) // 4 + 1) for cg in range(1, 65) if 896 // cg)
    assert tile_region_depth(4, 224, 64, 896) == expect
    dut = WinogradTileBuffer(4, 8, 8, 224, 64, row_words=896)
    assert (dut.b_depth, dut.d_depth) == (2 * expect + 1, 3 * expect + 1)  # + the zero word
    with pytest.raises(ValueError, match="m must be"):
        WinogradTileBuffer(3, 8, 8, 224, 64)
