# vivado_stub.tcl: run a Vivado batch script in plain tclsh with the Vivado commands stubbed.
#
#   tclsh vivado_stub.tcl SETUP.tcl SCRIPT.tcl [SCRIPT ARGS ...]
#
# SETUP.tcl (written by tests/unit/test_packaging.py) sets the dict `stub_setup`:
#   deploy_root   the deploy folder: every path the script passes to Vivado must lie inside it
#   state_file    where the final state is written as JSON (also after a failure)
#   board_parts   board parts "installed" in this Vivado (get_board_parts)
#   wns, whs, tpws  worst setup, hold and pulse-width slack the implementation run reports (ns)
#   pl_pll_mhz    the PS PLL the PL clock is divided from: the PS's actual-frequency property
#                 is that PLL over the integer divisor nearest the request, as in Vivado
#   hwh_listed    0: get_files does not list the generated .hwh (the script must look for it)
#   hwh_written   0: generate_target writes no .hwh at all
#   ipxact        component.xml path -> IP definition (parsed from the file by the test)
#   modules       Verilog file path -> {module name -> definition} (parsed by the test)
#
# An IP or module definition is a dict: vlnv, defaults (CONFIG.* -> value: the only properties
# set_property accepts), choices (CONFIG.* -> allowed values), pins (name -> {dir I|O required
# 0|1 when COND}), intf_pins (name -> {mode Master|Slave required 0|1 when COND}); COND is a
# flat list of "CONFIG.X op value" triples (op == or >=) that must all hold for the pin to exist.
#
# The stub models what the script does to Vivado: the project, the IP catalog (the Xilinx IPs
# below plus every component.xml found in ip_repo_paths), the block design (cells with their
# configuration-dependent pins, nets, interface nets), address assignment, validation (required
# pins connected, one driver per net, addresses assigned after the last interface connection),
# output products, runs and the files Vivado would write (the .hwh, the wrapper, the .bit), so
# the script's own file handling runs for real. Every call is recorded. An unknown command, an
# unknown pin or property, a path outside the deploy folder or a failed validation is an error,
# and the script fails as it would in Vivado.
#
# The Xilinx catalog lists only the pins and properties build.tcl may touch, with the defaults
# of a freshly created cell; two versions of some IPs exercise the script's newest-version lookup.

