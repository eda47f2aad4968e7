"""cocotb test module for rtl.pe.mac_array.MacArray (driven by tests/rtl/test_mac_array.py)."""

import random

import cocotb
import numpy as np

from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.packing import pack, unpack
from tests.harness.streams import StreamSink, StreamSource


def make_groups(rng: np.random.Generator, pm, pn, dw, groups):
    """Random accumulation groups; the first ones use only extreme values."""
    lo, hi = -(1 << (dw - 1)), (1 << (dw - 1)) - 1
    out = []
    for g in range(groups):
        length = int(rng.integers(1, 12)) if g % 5 else 1
        if g == 0:  # maximum positive sum: (-max)*(-max) everywhere
            act = np.full((length, pn), lo)
            wgt = np.full((length, pm, pn), lo)
        elif g == 1:  # most negative sum
            act = np.full((length, pn), lo)
            wgt = np.full((length, pm, pn), hi)
        else:
            act = rng.choice([lo, hi, 0, -1, 1], size=(length, pn)) if g % 3 == 0 else rng.integers(lo, hi + 1, size=(length, pn))
            wgt = rng.integers(lo, hi + 1, size=(length, pm, pn))
        out.append((act, wgt))
    return out


def encode(act, wgt, first, last, pn, pm, dw):
    word = pack(act, dw)
    word |= pack(wgt.reshape(-1), dw) << (pn * dw)
    word |= int(first) << (pn * dw + pm * pn * dw)
    word |= int(last) << (pn * dw + pm * pn * dw + 1)
    return word


@cocotb.test()
async def random_groups_with_stalls(dut):
    p = tb_params()
    pm, pn, dw, accw = p["pm"], p["pn"], p["data_width"], p["acc_width"]
    clock = await start_clock_and_reset(dut)
    rng = np.random.default_rng(p.get("seed", 0))
    groups = make_groups(rng, pm, pn, dw, p.get("groups", 60))
    beats, expected = [], []
    for act, wgt in groups:
        for t in range(len(act)):
            beats.append(encode(act[t], wgt[t], t == 0, t == len(act) - 1, pn, pm, dw))
        expected.append(np.einsum("tmn,tn->m", wgt.astype(np.int64), act.astype(np.int64)))
    source = StreamSource(dut, "i", clock, idle=p.get("idle", 0.3), rng=random.Random(11))
    sink = StreamSink(dut, "o", clock, stall=p.get("stall", 0.3), rng=random.Random(12))
    send = cocotb.start_soon(source.send(beats))
    got = await sink.receive(len(expected), timeout_cycles=20 * len(beats) + 100)
    await send
    for k, (word, exp) in enumerate(zip(got, expected)):
        val = unpack(word, accw, pm)
        assert list(val) == list(exp), f"group {k}: got {list(val)}, expected {list(exp)}"


@cocotb.test()
async def full_throughput(dut):
    """Without stalls, one beat per cycle: N beats drain in N + latency cycles."""
    p = tb_params()
    pm, pn, dw, accw = p["pm"], p["pn"], p["data_width"], p["acc_width"]
    clock = await start_clock_and_reset(dut)
    rng = np.random.default_rng(99)
    n = 64
    act = rng.integers(-(1 << (dw - 1)), 1 << (dw - 1), size=(n, pn))
    wgt = rng.integers(-(1 << (dw - 1)), 1 << (dw - 1), size=(n, pm, pn))
    beats = [encode(act[t], wgt[t], True, True, pn, pm, dw) for t in range(n)]
    source = StreamSource(dut, "i", clock)
    sink = StreamSink(dut, "o", clock)
    start = cocotb.utils.get_sim_time("ns")
    send = cocotb.start_soon(source.send(beats))
    got = await sink.receive(n)
    cycles = (cocotb.utils.get_sim_time("ns") - start) / 10
    await send
    for t in range(n):
        assert list(unpack(got[t], accw, pm)) == list(wgt[t].astype(np.int64) @ act[t].astype(np.int64))
    assert cycles <= n + p["latency"] + 3, f"{n} beats took {cycles} cycles: not II=1"
