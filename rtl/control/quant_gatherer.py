"""Gathers one output-channel group's quant-table entries into the requantiser's parameter set."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..dma.beats_to_words import word_layout
from ..numerics import QUANT_ENTRY_BYTES
from ..pe.requantiser import quant_param_layout

__all__ = ["QuantGatherer"]


class QuantGatherer(wiring.Component):
    """``pm`` quant-table entries in, one ``pm``-channel parameter set out.

    Ports
        ``i``: In(stream of ``word_layout(8 * QUANT_ENTRY_BYTES)``): the group's entries in
        output-channel order (the DMA's words; ``last`` is not needed, every ``pm`` entries make
        a set). Each entry's low ``quant_param_layout().size`` bits are bias, mult and shift.
        ``o``: Out(stream of ``ArrayLayout(quant_param_layout(), pm)``): one set per group, the
        requantiser's ``params``.

    Timing
        One entry per cycle while the set being gathered has room; a complete set moves to a
        two-entry FIFO the next cycle, so the next group's entries load while the requantiser
        works through the current group. Honest valid/ready.
    """

    def __init__(self, pm: int):
        self.pm = pm
        self.set_layout = data.ArrayLayout(quant_param_layout(), pm)
        super().__init__({
            "i": In(stream.Signature(word_layout(8 * QUANT_ENTRY_BYTES))),
            "o": Out(stream.Signature(self.set_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        pm = self.pm
        m.submodules.sets = sets = fifo.SyncFIFOBuffered(width=self.set_layout.size, depth=2)
        gathered = Signal(self.set_layout)
        index = Signal(range(pm))
        full = Signal()
        m.d.comb += [
            self.i.ready.eq(~full),
            sets.w_data.eq(gathered),
            sets.w_en.eq(full),
        ]
        with m.If(full & sets.w_rdy):
            m.d.sync += full.eq(0)
        with m.If(self.i.valid & self.i.ready):
            entry = self.i.payload.data
            with m.Switch(index):
                for k in range(pm):
                    with m.Case(k):
                        m.d.sync += gathered[k].eq(entry[: quant_param_layout().size])
            m.d.sync += index.eq(Mux(index == pm - 1, 0, index + 1))
            with m.If(index == pm - 1):
                m.d.sync += full.eq(1)
        m.d.comb += [
            self.o.payload.eq(sets.r_data),
            self.o.valid.eq(sets.r_rdy),
            sets.r_en.eq(self.o.ready),
        ]
        return m
