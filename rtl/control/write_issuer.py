"""Issues a run's write commands, one per visit (a strip of one output-channel group), and counts
their completions."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..axi.bursts import command_layout
from ..axi.write_master import write_done_layout
from .run_signature import RunSignature

__all__ = ["WriteIssuer"]


class WriteIssuer(wiring.Component):
    """One write command per visit, in the order strips, then groups within a strip.

    The output of group ``g`` is ``plan.out_bytes`` at ``layer.out_addr + g * out_bytes``
    (``[MG][Ho][Wo][pm]``); a visit writes one strip of it, ``plan.strip_bytes`` (the last strip
    what remains). A one-group-per-pass engine has ``strip_bytes == out_bytes``: one strip, one
    command per group.

    Ports
        ``run``: In(:class:`RunSignature`): at ``launch`` the pointers load from
        ``layer.out_addr`` and the counts restart; commands go out only while ``running``.
        ``cmd``: Out(stream of ``command_layout(addr_width)``), the write master's commands.
        ``done``: In(stream of ``write_done_layout()``), the write master's completions (always
        accepted). ``all_done``: Out(1), every command of the run has been issued and has
        completed (a register); ``error``: Out(1), a completion reported an AXI error during
        this run.

    Timing: each address is one 64-bit add from a register; the strip length is a compare
    into a register, then a choice into another, after each strip change (two cycles in
    which no command goes out).
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "run": In(RunSignature()),
            "cmd": Out(stream.Signature(command_layout(config.axi_addr_width))),
            "done": In(stream.Signature(write_done_layout())),
            "all_done": Out(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cmd, plan = self.cmd, self.run.plan
        group = Signal(16)
        last_group = Signal()   # group == mg - 1, a register
        more = Signal()         # commands remain
        settling = Signal()     # `last_strip` follows `remaining`
        settled = Signal()      # ... and `length` follows `last_strip`
        strip_base = Signal(64)  # out_addr + strip * strip_bytes
        addr = Signal(64)        # strip_base + group * out_bytes
        remaining = Signal(64)   # out_bytes - strip * strip_bytes: bytes of each group from this strip on
        length = Signal(32)
        last_strip = Signal()
        pending = Signal(32)     # commands issued and not yet completed
        m.d.comb += [
            cmd.payload.addr.eq(addr),
            cmd.payload.length.eq(length),
            cmd.valid.eq(self.run.running & more & settled),
            self.done.ready.eq(1),
        ]
        m.d.sync += [settling.eq(1), settled.eq(settling), last_strip.eq(remaining <= plan.strip_bytes),
                     length.eq(Mux(last_strip, remaining, plan.strip_bytes))]
        issue = cmd.valid & cmd.ready
        m.d.sync += [pending.eq(pending + issue - self.done.valid),
                     # A register of registers (a cycle after the last completion).
                     self.all_done.eq(~more & (pending == 0) & settled)]
        with m.If(issue):
            with m.If(~last_group):
                m.d.sync += [group.eq(group + 1), last_group.eq(group + 2 == plan.mg), addr.eq(addr + plan.out_bytes)]
            with m.Else():
                m.d.sync += [group.eq(0), last_group.eq(plan.mg == 1), settling.eq(0), settled.eq(0),
                             strip_base.eq(strip_base + plan.strip_bytes), addr.eq(strip_base + plan.strip_bytes),
                             remaining.eq(remaining - plan.strip_bytes), more.eq(~last_strip)]
        with m.If(self.done.valid & self.done.payload.error):
            m.d.sync += self.error.eq(1)
        with m.If(self.run.launch):
            m.d.sync += [group.eq(0), last_group.eq(plan.mg == 1), more.eq(plan.mg != 0), settling.eq(0),
                         settled.eq(0),
                         strip_base.eq(self.run.layer.out_addr), addr.eq(self.run.layer.out_addr),
                         remaining.eq(plan.out_bytes), pending.eq(0), self.all_done.eq(0),
                         self.error.eq(0)]
        return m
