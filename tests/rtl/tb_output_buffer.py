"""cocotb test module for rtl.buffers.output_buffer.OutputBuffer (runner: test_output_buffer.py).

The expected output is the numpy raster scan of the map the tiles tile (cropped to Ho x Wo),
strip by strip of m rows and, within a strip, group by group (G maps visit each strip in turn);
``last`` marks each strip's final pixel.
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
from tests.rtl.tb_buffer_harness import stall_tests, HandshakeMonitor, pack_fields, start_pass, wait_not_busy


async def run_pass(dut, clock, p, cfg, idle, stall, seed, monitor=False, blocked_tiles=None):
    """One pass. With ``blocked_tiles``, ``o`` refuses everything until the input has stalled,
    and exactly that many tiles must have been accepted (two full strips)."""
    Wo, Ho, *rest = cfg
    G = rest[0] if rest else 1
    m, pm, w = p["m"], p["pm"], p["data_width"]
    Ty, Tx = -(-Ho // m), -(-Wo // m)
    rng = np.random.default_rng(seed)
    big = rng.integers(-(1 << (w - 1)), 1 << (w - 1), size=(G, pm, Ty * m, Tx * m), dtype=np.int64)
    tiles = [pack(big[g, :, ty * m:(ty + 1) * m, tx * m:(tx + 1) * m].reshape(-1), w)
             for ty in range(Ty) for g in range(G) for tx in range(Tx)]
    exp = []
    for ty in range(Ty):
        rows = range(ty * m, min(Ho, ty * m + m))
        for g in range(G):
            strip = [(tuple(int(v) for v in big[g, :, y, x]), 0) for y in rows for x in range(Wo)]
            strip[-1] = (strip[-1][0], 1)
            exp += strip
    source = StreamSource(dut, "i", clock, idle=idle, rng=random.Random(seed))
    sink = StreamSink(dut, "o", clock, stall=stall, rng=random.Random(seed + 1))
    mon = HandshakeMonitor(dut, "o", clock) if monitor else None
    if mon:
        cocotb.start_soon(mon.run())
    await start_pass(dut, clock, pack_fields(p["cfg_fields"], dict(width=Wo, height=Ho, groups=G)))
    send = cocotb.start_soon(source.send(tiles))
    if blocked_tiles is not None:
        dut.o__ready.value = 0
        await ClockCycles(clock, m * m * len(tiles) + 50)
        assert source.sent == blocked_tiles, f"cfg {cfg}: {source.sent} tiles accepted with o blocked, expected {blocked_tiles}"
    got = await sink.receive(len(exp), timeout_cycles=100 * len(exp) + 1000)
    await send
    await wait_not_busy(dut, clock, 50)
    for k, (g, e) in enumerate(zip(got, exp)):
        d = (tuple(int(v) for v in unpack(g, w, pm)), (g >> (w * pm)) & 1)
        assert d == e, f"cfg {cfg} pixel {k}: got {d}, expected {e}"
    if mon:
        mon.stopped = True
    return mon


passes_with_random_stalls, slow_input_fast_output, fast_input_slow_output = stall_tests(run_pass, slow_idle=0.95)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def input_stops_when_both_strips_are_full(dut):
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    m = p["m"]
    for k, cfg in enumerate(p["configs"]):
        Wo, Ho, *rest = cfg
        Ty, Tx = -(-Ho // m), -(-Wo // m)
        # (A strip of one pixel is drained into the output register at once: a third fits.)
        if Ty * (rest[0] if rest else 1) > 2 and Wo * min(m, Ho) > 1:
            await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.3, seed=400 + k, blocked_tiles=2 * Tx)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def one_pixel_per_cycle(dut):
    """Tiles always available, o never stalled: after the first strip, Ho*Wo pixels stream out
    in Ho*Wo cycles (the next strip fills while the previous drains)."""
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    results = []
    for k, cfg in enumerate(p["throughput_configs"]):
        Wo, Ho, *rest = cfg
        pixels = Wo * Ho * (rest[0] if rest else 1)
        mon = await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.0, seed=500 + k, monitor=True)
        span = mon.span()
        results.append({"cfg": cfg, "pixels": len(mon.cycles), "cycles": span, "first_pixel_cycle": mon.cycles[0],
                        "pixels_per_cycle": len(mon.cycles) / span})
        assert span == pixels, f"cfg {cfg}: {pixels} pixels took {span} cycles once primed"
    if p.get("report"):
        with open(p["report"], "w") as f:
            json.dump(results, f)
