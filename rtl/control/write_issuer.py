"""Issues a run's write commands, one per output row of a visit (a strip of one output-channel
group), and counts their completions."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..axi.bursts import command_layout
from ..axi.write_master import write_done_layout
from .run_signature import RunSignature

__all__ = ["WriteIssuer"]


class WriteIssuer(wiring.Component):
    """The write commands of a run, in the order the requantiser produces their bytes: strips,
    then groups within a strip, then rows within a visit.

    The output is row-major, ``[Ho][MG][Wo][pm]`` (docs/memory-layout.md): row ``r`` of group
    ``g`` is ``plan.row_bytes`` (``Wo*pm``) at ``layer.out_addr + r * plan.row_stride + g *
    row_bytes``, with ``row_stride = MG * row_bytes``, so the next layer reads the output as its
    ``[H][CG][W][pn]`` input where it lies when ``pm == pn``. A visit writes ``plan.strip_bytes``
    of its group (the last strip what remains of ``plan.out_bytes``), one command per row; with
    one group (``MG == 1``) the rows of a visit are contiguous and go out as one command. The
    producer ends each command's words with ``last`` (:class:`rtl.dma.line_marker.LineMarker`).

    Ports
        ``run``: In(:class:`RunSignature`): at ``launch`` the pointers load from
        ``layer.out_addr`` and the counts restart; commands go out only while ``running``.
        ``cmd``: Out(stream of ``command_layout(addr_width)``), the write master's commands.
        ``done``: In(stream of ``write_done_layout()``), the write master's completions (always
        accepted). ``all_done``: Out(1), every command of the run has been issued and has
        completed (a register); ``error``: Out(1), a completion reported an AXI error during
        this run.

    Timing: each address is one 64-bit add (and a choice) from registers; each length and
    end-of-visit flag a compare of registers into a register. After each strip change
    :attr:`SETTLE` cycles go by with no command while the strip's lengths settle (a chain of
    four registers: the last-strip flag, the visit's bytes, the command length, the first
    line's end-of-visit flag).
    """

    #: Cycles from a strip change to its first command (the settling chain below).
    SETTLE = 4

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
        cmd, plan, layer = self.cmd, self.run.plan, self.run.layer
        merged = Signal()        # one group: a visit's rows are contiguous, one command
        group = Signal(16)
        last_group = Signal()    # group == mg - 1, a register
        more = Signal()          # commands remain
        settle = Signal(self.SETTLE)  # a shift register of ones after a strip change
        settled = settle[-1]
        remaining = Signal(64)   # out_bytes - strip * strip_bytes: bytes of each group from this strip on
        last_strip = Signal()    # remaining <= strip_bytes
        visit_bytes = Signal(32)  # bytes of this strip's visits
        line_len = Signal(32)    # bytes per command: row_bytes, or visit_bytes when merged
        line_step = Signal(64)   # from one command of group 0 to the next: row_stride, or line_len
        one_line = Signal()      # a visit is one command
        twice_row = Signal(33)   # 2 * row_bytes
        left = Signal(32)        # bytes of this visit from this command on
        last_line = Signal()     # this command ends its visit
        group_base = Signal(64)  # this strip's first row address + group * row_bytes
        strip_next = Signal(64)  # the next strip's base, found while group 0's rows go out
        addr = Signal(64)        # group_base + row * row_stride
        pending = Signal(32)     # commands issued and not yet completed
        m.d.comb += [
            cmd.payload.addr.eq(addr),
            cmd.payload.length.eq(line_len),
            cmd.valid.eq(self.run.running & more & settled),
            self.done.ready.eq(1),
        ]
        # The settling chain, recomputed every cycle from registers; held still once settled.
        m.d.sync += [
            settle.eq((settle << 1) | 1),
            last_strip.eq(remaining <= plan.strip_bytes),
            visit_bytes.eq(Mux(last_strip, remaining, plan.strip_bytes)),
            line_len.eq(Mux(merged, visit_bytes, plan.row_bytes)),
            line_step.eq(Mux(merged, visit_bytes, plan.row_stride)),
            one_line.eq(merged | (visit_bytes <= plan.row_bytes)),
            twice_row.eq(plan.row_bytes << 1),
        ]
        with m.If(~settled):
            m.d.sync += [left.eq(visit_bytes), last_line.eq(one_line)]
        issue = cmd.valid & cmd.ready
        m.d.sync += [pending.eq(pending + issue - self.done.valid),
                     # A register of registers (a cycle after the last completion).
                     self.all_done.eq(~more & (pending == 0) & settled)]
        with m.If(issue):
            with m.If(group == 0):
                m.d.sync += strip_next.eq(addr + line_step)
            with m.If(~last_line):
                m.d.sync += [addr.eq(addr + plan.row_stride), left.eq(left - plan.row_bytes),
                             last_line.eq(left <= twice_row)]
            with m.Elif(~last_group):
                m.d.sync += [group.eq(group + 1), last_group.eq(group + 2 == plan.mg),
                             group_base.eq(group_base + plan.row_bytes), addr.eq(group_base + plan.row_bytes),
                             left.eq(visit_bytes), last_line.eq(one_line)]
            with m.Else():
                # With one group, this command is group 0's: the next strip starts right after it.
                base = Mux(merged, addr + line_step, strip_next)
                m.d.sync += [group.eq(0), last_group.eq(plan.mg == 1), settle.eq(0),
                             group_base.eq(base), addr.eq(base),
                             remaining.eq(remaining - plan.strip_bytes), more.eq(~last_strip)]
        with m.If(self.done.valid & self.done.payload.error):
            m.d.sync += self.error.eq(1)
        with m.If(self.run.launch):
            m.d.sync += [merged.eq(plan.mg == 1), group.eq(0), last_group.eq(plan.mg == 1), more.eq(plan.mg != 0),
                         settle.eq(0), group_base.eq(layer.out_addr),
                         addr.eq(layer.out_addr), remaining.eq(plan.out_bytes), pending.eq(0), self.all_done.eq(0),
                         self.error.eq(0)]
        return m
