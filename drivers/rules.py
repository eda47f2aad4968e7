"""What a build runs, on the board: the descriptor rule, the layer mapping and column strips.

The hardware's rule lives with the engine descriptions (``rtl.engine``), which the board cannot
import (Amaranth). This module applies the same rules to the facts the runtime has: the build's
limits (its build-info registers) and what its engine runs (``interface.ENGINES``, generated from
the descriptions by ``python -m rtl.registers``). tests/unit/test_runtime_rules.py compares every
answer here -- the error code of a refusal, the mapping of a layer, its column strips -- with the
descriptions' on random descriptors and layers, for every engine.

* :func:`refusal`: None when a build runs a :class:`Descriptor`, else the ``STATUS.ERROR`` code
  the IP reports and one sentence, checked in the order of the hardware check.
* :func:`map_layer`: how a ``conv`` or ``fc`` layer becomes a descriptor (``native``,
  ``fc-as-1x1``, ``embedded-3x3``), or why it stays on the CPU.
* :func:`strips`: a descriptor whose rows exceed the line buffer, cut into column strips.
* :func:`keeps_output`, :func:`reads_in_place`: where activations stay in DDR between two
  accelerated layers (``run_network`` follows them; the DSE prices the CPU's work around each
  run with ``rtl.descriptor``'s, the same rule).
* :func:`table_fusions`: which element-wise layers an activation table computes inside the
  accelerated layer feeding them (``rtl.descriptor.table_fusions``, the same rule).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple, Optional, Tuple

from .interface import ENGINES, ERROR_CODES, KERNEL_SIZES, MAX_DIMENSION, POOL_KINDS, POOL_WINDOW, STRIDES, TABLE_KINDS

__all__ = ["Descriptor", "Limits", "Engine", "Refusal", "LayerMapping", "engine_with_code", "engine_named",
           "refusal", "map_layer", "strips", "column_multiple", "keeps_output", "reads_in_place", "table_fusions",
           "pool_fusions"]

_CODES = {name: value for value, (name, _) in ERROR_CODES.items()}


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
    #: LAYER_FLAGS.POOL: an index of ``POOL_MODES`` (0: none).
    pool: int = 0

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def written_height(self) -> int:
        """Rows the run writes: the convolution's, halved by the pooling stage."""
        return self.out_height // POOL_WINDOW if self.pool else self.out_height

    @property
    def written_width(self) -> int:
        return self.out_width // POOL_WINDOW if self.pool else self.out_width

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Limits:
    """What one build accepts, from its build-info registers: the tile ``m``, parallelism
    ``pm``/``pn``, the largest input, channel count, kernel and stride, the line buffer's row
    capacity in pn-words (``row_words``) and the weight buffer's bank capacity (``weight_taps``)."""

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


@dataclass(frozen=True)
class Engine:
    """What an engine runs (``interface.ENGINES``): the only ``kernel`` and ``stride`` (None: any
    up to the build's maximum), whether 1x1 stride-1 convolutions and fc layers run embedded in
    its kernel, whether output columns come in tiles of ``m``."""

    code: int
    name: str
    title: str
    kernel: Optional[int]
    stride: Optional[int]
    embeds_1x1: bool
    tiled_columns: bool


_ENGINES = {code: Engine(code, **facts) for code, facts in ENGINES.items()}


def engine_with_code(code: int) -> Engine:
    """The engine whose ENGINE register value is ``code``."""
    try:
        return _ENGINES[code]
    except KeyError:
        raise ValueError(f"no engine has register code {code}; known: "
                         + ", ".join(f"{e.code} {e.name}" for e in _ENGINES.values())) from None


def engine_named(name: str) -> Engine:
    """The engine called ``name`` (``design.json``'s ``config.engine``)."""
    for e in _ENGINES.values():
        if e.name == name:
            return e
    raise ValueError(f"engine must be one of {tuple(e.name for e in _ENGINES.values())}, got {name!r}")


class Refusal(NamedTuple):
    """Why a build does not run a descriptor: the ``STATUS.ERROR`` code and a sentence."""

    code: int
    reason: str


