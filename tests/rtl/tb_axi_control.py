"""cocotb tests of rtl.axi.control_slave.ControlSlave (toplevel: tests.rtl.test_axi_control harness).

A Python model built from the same RegisterMap predicts every read. Most tests drive the bus
with cocotbext-axi's AxiLiteMaster; the timing tests drive the AXI4-Lite signals by hand to
control the order of AW and W, to measure response latencies and to place core events in the
same cycle as a clearing read or a toggling write.
"""

import itertools
import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from rtl.registers import Access, BUILD_MAGIC, field_port_name
from sim.axi_monitor import AxiMonitor
from tests.harness.clock import start_clock_and_reset
from tests.rtl.test_axi_control import CONFIG, control_test_map

PREFIX = "s_axi_control"
HLS_IN = ("ap_done", "ap_ready", "ap_idle")


class Model:
    """Expected register contents; RO inputs are whatever the test drives on the ports."""

    def __init__(self, dut, regmap):
        self.dut = dut
        self.regmap = regmap
        self.rw = {}
        self.ro = {}        # values the test drives on RO input ports (a write to a handle
        self.bits = {}      # only shows in .value later); COR / TOW state
        for reg in regmap:
            for f in reg.fields:
                if f.access is Access.RW:
                    self.rw[(reg.name, f.name)] = f.reset
                elif f.access in (Access.COR, Access.TOW):
                    self.bits[(reg.name, f.name)] = 0

    def port(self, reg, f):
        hls = {("CTRL", "AP_IDLE"): "ap_idle"}
        return getattr(self.dut, hls.get((reg.name, f.name), field_port_name(reg, f)))

    def value(self, offset: int) -> int:
        reg = self.regmap.by_offset(offset & ~3)
        if reg is None:
            return 0
        v = 0
        for f in reg.fields:
            key = (reg.name, f.name)
            if f.access is Access.RW:
                x = self.rw[key]
            elif f.access is Access.RO:
                x = f.constant if f.constant is not None else self.ro.get(key, 0)
            elif f.access is Access.SC:
                x = 0
            else:
                x = self.bits[key]
            v |= x << f.lsb
        return v

    def read(self, offset: int) -> int:
        """Value a read returns, applying clear-on-read."""
        v = self.value(offset)
        reg = self.regmap.by_offset(offset & ~3)
        if reg is not None:
            for f in reg.fields:
                if f.access is Access.COR:
                    self.bits[(reg.name, f.name)] = 0
        return v

    def write(self, offset: int, data: int, strb: int) -> None:
        reg = self.regmap.by_offset(offset & ~3)
        if reg is None:
            return
        enable = sum(0xFF << (8 * k) for k in range(4) if strb >> k & 1)
        for f in reg.fields:
            key = (reg.name, f.name)
            fmask = (1 << f.width) - 1
            bits, en = (data >> f.lsb) & fmask, (enable >> f.lsb) & fmask
            if f.access is Access.RW:
                self.rw[key] = (self.rw[key] & ~en) | (bits & en)
            elif f.access is Access.TOW and bits & en:
                self.bits[key] ^= 1


