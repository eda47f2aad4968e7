"""Width conversion from AXI data beats to engine words (any whole number of bytes per word)."""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BeatsToWords", "beat_layout", "word_layout", "check_widths", "is_gearbox", "place_at"]


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
    """Refuse widths the converters cannot pair: the bus a power of two of at least 8 bits, the
    word a whole number (>= 1) of bytes."""
    if bus_bits < 8 or bus_bits & (bus_bits - 1):
        raise ValueError(f"bus_bits must be a power of two >= 8, got {bus_bits}")
    if word_bits < 8 or word_bits % 8:
        raise ValueError(f"word_bits must be a whole number of bytes (a multiple of 8, >= 8), got {word_bits}")


def is_gearbox(bus_bits: int, word_bits: int) -> bool:
    """Neither width divides the other (e.g. 48-bit words on a 64-bit bus): the converters then
    keep a byte queue instead of a word slot counter."""
    return bus_bits % word_bits != 0 and word_bits % bus_bits != 0


def place_at(m: Module, target: Signal, value, offset: Signal, unit: int, limit: int) -> None:
    """``target = value << (offset * unit)`` for ``offset * unit < limit`` (a gearbox's insert:
    one case per position, so it maps to a mux of ``limit // unit`` inputs per bit)."""
    with m.Switch(offset):
        for k in range(limit // unit):
            with m.Case(k):
                m.d.comb += target.eq(Cat(Const(0, k * unit), value) if k else value)


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

        if is_gearbox(bus, word):
            self._gearbox(m, take, out_word)
        elif word <= bus:
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

    def _gearbox(self, m, take, out_word):
        """Queue the command's bits in ``held`` (``fill`` of them, LSB first) and emit a word
        whenever ``word`` bits are held, or the command's final word once its last beat is in.
        A beat is taken when fewer than ``word`` bits would remain after this cycle's word, so
        ``held`` never exceeds ``bus + word - unit`` bits and the flow is one word or one beat
        per cycle, whichever is scarcer. All decisions are functions of registers."""
        bus, word = self.bus_bits, self.word_bits
        unit = math.gcd(bus, word)
        held = Signal(bus + word - unit)
        fill = Signal(range((bus + word) // unit))   # in units of `unit` bits
        have_last = Signal()    # the command's last beat is in `held`
        final_word = Signal()   # the next word emitted is the command's count-th
        at_start = Signal(init=1)
        words_done = Signal(32)
        w_units = word // unit
        with m.If(at_start):
            m.d.sync += final_word.eq(self.count <= 1)
        emit = Signal()
        ends = Signal()         # this cycle emits the command's final word
        after = Signal.like(fill)   # units left once this cycle's word has gone
        m.d.comb += [
            emit.eq(take & ((fill >= w_units) | (have_last & (fill != 0)))),
            ends.eq(emit & final_word),
            after.eq(Mux(ends, 0, Mux(emit, fill - w_units, fill))),
        ]
        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(take & (~have_last | ends) & (after < w_units)),
            accept.eq(self.i.ready & self.i.valid),
        ]
        rest = Signal.like(held)
        m.d.comb += rest.eq(Mux(ends, 0, Mux(emit, held >> word, held)))
        placed = Signal.like(held)
        place_at(m, placed, self.i.payload.data, after, unit, word)
        with m.If(take):
            m.d.sync += self.o.valid.eq(emit)
        with m.If(emit):
            m.d.sync += out_word.eq(held[:word])
            if self.last:
                m.d.sync += self.o.payload.last.eq(final_word)
            with m.If(final_word):
                m.d.sync += [words_done.eq(0), at_start.eq(1), final_word.eq(self.count <= 1), have_last.eq(0)]
            with m.Else():
                m.d.sync += [words_done.eq(words_done + 1), at_start.eq(0),
                             final_word.eq(words_done + 2 >= self.count)]
        with m.If(accept):
            m.d.sync += [held.eq(rest | placed), fill.eq(after + bus // unit), have_last.eq(self.i.payload.last)]
        with m.Elif(emit):
            m.d.sync += [held.eq(rest), fill.eq(after)]
