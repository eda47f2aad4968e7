"""The accelerator's control register map, built from its configuration.

:func:`control_register_map` lays out the AXI4-Lite map of a ``ConvAccelerator``: the Vitis HLS
``s_axi_control`` block (0x00..0x38), the layer descriptor, status and counters (0x40..0x7C),
the build-information constants (0x80..0xCC, 0xE0), whose values come from the
:class:`rtl.config.AcceleratorConfig`, and the run list (0xD0..0xDC).
"""

from __future__ import annotations

from ..config import AcceleratorConfig
from ..descriptor import POOL_MODES
from ..engine import engine_codes
from .model import REGISTER_BITS, Access, Field, Register, RegisterMap

__all__ = ["CONTROL_ADDR_WIDTH", "BUILD_MAGIC", "BUILD_VERSION", "HLS_CONTROL_FIELDS", "RUN_LIST_ENTRY",
           "RUN_LIST_ENTRY_BYTES", "control_register_map"]

#: Address bits of the s_axi_control port: the register window is 2**CONTROL_ADDR_WIDTH bytes.
CONTROL_ADDR_WIDTH = 8
#: "CVFG" in ASCII: identifies a convforge accelerator.
BUILD_MAGIC = 0x43564647
#: Version of this register layout (bump on any incompatible change).
BUILD_VERSION = 3

#: One entry of a run list in DDR: the descriptor registers' 32-bit values, little-endian, in this
#: order (64 bytes). An entry sets no bit outside its registers' fields (the IP refuses it with
#: BAD_RUN_LIST otherwise).
RUN_LIST_ENTRY = ("IN_CHANNELS", "OUT_CHANNELS", "IN_HEIGHT", "IN_WIDTH", "KERNEL", "STRIDE", "PADDING",
                  "LAYER_FLAGS", "IN_ADDR_LO", "IN_ADDR_HI", "WEIGHT_ADDR_LO", "WEIGHT_ADDR_HI", "OUT_ADDR_LO",
                  "OUT_ADDR_HI", "QUANT_ADDR_LO", "QUANT_ADDR_HI")
#: Bytes of one run-list entry (RUNLIST_ADDR must be a multiple of it).
RUN_LIST_ENTRY_BYTES = 4 * len(RUN_LIST_ENTRY)


#: Fields implementing the Vitis HLS block-level control protocol. The control slave binds
#: them to the ``ap_*`` ports named here instead of the generic per-field ports (empty name:
#: driven internally from ``ap_done`` / ``ap_ready`` and the enables, no port).
HLS_CONTROL_FIELDS = {
    ("CTRL", "AP_START"): "ap_start",
    ("CTRL", "AP_DONE"): "ap_done",
    ("CTRL", "AP_IDLE"): "ap_idle",
    ("CTRL", "AP_READY"): "ap_ready",
    ("IP_ISR", "DONE"): "",
    ("IP_ISR", "READY"): "",
}


def _full(name: str, offset: int, access: Access, description: str, width: int = REGISTER_BITS,
          constant: int | None = None) -> Register:
    """A register holding one field named like itself."""
    return Register(name, offset, (Field(name, 0, width, access, description, constant=constant),), description)


