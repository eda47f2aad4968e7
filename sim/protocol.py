"""The request channel between ``sim.backends.simulated`` (client) and ``sim.accel_server`` (the cocotb
process that runs the Verilated accelerator).

The client listens on a Unix socket whose path it passes in ``ADDRESS_ENV``; the server connects
and answers pickled ``multiprocessing.connection`` messages, one answer per request:

``("write", offset, value)`` -> None, ``("read", offset)`` -> int, ``("mem_write", addr, bytes)``
-> None, ``("mem_read", addr, n)`` -> bytes, ``("wait_done", max_cycles)`` -> ``(done, cycles
waited)``, ``("cycles",)`` -> simulated cycles so far, ``("quit",)`` -> None; the cocotb server
also answers ``("monitor",)`` with its protocol monitors' statistics per port (bursts, beats,
violations). A request the server cannot serve is answered with the exception, which the client
raises.

Either backend answers a request during which the IP broke the AXI4 or AXI4-Lite protocol with
:class:`AxiProtocolError` (the cocotb server's protocol monitor, sim/axi_monitor.py; the native
memory's checks, sim/native/axi_memory.h).

The native backend (sim/backends/native.py) accepts the same request tuples and serves them with its
own line protocol (sim/native/harness.cpp); ``POLL_CYCLES`` is shared, so both poll AP_DONE alike.
"""

from __future__ import annotations

__all__ = ["ADDRESS_ENV", "POLL_CYCLES", "AxiProtocolError"]

#: Environment variable with the path of the client's Unix socket.
ADDRESS_ENV = "CONVFORGE_SERVER_ADDRESS"
#: ``wait_done`` polls AP_DONE every this many cycles.
POLL_CYCLES = 64


class AxiProtocolError(RuntimeError):
    """The IP broke the AXI4 protocol on its memory port, or AXI4-Lite on its control port."""
