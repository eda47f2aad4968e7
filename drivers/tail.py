"""The CPU tail of a partitioned network: the ONNX nodes after the layers the accelerator and the
int8 kernels run (a detector's head: Reshape, Transpose and Concat across spatial axes, Softmax,
box decoding), evaluated in float32 numpy on the dequantised boundary tensors.

Numpy only, so the armv7l PYNQ images, which have no onnxruntime, run it as the PC does.
``dse.onnx_tail`` cuts a model's tail into the plain form :meth:`Tail.from_plain` reads (JSON
and constant arrays: what a deploy folder carries); :data:`OPS` lists what
this interpreter evaluates, with ONNX's semantics at the node's opset (attribute and input forms
of Slice, Squeeze, Unsqueeze, Split, Clip, Softmax's axis before and after opset 13).
tests/unit/test_tail.py checks every operator against onnx's reference evaluator and UltraFace's
head against onnxruntime.

A :class:`Tail` is plain data: a tuple of :class:`TailNode` (operator, input and output tensor
names, attributes as JSON values), the constant tensors it reads, the boundary tensors it takes
(``(tensor, layer)``: the int8 output of that layer, dequantised, with a batch axis: ``[1, C, H,
W]``) and the names of its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import numpy as np

__all__ = ["TailNode", "Tail", "OPS", "TailError"]


class TailError(ValueError):
    """A tail node this interpreter cannot evaluate, or a tail that does not hold together."""


@dataclass(frozen=True)
class TailNode:
    """One ONNX node: ``op`` (its op_type), tensor names in and out ("" for an omitted optional
    input), and attributes as JSON values (ints, floats, strings and lists of them)."""

    op: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    attrs: Dict[str, object] = field(default_factory=dict)
    name: str = ""


def _ints(v) -> List[int]:
    return [int(a) for a in np.asarray(v).reshape(-1)]


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _softmax(x: np.ndarray, axes) -> np.ndarray:
    z = x - x.max(axis=axes, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axes, keepdims=True)


def _op_softmax(node, ins, opset):
    x = ins[0]
    axis = _axis(int(node.attrs.get("axis", -1 if opset >= 13 else 1)), x.ndim)
    # Before opset 13 the input is coerced to 2-D at `axis`: the softmax runs over all later axes.
    return [_softmax(x, axis if opset >= 13 else tuple(range(axis, x.ndim)))]


def _op_reshape(node, ins, opset):
    x, shape = ins[0], _ints(ins[1])
    if not node.attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def _op_slice(node, ins, opset):
    x = ins[0]
    if opset < 10:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        # numpy clamps as ONNX does (INT64_MAX / INT64_MIN mean "to the end").
        index[_axis(int(a), x.ndim)] = slice(int(s), int(e), int(st))
    return [x[tuple(index)]]


def _axes_of(node, ins, opset, since):
    if opset >= since:
        return _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
    return node.attrs.get("axes")


def _op_squeeze(node, ins, opset):
    axes = _axes_of(node, ins, opset, 13)
    x = ins[0]
    return [np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(_axis(a, x.ndim) for a in axes))]


def _op_unsqueeze(node, ins, opset):
    axes = _axes_of(node, ins, opset, 13)
    x = ins[0]
    rank = x.ndim + len(axes)
    for a in sorted(_axis(int(a), rank) for a in axes):
        x = np.expand_dims(x, a)
    return [x]


def _op_split(node, ins, opset):
    x = ins[0]
    axis = _axis(int(node.attrs.get("axis", 0)), x.ndim)
    split = (_ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None) if opset >= 13 else node.attrs.get("split")
    n = len(node.outputs)
    if split is None:
        if x.shape[axis] % n:
            raise TailError(f"Split {node.name!r}: axis {axis} of {x.shape[axis]} does not divide into {n} outputs")
        split = [x.shape[axis] // n] * n
    return np.split(x, np.cumsum(split)[:-1], axis=axis)


def _op_clip(node, ins, opset):
    if opset < 11:
        lo, hi = node.attrs.get("min", -np.inf), node.attrs.get("max", np.inf)
    else:
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
    return [np.clip(ins[0], lo, hi).astype(ins[0].dtype)]


def _op_concat(node, ins, opset):
    return [np.concatenate(ins, axis=int(node.attrs["axis"]))]


def _op_transpose(node, ins, opset):
    perm = node.attrs.get("perm")
    return [np.transpose(ins[0], perm)]


def _op_flatten(node, ins, opset):
    x = ins[0]
    axis = _axis(int(node.attrs.get("axis", 1)), x.ndim)
    return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)]


def _op_gather(node, ins, opset):
    return [np.take(ins[0], np.asarray(ins[1]).astype(np.int64), axis=int(node.attrs.get("axis", 0)))]


def _elementwise(fn) -> Callable:
    def run(node, ins, opset):
        return [np.asarray(fn(*ins)).astype(np.result_type(*[np.asarray(a).dtype for a in ins]), copy=False)]
    return run


def _unary(fn) -> Callable:
    def run(node, ins, opset):
        return [np.asarray(fn(ins[0])).astype(ins[0].dtype, copy=False)]
    return run


#: What the interpreter evaluates: ``{op_type: fn(node, inputs, opset) -> outputs}``.
OPS: Dict[str, Callable] = {
    "Add": _elementwise(np.add), "Sub": _elementwise(np.subtract), "Mul": _elementwise(np.multiply),
    "Div": _elementwise(np.divide), "Max": _elementwise(np.maximum), "Min": _elementwise(np.minimum),
    "Pow": _elementwise(np.power),
    "Exp": _unary(np.exp), "Log": _unary(np.log), "Sqrt": _unary(np.sqrt), "Neg": _unary(np.negative),
    "Abs": _unary(np.abs), "Tanh": _unary(np.tanh), "Relu": _unary(lambda x: np.maximum(x, 0)),
    "Sigmoid": _unary(lambda x: 1 / (1 + np.exp(-x))), "Identity": _unary(lambda x: x),
    "Softmax": _op_softmax, "Reshape": _op_reshape, "Slice": _op_slice, "Squeeze": _op_squeeze,
    "Unsqueeze": _op_unsqueeze, "Split": _op_split, "Clip": _op_clip, "Concat": _op_concat,
    "Transpose": _op_transpose, "Flatten": _op_flatten, "Gather": _op_gather,
}


@dataclass(frozen=True)
class Tail:
    """The nodes after the partition's boundary, in graph order (see the module docstring)."""

    boundary: Tuple[Tuple[str, str], ...]
    nodes: Tuple[TailNode, ...]
    constants: Dict[str, np.ndarray]
    outputs: Tuple[str, ...]
    opset: int = 13

    def __post_init__(self):
        known = {t for t, _ in self.boundary} | set(self.constants)
        for node in self.nodes:
            if node.op not in OPS:
                raise TailError(f"tail node {node.name or node.op!r} is a {node.op}, which the CPU tail cannot run; "
                                f"it runs {', '.join(sorted(OPS))}")
            missing = [t for t in node.inputs if t and t not in known]
            if missing:
                raise TailError(f"tail node {node.name or node.op!r} reads {missing[0]!r}, which neither the "
                                "boundary, a constant nor an earlier tail node provides")
            known.update(node.outputs)
        absent = [o for o in self.outputs if o not in known]
        if absent:
            raise TailError(f"the tail's output {absent[0]!r} is computed by no tail node")

    @classmethod
    def from_plain(cls, plain: dict, constants: Dict[str, np.ndarray]) -> "Tail":
        """The tail ``dse.onnx_tail.cut_tail`` wrote (``plain``: its JSON; ``constants``)."""
        nodes = tuple(TailNode(n["op"], tuple(n["inputs"]), tuple(n["outputs"]), dict(n.get("attrs", {})),
                               n.get("name", "")) for n in plain["nodes"])
        return cls(tuple((str(t), str(l)) for t, l in plain["boundary"]), nodes,
                   {k: np.asarray(v) for k, v in constants.items()}, tuple(plain["outputs"]), int(plain["opset"]))

    def run(self, boundary: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """The tail's outputs from the float boundary tensors (``{tensor name: [1, C, H, W]}``)."""
        values: Dict[str, np.ndarray] = {}
        for name, _ in self.boundary:
            if name not in boundary:
                raise TailError(f"the tail needs the boundary tensor {name!r}")
            values[name] = np.asarray(boundary[name], dtype=np.float32)
        values.update(self.constants)
        for node in self.nodes:
            ins = [values[t] if t else None for t in node.inputs]
            outs = OPS[node.op](node, ins, self.opset)
            for name, value in zip(node.outputs, outs):
                if name:
                    values[name] = np.asarray(value)
        return [values[o] for o in self.outputs]
