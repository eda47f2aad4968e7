"""cocotb tests for the Winograd stages and their chain (driven by tests/rtl/test_winograd_stages.py).

Expected values come from numpy: ``sim.winograd_reference`` (integer matrix products) for the
transforms and ``sim.reference.conv2d`` (direct convolution) for everything that ends in an
output tile. Inputs include the extreme tiles that attain every transform's worst case.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb.utils import get_sim_time

from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.packing import to_signed
from sim.reference import conv2d
from tests.harness.streams import StreamSink, StreamSource
from sim import winograd_reference as wref

IDLE, STALL = 0.3, 0.3


class Fields:
    """Flat payload codec: fields ``(name, element_width, count)`` packed LSB first."""

    def __init__(self, *fields):
        self.fields = fields

    def pack(self, **values) -> int:
        word, offset = 0, 0
        for name, width, count in self.fields:
            flat = np.asarray(values[name], dtype=object).reshape(-1)
            assert flat.size == count, f"{name}: {flat.size} values for {count} elements"
            mask = (1 << width) - 1
            for k, v in enumerate(flat):
                word |= (int(v) & mask) << (offset + k * width)
            offset += width * count
        return word

    def unpack(self, word: int, signed: bool = True) -> dict:
        out, offset = {}, 0
        for name, width, count in self.fields:
            vals = [(word >> (offset + k * width)) & ((1 << width) - 1) for k in range(count)]
            out[name] = np.array([to_signed(v, width) if signed and width > 1 else v for v in vals], dtype=object)
            offset += width * count
        return out


def wrap(values, width: int) -> np.ndarray:
    """Two's complement residue of ``values`` in ``width`` bits (read as signed)."""
    return np.array([to_signed(int(v), width) for v in np.asarray(values, dtype=object).reshape(-1)],
                    dtype=object).reshape(np.shape(values))


class Setup:
    def __init__(self):
        p = self.p = tb_params()
        self.m, self.n, self.pm, self.pn = p["m"], p["n"], p["pm"], p["pn"]
        self.dw, self.fw, self.channels = p["data_width"], p["flags_width"], p["max_channels"]
        self.lo, self.hi = -(1 << (self.dw - 1)), (1 << (self.dw - 1)) - 1
        self.rng = np.random.default_rng(p["seed"])
        self.flag_rng = random.Random(p["seed"])
        n, pm, pn, m, fw = self.n, self.pm, self.pn, self.m, self.fw
        self.it_fw, self.ft_fw = p["it_flags_width"], p["ft_flags_width"]
        self.it_in = Fields(("d", self.dw, n * n * pn), ("flags", self.it_fw, 1))
        self.it_out = Fields(("v", p["it_out_width"], n * n * pn), ("flags", self.it_fw, 1))
        self.ft_in = Fields(("g", self.dw, pm * pn * 9), ("flags", self.ft_fw, 1))
        self.ft_out = Fields(("u", p["ft_out_width"], pm * pn * n * n), ("flags", self.ft_fw, 1))
        self.ew_in = Fields(("v", p["ew_v_width"], n * n * pn), ("u", p["ew_u_width"], pm * pn * n * n),
                            ("first", 1, 1), ("last", 1, 1), ("flags", fw, 1))
        self.ew_out = Fields(("acc", p["ew_acc_width"], pm * n * n), ("flags", fw, 1))
        self.ot_in = Fields(("acc", p["ot_in_width"], pm * n * n), ("flags", fw, 1))
        self.ot_out = Fields(("y", p["ot_out_width"], pm * m * m), ("flags", fw, 1))
        self.ch_in = Fields(("d", self.dw, n * n * pn), ("g", self.dw, pm * pn * 9), ("first", 1, 1), ("last", 1, 1))
        self.ch_out = Fields(("y", p["ot_out_width"], pm * m * m), ("flags", 0, 1))

    def flags(self, width: int | None = None) -> int:
        """Random pass-through flags (any width: the transforms carry wide ones in the chain)."""
        width = self.fw if width is None else width
        return self.flag_rng.getrandbits(width) if width else 0

    def data(self, *shape) -> np.ndarray:
        return self.rng.integers(self.lo, self.hi + 1, size=shape)

    def extreme_tiles(self, matrix: np.ndarray, size: int) -> list[np.ndarray]:
        """For each element of ``matrix @ X @ matrix^T``: the ``X`` attaining its max and its min
        (entries with a zero coefficient random)."""
        tiles = []
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[0]):
                zero = np.outer(matrix[i], matrix[j]) == 0
                for sign in (1, -1):
                    x = self.vertex(matrix, i, j, sign)
                    x[zero] = self.data(size, size)[zero]
                    tiles.append(x)
        return tiles

    def vertex(self, matrix: np.ndarray, i: int, j: int, sign: int) -> np.ndarray:
        """The tile maximising (sign=1) or minimising (sign=-1) element (i, j) of M X M^T."""
        coeff = np.outer(matrix[i], matrix[j])
        x = np.zeros(coeff.shape, dtype=np.int64)
        x[sign * coeff > 0] = self.hi
        x[sign * coeff < 0] = self.lo
        return x

    def worst_pair(self, i: int, j: int, sign: int) -> tuple[np.ndarray, np.ndarray]:
        """(input tile, filter) whose transform-domain product at (i, j) is the largest (sign=1)
        or most negative (sign=-1) reachable: the channel sum's extreme at that position."""
        _, gm, bt = wref.integer_matrices(self.m)
        best = None
        for sv in (1, -1):
            for sg in (1, -1):
                d, g = self.vertex(bt, i, j, sv), self.vertex(gm, i, j, sg)
                prod = int(wref.input_transform(d, self.m)[i, j]) * int(wref.filter_transform(g, self.m)[i, j])
                if best is None or sign * prod > sign * best[0]:
                    best = (prod, d, g)
        return best[1], best[2]

    def worst_positions(self, count: int) -> list[tuple[int, int]]:
        """Transform positions with the widest channel-sum range (where bits run out first)."""
        it, ft = np.array(self.p["it_ranges"]), np.array(self.p["ft_ranges"])
        span = np.abs(it).max(axis=2) * np.abs(ft).max(axis=2)
        order = np.argsort(-span, axis=None, kind="stable")[:count]
        return [tuple(int(v) for v in np.unravel_index(k, span.shape)) for k in order]


