"""ConvAccelerator: the runtime-configurable conv-layer engine, DDR to DDR (direct or Winograd)."""

from __future__ import annotations

import functools

from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetInserter, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi.control_slave import ControlSlave
from .axi.read_master import AXI4ReadMaster
from .axi.signature import AXI4LiteSignature, AXI4Signature, connect_flat, flat_members
from .axi.write_master import AXI4WriteMaster
from .config import AcceleratorConfig
from .control.layer_sequencer import LayerSequencer
from .control.pass_sequencer import PassSequencer
from .control.quant_gatherer import QuantGatherer
from .control.read_issuer import ROUTE_ENTRY, ROUTE_INPUT, ROUTE_QUANT, ROUTE_TABLE, ROUTE_WEIGHTS, ROUTES, ReadIssuer
from .control.run_list import ENTRY_BITS, descriptor_values
from .control.run_counters import RunCounters
from .control.write_issuer import WriteIssuer
from .dma.beats_to_words import BeatsToWords
from .dma.line_marker import LineMarker
from .dma.router import BeatRouter
from .dma.words_to_beats import WordsToBeats
from .engine import DatapathSignature
from .numerics import QUANT_ENTRY_BYTES
from .pe.pooling import Pooling
from .pe.requantiser import Requantiser
from .registers import CONTROL_ADDR_WIDTH, control_register_map
from .stream import SkidBuffer, StreamFifo
from .verilog import cached_verilog

__all__ = ["ConvAccelerator", "accelerator_signature", "accelerator_verilog"]


def accelerator_signature(config: AcceleratorConfig) -> wiring.Signature:
    """The ports of :class:`ConvAccelerator` built from ``config`` (what packaging reads without
    building the component): clock, active-low reset, interrupt, the flat AXI4 master
    ``m_axi_gmem_*`` and AXI4-Lite slave ``s_axi_control_*``."""
    members = {"ap_clk": In(1), "ap_rst_n": In(1), "interrupt": Out(1)}
    members.update(flat_members("m_axi_gmem", AXI4Signature(addr_width=config.axi_addr_width,
                                                            data_width=config.axi_data_width)))
    members.update(flat_members("s_axi_control", AXI4LiteSignature(addr_width=CONTROL_ADDR_WIDTH, data_width=32).flip()))
    return wiring.Signature(members)


