"""AXI4 / AXI4-Lite protocol checker for cocotb testbenches.

Two layers:

* :class:`AxiChecker` is plain Python: feed it one sampled cycle at a time (``cycle(values)``
  with the settled VALID/READY and payload values) and it raises :class:`ProtocolError` when

  - a VALID drops, or a payload member changes, before its handshake (every channel),
  - an AR/AW burst crosses a 4 KiB boundary, exceeds 256 beats (or the master's
    ``max_burst``), is not INCR (unless allowed), or has an AxSIZE wider than the bus,
  - WLAST / RLAST is not on the last beat of its burst, a W beat has no burst to belong to
    after its burst's AW, or a B / R response arrives for no outstanding request,
  - more than ``max_outstanding_reads`` read bursts are in flight (when given).

  It also keeps statistics (bursts, beats, largest burst, bursts ending on a 4 KiB boundary,
  peak outstanding reads) so tests can assert that a sweep exercised what it claims.

* :class:`AxiMonitor` samples a DUT's ports (``<prefix>_<MEMBER>``, upper-case AXI names as
  produced by :func:`rtl.axi.signature.flat_members`) in the ReadOnly phase of every cycle and
  feeds the checker. Violations are raised at once in the monitor task (or, with
  ``raise_at_once=False``, the first one ends the monitoring) and kept in ``errors``; call
  :meth:`AxiMonitor.check` at the end of a test to fail it explicitly. ``sim.accel_server``
  watches both ports of the whole IP with it.
"""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["ProtocolError", "AxiChecker", "AxiMonitor", "CHANNELS", "LITE_CHANNELS"]

PAGE = 4096

#: Payload members of each AXI4 channel (VALID/READY apart).
CHANNELS = {
    "AW": ("AWID", "AWADDR", "AWLEN", "AWSIZE", "AWBURST", "AWLOCK", "AWCACHE", "AWPROT", "AWQOS"),
    "W": ("WDATA", "WSTRB", "WLAST"),
    "B": ("BID", "BRESP"),
    "AR": ("ARID", "ARADDR", "ARLEN", "ARSIZE", "ARBURST", "ARLOCK", "ARCACHE", "ARPROT", "ARQOS"),
    "R": ("RID", "RDATA", "RRESP", "RLAST"),
}
#: Payload members of each AXI4-Lite channel.
LITE_CHANNELS = {
    "AW": ("AWADDR", "AWPROT"),
    "W": ("WDATA", "WSTRB"),
    "B": ("BRESP",),
    "AR": ("ARADDR", "ARPROT"),
    "R": ("RDATA", "RRESP"),
}


class ProtocolError(AssertionError):
    """The bus broke an AXI rule."""


class _Handshake:
    """VALID must stay high and the payload unchanged from VALID to the handshake."""

    def __init__(self, channel: str):
        self.channel = channel
        self.pending = None

    def step(self, cycle: int, valid: bool, ready: bool, payload: dict | None) -> bool:
        if self.pending is not None:
            if not valid:
                raise ProtocolError(f"cycle {cycle}: {self.channel}VALID dropped before the handshake")
            changed = [k for k, v in self.pending.items() if payload.get(k) != v]
            if changed:
                raise ProtocolError(f"cycle {cycle}: {self.channel} payload {', '.join(changed)} changed "
                                    f"before the handshake ({self.pending} -> {payload})")
        if valid and ready:
            self.pending = None
            return True
        self.pending = dict(payload) if valid else None
        return False


