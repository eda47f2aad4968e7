"""``sim.backends.simulated``: the board driver's API over a Verilator simulation of the design.

    with simulated("build/vgg16-pynq-z2") as accel:
        y = accel.conv2d(x, w, bias, mult, shift, stride=1, padding=1, relu=True)

The deploy folder's ``design.json`` names the configuration; its Verilog (``rtl/*.v``) is built
once with Verilator (cached) and run by one of two backends:

* ``backend="native"`` (the default, sim/backends/native.py): the model compiled with a C++ harness
  that serves the memory and the control port itself: 0.8-1.35 M cycles per second on direct
  designs, about 0.38 M on F(4,3) pm = pn = 2 (a cycle costs what the datapath's size makes it;
  docs/driver.md). Buffers are views of the simulated DDR.
* ``backend="cocotb"`` (this module's :class:`SimulatedAccelerator`): a cocotb process with
  cocotbext-axi's ``AxiRam`` and ``AxiLiteMaster`` that serves register and memory requests
  (sim/accel_server.py), for protocol-level checks with an independent bus model: a protocol
  monitor (sim/axi_monitor.py) watches both AXI ports, and a request during which the IP broke
  a rule raises :class:`~sim.protocol.AxiProtocolError`. Buffers from
  :meth:`~SimulatedAccelerator.allocate` are numpy arrays with a ``device_address`` in the
  simulated DDR; ``flush()`` copies them to it and ``invalidate()`` back, as PYNQ buffers do
  with the caches.

Both report the same counters for the same layers without pauses. Timeouts are in simulated
cycles; every call into the simulator is also bounded in wall-clock time (``wall_timeout``), and
a simulator that died or froze raises :class:`~sim.backends.base.SimulatorFailure`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from drivers.regmap import require_int

from ..protocol import ADDRESS_ENV
from ..toolchain import PARAMS_ENV, build, run_cocotb
from .base import (DEFAULT_WALL_TIMEOUT, SimulatedBuffer, SimulatedDriver, SimulatorFailure, check_pauses, design_verilog,
                   load_design_config)
from .native import native_simulation

__all__ = ["simulated", "SimulatedAccelerator", "SimBuffer", "load_design_config", "BACKENDS",
           "COCOTB_MIN_CYCLES_PER_SECOND"]

#: The simulation backends of :func:`simulated`, the default first.
BACKENDS = ("native", "cocotb")

#: A cocotb simulation that advances slower than this during ``wait_done`` is taken as frozen:
#: the wall-clock limit of a wait is ``wall_timeout`` plus its cycle budget over this rate.
COCOTB_MIN_CYCLES_PER_SECOND = 500


class SimBuffer(SimulatedBuffer):
    """A numpy array living in the simulated DDR, copied to and from it over the simulator's socket."""

    _owner: "SimulatedAccelerator"

    def flush(self):
        self._owner._call("mem_write", self.device_address, np.ascontiguousarray(self).tobytes())

    def invalidate(self):
        raw = self._owner._call("mem_read", self.device_address, self.nbytes)
        self.view(np.uint8).reshape(-1)[:] = np.frombuffer(raw, dtype=np.uint8)


