"""Winograd tile buffer: input rows in banked block RAM, emitting overlapping n x n x pn tiles."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..numerics import SUPPORTED_DATA_WIDTHS
from ..pe.winograd_input_transform import tile_layout
from ..winograd_math import WINOGRAD_TILES
from .geometry import MemoryShape

__all__ = ["WinogradTileBuffer", "tile_config_layout", "tile_beat_layout", "tile_flags_layout", "tile_region_depth"]

#: Kernel size of the Winograd engine (F(m, 3)); adjacent tiles overlap by R - 1 = 2.
R = 3


def tile_config_layout(max_width: int, max_height: int, max_channel_groups: int,
                       max_groups: int = 1) -> data.StructLayout:
    """Runtime pass configuration: ``width`` W, ``height`` H, ``channel_groups`` CG, ``padding`` P
    (0..2), ``groups`` G (output-channel groups, each visiting every tile row). Fields LSB first
    in this order."""
    return data.StructLayout({
        "width": range(max_width + 1),
        "height": range(max_height + 1),
        "channel_groups": range(max_channel_groups + 1),
        "padding": range(R),
        "groups": range(max_groups + 1),
    })


def tile_flags_layout(max_channel_groups: int) -> data.StructLayout:
    """Flags travelling with a tile: ``cg`` (its channel group), ``first`` (cg == 0), ``last``
    (cg == CG-1: the end of the tile's channel accumulation), ``end`` (the final tile of a visit:
    one output-channel group over one tile row), ``final`` (the final tile of the pass). Fields
    LSB first."""
    return data.StructLayout({"cg": range(max(max_channel_groups, 2)), "first": 1, "last": 1, "end": 1,
                              "final": 1})


def tile_beat_layout(m: int, pn: int, data_width: int, max_channel_groups: int) -> data.StructLayout:
    """One tile: ``d[r][c][ch]`` (n x n x pn, n = m + 2) and its ``flags``
    (:func:`tile_flags_layout`), as the input transform takes them. LSB first."""
    n = m + R - 1
    return data.StructLayout({
        "d": tile_layout(n, pn, signed(data_width)),
        "flags": tile_flags_layout(max_channel_groups),
    })


def tile_region_depth(m: int, max_width: int, max_channel_groups: int, row_words: int) -> int:
    """Words per bank per stored row: ``max CG * NB(W)`` over the accepted ``W * CG <= row_words``,
    where ``NB(W) = (W - 1 + m) // m + 1`` column blocks of ``m`` (padding 2, the worst case)."""
    best = 0
    for cg in range(1, max_channel_groups + 1):
        width = min(max_width, row_words // cg)
        if width >= 1:
            best = max(best, cg * ((width - 1 + m) // m + 1))
    return best


class WinogradTileBuffer(wiring.Component):
    """Line buffer of the Winograd F(m, 3) engine: overlap-and-save n x n x pn input tiles.

    Dataflow
        ``i`` receives one pass of the input map, ``H*CG*W`` pn-words in the order ``h, cg, w``
        (as :class:`DirectLineBuffer`). ``o`` emits ``Ty*G*Tx*CG`` tiles, ``Ty = ceil(Ho/m)``,
        ``Tx = ceil(Wo/m)``, ``Ho = H + 2P - 2``, ``Wo = W + 2P - 2``, in the order
        ``ty, g, tx, cg``: each tile row is visited once per output-channel group ``g`` (the
        input is read from DDR once, and each tile row is reused ``G`` times), and within a
        visit, for each tile, all channel groups back to back, so the EWMM accumulates over
        input channels without storing partial sums:
        ``tile[r][c][ch] = x[cg*pn+ch, ty*m-P+r, tx*m-P+c]``, zero outside the map (padding and
        the part of partial edge tiles beyond ``Ho``/``Wo``, whose outputs the output buffer
        drops). Adjacent tiles overlap by 2 rows/columns (overlap-and-save). ``first``: cg 0,
        ``last``: cg CG-1 (end of a tile's channel accumulation), ``end``: the final tile of a
        visit, ``final``: the final tile of the pass.

    Ports
        ``cfg``: In(:func:`tile_config_layout`), sampled when ``start`` (In(1)) is high while
        ``busy`` is low; must be valid: P <= 2, Ho, Wo >= 1, W <= max_width, CG <= max_cg,
        W*CG <= row_words. ``busy``: Out(1) from the cycle after ``start`` until the final tile
        has been handed over and all input words have been consumed.
        ``i``: In(stream(ArrayLayout(signed(data_width), pn))).
        ``o``: Out(stream(:func:`tile_beat_layout`)): ``flags.cg`` counts up to ``flags_cg``
        (default ``max_channel_groups``; the filter buffer's depth, so the two layouts agree).
        ``x_rows``: Out, how many input rows (from row 0) the buffer accepts without waiting for
        a tile: rows ``< x_rows`` can be read from DDR and sent now (a register; it grows by
        ``m`` per tile row, covers every row once the last tile has been issued, and is 0
        between passes). ``x_need``: Out, the rows (from row 0) the current tile row reads: the
        tiles wait until rows ``< x_need`` (or all ``H``) have arrived.
        ``room``: In(1), a new tile position (its first channel group) may be issued: its output
        tile has a place downstream; ``visit_ok``: In(1), a new visit may start: its filters are
        loaded. Both default to 1 and should be registers. ``position_start`` /
        ``visit_start``: Out(1) pulses when such a tile is issued (for the consumer's counts).

    Storage (n*n ``amaranth.lib.memory.Memory`` banks, one read per bank per cycle)
        Column ``x`` is column ``j = (x+P+m-2) mod m`` of column block ``cb = (x+P+m-2) div m``;
        tile ``tx`` is the last two columns of block ``tx`` followed by all of block ``tx+1``.
        So each row is stored in ``m`` B-column banks (column ``j`` of every block) plus two
        D-column banks duplicating columns ``j = m-2, m-1``: the tile reads the D banks at block
        ``tx`` and the B banks at block ``tx+1``, one word each -- no rotation network. Rows
        are split the same way by row block ``rb = (y+P+m-2) div m``: ``m`` B-row lanes, double
        buffered (region ``rb mod 2``), hold the rows of block ``ty+1`` the current tile row
        reads while block ``ty+2`` loads; two D-row lanes (region ``rb mod 3``) duplicate the
        last two rows of every block, i.e. the two rows adjacent tile rows share. Each bank holds
        ``regions * region_depth`` words (:func:`tile_region_depth`) at
        ``region*region_depth + cg*NB + cb`` (``NB`` column blocks per channel group), plus one
        never-written word, zero from initialisation, that reads of positions outside the map
        are steered to (so the zero padding costs address muxes, not an output mux).
        This is the (n + m)-row double buffer of Lu/Liang et al. (n rows feed the current tile
        row while the next m rows load, the 2 overlap rows kept for the next tile row) without
        moving data: the row storage is ``2m`` B rows + ``3*2`` D rows per channel group, in
        ``n*n`` banks -- the count the bandwidth of one tile per cycle needs anyway.

    Timing
        Memory read latency 1 cycle (read enables follow the pipeline advance, so the data holds
        under back-pressure). Tile row ``ty`` starts once input row ``min(ty*m-P+n-1, H-1)`` is
        complete; meanwhile the input may run ahead up to row block ``ty+2``, i.e. the whole of
        the next tile row, so after priming one tile per cycle (II=1) is emitted whenever the
        input keeps up (it needs ``m*CG*W`` words per ``Tx*CG`` tiles). Honest valid/ready.
    """

    #: Cycles from a tile's issue to its appearance on ``o`` (memory read latency).
    LATENCY = 1

    def __init__(self, m: int, pn: int, data_width: int, max_width: int, max_channel_groups: int,
                 row_words: int | None = None, *, max_height: int = 4096, flags_cg: int | None = None,
                 max_groups: int = 1):
        if m not in WINOGRAD_TILES:
            raise ValueError(f"m must be one of {WINOGRAD_TILES}, got {m}")
        if pn < 1:
            raise ValueError(f"pn must be at least 1, got {pn}")
        if data_width not in SUPPORTED_DATA_WIDTHS:
            raise ValueError(f"data_width must be one of {SUPPORTED_DATA_WIDTHS}, got {data_width}")
        for name, value in (("max_width", max_width), ("max_channel_groups", max_channel_groups),
                            ("max_height", max_height), ("max_groups", max_groups)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        full = max_width * max_channel_groups
        if row_words is None:
            row_words = full
        if not 1 <= row_words <= full:
            raise ValueError(f"row_words must be in 1..max_width*max_channel_groups ({full}), got {row_words}")
        self.m, self.n, self.pn, self.data_width = m, m + R - 1, pn, data_width
        self.max_width, self.max_height, self.max_channel_groups = max_width, max_height, max_channel_groups
        self.max_groups = max_groups
        self.row_words = row_words
        #: Words per bank per stored row (one region).
        self.region_depth = tile_region_depth(m, max_width, max_channel_groups, row_words)
        #: Memory depth of the B-row banks (2 regions) and the D-row banks (3 regions), each plus
        #: one never-written word (address ``depth - 1``, zero from initialisation) that reads
        #: of padding positions are steered to.
        d_rows, b_rows = self.memory_shapes(m, pn, data_width, max_width, max_channel_groups, row_words)
        self.b_depth, self.d_depth = b_rows.depth, d_rows.depth
        self.word_layout = data.ArrayLayout(signed(data_width), pn)
        self.cfg_layout = tile_config_layout(max_width, max_height, max_channel_groups, max_groups)
        self.tile_layout = tile_beat_layout(m, pn, data_width, flags_cg or max_channel_groups)
        super().__init__({
            "cfg": In(self.cfg_layout),
            "start": In(1),
            "busy": Out(1),
            "i": In(stream.Signature(self.word_layout)),
            "o": Out(stream.Signature(self.tile_layout)),
            "x_rows": Out(range(max_height + 3 * self.n + 1)),
            "x_need": Out(range(max_height + 3 * self.n + 1)),
            "room": In(1, init=1),
            "visit_ok": In(1, init=1),
            "position_start": Out(1),
            "visit_start": Out(1),
        })

    @staticmethod
    def memory_shapes(m: int, pn: int, data_width: int, max_width: int, max_channel_groups: int,
                      row_words: int) -> tuple[MemoryShape, ...]:
        """The ``n*n`` banks: ``2n`` D-row banks of 3 regions and ``m*n`` B-row banks of 2
        regions, each plus the never-written zero word."""
        n = m + R - 1
        region = tile_region_depth(m, max_width, max_channel_groups, row_words)
        return (MemoryShape("tile_buffer_d_rows", pn * data_width, 3 * region + 1, 2 * n),
                MemoryShape("tile_buffer_b_rows", pn * data_width, 2 * region + 1, m * n))

    @property
    def bank_words(self) -> int:
        """Total words stored over all n*n banks."""
        n = self.n
        return n * (self.m * self.b_depth + 2 * self.d_depth)

    def elaborate(self, platform):
        m = Module()
        tile, n, rd_depth = self.m, self.n, self.region_depth
        mcg = self.max_channel_groups

        # Lane (tile row) rl / bank (tile column) cl: 0, 1 are the D copies, 2.. the B lanes.
        wports = [[None] * n for _ in range(n)]
        rports = [[None] * n for _ in range(n)]
        for rl in range(n):
            for cl in range(n):
                depth = self.d_depth if rl < 2 else self.b_depth
                mem = Memory(shape=self.word_layout, depth=depth, init=[])
                m.submodules[f"bank_r{rl}_c{cl}"] = mem
                wports[rl][cl] = mem.write_port()
                rports[rl][cl] = mem.read_port()

        # ---- configuration ------------------------------------------------------------------------
        W = Signal(range(self.max_width + 1))
        H = Signal(range(self.max_height + 1))
        CG = Signal(range(mcg + 1))
        P = Signal(range(R))
        G = Signal(range(self.max_groups + 1))
        Wm1, Hm1, CGm1, Gm1 = Signal.like(W), Signal.like(H), Signal.like(CG), Signal.like(G)
        CGm2, Gm2 = Signal.like(CG), Signal.like(G)
        coord = Shape.cast(range(-R, max(self.max_width, self.max_height) + 3 * n + 1))
        # The last tile column is the first with xlo >= W + P - 2 - tile (likewise tile rows, ylo
        # = ty*tile - P). "The next tile column / row is the last" is kept as a register
        # (tx_next, ty_next) compared against the limit less one or two steps, so no add sits
        # before the compare.
        limit = Shape.cast(range(-(R + 3 * tile), max(self.max_width, self.max_height) + 3 * n + 1))
        xlast1, xlast2, ylast1, ylast2 = (Signal(limit, name=k) for k in ("xlast1", "xlast2", "ylast1", "ylast2"))
        tx_next, tx_next0, ty_next = Signal(), Signal(), Signal()
        wp, hp = Signal(limit), Signal(limit)   # W + P, H + P

        blocks = Shape.cast(range(max(self.max_width, self.max_height) // tile + 4))
        addr_shape = Shape.cast(range(3 * rd_depth + 2))

        # ---- writer state --------------------------------------------------------------------------
        w_run = Signal()
        h = Signal.like(H)
        wx = Signal.like(W)
        wcg = Signal(range(mcg))
        cb = Signal(blocks)
        jc = Signal(range(tile))
        rb = Signal(blocks)
        jr = Signal(range(tile))
        rgB_w = Signal()
        rgD_w = Signal(range(3))
        cgbase = Signal(range(rd_depth + 1))
        nb = Signal(blocks)     # column blocks per channel group (latched by the writer)

        # ---- reader state --------------------------------------------------------------------------
        a_run = Signal()
        cg = Signal(range(mcg))
        g = Signal(range(self.max_groups))     # output-channel group of the visit
        xlo = Signal(coord)
        ylo = Signal(coord)
        hi = Signal(coord)
        wlim = Signal(blocks)

        setup = Signal()               # the cycle after start
        setup2 = Signal()              # the cycle after that
        pos_first = Signal(init=1)     # cg == 0
        visit_first = Signal(init=1)   # tx == 0 and cg == 0
        # Decisions of the tile issue as registers, computed when the counters move (a step ahead):
        # the last channel group / tile column / group / tile row, which of the tile's rows and
        # columns lie inside the map, and each bank's read address.
        last_cg, last_tx, last_g, last_ty = Signal(), Signal(), Signal(), Signal()
        cg_one, tx_one, g_one = Signal(), Signal(), Signal()   # ... when the counter restarts
        row_ok = Signal(n)
        col_ok = Signal(n)
        col_ok0 = Signal(n)            # the columns of a tile row's first tile
        # Region offsets (and offsets + 1) of the current tile row's D and B lanes, the next
        # tile row's, and for D the one after: a tile row moves them on by rotation, no adder.
        off_d, nx_d, nn_d, off_d1, nx_d1, nn_d1 = (Signal(addr_shape, name=f"{k}_d{j}")
                                                   for j in ("", "1") for k in ("off", "nx", "nn"))
        off_b, nx_b, off_b1, nx_b1 = (Signal(addr_shape, name=f"{k}_b{j}") for j in ("", "1") for k in ("off", "nx"))
        # Which branch the next issued tile takes (one-hot, or none for the pass's final tile):
        # registers computed with the last_* flags, so the address muxes select on them.
        b_cg, b_tx, b_g, b_ty, b_row = (Signal(name=f"b_{k}") for k in ("cg", "tx", "g", "ty", "row"))

        def branch(lc, lt, lg, ly):
            return [b_cg.eq(~lc), b_tx.eq(lc & ~lt), b_g.eq(lc & lt & ~lg), b_ty.eq(lc & lt & lg & ~ly),
                    b_row.eq(lc & lt & lg)]
        rt_d = Signal(addr_shape)      # ... plus tx: the current tile's channel group 0
        rt_b = Signal(addr_shape)
        wrem = Signal(coord)           # W - xlo: the tile's columns k < wrem are inside the map
        hrem = Signal(coord)           # H - ylo
        wrem0 = Signal(coord)          # W + P, for a tile row's first tile
        ra_d, ra_d1, ra_b, ra_b1 = (Signal(addr_shape, name=f"ra_{k}") for k in ("d", "d1", "b", "b1"))

        busy = Signal()
        m.d.comb += [busy.eq(a_run | w_run | self.o.valid), self.busy.eq(busy)]

        def block_start(pad):
            """(block, j) of coordinate 0: divmod(P + tile - 2, tile)."""
            return Mux(pad == 2, 1, 0), Mux(pad == 2, 0, pad + tile - 2)

        with m.If(self.start & ~busy):
            c = self.cfg
            b0, j0 = block_start(c.padding)
            m.d.sync += [
                W.eq(c.width), H.eq(c.height), CG.eq(c.channel_groups), P.eq(c.padding), G.eq(c.groups),
                Wm1.eq(c.width - 1), Hm1.eq(c.height - 1), CGm1.eq(c.channel_groups - 1), Gm1.eq(c.groups - 1),
                CGm2.eq(c.channel_groups - 2), Gm2.eq(c.groups - 2),
                g.eq(0), self.x_rows.eq(2 * tile + 2 - c.padding), self.x_need.eq(n - c.padding),
                pos_first.eq(1), visit_first.eq(1),
                wp.eq(c.width + c.padding), hp.eq(c.height + c.padding),
                w_run.eq(1), a_run.eq(1),
                h.eq(0), wx.eq(0), wcg.eq(0), cb.eq(b0), jc.eq(j0), rb.eq(b0), jr.eq(j0),
                rgB_w.eq(b0), rgD_w.eq(b0), cgbase.eq(0),
                cg.eq(0), xlo.eq(-c.padding), ylo.eq(-c.padding),
                hi.eq(n - 1 - c.padding), wlim.eq(2),
                last_cg.eq(c.channel_groups == 1), cg_one.eq(c.channel_groups == 1),
                last_g.eq(c.groups == 1), g_one.eq(c.groups == 1), setup.eq(1),
                # D regions 0, 1, 2 in turn; B regions 1, 0, 1, ...
                off_d.eq(0), nx_d.eq(rd_depth), nn_d.eq(2 * rd_depth),
                off_d1.eq(1), nx_d1.eq(rd_depth + 1), nn_d1.eq(2 * rd_depth + 1),
                off_b.eq(rd_depth), nx_b.eq(0), off_b1.eq(rd_depth + 1), nx_b1.eq(1),
                ra_d.eq(0), ra_d1.eq(1), ra_b.eq(rd_depth), ra_b1.eq(rd_depth + 1),
                rt_d.eq(0), rt_b.eq(rd_depth),
                wrem.eq(c.width + c.padding), wrem0.eq(c.width + c.padding), hrem.eq(c.height + c.padding),
            ]

        # The first tile's flags, in the cycle after start from the registered configuration, and
        # the tile column / row limits a cycle later (no tile is issued before the first rows
        # have arrived).
        with m.If(setup):
            col_first = Cat(*[(k >= P) & (k < wrem0) for k in range(n)])
            m.d.sync += [
                setup.eq(0),
                last_tx.eq(wrem0 + P <= tile + 2), tx_one.eq(wrem0 + P <= tile + 2),
                last_ty.eq(hrem + P <= tile + 2),
                *branch(last_cg, wrem0 + P <= tile + 2, last_g, hrem + P <= tile + 2),
                xlast1.eq(wp - (2 + 2 * tile)), xlast2.eq(wp - (2 + 3 * tile)),
                ylast1.eq(hp - (2 + 2 * tile)), ylast2.eq(hp - (2 + 3 * tile)), setup2.eq(1),
                row_ok.eq(Cat(*[(k >= P) & (k < hrem) for k in range(n)])),
                col_ok.eq(col_first), col_ok0.eq(col_first),
            ]

        with m.If(setup2):
            m.d.sync += [setup2.eq(0), tx_next.eq(xlo >= xlast1), tx_next0.eq(xlo >= xlast1),
                         ty_next.eq(ylo >= ylast1)]

        # ---- writer -------------------------------------------------------------------------------
        # Ring room (block rb may be written while rb <= wlim, or once no tile reads any more) is
        # a register computed from the next rb; wlim and a_run change on the reader's side and a
        # value a cycle old only delays.
        room = Signal(init=1)
        m.d.comb += self.i.ready.eq(w_run & room)
        w_fire = self.i.valid & self.i.ready
        row_end = Signal()   # this word ends an input row (its last channel group's last column)
        m.d.comb += row_end.eq((wx == Wm1) & (wcg == CGm1))
        room_now, room_after = Signal(), Signal()   # block rb / rb + 1 may be written
        m.d.comb += [room_now.eq(rb <= wlim), room_after.eq(rb < wlim)]
        rb_moves = w_fire & row_end & (jr == tile - 1)
        m.d.sync += room.eq(Mux(rb_moves, room_after, room_now) | ~a_run | (self.start & ~busy))

        def region_offset(sel, regions):
            return Mux(sel == 2, 2 * rd_depth, Mux(sel == 1, rd_depth, 0)) if regions == 3 else Mux(sel, rd_depth, 0)

        wa_b = Signal(addr_shape)
        wa_d = Signal(addr_shape)
        m.d.comb += [
            wa_b.eq(region_offset(rgB_w, 2) + cgbase + cb),
            wa_d.eq(region_offset(rgD_w, 3) + cgbase + cb),
        ]

        def hit(index, j):
            return (j == tile - 2 + index) if index < 2 else (j == index - 2)

        # The writes go through a register stage (address, data and each bank's enable), so the
        # block RAMs' write-enable decode (deep memories span several RAMB36) starts at registers.
        # A row counts as arrived (h) a cycle before its last word is written, and the reader
        # sees h through its registered rows check a cycle later still: reads never pass writes.
        wa_d_r, wa_b_r = Signal(addr_shape), Signal(addr_shape)
        wdata_r = Signal.like(self.i.payload)
        m.d.sync += [wa_d_r.eq(wa_d), wa_b_r.eq(wa_b), wdata_r.eq(self.i.payload)]
        for rl in range(n):
            for cl in range(n):
                wp = wports[rl][cl]
                wen_r = Signal(name=f"wen_r{rl}_c{cl}")
                m.d.sync += wen_r.eq(w_fire & hit(rl, jr) & hit(cl, jc))
                m.d.comb += [wp.addr.eq(wa_d_r if rl < 2 else wa_b_r), wp.data.eq(wdata_r), wp.en.eq(wen_r)]

        with m.If(w_fire):
            b0, j0 = block_start(P)
            with m.If(jc == tile - 1):
                m.d.sync += [jc.eq(0), cb.eq(cb + 1)]
            with m.Else():
                m.d.sync += jc.eq(jc + 1)
            with m.If(wx != Wm1):
                m.d.sync += wx.eq(wx + 1)
            with m.Else():
                # End of one channel group's row segment: the next segment starts a new block run.
                m.d.sync += [wx.eq(0), cb.eq(b0), jc.eq(j0), nb.eq(cb + 1)]
                with m.If(wcg != CGm1):
                    m.d.sync += [wcg.eq(wcg + 1), cgbase.eq(cgbase + cb + 1)]
                with m.Else():
                    m.d.sync += [wcg.eq(0), cgbase.eq(0), h.eq(h + 1)]
                    with m.If(jr == tile - 1):
                        m.d.sync += [jr.eq(0), rb.eq(rb + 1), rgB_w.eq(~rgB_w),
                                       rgD_w.eq(Mux(rgD_w == 2, 0, rgD_w + 1))]
                    with m.Else():
                        m.d.sync += jr.eq(jr + 1)
                    with m.If(h == Hm1):
                        m.d.sync += w_run.eq(0)

        # ---- reader: one tile per cycle -------------------------------------------------------------
        # The rows of the current tile row are complete: compared into a register (h only grows,
        # so a value a cycle old only delays); when the tile row changes it takes the next one's
        # comparison, so a new row never starts on the old one's.
        rows_ok = Signal()
        a_valid = a_run & rows_ok
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        # A tile position's first tile needs `room` (its output tile has a place downstream), a
        # visit's first tile `visit_ok` (its filters are loaded): both registers of the consumer.
        gate = (~pos_first | self.room) & (~visit_first | self.visit_ok)
        fire = a_valid & advance & gate
        m.d.comb += [self.position_start.eq(fire & pos_first), self.visit_start.eq(fire & visit_first)]

        # Positions outside the map read the bank's zero word, so the tile needs no output mux.
        for rl in range(n):
            for cl in range(n):
                rp = rports[rl][cl]
                zero = (self.d_depth if rl < 2 else self.b_depth) - 1
                addr = (ra_d1 if cl >= 2 else ra_d) if rl < 2 else (ra_b1 if cl >= 2 else ra_b)
                m.d.comb += [rp.addr.eq(Mux(row_ok[rl] & col_ok[cl], addr, zero)), rp.en.eq(advance)]

        def read_at(base_d, base_b, base_d1, base_b1):
            """The banks' read addresses of a tile's channel group 0 at ``base_d``/``base_b``
            (region offset + tx; ``base_d1``/``base_b1`` one more); the next channel groups
            add ``nb`` each."""
            return [ra_d.eq(base_d), ra_d1.eq(base_d1), ra_b.eq(base_b), ra_b1.eq(base_b1),
                    rt_d.eq(base_d), rt_b.eq(base_b)]

        def inside(lo, rem, step):
            """Which of the n positions ``lo + step + k`` are in ``[0, lo + rem)`` (compares
            of registers with constants: the next tile's flags)."""
            return Cat(*[(lo >= -step - k) & (rem > step + k) for k in range(n)])

        row_change = fire & b_row
        m.d.sync += rows_ok.eq(Mux(row_change, (h > hi + tile) | (h == H), (h > hi) | (h == H))
                               & ~(self.start & ~busy))
        with m.If(fire):
            m.d.sync += [pos_first.eq(last_cg), visit_first.eq(last_cg & last_tx)]
            with m.If(b_cg):
                m.d.sync += [cg.eq(cg + 1), last_cg.eq(cg == CGm2), *branch(cg == CGm2, last_tx, last_g, last_ty),
                             ra_d.eq(ra_d + nb), ra_d1.eq(ra_d1 + nb), ra_b.eq(ra_b + nb), ra_b1.eq(ra_b1 + nb)]
            with m.Else():
                m.d.sync += [cg.eq(0), last_cg.eq(cg_one)]
                with m.If(b_tx):
                    m.d.sync += [xlo.eq(xlo + tile), last_tx.eq(tx_next), tx_next.eq(xlo >= xlast2),
                                 *branch(cg_one, tx_next, last_g, last_ty),
                                 col_ok.eq(inside(xlo, wrem, tile)), wrem.eq(wrem - tile),
                                 *read_at(rt_d + 1, rt_b + 1, rt_d + 2, rt_b + 2)]
                with m.Elif(b_g):
                    # The next output-channel group visits the same tile row (input reuse).
                    m.d.sync += [g.eq(g + 1), xlo.eq(-P), tx_next.eq(tx_next0), last_g.eq(g == Gm2),
                                 *branch(cg_one, tx_one, g == Gm2, last_ty),
                                 last_tx.eq(tx_one), col_ok.eq(col_ok0), wrem.eq(wrem0),
                                 *read_at(off_d, off_b, off_d1, off_b1)]
                with m.Elif(b_ty):
                    m.d.sync += [g.eq(0), xlo.eq(-P), ylo.eq(ylo + tile), hi.eq(hi + tile),
                                 last_g.eq(g_one), last_tx.eq(tx_one), last_ty.eq(ty_next), ty_next.eq(ylo >= ylast2),
                                 tx_next.eq(tx_next0), *branch(cg_one, tx_one, g_one, ty_next),
                                 col_ok.eq(col_ok0), wrem.eq(wrem0),
                                 row_ok.eq(inside(ylo, hrem, tile)), hrem.eq(hrem - tile), wlim.eq(wlim + 1),
                                 off_d.eq(nx_d), nx_d.eq(nn_d), nn_d.eq(off_d),
                                 off_d1.eq(nx_d1), nx_d1.eq(nn_d1), nn_d1.eq(off_d1),
                                 off_b.eq(nx_b), nx_b.eq(off_b), off_b1.eq(nx_b1), nx_b1.eq(off_b1),
                                 *read_at(nx_d, nx_b, nx_d1, nx_b1),
                                 self.x_rows.eq(self.x_rows + tile), self.x_need.eq(self.x_need + tile)]
                with m.Else():
                    m.d.sync += a_run.eq(0)

        # ---- output stage -----------------------------------------------------------------------------
        cg_b, first_b, last_b, end_b, final_b = Signal.like(cg), Signal(), Signal(), Signal(), Signal()
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(a_valid & gate),
                cg_b.eq(cg), first_b.eq(cg == 0), last_b.eq(last_cg), end_b.eq(last_cg & last_tx),
                final_b.eq(last_cg & last_tx & last_g & last_ty),
            ]
        o = self.o.payload
        for r in range(n):
            for c in range(n):
                m.d.comb += o.d[r][c].eq(rports[r][c].data)
        m.d.comb += [o.flags.cg.eq(cg_b), o.flags.first.eq(first_b), o.flags.last.eq(last_b), o.flags.end.eq(end_b),
                     o.flags.final.eq(final_b)]
        # Once every tile has been issued, the trailing input rows no tile reads are all welcome;
        # between passes no row is.
        with m.If(~a_run & ~(self.start & ~busy)):
            m.d.sync += self.x_rows.eq(Mux(w_run, self.max_height, 0))
        return m
