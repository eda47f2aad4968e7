"""Ping-pong buffer of Winograd-transformed filters, joined with transformed input tiles."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..pe.ewmm_array import ewmm_layouts
from ..pe.winograd_filter_transform import WinogradFilterTransform
from ..pe.winograd_input_transform import tile_layout
from .weight_buffer import weight_load_layout

__all__ = ["WinogradFilterBuffer", "tile_flags_layout"]


def tile_flags_layout(max_channel_groups: int) -> data.StructLayout:
    """Flags travelling with a tile: its channel group, first/last of the channel accumulation,
    and the end of the pass (fields LSB first)."""
    return data.StructLayout({"cg": range(max(max_channel_groups, 2)), "first": 1, "last": 1, "end": 1})


class WinogradFilterBuffer(wiring.Component):
    """Transforms each group's 3x3 filters on chip and serves them to the EWMM array.

    Ports
        ``load``: In(stream(``weight_load_layout(pm, pn, data_width)``)): the raw weights of one
        output-channel group, ``CG*9`` taps in the DDR order ``cg, u, v`` (each a ``pm x pn``
        word), ``last`` on the final tap. Every 9 taps make the ``pm x pn`` filters of one
        channel group; :class:`WinogradFilterTransform` (shift-add constants, no DSP) turns them
        into ``U[cg]``, written to the back bank. Weights stay ``data_width`` bits in DDR.
        ``i``: In(stream ``{"v": n x n x pn signed(v_width), "flags": tile_flags_layout(depth)}``):
        the input transform's output.
        ``o``: Out(stream of the :class:`EwmmArray` input layout with 1 flag bit): ``v``,
        ``u = front[cg]``, ``first``/``last`` from the flags, ``flags`` = ``end``.

    Banks
        As :class:`WeightBuffer`: the back bank fills while the front one feeds; an ``i`` beat is
        accepted only while the front bank holds a complete group; the beat with ``end``
        releases it; a half-transformed group is never exposed.

    Timing
        Read latency 1 (hidden; read enable = pipeline advance), II=1 on ``i``/``o``. The load
        side takes one raw tap per cycle (9 cycles and one transform per channel group).
    """

    LATENCY = 1

    def __init__(self, m: int, pm: int, pn: int, data_width: int, depth: int, v_width: int):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.m, self.pm, self.pn, self.data_width, self.depth = m, pm, pn, data_width, depth
        self.n = m + 2
        self.transform = WinogradFilterTransform(m, pm=pm, pn=pn, data_width=data_width, flags_width=1)
        self.v_width = v_width
        self.u_width = self.transform.out_width
        self.flags_layout = tile_flags_layout(depth)
        self.in_layout = data.StructLayout({"v": tile_layout(self.n, pn, signed(v_width)), "flags": self.flags_layout})
        self.out_layout, _ = ewmm_layouts(pm, pn, self.n, v_width, self.u_width, 1, 1)
        super().__init__({
            "load": In(stream.Signature(weight_load_layout(pm, pn, data_width))),
            "i": In(stream.Signature(self.in_layout)),
            "o": Out(stream.Signature(self.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        depth, pm, pn = self.depth, self.pm, self.pn
        m.submodules.transform = ft = self.transform

        # ---- load: gather the 9 taps of a channel group into the transform's input ------------
        gathered = Signal(ft.i.payload.g.shape())
        tap = Signal(range(9))
        pending = Signal()      # a complete channel group waits for the transform
        pending_last = Signal()  # ... and it is the group's final one
        load_fire = self.load.valid & self.load.ready
        m.d.comb += self.load.ready.eq(~pending)
        with m.If(load_fire):
            for u in range(3):
                for v in range(3):
                    with m.If(tap == u * 3 + v):
                        for o in range(pm):
                            for c in range(pn):
                                m.d.sync += gathered[o][c][u][v].eq(self.load.payload.word[o][c])
            m.d.sync += tap.eq(Mux(tap == 8, 0, tap + 1))
            with m.If(tap == 8):
                m.d.sync += [pending.eq(1), pending_last.eq(self.load.payload.last)]
        m.d.comb += [ft.i.valid.eq(pending), ft.i.payload.g.eq(gathered), ft.i.payload.flags.eq(pending_last)]
        with m.If(ft.i.valid & ft.i.ready):
            m.d.sync += pending.eq(0)

        # ---- transformed words into the back bank --------------------------------------------
        m.submodules.mem = mem = Memory(shape=ft.o.payload.u.shape(), depth=2 * depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        full = Signal(2)
        wp = Signal()
        rp = Signal()
        waddr = Signal(range(2 * depth))
        m.d.comb += ft.o.ready.eq(~full.bit_select(wp, 1))
        store = ft.o.valid & ft.o.ready
        store_last = ft.o.payload.flags[0]
        m.d.comb += [wr.addr.eq(waddr), wr.data.eq(ft.o.payload.u), wr.en.eq(store)]
        with m.If(store):
            with m.If(store_last):
                m.d.sync += [wp.eq(~wp), waddr.eq(Mux(wp, 0, depth))]
            with m.Else():
                m.d.sync += waddr.eq(waddr + 1)

        # ---- i: join each transformed tile with U[cg] of the front bank ------------------------
        advance = Signal()
        front_full = full.bit_select(rp, 1)
        flags = self.i.payload.flags
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance & front_full)]
        i_fire = self.i.valid & self.i.ready
        cg = flags.cg
        m.d.comb += [rd.addr.eq(Mux(rp, depth, 0) + cg), rd.en.eq(advance)]
        release = i_fire & flags.end
        with m.If(release):
            m.d.sync += rp.eq(~rp)
        set_mask = Mux(store & store_last, Mux(wp, 0b10, 0b01), 0)
        clr_mask = Mux(release, Mux(rp, 0b10, 0b01), 0)
        m.d.sync += full.eq((full | set_mask) & ~clr_mask)

        v = Signal.like(self.i.payload.v)
        first, last, end = Signal(), Signal(), Signal()
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(self.i.valid & front_full),
                v.eq(self.i.payload.v), first.eq(flags.first), last.eq(flags.last), end.eq(flags.end),
            ]
        m.d.comb += [
            self.o.payload.v.eq(v), self.o.payload.u.eq(rd.data),
            self.o.payload.first.eq(first), self.o.payload.last.eq(last), self.o.payload.flags.eq(end),
        ]
        return m
