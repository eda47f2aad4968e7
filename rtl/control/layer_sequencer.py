"""The accelerator's run state machine: AP_START, descriptor check, run, AP_DONE."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..error_codes import ErrorCode
from .layer_check import LayerCheck, descriptor_layout
from .run_signature import RunSignature

__all__ = ["LayerSequencer"]


class LayerSequencer(wiring.Component):
    """IDLE -> CHECK -> CHECKING -> RUN -> FINISH -> IDLE (a refused descriptor skips RUN);
    an abort goes RUN -> STOP -> FLUSH -> FINISH.

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
        with m.FSM(name="layer") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.ap_idle.eq(1)
                m.d.sync += [aborting.eq(0), self.stop.eq(0)]
                with m.If(self.ap_start):
                    m.d.sync += [run.layer.eq(self.desc), self.error.eq(ErrorCode.OK), self.clear.eq(1)]
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
                    with m.Elif(self.write_error):
                        m.d.sync += self.error.eq(ErrorCode.AXI_WRITE_ERROR)
                    m.next = "FINISH"
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