class AxiChecker:
    """AXI4 (or AXI4-Lite with ``lite=True``) rules over a sequence of sampled cycles."""

    def __init__(self, data_width: int, max_burst: int = 256, lite: bool = False,
                 max_outstanding_reads: int | None = None, allow_non_incr: bool = False):
        if not 1 <= max_burst <= 256:
            raise ValueError(f"max_burst must be in 1..256, got {max_burst}")
        self.bytes = data_width // 8
        self.max_burst = max_burst
        self.lite = lite
        self.max_outstanding_reads = max_outstanding_reads
        self.allow_non_incr = allow_non_incr
        self.channels = LITE_CHANNELS if lite else CHANNELS
        self.reset()

    def reset(self) -> None:
        """Forget everything in flight (bus reset)."""
        self.cycle_count = 0
        self.watch = {ch: _Handshake(ch) for ch in self.channels}
        self.reads = {}              # ARID -> deque of beats per burst
        self.read_beats_left = {}    # ARID -> beats left in the burst being returned
        self.writes = deque()        # beats of AW bursts whose W data has not all passed
        self.w_ahead = deque()       # beat counts of W bursts completed before their AW
        self.w_beats = 0             # beats of the W burst in progress
        self.b_expected = 0          # write bursts with AW and all W seen, not yet answered
        self.history = deque(maxlen=12)   # recent handshakes, quoted in error messages
        self.lite_writes = {"AW": 0, "W": 0}
        self.lite_reads = 0
        self.stats = {"AR": 0, "AW": 0, "W": 0, "R": 0, "B": 0, "max_burst": 0,
                      "page_end_bursts": 0, "peak_reads": 0, "error_resps": 0}

    # -- address channel rules -------------------------------------------------------------
    def _burst(self, ch: str, cycle: int, p: dict) -> int:
        addr, beats = p[f"{ch}ADDR"], p[f"{ch}LEN"] + 1
        size, burst = p[f"{ch}SIZE"], p[f"{ch}BURST"]
        step = 1 << size
        where = f"cycle {cycle}: {ch} burst at {addr:#x} with {beats} beats"
        if step > self.bytes:
            raise ProtocolError(f"{where}: {ch}SIZE={size} is wider than the {self.bytes}-byte bus")
        if beats > 256 or beats > self.max_burst:
            raise ProtocolError(f"{where}: longer than {min(256, self.max_burst)} beats")
        if burst != 1 and not self.allow_non_incr:
            raise ProtocolError(f"{where}: {ch}BURST={burst}, expected INCR (1)")
        if burst == 1:
            first = addr - addr % step
            end = first + beats * step            # one past the last byte
            if first // PAGE != (end - 1) // PAGE:
                raise ProtocolError(f"{where}: crosses the 4 KiB boundary at {(first // PAGE + 1) * PAGE:#x}")
            if end % PAGE == 0:
                self.stats["page_end_bursts"] += 1
        self.stats["max_burst"] = max(self.stats["max_burst"], beats)
        return beats

    # -- one cycle ---------------------------------------------------------------------------
    def cycle(self, values: dict) -> None:
        """Check one cycle. ``values`` maps member names (``ARVALID``, ``ARADDR``, ...) to ints;
        payload members are only needed for channels whose VALID is high."""
        self.cycle_count += 1
        n = self.cycle_count
        fired = {}
        for ch, members in self.channels.items():
            if f"{ch}VALID" not in values:
                continue
            valid = bool(values[f"{ch}VALID"])
            ready = bool(values[f"{ch}READY"])
            payload = {k: values[k] for k in members if k in values} if valid else None
            try:
                if self.watch[ch].step(n, valid, ready, payload):
                    fired[ch] = payload
            except ProtocolError as exc:
                raise ProtocolError(f"{exc}{self._recent()}") from None
        for ch, p in fired.items():
            self.history.append((n, ch, {k: v for k, v in p.items() if not k.endswith("DATA")}))
        try:
            if self.lite:
                self._lite(n, fired)
            else:
                self._full(n, fired)
        except ProtocolError as exc:
            raise ProtocolError(f"{exc}{self._recent()}") from None

    def _recent(self) -> str:
        return "".join(f"\n  cycle {c}: {ch} {p}" for c, ch, p in self.history)

    def _full(self, n: int, fired: dict) -> None:
        if "AR" in fired:
            p = fired["AR"]
            self.reads.setdefault(p.get("ARID", 0), deque()).append(self._burst("AR", n, p))
            self.stats["AR"] += 1
        in_flight = sum(len(q) for q in self.reads.values())
        self.stats["peak_reads"] = max(self.stats["peak_reads"], in_flight)
        if self.max_outstanding_reads is not None and in_flight > self.max_outstanding_reads:
            raise ProtocolError(f"cycle {n}: {in_flight} read bursts in flight, more than {self.max_outstanding_reads}")
        if "R" in fired:
            p = fired["R"]
            rid = p.get("RID", 0)
            queue = self.reads.get(rid)
            if not queue:
                raise ProtocolError(f"cycle {n}: R beat with RID={rid} but no read burst outstanding")
            left = self.read_beats_left.get(rid) or queue[0]
            left -= 1
            if bool(p["RLAST"]) != (left == 0):
                raise ProtocolError(f"cycle {n}: RLAST={p['RLAST']} with {left} beats left in the burst")
            self.stats["R"] += 1
            self.stats["error_resps"] += p.get("RRESP", 0) >= 2
            if left == 0:
                queue.popleft()
                self.read_beats_left[rid] = 0
            else:
                self.read_beats_left[rid] = left
        if "AW" in fired:
            beats = self._burst("AW", n, fired["AW"])
            self.stats["AW"] += 1
            if self.w_ahead:   # its W data already went by
                done = self.w_ahead.popleft()
                if done != beats:
                    raise ProtocolError(f"cycle {n}: AW burst of {beats} beats, but its W burst had {done}")
                self.b_expected += 1
            else:
                self.writes.append(beats)
        if "W" in fired:
            p = fired["W"]
            self.stats["W"] += 1
            self.w_beats += 1
            if self.writes:
                expected = self.writes[0]
                if bool(p["WLAST"]) != (self.w_beats == expected):
                    raise ProtocolError(f"cycle {n}: WLAST={p['WLAST']} on beat {self.w_beats} of a {expected}-beat burst")
                if p["WLAST"]:
                    self.writes.popleft()
                    self.b_expected += 1
                    self.w_beats = 0
            elif p["WLAST"]:
                self.w_ahead.append(self.w_beats)
                self.w_beats = 0
            elif self.w_beats > 256:
                raise ProtocolError(f"cycle {n}: more than 256 W beats without WLAST")
        if "B" in fired:
            if self.b_expected == 0:
                raise ProtocolError(f"cycle {n}: B response without a completed write burst")
            self.b_expected -= 1
            self.stats["B"] += 1
            self.stats["error_resps"] += fired["B"].get("BRESP", 0) >= 2

    def _lite(self, n: int, fired: dict) -> None:
        for ch in ("AW", "W"):
            if ch in fired:
                self.lite_writes[ch] += 1
                self.stats[ch] += 1
        if "B" in fired:
            if min(self.lite_writes.values()) == 0:
                raise ProtocolError(f"cycle {n}: B response before both the AW and W of a write")
            for ch in ("AW", "W"):
                self.lite_writes[ch] -= 1
            self.stats["B"] += 1
        if "AR" in fired:
            self.lite_reads += 1
            self.stats["AR"] += 1
        if "R" in fired:
            if self.lite_reads == 0:
                raise ProtocolError(f"cycle {n}: R response without a read request")
            self.lite_reads -= 1
            self.stats["R"] += 1

    def outstanding(self) -> dict:
        """Requests still waiting for data or responses."""
        return {"reads": sum(len(q) for q in self.reads.values()),
                "writes_without_data": len(self.writes) + bool(self.w_beats),
                "writes_without_response": self.b_expected}

    def assert_quiet(self) -> None:
        """Raise unless every request has been answered."""
        left = self.outstanding()
        if any(left.values()):
            raise ProtocolError(f"bus not quiet at the end: {left}")


