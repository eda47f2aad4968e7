"""Ping-pong buffer of Winograd-transformed filters, joined with transformed input tiles."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..dma.beats_to_words import word_layout
from ..pe.ewmm_array import ewmm_layouts
from ..pe.winograd_filter_transform import WinogradFilterTransform
from ..pe.winograd_input_transform import tile_layout
from .geometry import MemoryShape
from .ping_pong import PingPongBanks
from .tile_buffer import tile_flags_layout

__all__ = ["WinogradFilterBuffer"]


class WinogradFilterBuffer(wiring.Component):
    """Keeps each group's raw 3x3 filters (int8 in BRAM, ping-pong) and serves them, transformed
    on the fly, to the EWMM array.

    Ports
        ``load``: In(stream(:meth:`load_layout`)): the raw weights of one output-channel group,
        ``CG*9`` taps in the DDR order ``cg, u, v`` (each a ``pm x pn`` word), ``taps_per_word``
        taps per beat (``data[t]``, the first tap at ``t = 0``), ``last`` on the beat with the
        final tap (taps after it are padding and dropped). Every 9 taps are stored as one word:
        the ``pm x pn`` 3x3 filters of one channel group, still ``data_width`` bits per weight.
        ``i``: In(stream ``{"v": n x n x pn signed(v_width), "flags": tile_flags_layout(depth)}``):
        the input transform's output.
        ``o``: Out(stream of the :class:`EwmmArray` input layout, no flags): ``v``,
        ``u = G' g G'^T`` of the front bank's filters of channel group ``cg``
        (:class:`WinogradFilterTransform`, shift-add constants, no DSP), ``first``/``last`` from
        the flags.

    Banks
        As :class:`WeightBuffer`: the back bank fills while the front one feeds; the ``i`` beat
        with ``end`` releases the front bank. ``loaded``: Out(1) pulses when a bank has been
        filled with a complete group (a visit's filters are ready). Contract: a visit's first
        ``i`` beat arrives only after its ``loaded`` pulse (the datapath issues a visit's tiles
        on that credit), so ``i.ready`` does not wait for the bank -- it would put the bank
        flags into the ready path of the whole tile pipeline -- and a half-loaded group is never
        read.

    Timing
        II=1 on ``i``/``o``; ``LATENCY`` = 2 (BRAM read, its data registered) + the filter
        transform's 3 cycles.
        Back-pressure: the read stage advances when its output register is empty or taken by the
        transform, whose own global advance follows ``o.ready``. The load side takes a beat of
        ``taps_per_word`` taps every cycle (1 to 8; :meth:`taps_per_word_for` gives the number
        that keeps up with a bus) while the bank being loaded is free; the beat completing a
        channel group writes it, so a group takes ``ceil(9 / taps_per_word)`` beats or fewer.
    """

    @staticmethod
    def taps_per_word_for(pm: int, pn: int, data_width: int, bus_bits: int) -> int:
        """Taps per load beat that take the weights at the bus's rate: the most taps one bus
        word holds, as a power of two (the layer check divides by it with a shift), at most 8
        (one beat completes at most one group); 1 when a tap is wider than the bus (its beats
        are gathered first)."""
        fit = max(1, min(8, bus_bits // (pm * pn * data_width)))
        return 1 << (fit.bit_length() - 1)

    @staticmethod
    def load_layout(pm: int, pn: int, data_width: int, taps_per_word: int) -> data.StructLayout:
        """A load beat: ``data[t][m][n]`` (tap ``t`` of the beat, from input channel ``n`` to
        output channel ``m`` of the group) and ``last``. Fields LSB first, so the DDR bytes of
        consecutive taps are the beat's bits in order."""
        tap = data.ArrayLayout(data.ArrayLayout(signed(data_width), pn), pm)
        return word_layout(data.ArrayLayout(tap, taps_per_word))

    def __init__(self, m: int, pm: int, pn: int, data_width: int, depth: int, v_width: int,
                 taps_per_word: int = 1):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if not 1 <= taps_per_word <= 8:
            raise ValueError(f"taps_per_word must be in 1..8 (one beat completes at most one group), got {taps_per_word}")
        self.taps_per_word = taps_per_word
        self.m, self.pm, self.pn, self.data_width, self.depth = m, pm, pn, data_width, depth
        self.n = m + 2
        self.v_width = v_width
        self.flags_layout = tile_flags_layout(depth)
        self.v_layout = tile_layout(self.n, pn, signed(v_width))
        # The transform carries the tile and its flags alongside the filters it transforms.
        self.carry_layout = data.StructLayout({"v": self.v_layout, "first": 1, "last": 1})
        self.transform = WinogradFilterTransform(m, pm=pm, pn=pn, data_width=data_width, flags=self.carry_layout)
        self.u_width = self.transform.out_width
        self.LATENCY = 2 + self.transform.LATENCY
        self.in_layout = data.StructLayout({"v": self.v_layout, "flags": self.flags_layout})
        self.out_layout, _ = ewmm_layouts(pm, pn, self.n, v_width, self.u_width, 1, 0)
        super().__init__({
            "load": In(stream.Signature(self.load_layout(pm, pn, data_width, taps_per_word))),
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

        # ---- load: gather the 9 taps of a channel group, write them with the one completing it --
        # A word brings T taps; slot s of the group takes tap j of the word when s = k + j (k taps
        # gathered so far). The word that completes the group is written merged with the slots
        # gathered before it; taps it holds past the group start the next one (s = k + j - 9),
        # or are DDR padding when it is the command's last word. T <= 8: one group per word.
        T = self.taps_per_word
        tap_shape = self.load.payload.data.shape().elem_shape
        slots = Signal(data.ArrayLayout(tap_shape, 9))    # the current group's taps so far
        merged = Signal(data.ArrayLayout(tap_shape, 9))   # ... with the word's taps
        k = Signal(range(9))
        word = self.load.payload.data
        load_fire = self.load.valid & self.load.ready
        complete = k >= 9 - T            # this word completes the group
        last = self.load.payload.last
        m.d.comb += self.load.ready.eq(~banks.back_full)
        for s in range(9):
            m.d.comb += merged[s].eq(slots[s])
            for j in range(T):
                if s - j >= 0:
                    with m.If(k == s - j):
                        m.d.comb += merged[s].eq(word[j])
                with m.If(load_fire & (k == (s - j) % 9)):
                    m.d.sync += slots[s].eq(word[j])
        with m.If(load_fire):
            m.d.sync += k.eq(Mux(complete, Mux(last, 0, k + T - 9), k + T))
        raw = Signal(raw_shape)
        for o in range(pm):
            for c in range(pn):
                for u in range(3):
                    for v in range(3):
                        m.d.comb += raw[o][c][u][v].eq(merged[u * 3 + v][o][c])
        store = load_fire & complete
        # The bank cannot be full when a word completes a group: load.ready checked it.
        m.d.comb += [
            wr.addr.eq(banks.write_addr), wr.data.eq(raw), wr.en.eq(store),
            banks.store.eq(store), banks.store_last.eq(store & last),
            self.loaded.eq(store & last),
        ]

        # ---- i: read the raw filters of the tile's channel group from the front bank --------
        # Two stages: the block RAM read, then its data into a register (the transform's adders
        # start at a register, not at the RAM's clock-to-out); the tile rides alongside.
        read_valid = Signal()
        carry = Signal(self.carry_layout)
        held_valid = Signal()
        held_carry = Signal(self.carry_layout)
        held_g = Signal(raw_shape)
        advance = Signal()
        advance_held = Signal()
        flags = self.i.payload.flags
        m.d.comb += [advance_held.eq(~held_valid | ft.i.ready), advance.eq(~read_valid | advance_held),
                     self.i.ready.eq(advance)]
        i_fire = self.i.valid & self.i.ready
        m.d.comb += [rd.addr.eq(banks.read_base + flags.cg), rd.en.eq(advance),
                     banks.release.eq(i_fire & flags.end)]
        with m.If(advance):
            m.d.sync += [
                read_valid.eq(self.i.valid),
                carry.v.eq(self.i.payload.v), carry.first.eq(flags.first), carry.last.eq(flags.last),
            ]

        with m.If(advance_held):
            m.d.sync += [held_valid.eq(read_valid), held_carry.eq(carry), held_g.eq(rd.data)]

        # ---- transform on the fly, then out to the EWMM array -------------------------------
        out_carry = ft.o.payload.flags
        m.d.comb += [
            ft.i.valid.eq(held_valid), ft.i.payload.g.eq(held_g), ft.i.payload.flags.eq(held_carry),
            self.o.valid.eq(ft.o.valid), ft.o.ready.eq(self.o.ready),
            self.o.payload.v.eq(out_carry.v), self.o.payload.u.eq(ft.o.payload.u),
            self.o.payload.first.eq(out_carry.first), self.o.payload.last.eq(out_carry.last),
        ]
        return m