class Env:
    def __init__(self, dut, pause=None, seed=1, manual=False):
        self.dut = dut
        self.regmap = control_test_map()
        self.model = Model(dut, self.regmap)
        self.rng = random.Random(seed)
        for name in ("ap_done", "ap_ready", "ap_idle", "status_error", "status_busy", "cycles_lo",
                     "cycles_hi", "stall_read", "stall_write", "bytes_read", "bytes_written",
                     "active_cycles", "events_hit", "events_flip", "events_level"):
            getattr(dut, name).value = 0
        if manual:
            for name in ("AWVALID", "WVALID", "ARVALID", "BREADY", "RREADY", "AWADDR", "WDATA",
                         "WSTRB", "ARADDR", "AWPROT", "ARPROT"):
                getattr(dut, f"{PREFIX}_{name}").value = 0
            self.master = None
        else:
            self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, PREFIX), dut.clk, dut.rst)
            if pause:
                rng = random.Random(seed + 100)
                ifs = self.master.write_if, self.master.read_if
                channels = [ifs[0].aw_channel, ifs[0].w_channel, ifs[0].b_channel,
                            ifs[1].ar_channel, ifs[1].r_channel]
                for k, ch in enumerate(channels):
                    if pause == "fixed":
                        ch.set_pause_generator(itertools.cycle([0, 1, 1, 0, 0, 1][k:] + [0] * k))
                    else:
                        ch.set_pause_generator(rng.random() < 0.4 for _ in itertools.count())
        self.monitor = AxiMonitor(dut, PREFIX, dut.clk, dut.rst, lite=True)
        self.pulses = {"ap_start": 0, "events_kick": 0}

    async def start(self):
        self.clock = await start_clock_and_reset(self.dut)
        cocotb.start_soon(self._count_pulses())
        return self

    async def _count_pulses(self):
        while True:
            await RisingEdge(self.clock)
            await ReadOnly()
            for name in self.pulses:
                self.pulses[name] += int(getattr(self.dut, name).value)

    async def pulse(self, *names):
        """One-cycle pulse on core input ports."""
        await RisingEdge(self.clock)
        for name in names:
            getattr(self.dut, name).value = 1
        await RisingEdge(self.clock)
        for name in names:
            getattr(self.dut, name).value = 0

    async def read(self, offset: int) -> int:
        resp = await self.master.read(offset, 4)
        assert int(resp.resp) == 0
        return int.from_bytes(resp.data, "little")

    async def check_read(self, offset: int, what: str = ""):
        expected = self.model.read(offset)
        got = await self.read(offset)
        assert got == expected, f"read {offset:#04x} {what}: got {got:#010x}, expected {expected:#010x}"
        return got

    async def write(self, offset: int, value: int, lanes=range(4)):
        """Write the contiguous byte lanes ``lanes`` of ``value`` (strobes = those lanes)."""
        lanes = list(range(min(lanes), max(lanes) + 1))   # AxiLiteMaster strobes a contiguous run
        data = value.to_bytes(4, "little")[lanes[0]:lanes[-1] + 1]
        resp = await self.master.write(offset + lanes[0], data)
        assert int(resp.resp) == 0
        self.model.write(offset, value, sum(1 << k for k in lanes))

    async def finish(self):
        await ClockCycles(self.clock, 4)
        self.monitor.check()

    def drive(self, register: str, field: str, value: int):
        """Drive an RO input port and tell the model."""
        reg = self.regmap[register]
        self.model.port(reg, reg[field]).value = value
        self.model.ro[(register, field)] = value

    def drive_ro_inputs(self):
        for reg in self.regmap:
            for f in reg.fields:
                if f.access is Access.RO and f.constant is None:
                    self.drive(reg.name, f.name, self.rng.getrandbits(f.width))


@cocotb.test()
async def reset_values_build_info_and_unmapped(dut):
    env = await Env(dut).start()
    env.drive_ro_inputs()
    for offset in range(0, 256, 4):
        await env.check_read(offset, "after reset")
    # Build information comes from the config the map was made from.
    assert await env.read(0x80) == BUILD_MAGIC
    assert await env.read(0x88) == 1 and await env.read(0x8C) == CONFIG.m
    assert await env.read(0x90) == CONFIG.pm and await env.read(0x94) == CONFIG.pn
    assert await env.read(0xB4) == CONFIG.acc_width and await env.read(0xB8) == 187_500_000   # CLOCK_HZ
    # RW outputs show their reset values on the core ports.
    assert int(dut.scratch_low.value) == 0x5A and int(dut.scratch_mid.value) == 0xABC
    assert int(dut.scratch_top.value) == 1
    # Writes to unmapped and read-only offsets change nothing.
    for offset in (0x18, 0x24, 0x3C, 0xC8, 0xDC, 0xE8, 0xFC, 0x60, 0x80, 0xB8, 0xC4):
        await env.write(offset, 0xFFFFFFFF)
    for offset in range(0, 256, 4):
        await env.check_read(offset, "after writes to unmapped / RO offsets")
    await env.finish()


