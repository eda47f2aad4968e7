"""cocotb test module for rtl.pe.pooling.Pooling (runner: test_pooling.py).

The expected outputs come from numpy on whole visits ``x[pm, rows, width]``, independent of the
RTL's counters: max pooling is ``np.maximum`` over the four stride-2 views, average pooling
``(2 * s + 4) // 8`` of their int64 sum ``s`` (the mean rounded half up).
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge, with_timeout

from rtl.descriptor import POOL_AVG, POOL_MAX, POOL_NONE
from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.packing import pack, unpack
from tests.harness.streams import StreamSink, StreamSource


#: Clock period of tests.harness.clock.start_clock_and_reset (its default).
CLOCK_NS = 10


class Setup:
    def __init__(self):
        self.p = tb_params()
        self.pm, self.dw, self.max_width = self.p["pm"], self.p["dw"], self.p["max_width"]
        self.lo, self.hi = -(1 << (self.dw - 1)), (1 << (self.dw - 1)) - 1
        self.widths = list(range(2, self.max_width + 1, 2))

    def visit(self, rng, rows, width):
        """Random ``[pm, rows, width]``: about 40 % of the values at the extremes, one window all
        at the maximum and one all at the minimum (the average's rounding limits)."""
        x = rng.integers(self.lo, self.hi + 1, size=(self.pm, rows, width), dtype=np.int64)
        pick = rng.random(x.shape)
        x[pick < 0.2] = self.lo
        x[pick > 0.8] = self.hi
        x[:, 0:2, 0:2] = self.hi
        x[:, rows - 2:rows, width - 2:width] = self.lo
        return x

    def words(self, x, last=True):
        """Input words of ``x`` in raster order; ``last`` on the final pixel if asked."""
        _, rows, width = x.shape
        flag = 1 << (self.pm * self.dw)
        return [pack(x[:, h, w], self.dw) | (flag if last and (h, w) == (rows - 1, width - 1) else 0)
                for h in range(rows) for w in range(width)]

    def decode(self, word):
        return tuple(int(v) for v in unpack(word, self.dw, self.pm)), (word >> (self.pm * self.dw)) & 1


def pooled(x, mode):
    """``x[pm, rows, width]`` pooled 2x2, stride 2 (``mode`` POOL_MAX or POOL_AVG)."""
    views = [x[:, u::2, v::2] for u in (0, 1) for v in (0, 1)]
    if mode == POOL_MAX:
        out = views[0]
        for view in views[1:]:
            out = np.maximum(out, view)
        return out
    s = sum(view.astype(np.int64) for view in views)
    return (2 * s + 4) // 8


def expected(x, mode, last=True):
    """(lanes, last) of every output pixel of visit ``x``; ``last`` on its final one if asked."""
    y = x if mode == POOL_NONE else pooled(x, mode)
    _, rows, width = y.shape
    return [(tuple(int(v) for v in y[:, h, w]), int(last and (h, w) == (rows - 1, width - 1)))
            for h in range(rows) for w in range(width)]


def emitting(x, mode):
    """Indices (in the visit's raster order) of the input pixels that produce an output."""
    _, rows, width = x.shape
    if mode == POOL_NONE:
        return list(range(rows * width))
    return [h * width + w for h in range(1, rows, 2) for w in range(1, width, 2)]


class Monitor:
    """Cycle numbers of the handshakes on ``i`` and ``o``; checks ``i.ready == ~o.valid | o.ready``
    every cycle (honest back-pressure, no dependence on the pixel)."""

    def __init__(self, dut, clock):
        self.dut, self.clock = dut, clock
        self.cycle, self.i_cycles, self.o_cycles = 0, [], []
        self.stopped = False

    async def run(self):
        d = self.dut
        while not self.stopped:
            await RisingEdge(self.clock)
            await ReadOnly()
            self.cycle += 1
            i_valid, i_ready = int(d.i__valid.value), int(d.i__ready.value)
            o_valid, o_ready = int(d.o__valid.value), int(d.o__ready.value)
            assert i_ready == int(not o_valid or o_ready), f"cycle {self.cycle}: i.ready={i_ready}, o.valid={o_valid}, o.ready={o_ready}"
            if i_valid and i_ready:
                self.i_cycles.append(self.cycle)
            if o_valid and o_ready:
                self.o_cycles.append(self.cycle)


async def restart(dut, clock, mode, width):
    """Sets the run's mode and width with a one-cycle ``restart`` pulse (while idle)."""
    await RisingEdge(clock)
    dut.mode.value = mode
    dut.width.value = width
    dut.restart.value = 1
    await RisingEdge(clock)
    dut.restart.value = 0


async def run(dut, clock, s, mode, width, visits, idle, stall, seed, partial=0):
    """One run after a restart: ``visits`` (arrays ``[pm, rows, width]``) back to back, then, with
    ``partial``, the first ``partial`` pixels of one more two-row visit without ``last`` (left
    unfinished: the next run's restart must drop its position). Checks every output, that no
    more come, and with no gaps or stalls the latency (and one pixel a cycle)."""
    await restart(dut, clock, mode, width)
    words, exp, emits = [], [], []
    for x in visits:
        emits += [len(words) + k for k in emitting(x, mode)]
        words += s.words(x)
        exp += expected(x, mode)
    if partial:
        x = s.visit(np.random.default_rng(seed), 2, width)
        words += s.words(x, last=False)[:partial]
        full = expected(x, mode, last=False)
        keep = partial if mode == POOL_NONE else max(0, (partial - width) // 2)
        exp += full[:keep]
    source = StreamSource(dut, "i", clock, idle=idle, rng=random.Random(seed))
    sink = StreamSink(dut, "o", clock, stall=stall, rng=random.Random(seed + 1))
    mon = Monitor(dut, clock)
    cocotb.start_soon(mon.run())
    send = cocotb.start_soon(source.send(words))
    cycles = 20 * len(words) + 100
    got = await sink.receive(len(exp), timeout_cycles=cycles)
    # Bounded: unexpected outputs left unread would block the source forever.
    await with_timeout(send, CLOCK_NS * cycles, "ns")
    for _ in range(s.p["latency"] + 3):
        await RisingEdge(clock)
        await ReadOnly()
        assert not int(dut.o__valid.value), f"mode {mode} width {width}: an output beyond the {len(exp)} expected"
    mon.stopped = True
    assert source.sent == len(words)
    for k, (word, e) in enumerate(zip(got, exp)):
        assert s.decode(word) == e, f"mode {mode} width {width} output {k}: got {s.decode(word)}, expected {e}"
    assert sum(last for _, last in exp) == len(visits)
    assert len(mon.i_cycles) == len(words) and len(mon.o_cycles) == len(exp)
    if idle == 0 and stall == 0:
        first = mon.i_cycles[0]
        assert mon.i_cycles == list(range(first, first + len(words))), f"mode {mode} width {width}: input stalled"
        lat = s.p["latency"]
        assert mon.o_cycles == [mon.i_cycles[k] + lat for k in emits[:len(exp)]], \
            f"mode {mode} width {width}: outputs not {lat} cycle(s) after their pixels"


async def mode_runs(dut, mode, seed):
    """Every even width up to max_width with random gaps and stalls (two to four visits of 2, 4
    or 6 rows each); an unfinished run before a restart; a full-speed run."""
    s = Setup()
    dut.restart.value = 0
    dut.mode.value = mode
    dut.width.value = 2
    clock = await start_clock_and_reset(dut)
    rng = np.random.default_rng(seed + s.p["seed"])
    for k, width in enumerate(s.widths):
        visits = [s.visit(rng, int(rows), width) for rows in rng.choice([2, 4, 6], size=int(rng.integers(2, 5)))]
        await run(dut, clock, s, mode, width, visits, idle=0.3, stall=0.3, seed=seed + k)
    width = s.widths[-1]
    partial = int(rng.integers(width + 1, 2 * width))   # into the odd row: some windows emitted
    await run(dut, clock, s, mode, width, [s.visit(rng, 2, width)], 0.2, 0.2, seed + 50, partial=partial)
    await run(dut, clock, s, mode, 2, [s.visit(rng, 2, 2)], 0.2, 0.2, seed + 51, partial=3)
    await run(dut, clock, s, mode, s.widths[len(s.widths) // 2], [s.visit(rng, 4, s.widths[len(s.widths) // 2])],
              0.2, 0.2, seed + 52, partial=1)
    for width in (2, s.widths[-1]):
        await run(dut, clock, s, mode, width, [s.visit(rng, 4, width), s.visit(rng, 2, width)], 0, 0, seed + 60 + width)


@cocotb.test()
async def pass_through(dut):
    await mode_runs(dut, POOL_NONE, 100)


@cocotb.test()
async def max_pool(dut):
    await mode_runs(dut, POOL_MAX, 200)


@cocotb.test()
async def avg_pool(dut):
    await mode_runs(dut, POOL_AVG, 300)


@cocotb.test()
async def modes_in_turn(dut):
    """Runs of alternating modes and widths, separated only by restart pulses (no reset)."""
    s = Setup()
    dut.restart.value = 0
    dut.mode.value = POOL_NONE
    dut.width.value = 2
    clock = await start_clock_and_reset(dut)
    rng = np.random.default_rng(s.p["seed"] + 400)
    for k, mode in enumerate([POOL_MAX, POOL_NONE, POOL_AVG, POOL_MAX, POOL_AVG, POOL_NONE, POOL_AVG]):
        width = int(rng.choice(s.widths))
        visits = [s.visit(rng, int(rows), width) for rows in rng.choice([2, 4], size=2)]
        await run(dut, clock, s, mode, width, visits, idle=0.4, stall=0.4, seed=400 + k, partial=int(k % 2))
