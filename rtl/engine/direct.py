"""The direct-convolution engine: its datapath (line buffer -> weight ping-pong buffer -> MAC
array) and its description (:data:`DIRECT`)."""

from __future__ import annotations

import math

from amaranth.hdl import Module
from amaranth.lib import wiring

from ..buffers.line_buffer import DirectLineBuffer
from ..buffers.weight_buffer import WeightBuffer, weight_load_layout
from ..descriptor import KERNEL_SIZES, STRIDES, Descriptor
from ..pe.mac_array import MacArray
from .description import EngineDescription, LayerMapping, Multipliers, PassCycles
from .signature import DatapathSignature

__all__ = ["DirectDatapath", "DirectEngine", "DIRECT"]


class DirectDatapath(wiring.Component):
    """Direct engine behind :class:`rtl.engine.signature.DatapathSignature`.

    Per pass the line buffer emits one pn-vector tap per cycle (for each output pixel: every
    channel group, every kernel tap), the weight buffer joins it with the ``pm x pn`` weight
    word of that tap, and the MAC array accumulates ``K*K*CG`` beats per pixel (II=1).
    """

    def __init__(self, config):
        self.config = config
        self.mac = MacArray(config.pm, config.pn, config.data_width, max_terms=config.max_terms)
        #: The PE array (the engine's multipliers), for benches that synthesise it alone.
        self.pe = self.mac
        self.acc_width = self.mac.acc_width
        super().__init__(DatapathSignature(config, self.acc_width))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.lb = lb = DirectLineBuffer(cfg.pn, cfg.data_width, cfg.max_width, cfg.max_channel_groups,
                                                cfg.max_kernel, cfg.max_stride, row_words=cfg.row_words,
                                                max_height=cfg.max_height)
        m.submodules.wb = wb = WeightBuffer(cfg.pm, cfg.pn, cfg.data_width, cfg.weight_depth, tap_width=lb.tap_width)
        m.submodules.mac = mac = self.mac
        wiring.connect(m, wiring.flipped(self.x), lb.i)
        wiring.connect(m, wiring.flipped(self.w), wb.load)
        wiring.connect(m, lb.o, wb.i)
        wiring.connect(m, wb.o, mac.i)
        wiring.connect(m, mac.o, wiring.flipped(self.o))
        m.d.comb += [
            lb.cfg.width.eq(self.cfg.width), lb.cfg.height.eq(self.cfg.height),
            lb.cfg.channel_groups.eq(self.cfg.channel_groups), lb.cfg.kernel.eq(self.cfg.kernel),
            lb.cfg.stride.eq(self.cfg.stride), lb.cfg.padding.eq(self.cfg.padding),
            lb.start.eq(self.start),
            self.busy.eq(lb.busy),
            self.pass_end.eq(lb.o.valid & lb.o.ready & lb.o.payload.end),
            self.visit_end.eq(self.pass_end),       # a pass is one group: one visit
            # The line buffer takes the input as it comes, and needs all of it.
            self.x_rows.eq(self.cfg.height), self.x_need.eq(self.cfg.height),
            self.active.eq(mac.i.valid & mac.i.ready),
            self.starved.eq(~wb.o.valid),
        ]
        return m


class DirectEngine(EngineDescription):
    """Any kernel up to the build's ``max_kernel``, stride 1 or 2: one ``pm x pn`` weight word per
    cycle against one pn-channel tap, ``K*K*ceil(C/pn)`` beats per output pixel."""

    name = "direct"
    code = 0
    title = "direct"

    def variants(self, data_width: int) -> tuple[int, ...]:
        return (0,)

    def config_problems(self, config) -> list[str]:
        if config.m != 0:
            return [f"m is the Winograd tile size and must be 0 for the direct engine, got {config.m}"]
        return []

    def tag(self, m: int) -> str:
        return "direct"

    def label(self, m: int) -> str:
        return "direct"

    def map_conv(self, c, m, h, w, k, s, p, max_kernel) -> LayerMapping:
        if k > max_kernel:
            why = f"the engine's maximum of {KERNEL_SIZES[-1]}" if max_kernel >= KERNEL_SIZES[-1] \
                else f"this build's max_kernel {max_kernel}"
            return LayerMapping(None, "cpu", f"kernel {k}x{k} exceeds {why}")
        if s > STRIDES[-1]:
            return LayerMapping(None, "cpu", f"stride {s} exceeds the engine's maximum stride {STRIDES[-1]}")
        if p >= k:
            return LayerMapping(None, "cpu", f"padding {p} is not smaller than the kernel {k}")
        return LayerMapping(Descriptor(c, m, h, w, k, s, p), "native", f"{k}x{k} stride-{s} convolution")

    def map_fc(self, c, m) -> LayerMapping:
        return LayerMapping(Descriptor(c, m, 1, 1, 1, 1, 0), "fc-as-1x1", "fully-connected layer as a 1x1 convolution")

    def peak_ops_per_cycle(self, config) -> int:
        return 2 * config.pm * config.pn

    #: Cycles from the last tap into the MAC array to its sums leaving it (MacArray.LATENCY).
    DRAIN = MacArray.LATENCY

    def pass_cycles(self, d: Descriptor, config) -> PassCycles:
        cg = math.ceil(d.in_channels / config.pn)
        row = d.out_width * cg * d.kernel ** 2
        # The line buffer's ring holds DirectLineBuffer.rows input rows: the last input row goes in
        # once the rows `ring` before it are no longer read, i.e. when output row
        # (H - 1 - ring + P) // S + 1 starts; the rows after it overlap the next group's weights.
        ring = DirectLineBuffer.ring_rows(config.max_kernel, config.max_stride)
        first = max(0, (d.height - 1 - ring + d.padding) // d.stride + 1)
        load_rows = max(1, d.out_height - first)
        return PassCycles(d.out_height * row, row, min(d.kernel, d.height + d.padding), self.DRAIN, load_rows)

    def weight_load_layout(self, config):
        return weight_load_layout(config.pm, config.pn, config.data_width)

    def datapath(self, config) -> DirectDatapath:
        return DirectDatapath(config)

    def memories(self, config):
        return {
            "line_buffer": DirectLineBuffer.memory_shapes(config.pn, config.data_width, config.max_kernel,
                                                          config.max_stride, config.row_words),
            "weight_buffer": WeightBuffer.memory_shapes(config.pm, config.pn, config.data_width, config.weight_depth),
        }

    def multipliers(self, config) -> tuple[Multipliers, ...]:
        return (Multipliers("mac_array", config.pm * config.pn, config.data_width, config.data_width),)

    def components(self, config) -> dict[str, dict]:
        pm, pn, dw = config.pm, config.pn, config.data_width
        (line,) = self.memories(config)["line_buffer"]
        return {
            "mac_array": {"pm": pm, "pn": pn, "dw": dw, "acc": config.acc_width},
            "line_buffer": {"pn": pn, "dw": dw, "depth": line.depth},
            "weight_buffer": {"pm": pm, "pn": pn, "dw": dw, "depth": config.weight_depth},
        }


#: The direct engine's description.
DIRECT = DirectEngine()
