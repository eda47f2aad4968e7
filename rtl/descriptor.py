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

__all__ = ["Descriptor", "Limits", "MAX_DIMENSION", "KERNEL_SIZES", "STRIDES", "TABLE_KINDS", "keeps_output",
           "reads_in_place", "table_fusions"]

#: Largest channel count, height and width any build accepts.
MAX_DIMENSION = 4096
#: Kernel sizes a build's line buffer can be built for (``max_kernel``).
KERNEL_SIZES = (1, 3, 5, 7)
#: Strides a build can be built for (``max_stride``).
STRIDES = (1, 2)
#: Element-wise int8 layer kinds (one scale in and out, the same function on every channel) that
#: an activation table computes after the layer feeding them (LAYER_FLAGS.TABLE).
TABLE_KINDS = ("relu", "leaky_relu", "clip")


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

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

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


def table_fusions(layers, accelerated, act_table: bool) -> dict:
    """``{producer: consumer}``: the element-wise layers (``TABLE_KINDS``) an activation table
    computes inside the accelerated layer that feeds them, on a build with one (``act_table``).
    A consumer fuses when its one input is an accelerated layer (a name in ``accelerated``) that
    no other layer reads and that is not the network's output; a producer takes one table.
    ``layers``: objects with ``name``, ``kind`` and ``inputs``, in execution order."""
    if not act_table or not layers:
        return {}
    readers = {}
    for layer in layers:
        for name in layer.inputs or ("",):
            readers.setdefault(name, []).append(layer.name)
    last = layers[-1].name
    out = {}
    for layer in layers:
        inputs = tuple(layer.inputs or ())
        if layer.kind in TABLE_KINDS and len(inputs) == 1:
            source = inputs[0]
            if source in accelerated and readers.get(source) == [layer.name] and source != last and source not in out:
                out[source] = layer.name
    return out