class SimulatedAccelerator(SimulatedDriver):
    """Driver over a running cocotb simulation; create it with ``simulated(design, backend="cocotb")``."""

    def __init__(self, conn, memory_bytes: int, period_ns: float, *, thread: threading.Thread | None = None,
                 outcome: dict | None = None, wall_timeout: float = DEFAULT_WALL_TIMEOUT):
        self._conn = conn
        self._thread = thread
        self._outcome = outcome if outcome is not None else {}
        self._failure: str | None = None
        self.wall_timeout = wall_timeout
        self._sim_init(memory_bytes, period_ns)

    def _fail(self, what: str, request) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
        cause = self._outcome.get("error")
        self._failure = f"the cocotb simulator {what} while answering {request[0]!r}" + (f": {cause}" if cause else "")
        raise SimulatorFailure(self._failure)

    def _call(self, *request):
        if self._failure is not None:
            raise SimulatorFailure(self._failure)
        limit = self.wall_timeout
        if request[0] == "wait_done":
            limit += request[1] / COCOTB_MIN_CYCLES_PER_SECOND
        try:
            self._conn.send(request)
            deadline = time.monotonic() + limit
            while not self._conn.poll(max(0.0, min(1.0, deadline - time.monotonic()))):
                if self._thread is not None and not self._thread.is_alive():
                    self._fail("exited", request)
                if time.monotonic() >= deadline:
                    self._fail(f"did not answer within {limit:g} s (frozen?)", request)
            answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._fail(f"closed the connection ({type(exc).__name__})", request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def allocate(self, shape, dtype=np.uint8) -> SimBuffer:
        arr = np.zeros(shape, dtype=dtype)
        buf = arr.view(SimBuffer)
        buf.device_address = self._reserve(arr.nbytes)
        buf._owner = self
        return buf

    def mem_read(self, address: int, length: int) -> bytes:
        return self._call("mem_read", *self._check_span(address, length))

    def mem_write(self, address: int, data: bytes) -> None:
        data = bytes(data)
        self._call("mem_write", self._check_span(address, len(data))[0], data)

    def close(self):
        if self._failure is None:
            with contextlib.suppress(Exception):
                self._call("quit")
        self._conn.close()


@contextlib.contextmanager
def simulated(design, *, backend: str = "native", pauses: str = "none", seed: int = 0, memory_bytes: int = 1 << 26,
              period_ns: float | None = None, wall_timeout: float = DEFAULT_WALL_TIMEOUT,
              read_latency: int | None = None, write_latency: int | None = None):
    """Start a Verilator simulation of ``design`` (a deploy folder or an AcceleratorConfig) and
    yield a driver for it: a :class:`~sim.backends.native.NativeAccelerator` (``backend="native"``)
    or a :class:`SimulatedAccelerator` (``backend="cocotb"``).

    ``pauses`` ("none", "fixed", "random", seeded by ``seed``) throttles every AXI channel of the
    simulated memory; ``memory_bytes`` (a multiple of 4096) is its size; ``period_ns`` the clock
    period (default from the design's clock; it only sets the cocotb time scale);
    ``wall_timeout`` the seconds a simulator may stay silent before it is declared frozen.
    ``read_latency``/``write_latency`` (native backend only; default and minimum 2, the latency
    of cocotbext-axi's AxiRam) are the simulated memory's latencies in cycles."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    check_pauses(pauses)
    seed = require_int("seed", seed)
    memory_bytes = require_int("memory_bytes", memory_bytes)
    if memory_bytes < 2 * SimulatedDriver.ALIGN or memory_bytes % SimulatedDriver.ALIGN:
        raise ValueError(f"memory_bytes must be a multiple of {SimulatedDriver.ALIGN} of at least "
                         f"{2 * SimulatedDriver.ALIGN}, got {memory_bytes}")
    config, folder = load_design_config(design)
    verilog_text = design_verilog(config, folder)
    period = period_ns if period_ns is not None else round(1000.0 / config.clock_mhz, 3)
    if backend == "native":
        latencies = {k: v for k, v in (("read_latency", read_latency), ("write_latency", write_latency)) if v is not None}
        with native_simulation(config, verilog_text, pauses=pauses, seed=seed, memory_bytes=memory_bytes,
                               period_ns=period, wall_timeout=wall_timeout, **latencies) as accel:
            yield accel
        return
    if read_latency is not None or write_latency is not None:
        raise ValueError("read_latency and write_latency are settings of only the native backend (cocotbext-axi's "
                         "AxiRam has a fixed latency of 2 cycles)")

    model = build(verilog_text, config.name)
    tmp = tempfile.mkdtemp(prefix="convforge-sim-")
    address = os.path.join(tmp, "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)  # inside a private temporary folder (mode 0700)
    listener.listen(1)
    params = {"pauses": pauses, "seed": seed, "memory_bytes": memory_bytes, "period_ns": period,
              "outstanding_reads": config.outstanding_reads}
    outcome: dict = {}

    def run():
        try:
            run_cocotb(model, "sim.accel_server", workdir=Path(tmp) / "run",
                       extra_env={PARAMS_ENV: json.dumps(params), ADDRESS_ENV: address})
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="convforge-sim", daemon=True)
    thread.start()
    try:
        # Wait for the simulator to connect, giving up early if it died.
        conn = None
        for _ in range(600):
            listener.settimeout(1.0)
            try:
                client, _ = listener.accept()
            except socket.timeout:
                if not thread.is_alive():
                    raise OSError("the simulator exited") from None
                continue
            conn = Connection(client.detach())
            break
        if conn is None:
            raise OSError("no connection within 600 s")
    except OSError as exc:
        thread.join(timeout=5)
        raise SimulatorFailure(f"the simulation did not start: {outcome.get('error', exc)}") from None
    finally:
        listener.close()
    accel = SimulatedAccelerator(conn, memory_bytes, period, thread=thread, outcome=outcome,
                                 wall_timeout=wall_timeout)
    try:
        yield accel
    finally:
        accel.close()
        thread.join(timeout=60)
        failed = "error" in outcome or accel._failure is not None
        if not failed and not model.waves and not thread.is_alive():
            shutil.rmtree(tmp, ignore_errors=True)   # the socket and the run's log; kept after a failure
        if "error" in outcome and accel._failure is None:
            raise outcome["error"]