set stub_xilinx_catalog {
    xilinx.com:ip:processing_system7:5.4 {}
    xilinx.com:ip:processing_system7:5.5 {
        defaults {
            CONFIG.PCW_USE_M_AXI_GP0 0 CONFIG.PCW_USE_S_AXI_HP0 0 CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64
            CONFIG.PCW_EN_CLK0_PORT 0 CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ 50 CONFIG.PCW_EN_RST0_PORT 0
            CONFIG.PCW_USE_FABRIC_INTERRUPT 0 CONFIG.PCW_IRQ_F2P_INTR 0 CONFIG.PCW_FPGA_FCLK0_ENABLE 0
        }
        choices {
            CONFIG.PCW_USE_M_AXI_GP0 {0 1} CONFIG.PCW_USE_S_AXI_HP0 {0 1} CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {32 64}
            CONFIG.PCW_EN_CLK0_PORT {0 1} CONFIG.PCW_EN_RST0_PORT {0 1} CONFIG.PCW_USE_FABRIC_INTERRUPT {0 1}
            CONFIG.PCW_IRQ_F2P_INTR {0 1} CONFIG.PCW_FPGA_FCLK0_ENABLE {0 1}
        }
        actual {CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ}
        pins {
            FCLK_CLK0      {dir O required 0 when {CONFIG.PCW_EN_CLK0_PORT == 1}}
            FCLK_RESET0_N  {dir O required 0 when {CONFIG.PCW_EN_RST0_PORT == 1}}
            M_AXI_GP0_ACLK {dir I required 1 when {CONFIG.PCW_USE_M_AXI_GP0 == 1}}
            S_AXI_HP0_ACLK {dir I required 1 when {CONFIG.PCW_USE_S_AXI_HP0 == 1}}
            IRQ_F2P        {dir I required 0 when {CONFIG.PCW_USE_FABRIC_INTERRUPT == 1 CONFIG.PCW_IRQ_F2P_INTR == 1}}
        }
        intf_pins {
            M_AXI_GP0 {mode Master required 0 when {CONFIG.PCW_USE_M_AXI_GP0 == 1}}
            S_AXI_HP0 {mode Slave required 0 when {CONFIG.PCW_USE_S_AXI_HP0 == 1}}
            DDR       {mode Master required 1 when {}}
            FIXED_IO  {mode Master required 1 when {}}
        }
        automation xilinx.com:bd_rule:processing_system7
    }
    xilinx.com:ip:zynq_ultra_ps_e:3.3 {}
    xilinx.com:ip:zynq_ultra_ps_e:3.10 {
        defaults {
            CONFIG.PSU__USE__M_AXI_GP0 1 CONFIG.PSU__USE__M_AXI_GP1 1 CONFIG.PSU__USE__M_AXI_GP2 0
            CONFIG.PSU__USE__S_AXI_GP2 0 CONFIG.PSU__SAXIGP2__DATA_WIDTH 128 CONFIG.PSU__FPGA_PL0_ENABLE 1
            CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 100 CONFIG.PSU__NUM_FABRIC_RESETS 1 CONFIG.PSU__USE__IRQ0 0
        }
        choices {
            CONFIG.PSU__USE__M_AXI_GP0 {0 1} CONFIG.PSU__USE__M_AXI_GP1 {0 1} CONFIG.PSU__USE__M_AXI_GP2 {0 1}
            CONFIG.PSU__USE__S_AXI_GP2 {0 1} CONFIG.PSU__SAXIGP2__DATA_WIDTH {32 64 128}
            CONFIG.PSU__FPGA_PL0_ENABLE {0 1} CONFIG.PSU__NUM_FABRIC_RESETS {0 1 2 3 4} CONFIG.PSU__USE__IRQ0 {0 1}
        }
        pins {
            pl_clk0           {dir O required 0 when {CONFIG.PSU__FPGA_PL0_ENABLE == 1}}
            pl_resetn0        {dir O required 0 when {CONFIG.PSU__NUM_FABRIC_RESETS >= 1}}
            maxihpm0_fpd_aclk {dir I required 1 when {CONFIG.PSU__USE__M_AXI_GP0 == 1}}
            maxihpm1_fpd_aclk {dir I required 1 when {CONFIG.PSU__USE__M_AXI_GP1 == 1}}
            maxihpm0_lpd_aclk {dir I required 1 when {CONFIG.PSU__USE__M_AXI_GP2 == 1}}
            saxihp0_fpd_aclk  {dir I required 1 when {CONFIG.PSU__USE__S_AXI_GP2 == 1}}
            pl_ps_irq0        {dir I required 0 when {CONFIG.PSU__USE__IRQ0 == 1}}
        }
        actual {CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ}
        intf_pins {
            M_AXI_HPM0_FPD {mode Master required 0 when {CONFIG.PSU__USE__M_AXI_GP0 == 1}}
            M_AXI_HPM1_FPD {mode Master required 0 when {CONFIG.PSU__USE__M_AXI_GP1 == 1}}
            M_AXI_HPM0_LPD {mode Master required 0 when {CONFIG.PSU__USE__M_AXI_GP2 == 1}}
            S_AXI_HP0_FPD  {mode Slave required 0 when {CONFIG.PSU__USE__S_AXI_GP2 == 1}}
        }
        automation xilinx.com:bd_rule:zynq_ultra_ps_e
    }
    xilinx.com:ip:proc_sys_reset:5.0 {
        defaults {CONFIG.C_EXT_RST_WIDTH 4}
        choices {}
        pins {
            slowest_sync_clk     {dir I required 1 when {}}
            ext_reset_in         {dir I required 1 when {}}
            aux_reset_in         {dir I required 0 when {}}
            mb_debug_sys_rst     {dir I required 0 when {}}
            dcm_locked           {dir I required 0 when {}}
            mb_reset             {dir O required 0 when {}}
            bus_struct_reset     {dir O required 0 when {}}
            peripheral_reset     {dir O required 0 when {}}
            interconnect_aresetn {dir O required 0 when {}}
            peripheral_aresetn   {dir O required 0 when {}}
        }
        intf_pins {}
    }
    xilinx.com:ip:smartconnect:1.0 {
        defaults {CONFIG.NUM_SI 1 CONFIG.NUM_MI 1 CONFIG.NUM_CLKS 1}
        choices {}
        pins {
            aclk    {dir I required 1 when {}}
            aresetn {dir I required 1 when {}}
        }
        intf_pins {
            S00_AXI {mode Slave required 1 when {CONFIG.NUM_SI >= 1}}
            S01_AXI {mode Slave required 1 when {CONFIG.NUM_SI >= 2}}
            M00_AXI {mode Master required 1 when {CONFIG.NUM_MI >= 1}}
            M01_AXI {mode Master required 1 when {CONFIG.NUM_MI >= 2}}
        }
    }
    xilinx.com:ip:axi_interconnect:2.1 {
        defaults {CONFIG.NUM_SI 1 CONFIG.NUM_MI 2}
        choices {}
        pins {
            ACLK        {dir I required 1 when {}}
            ARESETN     {dir I required 1 when {}}
            S00_ACLK    {dir I required 1 when {CONFIG.NUM_SI >= 1}}
            S00_ARESETN {dir I required 1 when {CONFIG.NUM_SI >= 1}}
            M00_ACLK    {dir I required 1 when {CONFIG.NUM_MI >= 1}}
            M00_ARESETN {dir I required 1 when {CONFIG.NUM_MI >= 1}}
            M01_ACLK    {dir I required 1 when {CONFIG.NUM_MI >= 2}}
            M01_ARESETN {dir I required 1 when {CONFIG.NUM_MI >= 2}}
        }
        intf_pins {
            S00_AXI {mode Slave required 1 when {CONFIG.NUM_SI >= 1}}
            M00_AXI {mode Master required 1 when {CONFIG.NUM_MI >= 1}}
            M01_AXI {mode Master required 1 when {CONFIG.NUM_MI >= 2}}
        }
    }
}

