"""Starts the engine's passes (``plan.passes`` per run), each once the previous has ended."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .run_signature import RunSignature

__all__ = ["PassSequencer"]


class PassSequencer(wiring.Component):
    """Ports: ``run`` In(:class:`RunSignature`) (``launch`` restarts at pass 0; ``plan.passes``
    passes), ``busy`` In(1) and ``pass_end`` In(1) from the datapath; ``start`` Out(1), the
    datapath's start pulse: while running, when the datapath is idle, the previous pass has
    ended and passes remain. The pass counts are compared into a register (one cycle behind),
    and the datapath's ``busy`` is registered here, so ``start`` is a gate of registers (no
    path from the datapath's counters through ``start`` back into them). A start clears the
    count compare for the next two cycles, until the registered ``busy`` has risen, so a pass
    never starts twice; a pass starts one cycle after the datapath is idle."""

    def __init__(self):
        super().__init__({
            "run": In(RunSignature()),
            "busy": In(1),
            "pass_end": In(1),
            "start": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        started = Signal(16)
        ended = Signal(16)
        next_ready = Signal()   # a pass may start: (started < passes) & (started == ended), registered
        run = self.run
        busy = Signal()         # the datapath's busy, a cycle old
        m.d.sync += [busy.eq(self.busy),
                     next_ready.eq((started < run.plan.passes) & (started == ended) & ~self.start)]
        m.d.comb += self.start.eq(run.running & ~busy & next_ready)
        with m.If(self.start):
            m.d.sync += started.eq(started + 1)
        with m.If(self.pass_end):
            m.d.sync += ended.eq(ended + 1)
        with m.If(run.launch):
            m.d.sync += [started.eq(0), ended.eq(0)]
        return m
