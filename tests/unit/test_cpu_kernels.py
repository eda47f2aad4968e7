"""The runtime's fast CPU kernels (drivers/ops.py) against plain references, on random layers.

The references are the obvious forms: a window array per output pixel, int64 throughout
(max-pool, average pool, global pools), and a tap-by-tap int64 accumulation for the grouped
convolution. The fast kernels reduce K*K strided int8 views in place, sum in int32 and run the
convolutions as float64 matrix products, which must stay exact.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import ops
from sim import reference

WINDOW = np.lib.stride_tricks.sliding_window_view


def _geometry(h, w, k, s, p, out_size):
    ho, wo = out_size or ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    return ho, wo, max(0, (ho - 1) * s + k - h - 2 * p), max(0, (wo - 1) * s + k - w - 2 * p)


def _windows(x, k, s, p, out_size, fill):
    c, h, w = x.shape
    ho, wo, eh, ew = _geometry(h, w, k, s, p, out_size)
    pad = ((p, p + eh), (p, p + ew))
    xp = np.pad(x.astype(np.int64), ((0, 0),) + pad, constant_values=fill)
    valid = np.pad(np.ones((h, w), bool), pad)
    win = WINDOW(xp, (k, k), axis=(1, 2))[:, : (ho - 1) * s + 1 : s, : (wo - 1) * s + 1 : s]
    return win, WINDOW(valid, (k, k))[: (ho - 1) * s + 1 : s, : (wo - 1) * s + 1 : s]


def ref_maxpool(x, k, s, p, out_size):
    win, _ = _windows(x, k, s, p, out_size, np.iinfo(np.int64).min)
    return win.max(axis=(3, 4)).astype(np.int8)


def ref_avgpool(x, k, s, p, out_size, include_pad):
    win, valid = _windows(x, k, s, p, out_size, 0)
    if include_pad:
        c, h, w = x.shape
        ho, wo, eh, ew = _geometry(h, w, k, s, p, out_size)
        inside = np.pad(np.ones((h + 2 * p, w + 2 * p), bool), ((0, eh), (0, ew)))
        count = WINDOW(inside, (k, k))[: (ho - 1) * s + 1 : s, : (wo - 1) * s + 1 : s].sum(axis=(2, 3))
    else:
        count = valid.sum(axis=(2, 3))
    total = win.sum(axis=(3, 4))
    return ((2 * total + count) // (2 * count)).astype(np.int8)


def ref_group_conv(x, w, g, s, p):
    c, h, wd = x.shape
    m, cg, k, _ = w.shape
    out = [reference.conv2d(x[j * cg:(j + 1) * cg], w[j * (m // g):(j + 1) * (m // g)], s, p) for j in range(g)]
    return np.concatenate(out)


@st.composite
def pools(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    h, w = draw(st.integers(k, 14)), draw(st.integers(k, 14))
    ceil = draw(st.booleans())
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if ceil:   # ceil mode: one more row/column when the stride leaves a remainder
        ho, wo = -(-(h + 2 * p - k) // s) + 1, -(-(w + 2 * p - k) // s) + 1
    return draw(st.integers(1, 6)), h, w, k, s, p, (ho, wo) if ceil else None


@settings(max_examples=400, deadline=None)
@given(pools(), st.integers(0, 2 ** 32 - 1), st.booleans())
def test_pools_equal_the_window_references(shape, seed, include_pad):
    c, h, w, k, s, p, out_size = shape
    x = np.random.default_rng(seed).integers(-128, 128, (c, h, w), dtype=np.int8)
    try:
        want_max = ref_maxpool(x, k, s, p, out_size)
    except ValueError:
        return
    if out_size is not None:   # a ceil-mode window wholly in the padding is refused by both
        _, valid = _windows(x, k, s, p, out_size, 0)
        if not valid.any(axis=(2, 3)).all():
            with pytest.raises(ValueError, match="entirely in the padding"):
                ops.maxpool(x, k, s, p, out_size)
            return
    got = ops.maxpool(x, k, s, p, out_size)
    assert got.dtype == np.int8 and np.array_equal(got, want_max)
    got = ops.avgpool(x, k, s, p, out_size, count_include_pad=include_pad)
    assert got.dtype == np.int8 and np.array_equal(got, ref_avgpool(x, k, s, p, out_size, include_pad))


def test_saturated_inputs_and_global_pools():
    x = np.full((3, 5, 7), -128, dtype=np.int8)
    assert (ops.maxpool(x, 3, 2, 1) == -128).all() and (ops.avgpool(x, 3, 2, 1) == -128).all()
    x = np.full((3, 5, 7), 127, dtype=np.int8)
    assert (ops.avgpool(x, 5, 1, 2, count_include_pad=False) == 127).all()
    y = np.random.default_rng(3).integers(-128, 128, (4, 9, 6), dtype=np.int8)
    total = y.astype(np.int64).reshape(4, -1).sum(axis=1)
    assert ops.global_avgpool(y).ravel().tolist() == ((2 * total + 54) // 108).tolist()
    assert ops.global_maxpool(y).ravel().tolist() == y.reshape(4, -1).max(axis=1).tolist()
    assert ops.clip(y, -300, 300).tolist() == y.tolist() and ops.clip(y, -5, 9).tolist() == np.clip(y, -5, 9).tolist()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from((1, 2, 4)), st.integers(1, 4), st.integers(1, 3),
       st.sampled_from((1, 3, 5)), st.integers(1, 2), st.integers(0, 2), st.sampled_from((8, 16)))
def test_group_conv_equals_per_group_reference_convolutions(seed, g, cg, mg, k, s, p, bits):
    rng = np.random.default_rng(seed)
    h = w = k + 3
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    x = rng.integers(lo, hi, (g * cg, h, w))
    wt = rng.integers(lo, hi, (g * mg, cg, k, k))
    got = ops.group_conv2d(x, wt, g, s, min(p, k - 1))
    assert got.dtype == np.int64 and np.array_equal(got, ref_group_conv(x, wt, g, s, min(p, k - 1)))


def test_the_float_product_falls_back_to_int64_where_float64_is_not_exact():
    """Wide values (an accumulator fed back) whose sums pass float64's 2^53: the int64 path runs
    and keeps the low bits a float64 product would round away."""
    v = 2 ** 26 + 1
    x = np.full((2, 3, 3), v, dtype=np.int64)
    w = np.full((1, 2, 3, 3), v, dtype=np.int64)
    want = 18 * v * v                      # 18 * (2^52 + 2^27 + 1): float64 would lose the + 18
    assert float(want) != want
    assert ops.conv2d(x, w, 1, 0).item() == want
    assert ops.group_conv2d(x, np.full((2, 1, 3, 3), v, dtype=np.int64), 2, 1, 0).ravel().tolist() == [9 * v * v] * 2
    x = np.full((2, 3, 3), 127, dtype=np.int8)
    w = np.full((1, 2, 3, 3), -128, dtype=np.int8)
    assert ops.conv2d(x, w, 1, 0).item() == 18 * 127 * -128