class LayerMapping(NamedTuple):
    """A layer as a descriptor (None: it stays on the CPU), the mapping's name and why."""

    descriptor: Optional[Descriptor]
    mapping: str
    reason: str


def _refused(name: str, reason: str) -> Refusal:
    return Refusal(_CODES[name], reason)


def refusal(d: Descriptor, limits: Limits, engine: Engine) -> Optional[Refusal]:
    """None when a build with ``limits`` and ``engine`` runs ``d``, else the code and the reason,
    in the order of the hardware check."""
    k, s, p = d.kernel, d.stride, d.padding
    if not (1 <= d.in_channels <= limits.max_channels and 1 <= d.out_channels <= limits.max_channels):
        return _refused("BAD_CHANNELS", f"channels must be 1..{limits.max_channels} on this build, "
                                        f"got C={d.in_channels}, M={d.out_channels}")
    if not (1 <= d.height <= limits.max_height and 1 <= d.width <= limits.max_width):
        return _refused("BAD_SIZE", f"the input must be at most {limits.max_height}x{limits.max_width} on this "
                                    f"build, got {d.height}x{d.width}")
    if engine.kernel is not None and k != engine.kernel:
        return _refused("BAD_KERNEL", f"the {engine.title} engine runs {engine.kernel}x{engine.kernel} kernels "
                                      f"only, got {k}x{k}")
    if not 1 <= k <= limits.max_kernel:
        return _refused("BAD_KERNEL", f"the kernel must be 1..{limits.max_kernel} on this build, got {k}")
    if engine.stride is not None and s != engine.stride:
        return _refused("BAD_STRIDE", f"the {engine.title} engine runs stride {engine.stride} only, got {s}")
    if not 1 <= s <= limits.max_stride:
        return _refused("BAD_STRIDE", f"the stride must be 1..{limits.max_stride} on this build, got {s}")
    if not 0 <= p < k:
        return _refused("BAD_PADDING", f"padding must be in 0..{k - 1} for a {k}x{k} kernel, got {p}")
    if d.height + 2 * p < k or d.width + 2 * p < k:
        return _refused("BAD_OUTPUT", f"a {k}x{k} kernel does not fit the padded {d.height + 2 * p}x"
                                      f"{d.width + 2 * p} input")
    if d.out_height > limits.max_height or d.out_width > limits.max_width:
        return _refused("BAD_OUTPUT", f"the output must be at most {limits.max_height}x{limits.max_width} on "
                                      f"this build, got {d.out_height}x{d.out_width}")
    if d.pool and (d.out_height % POOL_WINDOW or d.out_width % POOL_WINDOW):
        return _refused("BAD_POOL", f"2x2 stride-2 pooling needs an even output height and width, got "
                                    f"{d.out_height}x{d.out_width}")
    groups = math.ceil(d.in_channels / limits.pn)
    if d.width * groups > limits.row_words:
        return _refused("BAD_SIZE", f"W * ceil(C/pn) = {d.width * groups} exceeds the line buffer's "
                                    f"{limits.row_words} words on this build")
    if groups * k * k > limits.weight_taps:
        return _refused("BAD_CHANNELS", f"ceil(C/pn) * K * K = {groups * k * k} exceeds the weight buffer's "
                                        f"{limits.weight_taps} taps on this build")
    return None


