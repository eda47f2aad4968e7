"""``drivers.simulated``: the board driver's API over a Verilator simulation of the design.

    with simulated("build/vgg16-pynq-z2") as accel:
        y = accel.conv2d(x, w, bias, mult, shift, stride=1, padding=1, relu=True)

The deploy folder's ``design.json`` names the configuration; its Verilog (``rtl/*.v``) is built
once with Verilator (cached) and run in a cocotb process that serves register and memory
requests (sim/accel_server.py). Buffers from :meth:`allocate` are numpy arrays with a
``device_address`` in the simulated DDR; ``flush()`` copies them to it and ``invalidate()`` back,
as PYNQ buffers do with the caches. Timeouts are in simulated cycles.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
import socket
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from rtl.config import AcceleratorConfig
from rtl.top import accelerator_verilog
from sim.protocol import ADDRESS_ENV
from sim.toolchain import PARAMS_ENV, build, run_cocotb

from .core import AcceleratorDriver, AcceleratorTimeout
from .regmap import REGISTERS, check_offset, require_int

__all__ = ["simulated", "SimulatedAccelerator", "SimBuffer", "load_design_config"]


def load_design_config(design):
    """An AcceleratorConfig from a deploy folder (design.json) or a config itself."""
    if isinstance(design, AcceleratorConfig):
        return design, None
    path = Path(design)
    meta = path / "design.json"
    if not meta.exists():
        raise ValueError(f"{path} is not a convforge deploy folder: {meta} does not exist (run python -m dse.build)")
    return AcceleratorConfig.from_dict(json.loads(meta.read_text())["config"]), path


class SimBuffer(np.ndarray):
    """A numpy array living in the simulated DDR (the PYNQ buffer API subset the driver uses)."""

    device_address: int
    _owner: "SimulatedAccelerator"

    def flush(self):
        self._owner._call("mem_write", self.device_address, np.ascontiguousarray(self).tobytes())

    def invalidate(self):
        raw = self._owner._call("mem_read", self.device_address, self.nbytes)
        self.view(np.uint8).reshape(-1)[:] = np.frombuffer(raw, dtype=np.uint8)

    sync_to_device = flush
    sync_from_device = invalidate

    @property
    def physical_address(self):
        return self.device_address

    def freebuffer(self):
        pass


class SimulatedAccelerator(AcceleratorDriver):
    """Driver over a running simulation; create it with :func:`simulated`."""

    ALIGN = 4096

    def __init__(self, conn, memory_bytes: int, period_ns: float):
        self._conn = conn
        self._next_address = self.ALIGN
        self.memory_bytes = memory_bytes
        self.period_ns = period_ns
        self._last_layer = None
        self._driver_init()
        self.timeout = None
        self.abort_timeout = 20_000

    def _call(self, *request):
        self._conn.send(request)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    # pynq.DefaultIP-style primitives
    def read(self, offset: int) -> int:
        return self._call("read", check_offset(offset))

    def write(self, offset: int, value: int) -> None:
        if not 0 <= require_int("a register value", value) < 1 << 32:
            raise ValueError(f"a register value must be in 0..2**32-1, got {value!r}")
        self._call("write", check_offset(offset), int(value))

    def allocate(self, shape, dtype=np.uint8) -> SimBuffer:
        arr = np.zeros(shape, dtype=dtype)
        size = max(arr.nbytes, 1)
        address = self._next_address
        if address + size > self.memory_bytes:
            raise MemoryError(f"simulated DDR of {self.memory_bytes} bytes is full (asked for {size} more)")
        self._next_address = (address + size + self.ALIGN - 1) // self.ALIGN * self.ALIGN
        buf = arr.view(SimBuffer)
        buf.device_address = address
        buf._owner = self
        return buf

    def mem_read(self, address: int, length: int) -> bytes:
        return self._call("mem_read", int(address), int(length))

    def mem_write(self, address: int, data: bytes) -> None:
        self._call("mem_write", int(address), bytes(data))

    @property
    def allocated_bytes(self) -> int:
        return self._next_address

    def start_layer(self, desc: dict) -> None:
        self._last_layer = dict(desc)
        super().start_layer(desc)

    def _cycle_budget(self) -> int:
        d = self._last_layer or {}
        info = self.info
        try:
            k = d["kernel"]
            cg = math.ceil(d["in_channels"] / info.pn)
            mg = math.ceil(d["out_channels"] / info.pm)
            ho = (d["height"] + 2 * d["padding"] - k) // d["stride"] + 1
            wo = (d["width"] + 2 * d["padding"] - k) // d["stride"] + 1
            compute = mg * max(ho * wo * cg * k * k, ho * wo * info.pm)
            transfer = mg * (d["height"] * cg * d["width"] * info.pn + cg * k * k * info.pm * info.pn) // (info.axi_data_width // 8)
            return 20 * (compute + transfer) + 200_000
        except (KeyError, ZeroDivisionError, TypeError):
            return 1_000_000

    def _wait_done(self, timeout) -> None:
        budget = int(timeout) if timeout else self._cycle_budget()
        done, waited = self._call("wait_done", budget)
        if not done:
            status = self.read(REGISTERS["STATUS"])
            raise AcceleratorTimeout(f"AP_DONE did not come within {waited} simulated cycles (STATUS = {status:#x})")

    def close(self):
        with contextlib.suppress(Exception):
            self._call("quit")
        self._conn.close()


@contextlib.contextmanager
def simulated(design, *, pauses: str = "none", seed: int = 0, memory_bytes: int = 1 << 26,
              period_ns: float | None = None):
    """Start a Verilator simulation of ``design`` (a deploy folder or an AcceleratorConfig)
    and yield a :class:`SimulatedAccelerator` driving it. ``pauses`` ("none", "fixed",
    "random") throttles every AXI channel of the simulated memory."""
    if pauses not in ("none", "fixed", "random"):
        raise ValueError(f"pauses must be 'none', 'fixed' or 'random', got {pauses!r}")
    config, folder = load_design_config(design)
    verilog_text = None
    if folder is not None:
        candidate = folder / "rtl" / f"{config.name}.v"
        if candidate.exists():
            verilog_text = candidate.read_text()
    if verilog_text is None:
        verilog_text = accelerator_verilog(config)
    model = build(verilog_text, config.name)
    period = period_ns if period_ns is not None else round(1000.0 / config.clock_mhz, 3)

    tmp = tempfile.mkdtemp(prefix="convforge-sim-")
    address = os.path.join(tmp, "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)  # inside a private temporary folder (mode 0700)
    listener.listen(1)
    params = {"pauses": pauses, "seed": seed, "memory_bytes": memory_bytes, "period_ns": period}
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
        raise RuntimeError(f"the simulation did not start: {outcome.get('error', exc)}") from None
    finally:
        listener.close()
    accel = SimulatedAccelerator(conn, memory_bytes, period)
    try:
        yield accel
    finally:
        accel.close()
        thread.join(timeout=60)
        if "error" in outcome:
            raise outcome["error"]
