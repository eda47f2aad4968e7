"""Width conversion from engine words to AXI write-data beats (power-of-two ratios)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .beats_to_words import check_widths, shape_bits, word_layout

__all__ = ["WordsToBeats"]


class WordsToBeats(wiring.Component):
    """Packs words of ``word_shape`` into beats of ``bus_bits`` (LSB first), one command at a time.

    Ports
        ``i``: In(stream of ``word_layout(word_shape)``; ``word_shape`` is a bit width or the
        producer's shape, e.g. the requantiser's pixel): ``last`` ends a command; a partly filled
        final beat is flushed zero-padded (the write master's byte strobes drop the padding).
        ``o``: Out(stream of ``StructLayout(data=bus_bits)``): the write master's data input.

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
        if word < bus:
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
