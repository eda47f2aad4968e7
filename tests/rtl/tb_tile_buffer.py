"""cocotb test module for rtl.buffers.tile_buffer.WinogradTileBuffer (runner: test_tile_buffer.py).

Expected tiles are numpy slices of the map zero-padded by P and extended with zeros to cover
whole tiles: tile (ty, g, tx, cg) = xp[cg-block, ty*m : ty*m+n, tx*m : tx*m+n] for every
output-channel group g (each tile row is visited G times).
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
from tests.rtl.tb_buffer_harness import stall_tests, HandshakeMonitor, pack_fields, start_pass, unpack_fields, wait_not_busy


def expected_tiles(x, m, pn, P, G=1):
    C, H, W = x.shape
    n, CG = m + 2, C // pn
    Ho, Wo = H + 2 * P - 2, W + 2 * P - 2
    Ty, Tx = -(-Ho // m), -(-Wo // m)
    xp = np.zeros((C, Ty * m + 2, Tx * m + 2), dtype=np.int64)
    xp[:, P:P + H, P:P + W] = x
    out = []
    for ty in range(Ty):
        for group in range(G):
            for tx in range(Tx):
                for g in range(CG):
                    tile = xp[g * pn:(g + 1) * pn, ty * m:ty * m + n, tx * m:tx * m + n]  # [ch, r, c]
                    end = tx == Tx - 1 and g == CG - 1
                    final = end and ty == Ty - 1 and group == G - 1
                    out.append((tuple(int(v) for v in tile.transpose(1, 2, 0).reshape(-1)), g, int(g == 0),
                                int(g == CG - 1), int(end), int(final)))
    return out


def decode(p, word):
    f = unpack_fields(p["tile_fields"], word)
    n = p["m"] + 2
    tile = tuple(int(v) for v in unpack(f["d"], p["data_width"], n * n * p["pn"]))
    return tile, f["flags.cg"], f["flags.first"], f["flags.last"], f["flags.end"], f["flags.final"]


async def run_pass(dut, clock, p, cfg, idle, stall, seed, monitor=False, blocked_rows=None, credits=False):
    """One pass. With ``blocked_rows``, ``o`` refuses everything until the input has stalled,
    and exactly that many input rows must have been accepted (the storage limit)."""
    W, H, CG, P, *rest = cfg
    G = rest[0] if rest else 1
    pn, dw, m = p["pn"], p["data_width"], p["m"]
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << (dw - 1)), 1 << (dw - 1), size=(CG * pn, H, W))
    words = [pack(x[g * pn:(g + 1) * pn, h, w], dw) for h in range(H) for g in range(CG) for w in range(W)]
    exp = expected_tiles(x, m, pn, P, G)
    source = StreamSource(dut, "i", clock, idle=idle, rng=random.Random(seed))
    sink = StreamSink(dut, "o", clock, stall=stall, rng=random.Random(seed + 1))
    mon = HandshakeMonitor(dut, "o", clock) if monitor else None
    if mon:
        cocotb.start_soon(mon.run())
    dut.room.value = 1        # the consumer's credits: granted unless `credits` toggles them
    dut.visit_ok.value = 1
    gates = cocotb.start_soon(_toggle_credits(dut, clock, random.Random(seed + 7))) if credits else None
    await start_pass(dut, clock, pack_fields(p["cfg_fields"], dict(width=W, height=H, channel_groups=CG, padding=P,
                                                                    groups=G)))
    send = cocotb.start_soon(source.send(words))
    if blocked_rows is not None:
        dut.o__ready.value = 0
        await ClockCycles(clock, 2 * len(words) + 50)
        assert source.sent == blocked_rows * CG * W, (
            f"cfg {cfg}: {source.sent} words accepted with o blocked, expected {blocked_rows} rows")
        # What the buffer tells the reader: it may send exactly those rows, and needs n - P.
        assert int(dut.x_rows.value) >= blocked_rows and min(H, int(dut.x_rows.value)) == blocked_rows, (
            f"cfg {cfg}: x_rows {int(dut.x_rows.value)}, accepted {blocked_rows} rows")
        assert int(dut.x_need.value) == m + 2 - P, f"cfg {cfg}: x_need {int(dut.x_need.value)}"
    got = await sink.receive(len(exp), timeout_cycles=100 * len(exp) + 50 * len(words) + 1000)
    await send
    await wait_not_busy(dut, clock, 50)
    if gates is not None:
        gates.cancel()
        Ty, Tx = -(-(H + 2 * P - 2) // m), -(-(W + 2 * P - 2) // m)
        assert _credit_log == [Ty * G * Tx, Ty * G, 0], (
            f"cfg {cfg}: position/visit starts, starts without credit: {_credit_log}")
        dut.room.value = 1
        dut.visit_ok.value = 1
    for k, (g, e) in enumerate(zip(got, exp)):
        d = decode(p, g)
        if d != e:
            n = m + 2
            got_t = np.array(d[0]).reshape(n, n, pn).transpose(2, 0, 1)
            exp_t = np.array(e[0]).reshape(n, n, pn).transpose(2, 0, 1)
            raise AssertionError(f"cfg {cfg} tile {k}: flags {d[1:]} vs {e[1:]}\ngot\n{got_t}\nexpected\n{exp_t}")
    if mon:
        mon.stopped = True
    return mon


passes_with_random_stalls, slow_input_fast_output, fast_input_slow_output = stall_tests(run_pass, slow_idle=0.8)


_credit_log = [0, 0, 0]


async def _toggle_credits(dut, clock, rng):
    """Drives random ``room`` / ``visit_ok`` and counts the position and visit starts, and the
    starts made while their credit was withheld (there must be none)."""
    _credit_log[:] = [0, 0, 0]
    while True:
        await RisingEdge(clock)
        dut.room.value = int(rng.random() < 0.6)
        dut.visit_ok.value = int(rng.random() < 0.5)
        await ReadOnly()
        pos, vis = int(dut.position_start.value), int(dut.visit_start.value)
        _credit_log[0] += pos
        _credit_log[1] += vis
        _credit_log[2] += (pos and not int(dut.room.value)) + (vis and not int(dut.visit_ok.value))


@cocotb.test(timeout_time=4, timeout_unit="ms")
async def credits_gate_positions_and_visits(dut):
    """With random downstream credits (room for an output tile, a visit's filters loaded) the
    tiles are the same, every position and visit starts exactly once, never without its credit."""
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    for k, cfg in enumerate(p["configs"][-4:]):
        await run_pass(dut, clock, p, cfg, idle=0.2, stall=0.2, seed=700 + k, credits=True)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def input_stops_at_storage_limit(dut):
    """With o blocked at the first tile, the input runs ahead to the end of row block 2 (the
    rows of tile rows 0 and 1: n + m rows from row -P) and no further; then all tiles drain."""
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    m = p["m"]
    for k, cfg in enumerate(p["tall_configs"]):
        W, H, CG, P, *_ = cfg
        # The reader stops inside tile row 0 only if that row has more than one tile.
        assert -(-(W + 2 * P - 2) // m) * CG > 1, f"cfg {cfg}: tile row 0 must hold several tiles"
        await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.5, seed=500 + k, blocked_rows=min(H, 2 * m + 2 - P))


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def one_tile_per_cycle(dut):
    """No stalls: every tile row comes out at one tile per cycle (Tx*CG tiles in Tx*CG cycles).
    Between tile rows the buffer waits for the next m input rows (m*CG*W words at one per cycle)."""
    p = tb_params()
    clock = await start_clock_and_reset(dut)
    results = []
    for k, cfg in enumerate(p["throughput_configs"]):
        W, H, CG, P, *_ = cfg
        m = p["m"]
        mon = await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.0, seed=400 + k, monitor=True)
        Ty, Tx = -(-(H + 2 * P - 2) // m), -(-(W + 2 * P - 2) // m)
        per_row = Tx * CG
        rows = [mon.span(r * per_row, (r + 1) * per_row - 1) for r in range(Ty)]
        results.append({"cfg": cfg, "tiles": len(mon.cycles), "cycles": mon.span(), "tiles_per_row": per_row,
                        "row_cycles": rows, "first_tile_cycle": mon.cycles[0]})
        assert all(r == per_row for r in rows), f"cfg {cfg}: tile rows of {per_row} tiles took {rows} cycles"
    if p.get("report"):
        with open(p["report"], "w") as f:
            json.dump(results, f)
