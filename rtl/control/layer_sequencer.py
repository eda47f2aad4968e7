"""The accelerator's run state machine: AP_START, descriptor check, run, AP_DONE."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..error_codes import ErrorCode
from .layer_check import LayerCheck, descriptor_layout
from .run_signature import RunSignature

__all__ = ["LayerSequencer"]


class LayerSequencer(wiring.Component):
    """IDLE -> CHECK -> CHECKING -> RUN -> FINISH -> IDLE (a refused descriptor skips RUN).

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
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.check = check = LayerCheck(self.config)
        run = self.run
        m.d.comb += [check.desc.eq(run.layer), run.plan.eq(check.plan)]
        # `clear` and `launch` are registered pulses: they fan out to every counter and pointer.
        m.d.sync += [self.clear.eq(0), run.launch.eq(0)]
        with m.FSM(name="layer") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.ap_idle.eq(1)
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
                    with m.Else():
                        m.d.sync += run.launch.eq(1)
                        m.next = "LAUNCH"
            with m.State("LAUNCH"):
                # The parts restart on `launch` (this cycle); the run starts the next.
                m.d.sync += run.running.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(self.complete):
                    m.d.sync += run.running.eq(0)
                    with m.If(self.read_error):
                        m.d.sync += self.error.eq(ErrorCode.AXI_READ_ERROR)
                    with m.Elif(self.write_error):
                        m.d.sync += self.error.eq(ErrorCode.AXI_WRITE_ERROR)
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [self.ap_done.eq(1), self.ap_ready.eq(1)]
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
