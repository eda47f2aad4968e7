"""cocotb test module for rtl.buffers.line_buffer.DirectLineBuffer (runner: test_line_buffer.py).

The expected taps come from numpy slicing of the zero-padded feature map, independent of the
RTL's counters: for oy, ox, cg, u, v the tap is xp[cg-block, oy*S+u, ox*S+v].
"""

import json
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.packing import pack, unpack
from tests.harness.streams import StreamSink, StreamSource
from tests.rtl.tb_buffer_harness import stall_tests, HandshakeMonitor, pack_fields, start_pass, unpack_fields, wait_not_busy


def make_input(rng, pn, dw, W, H, CG):
    """Random map [CG*pn, H, W] (the first pass uses extreme values) and its input words."""
    x = rng.integers(-(1 << (dw - 1)), 1 << (dw - 1), size=(CG * pn, H, W))
    words = [pack(x[g * pn:(g + 1) * pn, h, w], dw) for h in range(H) for g in range(CG) for w in range(W)]
    return x, words


def expected_taps(x, pn, K, S, P):
    C, H, W = x.shape
    CG = C // pn
    xp = np.pad(x, ((0, 0), (P, P), (P, P)))
    Ho, Wo = (H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1
    out = []
    for oy in range(Ho):
        for ox in range(Wo):
            n = CG * K * K
            for t, (g, u, v) in enumerate((g, u, v) for g in range(CG) for u in range(K) for v in range(K)):
                act = xp[g * pn:(g + 1) * pn, oy * S + u, ox * S + v]
                end = oy == Ho - 1 and ox == Wo - 1 and t == n - 1
                out.append((tuple(int(a) for a in act), t, int(t == 0), int(t == n - 1), int(end)))
    return out


def decode(word, p):
    f = unpack_fields(p["tap_fields"], word)
    act = tuple(int(a) for a in unpack(f["act"], p["data_width"], p["pn"]))
    return act, f["tap"], f["first"], f["last"], f["end"]


async def run_pass(dut, clock, p, cfg, idle, stall, seed, monitor=False, blocked_rows=None):
    """One pass. With ``blocked_rows``, ``o`` refuses everything until the input has stalled,
    and exactly that many input rows must have been accepted (the ring limit)."""
    W, H, CG, K, S, P = cfg
    rng = np.random.default_rng(seed)
    x, words = make_input(rng, p["pn"], p["data_width"], W, H, CG)
    exp = expected_taps(x, p["pn"], K, S, P)
    cfg_word = pack_fields(p["cfg_fields"], dict(width=W, height=H, channel_groups=CG, kernel=K, stride=S, padding=P))
    source = StreamSource(dut, "i", clock, idle=idle, rng=random.Random(seed))
    sink = StreamSink(dut, "o", clock, stall=stall, rng=random.Random(seed + 1))
    mon = HandshakeMonitor(dut, "o", clock) if monitor else None
    if mon:
        cocotb.start_soon(mon.run())
    await start_pass(dut, clock, cfg_word)
    send = cocotb.start_soon(source.send(words))
    if blocked_rows is not None:
        dut.o__ready.value = 0
        await ClockCycles(clock, 2 * len(words) + 50)
        assert source.sent == blocked_rows * CG * W, (
            f"cfg {cfg}: {source.sent} words accepted with o blocked, expected {blocked_rows} rows")
    got = await sink.receive(len(exp), timeout_cycles=200 * len(exp) + 50 * len(words) + 1000)
    await send
    assert source.sent == len(words)
    await wait_not_busy(dut, clock, 50)
    for k, (g, e) in enumerate(zip(got, exp)):
        d = decode(g, p)
        assert d == e, f"cfg {cfg} beat {k}: got {d}, expected {e}"
    if mon:
        mon.stopped = True
    return mon


passes_with_random_stalls, slow_input_fast_output, fast_input_slow_output = stall_tests(run_pass, slow_idle=0.8)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def input_stops_at_ring_limit(dut):
    """With o blocked at the first tap, the input fills the ring (rows -P .. rows-1-P) and stops."""
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    for k, cfg in enumerate(p["configs"]):
        W, H, CG, K, S, P = cfg
        if H + P > p["rows"]:
            await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.5, seed=500 + k, blocked_rows=p["rows"] - P)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def one_tap_per_cycle(dut):
    """No stalls: once the first tap is out, the rest follow one per cycle (II=1), including
    across output rows, whenever the input keeps up (S*CG*W words per Wo*CG*K*K taps)."""
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    results = []
    for k, cfg in enumerate(p["throughput_configs"]):
        mon = await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.0, seed=400 + k, monitor=True)
        beats = len(mon.cycles)
        span = mon.span()
        results.append({"cfg": cfg, "beats": beats, "cycles": span, "first_beat_cycle": mon.cycles[0],
                        "beats_per_cycle": beats / span})
        assert span == beats, f"cfg {cfg}: {beats} taps took {span} cycles once primed"
    if p.get("report"):
        with open(p["report"], "w") as f:
            json.dump(results, f)
