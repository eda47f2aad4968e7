"""sim.winograd_reference.winograd_conv2d equals sim.reference.conv2d bit for bit."""

import numpy as np
import pytest

from rtl.winograd_math import winograd_matrices
from sim import winograd_reference as wref
from sim.reference import conv2d

CASES = [(m, r) for m, r in ((2, 3), (4, 3), (6, 3), (2, 5), (4, 5))]
IDS = [f"F({m},{r})" for m, r in CASES]


@pytest.mark.parametrize("m,r", CASES, ids=IDS)
@pytest.mark.parametrize("seed", range(4))
def test_random_layers(m, r, seed):
    rng = np.random.default_rng(seed * 31 + m * 7 + r)
    c, mo = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    padding = int(rng.integers(0, r // 2 + 1))
    h, w = (int(v) for v in rng.integers(r, r + 3 * m + 2, size=2))   # odd sizes, partial tiles
    x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, size=(mo, c, r, r), dtype=np.int8)
    got = wref.winograd_conv2d(x, wt, m, padding)
    assert got.dtype == np.int64
    assert np.array_equal(got, conv2d(x, wt, 1, padding))


@pytest.mark.parametrize("m", [2, 4, 6])
@pytest.mark.parametrize("padding", [0, 1])
def test_extreme_values(m, padding):
    """All -128 inputs and weights (every product +16384) and the mixed-sign extremes."""
    shape = (8, 2 * m + 3, m + 1)
    for xv, wv in ((-128, -128), (-128, 127), (127, 127)):
        x = np.full(shape, xv, dtype=np.int8)
        wt = np.full((3, shape[0], 3, 3), wv, dtype=np.int8)
        assert np.array_equal(wref.winograd_conv2d(x, wt, m, padding), conv2d(x, wt, 1, padding))
    rng = np.random.default_rng(m + padding)
    x = rng.choice(np.array([-128, 127], dtype=np.int8), size=shape)
    wt = rng.choice(np.array([-128, 127], dtype=np.int8), size=(2, shape[0], 3, 3))
    assert np.array_equal(wref.winograd_conv2d(x, wt, m, padding), conv2d(x, wt, 1, padding))


@pytest.mark.parametrize("m", [2, 4, 6])
def test_many_channels_at_the_worst_case(m):
    """512 channels of -128 x -128: the channel sums reach their 35/40-bit extremes exactly."""
    x = np.full((512, m + 2, m + 2), -128, dtype=np.int8)
    wt = np.full((1, 512, 3, 3), -128, dtype=np.int8)
    got = wref.winograd_conv2d(x, wt, m, 0)
    assert np.all(got == 512 * 9 * 16384)
    assert np.array_equal(got, conv2d(x, wt))


@pytest.mark.parametrize("m", [2, 4, 6])
def test_16_bit_data(m):
    rng = np.random.default_rng(16 + m)
    x = rng.integers(-32768, 32768, size=(3, 2 * m + 1, 7))
    wt = rng.integers(-32768, 32768, size=(2, 3, 3, 3))
    assert np.array_equal(wref.winograd_conv2d(x, wt, m, 1), conv2d(x, wt, 1, 1))
    x = np.full((4, m + 2, m + 2), -32768)
    wt = np.full((1, 4, 3, 3), -32768)
    assert np.array_equal(wref.winograd_conv2d(x, wt, m, 0), conv2d(x, wt))


def test_small_inputs_and_tiling():
    x = np.arange(9, dtype=np.int64).reshape(1, 3, 3) - 4
    wt = np.ones((1, 1, 3, 3), dtype=np.int64)
    for m in (2, 4, 6):
        assert np.array_equal(wref.winograd_conv2d(x, wt, m), conv2d(x, wt))      # one partial tile
    tiles, (ho, wo) = wref.input_tiles(np.zeros((2, 9, 5)), 4, 3, padding=1)
    assert (ho, wo) == (9, 5) and tiles.shape == (2, 3, 2, 6, 6)
    assert wref.tile_grid(9, 5, 4) == (3, 2)


def test_transforms_and_division():
    mat = winograd_matrices(4)
    rng = np.random.default_rng(3)
    d = rng.integers(-128, 128, size=(6, 6))
    g = rng.integers(-128, 128, size=(3, 3))
    v, u = wref.input_transform(d, 4), wref.filter_transform(g, 4)
    bt, gm = np.array(mat.BT_int), np.array(mat.G_int)
    assert np.array_equal(v, bt @ d @ bt.T) and np.array_equal(u, gm @ g @ gm.T)
    y = wref.exact_divide(wref.output_transform(u * v, 4), mat.s2)
    assert np.array_equal(y, conv2d(d[None], g[None, None])[0])
    with pytest.raises(ArithmeticError, match="s\\^2"):
        wref.exact_divide(np.array([577]), 576)


def test_bad_arguments():
    with pytest.raises(ValueError, match="input channels"):
        wref.winograd_conv2d(np.zeros((2, 5, 5), dtype=np.int8), np.zeros((1, 3, 3, 3), dtype=np.int8))
    with pytest.raises(ValueError, match="does not fit"):
        wref.winograd_conv2d(np.zeros((1, 2, 2), dtype=np.int8), np.zeros((1, 1, 3, 3), dtype=np.int8))
    with pytest.raises(ValueError, match="integer"):
        wref.winograd_conv2d(np.zeros((1, 5, 5)), np.zeros((1, 1, 3, 3)))
