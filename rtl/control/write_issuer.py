"""Issues a run's write commands, one per output-channel group, and counts their completions."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..axi.bursts import command_layout
from ..axi.write_master import write_done_layout
from .run_signature import RunSignature

__all__ = ["WriteIssuer"]


class WriteIssuer(wiring.Component):
    """One write command of ``plan.out_bytes`` per group, at consecutive output addresses.

    Ports
        ``run``: In(:class:`RunSignature`): at ``launch`` the pointer loads from
        ``layer.out_addr`` and the counts restart; commands go out only while ``running``.
        ``cmd``: Out(stream of ``command_layout(addr_width)``), the write master's commands.
        ``done``: In(stream of ``write_done_layout()``), the write master's completions (always
        accepted). ``groups_done``: Out(16), completions so far; ``all_done``: Out(1), every
        group of the run has completed (a register); ``error``: Out(1), a completion reported
        an AXI error during this run.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "run": In(RunSignature()),
            "cmd": Out(stream.Signature(command_layout(config.axi_addr_width))),
            "done": In(stream.Signature(write_done_layout())),
            "groups_done": Out(16),
            "all_done": Out(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        group = Signal(16)
        more = Signal()        # group < plan.mg, compared when the group changes
        addr = Signal(64)
        cmd, plan = self.cmd, self.run.plan
        m.d.comb += [
            cmd.payload.addr.eq(addr),
            cmd.payload.length.eq(plan.out_bytes),
            cmd.valid.eq(self.run.running & more),
            self.done.ready.eq(1),
        ]
        with m.If(cmd.valid & cmd.ready):
            m.d.sync += [group.eq(group + 1), more.eq(group + 1 < plan.mg), addr.eq(addr + plan.out_bytes)]
        with m.If(self.done.valid):
            m.d.sync += [self.groups_done.eq(self.groups_done + 1), self.all_done.eq(self.groups_done + 1 == plan.mg)]
            with m.If(self.done.payload.error):
                m.d.sync += self.error.eq(1)
        with m.If(self.run.launch):
            m.d.sync += [group.eq(0), more.eq(plan.mg != 0), self.groups_done.eq(0), self.all_done.eq(0),
                         self.error.eq(0),
                         addr.eq(self.run.layer.out_addr)]
        return m
