"""The native backend of ``sim.backends.simulated`` (the default): the design's Verilator model
compiled with the C++ harness of sim/native, 25 to 100 times faster than the cocotb backend on
long layers (docs/results.md, section sim-speed; what a simulated cycle costs: section sim-cost).

The harness serves the IP's AXI4 master from a memory file that this process maps too, so the
simulated DDR is a numpy array here: buffers from :meth:`NativeAccelerator.allocate` are views of
it (``flush()`` and ``invalidate()`` have nothing to do) and bulk data never crosses the socket.
Register accesses and the wait for AP_DONE are line requests on a socket pair (the protocol is
described in sim/native/harness.cpp); AP_DONE is polled in C++ exactly as the cocotb server polls
it, and the memory's default latencies are those of cocotbext-axi's AxiRam, so both backends
report the same counters (CYCLES, stalls, ...) for the same layers without pauses.

Every request is bounded in wall-clock time: the harness reports progress twice a second during
long waits, and a simulator that stays silent for ``wall_timeout`` seconds (frozen) or exits
raises :class:`~sim.backends.base.SimulatorFailure`. AXI protocol violations by the IP on its memory
port -- the master-side rules of the cocotb backend's monitor (sim/axi_monitor.py): VALID and the
payload held until the handshake, INCR bursts within 4 KiB, WLAST on the last beat, at most the
design's ``outstanding_reads`` read bursts in flight, ... -- raise :class:`AxiProtocolError` from
the wait.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtl.config import AcceleratorConfig
from drivers.regmap import AP_DONE, REGISTERS, require_int

from ..native import build_native
from ..protocol import POLL_CYCLES, AxiProtocolError
from .base import DEFAULT_WALL_TIMEOUT, SimulatedBuffer, SimulatedDriver, SimulatorFailure, check_pauses

__all__ = ["NativeAccelerator", "NativeBuffer", "AxiProtocolError", "native_simulation", "MIN_LATENCY"]

#: The smallest (and default) memory latency in cycles: that of cocotbext-axi's AxiRam.
MIN_LATENCY = 2

_RESPONSES = {"SLVERR": "slverr", "DECERR": "decerr"}
_ACCESSES = ("read", "write", "both")


class NativeBuffer(SimulatedBuffer):
    """A numpy array that is a view of the simulated DDR at ``device_address``. The IP reads what
    is written to it at once and the array shows what the IP wrote, so :meth:`flush` and
    :meth:`invalidate` do nothing."""

    def flush(self):
        pass

    def invalidate(self):
        pass


class NativeAccelerator(SimulatedDriver):
    """Driver over a running native simulator; create it with ``sim.backends.simulated(design)``."""

    def __init__(self, process: subprocess.Popen, sock: socket.socket, ddr: np.ndarray, memory_bytes: int,
                 period_ns: float, *, wall_timeout: float, name: str, log_path: Path):
        self._process = process
        self._sock = sock
        self._ddr = ddr
        self._inbox = b""
        self._failure: str | None = None
        self._closed = False
        self._protocol_faults = 0
        self._name = name
        self._log_path = log_path
        self.wall_timeout = wall_timeout
        self._sim_init(memory_bytes, period_ns)

    # ----- transport ----------------------------------------------------------------------
    def _fail(self, what: str, frozen: bool = False) -> None:
        """Record that the simulator is unusable and raise :class:`SimulatorFailure`; a frozen
        simulator (our own child process) is killed first."""
        process = self._process
        killed = False
        if frozen and process.poll() is None:
            process.kill()
            killed = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)
        code = process.returncode
        if killed:
            state = "it has been killed"
        elif code is None:
            state = "it is still running"
        elif code < 0:
            state = f"it ended with signal {signal.Signals(-code).name}"
        else:
            state = f"it exited with code {code}"
        log = ""
        with contextlib.suppress(OSError):
            log = self._log_path.read_text(errors="replace").strip()[-2000:]
        self._failure = (f"the native simulator of {self._name} (pid {process.pid}) {what}; {state}"
                         + (f"; its output ends with:\n{log}" if log else ""))
        raise SimulatorFailure(self._failure)

    def _read_line(self, request: str) -> str:
        deadline = time.monotonic() + self.wall_timeout
        while b"\n" not in self._inbox:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"did not answer {request!r} within {self.wall_timeout:g} s (frozen?)", frozen=True)
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError as exc:
                self._fail(f"broke the connection while answering {request!r} ({exc})")
            if not chunk:
                self._fail(f"closed the connection while answering {request!r}")
            self._inbox += chunk
        line, _, self._inbox = self._inbox.partition(b"\n")
        return line.decode()

    def _request(self, request: str) -> list[str]:
        """Send one request line; return the words of its "ok" answer. Progress lines reset the
        wall-clock timeout; "err" answers raise ValueError, "fail" answers SimulatorFailure."""
        if self._failure is not None:
            raise SimulatorFailure(self._failure)
        if self._closed:
            raise SimulatorFailure(f"the native simulator of {self._name} was closed")
        try:
            try:
                self._sock.sendall(request.encode() + b"\n")
            except OSError as exc:
                self._fail(f"did not take the request {request!r} ({exc})")
            while True:
                answer = self._read_line(request)
                kind, _, rest = answer.partition(" ")
                if kind == "progress":
                    continue
                if kind == "ok":
                    return rest.split()
                if kind == "err":
                    raise ValueError(f"the native simulator refused {request!r}: {rest}")
                if kind == "fail":
                    self._fail(f"cannot continue: {rest}")
                self._fail(f"answered {request!r} with {answer!r}, which is not part of its protocol")
        except (KeyboardInterrupt, SystemExit):
            # Its answer would arrive in reply to the next request: stop the simulator instead.
            if self._failure is None:
                self._process.kill()
                self._failure = (f"the native simulator of {self._name} was stopped: the request {request!r} "
                                 "was interrupted")
            raise

    def _call(self, *request):
        """The request vocabulary of sim/protocol.py (the cocotb server's), served natively."""
        op, *args = request
        if op == "read":
            return int(self._request(f"read {int(args[0]):#x}")[0])
        if op == "write":
            self._request(f"write {int(args[0]):#x} {int(args[1]):#x}")
            return None
        if op == "wait_done":
            done, waited, protocol = self._request(f"wait_done {require_int('a cycle budget', args[0])}")
            if int(protocol) > self._protocol_faults:
                self._protocol_faults = int(protocol)
                violations = [m for m in self.memory_faults()["messages"] if m.startswith("protocol violation")]
                raise AxiProtocolError("the IP broke the AXI4 protocol on m_axi_gmem: " + "; ".join(violations))
            return done == "1", int(waited)
        if op == "mem_read":
            return self.mem_read(*args)
        if op == "mem_write":
            self.mem_write(*args)
            return None
        if op == "cycles":
            return int(self._request("cycles")[0])
        if op == "quit":
            self.close()
            return None
        raise ValueError(f"unknown request {op!r}; requests are read, write, mem_read, mem_write, wait_done, "
                         "cycles and quit")

    # ----- memory -------------------------------------------------------------------------
    def allocate(self, shape, dtype=np.uint8) -> NativeBuffer:
        """A zeroed array of ``shape`` and ``dtype`` that is a view of fresh simulated DDR."""
        dtype = np.dtype(dtype)
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
        if any(n < 0 for n in shape):
            raise ValueError(f"a buffer shape has no negative sizes, got {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        address = self._reserve(nbytes)
        raw = self._ddr[address:address + nbytes]
        raw[:] = 0
        buf = raw.view(dtype).reshape(shape).view(NativeBuffer)
        buf.device_address = address
        return buf

    def mem_read(self, address: int, length: int) -> bytes:
        address, length = self._check_span(address, length)
        return self._ddr[address:address + length].tobytes()

    def mem_write(self, address: int, data: bytes) -> None:
        data = bytes(data)
        address, length = self._check_span(address, len(data))
        self._ddr[address:address + length] = np.frombuffer(data, dtype=np.uint8)

    # ----- what only the native memory offers --------------------------------------------
    def inject_error(self, lo: int, hi: int, resp: str = "SLVERR", on: str = "both") -> None:
        """Answer the IP's memory beats in bytes ``[lo, hi)`` with ``resp`` ("SLVERR" or "DECERR")
        on ``on`` accesses ("read", "write" or "both"): reads return zeros, writes are dropped.
        Ranges add up until :meth:`clear_injected_errors`."""
        lo, hi = require_int("lo", lo), require_int("hi", hi)
        if not 0 <= lo < hi:
            raise ValueError(f"an error range needs 0 <= lo < hi, got {lo:#x}..{hi:#x}")
        if resp not in _RESPONSES:
            raise ValueError(f"resp must be 'SLVERR' or 'DECERR', got {resp!r}")
        if on not in _ACCESSES:
            raise ValueError(f"on must be 'read', 'write' or 'both', got {on!r}")
        self._request(f"inject {lo:#x} {hi:#x} {_RESPONSES[resp]} {on}")

    def clear_injected_errors(self) -> None:
        self._request("inject clear")

    def memory_faults(self) -> dict:
        """Counts of the memory's error answers so far: ``out_of_range`` (beats outside the
        simulated DDR, answered DECERR), ``injected`` (beats in an injected range), ``protocol``
        (AXI violations by the IP), and ``messages``, the first few described."""
        words = self._request("faults")
        out_of_range, injected, protocol = (int(w) for w in words[:3])
        text = " ".join(words[3:])
        messages = [m.strip() for m in text.split("|") if m.strip()]
        return {"out_of_range": out_of_range, "injected": injected, "protocol": protocol, "messages": messages}

    @property
    def simulated_cycles(self) -> int:
        """Clock cycles simulated since the start (reset included)."""
        return int(self._request("cycles")[1])

    def close(self) -> None:
        """Stop the simulator (a no-op after the first call)."""
        if self._closed:
            return
        if self._failure is None:
            with contextlib.suppress(SimulatorFailure, ValueError, OSError):
                self._request("quit")
        self._closed = True
        self._sock.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _check_latency(name: str, value) -> int:
    value = require_int(name, value)
    if value < MIN_LATENCY:
        raise ValueError(f"{name} must be at least {MIN_LATENCY} cycles (the latency of cocotbext-axi's AxiRam), "
                         f"got {value}")
    return value


@contextlib.contextmanager
def native_simulation(config: AcceleratorConfig, verilog_text: str, *, pauses: str = "none", seed: int = 0,
                      memory_bytes: int = 1 << 26, period_ns: float = 10.0,
                      wall_timeout: float = DEFAULT_WALL_TIMEOUT, read_latency: int = MIN_LATENCY,
                      write_latency: int = MIN_LATENCY, stall_probability: float = 0.3,
                      launcher: Sequence[str] = ()):
    """Build (cached) and start the native simulator of ``verilog_text`` and yield a
    :class:`NativeAccelerator` driving it; the process and its memory file are gone afterwards.

    ``launcher`` is a command the simulator runs under, for measuring it (for example
    ``("valgrind", "--tool=callgrind")``, as bench/bench_sim_cost.py does): it must pass the
    simulator's open file descriptors on, and a slow one needs a larger ``wall_timeout``.

    ``pauses`` ("none", "fixed", "random" with ``stall_probability`` per channel and cycle, seeded
    by ``seed``) throttles every AXI channel of the memory; ``read_latency``/``write_latency``
    are the memory's latencies in cycles (>= 2, see sim/native/axi_memory.h)."""
    check_pauses(pauses)
    seed = require_int("seed", seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    read_latency, write_latency = _check_latency("read_latency", read_latency), _check_latency("write_latency", write_latency)
    if not 0.0 <= float(stall_probability) < 1.0:
        raise ValueError(f"stall_probability must be in [0, 1), got {stall_probability!r}")
    if not float(wall_timeout) > 0:
        raise ValueError(f"wall_timeout must be a positive number of seconds, got {wall_timeout!r}")
    if isinstance(launcher, str) or not all(isinstance(word, str) and word for word in launcher):
        raise ValueError(f"launcher must be a sequence of non-empty strings (a command and its options), got {launcher!r}")
    build = build_native(verilog_text, config.name)

    workdir = Path(tempfile.mkdtemp(prefix="convforge-native-"))  # private (mode 0700)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        memory_path = workdir / "ddr.bin"
        with open(memory_path, "wb") as f:
            f.truncate(memory_bytes)  # sparse: pages appear as they are touched
        log_path = workdir / "simulator.log"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cleanup.callback(ours.close)
        with theirs:
            cmd = [*launcher, str(build.executable), "--fd", str(theirs.fileno()), "--memory", str(memory_path),
                   "--memory-bytes", str(memory_bytes), "--pauses", pauses, "--seed", str(seed),
                   "--stall-probability", repr(float(stall_probability)),
                   "--read-latency", str(read_latency), "--write-latency", str(write_latency),
                   "--max-outstanding-reads", str(config.outstanding_reads),
                   "--ctrl-offset", str(REGISTERS["CTRL"]), "--done-mask", str(AP_DONE),
                   "--poll-cycles", str(POLL_CYCLES)]
            with open(log_path, "wb") as log:
                try:
                    process = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                               stdout=log, stderr=subprocess.STDOUT)
                except OSError as exc:
                    raise SimulatorFailure(f"the native simulator {build.executable} could not be started: {exc}; "
                                           f"delete {build.build_dir} to rebuild it") from None
        ddr = np.memmap(memory_path, dtype=np.uint8, mode="r+", shape=(memory_bytes,))
        accel = NativeAccelerator(process, ours, ddr, memory_bytes, period_ns, wall_timeout=float(wall_timeout),
                                  name=config.name, log_path=log_path)
        cleanup.callback(accel.close)
        hello = accel._read_line("(start)").split()
        if hello[:1] != ["ready"]:
            accel._fail(f"did not start: {' '.join(hello)}")
        lanes = int(hello[1])
        if lanes * 8 != config.axi_data_width:
            accel._fail(f"has a {lanes * 8}-bit memory bus but {config.name} is configured for "
                        f"{config.axi_data_width} bits")
        yield accel
