"""Post-training quantisation of a network to int8, the integer layers the CPU runs, and a float
reference forward pass. The scheme is documented in docs/driver.md ("Quantisation").

Scheme (symmetric, no zero points):

* **Weights**, per output channel ``c``: ``s_w[c] = max|w_c| / 127``, ``w_q = round(w / s_w[c])``
  in ``-127..127`` (an all-zero channel gets ``s_w = 1``).
* **Activations**, one scale per tensor (the network input and every layer output):
  ``s = max|a| / 127`` over the calibration samples' float activations (or the ``percentile``-th
  percentile of ``|a|``), ``q = clamp(round(a / s), -128, 127)``. ``round`` is numpy's
  round-half-to-even; every other rounding below is round-half-up.
* **Biases**: int32 at the accumulator's scale ``s_w[c] * s_x``: ``b_q = round(b / (s_w[c] s_x))``,
  clamped to int32.
* **Requantisation** of conv/fc outputs (the accelerator's requantiser, spec section 3): per
  channel ``mult[c] / 2^shift[c] ~ s_w[c] s_x / s_y`` with ``mult < 2^31`` as large as possible
  (``2^30 <= mult < 2^31`` unless ``shift`` hits 63), see :func:`quantize_multiplier`; relative
  error at most ``2^-31``.
* **Grouped/depthwise convolutions** are quantised like convolutions (per output channel) and
  run as :func:`group_conv2d` accumulations through the same requantiser arithmetic.
  **BatchNormalization** that could not be folded (and Mul/Add/Sub/Div by a per-channel
  constant) is a per-channel affine layer: its scale vector is quantised like a weight (one
  int8 per channel), its shift like a bias, and it is requantised per channel
  (:func:`affine`).
* **Pooling, ReLU, leaky ReLU, clip, pad, transpose, channel shuffle, reshape, channel slice**
  keep their input's scale (clip bounds and a pad value are quantised with it). **Add** and
  **Concat** rescale every input to their own calibrated output scale in fixed point (one
  multiplier per input; see :func:`add_n`, :func:`concat`). **Softmax** and **LRN** are
  evaluated in float64 on the dequantised input and quantised (softmax with scale 1/127, LRN
  with its calibrated scale): deterministic for a given numpy, not bit-defined like the rest.

Integer layers (exact, deterministic, numpy int64): :func:`maxpool`, :func:`avgpool`,
:func:`global_avgpool` (integer mean, round half up), :func:`global_maxpool`, :func:`add`,
:func:`add_n`, :func:`concat`, :func:`relu`, :func:`leaky_relu` (fixed-point alpha, 0.1 for
Tiny-YOLO), :func:`clip`, :func:`pad`, :func:`transpose`, :func:`channel_shuffle`,
:func:`slice_channels`, :func:`flatten`, :func:`group_conv2d` and :func:`affine`
(accumulators). Convolutions and fully-connected layers are
``sim.reference.requantize(sim.reference.conv2d(...))``, run by
:func:`drivers.network.run_network` on the accelerator or in numpy.

:func:`float_forward` is the float64 reference forward pass of the same network (for calibration
and accuracy comparisons); :func:`quantize_network` calibrates and quantises a
:class:`dse.graph.Network` with float weights (``Network.weights`` of an ONNX import, or
:func:`random_weights` for zoo networks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

__all__ = [
    "QuantizationError", "QuantizedLayer", "QuantizedNetwork", "quantize_network", "quantize_multiplier",
    "add_multipliers", "add_multipliers_n", "leaky_relu_multiplier", "quantize_weights", "activation_scale", "quantize_tensor",
    "maxpool", "avgpool", "global_avgpool", "global_maxpool", "add", "add_n", "concat", "rescale", "relu",
    "leaky_relu", "clip", "pad", "transpose", "channel_shuffle", "slice_channels", "flatten", "group_conv2d",
    "affine", "softmax_int8", "lrn_int8", "float_lrn", "float_forward", "random_weights", "CPU_KINDS",
    "DEFAULT_LEAKY_ALPHA", "SOFTMAX_SCALE",
]

#: Layer kinds the driver runs in numpy (every kind of dse.graph.LAYER_KINDS but "unsupported").
CPU_KINDS = ("conv", "group_conv", "fc", "maxpool", "avgpool", "global_avgpool", "global_maxpool", "add", "concat",
             "relu", "leaky_relu", "clip", "batchnorm", "lrn", "softmax", "pad", "transpose", "channel_shuffle",
             "reshape", "slice")

#: Leaky-ReLU slope used when none is given (darknet's Tiny-YOLO uses 0.1).
DEFAULT_LEAKY_ALPHA = 0.1
#: Output scale of a quantised softmax: probabilities 0..1 become 0..127.
SOFTMAX_SCALE = 1.0 / 127
#: Bits of the fixed-point leaky-ReLU slope multiplier (2^15 <= mult < 2^16).
LEAKY_MULT_BITS = 17

_INT8 = (-128, 127)
_INT32 = (-(1 << 31), (1 << 31) - 1)


class QuantizationError(ValueError):
    """The network cannot be quantised as asked (missing weights, unsupported operator, ...)."""


# ----- scales and fixed-point multipliers ---------------------------------------------------------

def quantize_multiplier(ratio: float, mult_bits: int = 32, max_shift: int = 63) -> tuple[int, int]:
    """``(mult, shift)`` with ``mult / 2^shift`` closest to ``ratio`` and ``mult`` as large as allowed.

    ``0 <= mult < 2^(mult_bits-1)`` (a signed ``mult_bits``-bit integer) and ``0 <= shift <=
    max_shift``. For ``ratio`` in ``[2^(1-mult_bits) ... 2^(max_shift-mult_bits+1))`` roughly, the
    result has ``2^(mult_bits-2) <= mult < 2^(mult_bits-1)`` and ``|mult/2^shift - ratio| <=
    2^-(shift+1)``, i.e. a relative error of at most ``2^-(mult_bits-1)``. Smaller ratios pin
    ``shift`` at ``max_shift`` (smaller ``mult``, possibly 0); a ratio too large for ``shift = 0``
    raises :class:`QuantizationError`.
    """
    ratio = float(ratio)
    if not math.isfinite(ratio) or ratio < 0:
        raise QuantizationError(f"a requantisation ratio must be finite and >= 0, got {ratio}")
    if ratio == 0.0:
        return 0, 0
    top = 1 << (mult_bits - 1)
    frac, exp = math.frexp(ratio)  # ratio = frac * 2^exp, 0.5 <= frac < 1
    shift = (mult_bits - 1) - exp
    if shift > max_shift:
        shift = max_shift
    if shift < 0:
        mult = math.floor(ratio + 0.5)
        if mult >= top:
            raise QuantizationError(f"ratio {ratio} needs a multiplier of {mult_bits} bits or more at shift 0")
        return mult, 0
    mult = math.floor(math.ldexp(ratio, shift) + 0.5)  # exact scaling by 2^shift, round half up
    if mult >= top:  # frac rounded up to 1.0
        if shift == 0:
            raise QuantizationError(f"ratio {ratio} needs a multiplier of {mult_bits} bits or more at shift 0")
        mult, shift = top >> 1, shift - 1
    return int(mult), int(shift)


def add_multipliers(scale_a: float, scale_b: float, scale_out: float, mult_bits: int = 32) -> tuple[int, int, int]:
    """``(mult_a, mult_b, shift)`` for ``y = (a*mult_a + b*mult_b + 2^(shift-1)) >> shift``.

    ``mult_x / 2^shift ~ scale_x / scale_out``; the shift is chosen for the larger ratio (its
    multiplier is as large as possible below ``2^(mult_bits-1)``), the other uses the same shift.
    """
    ra, rb = scale_a / scale_out, scale_b / scale_out
    _, shift = quantize_multiplier(max(ra, rb), mult_bits)
    ma, mb = (math.floor(math.ldexp(r, shift) + 0.5) for r in (ra, rb))
    top = 1 << (mult_bits - 1)
    if max(ma, mb) >= top:
        raise QuantizationError(f"add rescaling ratios {ra:.4g}, {rb:.4g} do not fit {mult_bits}-bit multipliers")
    return int(ma), int(mb), int(shift)


def add_multipliers_n(scales, scale_out: float, mult_bits: int = 32) -> tuple[tuple[int, ...], int]:
    """``((mult_0, ..., mult_n-1), shift)`` for ``y = (sum x_i*mult_i + 2^(shift-1)) >> shift``:
    :func:`add_multipliers` for any number of inputs (the shift is the largest ratio's)."""
    ratios = [float(sc) / scale_out for sc in scales]
    _, shift = quantize_multiplier(max(ratios), mult_bits)
    mults = tuple(math.floor(math.ldexp(r, shift) + 0.5) for r in ratios)
    if max(mults) >= 1 << (mult_bits - 1):
        raise QuantizationError(f"add rescaling ratios {', '.join(f'{r:.4g}' for r in ratios)} do not fit "
                                f"{mult_bits}-bit multipliers")
    return tuple(int(m) for m in mults), int(shift)


def leaky_relu_multiplier(alpha: float) -> tuple[int, int]:
    """Fixed-point leaky-ReLU slope: ``(mult, shift)`` with ``mult / 2^shift ~ alpha``,
    ``2^15 <= mult < 2^16`` (0.1 -> 52429 / 2^19)."""
    if not 0.0 <= alpha < 1.0:
        raise QuantizationError(f"leaky-ReLU alpha must be in [0, 1), got {alpha}")
    return quantize_multiplier(alpha, LEAKY_MULT_BITS)


def quantize_weights(w) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8: ``(w_q int8 like w, scales float64 [M])``.

    Axis 0 is the output channel; ``scale[c] = max|w[c]| / 127`` (1.0 for an all-zero channel),
    ``w_q = round(w / scale)`` in -127..127.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim < 2:
        raise QuantizationError(f"weights need an output-channel axis and at least one more, got shape {w.shape}")
    peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0)
    q = np.round(w / scales.reshape((-1,) + (1,) * (w.ndim - 1)))
    return np.clip(q, -127, 127).astype(np.int8), scales


