"""ControlSlave (AXI4-Lite register block) in cocotb + Verilator with cocotbext-axi's AxiLiteMaster.

The map under test is the accelerator's own (``control_register_map``) plus two extra
registers exercising the generic access types that the HLS block does not use (a COR, a TOW
and an SC bit with ports, RO inputs next to a constant, RW fields with reset values and gaps).
"""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from rtl.axi.control_slave import ControlSlave
from rtl.axi.signature import AXI4LiteSignature, connect_flat, flat_members
from rtl.config import AcceleratorConfig
from rtl.registers import Access, Field, Register, RegisterMap, control_register_map
from sim.toolchain import build, run_cocotb

#: Config whose build-info constants the test reads back (not the default one).
from rtl.verilog import to_verilog

#: Config whose build-info constants the test reads back (not the default one).
CONFIG = AcceleratorConfig(engine="winograd", m=4, pm=16, pn=4, axi_data_width=128, max_width=112,
                           max_channels=256, clock_mhz=187.5)


def control_test_map() -> RegisterMap:
    extra = [
        Register("SCRATCH", 0xF0, (
            Field("LOW", 0, 8, Access.RW, "scratch low byte", reset=0x5A),
            Field("MID", 12, 12, Access.RW, "scratch field spanning two byte lanes", reset=0xABC),
            Field("TOP", 31, 1, Access.RW, "scratch top bit", reset=1),
        ), "generic RW fields with reset values and unused bits"),
        Register("EVENTS", 0xF4, (
            Field("HIT", 0, 1, Access.COR, "generic clear-on-read event"),
            Field("FLIP", 9, 1, Access.TOW, "generic toggle-on-write event"),
            Field("KICK", 17, 1, Access.SC, "generic self-clearing command"),
            Field("LEVEL", 24, 5, Access.RO, "generic read-only input"),
            Field("ID", 29, 2, Access.RO, "generic constant", constant=2),
        ), "generic access types"),
    ]
    return RegisterMap(list(control_register_map(CONFIG)) + extra)


class ControlHarness(wiring.Component):
    """ControlSlave with its bus on flat ``s_axi_control_*`` ports and its core ports as is."""

    def __init__(self, regmap: RegisterMap):
        self.slave = ControlSlave(regmap)
        members = flat_members("s_axi_control", AXI4LiteSignature(8, 32).flip())
        members.update({n: mb for n, mb in self.slave.signature.members.items() if n != "axi"})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.slave = self.slave
        connect_flat(m, self, "s_axi_control", self.slave.axi)
        for name, member in self.slave.signature.members.items():
            if name == "axi":
                continue
            if member.flow == wiring.In:
                m.d.comb += getattr(self.slave, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(self.slave, name))
        return m


def test_control_slave():
    top = ControlHarness(control_test_map())
    model = build(to_verilog(top, "axi_control"), "axi_control")
    run_cocotb(model, "tests.rtl.tb_axi_control")


def test_ports_follow_the_map():
    slave = ControlSlave(control_test_map())
    members = slave.signature.members
    assert members["in_addr_lo"].flow == wiring.Out and members["in_addr_lo"].shape == 32
    assert members["in_channels"].shape == 16 and members["kernel"].shape == 4
    assert members["ctrl_auto_restart"].flow == wiring.Out
    assert members["status_error"].flow == wiring.In and members["status_error"].shape == 8
    assert members["ap_start"].flow == wiring.Out and members["ap_done"].flow == wiring.In
    assert members["interrupt"].flow == wiring.Out
    assert members["events_kick"].flow == wiring.Out and members["events_hit"].flow == wiring.In
    assert members["scratch_mid"].init == 0xABC
    # Constants, IP_ISR and the generic names of HLS-bound fields have no port.
    for absent in ("magic", "pm", "events_id", "ip_isr_done", "ctrl_ap_start", "ctrl_ap_done"):
        assert absent not in members, absent


def test_partial_hls_block_is_refused():
    regs = [r for r in control_register_map(CONFIG) if r.name != "IP_ISR"]
    with pytest.raises(ValueError, match="IP_ISR.DONE"):
        ControlSlave(RegisterMap(regs))


def test_map_must_fit_the_address_space():
    big = RegisterMap([Register("FAR", 0x100, (Field("FAR", 0, 1, Access.RW, "x"),), "x")])
    with pytest.raises(ValueError, match="spans"):
        ControlSlave(big)
    ControlSlave(big, addr_width=9)