@cocotb.test()
@cocotb.parametrize(pause=[None, "fixed", "random"])
async def rw_registers_with_strobes(dut, pause):
    env = await Env(dut, pause=pause, seed=2).start()
    rw_regs = [r for r in env.regmap if any(f.access is Access.RW for f in r.fields)]
    for step in range(120 if pause else 60):
        reg = env.rng.choice(rw_regs)
        first = env.rng.randrange(4)
        lanes = range(first, env.rng.randrange(first, 4) + 1)
        await env.write(reg.offset, env.rng.getrandbits(32), lanes)
        if step % 3 == 0:
            env.drive_ro_inputs()
            await env.check_read(env.rng.choice(rw_regs).offset, f"step {step}")
    for reg in rw_regs:
        await env.check_read(reg.offset, "final")
        for f in reg.fields:
            if f.access is Access.RW:
                port = getattr(dut, field_port_name(reg, f))
                assert int(port.value) == env.model.rw[(reg.name, f.name)], f"port of {reg.name}.{f.name}"
    # Concurrent reads and writes (independent AXI channels) with the model checked afterwards.
    writes = [(r.offset, env.rng.getrandbits(32)) for r in rw_regs[:6]]

    async def do_writes():
        for offset, value in writes:
            await env.write(offset, value)

    async def do_reads():
        for r in env.regmap:
            if r.is_constant:
                assert await env.read(r.offset) == r.reset_value

    w, rd = cocotb.start_soon(do_writes()), cocotb.start_soon(do_reads())
    await w
    await rd
    for offset, _ in writes:
        await env.check_read(offset, "after concurrent traffic")
    await env.finish()


@cocotb.test()
@cocotb.parametrize(pause=[None, "random"])
async def hls_handshake_and_interrupt(dut, pause):
    env = await Env(dut, pause=pause, seed=3).start()
    dut.ap_idle.value = 1
    assert await env.read(0x00) == 0b0100, "AP_IDLE must read the core's ap_idle"
    # AP_START: one pulse per write of 1; writing 0 or with the lane disabled does nothing.
    await env.write(0x00, 1)
    await ClockCycles(env.clock, 2)
    assert env.pulses["ap_start"] == 1
    await env.write(0x00, 0)
    await env.write(0x00, 0x100, lanes=[1])
    await ClockCycles(env.clock, 2)
    assert env.pulses["ap_start"] == 1
    assert await env.read(0x00) == 0b0100, "AP_START reads as 0"
    dut.ap_idle.value = 0
    # ap_done / ap_ready: COR bits in CTRL, no ISR while IER is clear, no interrupt.
    await env.pulse("ap_done", "ap_ready")
    assert await env.read(0x00) == 0b1010
    assert await env.read(0x00) == 0b0000, "AP_DONE/AP_READY clear on read"
    assert await env.read(0x0C) == 0 and not int(dut.interrupt.value)
    # Enable the done interrupt only.
    await env.write(0x08, 0b01)
    await env.write(0x04, 1)
    await env.pulse("ap_ready")
    assert await env.read(0x0C) == 0 and not int(dut.interrupt.value)
    await env.pulse("ap_done")
    await RisingEdge(env.clock)
    assert int(dut.interrupt.value), "interrupt not raised on ap_done with GIER and IER.DONE"
    assert await env.read(0x0C) == 0b01
    await env.write(0x04, 0)   # GIER gates the output, not the status
    await RisingEdge(env.clock)
    assert not int(dut.interrupt.value)
    await env.write(0x04, 1)
    await RisingEdge(env.clock)
    assert int(dut.interrupt.value)
    await env.write(0x0C, 0b01)  # toggle-on-write clears it
    await RisingEdge(env.clock)
    assert not int(dut.interrupt.value) and await env.read(0x0C) == 0
    # IER.READY: ready events now interrupt; an IER bit cleared masks a pending ISR bit.
    await env.write(0x08, 0b10)
    await env.pulse("ap_ready")
    await RisingEdge(env.clock)
    assert int(dut.interrupt.value) and await env.read(0x0C) == 0b10
    await env.write(0x08, 0b00)
    await RisingEdge(env.clock)
    assert not int(dut.interrupt.value) and await env.read(0x0C) == 0b10
    await env.write(0x0C, 0b10)
    assert await env.read(0x0C) == 0
    await env.write(0x0C, 0b01)   # toggle on write also sets (as the HLS ISR)
    assert await env.read(0x0C) == 0b01
    await env.write(0x0C, 0b01)
    # The ap_done / ap_ready pulses since the last CTRL read are pending there.
    assert await env.read(0x00) == 0b1010
    # AUTO_RESTART: every ap_done starts again until it is cleared.
    await env.write(0x00, 0x80)
    assert await env.read(0x00) == 0x80 and int(dut.ctrl_auto_restart.value) == 1
    before = env.pulses["ap_start"]
    for _ in range(3):
        await env.pulse("ap_done")
    await ClockCycles(env.clock, 2)
    assert env.pulses["ap_start"] == before + 3
    await env.write(0x00, 0)
    await env.pulse("ap_done")
    await ClockCycles(env.clock, 2)
    assert env.pulses["ap_start"] == before + 3
    await env.finish()


