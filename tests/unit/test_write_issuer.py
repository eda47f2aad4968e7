"""The write issuer's commands and the line marker's ``last`` against the row-major output layout
``[Ho][MG][Wo][pm]`` enumerated independently (amaranth.sim, no Verilator)."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import data
from amaranth.sim import Simulator

from rtl.config import AcceleratorConfig
from rtl.control.write_issuer import WriteIssuer
from rtl.dma.line_marker import LineMarker
from tests.harness.amaranth_streams import stream_receive, stream_send


def expected_commands(out_addr, mg, ho, wo, pm, strip_rows):
    """(addr, length) of every command, strips then groups then rows; one command a visit
    when there is one group."""
    row_bytes = wo * pm
    cmds = []
    for first in range(0, ho, strip_rows):
        rows = range(first, min(first + strip_rows, ho))
        for g in range(mg):
            if mg == 1:
                cmds.append((out_addr + first * row_bytes, len(rows) * row_bytes))
            else:
                cmds += [(out_addr + (r * mg + g) * row_bytes, row_bytes) for r in rows]
    return cmds


def issue(mg, ho, wo, pm, strip_rows, out_addr, stall, seed):
    dut = WriteIssuer(AcceleratorConfig())
    top = Module()
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    want = expected_commands(out_addr, mg, ho, wo, pm, strip_rows)
    got = []

    async def tb(ctx):
        plan = dut.run.plan
        ctx.set(dut.run.layer.out_addr, out_addr)
        for name, value in (("mg", mg), ("ho", ho), ("wo", wo), ("out_bytes", ho * wo * pm),
                            ("strip_bytes", strip_rows * wo * pm), ("row_bytes", wo * pm),
                            ("row_stride", mg * wo * pm)):
            ctx.set(getattr(plan, name), value)
        ctx.set(dut.run.launch, 1)
        await ctx.tick()
        ctx.set(dut.run.launch, 0)
        ctx.set(dut.run.running, 1)
        cmds = await stream_receive(ctx, dut.cmd, len(want), stall=stall, rng=random.Random(seed))
        got.extend((c.addr, c.length) for c in cmds)
        assert not ctx.get(dut.all_done)
        for _ in range(len(want)):          # the completions
            ctx.set(dut.done.valid, 1)
            await ctx.tick()
        ctx.set(dut.done.valid, 0)
        for _ in range(WriteIssuer.SETTLE + 2):   # the strip change settles, then all_done
            await ctx.tick()
        assert ctx.get(dut.all_done)
        assert not ctx.get(dut.cmd.valid)    # nothing more

    sim.add_testbench(tb)
    sim.run()
    return got, want


@pytest.mark.parametrize("mg,ho,wo,pm,strip_rows", [
    (3, 7, 5, 2, 2),      # Winograd-like: strips of 2 rows, the last one row
    (2, 4, 3, 3, 4),      # direct: one strip of every row
    (1, 9, 6, 4, 4),      # one group: a command per visit
    (1, 5, 1, 1, 5),      # one group, one column
    (4, 1, 1, 8, 1),      # a 1x1 output (fc)
    (5, 3, 2, 1, 1),      # one row per strip
])
def test_commands_follow_the_row_major_layout(mg, ho, wo, pm, strip_rows):
    for stall, seed in ((0.0, 1), (0.5, 2)):
        got, want = issue(mg, ho, wo, pm, strip_rows, 0x1000_0003, stall, seed)
        assert got == want
        # Every byte of [out_addr, out_addr + MG*Ho*Wo*pm) exactly once.
        covered = sorted(b for a, n in got for b in range(a, a + n))
        assert covered == list(range(0x1000_0003, 0x1000_0003 + mg * ho * wo * pm))


def test_line_marker_ends_every_row_or_keeps_the_visits_last():
    payload = data.StructLayout({"data": 8, "last": 1})
    rng = random.Random(5)
    for length, whole in ((3, 0), (1, 0), (4, 1)):
        dut = LineMarker(payload)
        top = Module()
        top.submodules.dut = dut
        sim = Simulator(top)
        sim.add_clock(1e-8)
        items = [{"data": k, "last": int(k % 8 == 7)} for k in range(24)]
        got = []

        async def send(ctx, dut=dut, length=length, whole=whole):
            ctx.set(dut.length, length)
            ctx.set(dut.whole, whole)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            await stream_send(ctx, dut.i, items, idle=0.3, rng=rng)

        async def receive(ctx, dut=dut):
            got.extend(await stream_receive(ctx, dut.o, len(items), stall=0.3, rng=rng))

        sim.add_testbench(send)
        sim.add_testbench(receive)
        sim.run()
        assert [p.data for p in got] == list(range(24))
        want = [k % 8 == 7 for k in range(24)] if whole else [k % length == length - 1 for k in range(24)]
        assert [bool(p.last) for p in got] == want
