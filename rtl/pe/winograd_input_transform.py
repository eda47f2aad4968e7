"""Winograd F(m,3) input transform ``V = B'^T d B'`` of an n x n x pn tile, shifts and adds only."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..numerics import signed_width
from ..winograd_math import WinogradNumerics
from .passthrough import flags_shape
from .shift_add import shift_add

__all__ = ["WinogradInputTransform", "tile_layout", "input_transform_layouts"]


def tile_layout(n: int, pn: int, shape) -> data.ArrayLayout:
    """An ``n x n`` tile of ``pn``-channel pixels, indexed ``[row][col][channel]``."""
    return data.ArrayLayout(data.ArrayLayout(data.ArrayLayout(shape, pn), n), n)


def input_transform_layouts(n: int, pn: int, data_width: int, out_width: int, flags):
    """``(in, out)`` payload layouts: ``{"d": tile, "flags"}`` and ``{"v": tile, "flags"}``."""
    flags = flags_shape(flags)
    return (
        data.StructLayout({"d": tile_layout(n, pn, signed(data_width)), "flags": flags}),
        data.StructLayout({"v": tile_layout(n, pn, signed(out_width)), "flags": flags}),
    )


class WinogradInputTransform(wiring.Component):
    """Input transform of F(m, 3): ``v[:, :, c] = B'^T d[:, :, c] B'`` for each of ``pn`` channels.

    ``B'^T`` is the integer primitive-row matrix of :mod:`rtl.winograd_math`; its constants are
    shift-add programs (common subexpressions shared), so the stage uses no DSP slice. The
    input tile is registered first (it usually comes straight out of block RAM, whose
    clock-to-out leaves no time for adders), then the column pass ``B'^T d`` is registered,
    then the row pass ``(B'^T d) B'``.

    Ports
        ``i``: ``stream.Signature(StructLayout({"d": [n][n][pn] signed(data_width),
        "flags": flags}))`` (sink). ``d[row][col][c]``: the input tile
        (``n = m + 2``); ``flags``: passed through untouched (e.g. first/last/end markers).
        ``o``: ``stream.Signature(StructLayout({"v": [n][n][pn] signed(out_width), "flags"}))``.
        Fields are packed LSB first in declaration order.

    Timing
        II=1; ``LATENCY`` = 3 cycles from an input handshake to ``o.valid`` (input register,
        column-pass register, row-pass register). Back-pressure: one global advance (``~o.valid | o.ready``) holds the
        whole pipeline; ``i.ready`` equals it. ``o.payload`` is stable while unacknowledged.

    Widths
        ``out_width`` = :attr:`WinogradNumerics.input_width` (int8: 10, 15, 20 bits for m = 2, 4,
        6), the exact worst case; a smaller explicit ``out_width`` is refused (``ValueError``).
    """

    #: Cycles from an input handshake to ``o.valid``.
    LATENCY = 3

    def __init__(self, m: int, pn: int = 1, data_width: int = 8, flags=0, out_width: int | None = None):
        if pn < 1:
            raise ValueError(f"pn must be at least 1, got {pn}")
        flags = flags_shape(flags)
        self.numerics = WinogradNumerics(m, data_width, max_channels=1)
        need = self.numerics.input_width
        if out_width is not None and out_width < need:
            raise ValueError(
                f"F({m},3) input transform of {data_width}-bit data needs {need} bits, "
                f"out_width={out_width} would overflow")
        self.m, self.n, self.pn = m, self.numerics.n, pn
        self.data_width, self.flags_shape = data_width, flags
        self.out_width = need if out_width is None else out_width
        #: Register width of each row of the column pass ``B'^T d`` (exact ranges).
        self.pass1_widths = [signed_width(lo, hi) for lo, hi in self.numerics.input_pass1_ranges]
        #: Two-input adders of the whole stage (pn channels).
        self.adders = pn * self.numerics.input_transform_adders
        in_layout, out_layout = input_transform_layouts(self.n, pn, data_width, self.out_width, flags)
        super().__init__({"i": In(stream.Signature(in_layout)), "o": Out(stream.Signature(out_layout))})

    def elaborate(self, platform):
        m = Module()
        n, pn = self.n, self.pn
        plan = self.numerics.input_plan

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        # Stage 0: the input tile into a register.
        d = Signal.like(self.i.payload.d)
        d_valid = Signal()
        d_flags = Signal(self.flags_shape)
        with m.If(advance):
            m.d.sync += [d.eq(self.i.payload.d), d_valid.eq(self.i.valid), d_flags.eq(self.i.payload.flags)]

        # Stage 1: column pass t[:, col] = B'^T d[:, col].
        t = [[[Signal(signed(self.pass1_widths[row]), name=f"t_{row}_{col}_{c}") for c in range(pn)]
              for col in range(n)] for row in range(n)]
        t_valid = Signal()
        t_flags = Signal(self.flags_shape)
        columns = {(col, c): shift_add(m, plan, [d[row][col][c] for row in range(n)], name=f"col{col}_{c}")
                   for col in range(n) for c in range(pn)}
        with m.If(advance):
            m.d.sync += [t_valid.eq(d_valid), t_flags.eq(d_flags)]
            for (col, c), column in columns.items():
                for row in range(n):
                    m.d.sync += t[row][col][c].eq(column[row])

        # Stage 2: row pass v[row, :] = B'^T t[row, :] (i.e. t B'), into the output register.
        v = self.o.payload.v
        lines = {(row, c): shift_add(m, plan, [t[row][col][c] for col in range(n)], name=f"row{row}_{c}")
                 for row in range(n) for c in range(pn)}
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(t_valid), self.o.payload.flags.eq(t_flags)]
            for (row, c), line in lines.items():
                for col in range(n):
                    m.d.sync += v[row][col][c].eq(line[col])
        return m
