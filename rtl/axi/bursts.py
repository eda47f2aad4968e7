"""Transfer commands and their split into AXI4 INCR bursts (shared by both AXI masters).

A *transfer* is ``(addr, length)`` in bytes, any alignment, ``length >= 1``. On a bus of ``B``
bytes (``B`` a power of two) it touches ``ceil((addr % B + length) / B)`` bus words starting at
the aligned address ``addr - addr % B``. :class:`BurstPlanner` splits such a run of bus words
into INCR bursts of at most ``max_burst`` beats, none crossing a 4 KiB boundary.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .signature import AXI_MAX_BURST, AXI_PAGE_BYTES, _check_widths

__all__ = ["command_layout", "LENGTH_WIDTH", "max_bus_words", "BurstPlanner", "MasterParameters"]

#: Width of the byte-length field of a transfer command (transfers up to 4 GiB - 1).
LENGTH_WIDTH = 32


def command_layout(addr_width: int) -> data.StructLayout:
    """Payload of a master's ``cmd`` stream: byte address (LSB first), then byte length."""
    return data.StructLayout({"addr": addr_width, "length": LENGTH_WIDTH})


def max_bus_words(bus_bytes: int, length_width: int = LENGTH_WIDTH) -> int:
    """Most bus words one transfer can touch: the longest length starting at the last lane."""
    longest = (1 << length_width) - 1
    return (bus_bytes - 1 + longest + bus_bytes - 1) // bus_bytes


class MasterParameters:
    """The checked build parameters and derived widths shared by the AXI4 read and write masters."""

    def _set_master_parameters(self, data_width: int, addr_width: int, max_burst: int,
                               max_outstanding: int, id_width: int) -> None:
        _check_widths(addr_width, data_width, id_width, min_data=16)
        if not 1 <= max_burst <= AXI_MAX_BURST:
            raise ValueError(f"max_burst must be in 1..{AXI_MAX_BURST}, got {max_burst}")
        if not 1 <= max_outstanding <= 64:
            raise ValueError(f"max_outstanding must be in 1..64, got {max_outstanding}")
        self.data_width = data_width
        self.addr_width = addr_width
        self.max_burst = max_burst
        self.max_outstanding = max_outstanding
        self.id_width = id_width
        self.bus_bytes = data_width // 8
        self.log_bytes = self.bus_bytes.bit_length() - 1
        self.beats_width = max_bus_words(self.bus_bytes).bit_length()


class BurstPlanner(wiring.Component):
    """Splits runs of bus words into AXI4 INCR bursts.

    Ports
        ``i``: In(stream of ``{addr, beats}``): a run of ``beats >= 1`` bus words from the
        bus-aligned byte address ``addr`` (``addr % bus_bytes`` must be 0).
        ``o``: Out(stream of ``{addr, len, last}``): one burst per beat, ``len`` = beats - 1
        (AxLEN), ``last`` marks the final burst of a run. ``o`` drives AxADDR/AxLEN/AxVALID
        directly: it is a register, stable until its handshake.
        ``allow``: In(1): a new burst is loaded into ``o`` only in cycles where it is high (the
        master's outstanding-burst credit).
        ``issue``: Out(1): high in the cycle a burst is loaded into ``o`` (take a credit).
        ``busy``: Out(1): a run is being split or a burst waits in ``o``.

    Bursts: ``min(words left, max_burst, words to the next 4 KiB boundary)``.

    Timing
        Each burst is planned in three registered steps -- the limit (4 KiB boundary and
        ``max_burst``), then the burst length and whether it ends the run, then the burst is
        loaded into ``o`` and the address and count advance -- so no path carries more than one
        compare or one add. A run accepted in cycle t shows its first burst on ``o`` in cycle
        t+4 at the earliest; then one burst every three cycles, which the read and write data
        (a beat per cycle, bursts of up to 256 beats) never notice except for runs of one-beat
        bursts. The next run is accepted the cycle after its predecessor's final burst is
        loaded: ``i.ready`` is a register (no run in progress).
    """

    def __init__(self, addr_width: int, bus_bytes: int, max_burst: int = AXI_MAX_BURST,
                 beats_width: int | None = None):
        if bus_bytes < 1 or bus_bytes & (bus_bytes - 1) or bus_bytes > AXI_PAGE_BYTES // 2:
            raise ValueError(f"bus_bytes must be a power of two in 1..{AXI_PAGE_BYTES // 2}, got {bus_bytes}")
        if not 1 <= max_burst <= AXI_MAX_BURST:
            raise ValueError(f"max_burst must be in 1..{AXI_MAX_BURST}, got {max_burst}")
        if not 12 <= addr_width <= 64:
            raise ValueError(f"addr_width must be in 12..64, got {addr_width}")
        self.addr_width = addr_width
        self.bus_bytes = bus_bytes
        self.max_burst = max_burst
        self.log_bytes = bus_bytes.bit_length() - 1
        self.beats_width = beats_width or max_bus_words(bus_bytes).bit_length()
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"addr": addr_width, "beats": self.beats_width}))),
            "o": Out(stream.Signature(data.StructLayout({"addr": addr_width, "len": 8, "last": 1}))),
            "allow": In(1),
            "issue": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lb = self.log_bytes
        page_words = AXI_PAGE_BYTES // self.bus_bytes
        page_bits = page_words.bit_length() - 1  # log2(words per 4 KiB page)
        cap = min(self.max_burst, page_words)

        active = Signal()
        step = Signal(range(3))          # 0: limit, 1: length, 2: burst ready to load
        cur_addr = Signal(self.addr_width)
        cur_left = Signal(self.beats_width)

        # Step 0: words to the next 4 KiB boundary, capped at max_burst.
        word_in_page = cur_addr[lb:lb + page_bits] if page_bits else Const(0, 1)
        to_boundary = Signal(range(page_words + 1))
        limit = Signal(range(cap + 1))
        m.d.comb += to_boundary.eq(page_words - word_in_page)
        # Step 1: the burst takes what is left of the run when that is within the limit.
        left_small = Signal()
        take_all = Signal()
        beats = Signal(range(cap + 1))
        m.d.comb += left_small.eq(cur_left[cap.bit_length():] == 0)
        with m.If(active & (step == 0)):
            m.d.sync += [limit.eq(Mux(to_boundary < cap, to_boundary, cap)), step.eq(1)]
        with m.If(active & (step == 1)):
            fits = left_small & (cur_left[:cap.bit_length()] <= limit)
            m.d.sync += [take_all.eq(fits), beats.eq(Mux(fits, cur_left, limit)), step.eq(2)]

        # Step 2: load the burst into o, advance the address and the count.
        emit = Signal()
        m.d.comb += [
            emit.eq(active & (step == 2) & self.allow & (~self.o.valid | self.o.ready)),
            self.issue.eq(emit),
            self.busy.eq(active | self.o.valid),
            self.i.ready.eq(~active),
        ]
        with m.If(emit):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.addr.eq(cur_addr),
                self.o.payload.len.eq(beats - 1),
                self.o.payload.last.eq(take_all),
                cur_addr.eq(cur_addr + (beats << lb)),
                cur_left.eq(cur_left - beats),
                step.eq(0),
            ]
            with m.If(take_all):
                m.d.sync += active.eq(0)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                active.eq(1),
                step.eq(0),
                cur_addr.eq(self.i.payload.addr),
                cur_left.eq(self.i.payload.beats),
            ]
        return m
