"""sim.reference against slow, obviously correct loop implementations."""

import numpy as np
import pytest

from sim.reference import conv2d, requantize


def conv2d_loops(x, w, stride, padding):
    c, h, wd = x.shape
    m, _, k, _ = w.shape
    ho = (h + 2 * padding - k) // stride + 1
    wo = (wd + 2 * padding - k) // stride + 1
    out = np.zeros((m, ho, wo), dtype=object)
    for mo in range(m):
        for i in range(ho):
            for j in range(wo):
                s = 0
                for ci in range(c):
                    for u in range(k):
                        for v in range(k):
                            r, q = i * stride + u - padding, j * stride + v - padding
                            if 0 <= r < h and 0 <= q < wd:
                                s += int(w[mo, ci, u, v]) * int(x[ci, r, q])
                out[mo, i, j] = s
    return out


def requantize_scalar(a, b, mult, shift, relu):
    v = (a + b) * mult
    if shift > 0:
        v = (v + 2 ** (shift - 1)) // 2**shift  # floor division == arithmetic shift
    return max(0 if relu else -128, min(127, v))


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_matches_loops(seed):
    rng = np.random.default_rng(seed)
    c, m = rng.integers(1, 5, size=2)
    k = int(rng.choice([1, 3, 5]))
    stride = int(rng.choice([1, 2]))
    padding = int(rng.integers(0, k // 2 + 2))
    h, w = rng.integers(k, k + 7, size=2)
    x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, size=(m, c, k, k), dtype=np.int8)
    got = conv2d(x, wt, stride=stride, padding=padding)
    assert got.dtype == np.int64
    assert np.array_equal(got, conv2d_loops(x, wt, stride, padding).astype(np.int64))


def test_conv2d_extremes_int16():
    x = np.full((64, 5, 5), -32768, dtype=np.int16)
    w = np.full((2, 64, 3, 3), -32768, dtype=np.int16)
    got = conv2d(x, w, padding=1)
    assert got[0, 2, 2] == 64 * 9 * 2**30
    assert got[0, 0, 0] == 64 * 4 * 2**30


def test_conv2d_rejects_bad_shapes():
    with pytest.raises(ValueError, match="input channels"):
        conv2d(np.zeros((3, 4, 4), np.int8), np.zeros((1, 2, 3, 3), np.int8))
    with pytest.raises(ValueError, match="integer"):
        conv2d(np.zeros((1, 4, 4)), np.zeros((1, 1, 3, 3), np.int8))


@pytest.mark.parametrize("seed", range(6))
def test_requantize_matches_scalar(seed):
    rng = np.random.default_rng(100 + seed)
    m = 5
    acc = rng.integers(-(2**35), 2**35, size=(m, 4, 3))
    acc[0, 0, 0] = -(2**35)
    bias = rng.integers(-(2**31), 2**31, size=m)
    mult = rng.integers(-(2**31), 2**31, size=m)
    mult[1] = 1
    shift = rng.integers(0, 64, size=m)
    shift[2] = 0
    relu = bool(seed % 2)
    got = requantize(acc, bias, mult, shift, relu)
    assert got.dtype == np.int8
    for c in range(m):
        for idx in np.ndindex(acc.shape[1:]):
            exp = requantize_scalar(int(acc[(c, *idx)]), int(bias[c]), int(mult[c]), int(shift[c]), relu)
            assert got[(c, *idx)] == exp


def test_requantize_rounds_half_up_and_floors_negatives():
    acc = np.array([[3, -3, 2, -2, 1, -1]])
    # shift 1: (v + 1) >> 1 -> 2, -1, 1, -1(? (-2+1)>>1 = -1), 1, 0
    assert requantize(acc, shift=1).tolist() == [[2, -1, 1, -1, 1, 0]]
    assert requantize(np.array([[300, -300]]), relu=True).tolist() == [[127, 0]]


def test_requantize_rejects_out_of_range():
    with pytest.raises(ValueError, match="shift"):
        requantize(np.zeros((1, 2), np.int64), shift=64)
    with pytest.raises(ValueError, match="bias"):
        requantize(np.zeros((2, 2), np.int64), bias=[0, 2**31])


@pytest.mark.parametrize("seed", range(4))
def test_requantize_fast_path_matches_scalar(seed):
    # Accumulators and multipliers of real layers take the int64 path; check it exhaustively.
    rng = np.random.default_rng(200 + seed)
    m = 6
    acc = rng.integers(-(2**27), 2**27, size=(m, 40))
    bias = rng.integers(-(2**20), 2**20, size=m)
    mult = rng.integers(-(2**31), 2**31, size=m)
    shift = rng.integers(0, 64, size=m)
    shift[0] = 0
    got = requantize(acc, bias, mult, shift, relu=bool(seed % 2))
    for c in range(m):
        for t in range(acc.shape[1]):
            assert got[c, t] == requantize_scalar(int(acc[c, t]), int(bias[c]), int(mult[c]), int(shift[c]), bool(seed % 2))
