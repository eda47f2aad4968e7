"""Width conversion from engine words to AXI write-data beats (any whole number of bytes per word)."""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .beats_to_words import check_widths, is_gearbox, place_at, shape_bits, word_layout

__all__ = ["WordsToBeats"]


class WordsToBeats(wiring.Component):
    """Packs words of ``word_shape`` into beats of ``bus_bits`` (LSB first), one command at a time.

    Ports
        ``i``: In(stream of ``word_layout(word_shape)``; ``word_shape`` is a bit width or the
        producer's shape, e.g. the requantiser's pixel): ``last`` ends a command; a partly filled
        final beat is flushed zero-padded (the write master's byte strobes drop the padding).
        ``o``: Out(stream of ``StructLayout(data=bus_bits)``): the write master's data input.

    When neither width divides the other (24- or 48-bit words on a 64-bit bus) a gearbox queues
    the command's bits and emits a beat whenever it holds one, and the partial final beat
    zero-padded after the ``last`` word.
    Throughput: one input word per cycle when packing, one beat per cycle when splitting.
    Latency: 1 cycle. Back-pressure: honest valid/ready.
    """

    def __init__(self, word_shape, bus_bits: int):
        word_bits = shape_bits(word_shape)
        check_widths(bus_bits, word_bits)
        self.bus_bits, self.word_bits = bus_bits, word_bits
        super().__init__({
            "i": In(stream.Signature(word_layout(word_shape))),
            "o": Out(stream.Signature(data.StructLayout({"data": bus_bits}))),
        })

    def elaborate(self, platform):
        m = Module()
        bus, word = self.bus_bits, self.word_bits
        take = self.o.ready | ~self.o.valid
        in_word = Value.cast(self.i.payload.data)
        if is_gearbox(bus, word):
            self._gearbox(m, take, in_word)
        elif word < bus:
            ratio = bus // word
            index = Signal(range(ratio))
            gathered = Signal(bus - word)
            m.d.comb += self.i.ready.eq(take)
            with m.If(take):
                m.d.sync += self.o.valid.eq(0)
                with m.If(self.i.valid):
                    done = (index == ratio - 1) | self.i.payload.last
                    with m.If(done):
                        full = Signal(bus)
                        # Place the current word at slot `index`; slots above it are zero.
                        with m.Switch(index):
                            for k in range(ratio):
                                with m.Case(k):
                                    m.d.comb += full.eq(Cat(gathered[: k * word], in_word))
                        m.d.sync += [self.o.valid.eq(1), self.o.payload.data.eq(full), index.eq(0), gathered.eq(0)]
                    with m.Else():
                        for k in range(ratio - 1):
                            with m.If(index == k):
                                m.d.sync += gathered[k * word:(k + 1) * word].eq(in_word)
                        m.d.sync += index.eq(index + 1)
        elif word == bus:
            m.d.comb += self.i.ready.eq(take)
            with m.If(take):
                m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.data.eq(in_word)]
        else:
            ratio = word // bus
            index = Signal(range(ratio))
            at_last = Signal()  # index == ratio - 1, a register: i.ready is an AND of registers
            m.d.comb += self.i.ready.eq(take & at_last)
            with m.If(take):
                m.d.sync += self.o.valid.eq(self.i.valid)
                with m.If(self.i.valid):
                    with m.Switch(index):
                        for k in range(ratio):
                            with m.Case(k):
                                m.d.sync += self.o.payload.data.eq(in_word[k * bus:(k + 1) * bus])
                    m.d.sync += [index.eq(index + 1), at_last.eq(index == ratio - 2)]
                    with m.If(at_last):
                        m.d.sync += [index.eq(0), at_last.eq(0)]
        return m

    def _gearbox(self, m, take, in_word):
        """Queue words in ``held`` (``fill`` bits, LSB first, zero above) and emit a beat whenever
        ``bus`` bits are held, or the rest once the command's ``last`` word is in. A word is
        taken when fewer than ``bus`` bits would remain after this cycle's beat; decisions are
        functions of registers."""
        bus, word = self.bus_bits, self.word_bits
        unit = math.gcd(bus, word)
        b_units = bus // unit
        held = Signal(bus + word - unit)
        fill = Signal(range((bus + word) // unit))
        have_last = Signal()
        emit, ends = Signal(), Signal()
        after = Signal.like(fill)
        m.d.comb += [
            emit.eq(take & ((fill >= b_units) | (have_last & (fill != 0)))),
            ends.eq(emit & have_last & (fill <= b_units)),
            after.eq(Mux(ends, 0, Mux(emit, fill - b_units, fill))),
            self.i.ready.eq(take & (~have_last | ends) & (after < b_units)),
        ]
        rest = Signal.like(held)
        m.d.comb += rest.eq(Mux(ends, 0, Mux(emit, held >> bus, held)))
        placed = Signal.like(held)
        place_at(m, placed, in_word, after, unit, bus)
        with m.If(take):
            m.d.sync += self.o.valid.eq(emit)
        with m.If(emit):
            m.d.sync += self.o.payload.data.eq(held[:bus])
            with m.If(ends):
                m.d.sync += have_last.eq(0)
        with m.If(self.i.ready & self.i.valid):
            m.d.sync += [held.eq(rest | placed), fill.eq(after + word // unit), have_last.eq(self.i.payload.last)]
        with m.Elif(emit):
            m.d.sync += [held.eq(rest), fill.eq(after)]
