"""Marks the end of every output row on the requantised pixel stream: one write command a row."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LineMarker"]


class LineMarker(wiring.Component):
    """Passes a pixel stream through and sets ``last`` on the final pixel of each line.

    The write packer (:class:`rtl.dma.words_to_beats.WordsToBeats`) ends a command at ``last``;
    the row-major output layout (:class:`rtl.control.write_issuer.WriteIssuer`) writes a command
    per output row, so a row's last pixel must end its words. With one output-channel group the
    rows of a visit are one contiguous command, and the producer's own ``last`` (the visit's end)
    is kept.

    Ports
        ``i``: In(stream of ``payload``), ``o``: Out(stream of ``payload``); ``payload`` is a
        ``StructLayout`` with a 1-bit ``last`` field (the requantiser's output); every other
        field passes unchanged.
        ``length``: In(16), pixels per line (the output width ``Wo >= 1``); ``whole``: In(1),
        keep the producer's ``last`` instead. Both are stable from ``restart`` to the run's end.
        ``restart``: In(1) pulse, the next pixel starts a line.

    Combinational valid/ready/payload (0 latency, honest back-pressure: ``o.valid`` is
    ``i.valid``); the position in the line is a down-counter register compared with 1.
    """

    def __init__(self, payload):
        self.payload = payload
        super().__init__({
            "i": In(stream.Signature(payload)),
            "o": Out(stream.Signature(payload)),
            "length": In(16),
            "whole": In(1),
            "restart": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        left = Signal(16)        # pixels of this line from this one on; 0 = a line starts
        line_end = Signal()
        m.d.comb += [
            line_end.eq((left == 1) | ((left == 0) & (self.length == 1))),
            self.o.payload.eq(self.i.payload),
            self.o.payload.last.eq(Mux(self.whole, self.i.payload.last, line_end)),
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += left.eq(Mux(line_end, 0, Mux(left == 0, self.length - 1, left - 1)))
        with m.If(self.restart):
            m.d.sync += left.eq(0)
        return m