# ----- stub state ------------------------------------------------------------------------
set stub_calls {}
set stub_unknown {}
set stub_referenced {}
set stub_catalog {}
foreach {vlnv def} $stub_xilinx_catalog {
    if {$def eq ""} {
        # An older version: listed, but build.tcl must pick the newest; its definition is the newest's.
        continue
    }
    dict set stub_catalog $vlnv $def
}
foreach {vlnv def} $stub_xilinx_catalog {
    if {$def eq ""} {
        set newest [lindex [lsort -dictionary [lsearch -all -inline [dict keys $stub_xilinx_catalog] "[join [lrange [split $vlnv :] 0 2] :]:*"]] end]
        dict set stub_catalog $vlnv [dict get $stub_catalog $newest]
    }
}
array set stub_project {name "" dir "" part "" board_part "" target_language "" top "" ip_repo_paths {}}
set stub_files {}
set stub_modules {}
set stub_bd {name "" file ""}
set stub_cells {}
set stub_nets {}
set stub_intf_nets {}
set stub_external {}
set stub_flags {assigned 0 validated 0 generated 0 wrapper "" saved 0}
set stub_runs {synth_1 {launched 0 done 0} impl_1 {launched 0 done 0 opened 0}}
set stub_generated {}
set stub_reports {}

proc stub_fail {message} {
    return -code error -level 2 "vivado stub: $message"
}

proc stub_log {} {
    lappend ::stub_calls [info level -1]
}

proc stub_norm {path} {
    return [file normalize $path]
}

# A path the script hands to Vivado: it must lie in the deploy folder.
proc stub_check_path {path what} {
    set p [stub_norm $path]
    set root [stub_norm [dict get $::stub_setup deploy_root]]
    if {[string first "$root/" "$p/"] != 0} {
        stub_fail "$what $path lies outside the deploy folder $root"
    }
    lappend ::stub_referenced $p
    return $p
}

proc stub_cond_holds {config cond} {
    foreach {key op value} $cond {
        if {![dict exists $config $key]} {
            stub_fail "pin condition on unknown property $key"
        }
        set have [dict get $config $key]
        switch -- $op {
            == { if {$have != $value} { return 0 } }
            >= { if {$have < $value} { return 0 } }
            default { stub_fail "bad condition operator $op" }
        }
    }
    return 1
}

proc stub_cell_name {obj} {
    set name [string trimleft $obj /]
    if {![dict exists $::stub_cells $name]} {
        stub_fail "no block-design cell '$obj'"
    }
    return $name
}

# The pins (kind = pins or intf_pins) of a cell that exist with its current configuration.
proc stub_existing {cell kind} {
    set c [dict get $::stub_cells $cell]
    set def [dict get $c def]
    set out {}
    dict for {pin info} [dict get $def $kind] {
        if {[stub_cond_holds [dict get $c config] [dict get $info when]]} {
            dict set out $pin $info
        }
    }
    return $out
}

proc stub_pin {path kind} {
    set parts [split [string trimleft $path /] /]
    if {[llength $parts] != 2} {
        stub_fail "'$path' is not a cell/pin path"
    }
    lassign $parts cell pin
    set cell [stub_cell_name $cell]
    set existing [stub_existing $cell $kind]
    if {![dict exists $existing $pin]} {
        set def [dict get [dict get $::stub_cells $cell] def]
        if {[dict exists $def $kind $pin]} {
            stub_fail "pin $cell/$pin does not exist with the cell's configuration (needs [dict get $def $kind $pin when])"
        }
        stub_fail "cell $cell has no [expr {$kind eq {pins} ? {pin} : {interface pin}}] '$pin' (it has: [lsort [dict keys [dict get $def $kind]]])"
    }
    return "/$cell/$pin"
}

proc stub_require_project {} {
    if {$::stub_project(name) eq ""} {
        stub_fail "no open project"
    }
}

proc stub_require_bd {} {
    if {[dict get $::stub_bd name] eq ""} {
        stub_fail "no open block design"
    }
}

proc stub_mark_dirty {} {
    dict set ::stub_flags assigned 0
    dict set ::stub_flags validated 0
}

proc stub_gen_dir {} {
    set p $::stub_project(name)
    return [file join $::stub_project(dir) $p.gen sources_1 bd [dict get $::stub_bd name]]
}

