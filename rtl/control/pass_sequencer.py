"""Starts the engine's passes, one per output-channel group, each once the previous has ended."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PassSequencer"]


class PassSequencer(wiring.Component):
    """Ports: ``launch`` In(1) pulse (restart at pass 0), ``running`` In(1), ``groups`` In(16)
    (passes in the run), ``busy`` In(1) and ``pass_end`` In(1) from the datapath; ``start``
    Out(1), the datapath's start pulse: while running, when the datapath is idle, the previous
    pass has ended and passes remain."""

    def __init__(self):
        super().__init__({
            "launch": In(1),
            "running": In(1),
            "groups": In(16),
            "busy": In(1),
            "pass_end": In(1),
            "start": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        started = Signal(16)
        ended = Signal(16)
        m.d.comb += self.start.eq(self.running & ~self.busy & (started < self.groups) & (started == ended))
        with m.If(self.start):
            m.d.sync += started.eq(started + 1)
        with m.If(self.pass_end):
            m.d.sync += ended.eq(ended + 1)
        with m.If(self.launch):
            m.d.sync += [started.eq(0), ended.eq(0)]
        return m
