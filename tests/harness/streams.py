"""cocotb testbench parts for ``amaranth.lib.stream`` ports, with random stalls and checks.

Both classes sample handshakes in the ``ReadOnly`` phase of each cycle (settled values, the
ones the flops see at the next rising edge) and drive only right after a rising edge, so they
are exact whatever the design's combinational paths between ``valid`` and ``ready``.

A stream port ``name`` of an Amaranth component appears in Verilog as ``name__valid``,
``name__ready`` and ``name__payload`` (payload absent for zero-width layouts).
"""

from __future__ import annotations

import random

from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["StreamSource", "StreamSink", "ProtocolError"]


class ProtocolError(AssertionError):
    """A stream broke the valid/ready rules (payload or valid changed before the handshake)."""


def _port(dut, name: str, member: str):
    return getattr(dut, f"{name}__{member}")


class _StreamEnd:
    """The ``valid``/``ready``/``payload`` handles of stream port ``name`` and a random source."""

    def __init__(self, dut, name: str, clock, rng: random.Random):
        self.clock = clock
        self.name = name
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = getattr(dut, f"{name}__payload", None)
        self.rng = rng


class StreamSource(_StreamEnd):
    """Drives ``items`` (ints) into a sink port; idles randomly with probability ``idle``."""

    def __init__(self, dut, name: str, clock, idle: float = 0.0, rng: random.Random | None = None):
        super().__init__(dut, name, clock, rng or random.Random(1))
        self.idle = idle
        self.valid.value = 0
        self.sent = 0

    async def send(self, items) -> None:
        items = list(items)
        index, presenting = 0, False
        while index < len(items):
            await RisingEdge(self.clock)
            if not presenting and self.rng.random() >= self.idle:
                presenting = True
                if self.payload is not None:
                    self.payload.value = int(items[index])
            self.valid.value = int(presenting)
            await ReadOnly()
            if presenting and int(self.ready.value):
                index += 1
                self.sent += 1
                presenting = False
        await RisingEdge(self.clock)
        self.valid.value = 0


class StreamSink(_StreamEnd):
    """Accepts beats from a source port, refusing randomly with probability ``stall``.

    Checks the source's honesty: once ``valid`` is seen high without a handshake, ``valid``
    must stay high and ``payload`` unchanged until the handshake.
    """

    def __init__(self, dut, name: str, clock, stall: float = 0.0, rng: random.Random | None = None):
        super().__init__(dut, name, clock, rng or random.Random(2))
        self.stall = stall
        self.ready.value = 0
        self.received: list[int] = []

    async def receive(self, count: int, timeout_cycles: int = 1_000_000) -> list[int]:
        pending = None  # payload of a beat offered but not yet accepted
        cycles = 0
        while len(self.received) < count:
            await RisingEdge(self.clock)
            accept = self.rng.random() >= self.stall
            self.ready.value = int(accept)
            await ReadOnly()
            cycles += 1
            if cycles > timeout_cycles:
                raise AssertionError(f"{self.name}: only {len(self.received)} of {count} beats after {timeout_cycles} cycles")
            valid = int(self.valid.value)
            value = int(self.payload.value) if self.payload is not None else 0
            if pending is not None:
                if not valid:
                    raise ProtocolError(f"{self.name}: valid dropped before the handshake")
                if value != pending:
                    raise ProtocolError(f"{self.name}: payload changed before the handshake")
            if valid and accept:
                self.received.append(value)
                pending = None
            elif valid:
                pending = value
        await RisingEdge(self.clock)
        self.ready.value = 0
        return self.received
