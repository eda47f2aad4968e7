"""Ping-pong weight buffer: one output-channel group's weights per bank, joined with window taps."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..dma.beats_to_words import word_layout
from ..numerics import SUPPORTED_DATA_WIDTHS
from ..pe.mac_array import mac_input_layout
from .geometry import MemoryShape
from .line_buffer import line_tap_layout
from .ping_pong import PingPongBanks

__all__ = ["WeightBuffer", "weight_load_layout"]


def weight_load_layout(pm: int, pn: int, data_width: int) -> data.StructLayout:
    """One tap of weights as the DMA delivers it (``rtl.dma.beats_to_words.word_layout``):
    ``data[m][n]`` from input channel ``n`` to output channel ``m`` of the group, and ``last`` on
    the group's final tap. Fields LSB first: data, last."""
    return word_layout(data.ArrayLayout(data.ArrayLayout(signed(data_width), pn), pm))


class WeightBuffer(wiring.Component):
    """Two banks of ``depth`` weight taps (``pm x pn`` words): one group loads while the other feeds.

    Ports
        ``load``: In(stream(:func:`weight_load_layout`)): the taps ``0..n-1`` of one group in
        tap order (``n <= depth``); ``last`` marks tap ``n-1``, after which that bank is full.
        ``load.ready`` is high while a bank is free: a second group loads while the first is in
        use, a third waits until the front bank is released.
        ``i``: In(stream(``line_tap_layout(pn, data_width, 2**tap_width)``)) -- the payload of
        ``DirectLineBuffer.o`` (pass ``tap_width=line_buffer.tap_width`` when ``depth`` is
        smaller than the line buffer's ``max_cg * max_kernel**2``; by default the field is just
        wide enough for ``depth`` taps). Taps must be ``< n`` of the front group.
        ``o``: Out(stream(``mac_input_layout(pm, pn, data_width)``)): ``act``, ``first``,
        ``last`` and ``end`` of the ``i`` beat, ``wgt = front_bank[i.tap]``.

    Banks
        A two-entry queue of banks: loads fill the back bank, ``i`` reads the front bank. A beat
        on ``i`` is accepted only while the front bank holds a complete group. The ``i`` beat
        with ``end = 1`` releases the front bank (after its read has been issued); the next full
        bank becomes the front at once, so a following pass continues without a bubble. A bank
        is never read while it is being loaded, so a half-loaded group is never exposed.

    Storage
        One ``amaranth.lib.memory.Memory`` of ``2*depth`` words of ``pm*pn*data_width`` bits
        (simple dual port: one write port for ``load``, one read port for ``i``); bank ``b``
        occupies addresses ``b*depth .. b*depth + depth - 1``.

    Timing
        Memory read latency 1 cycle, hidden: the read is issued on the ``i`` handshake and its
        data is ``o.wgt`` the next cycle (latency 1, II=1). The read port's enable is the
        pipeline advance (``~o.valid | o.ready``), so ``o.payload`` holds under back-pressure;
        ``i.ready = advance & front bank full``. ``load`` accepts one tap per cycle while a bank
        is free, independently of ``i``.
    """

    #: Cycles from an ``i`` handshake to the beat on ``o``.
    LATENCY = 1

    def __init__(self, pm: int, pn: int, data_width: int, depth: int, *, tap_width: int | None = None):
        if pm < 1 or pn < 1:
            raise ValueError(f"pm and pn must be at least 1, got pm={pm}, pn={pn}")
        if data_width not in SUPPORTED_DATA_WIDTHS:
            raise ValueError(f"data_width must be one of {SUPPORTED_DATA_WIDTHS}, got {data_width}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        need = Shape.cast(range(max(depth, 2))).width
        if tap_width is None:
            tap_width = need
        if tap_width < need:
            raise ValueError(f"tap_width={tap_width} cannot index {depth} taps (needs {need} bits)")
        self.pm, self.pn, self.data_width, self.depth, self.tap_width = pm, pn, data_width, depth, tap_width
        self.load_layout = weight_load_layout(pm, pn, data_width)
        self.tap_layout = line_tap_layout(pn, data_width, 1 << tap_width)
        super().__init__({
            "load": In(stream.Signature(self.load_layout)),
            "i": In(stream.Signature(self.tap_layout)),
            "o": Out(stream.Signature(mac_input_layout(pm, pn, data_width))),
        })

    @staticmethod
    def memory_shapes(pm: int, pn: int, data_width: int, depth: int) -> tuple[MemoryShape, ...]:
        """Both banks in one memory (bank = top address bit) of ``pm*pn*data_width``-bit taps."""
        return (MemoryShape("weight_buffer", pm * pn * data_width, 2 * depth),)

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        word = self.load_layout["data"].shape
        (shape,) = self.memory_shapes(self.pm, self.pn, self.data_width, depth)

        m.submodules.mem = mem = Memory(shape=word, depth=shape.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        m.submodules.banks = banks = PingPongBanks(depth)

        # ---- load: fill the back bank -------------------------------------------------------------
        load_fire = self.load.valid & self.load.ready
        m.d.comb += [
            self.load.ready.eq(~banks.back_full),
            wr.addr.eq(banks.write_addr),
            wr.data.eq(self.load.payload.data),
            wr.en.eq(load_fire),
            banks.store.eq(load_fire),
            banks.store_last.eq(self.load.payload.last),
        ]

        # ---- i: read the front bank ----------------------------------------------------------------
        advance = Signal()
        front_full = banks.front_full
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance & front_full),
        ]
        i_fire = self.i.valid & self.i.ready
        tap = self.i.payload.tap[:Shape.cast(range(max(depth, 2))).width]
        m.d.comb += [rd.addr.eq(banks.read_base + tap), rd.en.eq(advance)]
        # The beat with `end` releases the front bank after its read has been issued.
        m.d.comb += banks.release.eq(i_fire & self.i.payload.end)

        # ---- output register (weights come straight from the read port) ----------------------------
        act, first, last, end = Signal.like(self.i.payload.act), Signal(), Signal(), Signal()
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(self.i.valid & front_full),
                act.eq(self.i.payload.act),
                first.eq(self.i.payload.first),
                last.eq(self.i.payload.last),
                end.eq(self.i.payload.end),
            ]
        m.d.comb += [
            self.o.payload.act.eq(act),
            self.o.payload.wgt.eq(rd.data),
            self.o.payload.first.eq(first),
            self.o.payload.last.eq(last),
            self.o.payload.end.eq(end),
        ]
        return m
