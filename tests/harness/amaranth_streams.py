"""Stream drivers for ``amaranth.sim`` testbenches (fast unit tests without Verilator).

``stream_send`` and ``stream_receive`` drive an Amaranth ``stream`` interface from an
``add_testbench`` coroutine with random idles/stalls, sampling the handshake at the clock edge
(``ctx.tick().sample``), and check that a source holds ``valid`` and ``payload`` until accepted.
"""

from __future__ import annotations

import random

__all__ = ["stream_send", "stream_receive"]


async def stream_send(ctx, port, items, idle: float = 0.0, rng: random.Random | None = None):
    rng = rng or random.Random(1)
    for item in items:
        while rng.random() < idle:
            ctx.set(port.valid, 0)
            await ctx.tick()
        ctx.set(port.valid, 1)
        ctx.set(port.payload, item)
        while True:
            *_, ready = await ctx.tick().sample(port.ready)
            if ready:
                break
    ctx.set(port.valid, 0)


async def stream_receive(ctx, port, count: int, stall: float = 0.0, rng: random.Random | None = None,
                         timeout: int = 100_000) -> list:
    rng = rng or random.Random(2)
    got, pending, cycles = [], None, 0
    while len(got) < count:
        accept = rng.random() >= stall
        ctx.set(port.ready, int(accept))
        *_, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        cycles += 1
        if cycles > timeout:
            raise AssertionError(f"only {len(got)} of {count} items after {timeout} cycles")
        if pending is not None:
            assert valid, "valid dropped before the handshake"
            assert _bits(payload) == pending, "payload changed before the handshake"
        if valid and accept:
            got.append(payload)
            pending = None
        elif valid:
            pending = _bits(payload)
    ctx.set(port.ready, 0)
    return got


def _bits(value):
    """A comparable snapshot of a sampled payload (int or data.Const)."""
    if isinstance(value, int):
        return value
    return value.as_value().value if hasattr(value, "as_value") else value