class ConvAccelerator(wiring.Component):
    """One conv-layer engine for every layer of a network, configured through registers.

    Ports (Vivado/Vitis-HLS names): ``ap_clk``, ``ap_rst_n`` (active-low synchronous reset),
    ``interrupt``, ``m_axi_gmem_*`` (AXI4 master, ``config.axi_data_width`` data, 64-bit
    addresses) and ``s_axi_control_*`` (AXI4-Lite slave, 32-bit data, 8-bit addresses; the
    register map is ``rtl.registers.control_register_map(config)``).

    Per layer (after AP_START, or per entry of a run list in DDR: RUNLIST_COUNT, rtl/control/run_list.py): the descriptor is checked (a refused one sets STATUS.ERROR and
    finishes with no memory traffic); then, for each group of ``pm`` output channels, the
    group's quant entries and weights are read, the whole input streams through the engine's
    datapath (rtl/engine: line buffer + MAC array, or tile buffer + Winograd transforms + EWMM
    array + output buffer; the next group's weights load into the other ping-pong bank
    meanwhile), and the requantised outputs are written back. AP_DONE comes when every write
    response has arrived. DDR layouts: docs/memory-layout.md.

    Structure: the layer sequencer (rtl/control/layer_sequencer.py) runs the check and the run;
    the read and write issuers and the pass sequencer drive the masters and the engine group by
    group; the beat router and width converters carry read data to the quant gatherer, the
    engine's weight and input ports; the engine's accumulators go through the requantiser and the
    packer to the write master. Every stream joint is a ``wiring.connect``.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        self.register_map = control_register_map(config)
        super().__init__(accelerator_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        bus_bits = cfg.axi_data_width

        m.domains.sync = ClockDomain("sync", local=True)
        m.d.comb += [ClockSignal("sync").eq(self.ap_clk), ResetSignal("sync").eq(~self.ap_rst_n)]

        # Everything that moves data sits in `core`, which CTRL.ABORT's flush resets (the
        # control slave, the layer sequencer and the counters keep their state).
        core = Module()
        flush = Signal()
        m.submodules.core = ResetInserter({"sync": flush})(core)

        # ----- bus interfaces -----------------------------------------------------------
        m.submodules.ctrl = ctrl = ControlSlave(self.register_map)
        core.submodules.rd = rd = AXI4ReadMaster(data_width=bus_bits, addr_width=cfg.axi_addr_width,
                                              max_outstanding=cfg.outstanding_reads)
        core.submodules.wr = wr = AXI4WriteMaster(data_width=bus_bits, addr_width=cfg.axi_addr_width)
        connect_flat(m, self, "s_axi_control", ctrl.axi)
        connect_flat(m, self, "m_axi_gmem", rd.axi)
        connect_flat(m, self, "m_axi_gmem", wr.axi)
        m.d.comb += self.interrupt.eq(ctrl.interrupt)

        # ----- control ------------------------------------------------------------------
        m.submodules.seq = seq = LayerSequencer(cfg)
        core.submodules.reads = reads = ReadIssuer(cfg)
        # A register slice on the read commands: the issuer's handshake (which moves its 64-bit
        # address registers) sees a registered ready instead of the read master's planner.
        core.submodules.rcmd_slice = rcmd_slice = SkidBuffer(reads.cmd.payload.shape())
        core.submodules.writes = writes = WriteIssuer(cfg)
        core.submodules.passes = passes = PassSequencer()
        m.submodules.counters = counters = RunCounters()
        layer, plan = seq.run.layer, seq.run.plan
        m.d.comb += [
            seq.ap_start.eq(ctrl.ap_start),
            ctrl.ap_idle.eq(seq.ap_idle), ctrl.ap_done.eq(seq.ap_done), ctrl.ap_ready.eq(seq.ap_ready),
            ctrl.status_busy.eq(seq.busy), ctrl.status_error.eq(seq.error),
            seq.list_addr.eq((ctrl.runlist_addr_hi << 32) | ctrl.runlist_addr_lo),
            seq.list_count.eq(ctrl.runlist_count), ctrl.runlist_index.eq(seq.index),
            rd.clear_error.eq(seq.clear), wr.clear_error.eq(seq.clear),
            seq.complete.eq(writes.all_done & rd.idle & ~rcmd_slice.o.valid & wr.idle),
            seq.read_error.eq(rd.error), seq.write_error.eq(writes.error | wr.error),
            seq.abort.eq(ctrl.ctrl_abort), rd.stop.eq(seq.stop), wr.stop.eq(seq.stop),
            seq.quiet.eq(rd.quiet & wr.quiet), flush.eq(seq.flush),
        ]
        m.d.comb += [getattr(seq.desc, name).eq(value)
                     for name, value in descriptor_values(lambda reg, field: ctrl.port(reg, field)).items()]
        wiring.connect(m, seq.run, reads.run, writes.run, passes.run)
        wiring.connect(m, seq.fetch, reads.fetch)
        wiring.connect(m, reads.cmd, rcmd_slice.i)
        wiring.connect(m, rcmd_slice.o, rd.cmd)
        wiring.connect(m, writes.cmd, wr.cmd)
        wiring.connect(m, wr.done, writes.done)

        # ----- datapath: read beats -> words -> engine -> requantiser -> beats ----------
        core.submodules.router = router = BeatRouter(bus_bits, ROUTES)
        core.submodules.q_words = q_words = BeatsToWords(bus_bits, 8 * QUANT_ENTRY_BYTES)
        core.submodules.gather = gather = QuantGatherer(cfg.pm)
        core.submodules.dp = dp = cfg.engine_description.datapath(cfg)
        if dp.signature != DatapathSignature(cfg, dp.acc_width):
            raise TypeError(f"the {cfg.engine} datapath does not present the engine-to-top contract "
                            f"(rtl.engine.signature.DatapathSignature)")
        core.submodules.w_words = w_words = BeatsToWords(bus_bits, dp.w.payload.data.shape())
        core.submodules.x_words = x_words = BeatsToWords(bus_bits, dp.x.payload.shape(), last=False)
        core.submodules.rq = rq = Requantiser(cfg.pm, dp.acc_width, lanes=cfg.requant_lanes,
                                              table_bytes=cfg.bus_bytes if cfg.activation_table else 0)
        # A write command per output row (the row-major output layout): each row's last pixel
        # ends the packer's words.
        core.submodules.rows = rows = LineMarker(rq.o.payload.shape())
        if cfg.pooling:
            # 2x2 pooling of the requantised (and tabulated) pixels, chosen per run.
            core.submodules.pool = pool = Pooling(rq.o.payload.shape(), cfg.max_width)
            wiring.connect(m, rq.o, pool.i)
            wiring.connect(m, pool.o, rows.i)
            m.d.comb += [pool.mode.eq(layer.pool), pool.width.eq(plan.wo), pool.restart.eq(seq.run.launch)]
        else:
            wiring.connect(m, rq.o, rows.i)
        core.submodules.packer = packer = WordsToBeats(rq.o.payload.data.shape(), bus_bits)
        # The write master's data ready depends on WREADY and its command queue: a register
        # slice keeps that chain out of the engine's pipeline enables.
        core.submodules.wr_slice = wr_slice = SkidBuffer(wr.data.payload.shape())
        # Read data reaches the converters through a register slice: the engine's input ready
        # (line buffer, weight banks) never reaches the read master's queue in the same cycle.
        core.submodules.rd_slice = rd_slice = SkidBuffer(rd.data.payload.shape())
        # While an abort stops the masters, read data is dropped here (the consumers may be
        # the reason for the abort).
        m.d.comb += [
            rd_slice.i.payload.eq(rd.data.payload),
            rd_slice.i.valid.eq(rd.data.valid & ~seq.stop),
            rd.data.ready.eq(rd_slice.i.ready | seq.stop),
        ]
        wiring.connect(m, rd_slice.o, router.i)
        wiring.connect(m, reads.route, router.route)
        core.submodules.q_slice = q_slice = SkidBuffer(q_words.i.payload.shape())
        wiring.connect(m, router.output(ROUTE_QUANT), q_slice.i)
        wiring.connect(m, q_slice.o, q_words.i)
        core.submodules.w_slice = w_slice = SkidBuffer(w_words.i.payload.shape())
        wiring.connect(m, router.output(ROUTE_WEIGHTS), w_slice.i)
        wiring.connect(m, w_slice.o, w_words.i)
        # The input converter feeds the line/tile buffer, whose ready is a compare of its row
        # counters: another register slice keeps it off the router and the route FIFO.
        core.submodules.x_slice = x_slice = SkidBuffer(x_words.i.payload.shape())
        # Run-list entries: one command's beats gathered into one word for the sequencer.
        core.submodules.e_words = e_words = BeatsToWords(bus_bits, ENTRY_BITS, last=False)
        wiring.connect(m, router.output(ROUTE_ENTRY), e_words.i)
        wiring.connect(m, e_words.o, seq.entry)
        # Activation tables go to the requantiser's copies through a register slice (the write
        # fans out to every lane); a build without one never issues the route (the layer check
        # refuses LAYER_FLAGS.TABLE) and drops anything routed there.
        if cfg.activation_table:
            core.submodules.t_slice = t_slice = SkidBuffer(rq.table.payload.shape())
            wiring.connect(m, router.output(ROUTE_TABLE), t_slice.i)
            wiring.connect(m, t_slice.o, rq.table)
            m.d.comb += rq.use_table.eq(layer.table)
        else:
            m.d.comb += router.output(ROUTE_TABLE).ready.eq(1)
        wiring.connect(m, router.output(ROUTE_INPUT), x_slice.i)
        if cfg.engine_description.input_reuse:
            # Input segments cross the bus at a beat per cycle into a FIFO the read issuer holds
            # credits for, and drain into the tile buffer (a word per cycle) while the next
            # visit's weights stream: the read stream never waits for the datapath's input.
            core.submodules.x_fifo = x_fifo = StreamFifo(x_words.i.payload.shape(), ReadIssuer.input_fifo_depth(cfg))
            wiring.connect(m, x_slice.o, x_fifo.i)
            wiring.connect(m, x_fifo.o, x_words.i)
            m.d.comb += reads.x_taken.eq(x_fifo.o.valid & x_fifo.o.ready & x_fifo.o.payload.last)
        else:
            wiring.connect(m, x_slice.o, x_words.i)
        wiring.connect(m, q_words.o, gather.i)
        wiring.connect(m, gather.o, rq.params)
        wiring.connect(m, w_words.o, dp.w)
        wiring.connect(m, x_words.o, dp.x)
        wiring.connect(m, dp.o, rq.i)
        wiring.connect(m, rows.o, packer.i)
        wiring.connect(m, packer.o, wr_slice.i)
        wiring.connect(m, wr_slice.o, wr.data)
        m.d.comb += [
            dp.cfg.width.eq(layer.width), dp.cfg.height.eq(layer.height),
            dp.cfg.channel_groups.eq(plan.cg), dp.cfg.kernel.eq(layer.kernel),
            dp.cfg.stride.eq(layer.stride), dp.cfg.padding.eq(layer.padding),
            dp.cfg.out_width.eq(plan.wo), dp.cfg.out_height.eq(plan.ho),
            dp.cfg.groups.eq(plan.mg if cfg.engine_description.input_reuse else 1),
            q_words.count.eq(cfg.pm), e_words.count.eq(1),
            w_words.count.eq(plan.w_words),
            # Input commands: the whole input per pass, or one row segment (W words) each with
            # input reuse.
            x_words.count.eq(layer.width if cfg.engine_description.input_reuse else plan.in_words),
            reads.visit_end.eq(dp.visit_end), reads.x_rows.eq(dp.x_rows), reads.x_need.eq(dp.x_need),
            reads.params_taken.eq(rq.params.valid & rq.params.ready),
            rq.relu.eq(layer.relu),
            rows.length.eq(plan.line), rows.whole.eq(plan.mg == 1), rows.restart.eq(seq.run.launch),
            rq.clear.eq(seq.clear),
            passes.busy.eq(dp.busy), passes.pass_end.eq(dp.pass_end), dp.start.eq(passes.start),
        ]

        # ----- counters of the last run -------------------------------------------------
        m.d.comb += [
            counters.clear.eq(seq.clear), counters.busy.eq(seq.busy), counters.running.eq(seq.run.running),
            counters.starved.eq(dp.starved), counters.write_stall.eq(wr.data.valid & ~wr.data.ready),
            counters.active.eq(dp.active),
            counters.read_issued.eq(rd.cmd.valid & rd.cmd.ready), counters.read_length.eq(rd.cmd.payload.length),
            counters.write_issued.eq(wr.cmd.valid & wr.cmd.ready), counters.write_length.eq(wr.cmd.payload.length),
            ctrl.cycles_lo.eq(counters.cycles[:32]), ctrl.cycles_hi.eq(counters.cycles[32:]),
            ctrl.stall_read.eq(counters.stall_read), ctrl.stall_write.eq(counters.stall_write),
            ctrl.bytes_read.eq(counters.bytes_read), ctrl.bytes_written.eq(counters.bytes_written),
            ctrl.active_cycles.eq(counters.active_cycles),
        ]
        return m


@functools.lru_cache(maxsize=8)
def accelerator_verilog(config: AcceleratorConfig) -> str:
    """The Verilog of ``ConvAccelerator(config)``, top module named ``config.name``. Converted once
    per configuration and rtl source (cached on disk, see :func:`rtl.verilog.cached_verilog`), so
    the simulations, packaging and checks of one configuration share it."""
    return cached_verilog(config.to_json(), config.name, lambda: ConvAccelerator(config))
