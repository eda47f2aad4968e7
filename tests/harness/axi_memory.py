"""AXI4 slave memory model for cocotb with read/write latency and injected error responses.

Built on cocotbext-axi's channel drivers and ``AxiRamRead``/``AxiRamWrite`` (sparse memory,
reset handling, pause generators), with its own per-cycle burst processes so that

* ``read_latency`` cycles pass between an AR handshake and the first R beat of that burst while
  later ARs are already accepted (pipelined, like a DDR controller, unlike the stock ``AxiRam``
  which serves one burst at a time),
* ``write_latency`` cycles pass between a burst's last W beat and its B response,
* beats touching a *fault* range get ``fault_resp`` (SLVERR by default): read beats return zero
  data, write beats are dropped whole (nothing of the beat is written).

Pause generators work as in cocotbext-axi: ``mem.read_if.ar_channel.set_pause_generator(...)``
and likewise ``r_channel``, ``write_if.aw_channel``, ``w_channel``, ``b_channel``
(:meth:`AxiMemory.set_pause_generators` sets all five).

Size: 2**62 bytes by default (``len()`` of a larger sparse memory overflows in Python).

The model serves any burst type and size but is meant for INCR bursts; protocol rules are
checked by :mod:`sim.axi_monitor`, not here. Problems it notices (WLAST on the wrong beat) go to
``protocol_errors``.
"""

from __future__ import annotations

from collections import deque

from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiResp
from cocotbext.axi.axi_ram import AxiRamRead, AxiRamWrite
from cocotbext.axi.memory import Memory

__all__ = ["AxiMemory", "AxiMemoryRead", "AxiMemoryWrite"]


def _overlaps(ranges, start: int, end: int) -> bool:
    """Does the byte range [start, end) intersect any (lo, hi) range of ``ranges``?"""
    return any(lo < end and start < hi for lo, hi in ranges)


class _Timing:
    """The latency and fault window settings both halves take before cocotbext-axi's own."""

    def __init__(self, bus, clock, reset=None, reset_active_level=True, size=2**62, mem=None,
                 latency: int = 0, faults=(), fault_resp: int = AxiResp.SLVERR, **kwargs):
        self.latency = latency
        self.faults = list(faults)
        self.fault_resp = int(fault_resp)
        self.protocol_errors: list[str] = []
        super().__init__(bus, clock, reset, reset_active_level, size=size, mem=mem, **kwargs)


