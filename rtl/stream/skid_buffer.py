"""A stream register slice whose ``ready`` is a register: it cuts a combinational ready chain."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Passes a stream of ``shape`` through two registers so neither direction has a
    combinational path through it.

    Ports
        ``i``: In(stream of ``shape``); ``i.ready`` is a register (it does not depend on
        ``o.ready`` or ``i.valid`` in the same cycle).
        ``o``: Out(stream of ``shape``); ``o.valid`` and ``o.payload`` are registers.

    Timing
        Latency 1 cycle, one beat per cycle (II=1) while ``o`` keeps up. When ``o`` stalls the
        beat arriving in that cycle is caught in the skid register and ``i.ready`` falls the next
        cycle; the skid empties first when ``o`` moves again. Order is kept.
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        skid = Signal(self.shape, name="skid")
        skid_valid = Signal()
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(~self.o.valid | self.o.ready):
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & self.i.ready):
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