@cocotb.test()
async def generic_access_types(dut):
    env = await Env(dut, pause="random", seed=4).start()
    off = 0xF4
    env.drive("EVENTS", "LEVEL", 0b10110)
    await env.check_read(off)                       # ID constant 2, LEVEL read through
    await env.pulse("events_hit", "events_flip")
    env.model.bits[("EVENTS", "HIT")] = env.model.bits[("EVENTS", "FLIP")] = 1
    assert await env.check_read(off) & 1 == 1
    assert await env.check_read(off) & 1 == 0, "COR bit must clear on read"
    assert (await env.check_read(off)) >> 9 & 1 == 1, "TOW bit survives reads"
    await env.write(off, 1 << 9)                    # toggle: clears
    await env.check_read(off)
    await env.write(off, 1 << 9)                    # toggle: sets
    await env.check_read(off)
    await env.write(off, 1 << 9, lanes=[2, 3])      # its lane is off: nothing happens
    await env.check_read(off)
    # SC: a pulse per write of 1 with its lane enabled, never otherwise; reads 0.
    await env.write(off, 1 << 17)
    await env.write(off, 1 << 17)
    await env.write(off, 0)
    await env.write(off, 1 << 17, lanes=[0, 1])
    await ClockCycles(env.clock, 2)
    assert env.pulses["events_kick"] == 2
    await env.check_read(off)
    await env.finish()


# ---- hand-driven bus: ordering, latency and same-cycle events -----------------------------
def sig(dut, name):
    return getattr(dut, f"{PREFIX}_{name}")


async def settle(clock):
    await RisingEdge(clock)
    await ReadOnly()


