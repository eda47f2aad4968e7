"""``vivado/build.tcl`` and ``vivado/README.md``: from the deploy folder to a PYNQ overlay.

``vivado -mode batch -source vivado/build.tcl`` (from any directory) creates a Vivado project
for the board's part in ``vivado/project``, adds the IP repository ``../ip`` (paths are relative
to the script, so the deploy folder can be moved), builds a block design, runs synthesis,
implementation and ``write_bitstream``, and copies the bitstream and the hardware handoff to
``<deploy>/<name>.bit`` and ``<deploy>/<name>.hwh`` (the pair ``pynq.Overlay`` loads).

Block design (one clock domain at ``config.clock_mhz``)::

    PS GP master --AXI Interconnect--> s_axi_control          (AXI3 -> AXI4-Lite)
    m_axi_gmem   --SmartConnect-----> PS HP slave             (AXI4 -> AXI3, width conversion)
    PS PL clock 0 -> ap_clk, every interface clock, proc_sys_reset
    PS PL reset 0 -> proc_sys_reset -> ap_rst_n and the interconnect resets
    interrupt -> PS fabric interrupt 0 (IRQ_F2P[0] / pl_ps_irq0[0])

Decisions:

* The PS is the board table's ``ps``: ``zynq7`` is Zynq-7000 (``processing_system7``:
  ``M_AXI_GP0``, ``S_AXI_HP0``, ``FCLK_CLK0``, ``IRQ_F2P``), ``zynqmp`` is Zynq UltraScale+
  (``zynq_ultra_ps_e``: ``M_AXI_HPM0_FPD``, ``S_AXI_HP0_FPD``, ``pl_clk0``, ``pl_ps_irq0``);
  a board without one is refused with :class:`~dse.packaging.interfaces.PackagingError`.
* Every Xilinx IP is looked up by name in the running Vivado's catalog (``get_ipdefs``, newest
  version), never by a hard-coded version.
* Board presets: when the board's files are installed (``get_board_parts``) the project gets
  the board part and the PS the board preset; otherwise the PS gets only what the design needs
  (PYNQ's boot image has already configured DDR and MIO; loading an overlay programs the PL and
  the PL clocks from the ``.hwh``). Either way the ports the design uses are then enabled
  explicitly, so the preset cannot leave one off.
* HP port width: 64 bits on Zynq-7000 (PYNQ keeps the boot image's setting there), else
  ``min(config.axi_data_width, board.hp_port_bits)``.
* Clock: ``config.clock_mhz`` must be a PL clock the board's PLL delivers
  (``Board.pl_divisor``; :class:`PackagingError` otherwise); after configuring the PS the script
  reads back the frequency it really makes and stops when it differs by more than 0.5 %.
* UltraScale+ needs the board files (their preset sets the PS PLLs); the script names the XHub
  store in ``board.repoPaths`` first, as batch mode does not search it.
* The interrupt goes straight to the PS (no AXI interrupt controller): the driver polls
  ``AP_DONE``; the line is there for bare-metal and Linux UIO users.
* Timing: a design that misses timing (WNS, WHS or TPWS < 0: setup, hold or pulse width)
  stops the script before the copy (a bitstream that misses timing computes wrong results);
  ``-tclargs ignore_timing`` copies anyway.
* The ``.hwh`` is taken from the block design's generated files, else from where Vivado writes
  it (``<project>.gen/sources_1/bd/<bd>/hw_handoff``, ``.srcs`` before 2020.2).
* ``-tclargs module_reference`` instantiates ``rtl/<name>_modref.v`` (module reference) instead
  of the packaged IP, for a Vivado that rejects ``ip/component.xml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rtl import ip_identity
from rtl.config import AcceleratorConfig

from ..boards import Board
from .interfaces import CLOCK, CONTROL_SLAVE, INTERRUPT, MEMORY_MASTER, RESET, PackagingError
from .module_reference import wrapper_name

__all__ = [
    "PsProfile",
    "PS_PROFILES",
    "IP_CELL",
    "ps_profile",
    "hp_width",
    "check_clock",
    "CLOCK_TOLERANCE",
    "render_build_tcl",
    "render_readme",
    "write_vivado",
]

#: Block-design instance name of the accelerator (the driver's docs use ``ol.conv_accelerator_0``).
IP_CELL = f"{ip_identity.NAME}_0"

@dataclass(frozen=True)
class PsProfile:
    """How build.tcl instantiates and wires one processing-system family."""

    family: str
    title: str
    ip_name: str
    cell: str
    automation_rule: str
    clock_pin: str
    reset_pin: str
    irq_pin: str
    gp_master: str
    hp_slave: str
    bus_clock_pins: tuple[str, ...]
    hp_widths: tuple[int, ...]
    #: The read-only PS property holding the PL clock 0 frequency it really makes (MHz).
    actual_clock_property: str

    def config(self, clock_mhz: float, hp_bits: int) -> dict[str, str]:
        """CONFIG properties that enable the ports the block design uses."""
        if hp_bits not in self.hp_widths:
            raise PackagingError(f"the {self.ip_name} HP port cannot be {hp_bits} bits wide (allowed {self.hp_widths})")
        mhz = f"{clock_mhz:g}"
        if self.family == "zynq7":
            return {
                "CONFIG.PCW_USE_M_AXI_GP0": "1",
                "CONFIG.PCW_USE_S_AXI_HP0": "1",
                "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH": str(hp_bits),
                "CONFIG.PCW_EN_CLK0_PORT": "1",
                "CONFIG.PCW_FPGA_FCLK0_ENABLE": "1",
                "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ": mhz,
                "CONFIG.PCW_EN_RST0_PORT": "1",
                "CONFIG.PCW_USE_FABRIC_INTERRUPT": "1",
                "CONFIG.PCW_IRQ_F2P_INTR": "1",
            }
        return {
            "CONFIG.PSU__USE__M_AXI_GP0": "1",       # M_AXI_HPM0_FPD
            "CONFIG.PSU__USE__M_AXI_GP1": "0",       # M_AXI_HPM1_FPD (presets enable it; unused)
            "CONFIG.PSU__USE__M_AXI_GP2": "0",       # M_AXI_HPM0_LPD (unused)
            "CONFIG.PSU__USE__S_AXI_GP2": "1",       # S_AXI_HP0_FPD
            "CONFIG.PSU__SAXIGP2__DATA_WIDTH": str(hp_bits),
            "CONFIG.PSU__FPGA_PL0_ENABLE": "1",
            "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": mhz,
            "CONFIG.PSU__NUM_FABRIC_RESETS": "1",
            "CONFIG.PSU__USE__IRQ0": "1",
        }


PS_PROFILES = {
    "zynq7": PsProfile(
        family="zynq7", title="Zynq-7000", ip_name="processing_system7", cell="ps", automation_rule="xilinx.com:bd_rule:processing_system7",
        clock_pin="FCLK_CLK0", reset_pin="FCLK_RESET0_N", irq_pin="IRQ_F2P",
        gp_master="M_AXI_GP0", hp_slave="S_AXI_HP0", bus_clock_pins=("M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK"),
        # 64 only: PYNQ reprograms the HP port widths on UltraScale+ alone, so a Zynq-7000 overlay
        # must keep the boot image's 64-bit setting.
        hp_widths=(64,), actual_clock_property="CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"),
    "zynqmp": PsProfile(
        family="zynqmp", title="Zynq UltraScale+", ip_name="zynq_ultra_ps_e", cell="ps", automation_rule="xilinx.com:bd_rule:zynq_ultra_ps_e",
        clock_pin="pl_clk0", reset_pin="pl_resetn0", irq_pin="pl_ps_irq0",
        gp_master="M_AXI_HPM0_FPD", hp_slave="S_AXI_HP0_FPD", bus_clock_pins=("maxihpm0_fpd_aclk", "saxihp0_fpd_aclk"),
        hp_widths=(32, 64, 128), actual_clock_property="CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ"),
}


def ps_profile(board: Board) -> PsProfile:
    """The processing system of ``board`` (the board table's ``ps``)."""
    if board.ps not in PS_PROFILES:
        raise PackagingError(f"board {board.name} ({board.part}) has no Zynq processing system: "
                             "build.tcl supports Zynq-7000 and Zynq UltraScale+ boards")
    return PS_PROFILES[board.ps]


def hp_width(config: AcceleratorConfig, board: Board) -> int:
    """Width of the PS HP port the memory master reaches (the SmartConnect converts the rest):
    the board's on Zynq-7000 (64, as the boot image sets it), else the narrower of the two."""
    if board.ps == "zynq7":
        return board.hp_port_bits
    return min(config.axi_data_width, board.hp_port_bits)


#: How far the PL clock the PS makes may be from the design's clock before build.tcl stops.
CLOCK_TOLERANCE = 0.005


def check_clock(config: AcceleratorConfig, board: Board) -> None:
    """PackagingError unless ``config.clock_mhz`` is a PL clock the board's PLL delivers exactly."""
    if board.pl_divisor(config.clock_mhz) is None:
        near = ", ".join(f"{f:.6g}" for f in board.pl_clocks(config.clock_mhz * 0.8, config.clock_mhz * 1.25))
        raise PackagingError(f"{board.name}'s PL clock is its {board.pl_pll_mhz:.6g} MHz PLL divided by integers, so "
                             f"it cannot run at {config.clock_mhz:.6g} MHz; nearby it delivers {near} MHz")


_TCL = r"""# build.tcl: Vivado block design, bitstream and hardware handoff of @NAME@
# for the @TITLE@ (@PART@, @FAMILY_TITLE@) at @MHZ@ MHz.
# Generated by convforge (dse/packaging/vivado_tcl.py); regenerate it with python -m dse.build.
#
#   vivado -mode batch -source vivado/build.tcl [-tclargs OPTION ...]
#
# Runs from any directory: every path is relative to this script. Options:
#   module_reference   instantiate rtl/@MODREF@.v (module reference) instead of the IP in ip/
#   jobs=N             parallel synthesis/implementation jobs (default 4)
#   ignore_timing      copy the bitstream even when timing is not met (WNS, WHS or TPWS < 0)
# Result: ../@NAME@.bit and ../@NAME@.hwh, the pair pynq.Overlay loads;
# reports in vivado/reports, the project in vivado/project.

set design_name {@NAME@}
set part        {@PART@}
set board_file  {@BOARD_FILE@}
set clock_mhz   @MHZ@
set hp_width    @HP_WIDTH@
set ip_vlnv     {@VLNV@}
set cell_name   {@CELL@}

set flow ip
set jobs 4
set ignore_timing 0
foreach arg $argv {
    if {$arg eq "module_reference"} {
        set flow module_reference
    } elseif {[regexp {^jobs=([1-9][0-9]*)$} $arg -> n]} {
        set jobs $n
    } elseif {$arg eq "ignore_timing"} {
        set ignore_timing 1
    } else {
        error "build.tcl: unknown option '$arg' (expected module_reference, jobs=N or ignore_timing)"
    }
}

set script_dir [file dirname [file normalize [info script]]]
set deploy_dir [file dirname $script_dir]
set ip_repo    [file join $deploy_dir ip]
set rtl_dir    [file join $deploy_dir rtl]
set proj_dir   [file join $script_dir project]
set report_dir [file join $script_dir reports]
set bd_name    "${design_name}_bd"

# The newest version of a Xilinx IP in this Vivado's catalog: no IP version is hard-coded.
proc newest_ipdef {name} {
    set defs [get_ipdefs "xilinx.com:ip:${name}:*"]
    if {[llength $defs] == 0} {
        error "build.tcl: this Vivado has no IP named xilinx.com:ip:${name}"
    }
    return [lindex [lsort -dictionary $defs] end]
}

# ----- project ---------------------------------------------------------------------------
# Board files installed from the XHub store are not searched in batch mode unless named.
catch {
    set xhub [file join $::env(HOME) .Xilinx Vivado [version -short] xhub board_store xilinx_board_store]
    if {[file isdirectory $xhub]} {
        set_param board.repoPaths [list $xhub]
    }
}
create_project -force $design_name $proj_dir -part $part
set_property target_language Verilog [current_project]
set board_part ""
if {$board_file ne ""} {
    set board_part [lindex [get_board_parts -quiet -latest_file_version "*:${board_file}:*"] 0]
}
if {$board_part ne ""} {
    set_property board_part $board_part [current_project]
    puts "build.tcl: board files $board_part installed: the PS gets the board preset"
} else {
@NO_BOARD_FILES@
}

if {$flow eq "ip"} {
    set_property ip_repo_paths [list $ip_repo] [current_project]
    update_ip_catalog -rebuild
    if {[llength [get_ipdefs $ip_vlnv]] == 0} {
        error "build.tcl: Vivado did not load $ip_vlnv from $ip_repo; try -tclargs module_reference (vivado/README.md)"
    }
} else {
    add_files -norecurse [list [file join $rtl_dir ${design_name}.v] [file join $rtl_dir @MODREF@.v]]
    update_compile_order -fileset sources_1
}

# ----- block design ----------------------------------------------------------------------
create_bd_design $bd_name
set ps [create_bd_cell -type ip -vlnv [newest_ipdef @PS_IP@] @PS_CELL@]
@PS_AUTOMATION@
set_property -dict [list \
@PS_CONFIG@
] $ps
# The PL clock the PS really makes (its PLL divided by integers) must be the design's clock:
# PYNQ programs the same divisors, and the IP's CLOCK_HZ, the report and the driver's times
# all assume it.
set actual_mhz [get_property @ACT_CLOCK@ $ps]
if {![string is double -strict $actual_mhz] || abs($actual_mhz - $clock_mhz) > @TOLERANCE@ * $clock_mhz} {
    error "build.tcl: the PS makes a $actual_mhz MHz PL clock, not the design's $clock_mhz MHz (its PLL is not the one the design was built for: check the board preset, or rebuild the design for this clock)"
}

if {$flow eq "ip"} {
    create_bd_cell -type ip -vlnv $ip_vlnv $cell_name
} else {
    create_bd_cell -type module -reference @MODREF@ $cell_name
}
create_bd_cell -type ip -vlnv [newest_ipdef proc_sys_reset] rst_pl
set mem_ic [create_bd_cell -type ip -vlnv [newest_ipdef smartconnect] mem_interconnect]
set_property -dict [list CONFIG.NUM_SI 1 CONFIG.NUM_MI 1] $mem_ic
set ctl_ic [create_bd_cell -type ip -vlnv [newest_ipdef axi_interconnect] ctl_interconnect]
set_property -dict [list CONFIG.NUM_SI 1 CONFIG.NUM_MI 1] $ctl_ic

# Memory: @MASTER@ -> SmartConnect (AXI4 to the PS's AXI3, width conversion) -> @HP@.
connect_bd_intf_net [get_bd_intf_pins $cell_name/@MASTER@] [get_bd_intf_pins mem_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins mem_interconnect/M00_AXI] [get_bd_intf_pins @PS_CELL@/@HP@]
# Control: @GP@ -> AXI Interconnect (AXI3 to AXI4-Lite) -> @SLAVE@.
connect_bd_intf_net [get_bd_intf_pins @PS_CELL@/@GP@] [get_bd_intf_pins ctl_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctl_interconnect/M00_AXI] [get_bd_intf_pins $cell_name/@SLAVE@]
# One clock domain: PL clock 0 at @MHZ@ MHz.
connect_bd_net [get_bd_pins @PS_CELL@/@PS_CLK@] \
    [get_bd_pins $cell_name/@CLK@] \
@BUS_CLOCKS@
    [get_bd_pins rst_pl/slowest_sync_clk] \
    [get_bd_pins mem_interconnect/aclk] \
    [get_bd_pins ctl_interconnect/ACLK] \
    [get_bd_pins ctl_interconnect/S00_ACLK] \
    [get_bd_pins ctl_interconnect/M00_ACLK]
# Resets: the PS's PL reset, synchronised by proc_sys_reset.
connect_bd_net [get_bd_pins @PS_CELL@/@PS_RST@] [get_bd_pins rst_pl/ext_reset_in]
connect_bd_net [get_bd_pins rst_pl/peripheral_aresetn] \
    [get_bd_pins $cell_name/@RST@] \
    [get_bd_pins mem_interconnect/aresetn] \
    [get_bd_pins ctl_interconnect/S00_ARESETN] \
    [get_bd_pins ctl_interconnect/M00_ARESETN]
connect_bd_net [get_bd_pins rst_pl/interconnect_aresetn] [get_bd_pins ctl_interconnect/ARESETN]
# Interrupt: level-high, to the PS's first fabric interrupt.
connect_bd_net [get_bd_pins $cell_name/@IRQ@] [get_bd_pins @PS_CELL@/@PS_IRQ@]

assign_bd_address
validate_bd_design
save_bd_design

# ----- synthesis, implementation, bitstream ----------------------------------------------
set bd_file [get_files ${bd_name}.bd]
generate_target all $bd_file
add_files -norecurse [make_wrapper -files $bd_file -top]
set_property top ${bd_name}_wrapper [current_fileset]
update_compile_order -fileset sources_1
launch_runs synth_1 -jobs $jobs
wait_on_run synth_1
if {[get_property PROGRESS [get_runs synth_1]] ne "100%"} {
    error "build.tcl: synthesis failed; see [get_property DIRECTORY [get_runs synth_1]]/runme.log"
}
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "build.tcl: implementation failed; see [get_property DIRECTORY [get_runs impl_1]]/runme.log"
}
open_run impl_1
file mkdir $report_dir
report_timing_summary -file [file join $report_dir timing_summary.rpt]
report_utilization -file [file join $report_dir utilization.rpt]
set wns [get_property STATS.WNS [get_runs impl_1]]
set whs [get_property STATS.WHS [get_runs impl_1]]
set tpws [get_property STATS.TPWS [get_runs impl_1]]
if {$wns < 0 || $whs < 0 || $tpws < 0} {
    set slacks "WNS $wns ns, WHS $whs ns, TPWS $tpws ns"
    if {!$ignore_timing} {
        error "build.tcl: timing not met at $clock_mhz MHz ($slacks; vivado/reports/timing_summary.rpt); no bitstream copied (-tclargs ignore_timing copies it anyway)"
    }
    puts "build.tcl: WARNING: timing not met ($slacks); copying the bitstream as asked"
}

# ----- the PYNQ overlay pair, side by side in the deploy folder --------------------------
set bit [file join [get_property DIRECTORY [get_runs impl_1]] ${bd_name}_wrapper.bit]
set hwh [lindex [get_files -quiet -all -of_objects $bd_file ${bd_name}.hwh] 0]
if {$hwh eq "" || ![file exists $hwh]} {
    # Where Vivado writes it: .gen (2020.2 and later), .srcs before.
    foreach tree [list ${design_name}.gen ${design_name}.srcs] {
        set candidate [file join $proj_dir $tree sources_1 bd $bd_name hw_handoff ${bd_name}.hwh]
        if {[file exists $candidate]} {
            set hwh $candidate
            break
        }
    }
}
if {![file exists $bit]} {
    error "build.tcl: no bitstream at $bit"
}
if {$hwh eq "" || ![file exists $hwh]} {
    error "build.tcl: no hardware handoff ${bd_name}.hwh among the block design's files or under vivado/project/${design_name}.gen or .srcs"
}
file copy -force $bit [file join $deploy_dir ${design_name}.bit]
file copy -force $hwh [file join $deploy_dir ${design_name}.hwh]
puts "build.tcl: wrote [file join $deploy_dir ${design_name}.bit] and ${design_name}.hwh"
"""


def _fill(template: str, replacements: dict[str, str]) -> str:
    text = template
    for key, value in replacements.items():
        text = text.replace(key, value)
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise RuntimeError(f"template placeholder {leftover[0]} has no value")
    return text


def _ps_automation(ps: PsProfile) -> str:
    if ps.family == "zynq7":
        # DDR and FIXED_IO must leave the block design on Zynq-7000, with or without a preset.
        return ("apply_bd_automation -rule " + ps.automation_rule + " -config [list make_external \"FIXED_IO, DDR\" "
                "apply_board_preset [expr {$board_part ne \"\" ? 1 : 0}] Master Disable Slave Disable] $ps")
    return ("if {$board_part ne \"\"} {\n"
            f"    apply_bd_automation -rule {ps.automation_rule} -config {{apply_board_preset 1}} $ps\n"
            "}")


def _no_board_files(ps: PsProfile, board: Board) -> str:
    """What build.tcl does without the board's files: Zynq-7000 goes on with a minimal PS (the
    PYNQ boot image has set its PLLs, and the IP's defaults divide the same 1 GHz IO PLL);
    UltraScale+ stops, as its PLLs would stay at the IP's defaults, which the .hwh divisors
    would then be computed against."""
    if ps.family == "zynq7":
        return f'    puts "build.tcl: no board files for {board.name} installed: minimal PS configuration"'
    return (f'    error "build.tcl: the board files of {board.name} (*:{board.board_file}:*) are not installed; without them '
            'the PS PLLs keep the IP defaults and the PL clock would not be the one PYNQ runs: install them from '
            "the XHub store of Vivado (Tools > Vivado Store > Boards) and run again\"")


def render_build_tcl(config: AcceleratorConfig, board: Board) -> str:
    """The text of ``vivado/build.tcl`` for ``config`` on ``board``."""
    ps = ps_profile(board)
    check_clock(config, board)
    width = hp_width(config, board)
    settings = ps.config(config.clock_mhz, width)
    ps_config = " \\\n".join(f"    {k} {{{v}}}" for k, v in settings.items())
    bus_clocks = "\n".join(f"    [get_bd_pins {ps.cell}/{pin}] \\" for pin in ps.bus_clock_pins)
    replacements = {
        "@NAME@": config.name,
        "@TITLE@": board.vendor_name or board.name,
        "@BOARD@": board.name,
        "@PART@": board.part,
        "@FAMILY_TITLE@": ps.title,
        "@MHZ@": f"{config.clock_mhz:g}",
        "@MODREF@": wrapper_name(config.name),
        "@BOARD_FILE@": board.board_file,
        "@HP_WIDTH@": str(width),
        "@VLNV@": ip_identity.VLNV,
        "@CELL@": IP_CELL,
        "@PS_IP@": ps.ip_name,
        "@PS_CELL@": ps.cell,
        "@PS_AUTOMATION@": _ps_automation(ps),
        "@PS_CONFIG@": ps_config,
        "@MASTER@": MEMORY_MASTER,
        "@SLAVE@": CONTROL_SLAVE,
        "@CLK@": CLOCK,
        "@RST@": RESET,
        "@IRQ@": INTERRUPT,
        "@HP@": ps.hp_slave,
        "@GP@": ps.gp_master,
        "@PS_CLK@": ps.clock_pin,
        "@PS_RST@": ps.reset_pin,
        "@PS_IRQ@": ps.irq_pin,
        "@BUS_CLOCKS@": bus_clocks,
        "@ACT_CLOCK@": ps.actual_clock_property,
        "@TOLERANCE@": f"{CLOCK_TOLERANCE:g}",
        "@NO_BOARD_FILES@": _no_board_files(ps, board),
    }
    return _fill(_TCL, replacements)


_README = """\
# Vivado build of `@NAME@` for the @TITLE@

`build.tcl` turns this deploy folder into a PYNQ overlay: it creates a Vivado project for
`@PART@` (@FAMILY_TITLE@), adds the IP in `../ip` (VLNV `@VLNV@`), builds a block design
around the processing system, runs synthesis, implementation and `write_bitstream`, and copies
the result next to the other build outputs:

```
<deploy>/@NAME@.bit   the bitstream
<deploy>/@NAME@.hwh   the hardware handoff (PYNQ reads the IP, its address and registers from it)
```

## Run it

From the deploy folder (any directory works; the script finds its files relative to itself):

```
vivado -mode batch -source vivado/build.tcl
vivado -mode batch -source vivado/build.tcl -tclargs jobs=8            # more parallel jobs
vivado -mode batch -source vivado/build.tcl -tclargs module_reference  # see below
```

It needs Vivado with @FAMILY_TITLE@ device support; no IP version is hard-coded (each Xilinx IP
is looked up by name in the running Vivado's catalog). The project is written to
`vivado/project`, timing and utilisation reports to `vivado/reports`. If the board files of
the @TITLE@ (`*:@BOARD_FILE_SHOWN@:*`) are installed, the processing system gets the board
preset; otherwise it gets a minimal configuration, which is enough for PYNQ (the board's boot
image configures DDR and MIO; loading the overlay programs the PL and its clocks).

The block design: the PS's `@GP@` master reaches the accelerator's `s_axi_control`
registers through an AXI Interconnect; the accelerator's `m_axi_gmem` master reaches DDR through
a SmartConnect and the PS's `@HP@` port (@HP_WIDTH@ bits); PL clock 0 runs everything at
@MHZ@ MHz (`ap_clk`); `proc_sys_reset` drives `ap_rst_n`; `interrupt` goes to `@PS_IRQ@`.
The instance is named `@CELL@`.

If implementation misses timing (negative WNS) the script stops before copying: a bitstream
that misses timing does not compute correct results. `-tclargs ignore_timing` copies it anyway.

## Load it with PYNQ

Copy `@NAME@.bit` and `@NAME@.hwh` to one folder on the board (PYNQ finds the `.hwh` by the
stem of the `.bit`), install the deploy folder's board runtime there (`pip install --no-deps
convforge_runtime-*.whl`; ../BOARD.md has every step), and:

```python
from pynq import Overlay
import drivers                  # registers drivers.ConvAccelerator for the IP's VLNV, @VLNV@
ol = Overlay("@NAME@.bit")
accel = ol.@CELL@               # a drivers.ConvAccelerator
print(accel.register_map)       # the registers of the IP's memory map
```

## If Vivado rejects the packaged IP: module reference

`-tclargs module_reference` builds the same block design from `rtl/@NAME@.v` and
`rtl/@MODREF@.v`, a wrapper whose ports carry `X_INTERFACE_INFO` attributes, so Vivado
infers the same bus interfaces without `ip/component.xml`. Two differences: the `.hwh` then
lists no registers (the driver brings its own register map) and the cell's type is
`xilinx.com:module_ref:@MODREF@:1.0`, so PYNQ does not bind the driver by itself:

```python
import drivers
from pynq import Overlay
ol = Overlay("@NAME@.bit")
# PYNQ lists a module-reference cell under "<cell>/<interface>", e.g. "@CELL@/s_axi_control".
key = next(k for k in ol.ip_dict if k.split("/")[0] == "@CELL@")
accel = drivers.ConvAccelerator(ol.ip_dict[key])
```
"""


def render_readme(config: AcceleratorConfig, board: Board) -> str:
    """The text of ``vivado/README.md``."""
    ps = ps_profile(board)
    return _fill(_README, {
        "@NAME@": config.name,
        "@TITLE@": board.vendor_name or board.name,
        "@PART@": board.part,
        "@FAMILY_TITLE@": ps.title,
        "@VLNV@": ip_identity.VLNV,
        "@BOARD_FILE_SHOWN@": board.board_file or board.name,
        "@GP@": ps.gp_master,
        "@HP@": ps.hp_slave,
        "@HP_WIDTH@": str(hp_width(config, board)),
        "@MHZ@": f"{config.clock_mhz:g}",
        "@PS_IRQ@": ps.irq_pin,
        "@CELL@": IP_CELL,
        "@MODREF@": wrapper_name(config.name),
    })


def write_vivado(config: AcceleratorConfig, board: Board, out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/vivado/build.tcl`` and ``README.md``; return their paths."""
    vivado = Path(out_dir) / "vivado"
    vivado.mkdir(parents=True, exist_ok=True)
    tcl = vivado / "build.tcl"
    readme = vivado / "README.md"
    tcl.write_text(render_build_tcl(config, board))
    readme.write_text(render_readme(config, board))
    return [tcl, readme]