# ----- Vivado commands -------------------------------------------------------------------
proc create_project {args} {
    stub_log
    set force 0
    set part ""
    set pos {}
    for {set i 0} {$i < [llength $args]} {incr i} {
        set a [lindex $args $i]
        switch -- $a {
            -force { set force 1 }
            -part { incr i; set part [lindex $args $i] }
            default {
                if {[string match -* $a]} { stub_fail "create_project: unsupported option $a" }
                lappend pos $a
            }
        }
    }
    if {[llength $pos] != 2 || $part eq ""} {
        stub_fail "create_project needs NAME DIR -part PART, got: $args"
    }
    lassign $pos name dir
    set dir [stub_check_path $dir "project folder"]
    if {[file exists $dir] && [llength [glob -nocomplain -directory $dir *]] && !$force} {
        stub_fail "project folder $dir exists (use -force)"
    }
    # -force replaces the project: nothing of an earlier run survives.
    file delete -force $dir
    file mkdir $dir
    array set ::stub_project [list name $name dir $dir part $part]
    return $name
}

proc current_project {args} {
    stub_log
    stub_require_project
    return $::stub_project(name)
}

proc current_fileset {args} {
    stub_log
    stub_require_project
    return sources_1
}

proc get_board_parts {args} {
    stub_log
    set pattern ""
    foreach a $args {
        if {$a in {-quiet -latest_file_version}} { continue }
        if {[string match -* $a]} { stub_fail "get_board_parts: unsupported option $a" }
        set pattern $a
    }
    set out {}
    foreach bp [dict get $::stub_setup board_parts] {
        if {[string match $pattern $bp]} { lappend out $bp }
    }
    return $out
}

proc stub_set_one {obj key value} {
    stub_require_project
    if {$obj eq $::stub_project(name)} {
        switch -- $key {
            target_language {
                if {$value ni {Verilog VHDL}} { stub_fail "target_language $value" }
                set ::stub_project(target_language) $value
            }
            board_part {
                if {$value ni [dict get $::stub_setup board_parts]} { stub_fail "board part $value is not installed" }
                set ::stub_project(board_part) $value
            }
            ip_repo_paths {
                set paths {}
                foreach p $value {
                    set p [stub_check_path $p "IP repository"]
                    if {![file isdirectory $p]} { stub_fail "IP repository $p does not exist" }
                    lappend paths $p
                }
                set ::stub_project(ip_repo_paths) $paths
            }
            default { stub_fail "unknown project property $key" }
        }
        return
    }
    if {$obj eq "sources_1"} {
        if {$key ne "top"} { stub_fail "unknown fileset property $key" }
        set ::stub_project(top) $value
        return
    }
    set cell [stub_cell_name $obj]
    set c [dict get $::stub_cells $cell]
    set def [dict get $c def]
    if {![dict exists $def defaults $key]} {
        stub_fail "cell $cell ([dict get $c vlnv]) has no property $key"
    }
    if {[dict exists $def choices $key] && $value ni [dict get $def choices $key]} {
        stub_fail "$key of $cell cannot be '$value' (allowed: [dict get $def choices $key])"
    }
    dict set ::stub_cells $cell config $key $value
}

proc set_property {args} {
    stub_log
    if {[lindex $args 0] eq "-dict"} {
        if {[llength $args] != 3} { stub_fail "set_property -dict LIST OBJECT, got: $args" }
        set pairs [lindex $args 1]
        if {[llength $pairs] % 2} { stub_fail "set_property -dict: odd list $pairs" }
        foreach {k v} $pairs { stub_set_one [lindex $args 2] $k $v }
        return
    }
    if {[llength $args] != 3} { stub_fail "set_property NAME VALUE OBJECT, got: $args" }
    stub_set_one [lindex $args 2] [lindex $args 0] [lindex $args 1]
}

proc get_property {name obj} {
    stub_log
    if {[dict exists $::stub_runs $obj]} {
        set run [dict get $::stub_runs $obj]
        switch -- $name {
            PROGRESS { return [expr {[dict get $run done] ? "100%" : "0%"}] }
            DIRECTORY { return [file join $::stub_project(dir) $::stub_project(name).runs $obj] }
            STATS.WNS - STATS.WHS - STATS.TPWS {
                if {$obj ne "impl_1" || ![dict get $run done]} { stub_fail "$name of a run that has not finished" }
                return [dict get $::stub_setup [string tolower [string range $name 6 end]]]
            }
        }
    }
    if {[dict exists $::stub_cells [string trimleft $obj /]]} {
        set c [dict get $::stub_cells [string trimleft $obj /]]
        set def [dict get $c def]
        # The PL clock the PS makes: its PLL over the nearest integer divisor (what Vivado reports).
        if {[dict exists $def actual] && $name eq [lindex [dict get $def actual] 0]} {
            set asked [dict get $c config [lindex [dict get $def actual] 1]]
            set pll [dict get $::stub_setup pl_pll_mhz]
            set n [expr {max(1, round($pll / double($asked)))}]
            return [format %.6f [expr {$pll / $n}]]
        }
        if {[dict exists $c config $name]} { return [dict get $c config $name] }
        stub_fail "cell $obj ([dict get $c vlnv]) has no property $name"
    }
    stub_fail "get_property $name of '$obj' is not stubbed"
}

