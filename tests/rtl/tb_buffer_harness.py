"""Shared parts of the buffer testbenches (no cocotb tests here).

* :func:`layout_fields` (runner side) turns an Amaranth ``StructLayout`` into JSON-friendly
  ``[name, offset, width]`` triples; :func:`pack_fields` / :func:`unpack_fields` (testbench
  side) build and split payload words from them, so the testbenches never hard-code offsets.
* :func:`start_pass` drives a configuration word and pulses ``start``.
* :class:`HandshakeMonitor` records the cycle of every handshake on a stream port (throughput).
* :func:`wait_not_busy` waits for ``busy`` to fall.
* :func:`stall_tests` makes the three back-pressure scenarios every buffer testbench runs.
"""

from __future__ import annotations

import cocotb
from amaranth.lib import data
from cocotb.triggers import ReadOnly, RisingEdge

from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset

__all__ = ["layout_fields", "pack_fields", "unpack_fields", "start_pass", "HandshakeMonitor", "wait_not_busy",
           "stall_tests"]


def layout_fields(layout, prefix: str = "", base: int = 0) -> list[list]:
    """``[[name, offset, width], ...]`` of an Amaranth ``StructLayout`` (runner side); the fields
    of a nested ``StructLayout`` are listed as ``outer.inner``."""
    out = []
    for name, field in layout:
        if isinstance(field.shape, data.StructLayout):
            out += layout_fields(field.shape, f"{prefix}{name}.", base + field.offset)
        else:
            out.append([prefix + name, base + field.offset, field.width])
    return out


def pack_fields(fields, values: dict) -> int:
    unknown = set(values) - {name for name, _, _ in fields}
    if unknown:
        raise KeyError(f"no fields {sorted(unknown)} in the layout (fields: {[name for name, _, _ in fields]})")
    word = 0
    for name, offset, width in fields:
        value = int(values.get(name, 0))
        if not 0 <= value < (1 << width):
            raise ValueError(f"field {name}={value} does not fit in {width} bits")
        word |= value << offset
    return word


def unpack_fields(fields, word: int) -> dict:
    return {name: (word >> offset) & ((1 << width) - 1) for name, offset, width in fields}


async def start_pass(dut, clock, cfg_word: int) -> None:
    """Present ``cfg`` and pulse ``start`` for one cycle (sampled at the next rising edge)."""
    await RisingEdge(clock)
    dut.cfg.value = cfg_word
    dut.start.value = 1
    await RisingEdge(clock)
    dut.start.value = 0


class HandshakeMonitor:
    """Counts cycles and records the cycle index of each handshake on stream port ``name``."""

    def __init__(self, dut, name: str, clock):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.clock = clock
        self.cycles: list[int] = []
        self.stopped = False

    async def run(self) -> None:
        cycle = 0
        while not self.stopped:
            await RisingEdge(self.clock)
            await ReadOnly()
            if int(self.valid.value) and int(self.ready.value):
                self.cycles.append(cycle)
            cycle += 1

    def span(self, first: int = 0, last: int | None = None) -> int:
        """Cycles from handshake ``first`` to handshake ``last`` inclusive."""
        last = len(self.cycles) - 1 if last is None else last
        return self.cycles[last] - self.cycles[first] + 1


async def wait_not_busy(dut, clock, timeout_cycles: int = 1000) -> int:
    """Wait until ``busy`` is low; return the cycles waited. Fails after ``timeout_cycles``.

    Returns just after a rising edge, so the caller may drive signals at once.
    """
    for k in range(timeout_cycles):
        await ReadOnly()
        idle = not int(dut.busy.value)
        await RisingEdge(clock)
        if idle:
            return k
    raise AssertionError(f"busy still high after {timeout_cycles} cycles")


def stall_tests(run_pass, slow_idle: float = 0.8):
    """The cocotb tests every buffer runs, built around its ``run_pass(dut, clock, p, cfg, idle,
    stall, seed)``: all configurations back to back with random idles on ``i`` and stalls on
    ``o``; a slow producer with a fast consumer; a fast producer with a slow consumer.
    Assign the result to three module-level names so cocotb collects them."""

    @cocotb.test(timeout_time=2, timeout_unit="ms")
    async def passes_with_random_stalls(dut):
        p = tb_params()
        clock = await start_clock_and_reset(dut)
        for k, cfg in enumerate(p["configs"]):
            await run_pass(dut, clock, p, cfg, idle=0.3, stall=0.3, seed=100 + k)

    @cocotb.test(timeout_time=2, timeout_unit="ms")
    async def slow_input_fast_output(dut):
        p = tb_params()
        clock = await start_clock_and_reset(dut)
        for k, cfg in enumerate(p["configs"][:4]):
            await run_pass(dut, clock, p, cfg, idle=slow_idle, stall=0.0, seed=200 + k)

    @cocotb.test(timeout_time=2, timeout_unit="ms")
    async def fast_input_slow_output(dut):
        p = tb_params()
        clock = await start_clock_and_reset(dut)
        for k, cfg in enumerate(p["configs"][:4]):
            await run_pass(dut, clock, p, cfg, idle=0.0, stall=0.8, seed=300 + k)

    return passes_with_random_stalls, slow_input_fast_output, fast_input_slow_output
