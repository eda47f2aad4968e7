"""AXI4 read and write masters on one shared port, in cocotb + Verilator against an AXI RAM model.

The harness is the integrator's pattern: both masters share one ``m_axi`` port whose members
are spliced into the top's signature with Vivado names (``m_axi_ARADDR``, ...) by
:func:`rtl.axi.signature.flat_members` and wired with :func:`connect_flat`.
"""

import json

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from rtl.axi.read_master import AXI4ReadMaster
from rtl.axi.signature import AXI4Signature, connect_flat, flat_members
from rtl.axi.write_master import AXI4WriteMaster
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.verilog import to_verilog


class AxiMastersHarness(wiring.Component):
    """Read master + write master sharing ``m_axi_*``; their other ports as ``rd_*`` / ``wr_*``."""

    def __init__(self, data_width: int = 64, max_burst: int = 256, max_outstanding: int = 4, addr_width: int = 64):
        self.rd = AXI4ReadMaster(data_width, addr_width, max_outstanding, max_burst)
        self.wr = AXI4WriteMaster(data_width, addr_width, max_burst, max_outstanding)
        members = flat_members("m_axi", AXI4Signature(addr_width, data_width))
        for prefix, master in (("rd", self.rd), ("wr", self.wr)):
            for name, member in master.signature.members.items():
                if name != "axi":
                    members[f"{prefix}_{name}"] = member
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rd = self.rd
        m.submodules.wr = self.wr
        connect_flat(m, self, "m_axi", self.rd.axi)
        connect_flat(m, self, "m_axi", self.wr.axi)
        for prefix, master in (("rd", self.rd), ("wr", self.wr)):
            for name, member in master.signature.members.items():
                if name == "axi":
                    continue
                outer, inner = getattr(self, f"{prefix}_{name}"), getattr(master, name)
                if member.is_signature:
                    if member.flow == wiring.In:
                        wiring.connect(m, wiring.flipped(outer), inner)
                    else:
                        wiring.connect(m, inner, wiring.flipped(outer))
                elif member.flow == wiring.In:
                    m.d.comb += inner.eq(outer)
                else:
                    m.d.comb += outer.eq(inner)
        return m


# (data_width, max_burst, max_outstanding): 64-bit is the main configuration; 32-bit with short
# bursts splits often, 128-bit makes 256-beat bursts exactly one 4 KiB page.
CONFIGS = {
    "w64": (64, 256, 4),
    "w32": (32, 16, 2),
    "w128": (128, 256, 6),
}
#: cocotb tests run per configuration (the narrow and wide buses skip what the 64-bit one covers).
TESTS = {
    "w64": None,
    "w32": "read_sweep/pause=random,write_sweep/pause=random,error_responses,stop_drains_without_writing",
    "w128": "read_sweep/pause=random,write_sweep/pause=fixed,concurrent_read_write,full_throughput",
}


def harness_build(name: str):
    dw, burst, outstanding = CONFIGS[name]
    top = AxiMastersHarness(dw, burst, outstanding)
    return build(to_verilog(top, f"axi_masters_{name}"), f"axi_masters_{name}"), dict(
        data_width=dw, max_burst=burst, max_outstanding=outstanding)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_axi_masters(name):
    model, params = harness_build(name)
    params["seed"] = {"w64": 1, "w32": 2, "w128": 3}[name]
    run_cocotb(model, "tests.rtl.tb_axi_masters", testcase=TESTS[name],
               extra_env={PARAMS_ENV: json.dumps(params)})


def test_harness_exposes_vivado_names():
    top = AxiMastersHarness(64)
    names = set(top.signature.members)
    assert {"m_axi_ARADDR", "m_axi_RDATA", "m_axi_AWLEN", "m_axi_WSTRB", "m_axi_BRESP"} <= names
    assert top.signature.members["m_axi_ARADDR"].flow == wiring.Out
    assert top.signature.members["m_axi_RDATA"].flow == wiring.In
    assert top.signature.members["m_axi_WSTRB"].shape == 8
    assert "m_axi__ARADDR" not in names


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="data_width"):
        AXI4ReadMaster(data_width=48)
    with pytest.raises(ValueError, match="max_burst"):
        AXI4WriteMaster(max_burst=257)
    with pytest.raises(ValueError, match="max_outstanding"):
        AXI4ReadMaster(max_outstanding=0)
