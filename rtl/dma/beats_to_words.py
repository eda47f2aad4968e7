"""Width conversion from AXI data beats to engine words (power-of-two ratios)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BeatsToWords", "beat_layout", "word_layout", "check_widths"]


def beat_layout(bus_bits: int) -> data.StructLayout:
    """A read-master data beat: ``data`` (byte 0 at the LSB) and ``last`` (end of command)."""
    return data.StructLayout({"data": bus_bits, "last": 1})


def word_layout(word_shape) -> data.StructLayout:
    """A word of one command: ``data`` (an int width, or the shape the consumer reads it as) and
    ``last`` (the command's final word)."""
    return data.StructLayout({"data": word_shape, "last": 1})


def shape_bits(shape) -> int:
    """Bits of a shape-castable (an int width, a ``Shape`` or a ``data.Layout``)."""
    return Shape.cast(shape).width


def check_widths(bus_bits: int, word_bits: int) -> None:
    """Refuse widths the converters cannot pair: both must be powers of two of at least 8 bits."""
    for name, v in (("bus_bits", bus_bits), ("word_bits", word_bits)):
        if v < 8 or v & (v - 1):
            raise ValueError(f"{name} must be a power of two >= 8, got {v}")


class BeatsToWords(wiring.Component):
    """Splits or gathers beats of one command into exactly ``count`` words of ``word_shape``.

    Ports
        ``i``: In(stream of ``beat_layout(bus_bits)``); each command ends with a ``last`` beat.
        ``o``: Out(stream of ``word_layout(word_shape)``), ``last`` on the ``count``-th word; or,
        with ``last=False``, of ``word_shape`` itself (a consumer that needs no command
        boundaries). ``word_shape`` is a bit width or the shape the consumer reads (a
        ``data.Layout``), so the stream connects to it with ``wiring.connect``.
        ``count``: In(32), words per command (>= 1), stable while a command passes.

    Words are taken LSB first. When ``word_bits < bus_bits`` a beat holds several words and the
    words of the final beat past ``count`` are dropped (DDR padding). When ``word_bits >
    bus_bits`` consecutive beats are concatenated (the command must end on a word boundary).
    Throughput: one word per cycle when splitting, one beat per cycle when gathering.
    Latency: 1 cycle (registered output). Back-pressure: honest valid/ready on both sides.
    Timing: whether the next word is a command's last is a register, computed when the previous
    word leaves (``count`` is compared a word ahead), so ``i.ready`` is a short function of
    registers and ``o.ready``.
    """

    def __init__(self, bus_bits: int, word_shape, *, last: bool = True):
        word_bits = shape_bits(word_shape)
        check_widths(bus_bits, word_bits)
        self.bus_bits, self.word_bits, self.last = bus_bits, word_bits, last
        super().__init__({
            "i": In(stream.Signature(beat_layout(bus_bits))),
            "o": Out(stream.Signature(word_layout(word_shape) if last else word_shape)),
            "count": In(32),
        })

    def elaborate(self, platform):
        m = Module()
        bus, word = self.bus_bits, self.word_bits
        words_done = Signal(32)  # words emitted so far in this command
        take = self.o.ready | ~self.o.valid
        out_word = self.o.payload.data if self.last else self.o.payload

        if word <= bus:
            ratio = bus // word
            index = Signal(range(ratio))
            # final_word: the next word emitted ends the command (words_done + 1 >= count),
            # kept a word ahead; at_start: words_done == 0 (count may change between commands).
            final_word = Signal()
            at_start = Signal(init=1)
            with m.If(at_start):
                m.d.sync += final_word.eq(self.count <= 1)
            last_in_beat = (index == ratio - 1) | final_word
            with m.If(take):
                m.d.sync += self.o.valid.eq(self.i.valid)
                with m.If(self.i.valid):
                    with m.Switch(index):
                        for k in range(ratio):
                            with m.Case(k):
                                m.d.sync += out_word.eq(self.i.payload.data[k * word:(k + 1) * word])
                    if self.last:
                        m.d.sync += self.o.payload.last.eq(final_word)
                    with m.If(final_word):
                        m.d.sync += [words_done.eq(0), at_start.eq(1), final_word.eq(self.count <= 1)]
                    with m.Else():
                        m.d.sync += [words_done.eq(words_done + 1), at_start.eq(0),
                                     final_word.eq(words_done + 2 >= self.count)]
                    m.d.sync += index.eq(index + 1)
                    with m.If(last_in_beat):
                        m.d.sync += index.eq(0)
            # A beat is consumed with its final useful word (later words are padding).
            m.d.comb += self.i.ready.eq(take & last_in_beat)
        else:
            ratio = word // bus
            index = Signal(range(ratio))
            gathered = Signal(word - bus)
            m.d.comb += self.i.ready.eq(take)
            with m.If(take):
                m.d.sync += self.o.valid.eq(0)
                with m.If(self.i.valid):
                    with m.If(index == ratio - 1):
                        m.d.sync += [
                            self.o.valid.eq(1),
                            out_word.eq(Cat(gathered, self.i.payload.data)),
                            index.eq(0),
                        ]
                        if self.last:
                            m.d.sync += self.o.payload.last.eq(self.i.payload.last)
                    with m.Else():
                        for k in range(ratio - 1):
                            with m.If(index == k):
                                m.d.sync += gathered[k * bus:(k + 1) * bus].eq(self.i.payload.data)
                        m.d.sync += index.eq(index + 1)
        return m
