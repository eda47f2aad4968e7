"""cocotb measurement module for bench/bench_axi.py (not part of the test suite's assertions
beyond data correctness): sustained beats per cycle of the AXI masters per scenario.

Parameters (``CONVFORGE_TB_PARAMS``): ``data_width``, ``max_burst``, ``max_outstanding``,
``scenarios`` (list of ``{name, direction, length, count, offset, read_latency,
write_latency}``) and ``out`` (JSON file the results are written to).
"""

import json

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from sim.toolchain import tb_params
from tests.rtl.tb_axi_masters import BASE, WINDOW, Env, check_beats


async def count_handshakes(clock, valid, ready, stop):
    """Returns (first cycle, last cycle, count) of handshakes until ``stop()`` is true."""
    cycle, first, last, n = 0, None, None, 0
    while not stop():
        await RisingEdge(clock)
        await ReadOnly()
        cycle += 1
        if int(valid.value) and int(ready.value):
            n += 1
            first = cycle if first is None else first
            last = cycle
    return first, last, n


@cocotb.test()
async def measure(dut):
    p = tb_params()
    results = []
    env = await Env(dut, "none", seed_offset=9).start()
    for sc in p["scenarios"]:
        env.mem.read_if.latency = sc.get("read_latency", 0)
        env.mem.write_if.latency = sc.get("write_latency", 0)
        length, count, offset = sc["length"], sc["count"], sc.get("offset", 0)
        stride = -(-(length + offset) // env.B) * env.B
        region = BASE if sc["direction"] == "read" else BASE + WINDOW // 2
        cmds = [(region + k * stride + offset, length) for k in range(count)]
        assert cmds[-1][0] + length <= BASE + WINDOW
        state = {"done": False}
        if sc["direction"] == "read":
            bus = cocotb.start_soon(count_handshakes(env.clock, dut.m_axi_RVALID, dut.m_axi_RREADY, lambda: state["done"]))
            data = cocotb.start_soon(count_handshakes(env.clock, dut.rd_data__valid, dut.rd_data__ready, lambda: state["done"]))
            cmd = cocotb.start_soon(count_handshakes(env.clock, dut.rd_cmd__valid, dut.rd_cmd__ready, lambda: state["done"]))
            got, expected = await env.run_reads(cmds)
            check_beats(got, expected, env.dw)
            useful = len(expected)
            end_sig = data
        else:
            bus = cocotb.start_soon(count_handshakes(env.clock, dut.m_axi_WVALID, dut.m_axi_WREADY, lambda: state["done"]))
            done = cocotb.start_soon(count_handshakes(env.clock, dut.wr_done__valid, dut.wr_done__ready, lambda: state["done"]))
            cmd = cocotb.start_soon(count_handshakes(env.clock, dut.wr_cmd__valid, dut.wr_cmd__ready, lambda: state["done"]))
            flags = await env.run_writes(cmds)
            assert flags == [0] * count
            useful = count * -(-length // env.B)
            end_sig = done
        await RisingEdge(env.clock)
        state["done"] = True
        b_first, b_last, b_n = await bus
        c_first, _, _ = await cmd
        _, e_last, _ = await end_sig
        total = e_last - c_first + 1          # first command accepted .. last data beat / done
        results.append(dict(sc, beats=useful, bus_beats=b_n, cycles=total,
                            beats_per_cycle=useful / total,
                            bus_beats_per_cycle=b_n / (b_last - b_first + 1)))
        await env.wait_idle()
    await env.finish()
    with open(p["out"], "w") as f:
        json.dump(results, f, indent=1)