def control_register_map(config) -> RegisterMap:
    """The AXI4-Lite register map of the accelerator built from ``config``.

    Offsets 0x00..0x38 follow the Vitis HLS ``s_axi_control`` layout of the reference design's
    ``conv3_3`` kernel; 0x40.. hold the layer descriptor, status, counters and build info.
    """
    if not isinstance(config, AcceleratorConfig):
        raise TypeError(f"config must be an AcceleratorConfig, got {type(config).__name__}")
    RW, RO, COR, TOW, SC = Access.RW, Access.RO, Access.COR, Access.TOW, Access.SC
    regs = [
        Register("CTRL", 0x00, (
            Field("AP_START", 0, 1, SC, "write 1 to start a run (ignored by the core unless AP_IDLE)"),
            Field("AP_DONE", 1, 1, COR, "the run finished (cleared when CTRL is read)"),
            Field("AP_IDLE", 2, 1, RO, "the core is idle and accepts AP_START"),
            Field("AP_READY", 3, 1, COR, "the core took its inputs and is ready for new ones (cleared when CTRL is read)"),
            Field("AUTO_RESTART", 7, 1, RW, "start again automatically when a run finishes"),
            Field("ABORT", 8, 1, SC, "write 1 to stop the running layer (or run list): no further memory traffic "
                  "is issued, outstanding reads drain, issued write bursts finish with no byte enabled, the "
                  "datapath is reset and the run ends (AP_DONE) with STATUS.ERROR = ABORTED; ignored while idle"),
        ), "Vitis HLS block-level control"),
        Register("GIER", 0x04, (Field("ENABLE", 0, 1, RW, "global interrupt enable"),),
                 "global interrupt enable"),
        Register("IP_IER", 0x08, (
            Field("DONE", 0, 1, RW, "interrupt on ap_done"),
            Field("READY", 1, 1, RW, "interrupt on ap_ready"),
        ), "IP interrupt enable"),
        Register("IP_ISR", 0x0C, (
            Field("DONE", 0, 1, TOW, "ap_done happened while IP_IER.DONE was set (a write of 1 toggles it: write 1 while it is set to clear it)"),
            Field("READY", 1, 1, TOW, "ap_ready happened while IP_IER.READY was set (a write of 1 toggles it: write 1 while it is set to clear it)"),
        ), "IP interrupt status"),
        _full("IN_ADDR_LO", 0x10, RW, "input feature map address, bits 31:0"),
        _full("IN_ADDR_HI", 0x14, RW, "input feature map address, bits 63:32"),
        _full("WEIGHT_ADDR_LO", 0x1C, RW, "weight buffer address, bits 31:0"),
        _full("WEIGHT_ADDR_HI", 0x20, RW, "weight buffer address, bits 63:32"),
        _full("OUT_ADDR_LO", 0x28, RW, "output feature map address, bits 31:0"),
        _full("OUT_ADDR_HI", 0x2C, RW, "output feature map address, bits 63:32"),
        _full("QUANT_ADDR_LO", 0x34, RW, "bias/requantisation table address, bits 31:0"),
        _full("QUANT_ADDR_HI", 0x38, RW, "bias/requantisation table address, bits 63:32"),
        _full("IN_CHANNELS", 0x40, RW, "input channels C", 16),
        _full("OUT_CHANNELS", 0x44, RW, "output channels M", 16),
        _full("IN_HEIGHT", 0x48, RW, "input height H (pixels)", 16),
        _full("IN_WIDTH", 0x4C, RW, "input width W (pixels)", 16),
        _full("KERNEL", 0x50, RW, "kernel size K (K x K)", 4),
        _full("STRIDE", 0x54, RW, "stride", 4),
        _full("PADDING", 0x58, RW, "zero padding on every side", 4),
        Register("LAYER_FLAGS", 0x5C, (
            Field("RELU", 0, 1, RW, "apply ReLU in the requantiser"),
            Field("TABLE", 1, 1, RW, "map every output through the 256-byte activation table that opens the quant "
                  "buffer (builds with ACT_TABLE = 1)"),
            Field("POOL", 2, 2, RW, f"pool the outputs after the requantiser and the table, 2x2 stride 2 "
                  f"({', '.join(f'{i}: {mode}' for i, mode in enumerate(POOL_MODES))}; builds with POOLING = 1): "
                  "the run writes half the output's height and width (both must be even)"),
        ), "layer options"),
        Register("STATUS", 0x60, (
            Field("ERROR", 0, 8, RO, "ErrorCode of the last run (0 = OK)"),
            Field("BUSY", 8, 1, RO, "a run is in progress"),
        ), "run status"),
        _full("CYCLES_LO", 0x64, RO, "clock cycles of the last run, bits 31:0"),
        _full("CYCLES_HI", 0x68, RO, "clock cycles of the last run, bits 63:32"),
        _full("STALL_READ", 0x6C, RO, "cycles of the last run the engine waited for read data"),
        _full("STALL_WRITE", 0x70, RO, "cycles of the last run the engine waited on the write channel"),
        _full("BYTES_READ", 0x74, RO, "bytes read from memory in the last run"),
        _full("BYTES_WRITTEN", 0x78, RO, "bytes written to memory in the last run"),
        _full("ACTIVE_CYCLES", 0x7C, RO, "cycles of the last run the PE array accepted a beat"),
    ]
    engine = config.engine_description
    build_info = [
        ("MAGIC", 0x80, BUILD_MAGIC, "identifies a convforge accelerator (\"CVFG\")"),
        ("VERSION", 0x84, BUILD_VERSION, "register layout version"),
        ("ENGINE", 0x88, engine.code, f"engine: {engine_codes()} (AcceleratorConfig.engine)"),
        ("WINO_M", 0x8C, config.m, "Winograd output tile m of F(m,3), 0 for direct (AcceleratorConfig.m)"),
        ("PM", 0x90, config.pm, "output-channel parallelism (AcceleratorConfig.pm)"),
        ("PN", 0x94, config.pn, "input-channel parallelism (AcceleratorConfig.pn)"),
        ("DATA_WIDTH", 0x98, config.data_width, "activation/weight bits (AcceleratorConfig.data_width)"),
        ("AXI_DATA_WIDTH", 0x9C, config.axi_data_width, "memory bus bits (AcceleratorConfig.axi_data_width)"),
        ("MAX_WIDTH", 0xA0, config.max_width, "largest input width (AcceleratorConfig.max_width)"),
        ("MAX_HEIGHT", 0xA4, config.max_height, "largest input height (AcceleratorConfig.max_height)"),
        ("MAX_CHANNELS", 0xA8, config.max_channels, "largest channel count (AcceleratorConfig.max_channels)"),
        ("MAX_KERNEL", 0xAC, config.max_kernel, "largest kernel size (AcceleratorConfig.max_kernel)"),
        ("MAX_STRIDE", 0xB0, config.max_stride, "largest stride (AcceleratorConfig.max_stride)"),
        ("ACC_WIDTH", 0xB4, config.acc_width, "accumulator bits (AcceleratorConfig.acc_width)"),
        ("CLOCK_HZ", 0xB8, round(config.clock_mhz * 1e6), "design clock in Hz (AcceleratorConfig.clock_mhz: a PL "
         "clock the board's PLL delivers exactly, e.g. 1000/7 MHz = 142857143 Hz on PYNQ-Z2)"),
        ("MAX_ROW_WORDS", 0xBC, config.row_words, "line-buffer row capacity in pn-words: largest W*ceil(C/pn) (AcceleratorConfig.row_words)"),
        ("MAX_WEIGHT_TAPS", 0xC0, config.weight_depth, "weight-buffer bank capacity: largest ceil(C/pn)*K*K (AcceleratorConfig.weight_depth)"),
        ("REQUANT_LANES", 0xC4, config.requant_lanes, "output channels requantised per cycle (AcceleratorConfig.requant_lanes)"),
        ("AXI_ADDR_WIDTH", 0xC8, config.axi_addr_width, "memory address bits: every buffer must end at or below 2^AXI_ADDR_WIDTH (AcceleratorConfig.axi_addr_width)"),
        ("ACT_TABLE", 0xCC, int(config.activation_table), "1: the build has an activation table (LAYER_FLAGS.TABLE; AcceleratorConfig.activation_table)"),
    ]
    pooling = [("POOLING", 0xE0, int(config.pooling), "1: the build has a 2x2 pooling stage (LAYER_FLAGS.POOL; AcceleratorConfig.pooling)")]
    regs += [_full(name, offset, RO, text, constant=value) for name, offset, value, text in build_info]
    regs += [
        _full("RUNLIST_ADDR_LO", 0xD0, RW, f"run list address, bits 31:0 (a multiple of {RUN_LIST_ENTRY_BYTES})"),
        _full("RUNLIST_ADDR_HI", 0xD4, RW, "run list address, bits 63:32"),
        _full("RUNLIST_COUNT", 0xD8, RW, "entries of the run list AP_START walks; 0: AP_START runs the descriptor "
              f"registers instead. Each {RUN_LIST_ENTRY_BYTES}-byte entry holds the descriptor registers' values "
              "(rtl.registers.RUN_LIST_ENTRY); AP_DONE comes after the last entry or at the first that fails", 16),
        _full("RUNLIST_INDEX", 0xDC, RO, "entries of the run list finished since AP_START: after AP_DONE, the entry "
              "STATUS.ERROR is about (RUNLIST_COUNT when every entry ran)", 16),
    ]
    regs += [_full(name, offset, RO, text, constant=value) for name, offset, value, text in pooling]
    return RegisterMap(regs, name="control")