async def run_stream(dut, clock, src: str, snk: str, beats, count: int, idle=IDLE, stall=STALL, seed=0):
    source = StreamSource(dut, src, clock, idle=idle, rng=random.Random(seed))
    sink = StreamSink(dut, snk, clock, stall=stall, rng=random.Random(seed + 1))
    sending = cocotb.start_soon(source.send(beats))
    got = await sink.receive(count, timeout_cycles=50 * len(beats) + 200)
    await sending
    return got


# ----- per-stage stimulus and expectations ------------------------------------------------------

def input_transform_cases(s: Setup):
    """(beats, expected) for the input transform: extreme tiles on every channel, then random."""
    _, _, bt = wref.integer_matrices(s.m)
    extremes = s.extreme_tiles(bt, s.n) + [np.full((s.n, s.n), s.lo), np.full((s.n, s.n), s.hi)]
    tiles = []
    for k in range(0, len(extremes), s.pn):
        group = extremes[k:k + s.pn]
        group += [s.data(s.n, s.n) for _ in range(s.pn - len(group))]
        tiles.append(np.stack(group))                       # [pn, n, n]
    tiles += [s.data(s.pn, s.n, s.n) for _ in range(40)]
    beats, expected = [], []
    for d in tiles:
        flags = s.flags(s.it_fw)
        beats.append(s.it_in.pack(d=d.transpose(1, 2, 0), flags=flags))
        expected.append((wref.input_transform(d, s.m).transpose(1, 2, 0).reshape(-1), flags))
    return beats, expected


def filter_transform_cases(s: Setup):
    gm = wref.integer_matrices(s.m)[1]
    extremes = s.extreme_tiles(gm, 3)
    banks = []
    for k in range(0, len(extremes), s.pm * s.pn):
        group = extremes[k:k + s.pm * s.pn]
        group += [s.data(3, 3) for _ in range(s.pm * s.pn - len(group))]
        banks.append(np.stack(group).reshape(s.pm, s.pn, 3, 3))
    banks += [s.data(s.pm, s.pn, 3, 3) for _ in range(30)]
    beats, expected = [], []
    for g in banks:
        flags = s.flags(s.ft_fw)
        beats.append(s.ft_in.pack(g=g, flags=flags))
        expected.append((wref.filter_transform(g, s.m).reshape(-1), flags))
    return beats, expected


