"""ONNX importer: a :class:`dse.graph.Network` (with weights) from a ``.onnx`` model.

Supported operators (NCHW, batch 1, square kernels, symmetric padding, no dilation or groups):
``Conv`` (with a following ``BatchNormalization`` folded into its weights and bias), ``Relu``
(fused into the producing conv/FC/add when it is the only consumer, else a stand-alone layer),
``LeakyRelu``, ``MaxPool``, ``AveragePool``, ``GlobalAveragePool``, ``Gemm`` and ``MatMul``
(+ ``Add`` of a constant bias) as fully-connected layers, ``Add`` of two tensors (residual),
and the shape-only ``Flatten``/``Reshape``/``Dropout``/``Identity``. Any other operator becomes a
layer of kind ``unsupported`` named after its node, with ``op_type`` set: the DSE lists it as
running on the CPU, by name (spec section 1).

Weights come from initializers (or ``Constant`` nodes); a weight fed as a graph input keeps its
shape (from the model's type information) and ``Network.weights`` has no entry for it.
Problems (a file that does not parse, a graph the importer cannot follow) raise
:class:`OnnxImportError` with one sentence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from .graph import Layer, Network, NetworkError, conv_output_size

__all__ = ["load_onnx", "OnnxImportError", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("Conv", "BatchNormalization", "Relu", "LeakyRelu", "MaxPool", "AveragePool", "GlobalAveragePool",
                 "Gemm", "MatMul", "Add", "Flatten", "Reshape", "Dropout", "Identity")
_PASS_THROUGH = ("Flatten", "Reshape", "Dropout", "Identity")


class OnnxImportError(NetworkError):
    """The ONNX file cannot be read or followed; the message is one sentence."""


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _shape_of(value_info) -> tuple[int, ...] | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
        else:
            dims.append(1)  # symbolic batch dimension
    return tuple(dims)


def _sanitize(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
    return out or "layer"


def load_onnx(path: str | Path) -> Network:
    """Read ``path`` and return the network (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise OnnxImportError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        model = shape_inference.infer_shapes(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxImportError(f"cannot parse ONNX file {path}: {detail[:200]}") from None
    graph = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            a = _attrs(node)
            if "value" in a:
                consts[node.output[0]] = numpy_helper.to_array(a["value"])
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        s = _shape_of(vi)
        if s is not None:
            shapes[vi.name] = s
    for name, arr in consts.items():
        shapes[name] = tuple(arr.shape)

    # Parameters fed as graph inputs (weights of Conv/Gemm/MatMul, BatchNormalization statistics).
    params = {t for node in graph.node if node.op_type in ("Conv", "Gemm", "MatMul", "BatchNormalization")
              for t in node.input[1:]}
    inputs = [vi for vi in graph.input if vi.name not in consts and vi.name not in params]
    if len(inputs) != 1:
        raise OnnxImportError(f"{path} has {len(inputs)} non-constant inputs; the importer takes one image input")
    in_shape = shapes.get(inputs[0].name)
    if in_shape is None or len(in_shape) != 4 or in_shape[0] != 1:
        raise OnnxImportError(f"the input of {path} must be a batch-1 NCHW tensor, got shape {in_shape}")

    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)

    layers: list[Layer] = []
    weights: dict[str, dict] = {}
    # tensor name -> (producing layer name or "" for the network input, (C, H, W))
    tensors: dict[str, tuple[str, tuple[int, int, int]]] = {inputs[0].name: ("", tuple(in_shape[1:]))}
    used_names: set[str] = set()
    fused: set[str] = set()  # nodes already folded into a previous layer

    def unique(name: str) -> str:
        base = _sanitize(name)
        out, k = base, 1
        while out in used_names:
            k += 1
            out = f"{base}_{k}"
        used_names.add(out)
        return out

    def src(tensor: str, node) -> tuple[str, tuple[int, int, int]]:
        if tensor not in tensors:
            raise OnnxImportError(f"node {node.name or node.op_type} reads {tensor!r}, which no supported layer produces")
        return tensors[tensor]

    def only_consumer_relu(tensor: str):
        users = consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == "Relu" and tensor not in {o.name for o in graph.output}:
            return users[0]
        return None

    def add_layer(layer: Layer, out_tensor: str, node_relu=None):
        if node_relu is not None:
            fused.add(id(node_relu))
            out_tensor = node_relu.output[0]
        layers.append(layer)
        tensors[out_tensor] = (layer.name, (layer.out_channels, layer.out_height, layer.out_width))

    for node in graph.node:
        op = node.op_type
        if id(node) in fused or op == "Constant":
            continue
        a = _attrs(node)
        label = node.name or f"{op}_{len(layers)}"
        if op in _PASS_THROUGH:
            tensors[node.output[0]] = src(node.input[0], node)
            continue
        if op == "Conv":
            prod, (c, h, w) = src(node.input[0], node)
            if node.input[1] not in shapes:
                raise OnnxImportError(f"Conv {label} has a weight of unknown shape")
            mo, ci, kh, kw = shapes[node.input[1]]
            pads = list(a.get("pads", [0, 0, 0, 0]))
            strides = list(a.get("strides", [1, 1]))
            dil = list(a.get("dilations", [1, 1]))
            group = a.get("group", 1)
            problems = []
            if kh != kw:
                problems.append(f"non-square kernel {kh}x{kw}")
            if len(set(pads)) > 1:
                problems.append(f"asymmetric padding {pads}")
            if len(set(strides)) > 1:
                problems.append(f"unequal strides {strides}")
            if any(d != 1 for d in dil):
                problems.append("dilation")
            if group != 1:
                problems.append(f"{group} groups")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                problems.append("auto_pad")
            if problems:
                out = node.output[0]
                shape = shapes.get(out, (1, mo, h, w))
                layer = Layer(unique(label), "unsupported", c, shape[1], h, w, shape[2], shape[3], kh, strides[0],
                              pads[0], False, (prod,) if prod else (), f"Conv ({', '.join(problems)})")
                add_layer(layer, out)
                continue
            k, s, p = kh, strides[0], pads[0]
            ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
            wt = consts.get(node.input[1])
            bias = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            out = node.output[0]
            users = consumers.get(out, [])
            if len(users) == 1 and users[0].op_type == "BatchNormalization" and wt is not None:
                bn = users[0]
                scale, beta, mean, var = (consts.get(t) for t in bn.input[1:5])
                if all(v is not None for v in (scale, beta, mean, var)):
                    eps = _attrs(bn).get("epsilon", 1e-5)
                    f = scale / np.sqrt(var + eps)
                    wt = wt * f[:, None, None, None]
                    bias = beta + ((bias if bias is not None else 0) - mean) * f
                    fused.add(id(bn))
                    out = bn.output[0]
            relu = only_consumer_relu(out)
            name = unique(label)
            layer = Layer(name, "conv", c, mo, h, w, ho, wo, k, s, p, relu is not None, (prod,) if prod else ())
            if wt is not None:
                weights[name] = {"weight": np.asarray(wt, dtype=np.float32),
                                 "bias": np.asarray(bias if bias is not None else np.zeros(mo), dtype=np.float32)}
            add_layer(layer, out, relu)
        elif op in ("MaxPool", "AveragePool"):
            prod, (c, h, w) = src(node.input[0], node)
            k = list(a.get("kernel_shape", [1, 1]))
            strides = list(a.get("strides", [1, 1]))
            pads = list(a.get("pads", [0, 0, 0, 0]))
            out = node.output[0]
            oshape = shapes.get(out)
            ho, wo = (oshape[2], oshape[3]) if oshape and len(oshape) == 4 else (
                conv_output_size(h, k[0], strides[0], pads[0]), conv_output_size(w, k[1], strides[1], pads[1]))
            kind = "maxpool" if op == "MaxPool" else "avgpool"
            layer = Layer(unique(label), kind, c, c, h, w, ho, wo, k[0], strides[0], pads[0], False,
                          (prod,) if prod else (), op)
            add_layer(layer, out)
        elif op == "GlobalAveragePool":
            prod, (c, h, w) = src(node.input[0], node)
            layer = Layer(unique(label), "global_avgpool", c, c, h, w, 1, 1, max(h, w), 1, 0, False,
                          (prod,) if prod else (), op)
            add_layer(layer, node.output[0])
        elif op in ("Gemm", "MatMul"):
            prod, (c, h, w) = src(node.input[0], node)
            wname = node.input[1]
            wt = consts.get(wname)
            wshape = shapes.get(wname)
            if wshape is None or len(wshape) != 2:
                raise OnnxImportError(f"{op} {label} needs a 2-D weight of known shape")
            trans_b = a.get("transB", 0) if op == "Gemm" else 0
            n_in, n_out = (wshape[1], wshape[0]) if trans_b else (wshape[0], wshape[1])
            if n_in != c * h * w:
                raise OnnxImportError(f"{op} {label} takes {n_in} features but its input has {c * h * w}")
            bias = consts.get(node.input[2]) if op == "Gemm" and len(node.input) > 2 and node.input[2] else None
            out = node.output[0]
            users = consumers.get(out, [])
            if op == "MatMul" and len(users) == 1 and users[0].op_type == "Add":
                other = [t for t in users[0].input if t != out]
                if other and other[0] in consts:
                    bias = consts[other[0]]
                    fused.add(id(users[0]))
                    out = users[0].output[0]
            relu = only_consumer_relu(out)
            name = unique(label)
            layer = Layer(name, "fc", n_in, n_out, 1, 1, 1, 1, 1, 1, 0, relu is not None, (prod,) if prod else ())
            if wt is not None:
                wmat = wt.T if not trans_b else wt  # stored as [out, in]
                weights[name] = {"weight": np.asarray(wmat, dtype=np.float32),
                                 "bias": np.asarray(bias if bias is not None else np.zeros(n_out), dtype=np.float32)}
            add_layer(layer, out, relu)
        elif op == "Add" and all(t in tensors for t in node.input):
            (pa, sa), (pb, sb) = src(node.input[0], node), src(node.input[1], node)
            if sa != sb:
                raise OnnxImportError(f"Add {label} adds tensors of shapes {sa} and {sb}")
            relu = only_consumer_relu(node.output[0])
            c, h, w = sa
            layer = Layer(unique(label), "add", c, c, h, w, h, w, 1, 1, 0, relu is not None,
                          tuple(p for p in (pa, pb) if p), op)
            add_layer(layer, node.output[0], relu)
        elif op in ("Relu", "LeakyRelu"):
            prod, (c, h, w) = src(node.input[0], node)
            kind = "relu" if op == "Relu" else "leaky_relu"
            layer = Layer(unique(label), kind, c, c, h, w, h, w, 1, 1, 0, False, (prod,) if prod else (), op)
            add_layer(layer, node.output[0])
        else:
            data_in = [t for t in node.input if t in tensors]
            prod, (c, h, w) = tensors[data_in[0]] if data_in else ("", tuple(in_shape[1:]))
            out = node.output[0] if node.output else ""
            oshape = shapes.get(out)
            if oshape and len(oshape) == 4:
                oc, oh, ow = oshape[1:]
            elif oshape and len(oshape) == 2:
                oc, oh, ow = oshape[1], 1, 1
            else:
                oc, oh, ow = c, h, w
            layer = Layer(unique(label), "unsupported", c, max(1, oc), h, w, max(1, oh), max(1, ow), 1, 1, 0, False,
                          tuple(tensors[t][0] for t in data_in if tensors[t][0]), op)
            add_layer(layer, out)
    if not layers:
        raise OnnxImportError(f"{path} contains no layer the importer recognises")
    try:
        return Network(_sanitize(path.stem), tuple(in_shape[1:]), tuple(layers), f"ONNX model {path.name}", weights)
    except NetworkError as exc:
        raise OnnxImportError(f"the graph of {path} is inconsistent: {exc}") from None
