"""Per-output-channel requantiser: ``clamp(((acc + bias) * mult + rnd) >> shift, lo, hi)``."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..numerics import REQUANT, Requantisation, signed_range, signed_width
from .pixel import accumulator_pixel_layout
from ..stream import StreamFifo

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
        ``i``: In(stream of :func:`rtl.pe.pixel.accumulator_pixel_layout`): one output pixel,
        read in place over its ``pm / lanes`` steps and taken with the last one; ``last`` ends a
        group (the pixels of one write command, which share one parameter entry).
        ``params``: In(stream of ``ArrayLayout(quant_param_layout(), pm)``): one entry per group,
        taken (into a register) before the group's first pixel starts.
        ``o``: Out(stream of ``StructLayout(data=ArrayLayout(signed(out_width), pm), last=1)``);
        ``last`` marks the final pixel of a group.
        ``relu``: In(1), stable while a layer runs; ``clear``: In(1) pulse drops the held
        parameters (between layers, while idle).

    Activation table (``table_bytes`` > 0, 8-bit outputs only): each output then goes through
    a 256-entry int8 -> int8 table when ``use_table`` (In(1), stable while a layer runs) is
    set: ``y = table[clamped & 0xFF]``. ``table``: In(stream of ``table_bytes``-byte words, with
    ``last``): the table, 256 bytes in entry order, ``256 / table_bytes`` words a load, always
    taken (a new load overwrites the last one; ``clear`` restarts it). Every lane keeps a copy
    (``256 / table_bytes`` words of ``table_bytes`` bytes, one read port each): two more stages
    (the clamped value into a register; the table's registered read), ``TABLE_STAGES``.

    Timing
        ``pm / lanes`` cycles per pixel (``lanes`` channels computed per cycle, ``lanes`` divides
        ``pm``); latency ``LATENCY`` cycles from the pixel's handshake to ``o.valid`` when
        ``lanes == pm``. Back-pressure: the lanes never stall (no enable fans out to them);
        finished pixels go into an output FIFO of ``FIFO_DEPTH`` pixels, and a step is issued
        only while every pixel already finishing has an entry (a counter compared with a
        constant into a register: neither ``i.ready`` nor the lanes depend on ``o.ready``).
        Parameters travel down the pipeline with their values, so groups can follow each other
        back to back without draining. Each lane's stages: the step's channel and parameters
        into registers; ``acc + bias``; four partial products of the wide multiply (one DSP
        slice each, product registered in the slice); two partial sums; the product;
        ``+ round``; ``>> shift``; clamp -- no stage holds more than one add, one multiply, one
        shifter or one channel select.
    """

    LATENCY = 11
    #: Stages an activation table adds to LATENCY.
    TABLE_STAGES = 2
    #: Entries of an activation table (every 8-bit value).
    TABLE_ENTRIES = 256
    #: Output FIFO entries (pixels): more than the credit loop (a pixel's last step to its pop,
    #: LATENCY + 1 cycles, plus the cycles the room register and the credit return lag), so one
    #: pixel per cycle (``lanes == pm``) is never throttled; ``TABLE_STAGES`` more with a table.
    FIFO_DEPTH = 16
    #: Low limb of the wide multiply's operands: 17 bits, an unsigned operand that a DSP
    #: slice's 18-bit signed port takes whole.
    LIMB = 17

    def __init__(self, pm: int, acc_width: int, lanes: int | None = None, out_width: int = 8,
                 fmt: Requantisation = REQUANT, table_bytes: int = 0):
        lanes = pm if lanes is None else lanes
        if pm < 1 or lanes < 1 or pm % lanes:
            raise ValueError(f"lanes must divide pm and both be >= 1, got pm={pm}, lanes={lanes}")
        if not 2 <= out_width <= 32:
            raise ValueError(f"out_width must be in 2..32, got {out_width}")
        if table_bytes and (out_width != 8 or table_bytes & (table_bytes - 1) or not 1 <= table_bytes <= 64):
            raise ValueError(f"an activation table needs 8-bit outputs and a power-of-two word of 1..64 bytes, got "
                             f"out_width={out_width}, table_bytes={table_bytes}")
        self.pm, self.lanes, self.acc_width, self.out_width, self.fmt = pm, lanes, acc_width, out_width, fmt
        self.table_bytes = table_bytes
        #: Pipeline stages (and output FIFO entries) the table adds.
        self.table_stages = self.TABLE_STAGES if table_bytes else 0
        self.steps = pm // lanes
        a_lo, a_hi = signed_range(acc_width)
        b_lo, b_hi = signed_range(fmt.bias_width)
        self.sum_width = signed_width(a_lo + b_lo, a_hi + b_hi)
        self.product_width = fmt.product_width(acc_width)
        members = {
            "i": In(stream.Signature(accumulator_pixel_layout(pm, acc_width))),
            "params": In(stream.Signature(data.ArrayLayout(quant_param_layout(fmt), pm))),
            "o": Out(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(signed(out_width), pm), "last": 1}))),
            "relu": In(1),
            "clear": In(1),
        }
        if table_bytes:
            members["table"] = In(stream.Signature(data.StructLayout({"data": 8 * table_bytes, "last": 1})))
            members["use_table"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        pm, lanes, steps = self.pm, self.lanes, self.steps
        fmt = self.fmt
        hi = (1 << (self.out_width - 1)) - 1
        lo_signed = -(1 << (self.out_width - 1))

        # Credits: pixels whose last step has been issued and that have not left `o` yet.
        out_layout = self.o.payload.shape()
        fifo_depth = self.FIFO_DEPTH + self.table_stages
        m.submodules.out = out = StreamFifo(out_layout, fifo_depth)
        in_flight = Signal(range(fifo_depth + 1))
        # A register a cycle old: in_flight grows by at most one per cycle, so comparing the
        # old count with one entry less is safe, and i.ready is an AND of registers.
        room = Signal(init=1)
        m.d.sync += room.eq(in_flight < fifo_depth - 1)

        # Front: the pixel on ``i`` is read in place, ``lanes`` channels per step, and taken
        # (``i.ready``) with its last step; the group's parameters are copied from ``params``
        # (and that entry taken) in a cycle of their own before the group's first step.
        held = self.i.payload.data
        held_params = Signal(data.ArrayLayout(quant_param_layout(fmt), pm))
        have_params = Signal()
        step = Signal(range(steps))
        issuing = self.i.valid & have_params & room
        step_last = Signal(init=steps == 1)   # step == steps - 1, a register
        finishing = issuing & step_last
        held_last = self.i.payload.last
        m.d.comb += [
            self.i.ready.eq(finishing),
            self.params.ready.eq(~have_params),
        ]
        with m.If(self.params.valid & self.params.ready):
            m.d.sync += [held_params.eq(self.params.payload), have_params.eq(1)]
        # A pixel's credit returns the cycle after it leaves `o` (a register: no path from
        # o.ready into the count).
        popped = Signal()
        m.d.sync += [popped.eq(self.o.valid & self.o.ready), in_flight.eq(in_flight + finishing - popped)]
        with m.If(issuing):
            m.d.sync += [step.eq(Mux(step_last, 0, step + 1)), step_last.eq(Mux(step_last, steps == 1, step == steps - 2))]
        with m.If(finishing & held_last):
            m.d.sync += have_params.eq(0)
        with m.If(self.clear):
            m.d.sync += [have_params.eq(0), step.eq(0), step_last.eq(steps == 1)]

        # Lane pipeline: channel select, acc+bias, partial products, partial sums, product,
        # +round, >>shift, clamp into the gatherer. Every stage moves every cycle; ``valid``, ``step`` and
        # ``last`` travel with the values.
        def stage_signals(prefix, shape):
            return [Signal(shape, name=f"{prefix}_{k}") for k in range(lanes)]

        depth = 7 + self.table_stages  # stages between the front and the gatherer
        valid = [Signal(name=f"v{k}") for k in range(depth)]
        stepk = [Signal(range(steps), name=f"step{k}") for k in range(depth)]
        lastk = [Signal(name=f"last{k}") for k in range(depth)]
        shiftk = {k: stage_signals(f"shift{k}", unsigned(fmt.shift_width)) for k in range(1, depth)}
        limb = self.LIMB
        a_hi_width = max(1, self.sum_width - limb)
        b_hi_width = max(1, fmt.mult_width - limb)
        sums = stage_signals("sum", signed(self.sum_width))
        mults = stage_signals("mult", signed(fmt.mult_width))
        pw = self.product_width
        p_ll = stage_signals("p_ll", unsigned(2 * limb))
        p_lh = stage_signals("p_lh", signed(limb + 1 + b_hi_width))
        p_hl = stage_signals("p_hl", signed(a_hi_width + limb + 1))
        p_hh = stage_signals("p_hh", signed(a_hi_width + b_hi_width))
        pa = stage_signals("pa", signed(pw))
        pb = stage_signals("pb", signed(pw))
        prod = stage_signals("prod", signed(pw))
        rnds = stage_signals("rnd", unsigned(64))
        rounded = stage_signals("rounded", signed(pw))
        shifted = stage_signals("shifted", signed(pw))

        m.d.sync += [valid[0].eq(issuing), stepk[0].eq(step), lastk[0].eq(held_last & (step == steps - 1))]
        for k in range(1, depth):
            m.d.sync += [valid[k].eq(valid[k - 1]), stepk[k].eq(stepk[k - 1]), lastk[k].eq(lastk[k - 1])]
            if k >= 2:
                for lane in range(lanes):
                    m.d.sync += shiftk[k][lane].eq(shiftk[k - 1][lane])
        for lane in range(lanes):
            # 0: this step's channel of the pixel and its parameters, into registers
            acc_sel = Signal(signed(self.acc_width), name=f"acc_sel_{lane}")
            par_sel = Signal(quant_param_layout(fmt), name=f"par_sel_{lane}")
            with m.Switch(step):
                for s in range(steps):
                    with m.Case(s):
                        m.d.sync += [acc_sel.eq(held[s * lanes + lane]), par_sel.eq(held_params[s * lanes + lane])]
            a, b = sums[lane], mults[lane]
            a_lo, b_lo = a[:limb].as_unsigned(), b[:limb].as_unsigned()
            a_hi, b_hi = a[limb:].as_signed(), b[limb:].as_signed()
            m.d.sync += [
                # 1: acc + bias
                a.eq(acc_sel + par_sel.bias), b.eq(par_sel.mult), shiftk[1][lane].eq(par_sel.shift),
                # 2: a * b = a_hi*b_hi*2^2L + (a_hi*b_lo + a_lo*b_hi)*2^L + a_lo*b_lo
                p_ll[lane].eq(a_lo * b_lo), p_lh[lane].eq(a_lo * b_hi),
                p_hl[lane].eq(a_hi * b_lo), p_hh[lane].eq(a_hi * b_hi),
                # 3: two partial sums
                pa[lane].eq(p_ll[lane] + (p_lh[lane] << limb)),
                pb[lane].eq(p_hl[lane] + (p_hh[lane] << limb)),
                # 4: the product
                prod[lane].eq(pa[lane] + (pb[lane] << limb)),
            ]
            # 5: + round (1 << (shift-1), none for shift 0; decoded a stage early into a
            # register); 6: >> shift (arithmetic)
            sh = shiftk[3][lane]
            m.d.sync += rnds[lane].eq(Mux(sh == 0, 0, (Const(1, unsigned(64)) << sh) >> 1))
            m.d.sync += [
                rounded[lane].eq(prod[lane] + rnds[lane]),
                shifted[lane].eq(rounded[lane] >> shiftk[5][lane]),
            ]

        # 7: clamp; with a table, 8: the clamped value into a register, 9: the table's read.
        results, table_writes = [], []
        for lane in range(lanes):
            low = Mux(self.relu, 0, lo_signed)
            value = shifted[lane]
            clamped = Mux(value > hi, hi, Mux(value < low, low, value))
            if self.table_bytes:
                clamped = self._table_lane(m, lane, clamped, table_writes)
            results.append(clamped)
        if self.table_bytes:
            self._table_load(m, table_writes)

        # Gatherer, then the finished pixel into the output FIFO.
        gather = Signal(out_layout)
        done = Signal()
        m.d.sync += done.eq(valid[-1] & (stepk[-1] == steps - 1))
        with m.If(valid[-1]):
            m.d.sync += gather.last.eq(lastk[-1])
            for lane in range(lanes):
                with m.Switch(stepk[-1]):
                    for s in range(steps):
                        with m.Case(s):
                            m.d.sync += gather.data[s * lanes + lane].eq(results[lane])
        # Credits keep a FIFO entry for every pixel in flight: `done` never meets a full FIFO.
        m.d.comb += [out.i.payload.eq(gather), out.i.valid.eq(done)]
        wiring.connect(m, out.o, wiring.flipped(self.o))
        with m.If(self.clear):
            m.d.sync += [v.eq(0) for v in valid] + [done.eq(0), in_flight.eq(0), popped.eq(0)]
        return m

    def _table_lane(self, m, lane, clamped, writes):
        """Lane ``lane``'s copy of the table (its write port appended to ``writes``): ``clamped``
        into a register, its entry read (a registered read), the byte selected; the value the
        gatherer takes, two stages later."""
        words = self.TABLE_ENTRIES // self.table_bytes
        sel = (self.table_bytes - 1).bit_length()
        m.submodules[f"table_{lane}"] = mem = Memory(shape=unsigned(8 * self.table_bytes), depth=words, init=[])
        writes.append(mem.write_port())
        rd = mem.read_port(domain="sync")
        held = Signal(8, name=f"clamped_{lane}")
        byte = Signal(range(self.table_bytes), name=f"table_byte_{lane}")
        raw = Signal(8, name=f"raw_{lane}")
        m.d.sync += [held.eq(clamped[:8]), byte.eq(held[:sel] if sel else 0), raw.eq(held)]
        m.d.comb += rd.addr.eq(held[sel:])
        entry = rd.data.word_select(byte, 8) if sel else rd.data
        return Mux(self.use_table, entry, raw).as_signed()

    def _table_load(self, m, writes):
        """Every lane's copy (``writes``: their write ports) takes each table word at the next
        index (wrapping after a load)."""
        words = self.TABLE_ENTRIES // self.table_bytes
        index = Signal(range(words))
        m.d.comb += self.table.ready.eq(1)
        for wp in writes:
            m.d.comb += [wp.addr.eq(index), wp.data.eq(self.table.payload.data), wp.en.eq(self.table.valid)]
        with m.If(self.table.valid):
            m.d.sync += index.eq(Mux(self.table.payload.last, 0, index + 1))
        with m.If(self.clear):
            m.d.sync += index.eq(0)
