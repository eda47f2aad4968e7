"""Clock and synchronous reset for cocotb testbenches."""

from __future__ import annotations

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

__all__ = ["start_clock_and_reset"]


async def start_clock_and_reset(dut, clock_name: str = "clk", reset_name: str = "rst", active_low: bool = False, period_ns: int = 10, cycles: int = 3):
    """Start a clock on ``clock_name`` and pulse the synchronous reset for ``cycles`` cycles."""
    clock = getattr(dut, clock_name)
    Clock(clock, period_ns, unit="ns").start()
    reset = getattr(dut, reset_name)
    reset.value = 0 if active_low else 1
    await ClockCycles(clock, cycles)
    reset.value = 1 if active_low else 0
    await RisingEdge(clock)
    return clock
