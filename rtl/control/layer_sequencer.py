"""The accelerator's run state machine: AP_START, descriptor check, run, AP_DONE."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..error_codes import ErrorCode
from ..registers import RUN_LIST_ENTRY_BYTES, control_register_map
from .layer_check import LayerCheck, descriptor_layout
from .run_list import ENTRY_BITS, descriptor_values, entry_field, entry_unused_bits
from .run_signature import RunSignature

__all__ = ["LayerSequencer"]


class LayerSequencer(wiring.Component):
    """IDLE -> CHECK -> CHECKING -> RUN -> FINISH -> IDLE (a refused descriptor skips RUN);
    an abort goes RUN -> STOP -> FLUSH -> FINISH. With a run list, IDLE -> LIST -> (FETCH ->
    ENTRY -> CHECK -> CHECKING -> RUN) per entry -> FINISH.

    Ports
        Vitis-HLS block control: ``ap_start`` In(1) (taken only in IDLE), ``ap_idle`` Out(1),
        ``ap_done``/``ap_ready`` Out(1) one-cycle pulses in FINISH, ``busy`` Out(1) outside IDLE.
        ``desc``: In(descriptor_layout()), the descriptor registers; their copy, taken at
        AP_START (the host may rewrite the registers during a run), is checked by a
        :class:`LayerCheck` inside.
        ``clear``: Out(1) pulse the cycle after AP_START (counters, sticky AXI errors, the
        requantiser); ``launch`` (of ``run``) pulses the cycle before ``running`` rises. Both are
        registers.
        ``run``: Out(:class:`RunSignature`): ``launch`` when the check passes, ``running`` from
        then until ``complete`` (In(1): every group's writes acknowledged and both masters
        idle), the copied descriptor and the check's plan. ``read_error``/``write_error``:
        In(1), sticky AXI errors of the run. ``error``: Out(8), the ``ErrorCode`` of the last run.

    Abort: ``abort`` In(1), a pulse (CTRL.ABORT), is remembered while busy and ignored while
    idle. A run being checked finishes as soon as its check does; a launched run drops
    ``running`` (the issuers stop issuing) and raises ``stop`` Out(1), a register, to the AXI
    masters (no new burst; read data is dropped; issued write bursts finish with no byte
    enabled). Once ``quiet`` (In(1): both masters have no burst outstanding) has been seen
    with ``stop`` up for two cycles, ``flush`` Out(1) (a register) pulses for one cycle to
    reset the datapath, the issuers and the masters, and the run ends in FINISH with
    ``ErrorCode.ABORTED``. Bounded: the masters' outstanding bursts (at most
    ``outstanding_reads`` reads and four writes of at most 256 beats) drain at the memory's
    pace.

    Run list: with ``list_count`` (In(16), RUNLIST_COUNT) non-zero, AP_START walks
    ``list_count`` entries of ``RUN_LIST_ENTRY_BYTES`` from ``list_addr`` (In(64),
    RUNLIST_ADDR) instead of taking ``desc``: LIST refuses a list address that is not a multiple
    of the entry size or a list that passes the top of the address space (BAD_RUN_LIST); per
    entry, ``fetch`` (Out(stream of 64-bit addresses), to the read issuer, offered only while no
    run is launched) asks for its bytes and ``entry`` (In(stream of ``ENTRY_BITS``)) brings them;
    an entry with a bit outside its registers' fields is refused (BAD_RUN_LIST), any other is
    checked and run as a descriptor from the registers would be. ``index`` (Out(16),
    RUNLIST_INDEX) counts the entries finished: AP_DONE comes after the last one or at the first
    that fails, with ``index`` naming it. ``clear`` pulses once per AP_START: the counters and
    the sticky AXI errors cover the whole list. Per entry, fetch to check takes a read round trip
    plus ``ENTRY_BITS / bus`` beats and 2 cycles; a run's ``complete`` to the next fetch 1 cycle.

    Latency: AP_START to the check's start 2 cycles (the check: rtl/control/layer_check.py); ``complete`` to AP_DONE 1 cycle; AP_DONE to
    AP_IDLE 1 cycle.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "ap_start": In(1),
            "ap_idle": Out(1),
            "ap_done": Out(1),
            "ap_ready": Out(1),
            "busy": Out(1),
            "desc": In(descriptor_layout()),
            "clear": Out(1),
            "run": Out(RunSignature()),
            "complete": In(1),
            "read_error": In(1),
            "write_error": In(1),
            "error": Out(8),
            "abort": In(1),
            "stop": Out(1),
            "quiet": In(1),
            "flush": Out(1),
            "list_addr": In(64),
            "list_count": In(16),
            "index": Out(16),
            "fetch": Out(stream.Signature(64)),
            "entry": In(stream.Signature(ENTRY_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.check = check = LayerCheck(self.config)
        run = self.run
        m.d.comb += [check.desc.eq(run.layer), run.plan.eq(check.plan)]
        # `clear` and `launch` are registered pulses: they fan out to every counter and pointer.
        m.d.sync += [self.clear.eq(0), run.launch.eq(0), self.flush.eq(0)]
        aborting = Signal()          # CTRL.ABORT seen during this run
        settle = Signal(2)           # cycles of `stop` before `quiet` is trusted
        with m.If(self.abort & self.busy):
            m.d.sync += aborting.eq(1)
        regmap = control_register_map(self.config)
        entry = self.entry.payload
        entry_desc = descriptor_values(lambda reg, fld: entry_field(regmap, entry, reg, fld))
        entry_bad = entry_unused_bits(regmap, entry)
        top = 1 << self.config.axi_addr_width
        listing = Signal()                      # this AP_START walks a run list
        count = Signal(16)
        entry_addr = Signal(64)
        list_end = Signal(65 + 16)              # list address + count * entry bytes
        misaligned = Signal()
        with m.FSM(name="layer") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.ap_idle.eq(1)
                m.d.sync += [aborting.eq(0), self.stop.eq(0)]
                with m.If(self.ap_start):
                    m.d.sync += [run.layer.eq(self.desc), self.error.eq(ErrorCode.OK), self.clear.eq(1),
                                 self.index.eq(0), listing.eq(self.list_count != 0), count.eq(self.list_count),
                                 entry_addr.eq(self.list_addr),
                                 list_end.eq(self.list_addr + self.list_count * RUN_LIST_ENTRY_BYTES),
                                 misaligned.eq(self.list_addr[:(RUN_LIST_ENTRY_BYTES - 1).bit_length()] != 0)]
                    with m.If(self.list_count != 0):
                        m.next = "LIST"
                    with m.Else():
                        m.next = "CHECK"
            with m.State("LIST"):
                with m.If(misaligned | (list_end > top)):
                    m.d.sync += self.error.eq(ErrorCode.BAD_RUN_LIST)
                    m.next = "FINISH"
                with m.Else():
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += [self.fetch.payload.eq(entry_addr), self.fetch.valid.eq(~aborting)]
                with m.If(aborting):
                    m.d.sync += [self.stop.eq(1), settle.eq(0)]
                    m.next = "STOP"
                with m.Elif(self.fetch.ready):
                    m.next = "ENTRY"
            with m.State("ENTRY"):
                m.d.comb += self.entry.ready.eq(~aborting)
                with m.If(aborting):
                    m.d.sync += [self.stop.eq(1), settle.eq(0)]
                    m.next = "STOP"
                with m.Elif(self.entry.valid):
                    m.d.sync += [getattr(run.layer, name).eq(value) for name, value in entry_desc.items()]
                    m.d.sync += entry_addr.eq(entry_addr + RUN_LIST_ENTRY_BYTES)
                    with m.If(self.read_error):
                        m.d.sync += self.error.eq(ErrorCode.AXI_READ_ERROR)
                        m.next = "FINISH"
                    with m.Elif(entry_bad):
                        m.d.sync += self.error.eq(ErrorCode.BAD_RUN_LIST)
                        m.next = "FINISH"
                    with m.Else():
                        m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += check.start.eq(1)
                m.next = "CHECKING"
            with m.State("CHECKING"):
                with m.If(check.done):
                    with m.If(check.error != ErrorCode.OK):
                        m.d.sync += self.error.eq(check.error)
                        m.next = "FINISH"
                    with m.Elif(aborting):
                        m.d.sync += self.error.eq(ErrorCode.ABORTED)
                        m.next = "FINISH"
                    with m.Else():
                        m.d.sync += run.launch.eq(1)
                        m.next = "LAUNCH"
            with m.State("LAUNCH"):
                # The parts restart on `launch` (this cycle); the run starts the next.
                m.d.sync += run.running.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(aborting):
                    m.d.sync += [run.running.eq(0), self.stop.eq(1), settle.eq(0)]
                    m.next = "STOP"
                with m.Elif(self.complete):
                    m.d.sync += run.running.eq(0)
                    with m.If(self.read_error):
                        m.d.sync += self.error.eq(ErrorCode.AXI_READ_ERROR)
                        m.next = "FINISH"
                    with m.Elif(self.write_error):
                        m.d.sync += self.error.eq(ErrorCode.AXI_WRITE_ERROR)
                        m.next = "FINISH"
                    with m.Elif(listing):
                        m.d.sync += self.index.eq(self.index + 1)
                        m.next = "NEXT"
                    with m.Else():
                        m.next = "FINISH"
            with m.State("NEXT"):
                # `index` has counted the entry just finished.
                with m.If(self.index == count):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "FETCH"
            with m.State("STOP"):
                with m.If(~settle[1]):
                    m.d.sync += settle.eq(settle + 1)
                with m.Elif(self.quiet):
                    m.d.sync += self.flush.eq(1)
                    m.next = "FLUSH"
            with m.State("FLUSH"):
                # `flush` is up in this cycle: every part it resets is reset at its end.
                m.d.sync += [self.stop.eq(0), self.error.eq(ErrorCode.ABORTED)]
                m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [self.ap_done.eq(1), self.ap_ready.eq(1)]
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
