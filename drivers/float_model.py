"""The float64 reference forward pass of a network, and random float weights for zoo networks.

:func:`float_forward` runs a :class:`dse.graph.Network`-like graph (``layers`` with ``kind``,
``inputs``, shapes and attributes) in float64: the calibration pass of :mod:`drivers.quantize`
and the reference accuracy comparisons use it. :func:`random_weights` gives a network without
trained weights deterministic He-scaled ones.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .ops import CPU_KINDS, channel_shuffle, float_lrn, float_softmax, pad, pool_counts, pool_windows, slice_channels, transpose

__all__ = ["QuantizationError", "DEFAULT_LEAKY_ALPHA", "float_forward", "random_weights", "check_cpu_operator",
           "layer_weights", "leaky_alpha_of", "clip_bounds"]

#: Leaky-ReLU slope used when none is given (darknet's Tiny-YOLO uses 0.1).
DEFAULT_LEAKY_ALPHA = 0.1


class QuantizationError(ValueError):
    """The network cannot be quantised as asked (missing weights, unsupported operator, ...)."""



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


def leaky_alpha_of(layer, leaky_alpha) -> float:
    """The leaky-ReLU slope: ``leaky_alpha[name]`` when given per layer, else the layer's own
    (an ONNX import keeps LeakyRelu's alpha), else ``leaky_alpha`` (or the default)."""
    if isinstance(leaky_alpha, Mapping) and layer.name in leaky_alpha:
        return float(leaky_alpha[layer.name])
    own = layer.attr("alpha")
    if own is not None:
        return float(own)
    return DEFAULT_LEAKY_ALPHA if isinstance(leaky_alpha, Mapping) else float(leaky_alpha)


def clip_bounds(layer) -> tuple[float, float]:
    lo, hi = layer.attr("min"), layer.attr("max")
    return (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))


def layer_weights(weights: Mapping | None, layer) -> tuple[np.ndarray, np.ndarray]:
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


def check_cpu_operator(layer) -> None:
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
            w, b = layer_weights(weights, layer)
            if kind == "conv":
                y = _float_conv(a, w, layer.stride, layer.padding) + b[:, None, None]
            else:
                y = _float_group_conv(a, w, layer.groups, layer.stride, layer.padding) + b[:, None, None]
        elif kind == "batchnorm":
            w, b = layer_weights(weights, layer)
            y = a * w[:, None, None] + b[:, None, None]
        elif kind == "fc":
            w, b = layer_weights(weights, layer)
            y = (w @ a.reshape(-1) + b).reshape(-1, 1, 1)
        elif kind == "maxpool":
            win, _ = pool_windows(a, layer.kernel, layer.stride, layer.padding, out_size, fill=-np.inf)
            y = win.max(axis=(3, 4))
        elif kind == "avgpool":
            win, valid = pool_windows(a, layer.kernel, layer.stride, layer.padding, out_size, fill=0.0)
            y = win.sum(axis=(3, 4)) / pool_counts(a.shape, layer.kernel, layer.stride, layer.padding, out_size,
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
            y = np.where(a >= 0, a, a * leaky_alpha_of(layer, leaky_alpha))
        elif kind == "clip":
            y = np.clip(a, *clip_bounds(layer))
        elif kind == "lrn":
            y = float_lrn(a, int(layer.attr("size")), layer.attr("alpha"), layer.attr("beta"), layer.attr("bias"))
        elif kind == "softmax":
            y = float_softmax(a)
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
            check_cpu_operator(layer)
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


