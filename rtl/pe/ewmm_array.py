"""Winograd element-wise multiply array: pm x pn x n^2 multipliers summed over input channels."""

from __future__ import annotations

import math

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..winograd_math import WinogradNumerics
from .passthrough import flags_shape
from .winograd_filter_transform import filter_bank_layout
from .winograd_input_transform import tile_layout

__all__ = ["EwmmArray", "ewmm_layouts", "transform_sums_layout"]


def transform_sums_layout(pm: int, n: int, width: int) -> data.ArrayLayout:
    """``pm`` transform-domain tiles, indexed ``[out_ch][row][col]``."""
    return data.ArrayLayout(data.ArrayLayout(data.ArrayLayout(signed(width), n), n), pm)


def ewmm_layouts(pm: int, pn: int, n: int, v_width: int, u_width: int, acc_width: int, flags):
    """``(in, out)`` payload layouts of :class:`EwmmArray`."""
    flags = flags_shape(flags)
    return (
        data.StructLayout({
            "v": tile_layout(n, pn, signed(v_width)),
            "u": filter_bank_layout(pm, pn, n, signed(u_width)),
            "first": 1,
            "last": 1,
            "flags": flags,
        }),
        data.StructLayout({"acc": transform_sums_layout(pm, n, acc_width), "flags": flags}),
    )


