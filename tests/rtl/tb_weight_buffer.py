"""cocotb test module for rtl.buffers.weight_buffer.WeightBuffer (runner: test_weight_buffer.py).

Each group g has its own random weights; the taps streamed on ``i`` for pass g must come out
with exactly group g's weights, whatever the relative speed of loads and passes, so a swap that
exposed a half-loaded (or stale) bank fails the comparison.
"""

import json
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.packing import pack, unpack
from tests.harness.streams import StreamSink, StreamSource
from tests.rtl.tb_buffer_harness import HandshakeMonitor, pack_fields, unpack_fields


def make_groups(p, rng, count, pass_factor=None):
    """Random groups: weights [n, pm, pn] and a pass of tap beats (random taps, last one end=1)."""
    pm, pn, dw, depth = p["pm"], p["pn"], p["data_width"], p["depth"]
    lo, hi = -(1 << (dw - 1)), 1 << (dw - 1)
    groups = []
    for g in range(count):
        n = depth if g % 3 == 0 else int(rng.integers(1, depth + 1))
        wgt = rng.integers(lo, hi, size=(n, pm, pn))
        # With pass_factor, a pass outlasts the load of any group (the next-but-one group loads
        # while this one computes), so the buffer never has to wait for weights.
        length = max(n * pass_factor, depth + 2) if pass_factor else int(rng.integers(1, 3 * depth))
        taps = rng.integers(0, n, size=length)
        if length >= n and pass_factor:
            taps[:n] = np.arange(n)
        act = rng.integers(lo, hi, size=(length, pn))
        first = rng.integers(0, 2, size=length)
        last = rng.integers(0, 2, size=length)
        groups.append(dict(wgt=wgt, taps=taps, act=act, first=first, last=last))
    return groups


def load_words(p, groups):
    words = []
    for grp in groups:
        n = len(grp["wgt"])
        for t in range(n):
            words.append(pack_fields(p["load_fields"], dict(data=pack(grp["wgt"][t].reshape(-1), p["data_width"]),
                                                            last=int(t == n - 1))))
    return words


def tap_words(p, groups):
    words = []
    for grp in groups:
        length = len(grp["taps"])
        for k in range(length):
            words.append(pack_fields(p["tap_fields"], dict(
                act=pack(grp["act"][k], p["data_width"]), tap=int(grp["taps"][k]),
                first=int(grp["first"][k]), last=int(grp["last"][k]), end=int(k == length - 1))))
    return words


def expected(p, groups):
    out = []
    for g, grp in enumerate(groups):
        for k, t in enumerate(grp["taps"]):
            out.append((g, k, tuple(int(a) for a in grp["act"][k]), tuple(int(w) for w in grp["wgt"][t].reshape(-1)),
                        int(grp["first"][k]), int(grp["last"][k])))
    return out


def decode(p, word):
    f = unpack_fields(p["out_fields"], word)
    dw, pm, pn = p["data_width"], p["pm"], p["pn"]
    return (tuple(int(a) for a in unpack(f["act"], dw, pn)), tuple(int(w) for w in unpack(f["wgt"], dw, pm * pn)),
            f["first"], f["last"])


async def run(dut, p, groups, load_idle, tap_idle, stall, seed, monitor=False):
    clock = dut._clock
    loads = StreamSource(dut, "load", clock, idle=load_idle, rng=random.Random(seed))
    taps = StreamSource(dut, "i", clock, idle=tap_idle, rng=random.Random(seed + 1))
    sink = StreamSink(dut, "o", clock, stall=stall, rng=random.Random(seed + 2))
    mon = HandshakeMonitor(dut, "o", clock) if monitor else None
    if mon:
        cocotb.start_soon(mon.run())
    exp = expected(p, groups)
    load_task = cocotb.start_soon(loads.send(load_words(p, groups)))
    tap_task = cocotb.start_soon(taps.send(tap_words(p, groups)))
    got = await sink.receive(len(exp), timeout_cycles=100 * (len(exp) + 10 * p["depth"] * len(groups)))
    await load_task
    await tap_task
    for word, (g, k, act, wgt, first, last) in zip(got, exp):
        d = decode(p, word)
        assert d[0] == act, f"group {g} beat {k}: act {d[0]} != {act}"
        assert d[1] == wgt, f"group {g} beat {k}: weights {d[1]} are not group {g}'s {wgt}"
        assert d[2:] == (first, last), f"group {g} beat {k}: flags {d[2:]} != {(first, last)}"
    if mon:
        mon.stopped = True
    return mon


async def setup(dut):
    dut._clock = await start_clock_and_reset(dut)
    return tb_params()


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def slow_loads_fast_consumer(dut):
    p = await setup(dut)
    groups = make_groups(p, np.random.default_rng(1), 8)
    await run(dut, p, groups, load_idle=0.85, tap_idle=0.0, stall=0.0, seed=10)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def fast_loads_slow_consumer(dut):
    p = await setup(dut)
    groups = make_groups(p, np.random.default_rng(2), 8)
    await run(dut, p, groups, load_idle=0.0, tap_idle=0.5, stall=0.7, seed=20)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def random_stalls_everywhere(dut):
    p = await setup(dut)
    groups = make_groups(p, np.random.default_rng(3), 12)
    await run(dut, p, groups, load_idle=0.4, tap_idle=0.3, stall=0.3, seed=30)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def third_group_waits_for_a_free_bank(dut):
    """Two groups load with no consumer; the third is refused until pass 1 ends."""
    p = await setup(dut)
    clock = dut._clock
    groups = make_groups(p, np.random.default_rng(4), 3, pass_factor=2)
    words = load_words(p, groups)
    n0, n1 = len(groups[0]["wgt"]), len(groups[1]["wgt"])
    loads = StreamSource(dut, "load", clock)
    load_task = cocotb.start_soon(loads.send(words))
    await ClockCycles(clock, n0 + n1 + 20)
    assert loads.sent == n0 + n1, f"{loads.sent} load beats accepted with both banks full (expected {n0 + n1})"
    await ReadOnly()
    assert int(dut.load__ready.value) == 0, "load.ready high with both banks full"
    await RisingEdge(clock)
    # Now consume everything; the third group loads once pass 0 has released its bank.
    taps = StreamSource(dut, "i", clock)
    sink = StreamSink(dut, "o", clock)
    exp = expected(p, groups)
    tap_task = cocotb.start_soon(taps.send(tap_words(p, groups)))
    got = await sink.receive(len(exp), timeout_cycles=100 * len(exp))
    await tap_task
    await load_task
    for word, (g, k, act, wgt, first, last) in zip(got, exp):
        assert decode(p, word) == (act, wgt, first, last), f"group {g} beat {k}"


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def one_beat_per_cycle(dut):
    """No stalls and loads that keep up: every o beat, across group swaps, one per cycle."""
    p = await setup(dut)
    groups = make_groups(p, np.random.default_rng(5), 6, pass_factor=3)
    total = sum(len(g["taps"]) for g in groups)
    mon = await run(dut, p, groups, load_idle=0.0, tap_idle=0.0, stall=0.0, seed=50, monitor=True)
    span = mon.span()
    first_group = len(groups[0]["wgt"])
    assert len(mon.cycles) == total
    assert span == total, f"{total} beats over {len(groups)} groups took {span} cycles"
    if p.get("report"):
        with open(p["report"], "w") as f:
            json.dump({"beats": total, "cycles": span, "groups": len(groups), "first_beat_cycle": mon.cycles[0],
                       "first_group_taps": first_group, "beats_per_cycle": total / span}, f)
