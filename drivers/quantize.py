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

from .float_model import (DEFAULT_LEAKY_ALPHA, QuantizationError, check_cpu_operator, clip_bounds, float_forward,
                            layer_weights, leaky_alpha_of)
from .ops import INT8_RANGE, INT32_RANGE, SOFTMAX_SCALE, quantize_tensor

__all__ = [
    "QuantizationError", "QuantizedLayer", "QuantizedNetwork", "quantize_network", "quantize_multiplier",
    "add_multipliers", "add_multipliers_n", "leaky_relu_multiplier", "quantize_weights", "activation_scale",
    "quantize_tensor", "LEAKY_MULT_BITS",
]

#: Bits of the fixed-point leaky-ReLU slope multiplier (2^15 <= mult < 2^16).
LEAKY_MULT_BITS = 17


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
        check_cpu_operator(layer)
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
            w, b = layer_weights(weights, layer)
            if kind == "batchnorm":  # one int8 scale per channel, like a 1x1 depthwise weight
                wq, s_w = quantize_weights(w.reshape(-1, 1))
                wq = wq.reshape(-1)
            else:
                wq, s_w = quantize_weights(w)
            s_y = calibrated(layer.name)
            acc_scale = s_w * s_x
            bias = np.clip(np.round(b / acc_scale), *INT32_RANGE).astype(np.int32)
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
            mult, sh = leaky_relu_multiplier(leaky_alpha_of(layer, leaky_alpha))
            ql = QuantizedLayer(layer, in_scales, s_x, mult=mult, shift=sh)
        elif kind == "softmax":
            ql = QuantizedLayer(layer, in_scales, SOFTMAX_SCALE)
        elif kind == "lrn":
            ql = QuantizedLayer(layer, in_scales, calibrated(layer.name))
        elif kind == "clip":
            lo, hi = clip_bounds(layer)
            bounds = tuple(int(np.clip(np.round(v / s_x), *INT8_RANGE)) if math.isfinite(v) else (INT8_RANGE[0] if v < 0 else INT8_RANGE[1])
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
