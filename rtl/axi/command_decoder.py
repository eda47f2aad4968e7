"""Decodes a byte-range transfer command into the bus words it touches (shared by both masters)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .bursts import LENGTH_WIDTH, command_layout

__all__ = ["CommandDecoder", "decoded_layout"]


def decoded_layout(addr_width: int, log_bytes: int, beats_width: int) -> data.StructLayout:
    """A decoded transfer on a bus of ``2**log_bytes`` bytes (fields LSB first):

    ``word_addr``: the first bus word (``addr >> log_bytes``); ``off``: byte lane of the first
    byte; ``last_beat``: bus words touched - 1; ``tail_m1``: ``(length - 1) % B``, the last byte
    lane of a realigned stream; ``end_lane``: the last byte lane on the bus; ``spill``: the bus
    words are one more than the stream's words (``off + (length-1) % B >= B``); ``single``: one
    bus word; ``zero``: ``length == 0`` (a contract violation the masters report).
    """
    return data.StructLayout({
        "word_addr": addr_width - log_bytes,
        "off": max(log_bytes, 1),
        "last_beat": beats_width,
        "tail_m1": max(log_bytes, 1),
        "end_lane": max(log_bytes, 1),
        "spill": 1,
        "single": 1,
        "zero": 1,
    })


class CommandDecoder(wiring.Component):
    """``{addr, length}`` commands in, :func:`decoded_layout` out, in two registered steps.

    Ports
        ``i``: In(stream of ``command_layout(addr_width)``). ``o``: Out(stream of
        :func:`decoded_layout`), a register. ``busy``: Out(1), a command is inside.

    Timing
        Latency 2 cycles (``length - 1``, then the bus-word arithmetic: each step one add).
        ``i.ready`` is a register (the first step is empty), so a command is taken at most every
        other cycle -- commands are rare -- and no ready chain runs through the decoder.
    """

    def __init__(self, addr_width: int, bus_bytes: int, beats_width: int):
        self.addr_width, self.bus_bytes, self.beats_width = addr_width, bus_bytes, beats_width
        self.log_bytes = bus_bytes.bit_length() - 1
        self.layout = decoded_layout(addr_width, self.log_bytes, beats_width)
        super().__init__({
            "i": In(stream.Signature(command_layout(addr_width))),
            "o": Out(stream.Signature(self.layout)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lb = self.log_bytes
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready)]

        # Step 1: length - 1 and the address split.
        v1 = Signal()
        word_addr = Signal(self.addr_width - lb)
        off = Signal(max(lb, 1))
        length_m1 = Signal(LENGTH_WIDTH)
        zero = Signal()
        short = Signal()                   # 1 <= length <= B: (length - 1) >> lb == 0
        m.d.comb += [self.i.ready.eq(~v1), self.busy.eq(v1 | self.o.valid)]
        with m.If(v1 & advance):
            m.d.sync += v1.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                v1.eq(1),
                word_addr.eq(self.i.payload.addr[lb:]),
                off.eq(self.i.payload.addr[:lb]),
                length_m1.eq(self.i.payload.length - 1),
                zero.eq(self.i.payload.length == 0),
                short.eq((self.i.payload.length != 0) & (self.i.payload.length <= self.bus_bytes)),
            ]

        # Step 2: bus words touched = floor((off + length - 1) / B) + 1.
        end = Signal(LENGTH_WIDTH + 1)
        spill = Signal()
        m.d.comb += [end.eq(off + length_m1), spill.eq((off + length_m1[:lb]) >> lb)]
        o = self.o.payload
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(v1),
                o.word_addr.eq(word_addr),
                o.off.eq(off),
                o.last_beat.eq(end[lb:]),
                o.tail_m1.eq(length_m1[:lb]),
                o.end_lane.eq(end[:lb]),
                o.spill.eq(spill),
                o.single.eq(short & ~spill),
                o.zero.eq(zero),
            ]
        return m
