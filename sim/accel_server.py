"""cocotb module that serves a simulated ConvAccelerator to a driver in another process.

Started by ``sim.backends.simulated``: the Verilator model of the accelerator runs with a
cocotbext-axi ``AxiRam`` on ``m_axi_gmem`` and an ``AxiLiteMaster`` on ``s_axi_control``; the
driver sends requests over a Unix socket and the simulation answers them (sim/protocol.py).

Simulated time passes only inside requests (as if the board idled between host calls).
Optional pauses on every AXI channel (``pauses`` parameter: "none", "fixed", "random") model
memory back-pressure. A protocol monitor (sim/axi_monitor.py) watches ``m_axi_gmem`` (AXI4, at most
``outstanding_reads`` read bursts in flight) and ``s_axi_control`` (AXI4-Lite) on every cycle
from the end of reset; the first request during which a rule was broken is answered with
:class:`sim.protocol.AxiProtocolError` instead of its result, and so is every later one.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from multiprocessing.connection import Connection

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from rtl.config import AcceleratorConfig
from rtl.registers import control_register_map
from sim.axi_monitor import AxiMonitor
from sim.protocol import ADDRESS_ENV, POLL_CYCLES, AxiProtocolError
from sim.toolchain import tb_params

# Register offsets do not depend on the build's parameters.
_CTRL = control_register_map(AcceleratorConfig())["CTRL"]
_AP_DONE = _CTRL["AP_DONE"].mask


def pause_generator(kind: str, seed: int):
    if kind == "fixed":
        return itertools.cycle([0, 0, 1, 0, 1, 1, 0, 0, 0, 1])
    if kind == "random":
        rng = random.Random(seed)
        return (rng.random() < 0.3 for _ in itertools.count())
    return None


@cocotb.test()
async def serve(dut):
    p = tb_params()
    clock = dut.ap_clk
    period_ps = 2 * round(p.get("period_ns", 10) * 500)  # an even number of picoseconds
    Clock(clock, period_ps, unit="ps").start()
    dut.ap_rst_n.value = 0
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_gmem"), clock, dut.ap_rst_n,
                 reset_active_level=False, size=p.get("memory_bytes", 1 << 26))
    lite = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), clock, dut.ap_rst_n, reset_active_level=False)
    kind = p.get("pauses", "none")
    seed = p.get("seed", 0)
    if kind != "none":
        for k, channel in enumerate([ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                                     ram.read_if.ar_channel, ram.read_if.r_channel]):
            channel.set_pause_generator(pause_generator(kind, seed + k))
    await ClockCycles(clock, 8)
    dut.ap_rst_n.value = 1
    await ClockCycles(clock, 2)
    monitors = [AxiMonitor(dut, "m_axi_gmem", clock, max_outstanding_reads=p.get("outstanding_reads"),
                           raise_at_once=False),
                AxiMonitor(dut, "s_axi_control", clock, lite=True, raise_at_once=False)]

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ[ADDRESS_ENV])
    conn = Connection(sock.detach())
    cycles = 0
    try:
        while True:
            request = conn.recv()
            op = request[0]
            if op == "quit":
                conn.send(None)
                break
            if op == "write":
                await lite.write_dword(request[1], request[2] & 0xFFFFFFFF)
                answer = None
            elif op == "read":
                answer = int(await lite.read_dword(request[1]))
            elif op == "mem_write":
                ram.write(request[1], request[2])
                answer = None
            elif op == "mem_read":
                answer = bytes(ram.read(request[1], request[2]))
            elif op == "wait_done":
                budget, waited, done = request[1], 0, False
                while waited < budget:
                    await ClockCycles(clock, POLL_CYCLES)
                    waited += POLL_CYCLES
                    if int(await lite.read_dword(_CTRL.offset)) & _AP_DONE:  # clear on read
                        done = True
                        break
                cycles += waited
                answer = done, waited
            elif op == "cycles":
                answer = cycles
            elif op == "monitor":
                answer = {m.prefix: dict(m.stats, violations=[str(e) for e in m.errors]) for m in monitors}
            else:
                answer = ValueError(f"unknown request {op!r}")
            broken = [m for m in monitors if m.errors]
            if broken:
                answer = AxiProtocolError(f"the IP broke the AXI protocol on {broken[0].prefix}: {broken[0].errors[0]}")
            conn.send(answer)
            await RisingEdge(clock)
    finally:
        conn.close()