async def manual_write(env, addr, data, strb=0xF, aw_delay=0, w_delay=0, event=None):
    """Drive AW after ``aw_delay`` cycles and W after ``w_delay`` cycles (each held until its
    handshake), then take B. ``event``: core port to pulse in the cycle the write takes effect.
    Returns the cycles from the later handshake to BVALID."""
    dut, clock = env.dut, env.clock
    pending = {"AW": aw_delay, "W": w_delay}
    done_at, cycle, b_at = {}, 0, None
    sig(dut, "BREADY").value = 1
    while b_at is None:
        await RisingEdge(clock)
        cycle += 1
        if event is not None and len(done_at) == 2 and cycle == max(done_at.values()) + 1:
            getattr(dut, event).value = 1
        elif event is not None:
            getattr(dut, event).value = 0
        for ch in ("AW", "W"):
            if ch not in done_at and cycle > pending[ch]:
                sig(dut, f"{ch}VALID").value = 1
                if ch == "AW":
                    sig(dut, "AWADDR").value = addr
                else:
                    sig(dut, "WDATA").value = data
                    sig(dut, "WSTRB").value = strb
            elif ch in done_at:
                sig(dut, f"{ch}VALID").value = 0
        await ReadOnly()
        for ch in ("AW", "W"):
            if ch not in done_at and int(sig(dut, f"{ch}VALID").value) and int(sig(dut, f"{ch}READY").value):
                done_at[ch] = cycle
        if int(sig(dut, "BVALID").value):
            b_at = cycle
            assert int(sig(dut, "BRESP").value) == 0
    await RisingEdge(clock)
    for ch in ("AW", "W"):
        sig(dut, f"{ch}VALID").value = 0
    sig(dut, "BREADY").value = 0
    if event is not None:
        getattr(dut, event).value = 0
    env.model.write(addr, data, strb)
    return b_at - max(done_at.values())


async def manual_read(env, addr, event=None):
    """AR in the next cycle (with ``event`` pulsed in that same cycle); returns (data, latency)."""
    dut, clock = env.dut, env.clock
    await RisingEdge(clock)
    sig(dut, "ARVALID").value = 1
    sig(dut, "ARADDR").value = addr
    if event is not None:
        getattr(dut, event).value = 1
    await ReadOnly()
    assert int(sig(dut, "ARREADY").value), "ARREADY low with no read pending"
    await RisingEdge(clock)
    sig(dut, "ARVALID").value = 0
    sig(dut, "RREADY").value = 1
    if event is not None:
        getattr(dut, event).value = 0
    latency = 1
    await ReadOnly()
    while not int(sig(dut, "RVALID").value):
        await settle(clock)
        latency += 1
    data = int(sig(dut, "RDATA").value)
    await RisingEdge(clock)
    sig(dut, "RREADY").value = 0
    return data, latency


@cocotb.test()
async def manual_ordering_latency_and_events(dut):
    env = await Env(dut, manual=True, seed=5).start()
    # AW and W in either order or together; non-contiguous strobes.
    for k, (aw_delay, w_delay) in enumerate([(0, 0), (0, 3), (4, 0), (1, 2)]):
        value = env.rng.getrandbits(32)
        latency = await manual_write(env, 0x10 + 4 * k, value, strb=0b1011, aw_delay=aw_delay, w_delay=w_delay)
        assert latency == 2, f"BVALID {latency} cycles after the later of AW/W (documented: 2)"
        data, rlat = await manual_read(env, 0x10 + 4 * k)
        assert data == env.model.read(0x10 + 4 * k) and rlat == 1, (hex(data), rlat)
    # Address bits 1:0 are ignored.
    data, _ = await manual_read(env, 0x10 + 3)
    assert data == env.model.read(0x10)
    # COR: an event in the cycle of the clearing read is kept (the read returns the old value).
    data, _ = await manual_read(env, 0xF4, event="events_hit")
    assert data & 1 == 0
    data, _ = await manual_read(env, 0xF4)
    assert data & 1 == 1, "an event in the same cycle as a clearing read was lost"
    data, _ = await manual_read(env, 0xF4)
    assert data & 1 == 0
    # TOW: with the bit set, a toggling write clears it unless an event comes in that cycle.
    await manual_read(env, 0xF4, event="events_flip")
    data, _ = await manual_read(env, 0xF4)
    assert data >> 9 & 1
    await manual_write(env, 0xF4, 1 << 9, event="events_flip")
    data, _ = await manual_read(env, 0xF4)
    assert data >> 9 & 1, "an event in the same cycle as a toggling write was lost"
    await manual_write(env, 0xF4, 1 << 9)
    data, _ = await manual_read(env, 0xF4)
    assert not data >> 9 & 1
    await env.finish()
