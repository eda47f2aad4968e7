"""Bit-exact numpy references: the executable definition of convforge's numerics (spec §3).

Everything here is written from the mathematical definition and shares no code with the RTL.
All arithmetic is exact int64 (inputs are range-checked so no intermediate can overflow).
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv2d", "requantize", "pad_feature_map", "direct_accumulations"]


def _as_int_array(name: str, value, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def pad_feature_map(x, padding: int) -> np.ndarray:
    """Zero-pad a ``[C, H, W]`` feature map by ``padding`` on every spatial side."""
    x = _as_int_array("x", x, 3)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding)))


def conv2d(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Exact 2-D cross-correlation (what CNN frameworks call convolution).

    ``x``: integer ``[C, H, W]``; ``w``: integer ``[M, C, K, K]``. Zero padding of ``padding``
    on each side, then ``y[m, i, j] = sum_{c,u,v} w[m,c,u,v] * xp[c, i*stride+u, j*stride+v]``.
    Returns int64 ``[M, Ho, Wo]`` with ``Ho = (H + 2p - K) // stride + 1``.
    """
    x = _as_int_array("x", x, 3)
    w = _as_int_array("w", w, 4)
    c, h, wd = x.shape
    m, cw, kh, kw = w.shape
    if cw != c:
        raise ValueError(f"weights have {cw} input channels but x has {c}")
    if kh != kw:
        raise ValueError(f"only square kernels are supported, got {kh}x{kw}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    xp = pad_feature_map(x, padding)
    hp, wp = xp.shape[1:]
    if hp < kh or wp < kw:
        raise ValueError(f"kernel {kh}x{kw} is larger than the padded input {hp}x{wp}")
    ho = (hp - kh) // stride + 1
    wo = (wp - kw) // stride + 1
    out = np.zeros((m, ho, wo), dtype=np.int64)
    # One matrix product per kernel tap: exact in int64 for any int16 data and < 2^30 terms.
    wmat = w.reshape(m, c, kh * kw)
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : stride]
            out += np.tensordot(wmat[:, :, u * kw + v], patch, axes=([1], [0]))
    return out


def direct_accumulations(channels: int, kernel: int) -> int:
    """Number of products summed into one output of a direct convolution."""
    return channels * kernel * kernel


def _per_channel(name: str, value, m: int, default: int) -> np.ndarray:
    if value is None:
        return np.full(m, default, dtype=np.int64)
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integer, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.ndim == 0:
        return np.full(m, int(arr), dtype=np.int64)
    if arr.shape != (m,):
        raise ValueError(f"{name} must be a scalar or have shape ({m},), got {arr.shape}")
    return arr


def requantize(acc, bias=None, mult=1, shift=0, relu: bool = False, out_bits: int = 8) -> np.ndarray:
    """Requantise accumulators ``acc[M, ...]`` per output channel to signed ``out_bits``.

    ``y = clamp(((acc + bias[c]) * mult[c] + (1 << (shift[c] - 1))) >> shift[c], lo, hi)``
    with an arithmetic shift, no rounding term when ``shift == 0``, ``lo = 0`` with ReLU and
    ``-2^(out_bits-1)`` otherwise, ``hi = 2^(out_bits-1) - 1``. ``bias`` int32 (None = 0),
    ``mult`` int32, ``shift`` 0..63; each a scalar or one value per channel.
    Computed with Python integers, so it is exact for any accumulator width.
    """
    acc = np.asarray(acc)
    if not np.issubdtype(acc.dtype, np.integer):
        raise ValueError(f"acc must be integer, got dtype {acc.dtype}")
    if acc.ndim < 1:
        raise ValueError("acc must have a leading output-channel axis")
    m = acc.shape[0]
    b = _per_channel("bias", bias, m, 0)
    k = _per_channel("mult", mult, m, 1)
    s = _per_channel("shift", shift, m, 0)
    if np.any((b < -(1 << 31)) | (b >= 1 << 31)):
        raise ValueError("bias must fit in int32")
    if np.any((k < -(1 << 31)) | (k >= 1 << 31)):
        raise ValueError("mult must fit in int32")
    if np.any((s < 0) | (s > 63)):
        raise ValueError("shift must be in 0..63")
    hi = (1 << (out_bits - 1)) - 1
    lo = 0 if relu else -(1 << (out_bits - 1))
    flat64 = acc.reshape(m, -1).astype(np.int64) if acc.size and np.abs(acc).max() < (1 << 40) else None
    summed = flat64 + b[:, None] if flat64 is not None else None
    if summed is not None and int(np.abs(summed).max()) * int(np.abs(k).max()) < (1 << 62):
        # Fast exact path: |(acc + bias) * mult| < 2^62 and the rounding term is at most 2^62,
        # so everything stays inside int64; numpy's >> on int64 is arithmetic.
        scaled = summed * k[:, None]
        rnd = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)[:, None]
        shifted = (scaled + rnd) >> s[:, None]
        out = np.clip(shifted, lo, hi)
        dtype = np.int8 if out_bits <= 8 else np.int16 if out_bits <= 16 else np.int32
        return out.reshape(acc.shape).astype(dtype)
    # Python integers inside object arrays: exact whatever the accumulator width.
    flat = acc.reshape(m, -1).astype(object)
    rnd = np.array([(1 << (int(sc) - 1)) if sc > 0 else 0 for sc in s], dtype=object)[:, None]
    scaled = (flat + b.astype(object)[:, None]) * k.astype(object)[:, None] + rnd
    shifted = np.array([[v >> int(s[c]) for v in row] for c, row in enumerate(scaled)], dtype=object)
    out = np.minimum(np.maximum(shifted.reshape(flat.shape), lo), hi).astype(np.int64)
    dtype = np.int8 if out_bits <= 8 else np.int16 if out_bits <= 16 else np.int32
    return out.reshape(acc.shape).astype(dtype)
