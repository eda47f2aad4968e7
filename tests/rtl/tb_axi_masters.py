"""cocotb tests of the AXI4 read and write masters (toplevel: tests.rtl.test_axi_masters harness).

Memory is :class:`tests.harness.axi_memory.AxiMemory` (cocotbext-axi based) on ``m_axi_*``; a window of
it is pre-filled with a random pattern and compared in full after every test, so any byte
written outside the commanded ranges fails the test. :class:`sim.axi_monitor.AxiMonitor`
checks the 4 KiB rule, burst lengths, LAST positions and handshake stability on every channel.
"""

import itertools
import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotb.types import LogicArray
from cocotbext.axi import AxiBus, AxiResp

from tests.harness.axi_memory import AxiMemory
from sim.axi_monitor import AxiMonitor
from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.streams import StreamSink, StreamSource

#: Base of the memory window: high address bits set (the model holds 2**62 bytes, sparse).
BASE = 0x3000_0012_3450_0000
WINDOW = 1 << 20
ADDR_WIDTH = 64
PAGE = 4096

#: Per-channel fixed pause patterns (1 = paused) for the "fixed" mode.
FIXED_PAUSES = {"AR": [0, 1], "R": [0, 0, 0, 1, 1], "AW": [0, 1, 1], "W": [0, 0, 1], "B": [1, 0, 0, 0]}


class _OneBit:
    """A 1-bit handle whose ``value`` is a LogicArray (for tests.harness.streams.StreamSink)."""

    def __init__(self, handle):
        self.handle = handle

    @property
    def value(self):
        return LogicArray(int(self.handle.value), 1)


def pause_maker(mode: str, seed: int):
    def make(channel):
        if mode == "none":
            return None
        if mode == "fixed":
            return itertools.cycle(FIXED_PAUSES[channel])
        rng = random.Random(f"{seed}-{channel}")
        return (rng.random() < 0.35 for _ in itertools.count())
    return make


