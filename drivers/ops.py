"""The integer operators the CPU runs: exact int8-in, int8-out layers of a quantised network.

The scheme they implement is documented in docs/driver.md ("Quantisation") and in
:mod:`drivers.quantize`. Everything here is numpy with int64 intermediates, deterministic:

* :func:`conv2d` and :func:`requantize`: a convolution's accumulators and the accelerator's
  requantiser (spec section 3), for conv and fc layers the plan keeps on the CPU; the IP is
  bit-exact with ``requantize(conv2d(...))`` (tests compare both with sim.reference);
* :func:`maxpool`, :func:`avgpool`, :func:`global_avgpool` (integer mean, round half up),
  :func:`global_maxpool`, :func:`add`, :func:`add_n`, :func:`concat`, :func:`rescale`,
  :func:`relu`, :func:`leaky_relu` (fixed-point slope), :func:`clip`, :func:`pad`,
  :func:`transpose`, :func:`channel_shuffle`, :func:`slice_channels`, :func:`flatten`,
  :func:`group_conv2d` and :func:`affine` (accumulators);
* :func:`softmax_int8` and :func:`lrn_int8`: float64 on the dequantised input, quantised again
  (deterministic for a given numpy, not bit-defined like the rest).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CPU_KINDS", "SOFTMAX_SCALE", "conv2d", "requantize", "quantize_tensor",
    "maxpool", "avgpool", "global_avgpool", "global_maxpool", "add", "add_n", "concat", "rescale", "relu",
    "leaky_relu", "clip", "pad", "transpose", "channel_shuffle", "slice_channels", "flatten", "group_conv2d",
    "affine", "softmax_int8", "lrn_int8", "float_lrn", "float_softmax",
]

#: Layer kinds the driver runs in numpy (every kind of dse.graph.LAYER_KINDS but "unsupported").
CPU_KINDS = ("conv", "group_conv", "fc", "maxpool", "avgpool", "global_avgpool", "global_maxpool", "add", "concat",
             "relu", "leaky_relu", "clip", "batchnorm", "lrn", "softmax", "pad", "transpose", "channel_shuffle",
             "reshape", "slice")

#: Output scale of a quantised softmax: probabilities 0..1 become 0..127.
SOFTMAX_SCALE = 1.0 / 127

INT8_RANGE = (-128, 127)
INT32_RANGE = (-(1 << 31), (1 << 31) - 1)


def quantize_tensor(x, scale: float) -> np.ndarray:
    """``clamp(round(x / scale), -128, 127)`` as int8."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale), *INT8_RANGE).astype(np.int8)