proc version {args} {
    stub_log
    if {$args ne "-short"} { stub_fail "version $args is not stubbed" }
    return 2024.1
}

proc set_param {name value} {
    stub_log
    if {$name ne "board.repoPaths"} { stub_fail "set_param $name is not stubbed" }
}

proc update_ip_catalog {args} {
    stub_log
    stub_require_project
    foreach repo $::stub_project(ip_repo_paths) {
        foreach xml [concat [glob -nocomplain -directory $repo component.xml] [glob -nocomplain -directory $repo */component.xml]] {
            set xml [stub_norm $xml]
            if {![dict exists $::stub_setup ipxact $xml]} {
                stub_fail "the test harness did not describe $xml"
            }
            set def [dict get $::stub_setup ipxact $xml]
            dict set ::stub_catalog [dict get $def vlnv] $def
        }
    }
}

proc get_ipdefs {args} {
    stub_log
    set pattern *
    foreach a $args {
        if {[string match -* $a]} { stub_fail "get_ipdefs: unsupported option $a" }
        set pattern $a
    }
    set out {}
    foreach vlnv [dict keys $::stub_catalog] {
        if {[string match $pattern $vlnv]} { lappend out $vlnv }
    }
    return $out
}

proc add_files {args} {
    stub_log
    stub_require_project
    set files {}
    foreach a $args {
        if {$a eq "-norecurse"} { continue }
        if {[string match -* $a]} { stub_fail "add_files: unsupported option $a" }
        foreach f $a { lappend files $f }
    }
    if {![llength $files]} { stub_fail "add_files without files" }
    foreach f $files {
        set p [stub_check_path $f "source file"]
        if {![file isfile $p]} { stub_fail "add_files: $p does not exist" }
        lappend ::stub_files $p
        if {[dict exists $::stub_setup modules $p]} {
            dict for {module def} [dict get $::stub_setup modules $p] {
                dict set ::stub_modules $module $def
            }
        }
    }
    return $files
}

proc update_compile_order {args} {
    stub_log
    stub_require_project
}

proc create_bd_design {name} {
    stub_log
    stub_require_project
    set file [file join $::stub_project(dir) $::stub_project(name).srcs sources_1 bd $name $name.bd]
    set ::stub_bd [list name $name file $file]
    lappend ::stub_files $file
    return $name
}

proc create_bd_cell {args} {
    stub_log
    stub_require_bd
    set type ""
    set vlnv ""
    set ref ""
    set pos {}
    for {set i 0} {$i < [llength $args]} {incr i} {
        set a [lindex $args $i]
        switch -- $a {
            -type { incr i; set type [lindex $args $i] }
            -vlnv { incr i; set vlnv [lindex $args $i] }
            -reference { incr i; set ref [lindex $args $i] }
            default {
                if {[string match -* $a]} { stub_fail "create_bd_cell: unsupported option $a" }
                lappend pos $a
            }
        }
    }
    if {[llength $pos] != 1} { stub_fail "create_bd_cell needs one cell name, got: $args" }
    set name [lindex $pos 0]
    if {[dict exists $::stub_cells $name]} { stub_fail "cell $name exists" }
    if {$type eq "ip"} {
        if {![dict exists $::stub_catalog $vlnv]} { stub_fail "no IP $vlnv in the catalog" }
        set def [dict get $::stub_catalog $vlnv]
    } elseif {$type eq "module"} {
        if {![dict exists $::stub_modules $ref]} { stub_fail "no module $ref in the project's sources" }
        set def [dict get $::stub_modules $ref]
        set vlnv "xilinx.com:module_ref:$ref:1.0"
    } else {
        stub_fail "create_bd_cell -type $type is not stubbed"
    }
    dict set ::stub_cells $name [list vlnv $vlnv type $type def $def config [dict get $def defaults]]
    stub_mark_dirty
    return "/$name"
}

