"""The network description the DSE plans: layers with exact shapes (``Layer``, ``Network``,
``NetworkBuilder``).

A :class:`Network` is a list of :class:`Layer` in execution order. Every layer records its input
shape (``in_channels x height x width``), its output shape, the layer parameters the accelerator's
descriptor needs (kernel, stride, padding, ReLU) and the names of the layers it reads (``inputs``;
empty means the network input). :meth:`Network.validate` checks that every shape follows from its
producers, so a zoo entry or an imported ONNX graph with an inconsistent shape is refused.

Operation counts follow the convention of the FPGA literature (Lu/Liang et al., the DPU reports):
``ops = 2 * MACs`` of the convolution (dense, grouped and depthwise) and fully-connected layers;
pooling, additions, normalisations, activations and data movement count 0 "ops" for GOP/s but do
take time (``Layer.element_ops``; the DSE models them where they run).
The built-in networks are in dse/networks.py, the ONNX importer in dse/onnx_import.py.

Layers carry the ONNX attributes their computation needs in ``Layer.attrs`` (a sorted tuple of
``(name, value)`` pairs, so layers stay hashable): ``groups`` of a grouped convolution, ``min``/
``max`` of a clip, ``size``/``alpha``/``beta``/``bias`` of LRN, ``pads``/``mode``/``value`` of a
pad, ``perm`` of a transpose, ``start``/``end`` of a channel slice, ``alpha`` of a leaky ReLU,
``count_include_pad`` of an average pooling. Every kind but ``unsupported`` has a numpy
implementation in the driver (drivers/quantize.py, drivers/network.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = [
    "Layer",
    "Network",
    "NetworkBuilder",
    "NetworkError",
    "UnknownNetworkError",
    "LAYER_KINDS",
    "COMPUTE_KINDS",
    "SHAPE_KEEPING_KINDS",
    "MULTI_INPUT_KINDS",
    "conv_output_size",
]

#: Layer kinds. ``conv``/``group_conv``/``fc`` carry MACs; the others are element-wise,
#: reductions or data movement. ``unsupported`` is an imported operator nothing can run: the
#: build refuses a network that has one (dse/build.py).
LAYER_KINDS = ("conv", "group_conv", "fc", "maxpool", "avgpool", "global_avgpool", "global_maxpool", "add",
               "concat", "relu", "leaky_relu", "clip", "batchnorm", "lrn", "softmax", "pad", "transpose",
               "channel_shuffle", "reshape", "slice", "unsupported")
COMPUTE_KINDS = ("conv", "group_conv", "fc")
#: Kinds whose output has the input's shape.
SHAPE_KEEPING_KINDS = ("relu", "leaky_relu", "clip", "batchnorm", "lrn", "softmax", "channel_shuffle")
#: Kinds with several inputs.
MULTI_INPUT_KINDS = ("add", "concat", "unsupported")


class NetworkError(ValueError):
    """A network description is inconsistent (shapes, names, kinds)."""


class UnknownNetworkError(NetworkError):
    """``get_network`` was given a name that is neither a zoo entry nor an ONNX file."""


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution/pooling window along one axis (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Layer:
    """One layer with its exact shapes.

    ``height``/``width`` are the *input* feature-map sizes; ``out_height``/``out_width`` the
    output sizes. For ``fc`` the input is flattened: ``in_channels`` is the flattened length
    (C*H*W of the producer) and all spatial sizes are 1. For ``concat`` ``in_channels`` is the
    sum of its inputs' channels (= ``out_channels``). ``relu`` means a ReLU is fused into the
    layer's output (the requantiser's clamp at 0). ``op_type`` keeps the ONNX operator of an
    imported layer (e.g. ``"Softmax"``). ``attrs``: see the module docstring.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    height: int
    width: int
    out_height: int
    out_width: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    relu: bool = False
    inputs: tuple[str, ...] = ()
    op_type: str = ""
    attrs: tuple = ()

    def attr(self, name: str, default=None):
        """The value of attribute ``name`` (``default`` when the layer has none)."""
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @property
    def groups(self) -> int:
        """Convolution groups (1 for a dense convolution)."""
        return int(self.attr("groups", 1))

    # ----- counts ----------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for layers without weights)."""
        if self.kind in ("conv", "group_conv"):
            return (self.out_channels * self.out_height * self.out_width * (self.in_channels // self.groups)
                    * self.kernel ** 2)
        if self.kind == "fc":
            return self.out_channels * self.in_channels
        return 0

    @property
    def ops(self) -> int:
        """Operations in the GOP/s sense: 2 per MAC (convolutions and FC only)."""
        return 2 * self.macs

    @property
    def weight_count(self) -> int:
        if self.kind in ("conv", "group_conv"):
            return self.out_channels * (self.in_channels // self.groups) * self.kernel ** 2
        if self.kind == "fc":
            return self.out_channels * self.in_channels
        if self.kind == "batchnorm":
            return 2 * self.out_channels
        return 0

    @property
    def input_elements(self) -> int:
        """Elements read from every input (an ``add`` reads ``len(inputs)`` of these; a
        ``concat`` this many in all)."""
        return self.in_channels * self.height * self.width

    @property
    def read_elements(self) -> int:
        """Elements read from all inputs together."""
        if self.kind == "concat":
            return self.input_elements
        return self.input_elements * max(1, len(self.inputs))

    @property
    def output_elements(self) -> int:
        return self.out_channels * self.out_height * self.out_width

    @property
    def element_ops(self) -> int:
        """Scalar operations of a layer without MACs (comparisons, additions, copies)."""
        if self.kind in ("maxpool", "avgpool"):
            return self.output_elements * self.kernel ** 2
        if self.kind in ("global_avgpool", "global_maxpool"):
            return self.input_elements
        if self.kind == "add":
            return self.output_elements * max(1, len(self.inputs) - 1)
        if self.kind == "batchnorm":
            return 2 * self.output_elements
        if self.kind == "lrn":  # a window sum of squares, a power and a division per element
            return self.output_elements * (int(self.attr("size", 5)) + 4)
        if self.kind == "softmax":  # exp, sum, division
            return 4 * self.output_elements
        return self.output_elements

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["inputs"] = list(self.inputs)
        d["attrs"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.attrs}
        d["macs"] = self.macs
        d["ops"] = self.ops
        return d


@dataclass
class Network:
    """A named list of layers in execution order (see the module docstring).

    ``weights`` (optional, excluded from comparisons) maps a layer name to
    ``{"weight": ndarray, "bias": ndarray}`` for networks imported with their parameters.
    """

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]
    source: str = ""
    weights: dict | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        self.layers = tuple(self.layers)
        self.input_shape = tuple(self.input_shape)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`NetworkError` naming the first inconsistent layer."""
        if not self.layers:
            raise NetworkError(f"network {self.name!r} has no layers")
        shapes = {"": self.input_shape}
        for layer in self.layers:
            where = f"layer {layer.name!r} of {self.name}"
            if not layer.name or layer.name in shapes:
                raise NetworkError(f"{where}: layer names must be unique and non-empty")
            if layer.kind not in LAYER_KINDS:
                raise NetworkError(f"{where}: unknown kind {layer.kind!r}")
            for v in ("in_channels", "out_channels", "height", "width", "out_height", "out_width", "kernel", "stride"):
                if getattr(layer, v) < 1:
                    raise NetworkError(f"{where}: {v} must be >= 1, got {getattr(layer, v)}")
            if layer.padding < 0:
                raise NetworkError(f"{where}: padding must be >= 0")
            producers = layer.inputs or ("",)
            for p in producers:
                if p not in shapes:
                    raise NetworkError(f"{where}: input {p!r} is not an earlier layer")
            c, h, w = shapes[producers[0]]
            kind = layer.kind
            if kind not in MULTI_INPUT_KINDS and len(producers) > 1:
                raise NetworkError(f"{where}: a {kind} layer reads one input, got {len(producers)}")
            if kind == "fc":
                if layer.in_channels != c * h * w:
                    raise NetworkError(f"{where}: fc input length {layer.in_channels} != {c}*{h}*{w}")
                if (layer.height, layer.width, layer.out_height, layer.out_width) != (1, 1, 1, 1):
                    raise NetworkError(f"{where}: fc layers have 1x1 spatial size")
            elif kind == "concat":
                if any(shapes[p][1:] != (h, w) for p in producers):
                    raise NetworkError(f"{where}: concatenated tensors differ in height or width "
                                       f"({', '.join('x'.join(map(str, shapes[p])) for p in producers)})")
                total = sum(shapes[p][0] for p in producers)
                if (layer.in_channels, layer.out_channels, layer.height, layer.width) != (total, total, h, w):
                    raise NetworkError(f"{where}: a concatenation of {total}x{h}x{w} must say so in its shapes")
            elif kind != "unsupported":
                if (layer.in_channels, layer.height, layer.width) != (c, h, w):
                    raise NetworkError(
                        f"{where}: input shape {layer.in_channels}x{layer.height}x{layer.width} does not "
                        f"match its producer's output {c}x{h}x{w}")
            if kind == "add":
                for p in producers[1:]:
                    if shapes[p] != (c, h, w):
                        raise NetworkError(f"{where}: added tensors have different shapes {shapes[p]} and {(c, h, w)}")
            if kind in ("conv", "group_conv", "maxpool", "avgpool"):
                ho = conv_output_size(layer.height, layer.kernel, layer.stride, layer.padding)
                wo = conv_output_size(layer.width, layer.kernel, layer.stride, layer.padding)
                if kind != "maxpool" and kind != "avgpool" and (ho, wo) != (layer.out_height, layer.out_width):
                    raise NetworkError(f"{where}: output {layer.out_height}x{layer.out_width} != computed {ho}x{wo}")
                if kind in ("conv", "group_conv") and layer.padding >= layer.kernel:
                    raise NetworkError(f"{where}: padding {layer.padding} must be smaller than the kernel")
            if kind == "group_conv":
                g = layer.groups
                if g < 2 or layer.in_channels % g or layer.out_channels % g:
                    raise NetworkError(f"{where}: {g} groups must be at least 2 and divide both {layer.in_channels} "
                                       f"input and {layer.out_channels} output channels")
            elif kind == "conv" and layer.groups != 1:
                raise NetworkError(f"{where}: a grouped convolution is of kind group_conv")
            if kind in ("maxpool", "avgpool", "add", "global_avgpool", "global_maxpool") + SHAPE_KEEPING_KINDS \
                    and layer.out_channels != layer.in_channels:
                raise NetworkError(f"{where}: {kind} keeps the channel count")
            if kind in ("add",) + SHAPE_KEEPING_KINDS and (layer.out_height, layer.out_width) != (layer.height, layer.width):
                raise NetworkError(f"{where}: {kind} keeps the spatial size")
            if kind in ("global_avgpool", "global_maxpool") and (layer.out_height, layer.out_width) != (1, 1):
                raise NetworkError(f"{where}: global pooling outputs 1x1")
            if kind == "channel_shuffle" and (layer.groups < 2 or layer.in_channels % layer.groups):
                raise NetworkError(f"{where}: a channel shuffle needs 2 or more groups that divide the channels")
            if kind == "reshape" and layer.output_elements != layer.input_elements:
                raise NetworkError(f"{where}: a reshape keeps the element count")
            if kind == "transpose":
                perm = tuple(layer.attr("perm", ()))
                if sorted(perm) != [0, 1, 2]:
                    raise NetworkError(f"{where}: a transpose needs a permutation of (0, 1, 2), got {perm}")
                if tuple((c, h, w)[i] for i in perm) != (layer.out_channels, layer.out_height, layer.out_width):
                    raise NetworkError(f"{where}: the transposed shape does not follow from perm {perm}")
            if kind == "slice":
                start, end = int(layer.attr("start", -1)), int(layer.attr("end", -1))
                if not 0 <= start < end <= c or layer.out_channels != end - start \
                        or (layer.out_height, layer.out_width) != (h, w):
                    raise NetworkError(f"{where}: a channel slice [{start}, {end}) of {c} channels is out of range")
            if kind == "pad":
                pads = tuple(int(v) for v in layer.attr("pads", ()))
                if len(pads) != 6 or min(pads) < 0:
                    raise NetworkError(f"{where}: a pad needs 6 non-negative pads (C, H, W begin, then end), got {pads}")
                want = (c + pads[0] + pads[3], h + pads[1] + pads[4], w + pads[2] + pads[5])
                if want != (layer.out_channels, layer.out_height, layer.out_width):
                    raise NetworkError(f"{where}: padded output must be {want}")
            shapes[layer.name] = (layer.out_channels, layer.out_height, layer.out_width)

    # ----- queries -------------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"network {self.name} has no layer {name!r}")

    @property
    def conv_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.kind == "conv")

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        last = self.layers[-1]
        return last.out_channels, last.out_height, last.out_width

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "source": self.source,
            "macs": self.macs,
            "ops": self.ops,
            "layers": [layer.to_dict() for layer in self.layers],
        }


class NetworkBuilder:
    """Builds a network layer by layer, tracking the current tensor's shape.

    Every method appends one layer reading ``inputs`` (default: the previous layer) and returns
    its name, so branches (ResNet shortcuts) are written by passing names explicitly.
    """

    def __init__(self, name: str, input_shape: tuple[int, int, int], source: str = ""):
        self.name, self.input_shape, self.source = name, tuple(input_shape), source
        self.layers: list[Layer] = []
        self._shapes: dict[str, tuple[int, int, int]] = {"": self.input_shape}
        self._last = ""

    def _shape(self, src: str | None) -> tuple[str, tuple[int, int, int]]:
        src = self._last if src is None else src
        return src, self._shapes[src]

    def _add(self, layer: Layer) -> str:
        self.layers.append(layer)
        self._shapes[layer.name] = (layer.out_channels, layer.out_height, layer.out_width)
        self._last = layer.name
        return layer.name

    @staticmethod
    def _inputs(*names: str) -> tuple[str, ...]:
        return tuple(n for n in names if n != "") if any(names) else ()

    def conv(self, name, out_channels, kernel, stride=1, padding=0, relu=True, src=None) -> str:
        src, (c, h, w) = self._shape(src)
        ho, wo = (conv_output_size(s, kernel, stride, padding) for s in (h, w))
        return self._add(Layer(name, "conv", c, out_channels, h, w, ho, wo, kernel, stride, padding, relu,
                               self._inputs(src)))

    def pool(self, name, kernel, stride, padding=0, kind="maxpool", out_size=None, src=None) -> str:
        """Max/average pooling; ``out_size`` overrides the floor formula (ceil mode, darknet's
        asymmetric 'same' padding)."""
        src, (c, h, w) = self._shape(src)
        ho, wo = out_size if out_size else (conv_output_size(s, kernel, stride, padding) for s in (h, w))
        return self._add(Layer(name, kind, c, c, h, w, ho, wo, kernel, stride, padding, False, self._inputs(src)))

    def global_avgpool(self, name, src=None) -> str:
        src, (c, h, w) = self._shape(src)
        return self._add(Layer(name, "global_avgpool", c, c, h, w, 1, 1, max(h, w), 1, 0, False, self._inputs(src)))

    def fc(self, name, out_features, relu=True, src=None) -> str:
        src, (c, h, w) = self._shape(src)
        return self._add(Layer(name, "fc", c * h * w, out_features, 1, 1, 1, 1, 1, 1, 0, relu, self._inputs(src)))

    def add(self, name, a, b, relu=True) -> str:
        c, h, w = self._shapes[a]
        return self._add(Layer(name, "add", c, c, h, w, h, w, 1, 1, 0, relu, self._inputs(a, b)))

    def activation(self, name, kind="leaky_relu", src=None) -> str:
        src, (c, h, w) = self._shape(src)
        return self._add(Layer(name, kind, c, c, h, w, h, w, 1, 1, 0, False, self._inputs(src)))

    def build(self) -> Network:
        return Network(self.name, self.input_shape, tuple(self.layers), self.source)