def activation_scale(values, percentile: float | None = None) -> float:
    """Per-tensor symmetric scale from calibration values: ``max|v| / 127`` (or the
    ``percentile``-th percentile of ``|v|``); 1.0 when that is 0."""
    a = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if a.size == 0:
        raise QuantizationError("no calibration values")
    if percentile is None:
        peak = float(a.max())
    else:
        if not 0 < percentile <= 100:
            raise QuantizationError(f"percentile must be in (0, 100], got {percentile}")
        peak = float(np.percentile(a, percentile))
    return peak / 127.0 if peak > 0 else 1.0


def quantize_tensor(x, scale: float) -> np.ndarray:
    """``clamp(round(x / scale), -128, 127)`` as int8."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale), *_INT8).astype(np.int8)


# ----- integer layers (the CPU's share; exact and deterministic) -----------------------------------

def _as_int(name: str, x, ndim: int = 3) -> np.ndarray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr.astype(np.int64)


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


def _windows(x: np.ndarray, kernel: int, stride: int, padding: int, out_size, fill) -> tuple[np.ndarray, np.ndarray]:
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


def maxpool(x, kernel: int, stride: int, padding: int = 0, out_size=None) -> np.ndarray:
    """Max-pooling of int8 ``x[C, H, W]``; padding never wins (ONNX MaxPool semantics).

    ``out_size=(Ho, Wo)`` overrides the floor formula (ceil mode / darknet: the missing
    bottom/right rows and columns are padding too). Returns int8 ``[C, Ho, Wo]``.
    """
    x = _as_int("x", x)
    win, valid = _windows(x, kernel, stride, padding, out_size, fill=np.iinfo(np.int64).min)
    if not valid.any(axis=(2, 3)).all():
        raise ValueError("a pooling window lies entirely in the padding")
    return win.max(axis=(3, 4)).astype(np.int8)


def _mean_round_half_up(total: np.ndarray, count) -> np.ndarray:
    """``floor(total / count + 1/2)`` exactly in integers."""
    return (2 * total + count) // (2 * np.asarray(count, dtype=np.int64))


def avgpool(x, kernel: int, stride: int, padding: int = 0, out_size=None, count_include_pad: bool = False) -> np.ndarray:
    """Average pooling of int8 ``x[C, H, W]``: integer mean, rounded half up.

    Padding contributes zeros; the divisor counts the real pixels of each window (ONNX
    AveragePool's default ``count_include_pad=0``) or all ``K*K`` with ``count_include_pad``.
    The result keeps the input's scale. Returns int8 ``[C, Ho, Wo]``.
    """
    x = _as_int("x", x)
    win, valid = _windows(x, kernel, stride, padding, out_size, fill=0)
    count = _pool_counts(x.shape, kernel, stride, padding, out_size, valid, count_include_pad)
    if not (count > 0).all():
        raise ValueError("a pooling window lies entirely in the padding")
    return _mean_round_half_up(win.sum(axis=(3, 4)), count).astype(np.int8)


def _pool_counts(shape, kernel, stride, padding, out_size, valid, count_include_pad: bool) -> np.ndarray:
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
    x = _as_int("x", x)
    c, h, w = x.shape
    return _mean_round_half_up(x.reshape(c, -1).sum(axis=1), h * w).reshape(c, 1, 1).astype(np.int8)


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
    return np.clip(y, 0 if relu else _INT8[0], _INT8[1]).astype(np.int8)


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
    return np.clip(_as_int("x", x, np.ndim(x)), lo, hi).astype(np.int8)


def global_maxpool(x) -> np.ndarray:
    """Maximum of every channel of int8 ``x[C, H, W]``: int8 ``[C, 1, 1]``."""
    x = _as_int("x", x)
    return x.max(axis=(1, 2), keepdims=True).astype(np.int8)


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
    Returns int64 ``[M, Ho, Wo]`` (requantise with ``sim.reference.requantize``)."""
    x = _as_int("x", x)
    w = _as_int("w", w, 4)
    c, h, wd = x.shape
    m, cg, k, k2 = w.shape
    if k != k2 or cg * groups != c or m % groups:
        raise ValueError(f"weights {w.shape} do not fit a {c}-channel input in {groups} groups")
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    xg = xp.reshape(groups, cg, h + 2 * padding, wd + 2 * padding)
    wg = w.reshape(groups, m // groups, cg, k, k)
    out = np.zeros((groups, m // groups, ho, wo), dtype=np.int64)
    for u in range(k):
        for v in range(k):
            patch = xg[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : stride]
            out += np.einsum("gmc,gchw->gmhw", wg[:, :, :, u, v], patch)
    return out.reshape(m, ho, wo)


def affine(x, w) -> np.ndarray:
    """Per-channel products ``x[c] * w[c]`` of int8 ``x[C, H, W]`` and int8 ``w[C]``, int64
    accumulators for the requantiser (a stand-alone BatchNormalization)."""
    x = _as_int("x", x, np.ndim(x))
    w = _as_int("w", w, 1)
    return x * w.reshape((-1,) + (1,) * (x.ndim - 1))


def relu(x) -> np.ndarray:
    """``max(x, 0)`` on int8 (same scale)."""
    return np.maximum(_as_int("x", x, np.ndim(x)), 0).astype(np.int8)


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


def _float_softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over axis 0 (the channels; all features of a ``[N, 1, 1]`` fc output)."""
    p = np.exp(z - z.max(axis=0, keepdims=True))
    return p / p.sum(axis=0, keepdims=True)


def softmax_int8(x, scale: float) -> np.ndarray:
    """Softmax over the channels (axis 0) of int8 ``x`` (scale ``scale``): float64 on the
    dequantised values, quantised with :data:`SOFTMAX_SCALE`. A 1-D ``x`` is one channel vector."""
    z = np.asarray(x, dtype=np.float64) * scale
    return quantize_tensor(_float_softmax(z), SOFTMAX_SCALE)


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


# ----- float reference ------------------------------------------------------------------------------

def _float_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    c, h, wd = x.shape
    m, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    out = np.zeros((m, ho, wo))
    for u in range(k):
        for v in range(k):
            patch = xp[:, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : stride]
            out += np.tensordot(w[:, :, u, v], patch, axes=([1], [0]))
    return out


def _float_group_conv(x: np.ndarray, w: np.ndarray, groups: int, stride: int, padding: int) -> np.ndarray:
    m, cg = w.shape[:2]
    mg = m // groups
    return np.concatenate([_float_conv(x[g * cg:(g + 1) * cg], w[g * mg:(g + 1) * mg], stride, padding)
                           for g in range(groups)])


def _alpha_of(layer, leaky_alpha) -> float:
    """The leaky-ReLU slope: ``leaky_alpha[name]`` when given per layer, else the layer's own
    (an ONNX import keeps LeakyRelu's alpha), else ``leaky_alpha`` (or the default)."""
    if isinstance(leaky_alpha, Mapping) and layer.name in leaky_alpha:
        return float(leaky_alpha[layer.name])
    own = layer.attr("alpha")
    if own is not None:
        return float(own)
    return DEFAULT_LEAKY_ALPHA if isinstance(leaky_alpha, Mapping) else float(leaky_alpha)


def _clip_bounds(layer) -> tuple[float, float]:
    lo, hi = layer.attr("min"), layer.attr("max")
    return (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))


def _layer_weights(weights: Mapping | None, layer) -> tuple[np.ndarray, np.ndarray]:
    entry = (weights or {}).get(layer.name)
    if entry is None or entry.get("weight") is None:
        raise QuantizationError(f"no weights for layer {layer.name!r} ({layer.kind})")
    w = np.asarray(entry["weight"], dtype=np.float64)
    b = entry.get("bias")
    b = np.zeros(layer.out_channels) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
    if layer.kind in ("conv", "group_conv"):
        want = (layer.out_channels, layer.in_channels // layer.groups, layer.kernel, layer.kernel)
    elif layer.kind == "batchnorm":
        want = (layer.out_channels,)
    else:
        want = (layer.out_channels, layer.in_channels)
    if w.shape != want:
        raise QuantizationError(f"layer {layer.name!r}: weight shape {w.shape}, expected {want}")
    if b.shape != (layer.out_channels,):
        raise QuantizationError(f"layer {layer.name!r}: bias shape {b.shape}, expected ({layer.out_channels},)")
    return w, b


def _check_cpu_operator(layer) -> None:
    if layer.kind not in CPU_KINDS:
        raise QuantizationError(
            f"layer {layer.name!r} (ONNX {layer.op_type or layer.kind}) has no CPU implementation in drivers.quantize")


def float_forward(network, x, weights: Mapping | None = None, leaky_alpha=DEFAULT_LEAKY_ALPHA,
                  return_all: bool = False):
    """The float64 forward pass of ``network`` on ``x[C, H, W]``.

    ``weights`` defaults to ``network.weights``: ``{layer: {"weight", "bias"}}`` with conv
    weights ``[M, C, K, K]`` and fc weights ``[M, N]``. ``leaky_alpha`` is one slope or a dict
    per layer name. Returns the last layer's output, or with ``return_all`` a dict of every
    layer's output (plus ``""`` for the input).
    """
    weights = network.weights if weights is None else weights
    x = np.asarray(x, dtype=np.float64)
    if x.shape == (1,) + tuple(network.input_shape):
        x = x[0]
    if x.shape != tuple(network.input_shape):
        raise ValueError(f"input must have shape {tuple(network.input_shape)}, got {x.shape}")
    acts = {"": x}
    for layer in network.layers:
        srcs = [acts[p] for p in (layer.inputs or ("",))]
        a = srcs[0]
        kind = layer.kind
        out_size = (layer.out_height, layer.out_width)
        if kind in ("conv", "group_conv"):
            w, b = _layer_weights(weights, layer)
            if kind == "conv":
                y = _float_conv(a, w, layer.stride, layer.padding) + b[:, None, None]
            else:
                y = _float_group_conv(a, w, layer.groups, layer.stride, layer.padding) + b[:, None, None]
        elif kind == "batchnorm":
            w, b = _layer_weights(weights, layer)
            y = a * w[:, None, None] + b[:, None, None]
        elif kind == "fc":
            w, b = _layer_weights(weights, layer)
            y = (w @ a.reshape(-1) + b).reshape(-1, 1, 1)
        elif kind == "maxpool":
            win, _ = _windows(a, layer.kernel, layer.stride, layer.padding, out_size, fill=-np.inf)
            y = win.max(axis=(3, 4))
        elif kind == "avgpool":
            win, valid = _windows(a, layer.kernel, layer.stride, layer.padding, out_size, fill=0.0)
            y = win.sum(axis=(3, 4)) / _pool_counts(a.shape, layer.kernel, layer.stride, layer.padding, out_size,
                                                    valid, bool(layer.attr("count_include_pad", 0)))
        elif kind == "global_avgpool":
            y = a.mean(axis=(1, 2), keepdims=True)
        elif kind == "global_maxpool":
            y = a.max(axis=(1, 2), keepdims=True)
        elif kind == "add":
            y = sum(srcs[1:], srcs[0])
        elif kind == "concat":
            y = np.concatenate(srcs, axis=0)
        elif kind == "relu":
            y = np.maximum(a, 0.0)
        elif kind == "leaky_relu":
            y = np.where(a >= 0, a, a * _alpha_of(layer, leaky_alpha))
        elif kind == "clip":
            y = np.clip(a, *_clip_bounds(layer))
        elif kind == "lrn":
            y = float_lrn(a, int(layer.attr("size")), layer.attr("alpha"), layer.attr("beta"), layer.attr("bias"))
        elif kind == "softmax":
            y = _float_softmax(a)
        elif kind == "pad":
            y = pad(a, layer.attr("pads"), layer.attr("mode", "constant"), layer.attr("value", 0.0))
        elif kind == "transpose":
            y = transpose(a, layer.attr("perm"))
        elif kind == "channel_shuffle":
            y = channel_shuffle(a, layer.groups)
        elif kind == "reshape":
            y = a.reshape(layer.out_channels, layer.out_height, layer.out_width)
        elif kind == "slice":
            y = slice_channels(a, layer.attr("start"), layer.attr("end"))
        else:
            _check_cpu_operator(layer)
            raise QuantizationError(f"layer {layer.name!r} ({kind}) has no float reference")
        if layer.relu:
            y = np.maximum(y, 0.0)
        acts[layer.name] = y
    return acts if return_all else acts[network.layers[-1].name]


def random_weights(network, seed: int = 0) -> dict:
    """Seeded He-initialised float32 weights (and small biases) for every conv/group_conv/fc
    layer of a network without parameters (zoo networks), and scales in 0.5..1.5 for affine
    (batchnorm) layers, in the form of ``Network.weights``."""
    rng = np.random.default_rng(seed)
    out = {}
    for layer in network.layers:
        if layer.kind in ("conv", "group_conv"):
            cg = layer.in_channels // layer.groups
            fan_in = cg * layer.kernel ** 2
            shape = (layer.out_channels, cg, layer.kernel, layer.kernel)
        elif layer.kind == "fc":
            fan_in = layer.in_channels
            shape = (layer.out_channels, layer.in_channels)
        elif layer.kind == "batchnorm":
            out[layer.name] = {"weight": rng.uniform(0.5, 1.5, layer.out_channels).astype(np.float32),
                               "bias": rng.normal(0.0, 0.05, size=layer.out_channels).astype(np.float32)}
            continue
        else:
            continue
        w = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        b = rng.normal(0.0, 0.05, size=layer.out_channels).astype(np.float32)
        out[layer.name] = {"weight": w, "bias": b}
    return out


# ----- the quantised network ------------------------------------------------------------------------

@dataclass
class QuantizedLayer:
    """One layer's integer parameters.

    ``in_scales``: the scales of its inputs (producers' output scales); ``out_scale``: its own.
    conv/group_conv/fc/batchnorm: ``weight`` int8 (``[M, C, K, K]`` / ``[M, C/g, K, K]`` /
    ``[M, N]`` / ``[C]``), ``weight_scale`` float [M], ``bias`` int32 [M], ``mult`` int32 [M],
    ``shift`` [M] in 0..63 (the requantiser's table). add: ``mult`` = one multiplier per input,
    ``shift`` = one shift. concat: ``mult`` and ``shift`` one per input. leaky_relu:
    ``mult``/``shift`` of alpha. clip: ``params["bounds"] = (lo, hi)`` in int8. pad:
    ``params["value"]``, the int8 pad value.
    """

    layer: object
    in_scales: tuple[float, ...]
    out_scale: float
    weight: np.ndarray | None = None
    weight_scale: np.ndarray | None = None
    bias: np.ndarray | None = None
    mult: np.ndarray | tuple | int | None = None
    shift: np.ndarray | tuple | int | None = None
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def kind(self) -> str:
        return self.layer.kind

    def conv_weight(self) -> np.ndarray:
        """The int8 weight as a convolution kernel ``[M, C, K, K]`` (fc: ``[M, N, 1, 1]``)."""
        if self.weight is None:
            raise ValueError(f"layer {self.name!r} has no weights")
        return self.weight if self.weight.ndim == 4 else self.weight.reshape(*self.weight.shape, 1, 1)


@dataclass
class QuantizedNetwork:
    """A network with int8 parameters and its activation scales (see :func:`quantize_network`)."""

    network: object
    input_scale: float
    layers: dict[str, QuantizedLayer] = field(default_factory=dict)

    def __getitem__(self, name: str) -> QuantizedLayer:
        return self.layers[name]

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def output_scale(self) -> float:
        return self.layers[self.network.layers[-1].name].out_scale

    def quantize_input(self, x) -> np.ndarray:
        """Float ``[C, H, W]`` (or ``[1, C, H, W]``) -> the int8 network input."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape == (1,) + tuple(self.network.input_shape):
            x = x[0]
        if x.shape != tuple(self.network.input_shape):
            raise ValueError(f"input must have shape {tuple(self.network.input_shape)}, got {x.shape}")
        return quantize_tensor(x, self.input_scale)

    def dequantize(self, q, layer: str | None = None) -> np.ndarray:
        """int8 values of ``layer``'s output (default: the last layer) -> float."""
        scale = self.output_scale if layer is None else (self.input_scale if layer == "" else self.layers[layer].out_scale)
        return np.asarray(q, dtype=np.float64) * scale


def _calibration_samples(network, calibration) -> list[np.ndarray]:
    shape = tuple(network.input_shape)
    arr = calibration if isinstance(calibration, np.ndarray) else None
    if arr is not None and arr.shape == shape:
        samples = [arr]
    elif arr is not None and arr.ndim == 4:
        samples = list(arr)
    else:
        samples = [np.asarray(s) for s in calibration]
    if not samples:
        raise QuantizationError("quantisation needs at least one calibration sample")
    for s in samples:
        if s.shape != shape:
            raise QuantizationError(f"calibration samples must have shape {shape}, got {s.shape}")
    return samples


def quantize_network(network, calibration, weights: Mapping | None = None, *, percentile: float | None = None,
                     leaky_alpha=DEFAULT_LEAKY_ALPHA, mult_bits: int = 32) -> QuantizedNetwork:
    """Post-training quantisation of ``network`` (module docstring; docs/driver.md).

    ``calibration``: float samples ``[N, C, H, W]`` (or an iterable of ``[C, H, W]``) whose float
    activations set the scales; ``weights`` defaults to ``network.weights``; ``percentile``
    clips the activation ranges (None: max-abs); ``leaky_alpha``: one slope or ``{layer: alpha}``;
    ``mult_bits``: width of the requantiser's signed multiplier (32 for int32).
    """
    weights = network.weights if weights is None else weights
    samples = _calibration_samples(network, calibration)
    for layer in network.layers:
        _check_cpu_operator(layer)
    runs = [float_forward(network, s, weights, leaky_alpha, return_all=True) for s in samples]

    def calibrated(name: str) -> float:
        return activation_scale(np.concatenate([r[name].ravel() for r in runs]), percentile)

    qnet = QuantizedNetwork(network, calibrated(""))
    scales = {"": qnet.input_scale}
    for layer in network.layers:
        in_scales = tuple(scales[p] for p in (layer.inputs or ("",)))
        s_x = in_scales[0]
        kind = layer.kind
        if kind in ("conv", "group_conv", "fc", "batchnorm"):
            w, b = _layer_weights(weights, layer)
            if kind == "batchnorm":  # one int8 scale per channel, like a 1x1 depthwise weight
                wq, s_w = quantize_weights(w.reshape(-1, 1))
                wq = wq.reshape(-1)
            else:
                wq, s_w = quantize_weights(w)
            s_y = calibrated(layer.name)
            acc_scale = s_w * s_x
            bias = np.clip(np.round(b / acc_scale), *_INT32).astype(np.int32)
            pairs = [quantize_multiplier(r, mult_bits) for r in acc_scale / s_y]
            ql = QuantizedLayer(layer, in_scales, s_y, wq, s_w, bias,
                                np.array([p[0] for p in pairs], dtype=np.int32),
                                np.array([p[1] for p in pairs], dtype=np.int32))
        elif kind == "add":
            s_y = calibrated(layer.name)
            mults, sh = add_multipliers_n(in_scales, s_y, mult_bits)
            ql = QuantizedLayer(layer, in_scales, s_y, mult=mults, shift=sh)
        elif kind == "concat":
            s_y = calibrated(layer.name)
            pairs = [quantize_multiplier(s_i / s_y, mult_bits) for s_i in in_scales]
            ql = QuantizedLayer(layer, in_scales, s_y, mult=tuple(p[0] for p in pairs), shift=tuple(p[1] for p in pairs))
        elif kind == "leaky_relu":
            mult, sh = leaky_relu_multiplier(_alpha_of(layer, leaky_alpha))
            ql = QuantizedLayer(layer, in_scales, s_x, mult=mult, shift=sh)
        elif kind == "softmax":
            ql = QuantizedLayer(layer, in_scales, SOFTMAX_SCALE)
        elif kind == "lrn":
            ql = QuantizedLayer(layer, in_scales, calibrated(layer.name))
        elif kind == "clip":
            lo, hi = _clip_bounds(layer)
            bounds = tuple(int(np.clip(np.round(v / s_x), *_INT8)) if math.isfinite(v) else (_INT8[0] if v < 0 else _INT8[1])
                           for v in (lo, hi))
            ql = QuantizedLayer(layer, in_scales, s_x, params={"bounds": bounds})
        elif kind == "pad":
            value = int(quantize_tensor(float(layer.attr("value", 0.0)), s_x))
            ql = QuantizedLayer(layer, in_scales, s_x, params={"value": value})
        else:  # pooling, ReLU and data movement keep the scale
            ql = QuantizedLayer(layer, in_scales, s_x)
        qnet.layers[layer.name] = ql
        scales[layer.name] = ql.out_scale
    return qnet
