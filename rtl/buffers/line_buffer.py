"""Direct-convolution line buffer: a ring of input rows in block RAM emitting K x K window taps."""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..numerics import SUPPORTED_DATA_WIDTHS
from ..stream import StreamFifo
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
        self.rows = self.ring_rows(max_kernel, max_stride)
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
    def ring_rows(max_kernel: int, max_stride: int) -> int:
        """Input rows the ring holds: a window's ``max_kernel`` rows and the next ``max_stride``."""
        return max_kernel + max_stride

    @staticmethod
    def memory_shapes(pn: int, data_width: int, max_kernel: int, max_stride: int, row_words: int) -> tuple[MemoryShape, ...]:
        """The ring of ``max_kernel + max_stride`` rows of ``row_words`` pn-words."""
        rows = DirectLineBuffer.ring_rows(max_kernel, max_stride)
        return (MemoryShape("line_buffer", pn * data_width, rows * row_words),)

    @property
    def tap_width(self) -> int:
        """Bit width of the ``tap`` field of ``o`` (give it to ``WeightBuffer(tap_width=...)``)."""
        return Shape.cast(self.tap_layout["tap"].shape).width

    #: Cycles from a tap's issue to its appearance on ``o`` (address stage, memory read, FIFO).
    LATENCY = 4
    #: Taps in flight (issued, not yet taken from ``o``): the output FIFO's size, more than the
    #: credit loop (issue to pop, LATENCY + 1 cycles, plus the cycle the credit register lags)
    #: so credits never throttle a consumer that keeps up.
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
        Wm1 = Signal.like(W)
        Hm1 = Signal.like(H)
        CGm1 = Signal.like(CG)
        Km1 = Signal.like(K)
        Wom1 = Signal.like(W)
        Hom1 = Signal.like(H)

        # Holds every row/column coordinate: -P .. max(W, H) + rows.
        coord = Shape.cast(range(-mk, max(self.max_width, self.max_height) + 2 * mk + ms + 1))
        stride_val = Mux(S2, 2, 1)
        neg_p = Signal(coord)              # -P, a register: the row restart needs no negation

        # ---- ring slots: slot k starts at k * row_words (a constant per slot) ---------------------
        def slot_base(slot):
            base = Signal(range(depth), name=f"{slot.name}_base")
            with m.Switch(slot):
                for k in range(rows):
                    with m.Case(k):
                        m.d.comb += base.eq(k * rw)
            return base

        def slot_step(slot, by):
            """``(slot + by) mod rows`` for ``by`` in 1..rows: a table of the few ring slots (one
            LUT level), not an add, compare and subtract in series."""
            step = Signal.like(slot, name=f"{slot.name}_plus{by}")
            with m.Switch(slot):
                for k in range(rows):
                    with m.Case(k):
                        m.d.comb += step.eq((k + by) % rows)
            return step

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
        # Columns within a ring row: cg * W + ix, from -P up to row_words + K + S.
        col_shape = Shape.cast(range(-mk, rw + 2 * mk + ms + 1))
        col0 = Signal(col_shape)           # cgoff + ix0: column of the tap (u, v=0)
        col = Signal(col_shape)            # cgoff + ix: column of the tap within its row
        tap = Signal(self.tap_layout["tap"].shape)
        s0_init = Signal(range(rows))      # ring slot of row -P
        branch = Signal(6)                 # one-hot: what the next tap advances (v, u, cg, ox, oy, end)

        # ---- writer state -----------------------------------------------------------------------
        w_run = Signal()
        h = Signal.like(H)                 # input row being written == complete input rows
        wx = Signal.like(W)
        wcg = Signal(range(self.max_channel_groups))
        wslot = Signal(range(rows))
        waddr = Signal(range(depth))

        a_stage = Signal()                 # a tap's address is being formed
        b_stage = Signal()                 # a tap is being read
        setup = Signal()                   # the pass's derived limits are set (the cycle after start)
        primed = Signal()                  # the tap loop is loaded (the cycle after that)
        # Taps leave through a FIFO; a tap is issued only while every tap in flight has an entry
        # (credits), so the issue loop, the address stage and the memory read never stall.
        m.submodules.taps = taps = StreamFifo(self.tap_layout, self.TAP_FIFO_DEPTH)
        in_flight = Signal(range(self.TAP_FIFO_DEPTH + 1))
        popped = Signal()                  # a tap left `o` last cycle (its credit returns now)
        busy = Signal()
        m.d.comb += [busy.eq(a_run | w_run | (in_flight != 0) | popped), self.busy.eq(busy)]

        # ---- start -------------------------------------------------------------------------------
        with m.If(self.start & ~busy):
            c = self.cfg
            s2 = (c.stride == 2) if ms == 2 else Const(0)
            span = c.height + 2 * c.padding - c.kernel          # (H + 2P - K), >= 0 for valid cfgs
            wspan = c.width + 2 * c.padding - c.kernel
            m.d.sync += [
                W.eq(c.width), H.eq(c.height), CG.eq(c.channel_groups), K.eq(c.kernel),
                S2.eq(s2), neg_p.eq(-c.padding),
                Wm1.eq(c.width - 1), Hm1.eq(c.height - 1), CGm1.eq(c.channel_groups - 1),
                Km1.eq(c.kernel - 1),
                Hom1.eq(Mux(s2, span[1:], span)),
                Wom1.eq(Mux(s2, wspan[1:], wspan)),
                a_run.eq(1), w_run.eq(1), branch.eq(0),
                hi.eq(c.kernel - 1 - c.padding), lim.eq(rows - c.padding), lim_m1.eq(rows - 1 - c.padding),
                setup.eq(0), primed.eq(0),
                h.eq(0), wx.eq(0), wcg.eq(0), wslot.eq(0), waddr.eq(0),
            ]
            # Ring slot of row -P: (-P) mod rows, a constant per padding value.
            with m.Switch(c.padding):
                for p in range(max(mk, 1)):
                    with m.Case(p):
                        m.d.sync += s0_init.eq((-p) % rows)

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
        # A register a cycle old: in_flight grows by at most one per cycle, so the old count
        # compared with one entry less is safe, and ``fire`` is an AND of registers.
        credit = Signal(init=1)
        m.d.sync += credit.eq(in_flight < self.TAP_FIFO_DEPTH - 1)
        fire = a_valid & credit
        # A tap's credit returns the cycle after it leaves `o` (no path from o.ready into the count).
        m.d.sync += [popped.eq(self.o.valid & self.o.ready), in_flight.eq(in_flight + fire - popped)]

        # The tap loop ``oy, ox, cg, u, v``. Whether each counter is at its last value is a
        # register compared a step ahead (against limit - 2, set up in the setup cycle), and
        # which counter the next tap advances is a one-hot register (``branch``). Every reader
        # register loads, when a tap fires (or in the priming cycle), an AND-OR of its
        # candidates under the one-hot: no priority chain and no compare on the path from
        # ``fire``. The next branch is an AND-OR too: per current branch, the first loop level
        # that is not at its end, from one compare of the advancing counter and flags that are
        # registers.
        last_v, last_u, last_cg, last_ox, last_oy = (Signal(name=n) for n in ("last_v", "last_u", "last_cg",
                                                                              "last_ox", "last_oy"))
        Km2, CGm2, Wom2, Hom2 = Signal.like(K), Signal.like(CG), Signal.like(W), Signal.like(H)
        K1, CG1, Wo1, Ho1 = Signal(), Signal(), Signal(), Signal()   # K, CG, Wo, Ho == 1
        last_tap = last_v & last_u & last_cg
        pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)
        prime = a_run & setup & ~primed
        V, U, G, X, Y, END = (branch[k] for k in range(6))

        def first(*levels):
            """One-hot (V, U, G, X, Y, END) of the first level whose ``more`` condition holds
            (``levels``: ``(more, k)`` pairs, innermost first); END when none does."""
            out, blocked = [Const(0, 1)] * 6, Const(0, 1)
            for more, k in levels:
                out[k] = out[k] | (~blocked & more)
                blocked = blocked | more
            out[5] = out[5] | ~blocked
            return out

        def load(reg, *cases):
            """``reg`` takes the value of the case whose select is high (selects are one-hot)."""
            m.d.sync += reg.eq(functools.reduce(operator.or_, [Mux(sel, value, 0) for sel, value in cases]))

        next_ix0 = ix0 + stride_val
        next_iy0 = iy0 + stride_val
        next_s0 = Signal.like(s0)
        m.d.comb += next_s0.eq(Mux(S2, slot_step(s0, 2), slot_step(s0, 1)))
        with m.If(a_run & ~setup):
            m.d.sync += [
                hi_next.eq(hi + stride_val), setup.eq(1),
                Km2.eq(Km1 - 1), CGm2.eq(CGm1 - 1), Wom2.eq(Wom1 - 1), Hom2.eq(Hom1 - 1),
                K1.eq(Km1 == 0), CG1.eq(CGm1 == 0), Wo1.eq(Wom1 == 0), Ho1.eq(Hom1 == 0),
            ]
        with m.If(prime):
            m.d.sync += primed.eq(1)
        with m.If(fire | prime):
            load(tap, (V | U | G, tap + 1))
            load(v, (V, v + 1))
            load(u, (V, u), (U, u + 1))
            load(cg, (V | U, cg), (G, cg + 1))
            load(cgoff, (V | U, cgoff), (G, cgoff + W))
            load(ix, (V, ix + 1), (U | G, ix0), (X, next_ix0), (Y | prime, neg_p))
            load(iy, (U, iy + 1), (V, iy), (G | X, iy0), (Y, next_iy0), (prime, neg_p))
            load(ix0, (V | U | G, ix0), (X, next_ix0), (Y | prime, neg_p))
            load(iy0, (V | U | G | X, iy0), (Y, next_iy0), (prime, neg_p))
            load(su, (V, su), (U, slot_step(su, 1)), (G | X, s0), (Y, next_s0), (prime, s0_init))
            load(s0, (V | U | G | X, s0), (Y, next_s0), (prime, s0_init))
            load(col0, (V | U, col0), (G, col0 + W), (X, next_ix0), (Y | prime, neg_p))
            load(col, (V, col + 1), (U, col0), (G, col0 + W), (X, next_ix0), (Y | prime, neg_p))
            load(ox, (V | U | G, ox), (X, ox + 1))
            load(oy, (V | U | G | X, oy), (Y, oy + 1))
            # The advancing counter reaches its last value with this tap.
            ev, eu, ecg, eox, eoy = v == Km2, u == Km2, cg == CGm2, ox == Wom2, oy == Hom2
            # Next flags: the advancing counter's compare; counters below it restart (last only
            # when their range is one value); counters above it keep their flag.
            load(last_v, (V, ev), (U | G | X | Y | prime, K1))
            load(last_u, (V, last_u), (U, eu), (G | X | Y | prime, K1))
            load(last_cg, (V | U, last_cg), (G, ecg), (X | Y | prime, CG1))
            load(last_ox, (V | U | G, last_ox), (X, eox), (Y | prime, Wo1))
            load(last_oy, (V | U | G | X, last_oy), (Y, eoy), (prime, Ho1))
            # Next branch, per current branch, from the same values.
            cands = [
                (V, first((~ev, 0), (~last_u, 1), (~last_cg, 2), (~last_ox, 3), (~last_oy, 4))),
                (U, first((~K1, 0), (~eu, 1), (~last_cg, 2), (~last_ox, 3), (~last_oy, 4))),
                (G, first((~K1, 0), (~ecg, 2), (~last_ox, 3), (~last_oy, 4))),
                (X, first((~K1, 0), (~CG1, 2), (~eox, 3), (~last_oy, 4))),
                (Y, first((~K1, 0), (~CG1, 2), (~Wo1, 3), (~eoy, 4))),
                (prime, first((~K1, 0), (~CG1, 2), (~Wo1, 3), (~Ho1, 4))),
            ]
            m.d.sync += branch.eq(Cat(*(functools.reduce(operator.or_, [sel & c[k] for sel, c in cands])
                                        for k in range(6))))
        with m.If(fire & Y):
            m.d.sync += [hi.eq(hi_next), hi_next.eq(hi_next + stride_val),
                         lim.eq(lim + stride_val), lim_m1.eq(lim_m1 + stride_val)]
        with m.If(fire & END):
            m.d.sync += a_run.eq(0)
        row_change = fire & (Y | END)
        m.d.sync += rows_ok.eq(Mux(row_change, (h > hi_next) | (h == H), (h > hi) | (h == H)) & ~self.start)

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
            taps.i.payload.eq(beat),
            taps.i.valid.eq(b_stage),   # credits: a tap in flight always has an entry
        ]
        wiring.connect(m, taps.o, wiring.flipped(self.o))
        return m