def map_layer(engine: Engine, kind: str, c: int, m: int, h: int, w: int, k: int, s: int, p: int,
              max_kernel: int) -> LayerMapping:
    """How a ``conv`` or ``fc`` layer (``c -> m`` channels, ``h x w`` input, ``k x k`` kernel,
    stride ``s``, padding ``p``; an fc layer has ``c`` input features) runs on a build of
    ``engine`` whose line buffer holds kernels up to ``max_kernel``."""
    if max(c, m) > MAX_DIMENSION:
        return LayerMapping(None, "cpu", f"{max(c, m)} channels exceed the engine's limit of {MAX_DIMENSION}")
    fixed = engine.kernel
    if kind == "fc":
        if engine.embeds_1x1:
            return LayerMapping(Descriptor(c, m, 1, 1, fixed, 1, fixed // 2), f"embedded-{fixed}x{fixed}",
                                f"fully-connected layer as a {fixed}x{fixed}-embedded 1x1 convolution")
        return LayerMapping(Descriptor(c, m, 1, 1, 1, 1, 0), "fc-as-1x1", "fully-connected layer as a 1x1 convolution")
    if max(h, w) > MAX_DIMENSION:
        return LayerMapping(None, "cpu", f"the {h}x{w} input exceeds the engine's limit of {MAX_DIMENSION}")
    if fixed is not None:
        if k == fixed and s == engine.stride:
            return LayerMapping(Descriptor(c, m, h, w, k, s, p), "native", f"{k}x{k} stride-{s} convolution")
        if engine.embeds_1x1 and k == 1 and s == 1 and p == 0:
            return LayerMapping(Descriptor(c, m, h, w, fixed, 1, fixed // 2), f"embedded-{fixed}x{fixed}",
                                f"1x1 convolution embedded in a {fixed}x{fixed} kernel (zero taps)")
        return LayerMapping(None, "cpu", f"the {engine.title} engine runs {fixed}x{fixed} stride-{engine.stride} "
                                         f"convolutions only (this is {k}x{k} stride {s})")
    if k > max_kernel:
        why = f"the engine's maximum of {KERNEL_SIZES[-1]}" if max_kernel >= KERNEL_SIZES[-1] \
            else f"this build's max_kernel {max_kernel}"
        return LayerMapping(None, "cpu", f"kernel {k}x{k} exceeds {why}")
    if s > STRIDES[-1]:
        return LayerMapping(None, "cpu", f"stride {s} exceeds the engine's maximum stride {STRIDES[-1]}")
    if p >= k:
        return LayerMapping(None, "cpu", f"padding {p} is not smaller than the kernel {k}")
    return LayerMapping(Descriptor(c, m, h, w, k, s, p), "native", f"{k}x{k} stride-{s} convolution")


def column_multiple(engine: Engine, m: int) -> int:
    """Output columns of a column strip are a multiple of this: the tile ``m`` or 1."""
    return m if engine.tiled_columns else 1


def strips(engine: Engine, d: Descriptor, pn: int, row_words: int, m: int) -> Optional[Tuple[Descriptor, ...]]:
    """``d`` cut into the fewest balanced column strips whose rows fit ``row_words`` pn-words:
    ``(d,)`` when it fits whole, None when not even the narrowest strip fits. Strips have
    padding 0 and height ``H + 2P`` (the input is padded once on the CPU); strip ``j`` reads
    ``(wo_j - 1) * S + K`` columns, overlapping the next by ``K - S``; each strip's output
    columns are a multiple of :func:`column_multiple`."""
    groups = math.ceil(d.in_channels / pn)
    if d.width * groups <= row_words:
        return (d,)
    k, s, wo = d.kernel, d.stride, d.out_width
    columns = row_words // groups
    if columns < k:
        return None
    unit = column_multiple(engine, m)
    widest = ((columns - k) // s + 1) // unit * unit
    if widest < 1:
        return None
    count = math.ceil(wo / min(widest, wo))
    width = math.ceil(math.ceil(wo / count) / unit) * unit
    out, done, height = [], 0, d.height + 2 * d.padding
    while done < wo:
        w_out = min(width, wo - done)
        out.append(Descriptor(d.in_channels, d.out_channels, height, (w_out - 1) * s + k, k, s, 0))
        done += w_out
    return tuple(out)


def keeps_output(pm: int, pn: int, runs: int) -> bool:
    """Whether a layer's output stays in DDR after its runs (``run_network``'s kept
    activations): it is one run, and the IP writes the layout it reads (``pm == pn``).
    ``rtl.descriptor.keeps_output`` is the build side's (tests/unit/test_runtime.py compares)."""
    return pm == pn and runs == 1


def reads_in_place(kind: str, runs: int, in_shape) -> bool:
    """Whether an accelerated layer of ``runs`` calls reads an activation of ``in_shape``
    ``(C, H, W)`` kept in DDR where it lies: one run of a convolution, or of a fully-connected
    layer on a ``C x 1 x 1`` map (whose flattening changes nothing); as
    ``rtl.descriptor.reads_in_place``."""
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