proc apply_bd_automation {args} {
    stub_log
    stub_require_bd
    set rule ""
    set config {}
    set pos {}
    for {set i 0} {$i < [llength $args]} {incr i} {
        set a [lindex $args $i]
        switch -- $a {
            -rule { incr i; set rule [lindex $args $i] }
            -config { incr i; set config [lindex $args $i] }
            default {
                if {[string match -* $a]} { stub_fail "apply_bd_automation: unsupported option $a" }
                lappend pos $a
            }
        }
    }
    if {[llength $pos] != 1} { stub_fail "apply_bd_automation needs one object" }
    set cell [stub_cell_name [lindex $pos 0]]
    set def [dict get [dict get $::stub_cells $cell] def]
    if {![dict exists $def automation] || [dict get $def automation] ne $rule} {
        stub_fail "rule $rule does not apply to $cell"
    }
    if {[dict exists $config apply_board_preset] && [dict get $config apply_board_preset] == 1 && $::stub_project(board_part) eq ""} {
        stub_fail "apply_board_preset 1 without a board part"
    }
    set known {apply_board_preset make_external Master Slave}
    foreach k [dict keys $config] {
        if {$k ni $known} { stub_fail "unknown automation option $k" }
    }
    if {[dict exists $config make_external]} {
        foreach intf [split [string map {" " ""} [dict get $config make_external]] ,] {
            lappend ::stub_external [stub_pin "$cell/$intf" intf_pins]
        }
    }
}

proc get_bd_cells {args} {
    stub_log
    set out {}
    foreach a $args { lappend out "/[stub_cell_name $a]" }
    return $out
}

proc get_bd_pins {args} {
    stub_log
    stub_require_bd
    set out {}
    foreach a $args { lappend out [stub_pin $a pins] }
    return $out
}

proc get_bd_intf_pins {args} {
    stub_log
    stub_require_bd
    set out {}
    foreach a $args { lappend out [stub_pin $a intf_pins] }
    return $out
}

proc stub_pin_dir {pin} {
    lassign [split [string trimleft $pin /] /] cell name
    return [dict get [stub_existing $cell pins] $name dir]
}

proc connect_bd_net {args} {
    stub_log
    stub_require_bd
    set pins {}
    foreach a $args {
        if {[string match -* $a]} { stub_fail "connect_bd_net: unsupported option $a" }
        foreach p $a { lappend pins [stub_pin $p pins] }
    }
    if {[llength $pins] < 2} { stub_fail "connect_bd_net needs two pins or more, got $args" }
    set merged $pins
    set keep {}
    foreach net $::stub_nets {
        set overlap 0
        foreach p $net { if {$p in $pins} { set overlap 1 } }
        if {$overlap} { set merged [concat $net $merged] } else { lappend keep $net }
    }
    set merged [lsort -unique $merged]
    set drivers {}
    foreach p $merged { if {[stub_pin_dir $p] eq "O"} { lappend drivers $p } }
    if {[llength $drivers] > 1} { stub_fail "net would have several drivers: $drivers" }
    lappend keep $merged
    set ::stub_nets $keep
    stub_mark_dirty
}

proc connect_bd_intf_net {args} {
    stub_log
    stub_require_bd
    if {[llength $args] != 2} { stub_fail "connect_bd_intf_net needs two interface pins, got $args" }
    set a [stub_pin [lindex $args 0] intf_pins]
    set b [stub_pin [lindex $args 1] intf_pins]
    foreach p [list $a $b] {
        foreach net $::stub_intf_nets { if {$p in $net} { stub_fail "$p is already connected" } }
    }
    set modes {}
    foreach p [list $a $b] {
        lassign [split [string trimleft $p /] /] cell name
        lappend modes [dict get [stub_existing $cell intf_pins] $name mode]
    }
    if {[lsort $modes] ne {Master Slave}} { stub_fail "connect_bd_intf_net $a $b: modes $modes (one master and one slave needed)" }
    lappend ::stub_intf_nets [list $a $b]
    stub_mark_dirty
}

proc assign_bd_address {args} {
    stub_log
    stub_require_bd
    if {[llength $args]} { stub_fail "assign_bd_address with arguments is not stubbed" }
    dict set ::stub_flags assigned 1
}

proc validate_bd_design {args} {
    stub_log
    stub_require_bd
    set problems {}
    if {![dict get $::stub_flags assigned]} {
        lappend problems "addresses not assigned since the last change (assign_bd_address)"
    }
    set connected [concat {*}$::stub_nets]
    set intf_connected [concat {*}$::stub_intf_nets $::stub_external]
    dict for {cell c} $::stub_cells {
        dict for {pin info} [stub_existing $cell pins] {
            if {[dict get $info required] && "/$cell/$pin" ni $connected} {
                lappend problems "pin /$cell/$pin is not connected"
            }
        }
        dict for {pin info} [stub_existing $cell intf_pins] {
            if {[dict get $info required] && "/$cell/$pin" ni $intf_connected} {
                lappend problems "interface pin /$cell/$pin is not connected"
            }
        }
    }
    # Pins that disappeared after a reconfiguration must not stay on nets.
    foreach net $::stub_nets {
        set drivers 0
        foreach p $net {
            lassign [split [string trimleft $p /] /] cell name
            if {![dict exists [stub_existing $cell pins] $name]} {
                lappend problems "net pin $p no longer exists"
                continue
            }
            if {[stub_pin_dir $p] eq "O"} { incr drivers }
        }
        if {$drivers != 1} { lappend problems "net {$net} has $drivers drivers" }
    }
    foreach net $::stub_intf_nets {
        foreach p $net {
            lassign [split [string trimleft $p /] /] cell name
            if {![dict exists [stub_existing $cell intf_pins] $name]} { lappend problems "interface pin $p no longer exists" }
        }
    }
    if {[llength $problems]} {
        stub_fail "validate_bd_design failed:\n  [join $problems "\n  "]"
    }
    dict set ::stub_flags validated 1
}

