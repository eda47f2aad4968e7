"""The runtime layer descriptor in Python, and the build limits it is checked against.

A :class:`Descriptor` is one run of the accelerator: the layer fields the host writes to the
descriptor registers (rtl.registers; ``rtl.control.layer_check.descriptor_layout`` is their
hardware form). :class:`Limits` is what one build accepts; the engine's description
(``rtl.engine``) decides, from both, whether the build runs a descriptor and says why not. The
DSE gets limits from an ``AcceleratorConfig``, the driver from the IP's build-info registers, so
both ask the same rule the hardware check mirrors.

The constants bound every build (``AcceleratorConfig`` refuses anything beyond them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Descriptor", "Limits", "MAX_DIMENSION", "KERNEL_SIZES", "STRIDES", "TABLE_KINDS", "POOL_MODES",
           "POOL_NONE", "POOL_MAX", "POOL_AVG", "POOL_WINDOW", "POOL_KINDS", "keeps_output", "reads_in_place", "table_fusions",
           "pool_fusions"]

#: Largest channel count, height and width any build accepts.
MAX_DIMENSION = 4096
#: Kernel sizes a build's line buffer can be built for (``max_kernel``).
KERNEL_SIZES = (1, 3, 5, 7)
#: Strides a build can be built for (``max_stride``).
STRIDES = (1, 2)
#: Element-wise int8 layer kinds (one scale in and out, the same function on every channel) that
#: an activation table computes after the layer feeding them (LAYER_FLAGS.TABLE).
TABLE_KINDS = ("relu", "leaky_relu", "clip")
#: Pooling a build's pooling stage applies to a run's outputs (LAYER_FLAGS.POOL holds the index):
#: none, 2x2 stride-2 max, 2x2 stride-2 average (the integer mean of four, rounded half up:
#: ``(sum + 2) >> 2``, as ``drivers.ops.avgpool``). A pooled run needs an even output height and
#: width (BAD_POOL otherwise) and writes half of each.
POOL_MODES = ("none", "max", "avg")
POOL_NONE, POOL_MAX, POOL_AVG = range(len(POOL_MODES))
#: Window and stride of the fused pooling modes.
POOL_WINDOW = 2
#: Pooling layer kinds the pooling stage computes after the layer feeding them -> POOL mode.
POOL_KINDS = {"maxpool": POOL_MAX, "avgpool": POOL_AVG}


@dataclass(frozen=True)
class Descriptor:
    """One accelerator run: ``C -> M`` channels, an ``H x W`` input, a ``K x K`` kernel."""

    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel: int
    stride: int
    padding: int
    #: LAYER_FLAGS.POOL: an index of ``POOL_MODES``; a pooled run writes ``written_height x
    #: written_width`` (half the convolution's output each way).
    pool: int = POOL_NONE

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def written_height(self) -> int:
        """Rows of the output the run writes: the convolution's, halved by a pooling stage."""
        return self.out_height // POOL_WINDOW if self.pool else self.out_height

    @property
    def written_width(self) -> int:
        return self.out_width // POOL_WINDOW if self.pool else self.out_width

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the direct convolution this run computes."""
        return self.out_channels * self.in_channels * self.kernel ** 2 * self.out_height * self.out_width

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Limits:
    """What one build accepts (the build-info registers carry every field).

    ``row_words``: line/tile-buffer row capacity in pn-words (largest ``W * ceil(C / pn)``);
    ``weight_taps``: weight-buffer bank capacity (largest ``ceil(C / pn) * K * K``).
    """

    engine: str
    m: int
    pm: int
    pn: int
    max_width: int
    max_height: int
    max_channels: int
    max_kernel: int
    max_stride: int
    row_words: int
    weight_taps: int


def keeps_output(pm: int, pn: int, runs: int) -> bool:
    """Whether a layer's output can stay in DDR for the next accelerated layer: the IP writes
    its output in the layout it reads its input (row-major, docs/memory-layout.md) when
    ``pm == pn``, and the layer is one run (column strips are stitched on the CPU)."""
    return pm == pn and runs == 1


def reads_in_place(kind: str, runs: int, in_shape) -> bool:
    """Whether an accelerated layer of ``runs`` runs reads an activation of ``in_shape``
    ``(C, H, W)`` kept in DDR where it lies: one run of a convolution, or of a fully-connected
    layer on a ``C x 1 x 1`` map (whose flattening changes nothing)."""
    return runs == 1 and (kind == "conv" or kind == "fc" and tuple(in_shape[1:]) == (1, 1))


def _readers(layers) -> dict:
    """``{tensor: [names of the layers reading it]}`` (the network's input is ``""``)."""
    readers = {}
    for layer in layers:
        for name in layer.inputs or ("",):
            readers.setdefault(name, []).append(layer.name)
    return readers


def table_fusions(layers, accelerated, act_table: bool) -> dict:
    """``{producer: consumer}``: the element-wise layers (``TABLE_KINDS``) an activation table
    computes inside the accelerated layer that feeds them, on a build with one (``act_table``).
    A consumer fuses when its one input is an accelerated layer (a name in ``accelerated``) that
    no other layer reads and that is not the network's output; a producer takes one table.
    ``layers``: objects with ``name``, ``kind`` and ``inputs``, in execution order."""
    if not act_table or not layers:
        return {}
    readers = _readers(layers)
    last = layers[-1].name
    out = {}
    for layer in layers:
        inputs = tuple(layer.inputs or ())
        if layer.kind in TABLE_KINDS and len(inputs) == 1:
            source = inputs[0]
            if source in accelerated and readers.get(source) == [layer.name] and source != last and source not in out:
                out[source] = layer.name
    return out


def pool_fusions(layers, single_runs, tables: dict, pooling: bool) -> dict:
    """``{producer: pool}``: the unpadded 2x2 stride-2 pools (``POOL_KINDS``) of an even map that
    a build's pooling stage (``pooling``) computes inside the accelerated layer feeding them,
    directly or through the element-wise layer that layer's activation table computes
    (``tables``, from :func:`table_fusions`). The producer is one run (a name in ``single_runs``);
    what the pool reads is read by nothing else and is not the network's output. ``layers``:
    objects with ``name``, ``kind``, ``inputs``, ``kernel``, ``stride``, ``padding``, ``height``,
    ``width``, ``out_height`` and ``out_width``, in execution order."""
    if not pooling or not layers:
        return {}
    readers = _readers(layers)
    last = layers[-1].name
    fused_into = {consumer: producer for producer, consumer in tables.items()}
    out = {}
    for layer in layers:
        inputs = tuple(layer.inputs or ())
        if layer.kind not in POOL_KINDS or len(inputs) != 1 or (layer.kernel, layer.stride, layer.padding) != \
                (POOL_WINDOW, POOL_WINDOW, 0) or layer.height % POOL_WINDOW or layer.width % POOL_WINDOW or \
                (layer.out_height, layer.out_width) != (layer.height // POOL_WINDOW, layer.width // POOL_WINDOW):
            continue
        source = inputs[0]
        producer = fused_into.get(source, source)      # a table layer's input is read by it alone
        if producer in single_runs and producer not in out and last not in (source, producer) and \
                readers.get(source) == [layer.name]:
            out[producer] = layer.name
    return out
