"""Width converters and the beat router, in amaranth.sim with random idles and stalls."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from rtl.dma.beats_to_words import BeatsToWords
from rtl.dma.router import BeatRouter
from rtl.dma.words_to_beats import WordsToBeats
from rtl.stream import SkidBuffer, StreamFifo
from tests.harness.amaranth_streams import stream_receive, stream_send


def run(dut, *testbenches):
    top = Module()
    top.submodules.dut = dut
    tick = Signal()
    top.d.sync += tick.eq(~tick)  # gives purely combinational DUTs a clock domain to step
    sim = Simulator(top)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


def beats_of(data: bytes, bus_bytes: int):
    beats = []
    n = -(-len(data) // bus_bytes)
    for k in range(n):
        chunk = data[k * bus_bytes:(k + 1) * bus_bytes].ljust(bus_bytes, b"\0")
        beats.append({"data": int.from_bytes(chunk, "little"), "last": int(k == n - 1)})
    return beats


@pytest.mark.parametrize("bus,word", [(64, 16), (64, 64), (64, 512), (128, 32), (64, 128),
                                      (64, 24), (64, 48), (128, 48), (64, 96), (64, 192), (128, 72)])
def test_beats_to_words_exact_counts(bus, word):
    rng = random.Random(bus + word)
    wb = word // 8
    commands = [rng.randint(1, 9) for _ in range(6)]
    if word < bus:
        commands[0] = 1  # final beat mostly padding
    dut = BeatsToWords(bus, word)
    words_in = [[rng.getrandbits(word) for _ in range(n)] for n in commands]
    got = []

    async def source(ctx):
        for ws in words_in:
            ctx.set(dut.count, len(ws))
            data = b"".join(w.to_bytes(wb, "little") for w in ws)
            await stream_send(ctx, dut.i, beats_of(data, bus // 8), idle=0.3, rng=random.Random(3))
            # the count may change only after the command's words have left
            while len(got) < sum(len(x) for x in words_in[: words_in.index(ws) + 1]):
                await ctx.tick()

    async def sink(ctx):
        total = sum(commands)
        while len(got) < total:
            got.extend(await stream_receive(ctx, dut.o, 1, stall=0.3, rng=random.Random(len(got))))

    run(dut, source, sink)
    flat = [(w, int(k == len(ws) - 1)) for ws in words_in for k, w in enumerate(ws)]
    assert [(g.data, g.last) for g in got] == flat


@pytest.mark.parametrize("bus,word,tap", [(64, 32, 8), (64, 48, 24), (128, 96, 24), (64, 16, 8), (128, 48, 16)])
def test_beats_to_words_partial_final_word(bus, word, tap):
    """A weight load of ``taps`` taps in words of word/tap taps: the final word may be partial;
    its bytes within the command are exact and nothing of the padding leaks into the next
    command's words."""
    rng = random.Random(bus * word + tap)
    wb, tb = word // 8, tap // 8
    tap_counts = [rng.randint(1, 13) for _ in range(8)]
    dut = BeatsToWords(bus, word)
    datas = [bytes(rng.getrandbits(8) for _ in range(n * tb)) for n in tap_counts]
    counts = [-(-len(d) // wb) for d in datas]
    got = []

    async def source(ctx):
        for k, (data, count) in enumerate(zip(datas, counts)):
            ctx.set(dut.count, count)
            await ctx.tick()   # the count is stable a cycle before the command's first beat
            beats = beats_of(data, bus // 8)
            for b in beats:   # DDR bytes past the command's end are junk, not zero
                pad = len(beats) * bus // 8 - len(data)
                b["data"] |= (rng.getrandbits(8 * pad) << (8 * (bus // 8 - pad))) if pad and b["last"] else 0
            await stream_send(ctx, dut.i, beats, idle=0.3, rng=random.Random(k))
            while len(got) < sum(counts[:k + 1]):
                await ctx.tick()

    async def sink(ctx):
        while len(got) < sum(counts):
            got.extend(await stream_receive(ctx, dut.o, 1, stall=0.3, rng=random.Random(len(got))))

    run(dut, source, sink)
    at = 0
    for data, count in zip(datas, counts):
        words = got[at:at + count]
        at += count
        assert [w.last for w in words] == [0] * (count - 1) + [1]
        joined = b"".join(w.data.to_bytes(wb, "little") for w in words)
        assert joined[:len(data)] == data


@pytest.mark.parametrize("word,bus", [(32, 64), (64, 64), (128, 64), (8, 64), (16, 128),
                                      (24, 64), (48, 64), (48, 128), (96, 64), (192, 64), (72, 128)])
def test_words_to_beats_packs_and_flushes(word, bus):
    rng = random.Random(word * bus)
    commands = [rng.randint(1, 11) for _ in range(5)]
    words_in = [[rng.getrandbits(word) for _ in range(n)] for n in commands]
    dut = WordsToBeats(word, bus)
    items = [{"data": w, "last": int(k == len(ws) - 1)} for ws in words_in for k, w in enumerate(ws)]
    expected = []
    for ws in words_in:
        data = b"".join(w.to_bytes(word // 8, "little") for w in ws)
        expected += [b["data"] for b in beats_of(data, bus // 8)]
    got = []

    async def source(ctx):
        await stream_send(ctx, dut.i, items, idle=0.3, rng=random.Random(5))

    async def sink(ctx):
        got.extend(await stream_receive(ctx, dut.o, len(expected), stall=0.3, rng=random.Random(6)))

    run(dut, source, sink)
    assert [g.data for g in got] == expected


def test_router_steers_commands():
    dut = BeatRouter(64, 3)
    rng = random.Random(9)
    routes = [rng.randrange(3) for _ in range(12)]
    cmds = [[rng.getrandbits(64) for _ in range(rng.randint(1, 4))] for _ in routes]
    beats = [{"data": d, "last": int(k == len(c) - 1)} for c in cmds for k, d in enumerate(c)]
    got = {0: [], 1: [], 2: []}

    async def source(ctx):
        await stream_send(ctx, dut.i, beats, idle=0.2, rng=random.Random(1))

    async def route(ctx):
        await stream_send(ctx, dut.route, routes, idle=0.5, rng=random.Random(2))

    def sink(k):
        async def tb(ctx):
            n = sum(len(c) for r, c in zip(routes, cmds) if r == k)
            got[k] = await stream_receive(ctx, dut.output(k), n, stall=0.4, rng=random.Random(10 + k))
        return tb

    run(dut, source, route, sink(0), sink(1), sink(2))
    for k in range(3):
        assert [g.data for g in got[k]] == [d for r, c in zip(routes, cmds) if r == k for d in c]


def test_skid_buffer_keeps_order_and_registers_ready():
    """Every beat passes once, in order, under random idles and stalls; ``i.ready`` never
    changes in a cycle in response to ``o.ready`` (it is a register)."""
    dut = SkidBuffer(16)
    rng = random.Random(4)
    items = [rng.getrandbits(16) for _ in range(200)]
    got = []

    async def source(ctx):
        await stream_send(ctx, dut.i, items, idle=0.3, rng=random.Random(7))

    async def sink(ctx):
        got.extend(await stream_receive(ctx, dut.o, len(items), stall=0.5, rng=random.Random(8)))

    run(dut, source, sink)
    assert got == items

    fresh = SkidBuffer(16)
    seen = set()

    async def ready_is_registered(ctx):
        ctx.set(fresh.i.valid, 1)
        for k in range(64):
            before = ctx.get(fresh.i.ready)
            ctx.set(fresh.o.ready, k % 3 == 0)
            seen.add(before)
            assert ctx.get(fresh.i.ready) == before
            await ctx.tick()

    run(fresh, ready_is_registered)
    assert seen == {0, 1}  # the skid did fill and drain


@pytest.mark.parametrize("depth", [3, 4, 9])
def test_stream_fifo_keeps_order_under_random_stalls(depth):
    """Everything that enters leaves, in order, whatever the idles and stalls; the occupancy
    never exceeds ``depth`` and ``i.ready`` depends on nothing of the current cycle."""
    dut = StreamFifo(12, depth)
    rng = random.Random(depth)
    items = [rng.getrandbits(12) for _ in range(300)]
    got, held = [], {"max": 0}

    async def source(ctx):
        await stream_send(ctx, dut.i, items, idle=0.4, rng=random.Random(depth + 1))

    async def sink(ctx):
        got.extend(await stream_receive(ctx, dut.o, len(items), stall=0.6, rng=random.Random(depth + 2)))

    async def occupancy(ctx):
        inside = 0
        while len(got) < len(items):
            *_, iv, ir, ov, orr = await ctx.tick().sample(dut.i.valid, dut.i.ready, dut.o.valid, dut.o.ready)
            inside += (iv and ir) - (ov and orr)
            held["max"] = max(held["max"], inside)

    run(dut, source, sink, occupancy)
    assert got == items
    assert held["max"] == depth  # a stalled sink fills every entry, and no more

    # Full throughput: a source and a sink that never pause pass one item per cycle.
    fast = StreamFifo(8, depth)
    cycles = {}

    async def fast_source(ctx):
        await stream_send(ctx, fast.i, list(range(100)))

    async def fast_sink(ctx):
        start = 0
        out = []
        while len(out) < 100:
            ctx.set(fast.o.ready, 1)
            *_, valid, payload = await ctx.tick().sample(fast.o.valid, fast.o.payload)
            start += 1
            if valid:
                out.append(payload)
        cycles["n"] = start
        assert out == list(range(100))

    run(fast, fast_source, fast_sink)
    assert cycles["n"] == 100 + 2  # two cycles of latency, then one item per cycle
    with pytest.raises(ValueError, match="at least 3"):
        StreamFifo(8, 2)