def ewmm_cases(s: Setup):
    p = s.p
    vw, uw, accw = p["ew_v_width"], p["ew_u_width"], p["ew_acc_width"]
    max_beats = s.channels // s.pn
    it_rng = np.array(p["it_ranges"], dtype=object)   # [n, n, 2]
    ft_rng = np.array(p["ft_ranges"], dtype=object)
    groups = []
    # the largest reachable |sum|: every operand at its transform extreme, max_channels channels
    for want in (1, -1):
        v = np.empty((max_beats, s.n, s.n, s.pn), dtype=object)
        u = np.empty((max_beats, s.pm, s.pn, s.n, s.n), dtype=object)
        for i in range(s.n):
            for j in range(s.n):
                cands = [(a * b, a, b) for a in it_rng[i, j] for b in ft_rng[i, j]]
                _, a, b = max(cands) if want > 0 else min(cands)
                v[:, i, j, :] = a
                u[:, :, :, i, j] = b
        groups.append((v, u))
    # full-width operands (beyond the transforms' reach): the sums wrap modulo 2^acc_width
    vmin, umin, umax = -(1 << (vw - 1)), -(1 << (uw - 1)), (1 << (uw - 1)) - 1
    groups.append((np.full((max_beats, s.n, s.n, s.pn), vmin), np.full((max_beats, s.pm, s.pn, s.n, s.n), umin)))
    groups.append((np.full((max_beats, s.n, s.n, s.pn), vmin), np.full((max_beats, s.pm, s.pn, s.n, s.n), umax)))
    for g in range(40):
        length = int(s.rng.integers(1, max_beats + 1)) if g % 4 else 1
        v = s.rng.integers(-(1 << (vw - 1)), 1 << (vw - 1), size=(length, s.n, s.n, s.pn))
        u = s.rng.integers(-(1 << (uw - 1)), 1 << (uw - 1), size=(length, s.pm, s.pn, s.n, s.n))
        groups.append((v, u))
    beats, expected = [], []
    for v, u in groups:
        flags = 0
        for t in range(len(v)):
            flags = s.flags()
            beats.append(s.ew_in.pack(v=v[t], u=u[t], first=int(t == 0), last=int(t == len(v) - 1), flags=flags))
        exact = np.einsum("tijc,tocij->oij", v.astype(object), u.astype(object))
        expected.append((wrap(exact, accw).reshape(-1), flags))
    return beats, expected


def output_transform_cases(s: Setup):
    """Transform-domain channel sums of real tiles (as residues), expecting direct convolution."""
    cases = []
    channels = s.channels
    cases.append((np.full((channels, s.n, s.n), s.lo), np.full((s.pm, channels, 3, 3), s.lo)))
    cases.append((np.full((channels, s.n, s.n), s.lo), np.full((s.pm, channels, 3, 3), s.hi)))
    cases.append((np.full((channels, s.n, s.n), s.hi), np.full((s.pm, channels, 3, 3), s.lo)))
    # every position's channel-sum extremes: all channels the same worst-case tile and filter
    for i in range(s.n):
        for j in range(s.n):
            for sign in (1, -1):
                d, g = s.worst_pair(i, j, sign)
                cases.append((np.repeat(d[None], channels, axis=0), np.repeat(g[None, None], s.pm, axis=0).repeat(channels, axis=1)))
    for k in range(30):
        c = int(s.rng.integers(1, channels + 1))
        d, g = s.data(c, s.n, s.n), s.data(s.pm, c, 3, 3)
        if k % 5 == 0:
            d = s.rng.choice([s.lo, s.hi], size=d.shape)
            g = s.rng.choice([s.lo, s.hi], size=g.shape)
        cases.append((d, g))
    beats, expected = [], []
    for d, g in cases:
        acc = np.einsum("ocij,cij->oij", wref.filter_transform(g, s.m).astype(object),
                        wref.input_transform(d, s.m).astype(object))
        flags = s.flags()
        beats.append(s.ot_in.pack(acc=wrap(acc, s.p["ot_in_width"]), flags=flags))
        y = conv2d(d, g)                                       # [pm, m, m], independent of Winograd
        expected.append((y.reshape(-1), flags))
    return beats, expected


def check(name, got_words, expected, codec: Fields, field: str):
    assert len(got_words) == len(expected)
    for k, (word, (exp, flags)) in enumerate(zip(got_words, expected)):
        got = codec.unpack(word)
        assert list(got[field]) == [int(x) for x in exp], f"{name} item {k}: got {list(got[field])}, expected {list(exp)}"
        got_flags = codec.unpack(word, signed=False)["flags"][0]
        assert got_flags == flags, f"{name} item {k}: flags {got_flags} != {flags}"


