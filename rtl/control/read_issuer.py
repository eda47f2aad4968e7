"""Issues a run's read commands: per output-channel group its quant entries, weights and input."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..axi.bursts import command_layout
from ..numerics import QUANT_ENTRY_BYTES
from ..stream import StreamFifo
from .run_signature import RunSignature

__all__ = ["ReadIssuer", "ROUTE_QUANT", "ROUTE_WEIGHTS", "ROUTE_INPUT", "ROUTES"]

#: Destinations of read data (the beat router's outputs), one per kind of command.
ROUTE_QUANT, ROUTE_WEIGHTS, ROUTE_INPUT = 0, 1, 2
ROUTES = 3


class ReadIssuer(wiring.Component):
    """For each of ``plan.mg`` groups: the group's ``pm`` quant entries, its weights, then the
    whole input, as three read commands in that order.

    Ports
        ``run``: In(:class:`RunSignature`): at ``launch`` the quant and weight pointers load from
        ``layer`` and the issue restarts at group 0; commands go out only while ``running``.
        ``cmd``: Out(stream of ``command_layout(addr_width)``), the read master's commands.
        ``route``: Out(stream of ``range(ROUTES)``): each command's destination, in issue order,
        for the beat router (consumed with the command's last beat). It comes from an 8-entry
        FIFO; a command is issued only while the FIFO has room, which bounds the commands in flight.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "run": In(RunSignature()),
            "cmd": Out(stream.Signature(command_layout(config.axi_addr_width))),
            "route": Out(stream.Signature(range(ROUTES))),
        })

    def elaborate(self, platform):
        m = Module()
        quant_bytes = self.config.pm * QUANT_ENTRY_BYTES
        plan, layer, cmd = self.run.plan, self.run.layer, self.cmd
        m.submodules.routes = routes = StreamFifo(range(ROUTES), 8)
        group = Signal(16)
        more = Signal()        # group < plan.mg, compared when the group changes
        phase = Signal(range(ROUTES))
        q_addr = Signal(64)
        w_addr = Signal(64)
        with m.Switch(phase):
            with m.Case(ROUTE_QUANT):
                m.d.comb += [cmd.payload.addr.eq(q_addr), cmd.payload.length.eq(quant_bytes)]
            with m.Case(ROUTE_WEIGHTS):
                m.d.comb += [cmd.payload.addr.eq(w_addr), cmd.payload.length.eq(plan.w_bytes)]
            with m.Case(ROUTE_INPUT):
                m.d.comb += [cmd.payload.addr.eq(layer.in_addr), cmd.payload.length.eq(plan.in_bytes)]
        m.d.comb += [
            cmd.valid.eq(self.run.running & more & routes.i.ready),
            routes.i.payload.eq(phase),
            routes.i.valid.eq(cmd.valid & cmd.ready),
        ]
        wiring.connect(m, routes.o, wiring.flipped(self.route))
        with m.If(cmd.valid & cmd.ready):
            with m.Switch(phase):
                with m.Case(ROUTE_QUANT):
                    m.d.sync += [phase.eq(ROUTE_WEIGHTS), q_addr.eq(q_addr + quant_bytes)]
                with m.Case(ROUTE_WEIGHTS):
                    m.d.sync += [phase.eq(ROUTE_INPUT), w_addr.eq(w_addr + plan.w_bytes)]
                with m.Case(ROUTE_INPUT):
                    m.d.sync += [phase.eq(ROUTE_QUANT), group.eq(group + 1), more.eq(group + 1 < plan.mg)]
        with m.If(self.run.launch):
            m.d.sync += [group.eq(0), more.eq(plan.mg != 0), phase.eq(ROUTE_QUANT), q_addr.eq(layer.quant_addr),
                         w_addr.eq(layer.weight_addr)]
        return m
