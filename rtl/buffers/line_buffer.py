"""Direct-convolution line buffer: a ring of input rows in block RAM emitting K x K window taps."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
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


def _wrap_add(value, increment, modulus: int):
    """``(value + increment) mod modulus`` for ``value < modulus`` and ``increment <= modulus``."""
    total = value + increment
    return Mux(total >= modulus, total - modulus, total)


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
        Memory read latency 1 cycle (synchronous, non-transparent read port whose enable is the
        pipeline advance, so its data holds under back-pressure). Latency: a tap appears on
        ``o`` the cycle after it is issued; the first tap of output row ``oy`` is issued the
        cycle after input row ``min(oy*S-P+K-1, H-1)`` completes. Throughput: one tap per cycle
        (II=1) once primed, across pixel, channel-group and output-row boundaries whenever the
        input keeps up. Back-pressure: ``o.valid`` does not wait for ``o.ready``; while
        ``o.valid & ~o.ready`` the payload is held and no new tap is issued.
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

    #: Cycles from a tap's issue to its appearance on ``o`` (the memory read latency).
    LATENCY = 1

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
        lim = Signal(coord)                # first input row the writer must not write yet: iy0 + rows
        rb0 = Signal(range(depth))         # ring base of row iy0
        rbu = Signal(range(depth))         # ring base of row iy
        cgoff = Signal(range(rw + 1))
        addr = Signal(aw)
        tap = Signal(self.tap_layout["tap"].shape)

        # ---- writer state -----------------------------------------------------------------------
        w_run = Signal()
        h = Signal.like(H)                 # input row being written == complete input rows
        wx = Signal.like(W)
        wcg = Signal(range(self.max_channel_groups))
        wbase = Signal(range(depth))
        waddr = Signal(range(depth))

        busy = Signal()
        m.d.comb += [busy.eq(a_run | w_run | self.o.valid), self.busy.eq(busy)]

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
                hi.eq(c.kernel - 1 - c.padding), lim.eq(rows - c.padding),
                h.eq(0), wx.eq(0), wcg.eq(0), wbase.eq(0), waddr.eq(0),
            ]
            # Ring base of row -P: ((-P) mod rows) * row_words, a constant per padding value.
            with m.Switch(c.padding):
                for p in range(max(mk, 1)):
                    with m.Case(p):
                        base = ((-p) % rows) * rw
                        m.d.sync += [rb0.eq(base), rbu.eq(base), addr.eq((base - p) % (1 << aw))]

        # ---- writer: input row h into ring slot h mod rows -------------------------------------
        room = (h < lim) | ~a_run
        m.d.comb += [
            self.i.ready.eq(w_run & room),
            wr.addr.eq(waddr),
            wr.data.eq(self.i.payload),
            wr.en.eq(self.i.valid & self.i.ready),
        ]
        with m.If(self.i.valid & self.i.ready):
            with m.If(wx != Wm1):
                m.d.sync += [wx.eq(wx + 1), waddr.eq(waddr + 1)]
            with m.Elif(wcg != CGm1):
                m.d.sync += [wx.eq(0), wcg.eq(wcg + 1), waddr.eq(waddr + 1)]
            with m.Else():
                next_base = _wrap_add(wbase, rw, depth)
                m.d.sync += [wx.eq(0), wcg.eq(0), h.eq(h + 1), wbase.eq(next_base), waddr.eq(next_base)]
                with m.If(h == Hm1):
                    m.d.sync += w_run.eq(0)

        # ---- reader: issue one tap per cycle -------------------------------------------------------
        rows_ok = (h > hi) | (h == H)
        a_valid = a_run & rows_ok
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        fire = a_valid & advance

        last_v = v == Km1
        last_u = u == Km1
        last_cg = cg == CGm1
        last_ox = ox == Wom1
        last_oy = oy == Hom1
        last_tap = last_v & last_u & last_cg
        pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)

        with m.If(fire):
            m.d.sync += tap.eq(tap + 1)
            with m.If(~last_v):
                m.d.sync += [v.eq(v + 1), ix.eq(ix + 1), addr.eq(addr + 1)]
            with m.Elif(~last_u):
                next_rbu = _wrap_add(rbu, rw, depth)
                m.d.sync += [v.eq(0), u.eq(u + 1), ix.eq(ix0), iy.eq(iy + 1), rbu.eq(next_rbu),
                             addr.eq(next_rbu + cgoff + ix0)]
            with m.Elif(~last_cg):
                next_cgoff = cgoff + W
                m.d.sync += [v.eq(0), u.eq(0), cg.eq(cg + 1), cgoff.eq(next_cgoff), ix.eq(ix0), iy.eq(iy0),
                             rbu.eq(rb0), addr.eq(rb0 + next_cgoff + ix0)]
            with m.Else():
                m.d.sync += [v.eq(0), u.eq(0), cg.eq(0), cgoff.eq(0), tap.eq(0)]
                with m.If(~last_ox):
                    next_ix0 = ix0 + stride_val
                    m.d.sync += [ox.eq(ox + 1), ix0.eq(next_ix0), ix.eq(next_ix0), iy.eq(iy0), rbu.eq(rb0),
                                 addr.eq(rb0 + next_ix0)]
                with m.Elif(~last_oy):
                    next_iy0 = iy0 + stride_val
                    next_rb0 = _wrap_add(rb0, Mux(S2, 2 * rw, rw), depth)
                    m.d.sync += [ox.eq(0), oy.eq(oy + 1), ix0.eq(-P), ix.eq(-P), iy0.eq(next_iy0),
                                 iy.eq(next_iy0), hi.eq(hi + stride_val), lim.eq(lim + stride_val),
                                 rb0.eq(next_rb0), rbu.eq(next_rb0), addr.eq(next_rb0 - P)]
                with m.Else():
                    m.d.sync += a_run.eq(0)

        # ---- output stage: memory data + registered flags ----------------------------------------
        pad_b, first_b, last_b, end_b = Signal(), Signal(), Signal(), Signal()
        tap_b = Signal.like(tap)
        o = self.o.payload
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(a_valid),
                pad_b.eq(pad),
                tap_b.eq(tap),
                first_b.eq(tap == 0),
                last_b.eq(last_tap),
                end_b.eq(last_tap & last_ox & last_oy),
            ]
        m.d.comb += [
            o.act.eq(Mux(pad_b, 0, rd.data.as_value())),
            o.tap.eq(tap_b), o.first.eq(first_b), o.last.eq(last_b), o.end.eq(end_b),
        ]
        return m
