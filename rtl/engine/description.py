"""``EngineDescription``: everything outside an engine's datapath needs to know about the engine.

Each engine module (``rtl/engine/direct.py``, ``rtl/engine/winograd.py``) defines its datapath
component and one description object next to it; ``rtl/engine/__init__.py`` registers them by
name and register code. The configuration checks, the register map, the RTL top, the hardware
layer check, the driver, the DSE's schedule, cycle and resource models and the reports ask the
description; nothing compares engine names. Adding an engine is one module with a datapath and a
subclass of :class:`EngineDescription`, plus its cycle/resource calibration.

A description holds:

* identity: ``name`` (``AcceleratorConfig.engine``), ``code`` (the ENGINE build-info register),
  ``title``, the tile sizes it is built with (:meth:`variants`), the configuration rules
  (:meth:`config_problems`) and the names it gives a build (:meth:`tag`, :meth:`label`);
* the layers it runs: :meth:`refusal` (the descriptor rule the hardware check mirrors, with the
  error code and one sentence), :meth:`map_conv` / :meth:`map_fc` (how a network layer becomes a
  descriptor) and :meth:`strips` (column strips for rows wider than the line buffer);
* its speed: :meth:`peak_ops_per_cycle` and the cycle model's per-pass hook :meth:`pass_cycles`;
* its hardware: :meth:`datapath` (the component), its weight port (:meth:`weight_load_layout`,
  :meth:`weight_word_taps`), :meth:`memories` (buffer geometry, asked of the buffers
  themselves), :meth:`multipliers` and :meth:`components` (resource-model inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ..buffers.geometry import MemoryShape
from ..descriptor import MAX_DIMENSION, POOL_WINDOW, Descriptor, Limits
from ..error_codes import ErrorCode

__all__ = ["EngineDescription", "Refusal", "LayerMapping", "PassCycles", "VisitCycles", "Multipliers"]


@dataclass(frozen=True)
class Refusal:
    """Why a build does not run a descriptor: the STATUS error code the hardware reports and a sentence."""

    code: ErrorCode
    reason: str


class LayerMapping(NamedTuple):
    """How a network layer runs on an engine: the descriptor (None: on the CPU), the mapping
    (``native``, ``fc-as-1x1``, ``embedded-3x3`` or ``cpu``) and the reason, one sentence."""

    descriptor: Descriptor | None
    mapping: str
    reason: str


@dataclass(frozen=True)
class PassCycles:
    """The cycle model's view of one pass (one output-channel group over the whole input).

    ``compute``: cycles the PE array needs at one beat per cycle; ``row_compute``: the same for
    one output row (a strip of rows for Winograd); ``load_rows``: the output rows still to
    compute once the pass's last input word has been read, during which the next group's
    weights load (they follow the input in the read stream); ``prime_rows``: input rows that
    must be on chip before the first beat; ``drain``: cycles from the last beat into the PE
    array to the last output word leaving the requantiser.
    """

    compute: int
    row_compute: int
    prime_rows: int
    drain: int
    load_rows: int = 1


@dataclass(frozen=True)
class VisitCycles:
    """The cycle model's view of a run of an input-reuse engine (``EngineDescription.input_reuse``).

    ``compute``: PE-array beats of one visit; ``strips``: strips of ``strip_rows`` output rows
    (the last has ``last_rows``); ``prime_rows``: input rows on chip before the first beat;
    ``weight_load``: cycles the datapath takes to load one visit's weights once they stream in;
    ``pixel_cycles``: cycles per output pixel of the datapath's output stage; ``drain``: cycles
    from a visit's last beat into the PE array to its strip's first pixel leaving the datapath;
    ``fill_pixel_cycles``: cycles per output pixel of writing a strip into the output stage
    (which hands a strip on only once all of it is in, so the first strip's fill is exposed).
    """

    compute: int
    strips: int
    strip_rows: int
    last_rows: int
    prime_rows: int
    weight_load: int
    pixel_cycles: int
    drain: int
    fill_pixel_cycles: int = 1


@dataclass(frozen=True)
class Multipliers:
    """``count`` signed ``a_width x b_width`` multipliers of one component."""

    component: str
    count: int
    a_width: int
    b_width: int


class EngineDescription:
    """Base of the engine descriptions; subclasses fill in the engine-specific parts.

    Class attributes: ``name``, ``code``, ``title``; ``kernel`` / ``stride``: the only kernel
    size / stride the engine runs, or None when it runs every one up to the build's maximum;
    ``embeds_1x1``: a 1x1 stride-1 convolution without padding, and a fully-connected layer,
    run as a ``kernel x kernel`` convolution whose taps are zero but the centre (engines with a
    fixed kernel); ``tiled_columns``: output columns come in tiles of ``m``, so column strips
    are multiples of the tile; ``input_reuse``: the loop order of a run (below). The board
    runtime's layer rules (drivers/rules.py) read these facts from drivers/interface.py, which
    ``python -m rtl.registers`` generates from the descriptions.

    Loop order. Without input reuse a run is ``ceil(M/pm)`` passes, one per output-channel
    group, each streaming the whole input from DDR (one visit per pass). With input reuse a run
    is one pass: the input is read once, row by row as the datapath makes room
    (``DatapathSignature.x_rows``), and each strip of :meth:`strip_rows` output rows is visited
    by every output-channel group in turn; each visit loads its group's weights and quant
    entries and writes its strip of that group's output.
    """

    name: str
    code: int
    title: str
    kernel: int | None = None
    stride: int | None = None
    embeds_1x1: bool = False
    tiled_columns: bool = False
    input_reuse: bool = False

    # ----- identity and configuration ------------------------------------------------------
    def variants(self, data_width: int) -> tuple[int, ...]:
        """Tile sizes ``m`` this engine is built with for ``data_width`` (0: no tile)."""
        raise NotImplementedError

    def config_problems(self, config) -> list[str]:
        """Sentences for what the engine refuses in ``config`` (an ``AcceleratorConfig``)."""
        raise NotImplementedError

    def tag(self, m: int) -> str:
        """Short name in a build's name (``convforge_<tag>_pm.._pn.._w..``)."""
        raise NotImplementedError

    def label(self, m: int) -> str:
        """Name in reports."""
        raise NotImplementedError

    # ----- the layers it runs --------------------------------------------------------------
    def refusal(self, d: Descriptor, limits: Limits) -> Refusal | None:
        """None when a build with ``limits`` runs ``d``, else the error code and the reason.

        The order and codes are those of the hardware check (rtl/control/layer_check.py), so a
        refused descriptor gets the same code from the IP as from this rule.
        """
        k, s, p = d.kernel, d.stride, d.padding
        if not (1 <= d.in_channels <= limits.max_channels and 1 <= d.out_channels <= limits.max_channels):
            return Refusal(ErrorCode.BAD_CHANNELS, f"channels must be 1..{limits.max_channels} on this build, "
                                                   f"got C={d.in_channels}, M={d.out_channels}")
        if not (1 <= d.height <= limits.max_height and 1 <= d.width <= limits.max_width):
            return Refusal(ErrorCode.BAD_SIZE, f"the input must be at most {limits.max_height}x{limits.max_width} "
                                               f"on this build, got {d.height}x{d.width}")
        if self.kernel is not None and k != self.kernel:
            return Refusal(ErrorCode.BAD_KERNEL, f"the {self.title} engine runs {self.kernel}x{self.kernel} "
                                                 f"kernels only, got {k}x{k}")
        if not 1 <= k <= limits.max_kernel:
            return Refusal(ErrorCode.BAD_KERNEL, f"the kernel must be 1..{limits.max_kernel} on this build, got {k}")
        if self.stride is not None and s != self.stride:
            return Refusal(ErrorCode.BAD_STRIDE, f"the {self.title} engine runs stride {self.stride} only, got {s}")
        if not 1 <= s <= limits.max_stride:
            return Refusal(ErrorCode.BAD_STRIDE, f"the stride must be 1..{limits.max_stride} on this build, got {s}")
        if not 0 <= p < k:
            return Refusal(ErrorCode.BAD_PADDING, f"padding must be in 0..{k - 1} for a {k}x{k} kernel, got {p}")
        if d.height + 2 * p < k or d.width + 2 * p < k:
            return Refusal(ErrorCode.BAD_OUTPUT, f"a {k}x{k} kernel does not fit the padded "
                                                 f"{d.height + 2 * p}x{d.width + 2 * p} input")
        if d.out_height > limits.max_height or d.out_width > limits.max_width:
            # Every counter of the datapath is sized from the build's maxima: an output larger
            # than them (padding above (K-1)/2) could not be counted.
            return Refusal(ErrorCode.BAD_OUTPUT, f"the output must be at most {limits.max_height}x{limits.max_width} "
                                                 f"on this build, got {d.out_height}x{d.out_width}")
        if d.pool and (d.out_height % POOL_WINDOW or d.out_width % POOL_WINDOW):
            return Refusal(ErrorCode.BAD_POOL, f"2x2 stride-2 pooling needs an even output height and width, got "
                                               f"{d.out_height}x{d.out_width}")
        cg = math.ceil(d.in_channels / limits.pn)
        if d.width * cg > limits.row_words:
            return Refusal(ErrorCode.BAD_SIZE, f"W * ceil(C/pn) = {d.width * cg} exceeds the line buffer's "
                                               f"{limits.row_words} words on this build")
        if cg * k * k > limits.weight_taps:
            return Refusal(ErrorCode.BAD_CHANNELS, f"ceil(C/pn) * K * K = {cg * k * k} exceeds the weight buffer's "
                                                   f"{limits.weight_taps} taps on this build")
        return None

    def map_layer(self, kind: str, c: int, m: int, h: int, w: int, k: int, s: int, p: int,
                  max_kernel: int) -> LayerMapping:
        """How a ``conv`` or ``fc`` layer (``c -> m`` channels, ``h x w`` input, ``k x k`` kernel,
        stride ``s``, padding ``p``; an fc layer has ``c`` input features) runs on a build of
        this engine whose line buffer holds kernels up to ``max_kernel``."""
        if max(c, m) > MAX_DIMENSION:
            return LayerMapping(None, "cpu", f"{max(c, m)} channels exceed the engine's limit of {MAX_DIMENSION}")
        if kind == "fc":
            return self.map_fc(c, m)
        if max(h, w) > MAX_DIMENSION:
            return LayerMapping(None, "cpu", f"the {h}x{w} input exceeds the engine's limit of {MAX_DIMENSION}")
        return self.map_conv(c, m, h, w, k, s, p, max_kernel)

    def map_conv(self, c, m, h, w, k, s, p, max_kernel) -> LayerMapping:
        raise NotImplementedError

    def map_fc(self, c, m) -> LayerMapping:
        raise NotImplementedError

    def column_multiple(self, m: int) -> int:
        """Output columns of a column strip are a multiple of this (the tile ``m`` with
        ``tiled_columns``, else 1)."""
        return m if self.tiled_columns else 1

    def strips(self, d: Descriptor, pn: int, row_words: int, m: int) -> tuple[Descriptor, ...] | None:
        """``d`` cut into the fewest column strips whose rows fit ``row_words`` pn-words.

        Returns ``(d,)`` when it fits whole, None when not even the narrowest strip fits. The
        driver pre-pads the input (strips have padding 0 and height ``H + 2P``), cuts strips of
        ``(wo_s - 1) * S + K`` columns overlapping by ``K - S`` and stitches the outputs; strip
        outputs are multiples of :meth:`column_multiple`; the strips are balanced.
        """
        cg = math.ceil(d.in_channels / pn)
        if d.width * cg <= row_words:
            return (d,)
        k, s = d.kernel, d.stride
        wo = d.out_width
        max_in_cols = row_words // cg
        if max_in_cols < k:
            return None
        wo_strip = (max_in_cols - k) // s + 1
        unit = self.column_multiple(m)
        wo_strip = (wo_strip // unit) * unit
        if wo_strip < 1:
            return None
        wo_strip = min(wo_strip, wo)
        tiles = math.ceil(wo / wo_strip)
        wo_strip = math.ceil(math.ceil(wo / tiles) / unit) * unit
        out, done = [], 0
        h = d.height + 2 * d.padding
        while done < wo:
            w_out = min(wo_strip, wo - done)
            out.append(Descriptor(d.in_channels, d.out_channels, h, (w_out - 1) * s + k, k, s, 0))
            done += w_out
        return tuple(out)

    # ----- speed -----------------------------------------------------------------------------
    def strip_rows(self, config) -> int:
        """Output rows per visit of an engine with ``input_reuse``."""
        raise NotImplementedError

    def visit_cycles(self, d: Descriptor, config) -> VisitCycles:
        """The cycle model's view of a run of ``d`` (engines with ``input_reuse``)."""
        raise NotImplementedError

    def peak_ops_per_cycle(self, config) -> int:
        """Operations (2 per multiply-accumulate of the equivalent direct convolution) per cycle."""
        raise NotImplementedError

    def pass_cycles(self, d: Descriptor, config) -> PassCycles:
        raise NotImplementedError

    # ----- hardware --------------------------------------------------------------------------
    def weight_word_taps(self, config) -> int:
        """Weight taps (``pm x pn`` words) per beat of the datapath's ``w`` port: the layer
        check counts a visit's weight words with it (``ceil(taps / weight_word_taps)``)."""
        return 1

    def weight_load_layout(self, config):
        """The payload layout of the datapath's ``w`` port (a ``word_layout``)."""
        raise NotImplementedError

    def datapath(self, config):
        """The engine's datapath component (its signature: rtl.engine.signature.DatapathSignature)."""
        raise NotImplementedError

    def memories(self, config) -> dict[str, tuple[MemoryShape, ...]]:
        """The block memories of the engine's buffers, as the buffers compute them, by the
        component (of :meth:`components`) they belong to."""
        raise NotImplementedError

    def multipliers(self, config) -> tuple[Multipliers, ...]:
        """The engine's variable multipliers (the requantiser's belong to the top)."""
        raise NotImplementedError

    def components(self, config) -> dict[str, dict]:
        """The engine's components and the parameters the resource model's features read."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<engine {self.name}>"
