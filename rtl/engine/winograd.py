"""The Winograd F(m,3) datapath: tile buffer -> input transform -> filter join -> EWMM ->
output transform -> output buffer."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from ..buffers.filter_buffer import WinogradFilterBuffer, tile_flags_layout
from ..buffers.output_buffer import OutputBuffer
from ..buffers.tile_buffer import WinogradTileBuffer
from ..config import AcceleratorConfig
from ..pe.ewmm_array import EwmmArray
from ..pe.winograd_input_transform import WinogradInputTransform
from ..pe.winograd_output_transform import WinogradOutputTransform
from .interface import datapath_members

__all__ = ["WinogradDatapath"]


class WinogradDatapath(wiring.Component):
    """Winograd engine behind :func:`rtl.engine.interface.datapath_members` (3x3, stride 1).

    Per pass the tile buffer emits one ``n x n x pn`` tile per cycle in the order
    ``ty, tx, cg``; the input transform and the transformed filters of that channel group feed
    the ``pm x pn x n^2`` EWMM array, which accumulates over channel groups; the output transform
    divides exactly by ``s^2``; the output buffer turns ``m x m`` tiles back into raster pixels
    for the shared requantiser. Filters are transformed on chip as they load (ping-pong).
    """

    def __init__(self, config: AcceleratorConfig):
        if config.engine != "winograd":
            raise ValueError("WinogradDatapath needs a config with engine='winograd'")
        self.config = config
        m, pm, pn, dw = config.m, config.pm, config.pn, config.data_width
        # Channel groups are padded to pn channels, so the worst case counts them all.
        max_ch = config.max_channel_groups * pn
        self.depth = max(1, config.weight_depth // 9)
        self.flags = tile_flags_layout(self.depth if self.depth >= config.max_channel_groups else config.max_channel_groups)
        self.input_transform = WinogradInputTransform(m, pn=pn, data_width=dw, flags_width=self.flags.size)
        self.ewmm = EwmmArray(m, pm=pm, pn=pn, data_width=dw, max_channels=max_ch, flags_width=1)
        self.output_transform = WinogradOutputTransform(m, pm=pm, data_width=dw, max_channels=max_ch,
                                                        flags_width=1, in_width=self.ewmm.acc_width)
        self.acc_width = self.output_transform.out_width
        super().__init__(datapath_members(config, self.acc_width))

    def elaborate(self, platform):
        mod = Module()
        cfg = self.config
        m, pm, pn, dw = cfg.m, cfg.pm, cfg.pn, cfg.data_width
        mod.submodules.tiles = tb = WinogradTileBuffer(m, pn, dw, cfg.max_width, cfg.max_channel_groups,
                                                       cfg.row_words, max_height=cfg.max_height)
        mod.submodules.itf = itf = self.input_transform
        mod.submodules.filters = fb = WinogradFilterBuffer(m, pm, pn, dw, max(self.depth, cfg.max_channel_groups),
                                                           itf.out_width)
        mod.submodules.ewmm = ewmm = self.ewmm
        mod.submodules.otf = otf = self.output_transform
        mod.submodules.out = ob = OutputBuffer(m, pm, self.acc_width, cfg.max_width, max_height=cfg.max_height)

        wiring.connect(mod, wiring.flipped(self.x), tb.i)
        wiring.connect(mod, wiring.flipped(self.w), fb.load)
        # Tile -> input transform, carrying cg/first/last/end as flags.
        flags = Signal(fb.flags_layout)
        mod.d.comb += [
            flags.cg.eq(tb.o.payload.cg), flags.first.eq(tb.o.payload.first),
            flags.last.eq(tb.o.payload.last), flags.end.eq(tb.o.payload.end),
            itf.i.payload.d.eq(tb.o.payload.tile),
            itf.i.payload.flags.eq(flags),
            itf.i.valid.eq(tb.o.valid),
            tb.o.ready.eq(itf.i.ready),
            fb.i.payload.v.eq(itf.o.payload.v),
            fb.i.payload.flags.eq(itf.o.payload.flags),
            fb.i.valid.eq(itf.o.valid),
            itf.o.ready.eq(fb.i.ready),
        ]
        wiring.connect(mod, fb.o, ewmm.i)
        wiring.connect(mod, ewmm.o, otf.i)
        mod.d.comb += [
            ob.i.payload.eq(otf.o.payload.y),
            ob.i.valid.eq(otf.o.valid),
            otf.o.ready.eq(ob.i.ready),
        ]
        wiring.connect(mod, ob.o, wiring.flipped(self.o))
        mod.d.comb += [
            tb.cfg.width.eq(self.cfg.width), tb.cfg.height.eq(self.cfg.height),
            tb.cfg.channel_groups.eq(self.cfg.channel_groups), tb.cfg.padding.eq(self.cfg.padding),
            ob.cfg.width.eq(self.cfg.out_width), ob.cfg.height.eq(self.cfg.out_height),
            tb.start.eq(self.start), ob.start.eq(self.start),
            self.busy.eq(tb.busy | ob.busy),
            self.pass_end.eq(fb.i.valid & fb.i.ready & fb.i.payload.flags.end),
            self.active.eq(ewmm.i.valid & ewmm.i.ready),
            self.starved.eq(~fb.o.valid),
        ]
        return mod
