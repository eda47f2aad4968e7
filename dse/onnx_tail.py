"""Cuts an ONNX graph's tail: the nodes between a set of boundary tensors and the graph's outputs.

The importer follows a model as far as its layers go (``dse.onnx_import``); what lies beyond --
a detector's head of Reshape, Transpose, Concat, Softmax and box decoding -- is evaluated by the
board's CPU in float numpy (``drivers.tail.Tail``, which reads the plain form this module
writes: the build side does not import the runtime). :func:`cut_tail` takes the boundary
(``{tensor name: name of the layer whose int8 output it is}``) and returns every node the graph's
outputs need beyond it, in graph order, with the constants they read. A node outside
:data:`TAIL_OPS` (the runtime interpreter's operators; tests/unit/test_tail.py holds the two
equal) is refused in one sentence.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import NetworkError

__all__ = ["TAIL_OPS", "TailCutError", "cut_tail", "tail_attrs"]

#: The operators the runtime's tail interpreter evaluates (``drivers.tail.OPS``).
TAIL_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Exp", "Log", "Sqrt", "Neg", "Abs", "Tanh", "Relu", "Sigmoid",
    "Identity", "Softmax", "Reshape", "Slice", "Squeeze", "Unsqueeze", "Split", "Clip", "Concat", "Transpose",
    "Flatten", "Gather",
})


class TailCutError(NetworkError):
    """The graph beyond the layers cannot be run by the CPU tail (one sentence)."""


def tail_attrs(node: onnx.NodeProto) -> dict:
    """A node's attributes as JSON values (tensors as nested lists; strings decoded)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v).tolist()
        elif isinstance(v, (list, tuple)):
            v = [x.decode() if isinstance(x, bytes) else x for x in v]
        out[a.name] = v
    return out


def cut_tail(model: onnx.ModelProto, boundary: dict[str, str],
             outputs: list[str] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The nodes of ``model`` that compute ``outputs`` (default: every graph output) from the
    ``boundary`` tensors and constants, as ``(plain, constants)``: ``plain`` is JSON
    (``boundary`` as ``[tensor, layer]`` pairs, ``nodes`` as ``{op, inputs, outputs, attrs,
    name}``, ``outputs``, ``opset``), ``constants`` the arrays the nodes read.
    :class:`TailCutError` in one sentence when a needed node reads a tensor that is none of
    those, or is an operator the tail cannot run."""
    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    outputs = list(outputs) if outputs is not None else [o.name for o in g.output]
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: node for node in g.node for o in node.output if o}
    needed, todo = set(), [o for o in outputs if o not in boundary]
    while todo:
        name = todo.pop()
        node = producer.get(name)
        if node is None:
            if name in consts:
                continue
            raise TailCutError(f"the graph's tail needs {name!r}, which no node, constant or layer output provides")
        if id(node) not in needed:
            needed.add(id(node))
            todo.extend(t for t in node.input if t and t not in boundary and t not in consts)
    nodes, used = [], set()
    for node in g.node:
        if id(node) not in needed:
            continue
        label = node.name or node.op_type
        if node.op_type == "Constant":
            consts[node.output[0]] = np.asarray(helper.get_attribute_value(node.attribute[0]) if
                                                node.attribute[0].type != onnx.AttributeProto.TENSOR else
                                                numpy_helper.to_array(node.attribute[0].t))
            continue
        if node.op_type not in TAIL_OPS:
            raise TailCutError(f"node {label!r} ({node.op_type}) lies beyond the layers and the CPU tail cannot run "
                               f"it; the tail runs {', '.join(sorted(TAIL_OPS))}")
        nodes.append({"op": node.op_type, "inputs": list(node.input), "outputs": list(node.output),
                      "attrs": tail_attrs(node), "name": label})
        used.update(t for t in node.input if t in consts)
    used.update(o for o in outputs if o in consts)
    plain = {"boundary": [[t, boundary[t]] for t in sorted(boundary)], "nodes": nodes, "outputs": outputs,
             "opset": opset}
    return plain, {k: consts[k] for k in sorted(used)}
