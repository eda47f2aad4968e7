"""The Winograd F(m,3) engine: its datapath (tile buffer -> input transform -> filter join -> EWMM
-> output transform -> output buffer) and its description (:data:`WINOGRAD`)."""

from __future__ import annotations

import functools
import math

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from ..buffers.filter_buffer import WinogradFilterBuffer
from ..buffers.output_buffer import OutputBuffer
from ..buffers.tile_buffer import WinogradTileBuffer, tile_flags_layout
from ..descriptor import Descriptor
from ..pe.ewmm_array import EwmmArray
from ..pe.winograd_input_transform import WinogradInputTransform
from ..pe.winograd_output_transform import WinogradOutputTransform
from ..stream import SkidBuffer, StreamFifo
from ..winograd_math import WINOGRAD_TILES, WinogradNumerics
from .description import EngineDescription, LayerMapping, Multipliers, PassCycles, VisitCycles
from .signature import DatapathSignature

__all__ = ["WinogradDatapath", "WinogradEngine", "WINOGRAD"]


def _filter_depth(config) -> int:
    """Channel groups per filter-buffer bank (a bank word holds one group's 3x3 filters)."""
    return max(max(1, config.weight_depth // 9), config.max_channel_groups)


def _numerics(config) -> WinogradNumerics:
    # Channel groups are padded to pn channels, so the worst case counts them all.
    return _cached_numerics(config.m, config.data_width, config.max_channel_groups * config.pn)


@functools.lru_cache(maxsize=256)
def _cached_numerics(m: int, data_width: int, max_channels: int) -> WinogradNumerics:
    return WinogradNumerics(m, data_width, max_channels)


class WinogradDatapath(wiring.Component):
    """Winograd engine behind :class:`rtl.engine.signature.DatapathSignature` (3x3, stride 1).

    One pass runs the whole layer: the input is read once, and every tile row of it is visited
    by each output-channel group in turn (a visit: one group over one tile row of ``m`` output
    rows). The tile buffer emits one ``n x n x pn`` tile per cycle in the order
    ``ty, g, tx, cg``; the input transform and the transformed filters of that channel group
    feed the ``pm x pn x n^2`` EWMM array, which accumulates over channel groups; the output
    transform divides exactly by ``s^2``; the output buffer turns ``m x m`` tiles back into
    raster pixels for the shared requantiser, one write command per visit. Each visit's filters
    load (ping-pong, transformed on chip) while the previous visit computes.
    """

    #: Output tiles the FIFO between the output transform and the output buffer holds: more
    #: than the pipeline's positions in flight when a position is one channel group.
    RESULT_FIFO_DEPTH = 16

    def __init__(self, config):
        if config.engine_description is not WINOGRAD:
            raise ValueError("WinogradDatapath needs a config with engine='winograd'")
        self.config = config
        tile, pm, pn, dw = config.m, config.pm, config.pn, config.data_width
        max_ch = config.max_channel_groups * pn
        # Tiles carry their channel group, first/last and end (tile_flags_layout) through the
        # input transform to the filter buffer, whose bank index the channel group is.
        self.input_transform = WinogradInputTransform(tile, pn=pn, data_width=dw,
                                                      flags=tile_flags_layout(_filter_depth(config)))
        self.ewmm = EwmmArray(tile, pm=pm, pn=pn, data_width=dw, max_channels=max_ch)
        #: The PE array (the engine's multipliers), for benches that synthesise it alone.
        self.pe = self.ewmm
        self.output_transform = WinogradOutputTransform(tile, pm=pm, data_width=dw, max_channels=max_ch,
                                                        in_width=self.ewmm.acc_width)
        self.acc_width = self.output_transform.out_width
        super().__init__(DatapathSignature(config, self.acc_width))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        tile, pm, pn, dw = cfg.m, cfg.pm, cfg.pn, cfg.data_width
        m.submodules.tiles = tb = WinogradTileBuffer(tile, pn, dw, cfg.max_width, cfg.max_channel_groups,
                                                     cfg.row_words, max_height=cfg.max_height,
                                                     flags_cg=_filter_depth(cfg), max_groups=cfg.max_output_groups)
        m.submodules.itf = itf = self.input_transform
        m.submodules.filters = fb = WinogradFilterBuffer(tile, pm, pn, dw, _filter_depth(cfg), itf.out_width,
                                                         taps_per_word=WINOGRAD.weight_word_taps(cfg))
        m.submodules.ewmm = ewmm = self.ewmm
        m.submodules.otf = otf = self.output_transform
        m.submodules.out = ob = OutputBuffer(tile, pm, self.acc_width, cfg.max_width, max_height=cfg.max_height,
                                             max_groups=cfg.max_output_groups)

        wiring.connect(m, wiring.flipped(self.x), tb.i)
        wiring.connect(m, wiring.flipped(self.w), fb.load)
        wiring.connect(m, tb.o, itf.i)
        wiring.connect(m, itf.o, fb.i)
        wiring.connect(m, fb.o, ewmm.i)
        wiring.connect(m, ewmm.o, otf.i)
        # From the tile buffer's issue to the output transform the pipeline never stalls: the
        # output transform's ready is a constant 1 (so are the stages' pipeline enables, which
        # synthesis removes), and a tile position is issued only while its output tile has an
        # entry in the FIFO behind it (credits); a visit starts only when its filters are loaded.
        m.submodules.results = results = StreamFifo(otf.o.payload.shape(), self.RESULT_FIFO_DEPTH)
        m.d.comb += [results.i.payload.eq(otf.o.payload), results.i.valid.eq(otf.o.valid), otf.o.ready.eq(1)]
        wiring.connect(m, results.o, ob.i)
        depth = self.RESULT_FIFO_DEPTH
        in_flight = Signal(range(depth + 1))   # positions issued whose output tile is not yet out
        popped = Signal()
        room = Signal(init=1)
        m.d.sync += [popped.eq(results.o.valid & results.o.ready),
                     in_flight.eq(in_flight + tb.position_start - popped),
                     # A cycle old: in_flight grows by at most one per cycle.
                     room.eq(in_flight < depth - 1)]
        banks = Signal(range(3))               # visits whose filters are loaded, not yet started
        banks_next = Signal(range(4))
        visit_ok = Signal()
        m.d.comb += banks_next.eq(banks + fb.loaded - tb.visit_start)
        m.d.sync += [banks.eq(banks_next), visit_ok.eq(banks_next != 0)]
        with m.If(self.start):
            m.d.sync += [in_flight.eq(0), popped.eq(0), room.eq(1)]
        m.d.comb += [tb.room.eq(room), tb.visit_ok.eq(visit_ok)]
        # A register slice between the output buffer and the requantiser: the requantiser's ready
        # would otherwise reach the output buffer's read-side counters in the same cycle.
        m.submodules.out_slice = out_slice = SkidBuffer(ob.o.payload.shape())
        wiring.connect(m, ob.o, out_slice.i)
        wiring.connect(m, out_slice.o, wiring.flipped(self.o))
        m.d.comb += [
            tb.cfg.width.eq(self.cfg.width), tb.cfg.height.eq(self.cfg.height),
            tb.cfg.channel_groups.eq(self.cfg.channel_groups), tb.cfg.padding.eq(self.cfg.padding),
            tb.cfg.groups.eq(self.cfg.groups),
            ob.cfg.width.eq(self.cfg.out_width), ob.cfg.height.eq(self.cfg.out_height), ob.cfg.groups.eq(self.cfg.groups),
            tb.start.eq(self.start), ob.start.eq(self.start),
            self.busy.eq(tb.busy | ob.busy | out_slice.o.valid),
            self.x_rows.eq(tb.x_rows), self.x_need.eq(tb.x_need),
            self.visit_end.eq(fb.i.valid & fb.i.ready & fb.i.payload.flags.end),
            self.pass_end.eq(fb.i.valid & fb.i.ready & fb.i.payload.flags.final),
            self.active.eq(ewmm.i.valid & ewmm.i.ready),
            self.starved.eq(~fb.o.valid),
        ]
        return m


class WinogradEngine(EngineDescription):
    """F(m, 3), m in 2/4/6: 3x3 stride-1 kernels (1x1 and fully-connected layers embedded in a
    3x3 kernel); one ``n x n x pn`` tile (``n = m + 2``) per cycle against ``pm`` transformed
    filters, i.e. ``m^2`` outputs of ``pm`` channels per ``ceil(C/pn)`` cycles."""

    name = "winograd"
    code = 1
    title = "Winograd"
    kernel = 3
    stride = 1
    embeds_1x1 = True
    tiled_columns = True
    input_reuse = True

    #: Cycles from the last tile into the filter join to the last pixel of a strip's first row
    #: leaving the output buffer (stage latencies plus the strip hand-over; calibrated against
    #: simulation, docs/results-winograd.md, then +7 for the registers added for timing: filter
    #: RAM output, filter transform's split row pass, channel sum, output transform's three
    #: split passes, the output slice); the strip's remaining pixels drain after it.
    DRAIN = 25

    def variants(self, data_width: int) -> tuple[int, ...]:
        return (2,) if data_width == 16 else WINOGRAD_TILES

    def config_problems(self, config) -> list[str]:
        p = []
        if config.m not in WINOGRAD_TILES:
            p.append(f"Winograd tile m must be one of {WINOGRAD_TILES}, got {config.m}")
        if config.data_width == 16 and config.m != 2:
            p.append("16-bit data is supported by the direct engine and Winograd F(2,3) only")
        if config.max_kernel != self.kernel:
            p.append(f"the Winograd engine runs 3x3 kernels: max_kernel must be {self.kernel}")
        return p

    def tag(self, m: int) -> str:
        return f"wino{m}"

    def label(self, m: int) -> str:
        return f"F({m},3)"

    def strip_rows(self, config) -> int:
        return config.m

    def map_conv(self, c, m, h, w, k, s, p, max_kernel) -> LayerMapping:
        if k == 3 and s == 1:
            return LayerMapping(Descriptor(c, m, h, w, 3, 1, p), "native", "3x3 stride-1 convolution")
        if self.embeds_1x1 and k == 1 and s == 1 and p == 0:
            return LayerMapping(Descriptor(c, m, h, w, 3, 1, 1), "embedded-3x3",
                                "1x1 convolution embedded in a 3x3 kernel (zero taps)")
        return LayerMapping(None, "cpu", f"the Winograd engine runs 3x3 stride-1 convolutions only (this is {k}x{k} stride {s})")

    def map_fc(self, c, m) -> LayerMapping:
        return LayerMapping(Descriptor(c, m, 1, 1, 3, 1, 1), "embedded-3x3",
                            "fully-connected layer as a 3x3-embedded 1x1 convolution")

    def peak_ops_per_cycle(self, config) -> int:
        return 2 * config.pm * config.pn * config.m ** 2 * 9

    def pass_cycles(self, d: Descriptor, config) -> PassCycles:
        tile = config.m
        cg = math.ceil(d.in_channels / config.pn)
        ho, wo = d.out_height, d.out_width
        row = math.ceil(wo / tile) * cg
        # After the last tile the output buffer still drains its last strip of m rows.
        drain = self.DRAIN + math.ceil(min(tile, ho) * wo * config.pm / config.requant_lanes)
        return PassCycles(math.ceil(ho / tile) * row, row, min(tile + 2, d.height + d.padding), drain)

    def visit_cycles(self, d: Descriptor, config) -> VisitCycles:
        tile = config.m
        cg = math.ceil(d.in_channels / config.pn)
        ho, wo = d.out_height, d.out_width
        strips = math.ceil(ho / tile)
        # The filter buffer takes a bus word of taps per cycle (a tap wider than the bus arrives
        # over several beats); the beat completing a channel group stores it.
        taps = self.weight_word_taps(config)
        tap_beats = math.ceil(config.pm * config.pn * config.data_width / config.axi_data_width)
        weight_beats = math.ceil(9 * cg / taps) if taps > 1 else 9 * cg * tap_beats
        return VisitCycles(
            compute=math.ceil(wo / tile) * cg,
            strips=strips, strip_rows=tile, last_rows=ho - (strips - 1) * tile,
            prime_rows=min(tile + 2 - d.padding, d.height),
            weight_load=weight_beats,
            # The output buffer writes one pixel per cycle; the requantiser takes pm / lanes.
            pixel_cycles=max(1, math.ceil(config.pm / config.requant_lanes)),
            drain=self.DRAIN,
        )

    def weight_word_taps(self, config) -> int:
        # The filter buffer takes a bus word of taps per cycle (docs/architecture.md).
        return WinogradFilterBuffer.taps_per_word_for(config.pm, config.pn, config.data_width, config.axi_data_width)

    def weight_load_layout(self, config):
        return WinogradFilterBuffer.load_layout(config.pm, config.pn, config.data_width, self.weight_word_taps(config))

    def datapath(self, config) -> WinogradDatapath:
        return WinogradDatapath(config)

    def memories(self, config):
        tile, pm, pn, dw = config.m, config.pm, config.pn, config.data_width
        return {
            "tile_buffer": WinogradTileBuffer.memory_shapes(tile, pn, dw, config.max_width, config.max_channel_groups,
                                                            config.row_words),
            "weight_buffer": WinogradFilterBuffer.memory_shapes(pm, pn, dw, _filter_depth(config)),
            "output_buffer": OutputBuffer.memory_shapes(tile, pm, _numerics(config).output_width, config.max_width),
        }

    def multipliers(self, config) -> tuple[Multipliers, ...]:
        num = _numerics(config)
        return (Multipliers("ewmm_array", config.pm * config.pn * num.n ** 2, num.input_width, num.filter_width),)

    def components(self, config) -> dict[str, dict]:
        pm, pn, dw = config.pm, config.pn, config.data_width
        num = _numerics(config)
        n = num.n
        return {
            "winograd_input_transform": {"pn": pn, "adder_bits": num.input_transform_adders * num.input_width},
            "winograd_filter_transform": {"pm": pm, "pn": pn, "adder_bits": num.filter_transform_adders * num.filter_width},
            "ewmm_array": {"pm": pm, "pn": pn, "n": n, "product": num.product_width, "acc": num.acc_width},
            "winograd_output_transform": {"pm": pm, "adder_bits": num.output_transform_adders * num.acc_width},
            "tile_buffer": {"pn": pn, "n": n, "dw": dw, "depth": config.row_words},
            "weight_buffer": {"pm": pm, "pn": pn, "dw": 9 * dw, "depth": math.ceil(config.weight_depth / 9)},
            "output_buffer": {"pm": pm, "n": n},
        }


#: The Winograd engine's description.
WINOGRAD = WinogradEngine()
