"""Issues a run's read commands: per visit its quant entries and weights; the input per pass, or
row by row as the datapath makes room."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..axi.bursts import command_layout
from ..numerics import ACT_TABLE_BYTES, QUANT_ENTRY_BYTES
from ..registers import RUN_LIST_ENTRY_BYTES
from ..stream import StreamFifo
from .run_signature import RunSignature

__all__ = ["ReadIssuer", "ROUTE_QUANT", "ROUTE_WEIGHTS", "ROUTE_INPUT", "ROUTE_ENTRY", "ROUTE_TABLE", "ROUTES"]

#: Destinations of read data (the beat router's outputs), one per kind of command.
ROUTE_QUANT, ROUTE_WEIGHTS, ROUTE_INPUT, ROUTE_ENTRY, ROUTE_TABLE = 0, 1, 2, 3, 4
ROUTES = 5


class ReadIssuer(wiring.Component):
    """The read commands of a run, in the order the datapath consumes their data.

    Without input reuse (one pass per output-channel group): for each of ``plan.mg`` groups the
    group's ``pm`` quant entries, its weights, then the whole input, as three commands in that
    order (each group's input streams while its pass runs; the next group's weights follow it
    into the ping-pong buffer's free bank).

    With input reuse (``engine_description.input_reuse``: one pass per run, a visit per strip and
    group): per visit, in the order strips then groups, the group's quant entries and weights;
    and the input one row segment (a channel group's ``W`` words, ``plan.seg_bytes``) per command:
    a row would hold the stream for as long as the datapath takes to write it (one word per
    cycle), and the next visit's weights waited behind it. Every command is issued only when its
    consumer can take all of its data without waiting for data behind it, so the one in-order
    read stream never blocks: a visit's weights when at most one earlier visit still holds a
    bank (``visit_end`` counts the released ones), its quant entries when the requantiser side
    holds at most two sets not yet taken (``params_taken``), an input row segment when its row
    is below the datapath's ``x_rows`` and the input FIFO (:meth:`input_fifo_depth` beats, in
    front of the datapath's one-word-per-cycle input) has room for all of its beats: a segment
    reserves the most beats a segment of this layer can take (``ceil((B - 1 + seg_bytes) / B)``
    on a ``B``-byte bus, whatever its alignment) and returns them when its last beat leaves the
    FIFO (``x_taken``). Segments thus cross the bus at one beat per cycle and drain into the
    datapath while the next visit's weights stream. Rows the datapath waits for (below
    ``x_need``) go first, then a visit's quant entries and weights, then rows it may read ahead.

    With ``layer.table`` the run's first command is its activation table: ``ACT_TABLE_BYTES`` at
    ``quant_addr`` (the quant entries follow it), routed to ``ROUTE_TABLE``.

    Between runs (``running`` low) it issues the layer sequencer's run-list fetches instead: each
    ``fetch`` address becomes one command of ``RUN_LIST_ENTRY_BYTES`` routed to ``ROUTE_ENTRY``.

    Ports
        ``run``: In(:class:`RunSignature`): at ``launch`` the pointers load from ``layer`` and
        the issue restarts; a run's commands go out only while ``running``.
        ``fetch``: In(stream of 64-bit addresses): run-list entries to read, taken only while
        not ``running``.
        ``cmd``: Out(stream of ``command_layout(addr_width)``), the read master's commands.
        ``route``: Out(stream of ``range(ROUTES)``): each command's destination, in issue order,
        for the beat router (consumed with the command's last beat). It comes from an 8-entry
        FIFO; a command is issued only while the FIFO has room, which bounds the commands in flight.
        ``visit_end``: In(1), the datapath released a visit's weights; ``params_taken``: In(1),
        the requantiser took a visit's quant set; ``x_rows``: In(16), input rows the datapath
        accepts now; ``x_need``: In(16), rows it waits for; ``x_taken``: In(1), the last beat
        of an input segment left the input FIFO (input reuse only).
    """

    #: Quant sets the requantiser side holds before taking one (the gatherer's FIFO and its
    #: gathering register).
    QUANT_SETS = 3
    #: Visits whose weights may be loaded ahead of the last released one (the ping-pong banks).
    WEIGHT_BANKS = 2

    @staticmethod
    def segment_beats(bus_bits: int, seg_bytes: int) -> int:
        """Bus beats an input segment of ``seg_bytes`` takes at the worst alignment."""
        bus_bytes = bus_bits // 8
        return (seg_bytes + 2 * bus_bytes - 2) // bus_bytes

    @classmethod
    def input_fifo_depth(cls, config) -> int:
        """Beats of the input FIFO of an input-reuse engine: two of the widest segment the layer
        check admits (``max_width`` pn-words), at least 32 (narrow layers keep many segments
        in flight: VGG16's conv5 layers need about four per visit)."""
        seg = config.max_width * config.pn * config.data_width // 8
        return max(32, 2 * cls.segment_beats(config.axi_data_width, seg))

    def __init__(self, config):
        self.config = config
        super().__init__({
            "run": In(RunSignature()),
            "cmd": Out(stream.Signature(command_layout(config.axi_addr_width))),
            "route": Out(stream.Signature(range(ROUTES))),
            "visit_end": In(1),
            "params_taken": In(1),
            "x_rows": In(16),
            "x_need": In(16),
            "x_taken": In(1),
            "fetch": In(stream.Signature(64)),
        })

    def elaborate(self, platform):
        m = Module()
        quant_bytes = self.config.pm * QUANT_ENTRY_BYTES
        plan, cmd = self.run.plan, self.cmd
        m.submodules.routes = routes = StreamFifo(range(ROUTES), 8)
        phase = Signal(range(ROUTES))
        q_addr = Signal(64)
        w_addr = Signal(64)
        x_addr = Signal(64)
        with m.Switch(phase):
            with m.Case(ROUTE_TABLE):
                m.d.comb += [cmd.payload.addr.eq(self.run.layer.quant_addr), cmd.payload.length.eq(ACT_TABLE_BYTES)]
            with m.Case(ROUTE_QUANT):
                m.d.comb += [cmd.payload.addr.eq(q_addr), cmd.payload.length.eq(quant_bytes)]
            with m.Case(ROUTE_WEIGHTS):
                m.d.comb += [cmd.payload.addr.eq(w_addr), cmd.payload.length.eq(plan.w_bytes)]
            with m.Case(ROUTE_INPUT):
                m.d.comb += [cmd.payload.addr.eq(x_addr),
                             cmd.payload.length.eq(plan.seg_bytes if self.config.engine_description.input_reuse
                                                   else plan.in_bytes)]
        running = self.run.running
        # `fire`: a handshake of the run's own commands.
        fire = cmd.valid & cmd.ready & running
        m.d.comb += [
            routes.i.payload.eq(Mux(running, phase, ROUTE_ENTRY)),
            routes.i.valid.eq(cmd.valid & cmd.ready),
        ]
        wiring.connect(m, routes.o, wiring.flipped(self.route))
        if self.config.engine_description.input_reuse:
            self._reuse(m, fire, phase, q_addr, w_addr, x_addr, quant_bytes, routes)
        else:
            self._per_pass(m, fire, phase, q_addr, w_addr, x_addr, quant_bytes, routes)
        # Between runs the command is the sequencer's run-list fetch (these assignments come
        # after the run's and take precedence while not running).
        with m.If(~running):
            m.d.comb += [cmd.payload.addr.eq(self.fetch.payload), cmd.payload.length.eq(RUN_LIST_ENTRY_BYTES),
                         cmd.valid.eq(self.fetch.valid & routes.i.ready),
                         self.fetch.ready.eq(cmd.ready & routes.i.ready)]
        return m

    @staticmethod
    def _quant_start(layer):
        """Where the run's quant entries start: after its activation table when it has one."""
        return layer.quant_addr + Mux(layer.table, ACT_TABLE_BYTES, 0)

    def _per_pass(self, m, fire, phase, q_addr, w_addr, x_addr, quant_bytes, routes):
        plan, layer, cmd = self.run.plan, self.run.layer, self.cmd
        group = Signal(16)
        more = Signal()        # group < plan.mg, compared when the group changes
        m.d.comb += cmd.valid.eq(self.run.running & more & routes.i.ready)
        with m.If(fire):
            with m.Switch(phase):
                with m.Case(ROUTE_TABLE):
                    m.d.sync += phase.eq(ROUTE_QUANT)
                with m.Case(ROUTE_QUANT):
                    m.d.sync += [phase.eq(ROUTE_WEIGHTS), q_addr.eq(q_addr + quant_bytes)]
                with m.Case(ROUTE_WEIGHTS):
                    m.d.sync += [phase.eq(ROUTE_INPUT), w_addr.eq(w_addr + plan.w_bytes)]
                with m.Case(ROUTE_INPUT):
                    m.d.sync += [phase.eq(ROUTE_QUANT), group.eq(group + 1), more.eq(group + 1 < plan.mg)]
        with m.If(self.run.launch):
            m.d.sync += [group.eq(0), more.eq(plan.mg != 0), phase.eq(Mux(layer.table, ROUTE_TABLE, ROUTE_QUANT)),
                         q_addr.eq(self._quant_start(layer)), w_addr.eq(layer.weight_addr), x_addr.eq(layer.in_addr)]

    def _reuse(self, m, fire, phase, q_addr, w_addr, x_addr, quant_bytes, routes):
        plan, layer, cmd = self.run.plan, self.run.layer, self.cmd
        # Visits: strips x groups. The number of strips is implicit: bytes of a group's output
        # left from this strip on, as the write issuer counts them.
        group = Signal(16)
        last_group = Signal()
        remaining = Signal(64)
        last_strip = Signal()
        more_visits = Signal()
        visits_issued = Signal(32)     # visits whose quant and weights have been issued
        released = Signal(32)          # visits whose weights the datapath released
        taken = Signal(32)             # quant sets the requantiser took
        row = Signal(16)               # next input row
        seg = Signal(16)               # its next channel-group segment
        last_seg = Signal()            # seg == cg - 1
        # Credits, each a compare of registers into a register (a cycle old: counts only grow
        # on the consumer side, so a stale "yes" is still true).
        w_ok = Signal()
        q_ok = Signal()
        x_ok = Signal()
        x_urgent = Signal()
        # Input FIFO credit: beats reserved by issued segments whose last beat has not yet left it.
        depth = self.input_fifo_depth(self.config)
        bus_bytes = self.config.axi_data_width // 8
        seg_beats = Signal(range(depth + 1))     # reserved per segment (this layer's worst case)
        room_limit = Signal(range(depth + 1))    # depth - seg_beats: issue while held <= it
        held = Signal(range(depth + 1))
        # Only the bits an admitted segment can have take part (the layer check bounds it).
        seg_bits = (depth * bus_bytes).bit_length()
        most = (plan.seg_bytes[:seg_bits] + 2 * bus_bytes - 2) >> (bus_bytes.bit_length() - 1)
        m.d.sync += [seg_beats.eq(most), room_limit.eq(depth - most)]
        m.d.sync += [
            x_urgent.eq((row < self.x_need) & (row < layer.height)),
            w_ok.eq(visits_issued < released + self.WEIGHT_BANKS),
            q_ok.eq(visits_issued < taken + self.QUANT_SETS),
            x_ok.eq((row < self.x_rows) & (row < layer.height) & (held <= room_limit)),
            last_strip.eq(remaining <= plan.strip_bytes),
        ]
        with m.If(self.visit_end):
            m.d.sync += released.eq(released + 1)
        with m.If(self.params_taken):
            m.d.sync += taken.eq(taken + 1)
        row_fire = Signal()
        with m.Switch(Cat(row_fire, self.x_taken)):
            with m.Case("01"):
                m.d.sync += held.eq(held + seg_beats)
            with m.Case("10"):
                m.d.sync += held.eq(held - seg_beats)
        # The next command is chosen into registers (one-hot go_*) a cycle before it is offered,
        # so the command's valid and the updates on its handshake depend on registers only. A
        # visit's pair (quant, then weights) is issued back to back once it starts.
        go_quant, go_weights, go_row = Signal(), Signal(), Signal()
        go_table = Signal()            # the run's activation table, before anything else
        q_base = Signal(64)            # the run's first quant entry (a register: set at launch)
        visit_ok = more_visits & w_ok & q_ok
        # The credits are recomputed after each issue (they are a cycle old): decide only once
        # they have seen it.
        cooled = Signal()
        m.d.sync += cooled.eq(~fire)
        deciding = cooled & ~fire & ~go_quant & ~go_weights & ~go_row & ~go_table
        take_visit = visit_ok & ~x_urgent
        with m.If(deciding):
            m.d.sync += [go_quant.eq(take_visit), go_row.eq(~take_visit & x_ok)]
        m.d.comb += [
            phase.eq(Mux(go_table, ROUTE_TABLE, Mux(go_weights, ROUTE_WEIGHTS, Mux(go_quant, ROUTE_QUANT, ROUTE_INPUT)))),
            cmd.valid.eq(self.run.running & routes.i.ready & (go_quant | go_weights | go_row | go_table)),
        ]
        m.d.comb += row_fire.eq(fire & go_row)
        with m.If(fire):
            m.d.sync += [go_quant.eq(0), go_weights.eq(go_quant), go_row.eq(0), go_table.eq(0)]
            # The updates decode the one-hot choice (go_quant, go_weights, go_row), not the route.
            with m.Switch(Cat(go_quant, go_weights, go_row)):
                with m.Case("-1-"):
                    m.d.sync += visits_issued.eq(visits_issued + 1)
                    with m.If(~last_group):
                        m.d.sync += [group.eq(group + 1), last_group.eq(group + 2 == plan.mg),
                                     q_addr.eq(q_addr + quant_bytes), w_addr.eq(w_addr + plan.w_bytes)]
                    with m.Else():
                        m.d.sync += [group.eq(0), last_group.eq(plan.mg == 1), q_addr.eq(q_base),
                                     w_addr.eq(layer.weight_addr), remaining.eq(remaining - plan.strip_bytes),
                                     more_visits.eq(~last_strip)]
                with m.Case("1--"):
                    m.d.sync += x_addr.eq(x_addr + plan.seg_bytes)
                    with m.If(last_seg):
                        m.d.sync += [seg.eq(0), last_seg.eq(plan.cg == 1), row.eq(row + 1)]
                    with m.Else():
                        m.d.sync += [seg.eq(seg + 1), last_seg.eq(seg + 2 == plan.cg)]
        with m.If(self.run.launch):
            m.d.sync += [group.eq(0), last_group.eq(plan.mg == 1), remaining.eq(plan.out_bytes),
                         more_visits.eq(plan.mg != 0), visits_issued.eq(0), released.eq(0), taken.eq(0),
                         row.eq(0), seg.eq(0), last_seg.eq(plan.cg == 1), go_quant.eq(0), go_weights.eq(0), go_row.eq(0),
                         go_table.eq(layer.table), held.eq(0), q_base.eq(self._quant_start(layer)),
                         q_addr.eq(self._quant_start(layer)), w_addr.eq(layer.weight_addr), x_addr.eq(layer.in_addr)]