class EwmmArray(wiring.Component):
    """Element-wise products of transformed tiles and filters, accumulated over input channels.

    Each accepted beat contributes ``sum_c v[i][j][c] * u[o][c][i][j]`` to accumulator
    ``acc[o][i][j]`` (``pm x pn x n^2`` multipliers, one DSP slice each for int8). ``first``
    starts a new accumulation (previous sums discarded); the ``last`` beat makes the array emit
    the ``pm`` transform-domain tiles with that beat's ``flags``. A beat may be first and last.

    Ports
        ``i``: ``stream.Signature(StructLayout({"v": [n][n][pn] signed(v_width),
        "u": [pm][pn][n][n] signed(u_width), "first": 1, "last": 1,
        "flags": flags}))`` -- ``v`` is :class:`WinogradInputTransform`'s and
        ``u`` :class:`WinogradFilterTransform`'s output layout.
        ``o``: ``stream.Signature(StructLayout({"acc": [pm][n][n] signed(acc_width), "flags"}))``.

    Timing
        II=1; ``LATENCY`` = 3 cycles from the handshake of a ``last`` beat to ``o.valid``
        (operand, product and accumulator registers: a DSP slice's A/B, M and P registers, so
        with ``pn = 1`` Yosys maps each lane -- multiply and accumulate -- into one DSP48 with no
        fabric logic); with ``pn > 1`` 4: the sum over the ``pn`` channel products is registered
        before the accumulation (a wide fabric adder after the DSP cascade would not meet
        150 MHz on 7-series in the same cycle). One global advance (``~o.valid | o.ready``) holds the whole pipeline under
        back-pressure; ``o.payload`` is the accumulator, stable until accepted.

    Widths
        ``v_width``/``u_width`` are the transforms' exact worst cases. The emitted sums are
        ``sum v*u mod 2^acc_width`` for any operands of those widths; ``acc_width`` defaults to
        :attr:`WinogradNumerics.acc_width` = min(exact channel sum over ``max_channels``, the
        residue width ``w_y + p`` the output transform needs), so the sums are either exact or
        the residues from which :class:`WinogradOutputTransform` recovers the exact result.
        ``max_channels`` counts channels including padding up to a multiple of ``pn``; summing
        more than ``max_channels // pn`` beats is outside the contract. An explicit
        ``acc_width`` below the requirement is refused (``ValueError``).
    """

    #: Cycles from a ``last`` beat's handshake to ``o.valid`` (4 with ``pn > 1``: the instance's).
    LATENCY = 3

    def __init__(self, m: int, pm: int = 1, pn: int = 1, data_width: int = 8, max_channels: int = 512,
                 flags=0, acc_width: int | None = None):
        if pm < 1 or pn < 1:
            raise ValueError(f"pm and pn must be at least 1, got pm={pm}, pn={pn}")
        flags = flags_shape(flags)
        if max_channels < pn:
            raise ValueError(f"max_channels ({max_channels}) must be at least pn ({pn})")
        self.numerics = num = WinogradNumerics(m, data_width, max_channels)
        need = num.acc_width
        if acc_width is not None and acc_width < need:
            raise ValueError(
                f"F({m},3) with {data_width}-bit data and up to {max_channels} channels needs a "
                f"{need}-bit channel accumulator (exact sum {num.channel_sum_width} bits, residue "
                f"{num.residue_width} bits); acc_width={acc_width} would overflow")
        self.m, self.n, self.pm, self.pn = m, num.n, pm, pn
        self.data_width, self.max_channels, self.flags_shape = data_width, max_channels, flags
        self.v_width, self.u_width = num.input_width, num.filter_width
        self.acc_width = need if acc_width is None else acc_width
        #: Register width of one product (full operand product, at most ``acc_width``).
        self.product_width = min(self.v_width + self.u_width, self.acc_width)
        #: Width of one pn-channel sum (combinational, at most ``acc_width``).
        self.tree_width = min(self.v_width + self.u_width + math.ceil(math.log2(pn)), self.acc_width)
        #: Multipliers (DSP slices for int8).
        self.multipliers = pm * pn * self.n**2
        in_layout, out_layout = ewmm_layouts(pm, pn, self.n, self.v_width, self.u_width, self.acc_width, flags)
        super().__init__({"i": In(stream.Signature(in_layout)), "o": Out(stream.Signature(out_layout))})
        if pn > 1:
            self.LATENCY = 4

    def elaborate(self, platform):
        m = Module()
        n, pm, pn = self.n, self.pm, self.pn
        positions = [(i, j) for i in range(n) for j in range(n)]
        in_layout = self.i.payload.shape()

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        # Stage 1: operand registers (DSP A/B registers).
        beat = Signal(in_layout)
        beat_valid = Signal()
        with m.If(advance):
            m.d.sync += [beat.eq(self.i.payload), beat_valid.eq(self.i.valid)]

        # Stage 2: products (DSP M register).
        prod = {(o, c, i, j): Signal(signed(self.product_width), name=f"prod_{o}_{c}_{i}_{j}")
                for o in range(pm) for c in range(pn) for i, j in positions}
        prod_first, prod_last, prod_valid = Signal(), Signal(), Signal()
        prod_flags = Signal(self.flags_shape)
        with m.If(advance):
            m.d.sync += [prod_first.eq(beat.first), prod_last.eq(beat.last), prod_valid.eq(beat_valid),
                         prod_flags.eq(beat.flags)]
            for (o, c, i, j), p in prod.items():
                m.d.sync += p.eq(beat.v[i][j][c] * beat.u[o][c][i][j])

        # Stage 3 (pn > 1): the sum over the pn channels (the slices' post-adders and cascade).
        if pn > 1:
            sums = {(o, i, j): Signal(signed(self.tree_width), name=f"sum_{o}_{i}_{j}")
                    for o in range(pm) for i, j in positions}
            sum_first, sum_last, sum_valid = Signal(), Signal(), Signal()
            sum_flags = Signal(self.flags_shape)
            with m.If(advance):
                m.d.sync += [sum_first.eq(prod_first), sum_last.eq(prod_last), sum_valid.eq(prod_valid),
                             sum_flags.eq(prod_flags)]
                for (o, i, j), total in sums.items():
                    m.d.sync += total.eq(_tree_sum([prod[o, c, i, j] for c in range(pn)], self.tree_width))
        else:
            sums = {(o, i, j): prod[o, 0, i, j] for o in range(pm) for i, j in positions}
            sum_first, sum_last, sum_valid, sum_flags = prod_first, prod_last, prod_valid, prod_flags

        # Last stage: accumulators (DSP P register): acc = (first ? 0 : acc) + the channel sum.
        # With pn = 1 this is the DSP48 multiply-accumulate (OPMODE selects 0 or P).
        acc = self.o.payload.acc
        with m.If(advance):
            m.d.sync += self.o.valid.eq(sum_valid & sum_last)
            with m.If(sum_valid):
                with m.If(sum_last):
                    m.d.sync += self.o.payload.flags.eq(sum_flags)
                for o in range(pm):
                    for i, j in positions:
                        m.d.sync += acc[o][i][j].eq(Mux(sum_first, 0, acc[o][i][j]) + sums[o, i, j])
        return m


def _tree_sum(values, width: int):
    """Balanced adder tree; sums wider than ``width`` are cut to it (arithmetic mod 2^width)."""
    def add(a, b):
        total = a + b
        return total[:width].as_signed() if len(total) > width else total

    level = list(values)
    while len(level) > 1:
        nxt = [add(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
