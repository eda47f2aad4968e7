"""Per-output-channel requantiser: ``clamp(((acc + bias) * mult + rnd) >> shift, lo, hi)``."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..numerics import REQUANT, Requantisation, signed_range, signed_width

__all__ = ["Requantiser", "quant_param_layout"]


def quant_param_layout(fmt: Requantisation = REQUANT) -> data.StructLayout:
    """One output channel's parameters: bias, multiplier, shift (LSB first in that order)."""
    return data.StructLayout({
        "bias": signed(fmt.bias_width),
        "mult": signed(fmt.mult_width),
        "shift": unsigned(fmt.shift_width),
    })


class Requantiser(wiring.Component):
    """Requantises pixels of ``pm`` accumulators to signed ``out_width`` (spec section 3).

    ``y[c] = clamp(((acc[c] + bias[c]) * mult[c] + (shift[c] ? 1 << (shift[c]-1) : 0)) >> shift[c],
    relu ? 0 : -2^(out_width-1), 2^(out_width-1) - 1)`` with an arithmetic shift, exactly as
    ``sim.reference.requantize``.

    Ports
        ``i``: In(stream of ``ArrayLayout(signed(acc_width), pm)``): one output pixel.
        ``params``: In(stream of ``ArrayLayout(quant_param_layout(), pm)``): one entry per group of
        ``pixels`` pixels, consumed together with the first pixel of the group.
        ``o``: Out(stream of ``StructLayout(data=ArrayLayout(signed(out_width), pm), last=1)``);
        ``last`` marks the final pixel of a group.
        ``pixels``: In(32) pixels per group; ``relu``: In(1). Both must be stable while a layer
        runs; ``clear``: In(1) pulse resets the group position (between layers, while idle).

    Timing
        ``pm / lanes`` cycles per pixel (``lanes`` channels computed per cycle, ``lanes`` divides
        ``pm``); latency ``LATENCY`` cycles from the pixel's handshake to ``o.valid`` when
        ``lanes == pm``. Back-pressure: the pipeline holds while ``o.valid & ~o.ready``.
        Parameters travel down the pipeline with their values, so groups can follow each other
        back to back without draining.
    """

    LATENCY = 5

    def __init__(self, pm: int, acc_width: int, lanes: int | None = None, out_width: int = 8,
                 fmt: Requantisation = REQUANT):
        lanes = pm if lanes is None else lanes
        if pm < 1 or lanes < 1 or pm % lanes:
            raise ValueError(f"lanes must divide pm and both be >= 1, got pm={pm}, lanes={lanes}")
        if not 2 <= out_width <= 32:
            raise ValueError(f"out_width must be in 2..32, got {out_width}")
        self.pm, self.lanes, self.acc_width, self.out_width, self.fmt = pm, lanes, acc_width, out_width, fmt
        self.steps = pm // lanes
        a_lo, a_hi = signed_range(acc_width)
        b_lo, b_hi = signed_range(fmt.bias_width)
        self.sum_width = signed_width(a_lo + b_lo, a_hi + b_hi)
        self.product_width = fmt.product_width(acc_width)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(acc_width), pm))),
            "params": In(stream.Signature(data.ArrayLayout(quant_param_layout(fmt), pm))),
            "o": Out(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(signed(out_width), pm), "last": 1}))),
            "pixels": In(32),
            "relu": In(1),
            "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        pm, lanes, steps = self.pm, self.lanes, self.steps
        fmt = self.fmt
        hi = (1 << (self.out_width - 1)) - 1
        lo_signed = -(1 << (self.out_width - 1))

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # Front: the pixel being fed into the lanes, with its group's parameters.
        held = Signal(data.ArrayLayout(signed(self.acc_width), pm))
        held_params = Signal(data.ArrayLayout(quant_param_layout(fmt), pm))
        held_valid = Signal()
        held_last = Signal()
        step = Signal(range(steps))
        pixel = Signal(32)  # position of the next input pixel inside its group
        need_params = pixel == 0
        issuing = held_valid & advance
        finishing = issuing & (step == steps - 1)
        can_take = ~held_valid | finishing
        m.d.comb += [
            self.i.ready.eq(can_take & (~need_params | self.params.valid)),
            self.params.ready.eq(can_take & need_params & self.i.valid),
        ]
        with m.If(issuing):
            m.d.sync += step.eq(Mux(step == steps - 1, 0, step + 1))
        with m.If(finishing):
            m.d.sync += held_valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            last_pixel = pixel + 1 >= self.pixels
            m.d.sync += [
                held.eq(self.i.payload), held_valid.eq(1), held_last.eq(last_pixel),
                pixel.eq(Mux(last_pixel, 0, pixel + 1)),
            ]
            with m.If(need_params):
                m.d.sync += held_params.eq(self.params.payload)
        with m.If(self.clear):
            m.d.sync += [pixel.eq(0), held_valid.eq(0), step.eq(0)]

        # Lane pipeline: S1 acc+bias, S2 *mult, S3 +round, S4 >>shift and clamp into the gatherer.
        def stage_signals(prefix, shape):
            return [Signal(shape, name=f"{prefix}_{k}") for k in range(lanes)]

        s1_valid, s1_step, s1_last = Signal(), Signal(range(steps)), Signal()
        s1_sum = stage_signals("s1_sum", signed(self.sum_width))
        s1_mult = stage_signals("s1_mult", signed(fmt.mult_width))
        s1_shift = stage_signals("s1_shift", unsigned(fmt.shift_width))
        s2_valid, s2_step, s2_last = Signal(), Signal(range(steps)), Signal()
        s2_prod = stage_signals("s2_prod", signed(self.product_width))
        s2_shift = stage_signals("s2_shift", unsigned(fmt.shift_width))
        s3_valid, s3_step, s3_last = Signal(), Signal(range(steps)), Signal()
        s3_round = stage_signals("s3_round", signed(self.product_width))
        s3_shift = stage_signals("s3_shift", unsigned(fmt.shift_width))

        with m.If(advance):
            m.d.sync += [s1_valid.eq(held_valid), s1_step.eq(step), s1_last.eq(held_last & (step == steps - 1))]
            for lane in range(lanes):
                acc_sel = Signal(signed(self.acc_width), name=f"acc_sel_{lane}")
                par_sel = Signal(quant_param_layout(fmt), name=f"par_sel_{lane}")
                with m.Switch(step):
                    for s in range(steps):
                        with m.Case(s):
                            m.d.comb += [acc_sel.eq(held[s * lanes + lane]), par_sel.eq(held_params[s * lanes + lane])]
                m.d.sync += [
                    s1_sum[lane].eq(acc_sel + par_sel.bias),
                    s1_mult[lane].eq(par_sel.mult),
                    s1_shift[lane].eq(par_sel.shift),
                ]
            m.d.sync += [s2_valid.eq(s1_valid), s2_step.eq(s1_step), s2_last.eq(s1_last)]
            for lane in range(lanes):
                m.d.sync += [s2_prod[lane].eq(s1_sum[lane] * s1_mult[lane]), s2_shift[lane].eq(s1_shift[lane])]
            m.d.sync += [s3_valid.eq(s2_valid), s3_step.eq(s2_step), s3_last.eq(s2_last)]
            for lane in range(lanes):
                rnd = Mux(s2_shift[lane] == 0, 0, (Const(1, unsigned(64)) << s2_shift[lane]) >> 1)
                m.d.sync += [s3_round[lane].eq(s2_prod[lane] + rnd), s3_shift[lane].eq(s2_shift[lane])]

        # Gatherer / output register.
        with m.If(advance):
            m.d.sync += self.o.valid.eq(s3_valid & (s3_step == steps - 1))
            m.d.sync += self.o.payload.last.eq(s3_last)
            with m.If(s3_valid):
                for lane in range(lanes):
                    shifted = Signal(signed(self.product_width), name=f"shifted_{lane}")
                    m.d.comb += shifted.eq(s3_round[lane] >> s3_shift[lane])
                    low = Mux(self.relu, 0, lo_signed)
                    clamped = Mux(shifted > hi, hi, Mux(shifted < low, low, shifted))
                    with m.Switch(s3_step):
                        for s in range(steps):
                            with m.Case(s):
                                m.d.sync += self.o.payload.data[s * lanes + lane].eq(clamped)
        with m.If(self.clear):
            m.d.sync += [s1_valid.eq(0), s2_valid.eq(0), s3_valid.eq(0), self.o.valid.eq(0)]
        return m