class AxiMonitor:
    """Samples ``<prefix>_<MEMBER>`` ports of ``dut`` every cycle into an :class:`AxiChecker`."""

    def __init__(self, dut, prefix: str, clock, reset=None, *, data_width: int | None = None,
                 max_burst: int = 256, lite: bool = False, max_outstanding_reads: int | None = None,
                 raise_at_once: bool = True):
        self.clock = clock
        self.prefix = prefix
        self.raise_at_once = raise_at_once
        self.reset = reset
        channels = LITE_CHANNELS if lite else CHANNELS
        self.signals = {}
        for ch, members in channels.items():
            for name in (f"{ch}VALID", f"{ch}READY", *members):
                handle = getattr(dut, f"{prefix}_{name}", None)
                if handle is None:
                    handle = getattr(dut, f"{prefix}_{name.lower()}", None)
                if handle is not None:
                    self.signals[name] = handle
        if not self.signals:
            raise ValueError(f"no AXI ports named {prefix}_* on {dut._name}")
        if data_width is None:
            data_width = len(self.signals["WDATA"] if "WDATA" in self.signals else self.signals["RDATA"])
        self.checker = AxiChecker(data_width, max_burst, lite, max_outstanding_reads)
        self._channels = [(ch, self.signals[f"{ch}VALID"], self.signals[f"{ch}READY"],
                           [(k, self.signals[k]) for k in members if k in self.signals])
                          for ch, members in channels.items() if f"{ch}VALID" in self.signals]
        self.errors: list[ProtocolError] = []
        self._task = cocotb.start_soon(self._run())

    @property
    def stats(self) -> dict:
        return self.checker.stats

    async def _run(self):
        edge, settle = RisingEdge(self.clock), ReadOnly()
        while True:
            await edge
            await settle
            if self.reset is not None and int(self.reset.value):
                self.checker.reset()
                continue
            values = {}
            for ch, valid, ready, payload in self._channels:
                v = int(valid.value)
                values[f"{ch}VALID"] = v
                values[f"{ch}READY"] = int(ready.value)
                if v:
                    for name, handle in payload:
                        values[name] = int(handle.value)
            try:
                self.checker.cycle(values)
            except ProtocolError as exc:
                self.errors.append(exc)
                if self.raise_at_once:
                    raise
                return   # the checker's state is undefined after a violation: the first one is kept

    def check(self, quiet: bool = True) -> None:
        """Raise the first violation seen (and, with ``quiet``, if requests are still open)."""
        if self.errors:
            raise self.errors[0]
        if quiet:
            self.checker.assert_quiet()

    def stop(self) -> None:
        self._task.cancel()
