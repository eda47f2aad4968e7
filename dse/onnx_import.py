"""ONNX importer: a :class:`dse.graph.Network` (with weights) from a ``.onnx`` model.

What it reads is what real exporters write (torch's TorchScript and dynamo exporters, tf2onnx,
the ONNX model zoo), batch 1, NCHW. The model is prepared in four steps before any layer is made:

1. **Weights.** Initializers stored as external data are loaded from the model's folder. A
   parameter whose data cannot be had (external file missing, or a weight given as a graph
   input without an initializer) keeps its shape as a graph input; the importer then warns once
   (:class:`OnnxImportWarning`, one sentence): the DSE can plan the network from its shapes, but
   ``Network.weights`` lacks those layers and the driver cannot quantise it.
2. **Normalisation.** Local functions are inlined, initializers listed as graph inputs (old
   exporters' ``keep_initializers_as_inputs``) become plain constants, and a symbolic batch
   dimension is fixed to 1, so that shapes are static.
3. **Constant folding** by onnxruntime's offline graph optimisation at the basic level
   (``GraphOptimizationLevel.ORT_ENABLE_BASIC``, ONNX operators only): every subgraph whose
   inputs are constant (Constant, ConstantOfShape, Shape -> Gather -> Unsqueeze -> Concat
   chains, Unsqueeze/Reshape/Identity of initializers, F.pad's pad chain) becomes an
   initializer, Identity and Dropout disappear, and Conv + BatchNormalization / Mul / Add of
   constants and Pad + Conv are fused. No constant-producing node reaches the network.
4. **Shapes** of every tensor by ``onnx.shape_inference`` (with data propagation).

Each remaining node then becomes a layer, or is folded into one, as :data:`OPERATORS` says
(the README's operator table is generated from it: :func:`operator_table`). An operator the
accelerator cannot run becomes a CPU layer with its true cost; one nothing can run becomes a
layer of kind ``unsupported`` (``op_type`` names it, with the reason), which ``python -m
dse.build`` refuses. Problems (a file that does not parse, a graph the importer cannot follow)
raise :class:`OnnxImportError` with one sentence.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, shape_inference
from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data
from onnx.reference import ReferenceEvaluator

from .graph import Layer, Network, NetworkError, conv_output_size

__all__ = ["load_onnx", "check_input_shape", "OnnxImportError", "OnnxImportWarning", "OPERATORS", "SUPPORTED_OPS", "operator_table"]


class OnnxImportError(NetworkError):
    """The ONNX file cannot be read or followed; the message is one sentence."""


class OnnxImportWarning(UserWarning):
    """The model imports, but something the user should know is missing (its weights)."""


#: The one source of truth for what each ONNX operator becomes: ``op -> (layer kind, where it
#: runs, note)``. "accelerator (or CPU)" means the engine runs it when the design's
#: configuration can and the model says it is faster (else the CPU, with the reason in the
#: report); "CPU" means the driver's numpy path (drivers/quantize.py, int8 where it follows int8
#: layers); "folded" means no layer of its own.
OPERATORS: dict[str, tuple[str, str, str]] = {
    "Conv": ("conv", "accelerator (or CPU)", "group 1, square kernel, equal strides; a dilated kernel as the dense "
             "kernel it spans (zeros between the taps); asymmetric or "
             "'SAME' padding adds a pad layer"),
    "Conv (group > 1)": ("group_conv", "CPU", "grouped and depthwise convolutions, counted at "
                         "2*Cin/groups*K*K*Cout*Ho*Wo ops"),
    "Gemm, MatMul": ("fc", "accelerator (or CPU)", "as a 1x1 convolution; a following Add of a constant is its bias"),
    "BatchNormalization": ("folded / batchnorm", "folded / CPU", "folded into the preceding Conv, else a "
                           "per-channel affine layer"),
    "Mul, Add, Sub, Div (by a constant)": ("batchnorm", "CPU", "per-channel or scalar constant: an affine layer "
                                           "(folded into a preceding Conv by onnxruntime when it can)"),
    "Relu": ("fused / relu", "with its producer / CPU", "fused into a conv, fc, add or affine layer that "
             "only it reads"),
    "LeakyRelu": ("leaky_relu", "activation table (or CPU)", "alpha kept; in the activation table of the "
                  "accelerated layer that alone feeds it"),
    "Clip (ReLU6)": ("clip", "activation table (or CPU)", "min/max from attributes or constant inputs; as LeakyRelu"),
    "Add, Sum (of tensors)": ("add", "CPU", "any number of same-shape inputs"),
    "Concat": ("concat", "CPU", "along the channels"),
    "MaxPool, AveragePool": ("maxpool / avgpool", "pooling stage (or CPU)", "square windows; ceil mode; "
                             "count_include_pad; 2x2 stride 2 unpadded on an even map fed by a one-run "
                             "accelerated layer (or its table) alone: in that run's pooling stage"),
    "GlobalAveragePool, ReduceMean (H, W)": ("global_avgpool", "CPU", ""),
    "GlobalMaxPool, ReduceMax (H, W)": ("global_maxpool", "CPU", ""),
    "LRN": ("lrn", "CPU", ""),
    "Softmax": ("softmax", "CPU", "over the channels (the features after an fc layer)"),
    "Pad": ("pad", "CPU", "constant, reflect or edge; no negative pads"),
    "Reshape -> Transpose -> Reshape": ("channel_shuffle", "CPU", "ShuffleNet's channel shuffle"),
    "Transpose": ("transpose", "CPU", "4-D, batch axis kept"),
    "Split, Slice": ("slice", "CPU", "along the channels, step 1"),
    "Flatten, Reshape, Squeeze, Unsqueeze": ("folded / reshape", "folded / CPU", "no layer when only fc layers "
                                             "read the result or the shape is unchanged"),
    "Identity, Dropout, Cast (to a float type)": ("folded", "folded", ""),
    "Constant, ConstantOfShape, Shape, Gather, ... (constant inputs)": ("folded", "folded", "evaluated at import "
                                                                         "by onnxruntime's constant folding"),
    "any other operator, or one of the above outside its notes": ("unsupported", "nowhere", "python -m dse.build "
                                                                  "refuses the model, naming the layer and operator"),
}

#: ONNX operator names that map to a layer (or fold away) on data tensors.
SUPPORTED_OPS = ("Conv", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "MaxPool", "AveragePool",
                 "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "Gemm", "MatMul", "Add", "Sum",
                 "Sub", "Mul", "Div", "Concat", "LRN", "Softmax", "Pad", "Transpose", "Split", "Slice", "Flatten",
                 "Reshape", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast")

#: Operators whose inputs beyond the first are parameters (a graph input there is a weight).
_PARAM_OPS = ("Conv", "Gemm", "MatMul", "BatchNormalization")
_SHAPE_OPS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")


def operator_table() -> str:
    """The operator table of the README (Markdown), generated from :data:`OPERATORS`."""
    lines = ["| ONNX operator | layer kind | runs on | notes |", "| --- | --- | --- | --- |"]
    for op, (kind, where, note) in OPERATORS.items():
        lines.append(f"| {op} | {kind} | {where} | {note} |")
    return "\n".join(lines)


# ----- reading and preparing the model ---------------------------------------------------------------

def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _sanitize(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name).strip("_")
    return out or "layer"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _read(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, ...
        raise OnnxImportError(f"cannot parse ONNX file {path}: {_first_line(exc)}") from None


def _load_external_weights(model: onnx.ModelProto, path: Path) -> dict[str, str]:
    """Load external-data initializers from ``path``'s folder; the ones whose data is missing
    become graph inputs of the same type and shape. Returns ``{tensor name: missing file}``."""
    graph = model.graph
    missing: dict[str, str] = {}
    keep = []
    for t in graph.initializer:
        if uses_external_data(t):
            location = next((e.value for e in t.external_data if e.key == "location"), "?")
            try:
                load_external_data_for_tensor(t, str(path.parent))
                t.data_location = onnx.TensorProto.DEFAULT
                del t.external_data[:]
            except Exception:  # noqa: BLE001 - a missing or short file, a path outside the folder
                missing[t.name] = location
                graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
                continue
        keep.append(t)
    if missing:
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return missing


def _fixed(d) -> bool:
    """An ONNX dimension with a size (not a symbol, not unknown)."""
    return d.HasField("dim_value") and d.dim_value > 0


def _dims_text(dims) -> str:
    return ",".join(str(d.dim_value) if _fixed(d) else (d.dim_param or "?") for d in dims)


def _normalise(model: onnx.ModelProto, path: Path, input_shape: tuple[int, ...] | None = None,
               missing: dict[str, str] | None = None) -> onnx.ModelProto:
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    graph = model.graph
    consts = {t.name for t in graph.initializer}
    inputs = [vi for vi in graph.input if vi.name not in consts]
    del graph.input[:]
    graph.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)  # initializers need not be graph inputs from IR 4 on
    data = [vi for vi in graph.input if vi.name not in (missing or {})]
    if len(data) > 1:       # weights given as graph inputs: the image is the one with a size to fix
        data = [vi for vi in data if not all(_fixed(d) for d in vi.type.tensor_type.shape.dim[1:])] or data
    if input_shape is not None:
        if len(data) != 1:
            raise OnnxImportError(f"{path.name} has {len(data)} data inputs ({', '.join(repr(v.name) for v in data)}); "
                                  "--input-shape fixes the size of a model with one")
        dims = data[0].type.tensor_type.shape.dim
        if len(dims) != len(input_shape):
            raise OnnxImportError(f"input {data[0].name!r} of {path.name} has {len(dims)} axes ({_dims_text(dims)}), "
                                  f"but --input-shape gives {len(input_shape)} ({','.join(map(str, input_shape))})")
        for i, (d, n) in enumerate(zip(dims, input_shape)):
            if _fixed(d) and d.dim_value != n and i > 0:
                raise OnnxImportError(f"input {data[0].name!r} of {path.name} has the fixed size {d.dim_value} at "
                                      f"axis {i}, but --input-shape gives {n}")
            d.Clear()
            d.dim_value = n
    for vi in graph.input:
        dims = vi.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if not _fixed(d):
                if i > 0:
                    raise OnnxImportError(f"input {vi.name!r} of {path.name} has the symbolic dimension "
                                          f"{d.dim_param or '?'!r} at axis {i} (shape {_dims_text(dims)}); give its size "
                                          f"with --input-shape (input_shape= in Python), e.g. "
                                          f"--input-shape {_example_shape(dims)}")
                d.Clear()
                d.dim_value = 1
    del graph.value_info[:]  # re-inferred with the fixed batch
    for vi in graph.output:
        vi.type.tensor_type.ClearField("shape")
    return model


def _example_shape(dims) -> str:
    """A concrete shape for a message: 1 for the batch, the model's sizes where fixed, 224 for
    symbolic spatial axes and 3 for a symbolic channel axis."""
    out = []
    for i, d in enumerate(dims):
        out.append(str(d.dim_value) if _fixed(d) and i > 0 else "1" if i == 0 else "3" if i == 1 else "224")
    return ",".join(out)


def _fold_constants(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """onnxruntime's basic offline optimisation (constant folding, Identity/Dropout elimination,
    Conv+BN/Mul/Add and Pad+Conv fusion), written to a temporary folder and read back."""
    with tempfile.TemporaryDirectory(prefix="convforge-onnx-") as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "folded.onnx"
        onnx.save_model(model, str(src), save_as_external_data=model.ByteSize() > 1 << 30,
                        location="in.weights")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(dst)
        so.log_severity_level = 3
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name", "folded.weights")
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1048576")
        try:
            ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
            return onnx.load(str(dst))
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
            raise OnnxImportError(f"onnxruntime cannot load {path.name} to fold its constants: "
                                  f"{_first_line(exc)}") from None


# ----- the importer -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tensor:
    """A data tensor: the layer that produces it ("" = the network input) and its ONNX shape."""

    producer: str
    shape: tuple[int, ...]

    @property
    def chw(self) -> tuple[int, int, int] | None:
        if len(self.shape) == 4:
            return tuple(self.shape[1:])
        if len(self.shape) == 2:
            return self.shape[1], 1, 1
        return None


class _Unsupported(Exception):
    """Raised by a handler: the node becomes an ``unsupported`` layer with this reason."""


def _per_channel(arr: np.ndarray, rank: int, c: int) -> np.ndarray | None:
    """A constant operand as one value per channel, if it broadcasts that way against a
    ``rank``-D tensor of ``c`` channels (NCHW: ``[C,1,1]``/``[1,C,1,1]``; 2-D: ``[N]``/``[1,N]``)."""
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 1:
        return np.full(c, float(a.ravel()[0]))
    shape = tuple(a.shape)
    ok = ((rank == 4 and shape in ((c, 1, 1), (1, c, 1, 1))) or (rank == 2 and shape in ((c,), (1, c))))
    return a.reshape(-1) if ok else None


class _Importer:
    def __init__(self, model: onnx.ModelProto, path: Path, missing_external: dict[str, str]):
        self.model, self.path, self.graph = model, path, model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.missing_external = missing_external
        g = self.graph
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            t = vi.type.tensor_type
            if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
                self.shapes[vi.name] = tuple(d.dim_value for d in t.shape.dim)
        for name, arr in self.consts.items():
            self.shapes[name] = tuple(arr.shape)
        self.consumers: dict[str, list] = {}
        for node in g.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.outputs = {o.name for o in g.output}
        #: Outputs of unsupported layers whose shape is not a batch-1 2-D or 4-D tensor.
        self.opaque: set[str] = set()
        # Graph inputs that are weights without data: external data not found, a parameter slot
        # of a layer, or read only as a second operand (a bias) or through Identity.
        inputs = [vi.name for vi in g.input if vi.name not in self.consts]
        params = set(missing_external) | {t for node in g.node if node.op_type in _PARAM_OPS for t in node.input[1:]}
        for name in inputs:
            uses = [(node, list(node.input).index(name)) for node in self.consumers.get(name, [])]
            if uses and all(i >= 1 or node.op_type == "Identity" for node, i in uses):
                params.add(name)
        images = [n for n in inputs if n not in params]
        if len(images) != 1:
            raise OnnxImportError(f"{path} has {len(images)} non-constant inputs; the importer takes one image input")
        self.params = {n for n in inputs if n in params}  # weights without data
        in_shape = self.shapes.get(images[0])
        if in_shape is None or len(in_shape) != 4 or in_shape[0] != 1:
            raise OnnxImportError(f"the input of {path} must be a batch-1 NCHW tensor, got shape {in_shape}")
        self.input_shape = tuple(in_shape[1:])
        self.tensors: dict[str, _Tensor] = {images[0]: _Tensor("", tuple(in_shape))}
        self.layers: list[Layer] = []
        self.weights: dict[str, dict] = {}
        self.used: set[str] = set()
        self.fused: set[int] = set()

    # ----- helpers --------------------------------------------------------------------------------
    def unique(self, name: str) -> str:
        base = _sanitize(name)
        out, k = base, 1
        while out in self.used:
            k += 1
            out = f"{base}_{k}"
        self.used.add(out)
        return out

    def data(self, name: str, node) -> _Tensor:
        if name not in self.tensors:
            raise OnnxImportError(f"node {node.name or node.op_type} reads {name!r}, which no supported layer produces")
        return self.tensors[name]

    def chw(self, t: _Tensor, node, ranks=(4,)) -> tuple[int, int, int]:
        if len(t.shape) not in ranks:
            raise _Unsupported(f"a {len(t.shape)}-D input")
        return t.chw

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def shape_of(self, name: str) -> tuple[int, ...] | None:
        return self.shapes.get(name)

    def sole_consumer(self, tensor: str, op: str):
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == op and tensor not in self.outputs:
            return users[0]
        return None

    def add(self, layer: Layer, out: str, out_shape: tuple[int, ...] | None = None, relu_node=None) -> Layer:
        if relu_node is not None:
            self.fused.add(id(relu_node))
            out = relu_node.output[0]
        self.layers.append(layer)
        if out_shape is None:
            out_shape = (1, layer.out_channels, layer.out_height, layer.out_width)
        self.tensors[out] = _Tensor(layer.name, tuple(out_shape))
        return layer

    def label(self, node) -> str:
        return node.name or f"{node.op_type}_{len(self.layers)}"

    def inputs_of(self, *tensors: _Tensor) -> tuple[str, ...]:
        return tuple(t.producer for t in tensors if t.producer)

    # ----- driving ---------------------------------------------------------------------------------
    def run(self) -> Network:
        for node in self.graph.node:
            if id(node) in self.fused:
                continue
            data_in = [t for t in node.input if t in self.tensors]
            if not data_in:
                self.constant_node(node)
                continue
            handler = getattr(self, f"op_{node.op_type}", None)
            blocked = next((t for t in data_in if t in self.opaque), None)
            try:
                if blocked is not None:
                    raise _Unsupported(f"it reads {blocked!r}, a tensor of a layer nothing runs")
                if handler is None:
                    raise _Unsupported("")
                handler(node)
            except _Unsupported as why:
                self.unsupported(node, str(why))
            except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError) as exc:
                # A node the importer has no rule for in this form: a layer nothing runs (the
                # build refuses it in one sentence), never a traceback.
                self.unsupported(node, f"the importer cannot follow it: {type(exc).__name__} {_first_line(exc)}")
        if not self.layers:
            raise OnnxImportError(f"{self.path} contains no layer the importer recognises")
        self.keep_to_output()
        if self.params or self.missing_external:
            self.warn_missing()
        try:
            return Network(_sanitize(self.path.stem), self.input_shape, tuple(self.layers),
                           f"ONNX model {self.path.name}", self.weights)
        except NetworkError as exc:
            raise OnnxImportError(f"the graph of {self.path} is inconsistent: {exc}") from None

    def keep_to_output(self) -> None:
        """The network ends at the graph's first output: layers it does not depend on (other
        outputs' heads) are dropped."""
        out = self.graph.output[0].name if self.graph.output else ""
        if out not in self.tensors or not self.tensors[out].producer:
            raise OnnxImportError(f"the output {out!r} of {self.path.name} is not computed by any layer")
        by_name = {l.name: l for l in self.layers}
        needed, todo = set(), [self.tensors[out].producer]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo.extend(by_name[name].inputs)
        self.layers = [l for l in self.layers if l.name in needed]

    def warn_missing(self) -> None:
        names = sorted(self.params)
        example = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
        if self.missing_external:
            files = sorted(set(self.missing_external.values()))
            why = f"their external data ({', '.join(files[:3])}) was not found next to {self.path.name}"
        else:
            why = "they are graph inputs without initializers"
        warnings.warn(f"{self.path.name} has no weights for {len(names)} parameter tensors ({example}) because {why}, "
                      "so the DSE plans it from shapes only and the driver cannot quantise or run it",
                      OnnxImportWarning, stacklevel=3)

    def constant_node(self, node) -> None:
        """A node reading no data tensor: evaluated when its inputs are constant (onnxruntime has
        folded these already; this covers what it leaves), else an alias of a missing weight."""
        ins = [t for t in node.input if t]
        if node.op_type == "Shape":
            raise OnnxImportError(f"node {node.name or 'Shape'} reads the shape of {node.input[0]!r}, which is unknown")
        if all(t in self.consts for t in ins):
            try:
                values = ReferenceEvaluator(node, opsets={"": self.opset}).run(None, {t: self.consts[t] for t in ins})
            except Exception as exc:  # noqa: BLE001 - the reference evaluator's own errors
                raise OnnxImportError(f"node {node.name or node.op_type} computes a constant the importer cannot "
                                      f"evaluate: {_first_line(exc)}") from None
            for name, value in zip(node.output, values):
                self.consts[name] = np.asarray(value)
                self.shapes[name] = tuple(np.shape(value))
            return
        # Reads a weight without data (Identity, Transpose, ... of a missing parameter).
        for name in node.output:
            self.params.add(name)

    def unsupported(self, node, why: str) -> None:
        data_in = [self.tensors[t] for t in node.input if t in self.tensors]
        c, h, w = data_in[0].chw or (1, 1, 1)
        out = node.output[0] if node.output else ""
        oshape = self.shapes.get(out)
        oc, oh, ow = (oshape[1:] if oshape and len(oshape) == 4 else
                      (oshape[1], 1, 1) if oshape and len(oshape) == 2 else (c, h, w))
        op = f"{node.op_type} ({why})" if why else node.op_type
        layer = Layer(self.unique(self.label(node)), "unsupported", max(1, c), max(1, oc), max(1, h), max(1, w),
                      max(1, oh), max(1, ow), 1, 1, 0, False, self.inputs_of(*data_in), op)
        known = bool(oshape) and len(oshape) in (2, 4)
        self.add(layer, out, oshape if known else None)
        for other in node.output[1:]:  # further outputs: only the fact that they exist
            if other:
                self.tensors[other] = self.tensors[out]
        if not known:   # its output is no NCHW tensor: what reads it cannot be followed either
            self.opaque.update(t for t in node.output if t)

    def alias(self, node, out_shape: tuple[int, ...]) -> None:
        src = self.data(node.input[0], node)
        self.tensors[node.output[0]] = _Tensor(src.producer, tuple(out_shape))

    def relu_after(self, tensor: str):
        return self.sole_consumer(tensor, "Relu")

    # ----- convolutions and fully-connected layers ---------------------------------------------------------
    def _pads(self, a: dict, h: int, w: int, k: int, s: int) -> list[int]:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for size in (h, w):
                total = max(0, (-(-size // s) - 1) * s + k - size)
                small = total // 2
                pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
            return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
        if auto == "VALID":
            return [0, 0, 0, 0]
        return list(a.get("pads", [0, 0, 0, 0]))

    def _pad_layer(self, node, src: _Tensor, pads6: tuple[int, ...], mode: str = "constant", value: float = 0.0,
                   name: str | None = None) -> _Tensor:
        """A pad layer (``pads6``: C, H, W at the beginning, then at the end) reading ``src``."""
        c, h, w = src.chw
        out = (c + pads6[0] + pads6[3], h + pads6[1] + pads6[4], w + pads6[2] + pads6[5])
        layer = Layer(self.unique(name or self.label(node) + "_pad"), "pad", c, out[0], h, w, out[1], out[2], 1, 1, 0, False,
                      self.inputs_of(src), "Pad",
                      (("mode", mode), ("pads", tuple(int(p) for p in pads6)), ("value", float(value))))
        self.layers.append(layer)
        return _Tensor(layer.name, (1,) + out)

    def op_Conv(self, node) -> None:
        src = self.data(node.input[0], node)
        c, h, w = self.chw(src, node)
        wshape = self.shape_of(node.input[1])
        if wshape is None or len(wshape) != 4:
            raise OnnxImportError(f"Conv {self.label(node)} has a weight of unknown shape")
        mo, cg, kh, kw = wshape
        a = _attrs(node)
        strides = list(a.get("strides", [1, 1]))
        group = int(a.get("group", 1))
        problems = []
        if kh != kw:
            problems.append(f"non-square kernel {kh}x{kw}")
        if len(set(strides)) > 1:
            problems.append(f"unequal strides {strides}")
        dil = list(a.get("dilations", [1, 1]))
        if len(set(dil)) > 1:
            problems.append(f"unequal dilations {dil}")
        if cg * group != c:
            problems.append(f"{cg}x{group} weight channels for a {c}-channel input")
        if problems:
            raise _Unsupported(", ".join(problems))
        d = int(dil[0])
        k, s = d * (kh - 1) + 1, strides[0]     # a dilated kernel as the dense kernel it spans (exact)
        pads = self._pads(a, h, w, k, s)
        if len(set(pads)) == 1 and pads[0] < k:
            p = pads[0]
        else:  # asymmetric, or as large as the kernel: a pad layer, then an unpadded convolution
            src = self._pad_layer(node, src, (0, pads[0], pads[1], 0, pads[2], pads[3]))
            c, h, w = src.chw
            p = 0
        ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
        wt = self.const(node.input[1])
        if wt is not None and d > 1:            # zeros between the taps
            dense = np.zeros((mo, cg, k, k), dtype=np.asarray(wt).dtype)
            dense[:, :, ::d, ::d] = wt
            wt = dense
        bias = self.const(node.input[2]) if len(node.input) > 2 else None
        has_weights = wt is not None and (len(node.input) < 3 or not node.input[2] or bias is not None)
        out = node.output[0]
        bn = self.sole_consumer(out, "BatchNormalization")
        if bn is not None:  # folded into the convolution (structurally, if its parameters are missing)
            stats = [self.const(t) for t in bn.input[1:5]]
            if has_weights and all(v is not None for v in stats):
                scale, beta, mean, var = (np.asarray(v, dtype=np.float64) for v in stats)
                f = scale / np.sqrt(var + _attrs(bn).get("epsilon", 1e-5))
                wt = np.asarray(wt, dtype=np.float64) * f[:, None, None, None]
                bias = beta + ((bias if bias is not None else 0) - mean) * f
            else:
                has_weights = False
            self.fused.add(id(bn))
            out = bn.output[0]
        relu = self.relu_after(out)
        name = self.unique(self.label(node))
        kind, attrs = ("conv", ()) if group == 1 else ("group_conv", (("groups", group),))
        layer = Layer(name, kind, c, mo, h, w, ho, wo, k, s, p, relu is not None, self.inputs_of(src), "Conv", attrs)
        if has_weights:
            self.weights[name] = {"weight": np.asarray(wt, dtype=np.float32),
                                  "bias": np.asarray(bias if bias is not None else np.zeros(mo), dtype=np.float32)}
        self.add(layer, out, relu_node=relu)

    def op_Gemm(self, node) -> None:
        src = self.data(node.input[0], node)
        c, h, w = self.chw(src, node, ranks=(2,))
        op = node.op_type
        a = _attrs(node) if op == "Gemm" else {}
        if a.get("transA", 0):
            raise _Unsupported("transA")
        wshape = self.shape_of(node.input[1])
        if wshape is None or len(wshape) != 2:
            raise OnnxImportError(f"{op} {self.label(node)} needs a 2-D weight of known shape")
        trans_b = a.get("transB", 0)
        n_in, n_out = (wshape[1], wshape[0]) if trans_b else (wshape[0], wshape[1])
        if n_in != c * h * w:
            raise OnnxImportError(f"{op} {self.label(node)} takes {n_in} features but its input has {c * h * w}")
        wt = self.const(node.input[1])
        bias = None
        has_weights = wt is not None
        if op == "Gemm" and len(node.input) > 2 and node.input[2]:
            bias = self.const(node.input[2])
            has_weights &= bias is not None
        out = node.output[0]
        if op == "MatMul":
            add = self.sole_consumer(out, "Add")
            other = [t for t in add.input if t != out] if add is not None else []
            if other and other[0] not in self.tensors:
                bias = self.const(other[0])
                has_weights &= bias is not None
                self.fused.add(id(add))
                out = add.output[0]
        relu = self.relu_after(out)
        name = self.unique(self.label(node))
        layer = Layer(name, "fc", n_in, n_out, 1, 1, 1, 1, 1, 1, 0, relu is not None, self.inputs_of(src), op)
        if has_weights:
            wmat = np.asarray(wt, dtype=np.float64) * float(a.get("alpha", 1.0))
            wmat = wmat if trans_b else wmat.T  # stored as [out, in]
            b = np.zeros(n_out) if bias is None else np.broadcast_to(
                np.asarray(bias, dtype=np.float64).reshape(-1) * float(a.get("beta", 1.0)), (n_out,))
            self.weights[name] = {"weight": np.asarray(wmat, dtype=np.float32), "bias": np.asarray(b, dtype=np.float32)}
        self.add(layer, out, (1, n_out), relu_node=relu)

    op_MatMul = op_Gemm

    def _affine(self, node, src: _Tensor, scale, shift, op: str) -> None:
        """A per-channel ``y = scale * x + shift`` layer (stand-alone BatchNormalization, or an
        arithmetic operator with a constant); ``scale``/``shift`` None when unknown (missing weights)."""
        c, h, w = self.chw(src, node, ranks=(2, 4))
        out = node.output[0]
        relu = self.relu_after(out)
        name = self.unique(self.label(node))
        layer = Layer(name, "batchnorm", c, c, h, w, h, w, 1, 1, 0, relu is not None, self.inputs_of(src), op)
        if scale is not None and shift is not None:
            self.weights[name] = {"weight": np.asarray(scale, dtype=np.float32), "bias": np.asarray(shift, dtype=np.float32)}
        self.add(layer, out, src.shape, relu_node=relu)

    def op_BatchNormalization(self, node) -> None:
        src = self.data(node.input[0], node)
        stats = [self.const(t) for t in node.input[1:5]]
        scale = shift = None
        if all(v is not None for v in stats):
            g, beta, mean, var = (np.asarray(v, dtype=np.float64) for v in stats)
            scale = g / np.sqrt(var + _attrs(node).get("epsilon", 1e-5))
            shift = beta - mean * scale
        self._affine(node, src, scale, shift, "BatchNormalization")

    def _arith(self, node) -> None:
        op = node.op_type
        data = [t for t in node.input if t in self.tensors]
        if len(data) == 2 and op == "Add":
            return self.op_Sum(node)
        if len(data) != 1 or len(node.input) != 2:
            raise _Unsupported("two tensors" if len(data) == 2 else "")
        src = self.data(data[0], node)
        k_name = node.input[1] if node.input[0] == data[0] else node.input[0]
        x_first = node.input[0] == data[0]
        c = (src.chw or (0,))[0]
        if k_name in self.params:
            return self._affine(node, src, None, None, op)
        k = _per_channel(self.consts[k_name], len(src.shape), c) if k_name in self.consts else None
        if k is None:
            raise _Unsupported("a constant that is not per channel")
        one, zero = np.ones(c), np.zeros(c)
        if op == "Add":
            scale, shift = one, k
        elif op == "Sub":
            scale, shift = (one, -k) if x_first else (-one, k)
        elif op == "Mul":
            scale, shift = k, zero
        elif x_first and np.all(k != 0):  # Div by a constant
            scale, shift = 1.0 / k, zero
        else:
            raise _Unsupported("division by a tensor or by zero")
        self._affine(node, src, scale, shift, op)

    op_Add = op_Sub = op_Mul = op_Div = _arith

    def op_Sum(self, node) -> None:
        srcs = [self.data(t, node) for t in node.input]
        if len(srcs) == 1:
            return self.alias(node, srcs[0].shape)
        shapes = {t.chw for t in srcs}
        if len(shapes) != 1 or {len(t.shape) for t in srcs} != {len(srcs[0].shape)}:
            raise OnnxImportError(f"{node.op_type} {self.label(node)} adds tensors of shapes "
                                  f"{' and '.join(str(t.chw) for t in srcs)}")
        c, h, w = srcs[0].chw
        out = node.output[0]
        relu = self.relu_after(out)
        layer = Layer(self.unique(self.label(node)), "add", c, c, h, w, h, w, 1, 1, 0, relu is not None,
                      self.inputs_of(*srcs), node.op_type)
        self.add(layer, out, srcs[0].shape, relu_node=relu)

    # ----- element-wise and normalisation -----------------------------------------------------------
    def _simple(self, node, kind: str, attrs: tuple = (), ranks=(2, 4)) -> None:
        src = self.data(node.input[0], node)
        c, h, w = self.chw(src, node, ranks)
        layer = Layer(self.unique(self.label(node)), kind, c, c, h, w, h, w, 1, 1, 0, False, self.inputs_of(src),
                      node.op_type, attrs)
        self.add(layer, node.output[0], src.shape)

    def op_Relu(self, node) -> None:
        self._simple(node, "relu")

    def op_LeakyRelu(self, node) -> None:
        self._simple(node, "leaky_relu", (("alpha", float(_attrs(node).get("alpha", 0.01))),))

    def op_Clip(self, node) -> None:
        a = _attrs(node)
        lo, hi = a.get("min"), a.get("max")
        for i, which in ((1, "min"), (2, "max")):
            if len(node.input) > i and node.input[i]:
                v = self.const(node.input[i])
                if v is None:
                    raise _Unsupported(f"a {which} bound that is not constant")
                lo, hi = (float(v), hi) if i == 1 else (lo, float(v))
        if lo is not None and hi is not None and lo > hi:
            raise _Unsupported(f"min {lo} above max {hi}")
        if lo == 0.0 and hi is None:
            return self._simple(node, "relu")
        self._simple(node, "clip", (("max", None if hi is None else float(hi)), ("min", None if lo is None else float(lo))))

    def op_LRN(self, node) -> None:
        a = _attrs(node)
        self._simple(node, "lrn", (("alpha", float(a.get("alpha", 1e-4))), ("beta", float(a.get("beta", 0.75))),
                                   ("bias", float(a.get("bias", 1.0))), ("size", int(a["size"]))), ranks=(4,))

    def op_Softmax(self, node) -> None:
        src = self.data(node.input[0], node)
        rank = len(src.shape)
        axis = int(_attrs(node).get("axis", 1 if self.opset < 13 else -1))
        axis = axis + rank if axis < 0 else axis
        h, w = (src.chw or (0, 0, 0))[1:]
        # Over the channels: a 2-D [1, N] tensor's features, a feature map's channel axis (opset
        # < 13 flattens axis 1 onwards, which is the channels only for a 1x1 map).
        if not (axis == 1 and (rank == 2 or (rank == 4 and (self.opset >= 13 or h * w == 1)))):
            raise _Unsupported(f"axis {axis} of a {rank}-D tensor (softmax over the channels only)")
        self._simple(node, "softmax")

    # ----- pooling -----------------------------------------------------------------------------------
    def _pool(self, node, kind: str) -> None:
        src = self.data(node.input[0], node)
        c, h, w = self.chw(src, node)
        a = _attrs(node)
        k = list(a.get("kernel_shape", [1, 1]))
        strides = list(a.get("strides", [1, 1]))
        if k[0] != k[1] or len(set(strides)) > 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
            raise _Unsupported(f"window {k}, strides {strides}")
        pads = self._pads(a, h, w, k[0], strides[0])
        p = pads[0]
        if pads[1] != p or pads[2] < p or pads[3] < p:
            raise _Unsupported(f"padding {pads} (the bottom/right may only exceed the top/left)")
        out = node.output[0]
        oshape = self.shapes.get(out)
        ho, wo = (oshape[2], oshape[3]) if oshape and len(oshape) == 4 else (
            conv_output_size(h + pads[2] - p, k[0], strides[0], p), conv_output_size(w + pads[3] - p, k[0], strides[0], p))
        attrs = (("count_include_pad", 1),) if kind == "avgpool" and a.get("count_include_pad", 0) else ()
        layer = Layer(self.unique(self.label(node)), kind, c, c, h, w, ho, wo, k[0], strides[0], p, False,
                      self.inputs_of(src), node.op_type, attrs)
        self.add(layer, out)

    def op_MaxPool(self, node) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise _Unsupported("the indices output")
        self._pool(node, "maxpool")

    def op_AveragePool(self, node) -> None:
        self._pool(node, "avgpool")

    def _global(self, node, kind: str, keep: bool = True) -> None:
        src = self.data(node.input[0], node)
        c, h, w = self.chw(src, node)
        layer = Layer(self.unique(self.label(node)), kind, c, c, h, w, 1, 1, max(h, w), 1, 0, False,
                      self.inputs_of(src), node.op_type)
        self.add(layer, node.output[0], (1, c, 1, 1) if keep else (1, c))

    def op_GlobalAveragePool(self, node) -> None:
        self._global(node, "global_avgpool")

    def op_GlobalMaxPool(self, node) -> None:
        self._global(node, "global_maxpool")

    def _reduce(self, node, kind: str) -> None:
        src = self.data(node.input[0], node)
        a = _attrs(node)
        axes = a.get("axes")
        if len(node.input) > 1 and node.input[1]:
            axes = self.const(node.input[1])
            if axes is None:
                raise _Unsupported("axes that are not constant")
        rank = len(src.shape)
        axes = sorted(int(x) + rank if int(x) < 0 else int(x) for x in (axes if axes is not None else range(rank)))
        if rank != 4 or axes != [2, 3]:
            raise _Unsupported(f"axes {axes} of a {rank}-D tensor (only the spatial axes 2, 3)")
        self._global(node, kind, keep=bool(a.get("keepdims", 1)))

    def op_ReduceMean(self, node) -> None:
        self._reduce(node, "global_avgpool")

    def op_ReduceMax(self, node) -> None:
        self._reduce(node, "global_maxpool")

    # ----- data movement -------------------------------------------------------------------------------
    def op_Concat(self, node) -> None:
        srcs = [self.tensors.get(t) for t in node.input]
        if any(s is None for s in srcs):
            raise _Unsupported("a constant operand")
        if len(srcs) == 1:
            return self.alias(node, srcs[0].shape)
        rank = len(srcs[0].shape)
        axis = int(_attrs(node).get("axis", 1))
        axis = axis + rank if axis < 0 else axis
        if axis != 1 or rank not in (2, 4) or any(len(s.shape) != rank for s in srcs):
            raise _Unsupported(f"axis {axis} of {rank}-D tensors (only the channels)")
        shapes = [s.chw for s in srcs]
        if len({sh[1:] for sh in shapes}) != 1:
            raise OnnxImportError(f"Concat {self.label(node)} joins tensors of shapes {shapes}")
        total = sum(sh[0] for sh in shapes)
        h, w = shapes[0][1:]
        layer = Layer(self.unique(self.label(node)), "concat", total, total, h, w, h, w, 1, 1, 0, False,
                      self.inputs_of(*srcs), "Concat")
        self.add(layer, node.output[0], (1, total, h, w) if rank == 4 else (1, total))

    def _out_shape(self, node) -> tuple[int, ...]:
        shape = self.shapes.get(node.output[0])
        if shape is None and node.op_type == "Reshape" and self.const(node.input[1]) is not None:
            src = self.tensors[node.input[0]].shape
            want = [int(v) for v in self.const(node.input[1])]
            want = [src[i] if v == 0 and not _attrs(node).get("allowzero", 0) else v for i, v in enumerate(want)]
            if -1 in want:
                rest = int(np.prod([v for v in want if v != -1]))
                want[want.index(-1)] = int(np.prod(src)) // max(1, rest)
            shape = tuple(want)
        if shape is None:
            raise OnnxImportError(f"the output shape of {node.op_type} {self.label(node)} cannot be inferred")
        return tuple(shape)

    def _shape_op(self, node) -> None:
        src = self.data(node.input[0], node)
        shape = self._out_shape(node)
        if len(shape) == 5 and node.op_type == "Reshape" and self._channel_shuffle(node, src, shape):
            return
        if shape[0] != 1 or len(shape) not in (2, 4):
            raise _Unsupported(f"its output has the {len(shape)}-D shape {'x'.join(map(str, shape))}; the importer "
                               "follows batch-1 2-D and 4-D tensors")
        new = _Tensor(src.producer, shape)
        users = self.consumers.get(node.output[0], [])
        flat_for_fc = len(shape) == 2 and users and all(u.op_type in ("Gemm", "MatMul") for u in users)
        if new.chw == src.chw or flat_for_fc:
            self.tensors[node.output[0]] = new  # the data is already in this order
            return
        c, h, w = src.chw
        oc, oh, ow = new.chw
        layer = Layer(self.unique(self.label(node)), "reshape", c, oc, h, w, oh, ow, 1, 1, 0, False,
                      self.inputs_of(src), node.op_type)
        self.add(layer, node.output[0], shape)

    op_Flatten = op_Reshape = op_Squeeze = op_Unsqueeze = _shape_op

    def _channel_shuffle(self, node, src: _Tensor, shape5: tuple[int, ...]) -> bool:
        """``Reshape(1, g, C/g, H, W) -> Transpose(0, 2, 1, 3, 4) -> Reshape(1, C, H, W)``."""
        if src.chw is None or len(src.shape) != 4:
            return False
        c, h, w = src.chw
        tr = self.sole_consumer(node.output[0], "Transpose")
        back = self.sole_consumer(tr.output[0], "Reshape") if tr is not None else None
        if back is None or list(_attrs(tr).get("perm", [])) != [0, 2, 1, 3, 4]:
            return False
        g = shape5[1]
        if tuple(shape5) != (1, g, c // g, h, w) or g * (c // g) != c or self._out_shape(back) != (1, c, h, w):
            return False
        self.fused.update((id(tr), id(back)))
        layer = Layer(self.unique(self.label(node).rsplit("/", 1)[0] + "/channel_shuffle"), "channel_shuffle",
                      c, c, h, w, h, w, 1, 1, 0, False, self.inputs_of(src), "Reshape-Transpose-Reshape",
                      (("groups", g),))
        self.add(layer, back.output[0], (1, c, h, w))
        return True

    def op_Transpose(self, node) -> None:
        src = self.data(node.input[0], node)
        rank = len(src.shape)
        perm = list(_attrs(node).get("perm", reversed(range(rank))))
        if rank != 4 or len(perm) != 4 or perm[0] != 0:
            raise _Unsupported(f"it permutes a {rank}-D tensor by {perm}; the importer follows 4-D permutations "
                               "that keep the batch axis")
        chw_perm = tuple(p - 1 for p in perm[1:])
        shape = (1,) + tuple(src.chw[i] for i in chw_perm)
        if chw_perm == (0, 1, 2):
            return self.alias(node, src.shape)
        c, h, w = src.chw
        layer = Layer(self.unique(self.label(node)), "transpose", c, shape[1], h, w, shape[2], shape[3], 1, 1, 0, False,
                      self.inputs_of(src), "Transpose", (("perm", chw_perm),))
        self.add(layer, node.output[0], shape)

    def op_Pad(self, node) -> None:
        src = self.data(node.input[0], node)
        self.chw(src, node)
        a = _attrs(node)
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode not in ("constant", "reflect", "edge"):
            raise _Unsupported(f"mode {mode}")
        pads = a.get("pads")
        value = float(a.get("value", 0.0))
        if len(node.input) > 1 and node.input[1]:
            pads = self.const(node.input[1])
            if pads is None:
                raise _Unsupported("pads that are not constant")
        if len(node.input) > 2 and node.input[2]:
            v = self.const(node.input[2])
            if v is None:
                raise _Unsupported("a pad value that is not constant")
            value = float(np.asarray(v).ravel()[0]) if np.size(v) else 0.0
        pads = [int(p) for p in pads]
        if len(node.input) > 3 and node.input[3]:  # opset 18: pads for the listed axes only
            axes = self.const(node.input[3])
            if axes is None:
                raise _Unsupported("axes that are not constant")
            full = [0] * 8
            for i, ax in enumerate(int(x) % 4 for x in axes):
                full[ax], full[ax + 4] = pads[i], pads[i + len(axes)]
            pads = full
        if len(pads) != 8 or pads[0] or pads[4] or min(pads) < 0:
            raise _Unsupported(f"pads {pads} (no batch or negative pads)")
        self.tensors[node.output[0]] = self._pad_layer(node, src, tuple(pads[1:4] + pads[5:8]), mode, value,
                                                       self.label(node))

    def _slice_layer(self, node, src: _Tensor, out: str, start: int, end: int) -> None:
        c, h, w = src.chw
        layer = Layer(self.unique(f"{self.label(node)}_{out}" if len(node.output) > 1 else self.label(node)), "slice",
                      c, end - start, h, w, h, w, 1, 1, 0, False, self.inputs_of(src), node.op_type,
                      (("end", end), ("start", start)))
        self.add(layer, out, (1, end - start, h, w) if len(src.shape) == 4 else (1, end - start))

    def op_Split(self, node) -> None:
        src = self.data(node.input[0], node)
        c, _, _ = self.chw(src, node, ranks=(2, 4))
        a = _attrs(node)
        axis = int(a.get("axis", 0))
        axis = axis + len(src.shape) if axis < 0 else axis
        if axis != 1:
            raise _Unsupported(f"axis {axis} (only the channels)")
        sizes = a.get("split")
        if len(node.input) > 1 and node.input[1]:
            sizes = self.const(node.input[1])
        n = len(node.output)
        if sizes is None:
            sizes = [-(-c // n)] * (n - 1) + [c - (n - 1) * -(-c // n)]
        start = 0
        for out, size in zip(node.output, [int(s) for s in sizes]):
            self._slice_layer(node, src, out, start, start + size)
            start += size

    def op_Slice(self, node) -> None:
        src = self.data(node.input[0], node)
        c, _, _ = self.chw(src, node, ranks=(2, 4))
        if self.opset < 10:
            a = _attrs(node)
            starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
        else:
            given = [len(node.input) > i and bool(node.input[i]) for i in range(5)]
            starts, ends, axes, steps = (self.const(node.input[i]) if given[i] else None for i in range(1, 5))
            if any(given[i] and v is None for i, v in zip(range(1, 5), (starts, ends, axes, steps))):
                raise _Unsupported("starts/ends/axes/steps that are not constant")
        rank = len(src.shape)
        axes = [int(x) % rank for x in (axes if axes is not None else range(len(starts)))]
        steps = [1] * len(axes) if steps is None else [int(s) for s in steps]
        if axes != [1] or steps != [1]:
            raise _Unsupported(f"axes {axes} steps {steps} (the channels, step 1)")
        start, end = int(starts[0]), int(ends[0])
        start = max(0, min(c, start + c if start < 0 else start))
        end = max(0, min(c, end + c if end < 0 else end))
        if end <= start:
            raise _Unsupported("an empty slice")
        self._slice_layer(node, src, node.output[0], start, end)

    def op_Identity(self, node) -> None:
        self.alias(node, self.data(node.input[0], node).shape)

    def op_Dropout(self, node) -> None:
        self.op_Identity(node)

    def op_Cast(self, node) -> None:
        if _attrs(node).get("to") not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            raise _Unsupported("a cast to a non-float type")
        self.op_Identity(node)


def check_input_shape(dims) -> tuple[int, ...]:
    """``dims`` as a tuple of ints, a batch of 1 followed by positive sizes; OnnxImportError with
    one sentence otherwise."""
    dims = tuple(int(n) for n in dims)
    if len(dims) < 2 or dims[0] != 1 or any(d < 1 for d in dims):
        raise OnnxImportError(f"--input-shape is a batch of 1 followed by positive sizes, e.g. 1,3,224,224; got "
                              f"{','.join(map(str, dims))}")
    return dims


def load_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None) -> Network:
    """Read ``path`` and return the network (see the module docstring).

    ``input_shape`` (``--input-shape`` on the command lines): the size of the model's one data
    input, e.g. ``(1, 3, 224, 224)``, for a model whose height, width (or channels) are symbolic;
    it must agree with the sizes the model fixes, and the batch is 1. Raises
    :class:`OnnxImportError` (one sentence) when the file cannot be read or followed; warns
    with :class:`OnnxImportWarning` when weights are missing.
    """
    path = Path(path)
    if input_shape is not None:
        input_shape = check_input_shape(input_shape)
    if path.is_dir():
        raise OnnxImportError(f"{path} is a folder, not an ONNX file")
    if not path.is_file():
        raise OnnxImportError(f"ONNX file {path} does not exist")
    if path.stat().st_size == 0:
        raise OnnxImportError(f"ONNX file {path} is empty")
    model = _read(path)
    if not model.graph.node and not model.ir_version:
        raise OnnxImportError(f"{path} holds no ONNX model (no graph and no IR version)")
    missing = _load_external_weights(model, path)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError and friends
        raise OnnxImportError(f"cannot parse ONNX file {path}: {_first_line(exc)}") from None
    model = _normalise(model, path, input_shape, missing)
    model = _fold_constants(model, path)
    try:
        model = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - InferenceError
        raise OnnxImportError(f"the shapes of {path.name} cannot be inferred: {_first_line(exc)}") from None
    return _Importer(model, path, missing).run()