proc save_bd_design {args} {
    stub_log
    stub_require_bd
    dict set ::stub_flags saved 1
}

proc get_files {args} {
    stub_log
    stub_require_project
    set of ""
    set all 0
    set pattern *
    for {set i 0} {$i < [llength $args]} {incr i} {
        set a [lindex $args $i]
        switch -- $a {
            -all { set all 1 }
            -quiet { }
            -of_objects { incr i; set of [lindex $args $i] }
            default {
                if {[string match -* $a]} { stub_fail "get_files: unsupported option $a" }
                set pattern $a
            }
        }
    }
    set pool [expr {$of eq "" ? $::stub_files : ($of eq [dict get $::stub_bd file] ? $::stub_generated : {})}]
    if {$of ne "" && $of ne [dict get $::stub_bd file]} { stub_fail "get_files -of_objects $of is not the block design" }
    set out {}
    foreach f $pool {
        if {[file extension $f] eq ".hwh" && ![dict get $::stub_setup hwh_listed]} { continue }
        if {[string match $pattern [file tail $f]]} { lappend out $f }
    }
    return $out
}

proc generate_target {what obj} {
    stub_log
    stub_require_bd
    if {$what ne "all" || $obj ne [dict get $::stub_bd file]} { stub_fail "generate_target $what $obj is not stubbed" }
    if {![dict get $::stub_flags validated]} { stub_fail "generate_target on a block design that did not validate" }
    set bd [dict get $::stub_bd name]
    set hwh [file join [stub_gen_dir] hw_handoff $bd.hwh]
    if {[dict get $::stub_setup hwh_written]} {
        file mkdir [file dirname $hwh]
        set fh [open $hwh w]
        puts $fh "<!-- vivado stub hardware handoff of $bd: cells [lsort [dict keys $::stub_cells]] -->"
        close $fh
        lappend ::stub_generated $hwh
    }
    dict set ::stub_flags generated 1
}

proc make_wrapper {args} {
    stub_log
    if {$args ne [list -files [dict get $::stub_bd file] -top]} { stub_fail "make_wrapper $args is not stubbed" }
    if {![dict get $::stub_flags generated]} { stub_fail "make_wrapper before generate_target" }
    set bd [dict get $::stub_bd name]
    set wrapper [file join [stub_gen_dir] hdl ${bd}_wrapper.v]
    file mkdir [file dirname $wrapper]
    set fh [open $wrapper w]
    puts $fh "// vivado stub wrapper of $bd"
    close $fh
    dict set ::stub_flags wrapper $wrapper
    return $wrapper
}

proc get_runs {name} {
    stub_log
    stub_require_project
    if {![dict exists $::stub_runs $name]} { stub_fail "no run $name" }
    return $name
}

proc launch_runs {args} {
    stub_log
    stub_require_project
    set run [lindex $args 0]
    set rest [lrange $args 1 end]
    set to_step ""
    for {set i 0} {$i < [llength $rest]} {incr i} {
        switch -- [lindex $rest $i] {
            -jobs { incr i; if {![string is integer -strict [lindex $rest $i]]} { stub_fail "-jobs [lindex $rest $i]" } }
            -to_step { incr i; set to_step [lindex $rest $i] }
            default { stub_fail "launch_runs: unsupported option [lindex $rest $i]" }
        }
    }
    set bd [dict get $::stub_bd name]
    set top $::stub_project(top)
    switch -- $run {
        synth_1 {
            if {$top ne "${bd}_wrapper"} { stub_fail "synthesis with top '$top' (expected ${bd}_wrapper)" }
            if {[dict get $::stub_flags wrapper] ni $::stub_files} { stub_fail "the block-design wrapper was not added to the project" }
        }
        impl_1 {
            if {![dict get $::stub_runs synth_1 done]} { stub_fail "implementation before synthesis finished" }
            if {$to_step ne "write_bitstream"} { stub_fail "impl_1 must run to write_bitstream" }
        }
        default { stub_fail "no run $run" }
    }
    dict set ::stub_runs $run launched 1
}

