"""Direct-convolution line buffer: a ring of input rows in block RAM emitting K x K window taps."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..numerics import SUPPORTED_DATA_WIDTHS
from .geometry import MemoryShape

__all__ = ["DirectLineBuffer", "line_config_layout", "line_tap_layout"]


def line_config_layout(max_width: int, max_height: int, max_channel_groups: int, max_kernel: int,
                       max_stride: int) -> data.StructLayout:
    """Runtime pass configuration of :class:`DirectLineBuffer` (fields LSB first in this order).

    ``width`` W (1..max_width), ``height`` H (1..max_height), ``channel_groups`` CG (1..max_cg),
    ``kernel`` K (1..max_kernel), ``stride`` S (1..max_stride), ``padding`` P (0..K-1).
    """
    return data.StructLayout({
        "width": range(max_width + 1),
        "height": range(max_height + 1),
        "channel_groups": range(max_channel_groups + 1),
        "kernel": range(max_kernel + 1),
        "stride": range(max_stride + 1),
        "padding": range(max(max_kernel, 1)),
    })


def line_tap_layout(pn: int, data_width: int, tap_count: int) -> data.StructLayout:
    """One window tap: the payload of ``DirectLineBuffer.o`` and of ``WeightBuffer.i``.

    ``act[n]``: activation of channel ``cg*pn + n`` (zero in the padding); ``tap``: index
    ``(cg*K + u)*K + v`` of the tap within the window, wide enough for ``tap_count`` taps;
    ``first``/``last``: first/last tap of an output pixel; ``end``: the last beat of the pass.
    Fields are packed LSB first in the order act, tap, first, last, end.
    """
    return data.StructLayout({
        "act": data.ArrayLayout(signed(data_width), pn),
        "tap": range(max(tap_count, 2)),
        "first": 1,
        "last": 1,
        "end": 1,
    })


class DirectLineBuffer(wiring.Component):
    """Line buffer of the direct engine: stores input rows, emits K x K x CG window taps.

    Dataflow
        ``i`` receives one pass of the input feature map, ``H*CG*W`` pn-words in the order
        ``h, cg, w`` (word ``x[h][cg][w]`` holds channels ``cg*pn .. cg*pn+pn-1`` of pixel
        ``(h, w)``). ``o`` emits ``Ho*Wo*CG*K*K`` taps in the order ``oy, ox, cg, u, v`` with
        ``act = xp[cg, oy*S+u-P, ox*S+v-P]`` of the zero-padded map (zeros generated here),
        ``tap = (cg*K + u)*K + v``, ``first``/``last`` on the first/last tap of each output
        pixel and ``end`` on the final beat. ``Ho = (H+2P-K)//S + 1``, ``Wo`` likewise.

    Ports
        ``cfg``: In(:func:`line_config_layout`), sampled on the cycle ``start`` is high while
        ``busy`` is low. The configuration must be valid (the sequencer checks it):
        1 <= K <= max_kernel, 1 <= S <= max_stride, P < K, Ho, Wo >= 1, W*CG <= row_words.
        ``start``: In(1) pulse. ``busy``: Out(1), high from the cycle after ``start`` until the
        final tap has been handed over on ``o`` *and* all ``H*CG*W`` input words (including
        trailing rows no output needs) have been consumed.
        ``i``: In(stream(ArrayLayout(signed(data_width), pn))); ready only while a pass runs.
        ``o``: Out(stream(:func:`line_tap_layout`)) with ``tap_count = max_cg * max_kernel**2``.

    Storage
        One ``amaranth.lib.memory.Memory`` of ``rows * row_words`` pn-words (one simple
        dual-port block RAM array): a ring of ``rows = max_kernel + max_stride`` input rows,
        row ``h`` at ring slot ``h mod rows``, word ``(h, cg, x)`` at address
        ``slot*row_words + cg*W + x``. Addresses come from counters and adders only. Input row
        ``h`` is written as soon as it cannot overwrite a row the current output row still
        reads (``h < iy0 + rows`` with ``iy0 = oy*S - P``), so the next output row's ``S`` input
        rows load while the current output row is emitted; rows no output needs are consumed
        the same way (and freely once the last tap has been issued). An output row starts once
        every input row it touches is complete, so the buffer never deadlocks.

    Timing
        A tap is issued, its address is formed the next cycle (ring slot base, a constant per
        slot, plus a column counter kept incrementally: one add), it is read the cycle after
        (memory read latency 1 cycle) and goes into an output FIFO of ``TAP_FIFO_DEPTH`` taps:
        a tap appears on ``o`` ``LATENCY`` cycles after it is issued; the first tap of output row
        ``oy`` is issued the cycle after input row ``min(oy*S-P+K-1, H-1)`` completes (its
        comparison registered). Throughput: one tap per cycle (II=1) once primed, across pixel,
        channel-group and output-row boundaries whenever the input keeps up. Back-pressure:
        credits -- a tap is issued only while every tap in flight has a FIFO entry -- so no
        enable fans out from ``o.ready``; ``o`` is the FIFO's registered output. Whether each
        loop counter is at its end is a register compared a step ahead.
    """

    def __init__(self, pn: int, data_width: int, max_width: int, max_channel_groups: int, max_kernel: int,
                 max_stride: int = 2, row_words: int | None = None, *, max_height: int = 4096):
        if pn < 1:
            raise ValueError(f"pn must be at least 1, got {pn}")
        if data_width not in SUPPORTED_DATA_WIDTHS:
            raise ValueError(f"data_width must be one of {SUPPORTED_DATA_WIDTHS}, got {data_width}")
        for name, value in (("max_width", max_width), ("max_channel_groups", max_channel_groups),
                            ("max_kernel", max_kernel), ("max_height", max_height)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if max_stride not in (1, 2):
            raise ValueError(f"max_stride must be 1 or 2, got {max_stride}")
        full = max_width * max_channel_groups
        if row_words is None:
            row_words = full
        if not 1 <= row_words <= full:
            raise ValueError(f"row_words must be in 1..max_width*max_channel_groups ({full}), got {row_words}")
        self.pn, self.data_width = pn, data_width
        self.max_width, self.max_height = max_width, max_height
        self.max_channel_groups, self.max_kernel, self.max_stride = max_channel_groups, max_kernel, max_stride
        self.row_words = row_words
        #: Input rows held in the ring.
        self.rows = max_kernel + max_stride
        #: Memory depth in pn-words.
        (shape,) = self.memory_shapes(pn, data_width, max_kernel, max_stride, row_words)
        self.depth = shape.depth
        #: Taps per window at the build maxima (sizes the ``tap`` field).
        self.tap_count = max_channel_groups * max_kernel**2
        self.word_layout = data.ArrayLayout(signed(data_width), pn)
        self.cfg_layout = line_config_layout(max_width, max_height, max_channel_groups, max_kernel, max_stride)
        self.tap_layout = line_tap_layout(pn, data_width, self.tap_count)
        super().__init__({
            "cfg": In(self.cfg_layout),
            "start": In(1),
            "busy": Out(1),
            "i": In(stream.Signature(self.word_layout)),
            "o": Out(stream.Signature(self.tap_layout)),
        })

    @staticmethod
    def memory_shapes(pn: int, data_width: int, max_kernel: int, max_stride: int, row_words: int) -> tuple[MemoryShape, ...]:
        """The ring of ``max_kernel + max_stride`` rows of ``row_words`` pn-words."""
        return (MemoryShape("line_buffer", pn * data_width, (max_kernel + max_stride) * row_words),)

    @property
    def tap_width(self) -> int:
        """Bit width of the ``tap`` field of ``o`` (give it to ``WeightBuffer(tap_width=...)``)."""
        return Shape.cast(self.tap_layout["tap"].shape).width

    #: Cycles from a tap's issue to its appearance on ``o`` (address stage, memory read, FIFO).
    LATENCY = 4
    #: Taps in flight (issued, not yet taken from ``o``): the output FIFO's size, more than the
    #: credit loop (issue to pop, LATENCY + 1 cycles) so credits never throttle a consumer that keeps up.
    TAP_FIFO_DEPTH = 8

    def elaborate(self, platform):
        m = Module()
        rows, rw, depth = self.rows, self.row_words, self.depth
        mk, ms = self.max_kernel, self.max_stride

        m.submodules.mem = mem = Memory(shape=self.word_layout, depth=depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        aw = len(rd.addr)

        # ---- pass configuration, latched at start --------------------------------------------
        W = Signal(range(self.max_width + 1))
        H = Signal(range(self.max_height + 1))
        CG = Signal(range(self.max_channel_groups + 1))
        K = Signal(range(mk + 1))
        S2 = Signal()                      # stride is 2
        P = Signal(range(max(mk, 1)))
        Wm1 = Signal.like(W)
        Hm1 = Signal.like(H)
        CGm1 = Signal.like(CG)
        Km1 = Signal.like(K)
        Wom1 = Signal.like(W)
        Hom1 = Signal.like(H)

        # Holds every row/column coordinate: -P .. max(W, H) + rows.
        coord = Shape.cast(range(-mk, max(self.max_width, self.max_height) + 2 * mk + ms + 1))
        stride_val = Mux(S2, 2, 1)

        # ---- ring slots: slot k starts at k * row_words (a constant per slot) ---------------------
        def slot_base(slot):
            base = Signal(range(depth), name=f"{slot.name}_base")
            with m.Switch(slot):
                for k in range(rows):
                    with m.Case(k):
                        m.d.comb += base.eq(k * rw)
            return base

        def slot_step(slot, by):
            """``(slot + by) mod rows`` for ``by`` in 1..rows."""
            total = slot + by
            return Mux(total >= rows, total - rows, total)

        # ---- reader (tap issue) state -----------------------------------------------------------
        a_run = Signal()
        v = Signal(range(mk))
        u = Signal(range(mk))
        cg = Signal(range(self.max_channel_groups))
        ox = Signal.like(W)
        oy = Signal.like(H)
        ix0 = Signal(coord)
        ix = Signal(coord)
        iy0 = Signal(coord)
        iy = Signal(coord)
        hi = Signal(coord)                 # last input row of the current output row: iy0 + K - 1
        hi_next = Signal(coord)            # the same for the next output row: hi + S
        lim = Signal(coord)                # first input row the writer must not write yet: iy0 + rows
        lim_m1 = Signal(coord)             # lim - 1
        s0 = Signal(range(rows))           # ring slot of row iy0
        su = Signal(range(rows))           # ring slot of row iy
        cgoff = Signal(range(rw + 1))      # cg * W
        col0 = Signal(coord)               # cgoff + ix0: column of the tap (u, v=0)
        col = Signal(coord)                # cgoff + ix: column of the tap within its row
        tap = Signal(self.tap_layout["tap"].shape)

        # ---- writer state -----------------------------------------------------------------------
        w_run = Signal()
        h = Signal.like(H)                 # input row being written == complete input rows
        wx = Signal.like(W)
        wcg = Signal(range(self.max_channel_groups))
        wslot = Signal(range(rows))
        waddr = Signal(range(depth))

        a_stage = Signal()                 # a tap's address is being formed
        b_stage = Signal()                 # a tap is being read
        primed = Signal()                  # hi_next follows hi (set the cycle after start)
        # Taps leave through a FIFO; a tap is issued only while every tap in flight has an entry
        # (credits), so the issue loop, the address stage and the memory read never stall.
        m.submodules.taps = taps = fifo.SyncFIFOBuffered(width=self.tap_layout.size, depth=self.TAP_FIFO_DEPTH + 1)
        in_flight = Signal(range(self.TAP_FIFO_DEPTH + 1))
        busy = Signal()
        m.d.comb += [busy.eq(a_run | w_run | (in_flight != 0)), self.busy.eq(busy)]

        # ---- start -------------------------------------------------------------------------------
        with m.If(self.start & ~busy):
            c = self.cfg
            s2 = (c.stride == 2) if ms == 2 else Const(0)
            span = c.height + 2 * c.padding - c.kernel          # (H + 2P - K), >= 0 for valid cfgs
            wspan = c.width + 2 * c.padding - c.kernel
            m.d.sync += [
                W.eq(c.width), H.eq(c.height), CG.eq(c.channel_groups), K.eq(c.kernel),
                S2.eq(s2), P.eq(c.padding),
                Wm1.eq(c.width - 1), Hm1.eq(c.height - 1), CGm1.eq(c.channel_groups - 1),
                Km1.eq(c.kernel - 1),
                Hom1.eq(Mux(s2, span[1:], span)),
                Wom1.eq(Mux(s2, wspan[1:], wspan)),
                a_run.eq(1), w_run.eq(1),
                v.eq(0), u.eq(0), cg.eq(0), ox.eq(0), oy.eq(0), tap.eq(0), cgoff.eq(0),
                ix0.eq(-c.padding), ix.eq(-c.padding), iy0.eq(-c.padding), iy.eq(-c.padding),
                col0.eq(-c.padding), col.eq(-c.padding),
                hi.eq(c.kernel - 1 - c.padding), lim.eq(rows - c.padding), lim_m1.eq(rows - 1 - c.padding),
                primed.eq(0),
                h.eq(0), wx.eq(0), wcg.eq(0), wslot.eq(0), waddr.eq(0),
            ]
            # Ring slot of row -P: (-P) mod rows, a constant per padding value.
            with m.Switch(c.padding):
                for p in range(max(mk, 1)):
                    with m.Case(p):
                        m.d.sync += [s0.eq((-p) % rows), su.eq((-p) % rows)]

        # ---- writer: input row h into ring slot h mod rows -------------------------------------
        # Room for row h: compared into a register; when a row completes the register takes the
        # comparison for h + 1 (against lim - 1), so the writer never waits (lim only grows, so
        # a comparison a cycle old is safe).
        room = Signal()
        row_written = Signal()
        m.d.comb += [
            self.i.ready.eq(w_run & room),
            wr.addr.eq(waddr),
            wr.data.eq(self.i.payload),
            wr.en.eq(self.i.valid & self.i.ready),
        ]
        m.d.sync += room.eq((Mux(row_written, h < lim_m1, h < lim) | ~a_run) & ~self.start)
        next_wslot = Signal.like(wslot)
        m.d.comb += next_wslot.eq(slot_step(wslot, 1))
        with m.If(self.i.valid & self.i.ready):
            with m.If(wx != Wm1):
                m.d.sync += [wx.eq(wx + 1), waddr.eq(waddr + 1)]
            with m.Elif(wcg != CGm1):
                m.d.sync += [wx.eq(0), wcg.eq(wcg + 1), waddr.eq(waddr + 1)]
            with m.Else():
                m.d.comb += row_written.eq(1)
                m.d.sync += [wx.eq(0), wcg.eq(0), h.eq(h + 1), wslot.eq(next_wslot),
                             waddr.eq(slot_base(next_wslot))]
                with m.If(h == Hm1):
                    m.d.sync += w_run.eq(0)

        # ---- reader: issue one tap per cycle -------------------------------------------------------
        # The rows of the current output row are complete: compared into a register (h only
        # grows, so a value a cycle old only delays); when the output row changes the register
        # takes the next row's comparison (hi_next), so a new row never starts on the old one's.
        rows_ok = Signal()
        a_valid = a_run & primed & rows_ok
        credit = Signal()
        m.d.comb += credit.eq(in_flight < self.TAP_FIFO_DEPTH)
        fire = a_valid & credit
        m.d.sync += in_flight.eq(in_flight + fire - (self.o.valid & self.o.ready))

        # Whether each loop counter is at its last value: registers, compared a step ahead
        # (against limit - 2, set up in the priming cycle), so a tap's next state is a choice
        # among precomputed values under register selects.
        last_v, last_u, last_cg, last_ox, last_oy = (Signal(name=n) for n in ("last_v", "last_u", "last_cg",
                                                                              "last_ox", "last_oy"))
        Km2, CGm2, Wom2, Hom2 = Signal.like(K), Signal.like(CG), Signal.like(W), Signal.like(H)
        K1, CG1 = Signal(), Signal()       # K == 1, CG == 1
        last_tap = last_v & last_u & last_cg
        pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)

        with m.If(a_run & ~primed):
            m.d.sync += [
                hi_next.eq(hi + stride_val), primed.eq(1),
                Km2.eq(Km1 - 1), CGm2.eq(CGm1 - 1), Wom2.eq(Wom1 - 1), Hom2.eq(Hom1 - 1),
                K1.eq(Km1 == 0), CG1.eq(CGm1 == 0),
                last_v.eq(Km1 == 0), last_u.eq(Km1 == 0), last_cg.eq(CGm1 == 0),
                last_ox.eq(Wom1 == 0), last_oy.eq(Hom1 == 0),
            ]
        row_change = fire & last_tap & last_ox
        m.d.sync += rows_ok.eq(Mux(row_change, (h > hi_next) | (h == H), (h > hi) | (h == H)) & ~self.start)
        with m.If(fire):
            m.d.sync += tap.eq(tap + 1)
            with m.If(~last_v):
                m.d.sync += [v.eq(v + 1), ix.eq(ix + 1), col.eq(col + 1), last_v.eq(v == Km2)]
            with m.Elif(~last_u):
                m.d.sync += [v.eq(0), u.eq(u + 1), ix.eq(ix0), iy.eq(iy + 1), su.eq(slot_step(su, 1)),
                             col.eq(col0), last_v.eq(K1), last_u.eq(u == Km2)]
            with m.Elif(~last_cg):
                m.d.sync += [v.eq(0), u.eq(0), cg.eq(cg + 1), cgoff.eq(cgoff + W), ix.eq(ix0), iy.eq(iy0),
                             su.eq(s0), col0.eq(col0 + W), col.eq(col0 + W), last_v.eq(K1), last_u.eq(K1),
                             last_cg.eq(cg == CGm2)]
            with m.Else():
                m.d.sync += [v.eq(0), u.eq(0), cg.eq(0), cgoff.eq(0), tap.eq(0), last_v.eq(K1), last_u.eq(K1),
                             last_cg.eq(CG1)]
                with m.If(~last_ox):
                    next_ix0 = ix0 + stride_val
                    m.d.sync += [ox.eq(ox + 1), ix0.eq(next_ix0), ix.eq(next_ix0), iy.eq(iy0), su.eq(s0),
                                 col0.eq(next_ix0), col.eq(next_ix0), last_ox.eq(ox == Wom2)]
                with m.Elif(~last_oy):
                    next_iy0 = iy0 + stride_val
                    next_s0 = Signal.like(s0)
                    m.d.comb += next_s0.eq(Mux(S2, slot_step(s0, 2), slot_step(s0, 1)))
                    m.d.sync += [ox.eq(0), oy.eq(oy + 1), ix0.eq(-P), ix.eq(-P), iy0.eq(next_iy0),
                                 iy.eq(next_iy0), hi.eq(hi_next), hi_next.eq(hi_next + stride_val),
                                 lim.eq(lim + stride_val), lim_m1.eq(lim_m1 + stride_val),
                                 s0.eq(next_s0), su.eq(next_s0), col0.eq(-P), col.eq(-P),
                                 last_ox.eq(Wom1 == 0), last_oy.eq(oy == Hom2)]
                with m.Else():
                    m.d.sync += a_run.eq(0)

        # ---- address stage: ring base of the tap's row + its column, with the tap's flags --------
        addr = Signal(aw)
        pad_a, first_a, last_a, end_a = Signal(), Signal(), Signal(), Signal()
        tap_a = Signal.like(tap)
        m.d.sync += [
            a_stage.eq(fire),
            addr.eq(slot_base(su) + col),
            pad_a.eq(pad), tap_a.eq(tap), first_a.eq(tap == 0), last_a.eq(last_tap),
            end_a.eq(last_tap & last_ox & last_oy),
        ]

        # ---- read stage: memory data + registered flags, into the tap FIFO ------------------------
        pad_b = Signal()
        flags_b = Signal(self.tap_layout)
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(a_stage)]
        m.d.sync += [
            b_stage.eq(a_stage), pad_b.eq(pad_a),
            flags_b.tap.eq(tap_a), flags_b.first.eq(first_a), flags_b.last.eq(last_a), flags_b.end.eq(end_a),
        ]
        beat = Signal(self.tap_layout)
        m.d.comb += [
            beat.eq(flags_b),
            beat.act.eq(Mux(pad_b, 0, rd.data.as_value())),
            taps.w_data.eq(beat),
            taps.w_en.eq(b_stage),
            self.o.payload.eq(taps.r_data),
            self.o.valid.eq(taps.r_rdy),
            taps.r_en.eq(self.o.ready),
        ]
        return m