def _checked(name: str, x, ndim: int = 3) -> np.ndarray:
    """``x`` as an integer array of ``ndim`` dimensions, in its own dtype (no widening copy)."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


def _as_int(name: str, x, ndim: int = 3) -> np.ndarray:
    """``x`` checked and widened to int64 (the layers whose products need it)."""
    return _checked(name, x, ndim).astype(np.int64)


def _strided_taps(xp: np.ndarray, kernel: int, stride: int, ho: int, wo: int):
    """The ``K*K`` views ``xp[:, u::S, v::S]`` cut to ``Ho x Wo``: one per window tap, no copy."""
    for u in range(kernel):
        for v in range(kernel):
            yield xp[:, u: u + stride * (ho - 1) + 1: stride, v: v + stride * (wo - 1) + 1: stride]


def _pool_padded(x: np.ndarray, kernel: int, stride: int, padding: int, out_size, fill):
    """``(padded x, Ho, Wo, real pixels per window [Ho, Wo])`` of a pooling layer."""
    c, h, w = x.shape
    ho, wo, eh, ew = _pool_geometry(h, w, kernel, stride, padding, out_size)
    widths = ((0, 0), (padding, padding + eh), (padding, padding + ew))
    xp = np.pad(x, widths, constant_values=fill) if padding or eh or ew else x
    inside = np.pad(np.ones((1, h, w), dtype=np.int32), widths)
    real = sum(_strided_taps(inside, kernel, stride, ho, wo))[0]
    return xp, ho, wo, real


def _round_shift(v: np.ndarray, shift: int) -> np.ndarray:
    """``(v + 2^(shift-1)) >> shift`` (arithmetic; no rounding term for shift 0), int64."""
    if shift == 0:
        return v
    return (v + (1 << (shift - 1))) >> shift


def _pool_geometry(h: int, w: int, kernel: int, stride: int, padding: int, out_size) -> tuple[int, int, int, int]:
    """Output size and the extra bottom/right padding a given ``out_size`` needs (ceil mode,
    darknet's 'same' max-pool); ``(ho, wo, extra_h, extra_w)``."""
    if out_size is None:
        ho, wo = (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
    else:
        ho, wo = out_size
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kernel}x{kernel} window does not fit the {h}x{w} input with padding {padding}")
    extra_h = max(0, (ho - 1) * stride + kernel - h - 2 * padding)
    extra_w = max(0, (wo - 1) * stride + kernel - w - 2 * padding)
    return ho, wo, extra_h, extra_w


def pool_windows(x: np.ndarray, kernel: int, stride: int, padding: int, out_size, fill) -> tuple[np.ndarray, np.ndarray]:
    """``(windows [C, Ho, Wo, K, K] of the padded x, valid [Ho, Wo, K, K] mask of real pixels)``."""
    c, h, w = x.shape
    ho, wo, eh, ew = _pool_geometry(h, w, kernel, stride, padding, out_size)
    pad = ((padding, padding + eh), (padding, padding + ew))
    xp = np.pad(x, ((0, 0),) + pad, constant_values=fill)
    valid = np.pad(np.ones((h, w), dtype=bool), pad, constant_values=False)
    view = np.lib.stride_tricks.sliding_window_view
    win = view(xp, (kernel, kernel), axis=(1, 2))[:, : (ho - 1) * stride + 1 : stride, : (wo - 1) * stride + 1 : stride]
    vwin = view(valid, (kernel, kernel))[: (ho - 1) * stride + 1 : stride, : (wo - 1) * stride + 1 : stride]
    return win, vwin


def conv2d(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Accumulators of a convolution: ``y[m, i, j] = sum_{c,u,v} w[m,c,u,v] * xp[c, i*S+u, j*S+v]``
    over the zero-padded ``x[C, H, W]`` with integer ``w[M, C, K, K]``; int64 ``[M, Ho, Wo]``.

    One matrix product over all taps (im2col on strided views) in float64, which BLAS runs fast
    and which is exact while every partial sum stays below 2^53 (int8 and int16 data with fewer
    than 2^22 products per output); beyond that, an int64 product."""
    x, w = _checked("x", x), _checked("w", w, 4)
    c, h, wd = x.shape
    m, cw, k, k2 = w.shape
    if cw != c or k != k2:
        raise ValueError(f"w must be [M, {c}, K, K] for x with {c} channels, got shape {w.shape}")
    if stride < 1 or padding < 0 or h + 2 * padding < k or wd + 2 * padding < k:
        raise ValueError(f"a {k}x{k} kernel with stride {stride} and padding {padding} does not fit a {h}x{wd} input")
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    exact = _exact_type(x, w, c * k * k)
    # cols [C*K*K, Ho*Wo] against w [M, C*K*K]
    cols = _columns(x, k, stride, padding, ho, wo, exact).reshape(c * k * k, ho * wo)
    return _as_int64(w.reshape(m, c * k * k).astype(exact) @ cols).reshape(m, ho, wo)


def _exact_type(x: np.ndarray, w: np.ndarray, products: int):
    """float64 when every partial sum of ``products`` terms stays below 2^53 (exact), else int64."""
    peak = int(np.abs(x).max(initial=0)) * int(np.abs(w).max(initial=0)) * products
    return np.float64 if peak < 1 << 53 else np.int64


def _columns(x: np.ndarray, k: int, stride: int, padding: int, ho: int, wo: int, dtype) -> np.ndarray:
    """im2col of ``x[C, H, W]``: ``[C, K, K, Ho, Wo]`` in ``dtype``, from strided views of the
    zero-padded input."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding))) if padding else x
    cols = np.empty((x.shape[0], k, k, ho, wo), dtype=dtype)
    for tap, view in enumerate(_strided_taps(xp, k, stride, ho, wo)):
        cols[:, tap // k, tap % k] = view
    return cols


def _as_int64(acc: np.ndarray) -> np.ndarray:
    return acc if acc.dtype == np.int64 else np.rint(acc).astype(np.int64)


def requantize(acc, bias=None, mult=1, shift=0, relu: bool = False, out_bits: int = 8) -> np.ndarray:
    """The accelerator's requantiser on accumulators ``acc[M, ...]``, per output channel:
    ``clamp(((acc + bias) * mult + round) >> shift, lo, hi)`` with ``round = 2^(shift-1)``
    (0 for shift 0), an arithmetic shift, ``lo = 0`` with ``relu``. ``bias`` and ``mult``
    int32, ``shift`` 0..63: scalars or one per channel. Exact: int64 while the product cannot
    overflow, Python integers otherwise."""
    acc = np.asarray(acc)
    if not np.issubdtype(acc.dtype, np.integer) or acc.ndim < 1:
        raise ValueError(f"acc must be an integer array with a leading channel axis, got {acc.dtype} {acc.shape}")
    m = acc.shape[0]
    per = []
    for name, value, default, lo, hi in (("bias", bias, 0, *INT32_RANGE), ("mult", mult, 1, *INT32_RANGE),
                                         ("shift", shift, 0, 0, 63)):
        arr = np.broadcast_to(np.asarray(default if value is None else value), (m,)).astype(np.int64)
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise ValueError(f"{name} must be in {lo}..{hi}")
        per.append(arr[(slice(None),) + (None,) * (acc.ndim - 1)])
    b, k, s = per
    hi = (1 << (out_bits - 1)) - 1
    lo = 0 if relu else -hi - 1
    rnd = np.where(s > 0, np.int64(1) << np.maximum(s - 1, 0), 0)
    summed = acc.astype(np.int64) + b
    peak = int(np.abs(summed).max(initial=0)) * int(np.abs(k).max(initial=0))
    if peak >= 1 << 62 or int(np.abs(acc).max(initial=0)) >= 1 << 62:
        summed, k, rnd, s = (a.astype(object) for a in (acc.astype(object) + b.astype(object), k, rnd, s))
    out = np.clip((summed * k + rnd) >> s, lo, hi)
    return out.astype(np.int8 if out_bits <= 8 else np.int16 if out_bits <= 16 else np.int32)


def maxpool(x, kernel: int, stride: int, padding: int = 0, out_size=None) -> np.ndarray:
    """Max-pooling of int8 ``x[C, H, W]``; padding never wins (ONNX MaxPool semantics).

    ``out_size=(Ho, Wo)`` overrides the floor formula (ceil mode / darknet: the missing
    bottom/right rows and columns are padding too). Returns int8 ``[C, Ho, Wo]``.
    """
    x = _checked("x", x)
    # Padding at the dtype's minimum never wins over a real pixel (it can only tie with one).
    xp, ho, wo, real = _pool_padded(x, kernel, stride, padding, out_size, fill=np.iinfo(x.dtype).min)
    if not (real > 0).all():
        raise ValueError("a pooling window lies entirely in the padding")
    taps = _strided_taps(xp, kernel, stride, ho, wo)
    out = np.array(next(taps))
    for view in taps:
        np.maximum(out, view, out=out)
    return out.astype(np.int8)


def _mean_round_half_up(total: np.ndarray, count) -> np.ndarray:
    """``floor(total / count + 1/2)`` exactly in integers (in the dtype of ``total``)."""
    count = np.asarray(count, dtype=total.dtype)
    return (2 * total + count) // (2 * count)


def avgpool(x, kernel: int, stride: int, padding: int = 0, out_size=None, count_include_pad: bool = False) -> np.ndarray:
    """Average pooling of int8 ``x[C, H, W]``: integer mean, rounded half up.

    Padding contributes zeros; the divisor counts the real pixels of each window (ONNX
    AveragePool's default ``count_include_pad=0``) or all ``K*K`` with ``count_include_pad``.
    The result keeps the input's scale. Returns int8 ``[C, Ho, Wo]``.
    """
    x = _checked("x", x)
    xp, ho, wo, real = _pool_padded(x, kernel, stride, padding, out_size, fill=0)
    count = real if not count_include_pad else pool_counts(x.shape, kernel, stride, padding, out_size, None, True)
    if not (count > 0).all():
        raise ValueError("a pooling window lies entirely in the padding")
    # Sums in int32: at most K*K * 2^15 per window.
    total = np.zeros((x.shape[0], ho, wo), dtype=np.int32)
    for view in _strided_taps(xp, kernel, stride, ho, wo):
        total += view
    return _mean_round_half_up(total, count).astype(np.int8)


def pool_counts(shape, kernel, stride, padding, out_size, valid, count_include_pad: bool) -> np.ndarray:
    """Divisor of every average-pooling window: its real pixels, or with ``count_include_pad``
    its cells inside the explicitly padded map (cells past it, which ceil mode adds, never
    count: onnxruntime's semantics)."""
    if not count_include_pad:
        return valid.sum(axis=(2, 3))
    _, h, w = shape
    ho, wo, eh, ew = _pool_geometry(h, w, kernel, stride, padding, out_size)
    inside = np.pad(np.ones((h + 2 * padding, w + 2 * padding), dtype=bool), ((0, eh), (0, ew)))
    view = np.lib.stride_tricks.sliding_window_view(inside, (kernel, kernel))
    return view[: (ho - 1) * stride + 1 : stride, : (wo - 1) * stride + 1 : stride].sum(axis=(2, 3))


def global_avgpool(x) -> np.ndarray:
    """Mean of every channel of int8 ``x[C, H, W]`` (round half up): int8 ``[C, 1, 1]``."""
    x = _checked("x", x)
    c, h, w = x.shape
    return _mean_round_half_up(x.reshape(c, -1).sum(axis=1, dtype=np.int64), h * w).reshape(c, 1, 1).astype(np.int8)


def add(a, b, mult_a: int, mult_b: int, shift: int, relu: bool = False) -> np.ndarray:
    """Element-wise sum at a new scale: ``clamp((a*mult_a + b*mult_b + 2^(shift-1)) >> shift, lo, 127)``
    with ``lo = 0`` under ReLU, else -128 (see :func:`add_multipliers`). int8 out."""
    return add_n([a, b], [mult_a, mult_b], shift, relu)


def add_n(inputs, mults, shift: int, relu: bool = False) -> np.ndarray:
    """:func:`add` of any number of int8 tensors: ``clamp((sum x_i*mult_i + 2^(shift-1)) >> shift)``
    (see :func:`add_multipliers_n`). int8 out."""
    xs = [_as_int("an added tensor", x, np.ndim(x)) for x in inputs]
    if len(xs) != len(mults) or len(xs) < 1:
        raise ValueError(f"{len(xs)} added tensors need as many multipliers, got {len(mults)}")
    if len({x.shape for x in xs}) != 1:
        raise ValueError(f"added tensors have different shapes {' and '.join(str(x.shape) for x in xs)}")
    if not (all(0 <= int(m) < 1 << 31 for m in mults) and 0 <= shift <= 63):
        raise ValueError("add multipliers must be in 0..2^31-1 and the shift in 0..63")
    total = sum(x * int(m) for x, m in zip(xs, mults))  # |.| < n * 2^38: exact in int64
    y = _round_shift(total, int(shift))
    return np.clip(y, 0 if relu else INT8_RANGE[0], INT8_RANGE[1]).astype(np.int8)


def rescale(x, mult: int, shift: int) -> np.ndarray:
    """``clamp((x*mult + 2^(shift-1)) >> shift, -128, 127)``: int8 ``x`` at another scale
    (``mult / 2^shift ~ s_x / s_y``, :func:`quantize_multiplier`)."""
    return add_n([x], [mult], shift)


def concat(inputs, mults, shifts) -> np.ndarray:
    """Channel concatenation of int8 ``[C_i, H, W]`` tensors, each :func:`rescale`-d to the
    output's scale with its own ``(mult_i, shift_i)``. int8 ``[sum C_i, H, W]``."""
    xs = [rescale(x, int(m), int(sh)) for x, m, sh in zip(inputs, mults, shifts)]
    if len(xs) != len(inputs) or len({x.shape[1:] for x in xs}) != 1:
        raise ValueError("concatenated tensors need one (mult, shift) each and equal heights and widths")
    return np.concatenate(xs, axis=0)


def clip(x, lo: int, hi: int) -> np.ndarray:
    """``min(max(x, lo), hi)`` on int8 (same scale; ``lo``/``hi`` are the bounds quantised with it)."""
    x = _checked("x", x, np.ndim(x))
    return np.clip(x, max(lo, -128), min(hi, 127)).astype(np.int8)


def global_maxpool(x) -> np.ndarray:
    """Maximum of every channel of int8 ``x[C, H, W]``: int8 ``[C, 1, 1]``."""
    return _checked("x", x).max(axis=(1, 2), keepdims=True).astype(np.int8)


def pad(x, pads, mode: str = "constant", value=0) -> np.ndarray:
    """Pad ``x[C, H, W]`` by ``pads = (C, H, W at the beginning, then at the end)``; ``mode``
    "constant" (with ``value``), "reflect" or "edge" (ONNX Pad). Same dtype and scale."""
    x = np.asarray(x)
    if len(pads) != 6 or min(pads) < 0:
        raise ValueError(f"pads must be 6 non-negative numbers, got {pads}")
    width = tuple((int(pads[i]), int(pads[i + 3])) for i in range(3))
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value)
    if mode in ("reflect", "edge"):
        return np.pad(x, width, mode=mode)
    raise ValueError(f"pad mode must be constant, reflect or edge, got {mode!r}")


def transpose(x, perm) -> np.ndarray:
    """``x[C, H, W]`` with its axes permuted by ``perm`` (a permutation of 0, 1, 2)."""
    return np.ascontiguousarray(np.transpose(np.asarray(x), tuple(perm)))


def channel_shuffle(x, groups: int) -> np.ndarray:
    """ShuffleNet's channel shuffle of ``x[C, H, W]``: ``reshape(g, C/g, H, W)``, swap the two
    channel axes, ``reshape(C, H, W)`` (output channel ``j*g + i`` is input ``i*C/g + j``)."""
    x = np.asarray(x)
    c, h, w = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"{groups} groups do not divide {c} channels")
    return np.ascontiguousarray(x.reshape(groups, c // groups, h, w).transpose(1, 0, 2, 3)).reshape(c, h, w)


def slice_channels(x, start: int, end: int) -> np.ndarray:
    """Channels ``start .. end-1`` of ``x[C, H, W]``."""
    return np.ascontiguousarray(np.asarray(x)[start:end])


def group_conv2d(x, w, groups: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Exact grouped convolution accumulators: integer ``x[C, H, W]``, ``w[M, C/g, K, K]``;
    output channel ``m`` of group ``m // (M/g)`` reads input channels ``[j*C/g, (j+1)*C/g)``.
    Returns int64 ``[M, Ho, Wo]`` (requantise with :func:`requantize`). One batched float64
    matrix product over the groups (exact, as in :func:`conv2d`)."""
    x = _checked("x", x)
    w = _checked("w", w, 4)
    c, h, wd = x.shape
    m, cg, k, k2 = w.shape
    if k != k2 or cg * groups != c or m % groups:
        raise ValueError(f"weights {w.shape} do not fit a {c}-channel input in {groups} groups")
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    exact = _exact_type(x, w, cg * k * k)
    cols = _columns(x, k, stride, padding, ho, wo, exact).reshape(groups, cg * k * k, ho * wo)
    return _as_int64(np.matmul(w.reshape(groups, m // groups, cg * k * k).astype(exact), cols)).reshape(m, ho, wo)


def affine(x, w) -> np.ndarray:
    """Per-channel products ``x[c] * w[c]`` of int8 ``x[C, H, W]`` and int8 ``w[C]``, int64
    accumulators for the requantiser (a stand-alone BatchNormalization)."""
    x = _as_int("x", x, np.ndim(x))
    w = _as_int("w", w, 1)
    return x * w.reshape((-1,) + (1,) * (x.ndim - 1))


def relu(x) -> np.ndarray:
    """``max(x, 0)`` on int8 (same scale)."""
    return np.maximum(_checked("x", x, np.ndim(x)), 0).astype(np.int8)


def leaky_relu(x, mult: int, shift: int) -> np.ndarray:
    """Leaky ReLU with a fixed-point slope: ``x`` for ``x >= 0``, else
    ``(x*mult + 2^(shift-1)) >> shift`` (see :func:`leaky_relu_multiplier`). int8, same scale."""
    x = _as_int("x", x, np.ndim(x))
    if not (0 <= mult < 1 << 16 and 0 <= shift <= 63):
        raise ValueError("leaky-ReLU multiplier must be in 0..65535 and the shift in 0..63")
    neg = _round_shift(x * int(mult), int(shift))
    return np.where(x >= 0, x, neg).astype(np.int8)


def flatten(x) -> np.ndarray:
    """``[C, H, W]`` -> ``[C*H*W, 1, 1]`` in C-major order (ONNX Flatten of NCHW), for FC layers."""
    x = np.asarray(x)
    return x.reshape(-1, 1, 1)


def float_softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over axis 0 (the channels; all features of a ``[N, 1, 1]`` fc output)."""
    p = np.exp(z - z.max(axis=0, keepdims=True))
    return p / p.sum(axis=0, keepdims=True)


def softmax_int8(x, scale: float) -> np.ndarray:
    """Softmax over the channels (axis 0) of int8 ``x`` (scale ``scale``): float64 on the
    dequantised values, quantised with :data:`SOFTMAX_SCALE`. A 1-D ``x`` is one channel vector."""
    z = np.asarray(x, dtype=np.float64) * scale
    return quantize_tensor(float_softmax(z), SOFTMAX_SCALE)


def float_lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """ONNX LRN over the channels of float ``x[C, H, W]``: ``x / (bias + alpha/size * sum x^2)^beta``,
    the sum over channels ``c - floor((size-1)/2) .. c + ceil((size-1)/2)``."""
    sq = np.asarray(x, dtype=np.float64) ** 2
    c = sq.shape[0]
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    csum = np.concatenate([np.zeros((1,) + sq.shape[1:]), np.cumsum(sq, axis=0)])
    idx = np.arange(c)
    total = csum[np.minimum(c, idx + hi + 1)] - csum[np.maximum(0, idx - lo)]
    return x / (bias + alpha / size * total) ** beta


def lrn_int8(x, in_scale: float, out_scale: float, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """LRN of int8 ``x``: float64 :func:`float_lrn` on the dequantised input, quantised with ``out_scale``."""
    z = np.asarray(x, dtype=np.float64) * in_scale
    return quantize_tensor(float_lrn(z, size, alpha, beta, bias), out_scale)