proc wait_on_run {run} {
    stub_log
    if {![dict exists $::stub_runs $run] || ![dict get $::stub_runs $run launched]} { stub_fail "wait_on_run $run: not launched" }
    dict set ::stub_runs $run done 1
    if {$run eq "impl_1"} {
        set dir [file join $::stub_project(dir) $::stub_project(name).runs impl_1]
        file mkdir $dir
        set fh [open [file join $dir $::stub_project(top).bit] w]
        puts $fh "vivado stub bitstream of $::stub_project(top) for $::stub_project(part)"
        close $fh
    }
}

proc open_run {run} {
    stub_log
    if {$run ne "impl_1" || ![dict get $::stub_runs impl_1 done]} { stub_fail "open_run $run: not finished" }
    dict set ::stub_runs impl_1 opened 1
}

proc stub_report {args} {
    if {[llength $args] != 2 || [lindex $args 0] ne "-file"} { stub_fail "reports are stubbed with -file PATH only" }
    if {![dict get $::stub_runs impl_1 opened]} { stub_fail "report without an open run" }
    set p [stub_check_path [lindex $args 1] "report"]
    set fh [open $p w]
    puts $fh "vivado stub report"
    close $fh
    lappend ::stub_reports $p
}

proc report_timing_summary {args} { stub_log; stub_report {*}$args }
proc report_utilization {args} { stub_log; stub_report {*}$args }

# Any other command is not Vivado's (or not stubbed): fail loudly.
rename unknown stub_tcl_unknown
proc unknown {args} {
    lappend ::stub_unknown [lindex $args 0]
    return -code error "vivado stub: unknown command '[lindex $args 0]'"
}

# ----- JSON state ----------------------------------------------------------------------------
proc json_str {s} {
    set out ""
    foreach ch [split $s ""] {
        scan $ch %c code
        if {$ch eq "\""} { append out "\\\"" } elseif {$ch eq "\\"} { append out "\\\\" } elseif {$code < 32} {
            append out [format "\\u%04x" $code]
        } else { append out $ch }
    }
    return "\"$out\""
}

proc json_strs {items} {
    set parts {}
    foreach i $items { lappend parts [json_str $i] }
    return "\[[join $parts ,]\]"
}

proc json_dict_strs {d} {
    set parts {}
    dict for {k v} $d { lappend parts "[json_str $k]:[json_str $v]" }
    return "\{[join $parts ,]\}"
}

proc stub_state_json {error} {
    set cells {}
    dict for {name c} $::stub_cells {
        lappend cells "[json_str $name]:\{\"vlnv\":[json_str [dict get $c vlnv]],\"type\":[json_str [dict get $c type]],\"config\":[json_dict_strs [dict get $c config]]\}"
    }
    set nets {}
    foreach n $::stub_nets { lappend nets [json_strs $n] }
    set inets {}
    foreach n $::stub_intf_nets { lappend inets [json_strs $n] }
    set calls {}
    foreach c $::stub_calls { lappend calls [json_strs $c] }
    set project "\{\"name\":[json_str $::stub_project(name)],\"dir\":[json_str $::stub_project(dir)],\"part\":[json_str $::stub_project(part)],\"board_part\":[json_str $::stub_project(board_part)],\"target_language\":[json_str $::stub_project(target_language)],\"top\":[json_str $::stub_project(top)],\"ip_repo_paths\":[json_strs $::stub_project(ip_repo_paths)]\}"
    set runs [json_dict_strs [dict create synth_1 [dict get $::stub_runs synth_1 done] impl_1 [dict get $::stub_runs impl_1 done]]]
    return "\{\"error\":[json_str $error],\"unknown_commands\":[json_strs $::stub_unknown],\"project\":$project,\"files\":[json_strs $::stub_files],\"bd\":[json_str [dict get $::stub_bd name]],\"cells\":\{[join $cells ,]\},\"nets\":\[[join $nets ,]\],\"intf_nets\":\[[join $inets ,]\],\"external\":[json_strs $::stub_external],\"flags\":[json_dict_strs $::stub_flags],\"runs\":$runs,\"generated\":[json_strs $::stub_generated],\"reports\":[json_strs $::stub_reports],\"referenced_paths\":[json_strs [lsort -unique $::stub_referenced]],\"calls\":\[[join $calls ,]\]\}"
}

# ----- run -------------------------------------------------------------------------------------
if {$argc < 2} {
    puts stderr "usage: tclsh vivado_stub.tcl SETUP.tcl SCRIPT.tcl \[ARGS ...\]"
    exit 2
}
source [lindex $argv 0]
set stub_script [lindex $argv 1]
set argv [lrange $argv 2 end]
set argc [llength $argv]
set status [catch {uplevel #0 [list source $stub_script]} result]
set fh [open [dict get $stub_setup state_file] w]
puts $fh [stub_state_json [expr {$status == 1 ? $result : ""}]]
close $fh
if {$status == 1} {
    puts stderr $result
    exit 1
}
exit 0
