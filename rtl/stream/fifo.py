"""A stream FIFO built to timing: registered output, registered ``i.ready``, no counter adder."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["StreamFifo"]


class StreamFifo(wiring.Component):
    """First-in first-out queue of ``depth`` entries of ``shape`` between two streams.

    Ports
        ``i``: In(stream of ``shape``). ``i.ready`` is a register: high while fewer than
        ``depth - 1`` entries wait behind the output register, so it never depends on
        ``o.ready`` or ``i.valid`` in the same cycle (an entry freed in a cycle is offered to
        ``i`` the next).
        ``o``: Out(stream of ``shape``); ``o.valid`` and ``o.payload`` are registers.

    Timing
        Latency 2 cycles from ``i`` to ``o`` when empty (storage write, then the output
        register); one entry per cycle in and out (II=1). ``depth`` entries in all: the output
        register and ``depth - 1`` in storage (LUT RAM or registers, written and read at
        pointers that count modulo ``depth - 1``). Occupancy is a thermometer code (bit ``k``:
        more than ``k`` stored entries), so a handshake moves it with one LUT per bit -- no
        counter adder after ``o.ready``: the path from ``o.ready`` is one gate to the output
        register's enable and one to each occupancy bit. Same behaviour as
        ``amaranth.lib.fifo.SyncFIFOBuffered`` seen from the streams.
    """

    def __init__(self, shape, depth: int):
        if depth < 3:
            raise ValueError(f"depth must be at least 3 (the output register and two stored entries, so that "
                             f"one entry per cycle passes with a registered i.ready), got {depth}")
        self.shape, self.depth = shape, depth
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        inner = self.depth - 1
        m.submodules.storage = storage = Memory(shape=self.shape, depth=inner, init=[])
        wr = storage.write_port()
        rd = storage.read_port(domain="comb")

        full = Signal(inner)              # thermometer: full[k] = more than k entries stored
        produce = Signal(range(inner))
        consume = Signal(range(inner))
        push = Signal()
        pop = Signal()                    # a stored entry moves into the output register
        m.d.comb += [
            self.i.ready.eq(~full[inner - 1]),
            push.eq(self.i.valid & self.i.ready),
            pop.eq(full[0] & (~self.o.valid | self.o.ready)),
            wr.addr.eq(produce), wr.data.eq(self.i.payload), wr.en.eq(push),
            rd.addr.eq(consume),
        ]
        with m.If(push):
            m.d.sync += produce.eq(Mux(produce == inner - 1, 0, produce + 1))
        with m.If(pop):
            m.d.sync += [consume.eq(Mux(consume == inner - 1, 0, consume + 1)), self.o.payload.eq(rd.data)]
        with m.If(self.o.ready | ~self.o.valid):
            m.d.sync += self.o.valid.eq(pop)

        # Push only: shift in a one; pop only: shift out; the choice between the two shifted
        # codes (both from early signals) is the last gate, selected by ``pop``.
        up = Signal(inner)
        down = Signal(inner)
        m.d.comb += [
            up.eq(Mux(push, Cat(Const(1, 1), full[:-1]), full)),
            down.eq(Mux(push, full, Cat(full[1:], Const(0, 1)))),
        ]
        m.d.sync += full.eq(Mux(pop, down, up))
        return m
