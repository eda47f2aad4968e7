"""Ping-pong buffer of Winograd-transformed filters, joined with transformed input tiles."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..pe.ewmm_array import ewmm_layouts
from ..pe.winograd_filter_transform import WinogradFilterTransform
from ..pe.winograd_input_transform import tile_layout
from .geometry import MemoryShape
from .ping_pong import PingPongBanks
from .tile_buffer import tile_flags_layout
from .weight_buffer import weight_load_layout

__all__ = ["WinogradFilterBuffer"]


class WinogradFilterBuffer(wiring.Component):
    """Keeps each group's raw 3x3 filters (int8 in BRAM, ping-pong) and serves them, transformed
    on the fly, to the EWMM array.

    Ports
        ``load``: In(stream(``weight_load_layout(pm, pn, data_width)``)): the raw weights of one
        output-channel group, ``CG*9`` taps in the DDR order ``cg, u, v`` (each a ``pm x pn``
        word), ``last`` on the final tap. Every 9 taps are stored as one word: the ``pm x pn``
        3x3 filters of one channel group, still ``data_width`` bits per weight.
        ``i``: In(stream ``{"v": n x n x pn signed(v_width), "flags": tile_flags_layout(depth)}``):
        the input transform's output.
        ``o``: Out(stream of the :class:`EwmmArray` input layout, no flags): ``v``,
        ``u = G' g G'^T`` of the front bank's filters of channel group ``cg``
        (:class:`WinogradFilterTransform`, shift-add constants, no DSP), ``first``/``last`` from
        the flags.

    Banks
        As :class:`WeightBuffer`: the back bank fills while the front one feeds; an ``i`` beat is
        accepted only while the front bank holds a complete group; the beat with ``end``
        releases it; a half-loaded group is never exposed. ``loaded``: Out(1) pulses when a
        bank has been filled with a complete group (a visit's filters are ready).

    Timing
        II=1 on ``i``/``o``; ``LATENCY`` = 1 (BRAM read) + the filter transform's 2 cycles.
        Back-pressure: the read stage advances when its output register is empty or taken by the
        transform, whose own global advance follows ``o.ready``. The load side takes one raw tap
        per cycle plus one write cycle per channel group.
    """

    def __init__(self, m: int, pm: int, pn: int, data_width: int, depth: int, v_width: int):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.m, self.pm, self.pn, self.data_width, self.depth = m, pm, pn, data_width, depth
        self.n = m + 2
        self.v_width = v_width
        self.flags_layout = tile_flags_layout(depth)
        self.v_layout = tile_layout(self.n, pn, signed(v_width))
        # The transform carries the tile and its flags alongside the filters it transforms.
        self.carry_layout = data.StructLayout({"v": self.v_layout, "first": 1, "last": 1})
        self.transform = WinogradFilterTransform(m, pm=pm, pn=pn, data_width=data_width, flags=self.carry_layout)
        self.u_width = self.transform.out_width
        self.LATENCY = 1 + self.transform.LATENCY
        self.in_layout = data.StructLayout({"v": self.v_layout, "flags": self.flags_layout})
        self.out_layout, _ = ewmm_layouts(pm, pn, self.n, v_width, self.u_width, 1, 0)
        super().__init__({
            "load": In(stream.Signature(weight_load_layout(pm, pn, data_width))),
            "i": In(stream.Signature(self.in_layout)),
            "o": Out(stream.Signature(self.out_layout)),
            "loaded": Out(1),
        })

    @staticmethod
    def memory_shapes(pm: int, pn: int, data_width: int, depth: int) -> tuple[MemoryShape, ...]:
        """Both banks in one memory; a word holds the ``pm x pn`` raw 3x3 filters of a channel group."""
        return (MemoryShape("filter_buffer", 9 * pm * pn * data_width, 2 * depth),)

    def elaborate(self, platform):
        m = Module()
        depth, pm, pn = self.depth, self.pm, self.pn
        m.submodules.transform = ft = self.transform
        raw_shape = ft.i.payload.g.shape()
        (shape,) = self.memory_shapes(pm, pn, self.data_width, depth)

        m.submodules.mem = mem = Memory(shape=raw_shape, depth=shape.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        m.submodules.banks = banks = PingPongBanks(depth)

        # ---- load: gather the 9 taps of a channel group, then write the raw word ------------
        gathered = Signal(raw_shape)
        tap = Signal(range(9))
        pending = Signal()       # a complete channel group waits to be written
        pending_last = Signal()  # ... and it is the group's final one
        load_fire = self.load.valid & self.load.ready
        m.d.comb += self.load.ready.eq(~pending & ~banks.back_full)
        with m.If(load_fire):
            for u in range(3):
                for v in range(3):
                    with m.If(tap == u * 3 + v):
                        for o in range(pm):
                            for c in range(pn):
                                m.d.sync += gathered[o][c][u][v].eq(self.load.payload.data[o][c])
            m.d.sync += tap.eq(Mux(tap == 8, 0, tap + 1))
            with m.If(tap == 8):
                m.d.sync += [pending.eq(1), pending_last.eq(self.load.payload.last)]
        # The bank cannot fill while a group is pending: load.ready checked it.
        m.d.comb += [
            wr.addr.eq(banks.write_addr), wr.data.eq(gathered), wr.en.eq(pending),
            banks.store.eq(pending), banks.store_last.eq(pending_last),
            self.loaded.eq(pending & pending_last),
        ]
        with m.If(pending):
            m.d.sync += pending.eq(0)

        # ---- i: read the raw filters of the tile's channel group from the front bank --------
        read_valid = Signal()
        carry = Signal(self.carry_layout)
        advance = Signal()
        front_full = banks.front_full
        flags = self.i.payload.flags
        m.d.comb += [advance.eq(~read_valid | ft.i.ready), self.i.ready.eq(advance & front_full)]
        i_fire = self.i.valid & self.i.ready
        m.d.comb += [rd.addr.eq(banks.read_base + flags.cg), rd.en.eq(advance),
                     banks.release.eq(i_fire & flags.end)]
        with m.If(advance):
            m.d.sync += [
                read_valid.eq(self.i.valid & front_full),
                carry.v.eq(self.i.payload.v), carry.first.eq(flags.first), carry.last.eq(flags.last),
            ]

        # ---- transform on the fly, then out to the EWMM array -------------------------------
        out_carry = ft.o.payload.flags
        m.d.comb += [
            ft.i.valid.eq(read_valid), ft.i.payload.g.eq(rd.data), ft.i.payload.flags.eq(carry),
            self.o.valid.eq(ft.o.valid), ft.o.ready.eq(self.o.ready),
            self.o.payload.v.eq(out_carry.v), self.o.payload.u.eq(ft.o.payload.u),
            self.o.payload.first.eq(out_carry.first), self.o.payload.last.eq(out_carry.last),
        ]
        return m
