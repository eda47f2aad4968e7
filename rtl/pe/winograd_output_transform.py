"""Winograd F(m,3) output transform ``Y = (A'^T M A') / s^2`` with an exact, divider-free division."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..winograd_math import WinogradNumerics
from .ewmm_array import transform_sums_layout
from .passthrough import flags_shape
from .shift_add import enabled_register, shift_add

__all__ = ["WinogradOutputTransform", "output_transform_layouts"]


def output_transform_layouts(pm: int, m: int, n: int, in_width: int, out_width: int, flags):
    """``(in, out)`` payload layouts: ``{"acc": [pm][n][n], "flags"}`` and ``{"y": [pm][m][m], "flags"}``."""
    flags = flags_shape(flags)
    return (
        data.StructLayout({"acc": transform_sums_layout(pm, n, in_width), "flags": flags}),
        data.StructLayout({"y": transform_sums_layout(pm, m, out_width), "flags": flags}),
    )


class WinogradOutputTransform(wiring.Component):
    """Output transform of F(m, 3): ``y[o] = A'^T acc[o] A' / s^2`` for ``pm`` channels per beat.

    ``acc[o]`` is the transform-domain tile summed over input channels (the
    :class:`EwmmArray` output). Since ``A'^T M A' = s^2 Y`` exactly and ``|Y| < 2^(w_y-1)``, the
    stage works modulo ``2^K`` with ``K = w_y + p`` (``s^2 = 2^p q``, ``q`` odd): column pass and
    row pass of ``A'^T`` as shift-add programs on ``K``-bit residues, then the exact division --
    drop the ``p`` low bits (they are zero) and multiply by ``q^-1 mod 2^w_y`` (a shift-add
    program too; no divider, no DSP). The ``w_y``-bit result read as signed is ``Y``.

    Ports
        ``i``: ``stream.Signature(StructLayout({"acc": [pm][n][n] signed(in_width),
        "flags": flags}))`` (sink). Values may be exact sums or residues modulo
        ``2^in_width`` (both determine the result when ``in_width >= acc_width``).
        ``o``: ``stream.Signature(StructLayout({"y": [pm][m][m] signed(out_width), "flags"}))``:
        the exact direct-convolution tile ``y[o][i][j]`` (``sim.reference.conv2d`` values).
        ``flags`` passes through untouched.

    Timing
        II=1; ``LATENCY`` = 6: column pass, row pass and division take two cycles each (each
        output's last addition is behind a register, or for the division the shared terms:
        ``shift_add(register=...)``; the sums are 34-bit residues for F(4,3), three adder levels
        of which miss 150 MHz on 7-series).
        One global advance (``~o.valid | o.ready``) holds the pipeline; ``i.ready`` equals it.

    Widths
        ``out_width`` = :attr:`WinogradNumerics.output_width` (the direct result width for
        ``max_channels``); ``in_width`` defaults to :attr:`WinogradNumerics.acc_width`. A narrower
        ``in_width`` or ``out_width`` is refused (``ValueError``). ``pm`` may be any channel
        count (e.g. 1 behind a serialiser: the stage is needed once per ``C / pn`` beats).
    """

    #: Cycles from an input handshake to ``o.valid``.
    LATENCY = 6

    def __init__(self, m: int, pm: int = 1, data_width: int = 8, max_channels: int = 512, flags=0,
                 in_width: int | None = None, out_width: int | None = None):
        if pm < 1:
            raise ValueError(f"pm must be at least 1, got {pm}")
        flags = flags_shape(flags)
        self.numerics = num = WinogradNumerics(m, data_width, max_channels)
        if in_width is not None and in_width < num.acc_width:
            raise ValueError(
                f"F({m},3) with {data_width}-bit data and up to {max_channels} channels needs "
                f"{num.acc_width}-bit channel sums; in_width={in_width} cannot determine the result")
        if out_width is not None and out_width < num.output_width:
            raise ValueError(
                f"the result of F({m},3) over {max_channels} channels of {data_width}-bit data needs "
                f"{num.output_width} bits; out_width={out_width} would overflow")
        self.m, self.n, self.pm = m, num.n, pm
        self.data_width, self.max_channels, self.flags_shape = data_width, max_channels, flags
        self.in_width = num.acc_width if in_width is None else in_width
        self.out_width = num.output_width if out_width is None else out_width
        #: ``K``: modulus bits of the transform arithmetic.
        self.residue_width = num.residue_width
        #: ``p`` and ``q`` of ``s^2 = 2^p q`` and ``q^-1 mod 2^w_y``.
        self.shift, self.odd, self.inverse = num.matrices.s2_shift, num.matrices.s2_odd, num.divisor_inverse
        #: Two-input adders of the whole stage (pm channels).
        self.adders = pm * num.output_transform_adders
        in_layout, out_layout = output_transform_layouts(pm, m, self.n, self.in_width, self.out_width, flags)
        super().__init__({"i": In(stream.Signature(in_layout)), "o": Out(stream.Signature(out_layout))})

    def elaborate(self, platform):
        m = Module()
        mm, n, pm, K = self.m, self.n, self.pm, self.residue_width
        wy = self.numerics.output_width
        plan, div_plan = self.numerics.output_plan, self.numerics.division_plan

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        register = enabled_register(m, advance)

        def delayed(valid, flags, name):
            """``valid`` and ``flags`` a stage later (the first half of a split pass)."""
            return register(valid, f"{name}_valid"), register(flags, f"{name}_flags")

        # Stage 1: column pass z[:, col] = A'^T acc[:, col]  (m 2^K), in two cycles.
        z = [[[Signal(unsigned(K), name=f"z_{o}_{i}_{j}") for j in range(n)] for i in range(mm)] for o in range(pm)]
        z_valid = Signal()
        z_flags = Signal(self.flags_shape)
        acc = self.i.payload.acc
        # The register sits after the shared sums: the channel sums fan out to several of them,
        # and the outputs (up to five terms for F(4,3)) then start from registers of fan-out one.
        columns = {(o, j): shift_add(m, plan, [acc[o][k][j] for k in range(n)], name=f"col_{o}_{j}", modulus_bits=K,
                                     register=register, split="shared")
                   for o in range(pm) for j in range(n)}
        h_valid, h_flags = delayed(self.i.valid, self.i.payload.flags, "col")
        with m.If(advance):
            m.d.sync += [z_valid.eq(h_valid), z_flags.eq(h_flags)]
            for (o, j), column in columns.items():
                for i in range(mm):
                    m.d.sync += z[o][i][j].eq(column[i])

        # Stage 2: row pass w[row, :] = A'^T z[row, :]  (= s^2 Y m 2^K).
        w = [[[Signal(unsigned(K), name=f"w_{o}_{i}_{j}") for j in range(mm)] for i in range(mm)] for o in range(pm)]
        w_valid = Signal()
        w_flags = Signal(self.flags_shape)
        lines = {(o, i): shift_add(m, plan, z[o][i], name=f"row_{o}_{i}", modulus_bits=K, register=register)
                 for o in range(pm) for i in range(mm)}
        h_valid, h_flags = delayed(z_valid, z_flags, "row")
        with m.If(advance):
            m.d.sync += [w_valid.eq(h_valid), w_flags.eq(h_flags)]
            for (o, i), line in lines.items():
                for j in range(mm):
                    m.d.sync += w[o][i][j].eq(line[j])

        # Stage 3: exact division: (w >> p) * q^-1 m 2^w_y, read as signed.
        y = self.o.payload.y
        quotients = {(o, i, j): shift_add(m, div_plan, [w[o][i][j][self.shift:]], name=f"div_{o}_{i}_{j}",
                                          modulus_bits=wy, register=register,
                                          split="shared" if div_plan.shared else "last")[0]
                     for o in range(pm) for i in range(mm) for j in range(mm)}
        h_valid, h_flags = delayed(w_valid, w_flags, "div")
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(h_valid), self.o.payload.flags.eq(h_flags)]
            for (o, i, j), quotient in quotients.items():
                m.d.sync += y[o][i][j].eq(quotient.as_signed())
        return m
