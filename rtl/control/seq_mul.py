"""A small shift-and-add multiplier for the sequencer's once-per-layer size arithmetic."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SequentialMultiplier"]


class SequentialMultiplier(wiring.Component):
    """Unsigned ``a * b`` in ``b_width`` cycles with adders only (no DSP).

    Ports: ``a`` In(a_width), ``b`` In(b_width), ``start`` In(1) (sampled when idle),
    ``busy`` Out(1), ``p`` Out(a_width + b_width) (valid once ``busy`` falls).
    Latency: ``b_width`` cycles after ``start``.
    """

    def __init__(self, a_width: int, b_width: int):
        self.a_width, self.b_width = a_width, b_width
        super().__init__({
            "a": In(a_width), "b": In(b_width), "start": In(1),
            "busy": Out(1), "p": Out(a_width + b_width),
        })

    def elaborate(self, platform):
        m = Module()
        a = Signal(self.a_width + self.b_width)
        b = Signal(self.b_width)
        count = Signal(range(self.b_width + 1))
        with m.If(self.busy):
            with m.If(b[0]):
                m.d.sync += self.p.eq(self.p + a)
            m.d.sync += [a.eq(a << 1), b.eq(b >> 1), count.eq(count - 1)]
            with m.If(count == 1):
                m.d.sync += self.busy.eq(0)
        with m.Elif(self.start):
            m.d.sync += [a.eq(self.a), b.eq(self.b), self.p.eq(0), count.eq(self.b_width), self.busy.eq(1)]
        return m
