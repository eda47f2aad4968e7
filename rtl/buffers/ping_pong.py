"""Bank bookkeeping of a two-bank (ping-pong) buffer: one group loads while the other is read."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PingPongBanks"]


class PingPongBanks(wiring.Component):
    """Tracks which of two banks of ``depth`` words is loading and which is read.

    Ports
        ``store``: In(1), a word is written this cycle at ``write_addr``; ``store_last``: In(1),
        it is the group's final word (the bank becomes full and loading moves to the other bank).
        ``release``: In(1), the reader is done with the front bank (it may be set in the same
        cycle as a read of that bank: the read is issued first).
        ``back_full``: Out(1), the bank being loaded still holds a group: no store may happen.
        ``front_full``: Out(1), the front bank holds a complete group: reads are allowed.
        ``write_addr``: Out, memory address of the next store (bank * depth + index).
        ``read_base``: Out, memory address of word 0 of the front bank.

    A bank is never read while it loads, so a half-loaded group is never exposed.
    Flags and pointers change at the clock edge after ``store``/``release``.
    """

    def __init__(self, depth: int):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        super().__init__({
            "store": In(1), "store_last": In(1), "release": In(1),
            "back_full": Out(1), "front_full": Out(1),
            "write_addr": Out(range(2 * depth)), "read_base": Out(range(2 * depth)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        full = Signal(2)   # bank b holds a complete group
        wp = Signal()      # bank being loaded
        rp = Signal()      # front bank
        m.d.comb += [
            self.back_full.eq(full.bit_select(wp, 1)),
            self.front_full.eq(full.bit_select(rp, 1)),
            self.read_base.eq(Mux(rp, depth, 0)),
        ]
        with m.If(self.store):
            with m.If(self.store_last):
                m.d.sync += [wp.eq(~wp), self.write_addr.eq(Mux(wp, 0, depth))]
            with m.Else():
                m.d.sync += self.write_addr.eq(self.write_addr + 1)
        with m.If(self.release):
            m.d.sync += rp.eq(~rp)
        # Set by the final store, cleared by the release (always different banks).
        set_mask = Mux(self.store & self.store_last, Mux(wp, 0b10, 0b01), 0)
        clr_mask = Mux(self.release, Mux(rp, 0b10, 0b01), 0)
        m.d.sync += full.eq((full | set_mask) & ~clr_mask)
        return m