class AxiMemoryRead(_Timing, AxiRamRead):
    """Read half: AR accepted while earlier bursts wait out their latency; one R beat per cycle."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ar_channel.queue_occupancy_limit = 2

    async def _process_read(self):
        pending = deque()   # (due cycle, arid, beat addresses)
        beats = deque()     # beats of the burst being returned
        burst_id = 0
        cycle = 0
        edge = RisingEdge(self.clock)
        while True:
            await edge
            cycle += 1
            while not self.ar_channel.empty():
                ar = self.ar_channel.recv_nowait()
                pending.append((cycle + self.latency, int(getattr(ar, "arid", 0)),
                                _beat_addresses(ar, "ar", self.max_burst_size)))
            if not beats and pending and pending[0][0] <= cycle:
                _, burst_id, addrs = pending.popleft()
                beats.extend(addrs)
            if beats and not self.r_channel.full():
                addr = beats.popleft()
                word = addr - addr % self.byte_lanes
                r = self.r_channel._transaction_obj()
                r.rid = burst_id
                r.rlast = int(not beats)
                if _overlaps(self.faults, word, word + self.byte_lanes):
                    r.rdata = 0
                    r.rresp = self.fault_resp
                else:
                    r.rdata = int.from_bytes(self.read(word % self.size, self.byte_lanes), "little")
                    r.rresp = AxiResp.OKAY
                self.r_channel.send_nowait(r)


def _beat_addresses(ax, prefix: str, max_burst_size: int) -> list[int]:
    """The address of every beat of an INCR burst (``prefix`` "ar" or "aw"), size-aligned."""
    step = 1 << int(getattr(ax, prefix + "size", max_burst_size))
    addr = int(getattr(ax, prefix + "addr"))
    count = int(getattr(ax, prefix + "len", 0)) + 1
    return [addr - addr % step + k * step for k in range(count)]


class AxiMemoryWrite(_Timing, AxiRamWrite):
    """Write half: W beats applied with their strobes; B after ``latency`` cycles."""

    async def _process_write(self):
        bursts = deque()      # accepted AW: (awid, beat addresses)
        responses = deque()   # (due cycle, bid, bresp)
        current = None        # [awid, remaining addresses, resp]
        cycle = 0
        edge = RisingEdge(self.clock)
        while True:
            await edge
            cycle += 1
            while not self.aw_channel.empty():
                aw = self.aw_channel.recv_nowait()
                bursts.append((int(getattr(aw, "awid", 0)), deque(_beat_addresses(aw, "aw", self.max_burst_size))))
            if current is None and bursts:
                awid, addrs = bursts.popleft()
                current = [awid, addrs, AxiResp.OKAY]
            while current is not None and not self.w_channel.empty():
                w = self.w_channel.recv_nowait()
                addr = current[1].popleft()
                word = addr - addr % self.byte_lanes
                strb = int(getattr(w, "wstrb", self.strb_mask))
                data = int(w.wdata).to_bytes(self.byte_lanes, "little")
                lanes = [k for k in range(self.byte_lanes) if strb >> k & 1]
                if lanes and _overlaps(self.faults, word + lanes[0], word + lanes[-1] + 1):
                    current[2] = self.fault_resp
                else:
                    for k in lanes:
                        self.write((word + k) % self.size, data[k:k + 1])
                last = bool(int(w.wlast))
                if last != (not current[1]):
                    self.protocol_errors.append(
                        f"WLAST={int(last)} on a beat with {len(current[1])} beats left in the burst")
                if not current[1]:
                    responses.append((cycle + self.latency, current[0], current[2]))
                    current = None
                    if bursts:
                        awid, addrs = bursts.popleft()
                        current = [awid, addrs, AxiResp.OKAY]
            if responses and responses[0][0] <= cycle and not self.b_channel.full():
                _, bid, bresp = responses.popleft()
                b = self.b_channel._transaction_obj()
                b.bid = bid
                b.bresp = int(bresp)
                self.b_channel.send_nowait(b)


class AxiMemory(Memory):
    """Both halves on one sparse memory (``read``/``write`` as cocotbext-axi's ``Memory``)."""

    def __init__(self, bus, clock, reset=None, reset_active_level=True, size=2**62, mem=None,
                 read_latency: int = 0, write_latency: int = 0, read_faults=(), write_faults=(),
                 fault_resp: int = AxiResp.SLVERR):
        super().__init__(size, mem)
        self.read_if = AxiMemoryRead(bus.read, clock, reset, reset_active_level, mem=self.mem,
                                     latency=read_latency, faults=read_faults, fault_resp=fault_resp)
        self.write_if = AxiMemoryWrite(bus.write, clock, reset, reset_active_level, mem=self.mem,
                                       latency=write_latency, faults=write_faults, fault_resp=fault_resp)

    @property
    def protocol_errors(self) -> list[str]:
        return self.read_if.protocol_errors + self.write_if.protocol_errors

    def set_pause_generators(self, make) -> None:
        """``make(channel_name)`` returns a pause generator (or None) for AR, R, AW, W and B."""
        channels = {
            "AR": self.read_if.ar_channel, "R": self.read_if.r_channel,
            "AW": self.write_if.aw_channel, "W": self.write_if.w_channel, "B": self.write_if.b_channel,
        }
        for name, channel in channels.items():
            gen = make(name)
            if gen is None:
                channel.clear_pause_generator()
            else:
                channel.set_pause_generator(gen)
