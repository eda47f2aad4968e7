"""Winograd output buffer: m x m x pm output tiles in, raster-order pm-vectors out (double-buffered)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..pe.ewmm_array import transform_sums_layout
from ..pe.passthrough import flags_shape
from ..pe.pixel import accumulator_pixel_layout
from ..winograd_math import WINOGRAD_TILES
from .geometry import MemoryShape

__all__ = ["OutputBuffer", "output_config_layout", "output_tile_layout"]


def output_config_layout(max_width: int, max_height: int, max_groups: int = 1) -> data.StructLayout:
    """Runtime configuration: the *output* map's ``width`` Wo and ``height`` Ho (Winograd F(m,3):
    ``Wo = W + 2P - 2``) and ``groups`` G, the output-channel groups that visit each strip of
    ``m`` rows in turn. Fields LSB first in this order."""
    return data.StructLayout({"width": range(max_width + 1), "height": range(max_height + 1),
                              "groups": range(max_groups + 1)})


def output_tile_layout(m: int, pm: int, data_width: int) -> data.StructLayout:
    """One output tile ``y[ch][r][c]`` (pm x m x m) with no flags: the output layout of
    :class:`rtl.pe.winograd_output_transform.WinogradOutputTransform` built with ``flags=0``, so
    its stream connects directly."""
    return data.StructLayout({"y": transform_sums_layout(pm, m, data_width), "flags": flags_shape(0)})


class OutputBuffer(wiring.Component):
    """Reorders the tiles of one output-channel group into raster-order pixels.

    Dataflow
        ``i`` receives the ``Ty*G*Tx`` output tiles of one pass (``Ty = ceil(Ho/m)``,
        ``Tx = ceil(Wo/m)``, ``G`` groups) in the order ``ty, g, tx``; ``y[ch][r][c]`` is output
        pixel ``(ty*m + r, tx*m + c)`` of channel ``ch`` of group ``g``. Pixels outside
        ``Ho x Wo`` (partial edge tiles) are dropped. ``o`` emits, for each strip of m rows (the
        last one clipped to Ho) and each group, the strip's pixels in raster order, one
        pm-vector per beat, row by row, ``Wo`` pixels each.

    Ports
        ``cfg``: In(:func:`output_config_layout`), sampled when ``start`` (In(1)) is high while
        ``busy`` (Out(1)) is low; ``busy`` stays high until the last pixel has been handed over.
        Valid configs: 1 <= Wo <= max_width, 1 <= Ho <= max_height.
        ``i``: In(stream(:func:`output_tile_layout`)).
        ``o``: Out(stream(``accumulator_pixel_layout(pm, data_width)``)) -- the payload of
        ``MacArray.o`` and of the requantiser's input, so the two engines share the back end;
        ``last`` on the final pixel of each strip (one visit: one group's ``m`` rows).

    Storage
        One ``amaranth.lib.memory.Memory`` of ``2 * m * max_width`` pm-vectors: two strips of
        ``m`` rows (row stride ``max_width``), filled and drained alternately (double buffer):
        tiles fill strip ``ty mod 2`` while the other strip drains; a strip drains once all its
        tiles are in, and refills once fully drained.

    Timing
        ``o``: one pixel per cycle (II=1) while a full strip is available; memory read latency
        1 cycle (read enable = pipeline advance, so the data holds under back-pressure).
        ``i``: the offered tile's pixels inside the map are written one per cycle straight
        from ``i.payload`` (which the stream rules hold stable until the handshake), and the
        handshake happens with the last of them: a tile takes ``m*m`` cycles (fewer at the
        edges) -- the drain rate, which the write master and requantiser (one pixel per cycle)
        set anyway -- so the storage needs one BRAM write port instead of ``m*m``, and no tile
        register. ``i.ready`` does not wait for ``i.valid``. Tiles offered back to back fill a
        strip without bubbles; with tiles arriving in time, a strip fills while the previous
        one drains and ``o`` streams continuously.
    """

    #: Cycles from a pixel's read (issue) to ``o`` (memory read latency).
    LATENCY = 1

    def __init__(self, m: int, pm: int, data_width: int, max_width: int, *, max_height: int = 4096,
                 max_groups: int = 1):
        if m not in WINOGRAD_TILES:
            raise ValueError(f"m must be one of {WINOGRAD_TILES}, got {m}")
        if pm < 1:
            raise ValueError(f"pm must be at least 1, got {pm}")
        if data_width < 2:
            raise ValueError(f"data_width must be at least 2, got {data_width}")
        if max_width < 1 or max_height < 1:
            raise ValueError(f"max_width and max_height must be at least 1, got {max_width}, {max_height}")
        self.m, self.pm, self.data_width = m, pm, data_width
        self.max_width, self.max_height = max_width, max_height
        #: Memory depth in pm-vectors (two strips of m rows).
        (shape,) = self.memory_shapes(m, pm, data_width, max_width)
        self.depth = shape.depth
        self.max_groups = max_groups
        self.cfg_layout = output_config_layout(max_width, max_height, max_groups)
        self.tile_layout = output_tile_layout(m, pm, data_width)
        self.pixel_layout = data.ArrayLayout(signed(data_width), pm)
        self.out_layout = accumulator_pixel_layout(pm, data_width)
        super().__init__({
            "cfg": In(self.cfg_layout),
            "start": In(1),
            "busy": Out(1),
            "i": In(stream.Signature(self.tile_layout)),
            "o": Out(stream.Signature(self.out_layout)),
        })

    @staticmethod
    def memory_shapes(m: int, pm: int, data_width: int, max_width: int) -> tuple[MemoryShape, ...]:
        """Two strips of ``m`` rows of ``max_width`` pm-vectors of ``data_width``-bit values."""
        return (MemoryShape("output_buffer", pm * data_width, 2 * m * max_width),)

    def elaborate(self, platform):
        m = Module()
        tile, pm, stride = self.m, self.pm, self.max_width
        strip = tile * stride

        m.submodules.mem = mem = Memory(shape=self.pixel_layout, depth=self.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        # Every decision a handshake depends on is a register computed a step ahead: a pixel's
        # "last column / last row of its tile" and a tile's "last of the strip" come from the
        # columns and rows left (``Wo-1 - x0``, ``Ho-1 - y0``) compared with constants when the
        # previous pixel, tile or strip moves on, so ``i.ready`` is an AND of a few registers.
        Wom1 = Signal(range(self.max_width))
        Gm1 = Signal(range(self.max_groups))
        x_one = Signal()                     # Wo == 1
        lx0 = Signal()                       # a strip's first tile is also its last (Wo <= m)
        cmax0 = Signal(range(tile))          # ... and its last column
        g_one = Signal()                     # one group
        full = Signal(2)

        # ---- writer state ------------------------------------------------------------------------
        w_run = Signal()
        c = Signal(range(tile))
        r = Signal(range(tile))
        lc, lr = Signal(), Signal()          # the current pixel is its tile's last column / row
        xrem = Signal(range(self.max_width))  # Wo-1 - (the tile's first column)
        yrem = Signal(range(self.max_height))  # Ho-1 - (the strip's first row)
        lx, ly, lg = Signal(), Signal(), Signal()  # last tile of the strip, last strip, last group
        cmax, rmax = Signal(range(tile)), Signal(range(tile))  # the tile's last column / row
        wreg = Signal()
        waddr = Signal(range(self.depth))    # the current pixel
        wrow = Signal(range(self.depth))     # column 0 of the tile's current row
        xbase = Signal(range(self.depth))    # the tile's first pixel
        wg = Signal(range(self.max_groups))  # group of the strip being filled

        # ---- reader state ------------------------------------------------------------------------
        r_run = Signal()
        rreg = Signal()
        # Columns / rows left after the current pixel (down-counters: "last" next is a compare
        # of a register with a constant, not of a sum with a register).
        xleft = Signal(range(self.max_width))
        rrleft = Signal(range(tile))
        last_x, last_rr = Signal(), Signal()
        ryrem = Signal(range(self.max_height))
        rly, rlg = Signal(), Signal()
        rrmax = Signal(range(tile))
        raddr = Signal(range(self.depth))
        rrow = Signal(range(self.depth))
        rgleft = Signal(range(self.max_groups))  # groups left to drain after this strip's group

        busy = Signal()
        m.d.comb += [busy.eq(w_run | r_run | self.o.valid), self.busy.eq(busy)]

        with m.If(self.start & ~busy):
            wo1, ho1 = self.cfg.width - 1, self.cfg.height - 1
            first_lx, first_ly = self.cfg.width <= tile, self.cfg.height <= tile
            first_cmax = Mux(first_lx, wo1, tile - 1)
            first_rmax = Mux(first_ly, ho1, tile - 1)
            m.d.sync += [
                Wom1.eq(wo1), Gm1.eq(self.cfg.groups - 1),
                x_one.eq(self.cfg.width == 1), lx0.eq(first_lx), cmax0.eq(first_cmax),
                g_one.eq(self.cfg.groups == 1),
                w_run.eq(1), r_run.eq(1), full.eq(0),
                c.eq(0), r.eq(0), xrem.eq(wo1), yrem.eq(ho1),
                lx.eq(first_lx), ly.eq(first_ly), lg.eq(self.cfg.groups == 1),
                cmax.eq(first_cmax), rmax.eq(first_rmax),
                lc.eq(self.cfg.width == 1), lr.eq(self.cfg.height == 1),
                wreg.eq(0), waddr.eq(0), wrow.eq(0), xbase.eq(0), wg.eq(0),
                rreg.eq(0), xleft.eq(wo1), rrleft.eq(first_rmax), ryrem.eq(ho1), rly.eq(first_ly), rlg.eq(self.cfg.groups == 1),
                rrmax.eq(first_rmax), last_x.eq(self.cfg.width == 1), last_rr.eq(self.cfg.height == 1),
                raddr.eq(0), rrow.eq(0), rgleft.eq(self.cfg.groups - 1),
            ]

        # ---- writer: one pixel of the offered tile per cycle into strip wreg -------------------------
        # The tile stays on i (stable until its handshake) while its pixels are written; the
        # handshake happens with the last one.
        room = w_run & ~full.bit_select(wreg, 1)
        w_fire = room & self.i.valid
        strip_done = w_fire & lc & lr & lx
        offered = self.i.payload.y
        pixel = Signal(self.pixel_layout)
        with m.Switch(r):
            for rv in range(tile):
                with m.Case(rv):
                    with m.Switch(c):
                        for cv in range(tile):
                            with m.Case(cv):
                                m.d.comb += [pixel[ch].eq(offered[ch][rv][cv]) for ch in range(pm)]
        m.d.comb += [
            wr.addr.eq(waddr), wr.data.eq(pixel), wr.en.eq(w_fire),
            self.i.ready.eq(room & lc & lr),
        ]

        with m.If(w_fire):
            with m.If(~lc):
                m.d.sync += [c.eq(c + 1), waddr.eq(waddr + 1), lc.eq(c + 1 == cmax)]
            with m.Elif(~lr):
                m.d.sync += [c.eq(0), r.eq(r + 1), wrow.eq(wrow + stride), waddr.eq(wrow + stride),
                             lc.eq(cmax == 0), lr.eq(r + 1 == rmax)]
            with m.Elif(~lx):
                # The next tile of the strip: Wo-1 - x0 drops by m.
                next_lx = xrem < 2 * tile
                m.d.sync += [c.eq(0), r.eq(0), xrem.eq(xrem - tile), lx.eq(next_lx),
                             cmax.eq(Mux(next_lx, xrem - tile, tile - 1)), lc.eq(next_lx & (xrem == tile)),
                             lr.eq(rmax == 0),
                             xbase.eq(xbase + tile), wrow.eq(xbase + tile), waddr.eq(xbase + tile)]
            with m.Else():
                # The next group fills the same rows; after the last group the next strip.
                base = Mux(wreg, 0, strip)
                m.d.sync += [c.eq(0), r.eq(0), xrem.eq(Wom1), lx.eq(lx0), cmax.eq(cmax0), lc.eq(x_one),
                             wreg.eq(~wreg), xbase.eq(base), wrow.eq(base), waddr.eq(base)]
                with m.If(~lg):
                    m.d.sync += [wg.eq(wg + 1), lg.eq(wg + 1 == Gm1), lr.eq(rmax == 0)]
                with m.Else():
                    next_ly = yrem < 2 * tile
                    m.d.sync += [wg.eq(0), lg.eq(g_one), yrem.eq(yrem - tile), ly.eq(next_ly),
                                 rmax.eq(Mux(next_ly, yrem - tile, tile - 1)), lr.eq(next_ly & (yrem == tile))]
                    with m.If(ly):
                        m.d.sync += w_run.eq(0)

        # ---- reader: drain strip rreg in raster order -----------------------------------------------
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        a_valid = r_run & full.bit_select(rreg, 1)
        r_fire = a_valid & advance
        drained = r_fire & last_x & last_rr
        with m.If(r_fire):
            with m.If(~last_x):
                m.d.sync += [xleft.eq(xleft - 1), raddr.eq(raddr + 1), last_x.eq(xleft == 1)]
            with m.Elif(~last_rr):
                m.d.sync += [xleft.eq(Wom1), rrleft.eq(rrleft - 1), rrow.eq(rrow + stride), raddr.eq(rrow + stride),
                             last_x.eq(x_one), last_rr.eq(rrleft == 1)]
            with m.Else():
                base = Mux(rreg, 0, strip)
                m.d.sync += [xleft.eq(Wom1), rreg.eq(~rreg), rrow.eq(base), raddr.eq(base), last_x.eq(x_one)]
                with m.If(~rlg):
                    m.d.sync += [rgleft.eq(rgleft - 1), rlg.eq(rgleft == 1), rrleft.eq(rrmax), last_rr.eq(rrmax == 0)]
                with m.Else():
                    next_ly = ryrem < 2 * tile
                    next_rmax = Mux(next_ly, ryrem - tile, tile - 1)
                    m.d.sync += [rgleft.eq(Gm1), rlg.eq(g_one), ryrem.eq(ryrem - tile), rly.eq(next_ly),
                                 rrmax.eq(next_rmax), rrleft.eq(next_rmax),
                                 last_rr.eq(next_ly & (ryrem == tile))]
                    with m.If(rly):
                        m.d.sync += r_run.eq(0)

        # Strip flags: set when the writer completes a strip, cleared when the reader drains one.
        with m.If(~(self.start & ~busy)):
            set_mask = Mux(strip_done, Mux(wreg, 0b10, 0b01), 0)
            clr_mask = Mux(drained, Mux(rreg, 0b10, 0b01), 0)
            m.d.sync += full.eq((full | set_mask) & ~clr_mask)

        o_last = Signal()
        m.d.comb += [rd.addr.eq(raddr), rd.en.eq(advance), self.o.payload.data.eq(rd.data),
                     self.o.payload.last.eq(o_last)]
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(a_valid), o_last.eq(last_x & last_rr)]
        return m
