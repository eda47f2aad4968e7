"""Winograd F(m,3) filter transform ``U = G' g G'^T`` of pm x pn 3x3 filters, shifts and adds only."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..numerics import signed_width
from ..winograd_math import WinogradNumerics
from .passthrough import flags_shape
from .shift_add import enabled_register, shift_add

__all__ = ["WinogradFilterTransform", "filter_bank_layout", "filter_transform_layouts"]


def filter_bank_layout(pm: int, pn: int, size: int, shape) -> data.ArrayLayout:
    """``pm x pn`` square ``size x size`` filters, indexed ``[out_ch][in_ch][row][col]``."""
    return data.ArrayLayout(data.ArrayLayout(data.ArrayLayout(data.ArrayLayout(shape, size), size), pn), pm)


def filter_transform_layouts(pm: int, pn: int, r: int, n: int, data_width: int, out_width: int, flags):
    """``(in, out)`` payload layouts: ``{"g": [pm][pn][r][r], "flags"}`` and ``{"u": [pm][pn][n][n], "flags"}``."""
    flags = flags_shape(flags)
    return (
        data.StructLayout({"g": filter_bank_layout(pm, pn, r, signed(data_width)), "flags": flags}),
        data.StructLayout({"u": filter_bank_layout(pm, pn, n, signed(out_width)), "flags": flags}),
    )


class WinogradFilterTransform(wiring.Component):
    """Filter transform of F(m, 3) on chip: ``u[o][c] = G' g[o][c] G'^T`` for ``pm x pn`` filters.

    One beat carries the ``pm x pn`` 3x3 filters of one weight-buffer word (weights stay
    ``data_width``-bit in memory; the transform runs as they are read). ``G'`` is the integer
    primitive-row matrix of :mod:`rtl.winograd_math`, built from shifts and adds (no DSP).

    Ports
        ``i``: ``stream.Signature(StructLayout({"g": [pm][pn][3][3] signed(data_width),
        "flags": flags}))`` (sink); ``g[o][c][u][v]`` is weight ``w[o, c, u, v]``.
        ``o``: ``stream.Signature(StructLayout({"u": [pm][pn][n][n] signed(out_width), "flags"}))``.
        ``flags`` passes through untouched. Fields are packed LSB first in declaration order.

    Timing
        II=1; ``LATENCY`` = 3 (column pass ``G' g`` registered, then the row pass split by a
        register before its last addition: one adder level per stage). One global
        advance (``~o.valid | o.ready``) gives exact back-pressure; ``i.ready`` equals it.

    Widths
        ``out_width`` = :attr:`WinogradNumerics.filter_width` (int8: 12, 14, 14 bits for m = 2, 4,
        6); a smaller explicit ``out_width`` is refused (``ValueError``).
    """

    #: Cycles from an input handshake to ``o.valid``.
    LATENCY = 3

    def __init__(self, m: int, pm: int = 1, pn: int = 1, data_width: int = 8, flags=0,
                 out_width: int | None = None):
        if pm < 1 or pn < 1:
            raise ValueError(f"pm and pn must be at least 1, got pm={pm}, pn={pn}")
        flags = flags_shape(flags)
        self.numerics = WinogradNumerics(m, data_width, max_channels=1)
        need = self.numerics.filter_width
        if out_width is not None and out_width < need:
            raise ValueError(
                f"F({m},3) filter transform of {data_width}-bit weights needs {need} bits, "
                f"out_width={out_width} would overflow")
        self.m, self.r, self.n, self.pm, self.pn = m, self.numerics.r, self.numerics.n, pm, pn
        self.data_width, self.flags_shape = data_width, flags
        self.out_width = need if out_width is None else out_width
        #: Register width of each row of the column pass ``G' g`` (exact ranges).
        self.pass1_widths = [signed_width(lo, hi) for lo, hi in self.numerics.filter_pass1_ranges]
        #: Two-input adders of the whole stage (pm x pn filters).
        self.adders = pm * pn * self.numerics.filter_transform_adders
        in_layout, out_layout = filter_transform_layouts(pm, pn, self.r, self.n, data_width, self.out_width, flags)
        super().__init__({"i": In(stream.Signature(in_layout)), "o": Out(stream.Signature(out_layout))})

    def elaborate(self, platform):
        m = Module()
        r, n, pm, pn = self.r, self.n, self.pm, self.pn
        plan = self.numerics.filter_plan
        filters = [(o, c) for o in range(pm) for c in range(pn)]

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        # Stage 1: column pass t[:, col] = G' g[:, col] (n x r per filter).
        t = {(o, c): [[Signal(signed(self.pass1_widths[row]), name=f"t_{o}_{c}_{row}_{col}") for col in range(r)]
                      for row in range(n)] for o, c in filters}
        t_valid = Signal()
        t_flags = Signal(self.flags_shape)
        g = self.i.payload.g
        columns = {(o, c, col): shift_add(m, plan, [g[o][c][row][col] for row in range(r)], name=f"col_{o}_{c}_{col}")
                   for o, c in filters for col in range(r)}
        with m.If(advance):
            m.d.sync += [t_valid.eq(self.i.valid), t_flags.eq(self.i.payload.flags)]
            for (o, c, col), column in columns.items():
                for row in range(n):
                    m.d.sync += t[o, c][row][col].eq(column[row])

        # Stages 2 and 3: row pass u[row, :] = G' t[row, :] (i.e. t G'^T), its last addition
        # behind a register (u feeds the EWMM's DSP B input registers: one adder before them).
        register = enabled_register(m, advance)

        h_valid, h_flags = register(t_valid, "h_valid"), register(t_flags, "h_flags")
        u = self.o.payload.u
        lines = {(o, c, row): shift_add(m, plan, t[o, c][row], name=f"row_{o}_{c}_{row}", register=register)
                 for o, c in filters for row in range(n)}
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(h_valid), self.o.payload.flags.eq(h_flags)]
            for (o, c, row), line in lines.items():
                for col in range(n):
                    m.d.sync += u[o][c][row][col].eq(line[col])
        return m