def chain_layer_cases(s: Setup):
    """Whole layers through the chain: (beats, expected tiles, layer checks).

    Beats run output-channel group by group, tile by tile (overlap-and-save), and within a tile
    over the input-channel groups (first .. last). Channels are padded with zeros up to a
    multiple of pn, as the line buffer would.
    """
    layers = []
    c = s.channels
    x = s.data(c, 2 * s.m + 1, s.m + 3)
    x[0] = s.lo                                             # one extreme channel
    w = s.data(2 * s.pm, c, 3, 3)
    layers.append((x, w, 1))
    c2 = max(1, c - s.pn - 1) if c > s.pn else c
    layers.append((s.data(c2, s.m + 2, 2 * s.m + 2), s.data(s.pm, c2, 3, 3), 0))
    # the extreme layer: every product at (-2^(w-1))^2, or at its most negative
    xe = np.full((c, s.m + 1, s.m + 1), s.lo)
    we = np.concatenate([np.full((s.pm, c, 3, 3), s.lo), np.full((s.pm, c, 3, 3), s.hi)])
    layers.append((xe, we, 1))
    # single-tile layers at the channel-sum extremes of the widest positions
    for i, j in s.worst_positions(2):
        for sign in (1, -1):
            d, g = s.worst_pair(i, j, sign)
            layers.append((np.repeat(d[None], c, axis=0), np.repeat(g[None, None], s.pm, axis=0).repeat(c, axis=1), 0))
    beats, expected = [], []
    for x, w, pad in layers:
        cp = -(-x.shape[0] // s.pn) * s.pn
        xp = np.zeros((cp,) + x.shape[1:], dtype=np.int64)
        xp[: x.shape[0]] = x
        wp = np.zeros((w.shape[0], cp, 3, 3), dtype=np.int64)
        wp[:, : x.shape[0]] = w
        tiles, (ho, wo) = wref.input_tiles(xp, s.m, 3, pad)          # [C, th, tw, n, n]
        ref = conv2d(x, w, stride=1, padding=pad)                    # [M, ho, wo]
        th, tw = tiles.shape[1:3]
        ext = np.zeros((w.shape[0], th * s.m, tw * s.m), dtype=object)
        ext[:, :ho, :wo] = ref
        groups = cp // s.pn
        for og in range(w.shape[0] // s.pm):
            for i in range(th):
                for j in range(tw):
                    for cg in range(groups):
                        chans = slice(cg * s.pn, (cg + 1) * s.pn)
                        beats.append(s.ch_in.pack(
                            d=tiles[chans, i, j].transpose(1, 2, 0),
                            g=wp[og * s.pm:(og + 1) * s.pm, chans],
                            first=int(cg == 0), last=int(cg == groups - 1)))
                    want = ext[og * s.pm:(og + 1) * s.pm, i * s.m:(i + 1) * s.m, j * s.m:(j + 1) * s.m]
                    rows, cols = min(s.m, ho - i * s.m), min(s.m, wo - j * s.m)
                    expected.append((want, rows, cols))
    return beats, expected


def assert_extremes_reached(expected, ranges):
    """The stimulus attains the transform's worst case at both ends (so its width is tested)."""
    values = np.concatenate([np.asarray(e, dtype=object) for e, _ in expected])
    assert min(values) == min(r[0] for row in ranges for r in row)
    assert max(values) == max(r[1] for row in ranges for r in row)


@cocotb.test()
async def input_transform_stage(dut):
    s = Setup()
    dut.chain.value = 0
    clock = await start_clock_and_reset(dut)
    beats, expected = input_transform_cases(s)
    assert_extremes_reached(expected, s.p["it_ranges"])
    got = await run_stream(dut, clock, "it_i", "it_o", beats, len(expected), seed=1)
    check("input transform", got, expected, s.it_out, "v")


@cocotb.test()
async def filter_transform_stage(dut):
    s = Setup()
    dut.chain.value = 0
    clock = await start_clock_and_reset(dut)
    beats, expected = filter_transform_cases(s)
    assert_extremes_reached(expected, s.p["ft_ranges"])
    got = await run_stream(dut, clock, "ft_i", "ft_o", beats, len(expected), seed=2)
    check("filter transform", got, expected, s.ft_out, "u")


@cocotb.test()
async def ewmm_array_stage(dut):
    s = Setup()
    dut.chain.value = 0
    clock = await start_clock_and_reset(dut)
    beats, expected = ewmm_cases(s)
    got = await run_stream(dut, clock, "ew_i", "ew_o", beats, len(expected), seed=3)
    check("EWMM array", got, expected, s.ew_out, "acc")


@cocotb.test()
async def output_transform_stage(dut):
    s = Setup()
    dut.chain.value = 0
    clock = await start_clock_and_reset(dut)
    beats, expected = output_transform_cases(s)
    got = await run_stream(dut, clock, "ot_i", "ot_o", beats, len(expected), seed=4)
    check("output transform", got, expected, s.ot_out, "y")


@cocotb.test()
async def chain_layer(dut):
    """Whole multi-channel layers through the four chained stages equal direct convolution."""
    s = Setup()
    dut.chain.value = 1
    clock = await start_clock_and_reset(dut)
    beats, expected = chain_layer_cases(s)
    got = await run_stream(dut, clock, "ch_i", "ch_o", beats, len(expected), seed=5)
    assert len(got) == len(expected)
    for k, (word, (want, rows, cols)) in enumerate(zip(got, expected)):
        y = s.ch_out.unpack(word)["y"].reshape(s.pm, s.m, s.m)
        assert np.array_equal(y[:, :rows, :cols], want[:, :rows, :cols]), (
            f"tile {k}: got {y[:, :rows, :cols].tolist()}, expected {want[:, :rows, :cols].tolist()}")


@cocotb.test()
async def full_throughput(dut):
    """Without stalls every stage takes one beat per cycle: N beats drain in N + latency cycles."""
    s = Setup()
    dut.chain.value = 0
    clock = await start_clock_and_reset(dut)
    lat = s.p["latency"]
    cases = {
        "it": input_transform_cases(s),
        "ft": filter_transform_cases(s),
        "ot": output_transform_cases(s),
    }
    # single-beat EWMM accumulations and single-channel-group chain tiles: one result per beat
    n_beats = 32
    v = s.rng.integers(-(1 << (s.p["ew_v_width"] - 1)), 1 << (s.p["ew_v_width"] - 1), size=(n_beats, s.n, s.n, s.pn))
    u = s.rng.integers(-(1 << (s.p["ew_u_width"] - 1)), 1 << (s.p["ew_u_width"] - 1), size=(n_beats, s.pm, s.pn, s.n, s.n))
    cases["ew"] = ([s.ew_in.pack(v=v[t], u=u[t], first=1, last=1, flags=0) for t in range(n_beats)],
                   [(wrap(np.einsum("ijc,ocij->oij", v[t].astype(object), u[t].astype(object)), s.p["ew_acc_width"]).reshape(-1), 0)
                    for t in range(n_beats)])
    d = s.data(n_beats, s.pn, s.n, s.n)
    g = s.data(n_beats, s.pm, s.pn, 3, 3)
    ch_beats = [s.ch_in.pack(d=d[t].transpose(1, 2, 0), g=g[t], first=1, last=1) for t in range(n_beats)]
    ch_expected = [conv2d(d[t], g[t]).reshape(-1) for t in range(n_beats)]
    fields = {"it": (s.it_out, "v"), "ft": (s.ft_out, "u"), "ew": (s.ew_out, "acc"), "ot": (s.ot_out, "y")}
    async def timed(name, beats, count):
        got = await run_stream(dut, clock, f"{name}_i", f"{name}_o", beats, count, idle=0, stall=0)
        return got, get_sim_time("ns")

    start = get_sim_time("ns")
    tasks = {name: cocotb.start_soon(timed(name, beats, len(exp))) for name, (beats, exp) in cases.items()}
    results = {name: await task for name, task in tasks.items()}
    # then the chained stages
    await ClockCycles(clock, 2)
    dut.chain.value = 1
    await ClockCycles(clock, 2)
    ch_start = get_sim_time("ns")
    results["ch"] = await timed("ch", ch_beats, n_beats)
    for name, (got, end) in results.items():
        cycles = (end - (ch_start if name == "ch" else start)) / 10
        count = n_beats if name == "ch" else len(cases[name][0])
        if name == "ch":
            for t, word in enumerate(got):
                assert list(s.ch_out.unpack(word)["y"]) == [int(x) for x in ch_expected[t]], f"chain beat {t}"
        else:
            check(name, got, cases[name][1], *fields[name])
        assert cycles <= count + lat[name] + 4, f"{name}: {count} beats took {cycles} cycles: not II=1"