class Env:
    """Clock, reset, memory model with a pattern-filled window, monitor, stream drivers."""

    def __init__(self, dut, pause="none", read_latency=0, write_latency=0, read_faults=(),
                 write_faults=(), fault_resp=AxiResp.SLVERR, seed_offset=0):
        self.dut = dut
        self.p = tb_params()
        self.dw = self.p["data_width"]
        self.B = self.dw // 8
        self.max_burst = self.p["max_burst"]
        self.seed = self.p.get("seed", 0) * 1000 + seed_offset
        self.rng = random.Random(self.seed)
        self.pause = pause
        self.mem = AxiMemory(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst,
                             read_latency=read_latency, write_latency=write_latency,
                             read_faults=read_faults, write_faults=write_faults, fault_resp=fault_resp)
        self.pattern = bytearray(self.rng.randbytes(WINDOW))
        self.mem.write(BASE, self.pattern)
        self.expected = bytearray(self.pattern)
        self.monitor = AxiMonitor(dut, "m_axi", dut.clk, dut.rst, max_burst=self.max_burst,
                                  max_outstanding_reads=self.p["max_outstanding"])
        self.mem.set_pause_generators(pause_maker(pause, self.seed))
        dut.rd_clear_error.value = 0
        dut.wr_clear_error.value = 0
        self.stall = 0.0 if pause == "none" else 0.3
        # Stream drivers are created before the reset so that no valid/ready is left over
        # from an earlier test when the masters come out of reset.
        clock, rng = dut.clk, random.Random(self.seed + 7)
        self.rd_cmd = StreamSource(dut, "rd_cmd", clock, idle=0.0, rng=rng)
        self.rd_data = StreamSink(dut, "rd_data", clock, stall=self.stall, rng=rng)
        self.wr_cmd = StreamSource(dut, "wr_cmd", clock, idle=0.0, rng=rng)
        self.wr_data = StreamSource(dut, "wr_data", clock, idle=self.stall, rng=rng)
        self.wr_done = StreamSink(dut, "wr_done", clock, stall=self.stall, rng=rng)
        # tests.harness.streams.StreamSink reads payloads with .to_unsigned(), which a 1-bit handle's
        # value (a Logic) lacks: give it a LogicArray view of the 1-bit done payload.
        self.wr_done.payload = _OneBit(self.wr_done.payload)

    async def start(self):
        self.clock = await start_clock_and_reset(self.dut)
        return self

    # -- reads -----------------------------------------------------------------------------
    def read_expectation(self, cmds):
        """Data payloads (``data | last << dw``) the read master must produce for ``cmds``."""
        beats = []
        for addr, length in cmds:
            raw = bytes(self.expected[addr - BASE: addr - BASE + length])
            words = -(-length // self.B)
            raw += bytes(words * self.B - length)
            for j in range(words):
                word = int.from_bytes(raw[j * self.B:(j + 1) * self.B], "little")
                beats.append(word | (int(j == words - 1) << self.dw))
        return beats

    async def run_reads(self, cmds, timeout=None):
        expected = self.read_expectation(cmds)
        send = cocotb.start_soon(self.rd_cmd.send([a | (n << ADDR_WIDTH) for a, n in cmds]))
        self.rd_data.received = []
        got = await self.rd_data.receive(len(expected), timeout_cycles=timeout or 40 * len(expected) + 2000)
        await send
        return got, expected

    # -- writes ----------------------------------------------------------------------------
    def write_words(self, cmds, contents):
        """Words for the write master; junk past each command's end must never be written."""
        words = []
        for (addr, length), payload in zip(cmds, contents):
            n = -(-length // self.B)
            raw = payload + self.rng.randbytes(n * self.B - length)
            words += [int.from_bytes(raw[j * self.B:(j + 1) * self.B], "little") for j in range(n)]
        return words

    async def run_writes(self, cmds, contents=None, apply=True):
        if contents is None:
            contents = [self.rng.randbytes(n) for _, n in cmds]
        words = self.write_words(cmds, contents)
        if apply:
            for (addr, length), payload in zip(cmds, contents):
                self.expected[addr - BASE: addr - BASE + length] = payload
        cmd_task = cocotb.start_soon(self.wr_cmd.send([a | (n << ADDR_WIDTH) for a, n in cmds]))
        data_task = cocotb.start_soon(self.wr_data.send(words))
        self.wr_done.received = []
        done = await self.wr_done.receive(len(cmds), timeout_cycles=40 * len(words) + 2000 * len(cmds))
        await cmd_task
        await data_task
        return done

    # -- final checks ----------------------------------------------------------------------
    async def wait_idle(self, limit=5000):
        for _ in range(limit):
            await RisingEdge(self.clock)
            await ReadOnly()
            if int(self.dut.rd_idle.value) and int(self.dut.wr_idle.value):
                return
        raise AssertionError(f"masters not idle after {limit} cycles")

    def check_memory(self):
        actual = self.mem.read(BASE, WINDOW)
        if actual != self.expected:
            diffs = [i for i in range(WINDOW) if actual[i] != self.expected[i]]
            first = diffs[0]
            raise AssertionError(
                f"{len(diffs)} bytes differ in the window, first at {BASE + first:#x}: "
                f"got {actual[first]:#04x}, expected {self.expected[first]:#04x} "
                f"(pattern {self.pattern[first]:#04x})")

    async def finish(self):
        await self.wait_idle()
        await ClockCycles(self.clock, 5)
        self.monitor.check()
        assert not self.mem.protocol_errors, self.mem.protocol_errors
        self.check_memory()


def sweep_commands(B: int, max_burst: int, rng: random.Random):
    """(page offset or None, length) specs covering lanes, 4 KiB boundaries and long runs.

    ``None`` as position means "any address with this lane offset"; an int is a position
    relative to a 4 KiB page start (may be negative: just before the boundary).
    """
    specs = []
    lengths = sorted({1, 2, B - 1, B, B + 1, 2 * B - 1, 2 * B, 3 * B + 1})
    for off in range(2 * B):
        for length in lengths:
            specs.append(("lane", off % B, length))
    for before in (1, 2, B - 1, B, B + 1, 3 * B + 3):
        for length in (2, B + 1, 2 * B, 5 * B + 3, before + 1, before):
            specs.append(("page", -before, length))
    specs.append(("page", 3, 2 * PAGE + 3 * B + 5))           # two boundaries, many bursts
    specs.append(("page", 0, max_burst * B))                 # one exact maximal burst
    specs.append(("page", PAGE - max_burst * B, max_burst * B))  # maximal burst ending on the page end
    specs.append(("page", 0, PAGE))                          # one whole page
    for _ in range(24):
        specs.append(("lane", rng.randrange(B), rng.randrange(1, 3000)))
    return specs


def place(specs, B: int, rng: random.Random, start: int, gap: bool):
    """Give every spec a distinct, non-overlapping address range from ``start`` on (gaps of
    untouched bytes between them when ``gap``); returns ``[(addr, length)]``."""
    cmds, cursor = [], start
    for kind, pos, length in specs:
        cursor += rng.randrange(1, 3 * B) if gap else 0
        if kind == "lane":
            addr = cursor + (pos - cursor) % B
        else:
            addr = -(-(cursor - pos) // PAGE) * PAGE + pos   # first such address >= cursor
        cmds.append((addr, length))
        cursor = addr + length
    if cursor > BASE + WINDOW:
        raise ValueError("test commands do not fit the memory window")
    return cmds


def check_beats(got, expected, dw, what="read"):
    assert len(got) == len(expected), f"{what}: {len(got)} beats, expected {len(expected)}"
    for k, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            raise AssertionError(
                f"{what} beat {k}: got data {g & ((1 << dw) - 1):#x} last {g >> dw}, "
                f"expected {e & ((1 << dw) - 1):#x} last {e >> dw}")


@cocotb.test()
@cocotb.parametrize(pause=["none", "fixed", "random"])
async def read_sweep(dut, pause):
    """Lanes x lengths, 4 KiB crossings, long runs and random ranges, back to back."""
    env = await Env(dut, pause).start()
    specs = sweep_commands(env.B, env.max_burst, env.rng)
    env.rng.shuffle(specs)
    # Reads may overlap: place them without gaps but in shuffled order, plus a second pass.
    cmds = place(specs, env.B, env.rng, BASE, gap=True)
    got, expected = await env.run_reads(cmds)
    check_beats(got, expected, env.dw)
    await env.finish()
    st = env.monitor.stats
    assert st["page_end_bursts"] >= 5, st
    assert st["max_burst"] == env.max_burst, st
    assert not int(dut.rd_error.value)
    dut._log.info(f"read_sweep[{pause}]: {len(cmds)} commands, {len(expected)} beats, monitor {st}")


@cocotb.test()
@cocotb.parametrize(pause=["none", "fixed", "random"])
async def write_sweep(dut, pause):
    """The same shapes written to disjoint ranges with untouched gaps between them."""
    env = await Env(dut, pause, seed_offset=1).start()
    specs = sweep_commands(env.B, env.max_burst, env.rng)
    env.rng.shuffle(specs)
    cmds = place(specs, env.B, env.rng, BASE + 64, gap=True)
    done = await env.run_writes(cmds)
    assert done == [0] * len(cmds), f"done errors: {[k for k, d in enumerate(done) if d]}"
    await env.finish()
    st = env.monitor.stats
    assert st["page_end_bursts"] >= 5 and st["max_burst"] == env.max_burst, st
    assert not int(dut.wr_error.value)
    dut._log.info(f"write_sweep[{pause}]: {len(cmds)} commands, monitor {st}")


@cocotb.test()
async def concurrent_read_write(dut):
    """Both masters at once on the shared port (random pauses, read latency): the layer case."""
    env = await Env(dut, "random", read_latency=12, write_latency=5, seed_offset=2).start()
    half = BASE + WINDOW // 2
    read_specs = sweep_commands(env.B, env.max_burst, env.rng)[-30:]
    write_specs = sweep_commands(env.B, env.max_burst, env.rng)[-30:]
    rcmds = place(read_specs, env.B, env.rng, BASE, gap=True)
    wcmds = place(write_specs, env.B, env.rng, half, gap=True)
    assert max(a + n for a, n in rcmds) <= half
    reads = cocotb.start_soon(env.run_reads(rcmds))
    done = await env.run_writes(wcmds)
    got, expected = await reads
    check_beats(got, expected, env.dw)
    assert done == [0] * len(wcmds)
    await env.finish()


@cocotb.test()
async def error_responses(dut):
    """SLVERR/DECERR on reads and writes: every command completes, errors are reported, no hang."""
    B = tb_params()["data_width"] // 8
    bad_read = (BASE + 0x3000, BASE + 0x3000 + 3 * B)
    bad_write = (BASE + 0x9000 + 5, BASE + 0x9000 + 6)
    env = await Env(dut, "random", read_faults=[bad_read], write_faults=[bad_write],
                    fault_resp=AxiResp.SLVERR, seed_offset=3).start()
    # Reads: good, a long one through the faulty words (still returns all beats), good.
    rcmds = [(BASE + 0x1000 + 3, 100), (BASE + 0x2F00 + 1, 0x400), (BASE + 0x5000, 64)]
    got, expected = await env.run_reads(rcmds[:1])
    check_beats(got, expected, env.dw)
    assert not int(dut.rd_error.value), "error before any failing read"
    # Words the memory fails read as zero (RRESP=SLVERR); the master passes them through.
    saved = bytes(env.expected)
    lo, hi = (bad_read[0] - BASE) // B * B, -(-(bad_read[1] - BASE) // B) * B
    env.expected[lo:hi] = bytes(hi - lo)
    got, expected = await env.run_reads(rcmds[1:2])
    env.expected[:] = saved
    check_beats(got, expected, env.dw, "read through faulty words")
    await RisingEdge(env.clock)
    assert int(dut.rd_error.value), "SLVERR on a read was not reported"
    got, expected = await env.run_reads(rcmds[2:])
    check_beats(got, expected, env.dw)
    assert int(dut.rd_error.value), "error must stay set until cleared"
    dut.rd_clear_error.value = 1
    await RisingEdge(env.clock)
    dut.rd_clear_error.value = 0
    await RisingEdge(env.clock)
    assert not int(dut.rd_error.value), "clear_error did not clear the read error"

    # Writes: a good command, one whose burst covers the faulty byte, a good one.
    wcmds = [(BASE + 0x8000 + 2, 77), (BASE + 0x8F80, 0x100), (BASE + 0xA000 + 1, 40)]
    contents = [env.rng.randbytes(n) for _, n in wcmds]
    for (addr, length), payload in zip(wcmds, contents):
        env.expected[addr - BASE: addr - BASE + length] = payload
    # The failing burst's beats that contain the bad byte are dropped by the memory: restore
    # the pattern over the whole bus word that holds it.
    word = (bad_write[0] - BASE) // B * B
    env.expected[word: word + B] = env.pattern[word: word + B]
    done = await env.run_writes(wcmds, contents, apply=False)
    assert done == [0, 1, 0], f"done errors {done}, expected [0, 1, 0]"
    await RisingEdge(env.clock)
    assert int(dut.wr_error.value), "SLVERR on a write was not reported"
    dut.wr_clear_error.value = 1
    await RisingEdge(env.clock)
    dut.wr_clear_error.value = 0
    await RisingEdge(env.clock)
    assert not int(dut.wr_error.value)
    await env.finish()


@cocotb.test()
async def decerr_and_zero_length(dut):
    """DECERR counts as an error too; a zero-length command is dropped and flagged."""
    B = tb_params()["data_width"] // 8
    env = await Env(dut, "fixed", read_faults=[(BASE + 0x4000, BASE + 0x4001)],
                    write_faults=[(BASE + 0x6000, BASE + 0x6001)], fault_resp=AxiResp.DECERR,
                    seed_offset=4).start()
    got, _ = await env.run_reads([(BASE + 0x4000 - 2 * B, 4 * B)])
    assert len(got) == 4
    await RisingEdge(env.clock)
    assert int(dut.rd_error.value)
    done = await env.run_writes([(BASE + 0x6000, 8)], apply=False)
    assert done == [1]
    # Zero-length commands between good ones: reads give no beats, writes a done with error.
    dut.rd_clear_error.value = 1
    dut.wr_clear_error.value = 1
    await RisingEdge(env.clock)
    dut.rd_clear_error.value = 0
    dut.wr_clear_error.value = 0
    cmds = [(BASE + 0x100, 9), (BASE + 0x200, 0), (BASE + 0x300 + 1, 2 * B)]
    got, expected = await env.run_reads(cmds)
    check_beats(got, expected, env.dw)
    await RisingEdge(env.clock)
    assert int(dut.rd_error.value), "zero-length read not flagged"
    wcmds = [(BASE + 0x7000, 9), (BASE + 0x7100, 0), (BASE + 0x7200 + 3, B)]
    done = await env.run_writes(wcmds)
    assert done == [0, 1, 0], done
    await env.finish()


@cocotb.test()
async def full_throughput(dut):
    """No pauses: long transfers stream at one beat per cycle in both directions at once, also
    when they start off-alignment (realignment costs no cycle)."""
    env = await Env(dut, "none", seed_offset=5).start()
    length = 64 * 1024 if env.B >= 8 else 32 * 1024
    beats = length // env.B
    rcmds = [(BASE + 3, length - env.B)]          # beats + 1 R beats -> beats output beats
    wcmds = [(BASE + WINDOW // 2 + 5, length - env.B)]

    async def count_cycles(valid, ready, n):
        """Cycles from the first to the n-th handshake on a valid/ready pair."""
        seen, first, cycle = 0, None, 0
        while seen < n:
            await RisingEdge(env.clock)
            await ReadOnly()
            cycle += 1
            if int(valid.value) and int(ready.value):
                seen += 1
                first = cycle if first is None else first
        return cycle - first + 1

    r_cycles = cocotb.start_soon(count_cycles(dut.m_axi_RVALID, dut.m_axi_RREADY, beats))
    w_cycles = cocotb.start_soon(count_cycles(dut.m_axi_WVALID, dut.m_axi_WREADY, beats))
    reads = cocotb.start_soon(env.run_reads(rcmds))
    await env.run_writes(wcmds)
    got, expected = await reads
    check_beats(got, expected, env.dw)
    r, w = await r_cycles, await w_cycles
    await env.finish()
    dut._log.info(f"full_throughput: {beats} beats, R {beats / r:.4f} beats/cycle, W {beats / w:.4f}")
    assert beats / r >= 0.97, f"read: {beats} beats took {r} cycles"
    assert beats / w >= 0.97, f"write: {beats} beats took {w} cycles"


@cocotb.test()
async def outstanding_reads(dut):
    """With memory latency the read master keeps max_outstanding bursts in flight, never more;
    idle is low while anything is unfinished."""
    env = await Env(dut, "none", read_latency=30, seed_offset=6).start()
    B = env.B
    cmds = [(BASE + k * 64 * B, 2 * B) for k in range(40)]    # many 2-beat bursts
    await RisingEdge(env.clock)
    assert int(dut.rd_idle.value) and int(dut.wr_idle.value)
    task = cocotb.start_soon(env.run_reads(cmds))
    await ClockCycles(env.clock, 3)
    await ReadOnly()
    assert not int(dut.rd_idle.value), "read master idle with commands in flight"
    got, expected = await task
    check_beats(got, expected, env.dw)
    await env.finish()
    assert env.monitor.stats["peak_reads"] == env.p["max_outstanding"], env.monitor.stats


@cocotb.test()
async def stop_drains_without_writing(dut):
    """``stop`` (an abort) in the middle of a long read and a long write: after it no AR or AW
    handshake but one already presented, the W beats of bursts already issued (after one already
    presented) go out with WSTRB = 0 and take no word from ``wr_data``, bursts in flight return,
    both masters become quiet with nothing outstanding, and memory holds exactly a prefix of the
    commanded write."""
    env = await Env(dut, "random", read_latency=6, write_latency=4, seed_offset=7).start()
    B, burst = env.B, env.max_burst
    waddr, wlen = BASE + 0x20000 + 3, 24 * burst * B + 5
    raddr, rlen = BASE + 0x60000 + 1, 24 * burst * B
    payload = env.rng.randbytes(wlen)
    seen = dict.fromkeys(("cycle", "AR", "AW", "W", "late AR", "late AW", "presented W", "drained", "late data"), 0)
    stop_at = {"cycle": None}   # the first cycle whose handshakes happen with stop high
    strobed = []

    async def watch():
        while True:
            await RisingEdge(env.clock)
            await ReadOnly()
            seen["cycle"] += 1
            late = stop_at["cycle"] is not None and seen["cycle"] >= stop_at["cycle"]
            if seen["cycle"] == stop_at["cycle"]:
                # A W beat already presented (a register loaded before the stop) keeps its strobe.
                seen["presented W"] = int(dut.m_axi_WVALID.value)
            for ch in ("AR", "AW", "W"):
                if int(getattr(dut, f"m_axi_{ch}VALID").value) and int(getattr(dut, f"m_axi_{ch}READY").value):
                    seen[ch] += 1
                    if late and ch == "W":
                        seen["drained"] += 1
                        if seen["presented W"]:
                            seen["presented W"] = 0
                        elif int(dut.m_axi_WSTRB.value):
                            strobed.append((seen["cycle"], int(dut.m_axi_WSTRB.value)))
                    elif late:
                        seen[f"late {ch}"] += 1
            if late and int(dut.wr_data__valid.value) and int(dut.wr_data__ready.value):
                seen["late data"] += 1

    watcher = cocotb.start_soon(watch())
    words = env.write_words([(waddr, wlen)], [payload])
    tasks = [cocotb.start_soon(env.wr_cmd.send([waddr | (wlen << ADDR_WIDTH)])),
             cocotb.start_soon(env.wr_data.send(words)),
             cocotb.start_soon(env.rd_cmd.send([raddr | (rlen << ADDR_WIDTH)]))]
    await env.rd_data.receive(3 * burst)           # both transfers are well under way ...
    assert 0 < seen["W"] < len(words), seen
    await RisingEdge(env.clock)
    dut.rd_stop.value = 1                          # ... when the abort comes (driven as a register)
    dut.wr_stop.value = 1
    dut.rd_data__ready.value = 1                   # returning bursts are drained
    stop_at["cycle"] = seen["cycle"] + 1
    for _ in range(20000):
        await RisingEdge(env.clock)
        await ReadOnly()
        if int(dut.rd_quiet.value) and int(dut.wr_quiet.value):
            break
    else:
        raise AssertionError(f"masters not quiet 20000 cycles after stop: {seen}")
    await ClockCycles(env.clock, 20)
    watcher.cancel()
    for task in tasks:
        task.cancel()
    env.monitor.check()                             # every burst answered, no rule broken
    assert not env.mem.protocol_errors, env.mem.protocol_errors
    assert strobed == [], f"W beats with bytes enabled after stop: {strobed[:4]}"
    assert seen["late AR"] <= 1 and seen["late AW"] <= 1 and seen["late data"] == 0, seen
    assert seen["drained"] > 0, f"no burst was in flight at the stop: {seen}"
    # Memory: a prefix of the command was written, the rest of the window is the pattern.
    actual = env.mem.read(BASE, WINDOW)
    lo = waddr - BASE
    mine = actual[lo:lo + wlen]
    first_new = next((i for i in range(wlen) if mine[i] != payload[i]), wlen)
    last_old = max((i for i in range(wlen) if mine[i] != env.pattern[lo + i]), default=-1)
    assert last_old < first_new, (f"not a prefix: byte {last_old} was written but byte {first_new} "
                                  f"was not (of {wlen})")
    assert 0 < first_new < wlen, first_new
    assert actual[:lo] == env.pattern[:lo] and actual[lo + wlen:] == env.pattern[lo + wlen:]
    dut._log.info(f"stop_drains_without_writing: {seen}, {first_new} of {wlen} bytes written")
