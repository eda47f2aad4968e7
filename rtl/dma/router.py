"""Steers the beats of consecutive read commands to their destinations."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .beats_to_words import beat_layout

__all__ = ["BeatRouter"]


class BeatRouter(wiring.Component):
    """Demultiplexes a beat stream by command: ``route`` names the destination of each command.

    Ports
        ``i``: In(stream of ``beat_layout(bus_bits)``): beats of consecutive commands, each
        ending with ``last``.
        ``route``: In(stream of ``range(n)``): one entry per command, in command order; it is
        consumed with the command's ``last`` beat.
        ``o[k]``: Out(stream of ``beat_layout(bus_bits)``) for destination ``k``.

    Combinational (0 latency); a beat waits until its route entry is valid and its
    destination is ready (honest valid/ready: ``o[k].valid`` does not depend on ``o[k].ready``).
    """

    def __init__(self, bus_bits: int, n: int):
        self.n = n
        members = {
            "i": In(stream.Signature(beat_layout(bus_bits))),
            "route": In(stream.Signature(range(n))),
        }
        for k in range(n):
            members[f"o{k}"] = Out(stream.Signature(beat_layout(bus_bits)))
        super().__init__(members)

    def output(self, k):
        return getattr(self, f"o{k}")

    def elaborate(self, platform):
        m = Module()
        for k in range(self.n):
            out = self.output(k)
            selected = self.route.valid & (self.route.payload == k)
            m.d.comb += [out.payload.eq(self.i.payload), out.valid.eq(self.i.valid & selected)]
            with m.If(selected):
                m.d.comb += self.i.ready.eq(out.ready)
        m.d.comb += self.route.ready.eq(self.i.valid & self.i.ready & self.i.payload.last)
        return m
