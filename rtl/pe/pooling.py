"""2x2 stride-2 max or average pooling of the requantised output pixel stream, one row pair at a time."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..descriptor import POOL_AVG, POOL_MAX, POOL_NONE, POOL_WINDOW

__all__ = ["Pooling"]


class Pooling(wiring.Component):
    """Pools a raster-order pixel stream of ``pm`` signed lanes over 2x2 windows, stride 2.

    Sits between the requantiser's output and :class:`rtl.dma.line_marker.LineMarker`.
    ``mode`` (an index of ``rtl.descriptor.POOL_MODES``) selects:

    * ``POOL_NONE``: every pixel passes unchanged (data and ``last``).
    * ``POOL_MAX``: one output pixel per window, ``max(a, b, c, d)`` per lane (signed).
    * ``POOL_AVG``: one output pixel per window, ``(a + b + c + d + 2) >> 2`` per lane
      (arithmetic shift: the mean rounded half up, which always fits the lane's width).

    Input rows ``2r`` and ``2r + 1`` make output row ``r``, ``width / 2`` pixels wide, in
    raster order. An output pixel's ``last`` is the ``last`` of its window's bottom-right input
    pixel. The input's ``last`` marks the final pixel of a visit, which holds an even number of
    full rows: with pooling, ``last`` is set only on a row pair's final pixel (it is dropped
    elsewhere).

    Ports
        ``i``: In(stream of ``payload``), ``o``: Out(stream of ``payload``); ``payload`` is
        ``StructLayout({"data": ArrayLayout(signed(dw), pm), "last": 1})`` (the requantiser's
        output layout).
        ``mode``: In(2), ``POOL_NONE`` / ``POOL_MAX`` / ``POOL_AVG``; ``width``: In(16), pixels
        per input row (even, ``2..max_width``). Both are stable from ``restart`` to the run's end.
        ``restart``: In(1) pulse, the next pixel taken starts a row pair at column 0 (a pixel
        taken in the same cycle still counts at its old position).

    Position: a column counter and a row-parity bit, both cleared by ``restart`` and after a
    pixel with ``last`` is taken. In an even row the even column's pixel is held in a register
    and, with the odd column's pixel, combined (the max, or a ``dw + 1``-bit sum per lane) into
    a row memory of ``max_width // 2`` entries at ``column // 2``. In an odd row the even
    column's pixel is held likewise, and the odd column's pair (or, passing through, the pixel)
    goes into a stage register with the memory's entry (a synchronous read at ``column // 2``,
    an address stable from the even pixel's handshake on, so the registered read is ready by the
    odd pixel; odd rows never write); the next stage combines the two into the output register.

    Timing
        Two register stages that move together (``i.ready = ~o.valid | o.ready``): latency
        ``LATENCY`` cycles from an emitting handshake to ``o.valid``; ``o.payload`` and
        ``o.valid`` are registers. Honest back-pressure: pixels that emit nothing are taken
        whenever ``i.ready``. Throughput one input pixel per cycle. Each lane's path into a
        register is one compare and choice (max) or one add (average), then the mode select
        (150 MHz on Zynq-7000: tests/unit/test_timing_guard.py).
    """

    #: Cycles from an emitting input handshake to ``o.valid``.
    LATENCY = 2
    #: Input pixels (rows and columns) of a window side, and its stride.
    WINDOW = POOL_WINDOW

    def __init__(self, payload, max_width: int):
        members = getattr(payload, "members", None) if isinstance(payload, data.StructLayout) else None
        arr = members.get("data") if members is not None and set(members) == {"data", "last"} else None
        if not (isinstance(arr, data.ArrayLayout) and Shape.cast(arr.elem_shape).signed and arr.length >= 1
                and Shape.cast(members["last"]) == unsigned(1)):
            raise ValueError(f"payload must be StructLayout({{'data': ArrayLayout(signed(dw), pm), 'last': 1}}), "
                             f"got {payload!r}")
        if max_width < POOL_WINDOW:
            raise ValueError(f"max_width must be >= {POOL_WINDOW}, got {max_width}")
        self.payload = payload
        #: Lanes (output channels) of a pixel and their width.
        self.pm, self.dw = arr.length, Shape.cast(arr.elem_shape).width
        self.max_width = max_width
        #: Row memory entries: one per window of the widest row.
        self.depth = max_width // POOL_WINDOW
        super().__init__({
            "i": In(stream.Signature(payload)),
            "o": Out(stream.Signature(payload)),
            "mode": In(2),
            "width": In(16),
            "restart": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        pm, dw = self.pm, self.dw
        pixel = self.i.payload.data

        # Position of the pixel on `i`.
        col = Signal(range(self.max_width))
        odd_row = Signal()
        row_end = Signal()
        taken = Signal()
        advance = Signal()       # both stages move (the output register is free or taken)
        m.d.comb += [
            row_end.eq(col == self.width - 1),
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
            taken.eq(self.i.valid & advance),
        ]
        with m.If(taken):
            with m.If(self.i.payload.last):
                m.d.sync += [col.eq(0), odd_row.eq(0)]
            with m.Elif(row_end):
                m.d.sync += [col.eq(0), odd_row.eq(~odd_row)]
            with m.Else():
                m.d.sync += col.eq(col + 1)
        with m.If(self.restart):
            m.d.sync += [col.eq(0), odd_row.eq(0)]

        # The even column's pixel, held for the odd one.
        held = Signal(data.ArrayLayout(signed(dw), pm))
        with m.If(taken & ~col[0]):
            m.d.sync += held.eq(pixel)

        # Row memory: per window of the row pair, its top row's pair combined (the max, or a
        # dw + 1-bit sum). The registered read at the window's address, stable from the even
        # pixel's handshake on, is out by the odd pixel (odd rows never write).
        entry = data.ArrayLayout(signed(dw + 1), pm)
        m.submodules.rows = mem = Memory(shape=entry, depth=self.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port(domain="sync")
        m.d.comb += [
            wr.addr.eq(col >> 1),
            rd.addr.eq(col >> 1),
            wr.en.eq(taken & col[0] & ~odd_row & (self.mode != POOL_NONE)),
        ]

        avg = Signal()
        m.d.comb += avg.eq(self.mode == POOL_AVG)

        def larger(a, b):
            return Mux(a > b, a, b)

        # Two stages, both moving on `advance`: the odd pixel's pair (or the passing pixel) and
        # the memory's entry into registers, then the window into the output register. Each
        # lane's path into a register is one compare and choice (or one add) and the mode's.
        pair = Signal(entry)                 # stage 1: the bottom pair combined, or the pixel
        top = Signal(entry)                  # stage 1: the window's top pair from the memory
        staged, staged_last = Signal(), Signal()
        emits = taken & ((self.mode == POOL_NONE) | (odd_row & col[0]))
        with m.If(advance):
            m.d.sync += [staged.eq(emits), staged_last.eq(self.i.payload.last), top.eq(rd.data),
                         self.o.valid.eq(staged), self.o.payload.last.eq(staged_last)]
        for lane in range(pm):
            a, b = held[lane], pixel[lane]
            m.d.comb += wr.data[lane].eq(Mux(avg, a + b, larger(a, b)))
            with m.If(advance):
                m.d.sync += pair[lane].eq(Mux(self.mode == POOL_NONE, b, Mux(avg, a + b, larger(a, b))))
                with m.Switch(self.mode):
                    with m.Case(POOL_MAX):
                        m.d.sync += self.o.payload.data[lane].eq(larger(pair[lane], top[lane]))
                    with m.Case(POOL_AVG):
                        m.d.sync += self.o.payload.data[lane].eq((pair[lane] + top[lane] + 2) >> 2)
                    with m.Default():
                        m.d.sync += self.o.payload.data[lane].eq(pair[lane])
        return m
