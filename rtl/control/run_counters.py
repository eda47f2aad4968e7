"""The counters of the last run that the STATUS block reports (cycles, stalls, bytes, activity)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..axi.bursts import LENGTH_WIDTH

__all__ = ["RunCounters"]


class RunCounters(wiring.Component):
    """Counters of one run, cleared by ``clear`` (the cycle AP_START is taken) and held until the next.

    Inputs: ``busy`` (the run's cycles: from the cycle after AP_START to AP_DONE), ``running``
    (groups are in flight: stalls count only then), ``starved`` (the PE array's input is empty),
    ``write_stall`` (a write beat waits on the bus), ``active`` (the PE array takes a beat),
    ``read_issued``/``read_length`` and ``write_issued``/``write_length`` (a command handshake
    and its byte length). Outputs: ``cycles`` (64 bits), ``stall_read``, ``stall_write``,
    ``active_cycles``, ``bytes_read``, ``bytes_written`` (32 bits, wrapping).
    """

    def __init__(self):
        super().__init__({
            "clear": In(1),
            "busy": In(1),
            "running": In(1),
            "starved": In(1),
            "write_stall": In(1),
            "active": In(1),
            "read_issued": In(1),
            "read_length": In(LENGTH_WIDTH),
            "write_issued": In(1),
            "write_length": In(LENGTH_WIDTH),
            "cycles": Out(64),
            "stall_read": Out(32),
            "stall_write": Out(32),
            "active_cycles": Out(32),
            "bytes_read": Out(32),
            "bytes_written": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        with m.If(self.running):
            with m.If(self.starved):
                m.d.sync += self.stall_read.eq(self.stall_read + 1)
            with m.If(self.write_stall):
                m.d.sync += self.stall_write.eq(self.stall_write + 1)
        with m.If(self.active):
            m.d.sync += self.active_cycles.eq(self.active_cycles + 1)
        with m.If(self.read_issued):
            m.d.sync += self.bytes_read.eq(self.bytes_read + self.read_length)
        with m.If(self.write_issued):
            m.d.sync += self.bytes_written.eq(self.bytes_written + self.write_length)
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.If(self.clear):
            m.d.sync += [counter.eq(0) for counter in (self.cycles, self.stall_read, self.stall_write,
                                                       self.active_cycles, self.bytes_read, self.bytes_written)]
        return m
