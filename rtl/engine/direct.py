"""The direct-convolution datapath: line buffer -> weight ping-pong buffer -> MAC array."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from ..buffers.line_buffer import DirectLineBuffer
from ..buffers.weight_buffer import WeightBuffer
from ..config import AcceleratorConfig
from ..pe.mac_array import MacArray
from .interface import datapath_members

__all__ = ["DirectDatapath"]


class DirectDatapath(wiring.Component):
    """Direct engine behind :func:`rtl.engine.interface.datapath_members`.

    Per pass the line buffer emits one pn-vector tap per cycle (for each output pixel: every
    channel group, every kernel tap), the weight buffer joins it with the ``pm x pn`` weight
    word of that tap, and the MAC array accumulates ``K*K*CG`` beats per pixel (II=1).
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        self.mac = MacArray(config.pm, config.pn, config.data_width, max_terms=config.max_terms)
        self.acc_width = self.mac.acc_width
        super().__init__(datapath_members(config, self.acc_width))

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
            self.active.eq(mac.i.valid & mac.i.ready),
            self.starved.eq(~wb.o.valid),
        ]
        return m
