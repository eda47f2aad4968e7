"""ConvAccelerator: the runtime-configurable conv-layer engine, DDR to DDR (direct or Winograd)."""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out

from .axi.control_slave import ControlSlave
from .axi.read_master import AXI4ReadMaster
from .axi.signature import AXI4LiteSignature, AXI4Signature, connect_flat, flat_members
from .axi.write_master import AXI4WriteMaster
from .config import AcceleratorConfig
from .control.layer_check import LayerCheck
from .dma.beats_to_words import BeatsToWords
from .dma.router import BeatRouter
from .dma.words_to_beats import WordsToBeats
from .engine import DatapathSignature
from .error_codes import ErrorCode
from .numerics import QUANT_ENTRY_BYTES
from .pe.requantiser import Requantiser, quant_param_layout
from .registers import control_register_map
from .verilog import to_verilog

__all__ = ["ConvAccelerator", "accelerator_verilog", "CONTROL_ADDR_WIDTH", "ROUTE_QUANT", "ROUTE_WEIGHTS", "ROUTE_INPUT"]

CONTROL_ADDR_WIDTH = 8
ROUTE_QUANT, ROUTE_WEIGHTS, ROUTE_INPUT = 0, 1, 2


class ConvAccelerator(wiring.Component):
    """One conv-layer engine for every layer of a network, configured through registers.

    Ports (Vivado/Vitis-HLS names): ``ap_clk``, ``ap_rst_n`` (active-low synchronous reset),
    ``interrupt``, ``m_axi_gmem_*`` (AXI4 master, ``config.axi_data_width`` data, 64-bit
    addresses) and ``s_axi_control_*`` (AXI4-Lite slave, 32-bit data, 8-bit addresses; the
    register map is ``rtl.registers.control_register_map(config)``).

    Per layer (after AP_START): the descriptor is checked (a refused one sets STATUS.ERROR and
    finishes with no memory traffic); then, for each group of ``pm`` output channels, the
    group's quant entries and weights are read, the whole input streams through the engine's
    datapath (rtl/engine: line buffer + MAC array, or tile buffer + Winograd transforms + EWMM
    array + output buffer; the next group's weights load into the other ping-pong bank
    meanwhile), and the requantised outputs are written back. AP_DONE comes when every write
    response has arrived. DDR layouts: docs/memory-layout.md.
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        self.register_map = control_register_map(config)
        members = {"ap_clk": In(1), "ap_rst_n": In(1), "interrupt": Out(1)}
        members.update(flat_members("m_axi_gmem", AXI4Signature(addr_width=config.axi_addr_width, data_width=config.axi_data_width)))
        members.update(flat_members("s_axi_control", AXI4LiteSignature(addr_width=CONTROL_ADDR_WIDTH, data_width=32).flip()))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        bus_bits = cfg.axi_data_width
        dw = cfg.data_width

        m.domains.sync = ClockDomain("sync", local=True)
        m.d.comb += [ClockSignal("sync").eq(self.ap_clk), ResetSignal("sync").eq(~self.ap_rst_n)]

        # ----- bus interfaces -----------------------------------------------------------
        m.submodules.ctrl = ctrl = ControlSlave(self.register_map)
        m.submodules.rd = rd = AXI4ReadMaster(data_width=bus_bits, addr_width=cfg.axi_addr_width,
                                              max_outstanding=cfg.outstanding_reads)
        m.submodules.wr = wr = AXI4WriteMaster(data_width=bus_bits, addr_width=cfg.axi_addr_width)
        connect_flat(m, self, "s_axi_control", ctrl.axi)
        connect_flat(m, self, "m_axi_gmem", rd.axi)
        connect_flat(m, self, "m_axi_gmem", wr.axi)
        m.d.comb += self.interrupt.eq(ctrl.interrupt)

        # ----- datapath -----------------------------------------------------------------
        m.submodules.router = router = BeatRouter(bus_bits, 3)
        m.submodules.route_fifo = route_fifo = fifo.SyncFIFOBuffered(width=2, depth=8)
        m.submodules.q_words = q_words = BeatsToWords(bus_bits, 8 * QUANT_ENTRY_BYTES)
        m.submodules.w_words = w_words = BeatsToWords(bus_bits, cfg.pm * cfg.pn * dw)
        m.submodules.x_words = x_words = BeatsToWords(bus_bits, cfg.pn * dw)
        m.submodules.dp = dp = cfg.engine_description.datapath(cfg)
        if dp.signature != DatapathSignature(cfg, dp.acc_width):
            raise TypeError(f"the {cfg.engine} datapath does not present the engine-to-top contract "
                            f"(rtl.engine.signature.DatapathSignature)")
        m.submodules.rq = rq = Requantiser(cfg.pm, dp.acc_width, lanes=cfg.requant_lanes)
        m.submodules.packer = packer = WordsToBeats(8 * cfg.pm, bus_bits)
        m.submodules.check = check = LayerCheck(cfg)

        wiring.connect(m, rd.data, router.i)
        m.d.comb += [
            router.route.payload.eq(route_fifo.r_data),
            router.route.valid.eq(route_fifo.r_rdy),
            route_fifo.r_en.eq(router.route.ready),
        ]
        wiring.connect(m, router.output(ROUTE_QUANT), q_words.i)
        wiring.connect(m, router.output(ROUTE_WEIGHTS), w_words.i)
        wiring.connect(m, router.output(ROUTE_INPUT), x_words.i)

        # Quant entries: gather pm 128-bit entries into one parameter set per group.
        m.submodules.params_fifo = params_fifo = fifo.SyncFIFOBuffered(
            width=data.ArrayLayout(quant_param_layout(), cfg.pm).size, depth=2)
        gather = Signal(data.ArrayLayout(quant_param_layout(), cfg.pm))
        gather_index = Signal(range(cfg.pm))
        gather_full = Signal()
        m.d.comb += [
            q_words.o.ready.eq(~gather_full),
            params_fifo.w_data.eq(gather),
            params_fifo.w_en.eq(gather_full),
        ]
        with m.If(gather_full & params_fifo.w_rdy):
            m.d.sync += gather_full.eq(0)
        with m.If(q_words.o.valid & q_words.o.ready):
            entry = q_words.o.payload.data
            with m.Switch(gather_index):
                for k in range(cfg.pm):
                    with m.Case(k):
                        m.d.sync += gather[k].eq(entry[: quant_param_layout().size])
            m.d.sync += gather_index.eq(Mux(gather_index == cfg.pm - 1, 0, gather_index + 1))
            with m.If(gather_index == cfg.pm - 1):
                m.d.sync += gather_full.eq(1)
        m.d.comb += [
            rq.params.payload.eq(params_fifo.r_data),
            rq.params.valid.eq(params_fifo.r_rdy),
            params_fifo.r_en.eq(rq.params.ready),
        ]

        # Weights and activations into the engine, pixels out to the requantiser.
        m.d.comb += [
            dp.w.payload.word.eq(w_words.o.payload.data),
            dp.w.payload.last.eq(w_words.o.payload.last),
            dp.w.valid.eq(w_words.o.valid),
            w_words.o.ready.eq(dp.w.ready),
            dp.x.payload.eq(x_words.o.payload.data),
            dp.x.valid.eq(x_words.o.valid),
            x_words.o.ready.eq(dp.x.ready),
        ]
        wiring.connect(m, dp.o, rq.i)
        m.d.comb += [
            packer.i.payload.data.eq(rq.o.payload.data),
            packer.i.payload.last.eq(rq.o.payload.last),
            packer.i.valid.eq(rq.o.valid),
            rq.o.ready.eq(packer.i.ready),
        ]
        wiring.connect(m, packer.o, wr.data)

        # ----- control ------------------------------------------------------------------
        # The descriptor registers are copied at AP_START so the host may rewrite them mid-run.
        layer = Signal(check.desc.shape())
        plan = check.plan
        regs_desc = Signal(check.desc.shape())
        m.d.comb += [
            regs_desc.in_channels.eq(ctrl.in_channels), regs_desc.out_channels.eq(ctrl.out_channels),
            regs_desc.height.eq(ctrl.in_height), regs_desc.width.eq(ctrl.in_width),
            regs_desc.kernel.eq(ctrl.kernel), regs_desc.stride.eq(ctrl.stride),
            regs_desc.padding.eq(ctrl.padding), regs_desc.relu.eq(ctrl.layer_flags_relu),
            regs_desc.in_addr.eq((ctrl.in_addr_hi << 32) | ctrl.in_addr_lo),
            regs_desc.weight_addr.eq((ctrl.weight_addr_hi << 32) | ctrl.weight_addr_lo),
            regs_desc.out_addr.eq((ctrl.out_addr_hi << 32) | ctrl.out_addr_lo),
            regs_desc.quant_addr.eq((ctrl.quant_addr_hi << 32) | ctrl.quant_addr_lo),
            check.desc.eq(layer),
        ]
        m.d.comb += [
            dp.cfg.width.eq(layer.width), dp.cfg.height.eq(layer.height),
            dp.cfg.channel_groups.eq(plan.cg), dp.cfg.kernel.eq(layer.kernel),
            dp.cfg.stride.eq(layer.stride), dp.cfg.padding.eq(layer.padding),
            dp.cfg.out_width.eq(plan.wo), dp.cfg.out_height.eq(plan.ho),
            q_words.count.eq(cfg.pm),
            w_words.count.eq(plan.taps),
            x_words.count.eq(plan.in_words),
            rq.pixels.eq(plan.out_pixels),
            rq.relu.eq(layer.relu),
        ]

        error = Signal(8)
        running = Signal()  # groups are being issued and computed
        # Read command issuer: per group, quant entries, weights, then the whole input.
        rd_group = Signal(16)
        rd_phase = Signal(range(3))
        q_addr = Signal(64)
        w_addr = Signal(64)
        with m.Switch(rd_phase):
            with m.Case(ROUTE_QUANT):
                m.d.comb += [rd.cmd.payload.addr.eq(q_addr), rd.cmd.payload.length.eq(cfg.pm * QUANT_ENTRY_BYTES)]
            with m.Case(ROUTE_WEIGHTS):
                m.d.comb += [rd.cmd.payload.addr.eq(w_addr), rd.cmd.payload.length.eq(plan.w_bytes)]
            with m.Case(ROUTE_INPUT):
                m.d.comb += [rd.cmd.payload.addr.eq(layer.in_addr), rd.cmd.payload.length.eq(plan.in_bytes)]
        m.d.comb += [
            rd.cmd.valid.eq(running & (rd_group < plan.mg) & route_fifo.w_rdy),
            route_fifo.w_data.eq(rd_phase),
            route_fifo.w_en.eq(rd.cmd.valid & rd.cmd.ready),
        ]
        with m.If(rd.cmd.valid & rd.cmd.ready):
            with m.Switch(rd_phase):
                with m.Case(ROUTE_QUANT):
                    m.d.sync += [rd_phase.eq(ROUTE_WEIGHTS), q_addr.eq(q_addr + cfg.pm * QUANT_ENTRY_BYTES)]
                with m.Case(ROUTE_WEIGHTS):
                    m.d.sync += [rd_phase.eq(ROUTE_INPUT), w_addr.eq(w_addr + plan.w_bytes)]
                with m.Case(ROUTE_INPUT):
                    m.d.sync += [rd_phase.eq(ROUTE_QUANT), rd_group.eq(rd_group + 1)]

        # Engine passes: one per output-channel group, the next once the previous has ended.
        passes_started = Signal(16)
        passes_ended = Signal(16)
        m.d.comb += dp.start.eq(running & ~dp.busy & (passes_started < plan.mg) & (passes_started == passes_ended))
        with m.If(dp.start):
            m.d.sync += passes_started.eq(passes_started + 1)
        with m.If(dp.pass_end):
            m.d.sync += passes_ended.eq(passes_ended + 1)

        # Write command issuer and completion.
        wr_group = Signal(16)
        out_addr = Signal(64)
        done_groups = Signal(16)
        write_error = Signal()
        m.d.comb += [
            wr.cmd.payload.addr.eq(out_addr),
            wr.cmd.payload.length.eq(plan.out_bytes),
            wr.cmd.valid.eq(running & (wr_group < plan.mg)),
            wr.done.ready.eq(1),
        ]
        with m.If(wr.cmd.valid & wr.cmd.ready):
            m.d.sync += [wr_group.eq(wr_group + 1), out_addr.eq(out_addr + plan.out_bytes)]
        with m.If(wr.done.valid):
            m.d.sync += done_groups.eq(done_groups + 1)
            with m.If(wr.done.payload.error):
                m.d.sync += write_error.eq(1)

        # Counters of the last run.
        cycles = Signal(64)
        stall_read = Signal(32)
        stall_write = Signal(32)
        bytes_read = Signal(32)
        bytes_written = Signal(32)
        active = Signal(32)
        with m.If(running):
            with m.If(dp.starved):
                m.d.sync += stall_read.eq(stall_read + 1)
            with m.If(wr.data.valid & ~wr.data.ready):
                m.d.sync += stall_write.eq(stall_write + 1)
        with m.If(dp.active):
            m.d.sync += active.eq(active + 1)
        with m.If(rd.cmd.valid & rd.cmd.ready):
            m.d.sync += bytes_read.eq(bytes_read + rd.cmd.payload.length)
        with m.If(wr.cmd.valid & wr.cmd.ready):
            m.d.sync += bytes_written.eq(bytes_written + wr.cmd.payload.length)
        m.d.comb += [
            ctrl.status_error.eq(error),
            ctrl.cycles_lo.eq(cycles[:32]), ctrl.cycles_hi.eq(cycles[32:]),
            ctrl.stall_read.eq(stall_read), ctrl.stall_write.eq(stall_write),
            ctrl.bytes_read.eq(bytes_read), ctrl.bytes_written.eq(bytes_written),
            ctrl.active_cycles.eq(active),
        ]

        with m.FSM(name="layer") as fsm:
            with m.State("IDLE"):
                m.d.comb += ctrl.ap_idle.eq(1)
                with m.If(ctrl.ap_start):
                    m.d.sync += [
                        layer.eq(regs_desc), error.eq(ErrorCode.OK),
                        cycles.eq(0), stall_read.eq(0), stall_write.eq(0), active.eq(0),
                        bytes_read.eq(0), bytes_written.eq(0),
                    ]
                    m.d.comb += [rd.clear_error.eq(1), wr.clear_error.eq(1), rq.clear.eq(1)]
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += check.start.eq(1)
                m.next = "CHECKING"
            with m.State("CHECKING"):
                with m.If(check.done):
                    with m.If(check.error != ErrorCode.OK):
                        m.d.sync += error.eq(check.error)
                        m.next = "FINISH"
                    with m.Else():
                        m.d.sync += [
                            running.eq(1), rd_group.eq(0), rd_phase.eq(ROUTE_QUANT), wr_group.eq(0),
                            passes_started.eq(0), passes_ended.eq(0), done_groups.eq(0), write_error.eq(0),
                            q_addr.eq(layer.quant_addr), w_addr.eq(layer.weight_addr), out_addr.eq(layer.out_addr),
                        ]
                        m.next = "RUN"
            with m.State("RUN"):
                with m.If((done_groups == plan.mg) & rd.idle & wr.idle):
                    m.d.sync += running.eq(0)
                    with m.If(rd.error):
                        m.d.sync += error.eq(ErrorCode.AXI_READ_ERROR)
                    with m.Elif(write_error | wr.error):
                        m.d.sync += error.eq(ErrorCode.AXI_WRITE_ERROR)
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [ctrl.ap_done.eq(1), ctrl.ap_ready.eq(1)]
                m.next = "IDLE"
        with m.If(~fsm.ongoing("IDLE")):
            m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += ctrl.status_busy.eq(~fsm.ongoing("IDLE"))
        return m


def accelerator_verilog(config: AcceleratorConfig) -> str:
    """The Verilog of ``ConvAccelerator(config)``, top module named ``config.name``."""
    return to_verilog(ConvAccelerator(config), config.name)
