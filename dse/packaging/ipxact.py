"""``ip/component.xml``: the accelerator as a Vivado IP (IP-XACT, SPIRIT 1685-2009 dialect).

:func:`write_ip` writes an IP repository folder Vivado's catalog reads (``ip_repo_paths``):

    ip/component.xml                       the IP-XACT description (this module)
    ip/hdl/verilog/<name>.v                a copy of the generated Verilog (file sets refer to it)
    ip/xgui/conv_accelerator_v1_0.tcl      the customisation-GUI script Vivado's IP flow loads

Everything comes from the Python descriptions the RTL is generated from: ports and bus
interfaces from :func:`dse.packaging.interfaces.ip_interfaces` (the top's signature), the memory
map of ``s_axi_control`` from :func:`rtl.registers.control_register_map` (every register and
field, with offsets, widths, access and descriptions, so that PYNQ's ``register_map`` shows
them), the VLNV from :mod:`rtl.ip_identity` (the driver's ``bindto``). Paths inside are relative
to ``ip/``; the text has no machine paths and no time stamps (same inputs, same bytes).

Dialect decisions (what Vivado's IP packager writes, within the 1685-2009 schema):

* Bus and abstraction definitions are Xilinx's ``xilinx.com:interface:aximm:1.0`` /
  ``aximm_rtl`` and ``xilinx.com:signal:{clock,reset,interrupt}:1.0`` / ``*_rtl``.
* The master's address space spans the address port: ``2**ADDR_WIDTH`` bytes, written with the
  largest exact unit suffix (``4G`` for 32 bits, ``1T`` for 40); 64 bits is ``16E``, the
  exabyte form Vivado writes and reads (the 1685-2009 pattern admits it: ``E`` is a hex digit).
* Register access: RW -> read-write; RO -> read-only; COR -> read-only with
  ``readAction=clear``; TOW -> read-write with ``modifiedWriteValue=oneToToggle``; SC ->
  read-write (as Vitis HLS writes AP_START, and as the driver's PYNQ description says).
* Register ``reset``: the value after reset, masked to the bits whose reset value is known
  (every field but the core-driven read-only ones).
* ``ap_clk`` has ASSOCIATED_BUSIF and ASSOCIATED_RESET but no FREQ_HZ: a fixed frequency would
  not match the PS's delivered PL clock (see :mod:`dse.packaging.interfaces`).
* Vendor extensions: supported families ``zynq`` and ``zynquplus`` (the boards build.tcl
  targets), taxonomy ``/UserIP``.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from rtl import ip_identity
from rtl.config import AcceleratorConfig
from rtl.registers import Access, RegisterMap, control_register_map

from .interfaces import BusInterface, IpInterfaces, PackagingError, ip_interfaces

__all__ = [
    "SPIRIT_NS",
    "XILINX_NS",
    "COMPONENT_FILE",
    "HDL_DIR",
    "XGUI_FILE",
    "SYNTH_VIEW",
    "SIM_VIEW",
    "ADDRESS_SPACE",
    "REGISTER_BLOCK",
    "scaled_size",
    "component_xml",
    "xgui_tcl",
    "write_ip",
]

SPIRIT_NS = "http://www.spiritconsortium.org/XMLSchema/SPIRIT/1685-2009"
XILINX_NS = "http://www.xilinx.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

COMPONENT_FILE = "component.xml"
HDL_DIR = "hdl/verilog"
XGUI_FILE = f"xgui/{ip_identity.NAME}_v{ip_identity.VERSION.replace('.', '_')}.tcl"
SYNTH_VIEW, SIM_VIEW, GUI_VIEW = "xilinx_verilogsynthesis", "xilinx_verilogbehavioralsimulation", "xilinx_xpgui"
ADDRESS_SPACE = "Data_m_axi_gmem"
REGISTER_BLOCK = "Reg"
SUPPORTED_FAMILIES = ("zynq", "zynquplus")

_ACCESS = {Access.RW: "read-write", Access.RO: "read-only", Access.COR: "read-only",
           Access.TOW: "read-write", Access.SC: "read-write"}

ET.register_namespace("spirit", SPIRIT_NS)
ET.register_namespace("xilinx", XILINX_NS)
ET.register_namespace("xsi", XSI_NS)


def _s(tag: str) -> str:
    return f"{{{SPIRIT_NS}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{XILINX_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text=None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {(_s(k) if ":" not in k and not k.startswith("{") else k): str(v)
                                     for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def scaled_size(n_bytes: int) -> str:
    """``n_bytes`` with the largest unit suffix (K, M, G, T, E = 2**10 .. 2**60) dividing it exactly."""
    if n_bytes < 1:
        raise ValueError(f"a size must be positive, got {n_bytes}")
    for suffix, shift in (("E", 60), ("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n_bytes % (1 << shift) == 0:
            return f"{n_bytes >> shift}{suffix}"
    return str(n_bytes)


def _vlnv_attrs(vlnv: tuple[str, str, str, str]) -> dict:
    return {"vendor": vlnv[0], "library": vlnv[1], "name": vlnv[2], "version": vlnv[3]}


def _parameter(parent: ET.Element, name: str, value, ident: str, *, resolve: str = "immediate") -> None:
    p = _sub(parent, _s("parameter"))
    _sub(p, _s("name"), name)
    attrs = {"resolve": resolve, "id": ident}
    if isinstance(value, int):
        attrs["format"] = "long"
    _sub(p, _s("value"), value, **attrs)


def _bus_interface(parent: ET.Element, bus: BusInterface) -> None:
    bi = _sub(parent, _s("busInterface"))
    _sub(bi, _s("name"), bus.name)
    if bus.description:
        _sub(bi, _s("description"), bus.description)
    _sub(bi, _s("busType"), **_vlnv_attrs(bus.bus_type))
    _sub(bi, _s("abstractionType"), **_vlnv_attrs(bus.abstraction_type))
    mode = _sub(bi, _s(bus.mode))
    if bus.bus_type[2] == "aximm":
        if bus.mode == "master":
            _sub(mode, _s("addressSpaceRef"), addressSpaceRef=ADDRESS_SPACE)
        else:
            _sub(mode, _s("memoryMapRef"), memoryMapRef=bus.name)
    maps = _sub(bi, _s("portMaps"))
    for logical, physical in bus.port_map.items():
        pm = _sub(maps, _s("portMap"))
        _sub(_sub(pm, _s("logicalPort")), _s("name"), logical)
        _sub(_sub(pm, _s("physicalPort")), _s("name"), physical)
    if bus.parameters:
        params = _sub(bi, _s("parameters"))
        for name, value in bus.parameters.items():
            _parameter(params, name, value, f"BUSIFPARAM_VALUE.{bus.name.upper()}.{name.upper()}")


def _memory_map(parent: ET.Element, name: str, regmap: RegisterMap, block_range: int) -> None:
    if regmap.span > block_range:
        raise PackagingError(f"the register map spans {regmap.span} bytes but {name} decodes only {block_range}")
    mm = _sub(parent, _s("memoryMap"))
    _sub(mm, _s("name"), name)
    block = _sub(mm, _s("addressBlock"))
    _sub(block, _s("name"), REGISTER_BLOCK)
    _sub(block, _s("baseAddress"), "0x0")
    _sub(block, _s("range"), block_range)
    _sub(block, _s("width"), 32)
    _sub(block, _s("usage"), "register")
    _sub(block, _s("access"), "read-write")
    for reg in regmap:
        r = _sub(block, _s("register"))
        _sub(r, _s("name"), reg.name)
        _sub(r, _s("displayName"), reg.name)
        _sub(r, _s("description"), reg.description)
        _sub(r, _s("addressOffset"), f"0x{reg.offset:02X}")
        _sub(r, _s("size"), 32)
        volatile = any(f.constant is None and f.access is not Access.RW for f in reg.fields)
        if volatile:
            _sub(r, _s("volatile"), "true")
        accesses = {_ACCESS[f.access] for f in reg.fields}
        _sub(r, _s("access"), accesses.pop() if len(accesses) == 1 else "read-write")
        known = 0
        for f in reg.fields:
            if f.access is not Access.RO or f.constant is not None:
                known |= f.mask
        reset = _sub(r, _s("reset"))
        _sub(reset, _s("value"), f"0x{reg.reset_value & known:08X}")
        _sub(reset, _s("mask"), f"0x{known:08X}")
        for f in reg.fields:
            fe = _sub(r, _s("field"))
            _sub(fe, _s("name"), f.name)
            _sub(fe, _s("displayName"), f.name)
            _sub(fe, _s("description"), f.description)
            _sub(fe, _s("bitOffset"), f.lsb)
            _sub(fe, _s("bitWidth"), f.width)
            if f.constant is None and f.access is not Access.RW:
                _sub(fe, _s("volatile"), "true")
            _sub(fe, _s("access"), _ACCESS[f.access])
            if f.access is Access.TOW:
                _sub(fe, _s("modifiedWriteValue"), "oneToToggle")
            if f.access is Access.COR:
                _sub(fe, _s("readAction"), "clear")


def _view(parent: ET.Element, name: str, display: str, env: str, fileset: str, model_name: str | None) -> None:
    v = _sub(parent, _s("view"))
    _sub(v, _s("name"), name)
    _sub(v, _s("displayName"), display)
    _sub(v, _s("envIdentifier"), env)
    if model_name is not None:
        _sub(v, _s("language"), "verilog")
        _sub(v, _s("modelName"), model_name)
    _sub(_sub(v, _s("fileSetRef")), _s("localName"), fileset)


def _fileset(parent: ET.Element, name: str, path: str, file_type: str | None, user_type: str | None = None) -> None:
    fs = _sub(parent, _s("fileSet"))
    _sub(fs, _s("name"), name)
    f = _sub(fs, _s("file"))
    _sub(f, _s("name"), path)
    if file_type:
        _sub(f, _s("fileType"), file_type)
    if user_type:
        _sub(f, _s("userFileType"), user_type)


def component_xml(config: AcceleratorConfig, interfaces: IpInterfaces | None = None,
                  regmap: RegisterMap | None = None) -> str:
    """The text of ``component.xml`` for ``config`` (Verilog at ``hdl/verilog/<name>.v``)."""
    interfaces = interfaces or ip_interfaces(config)
    regmap = regmap or control_register_map(config)
    verilog = f"{HDL_DIR}/{interfaces.top_name}.v"
    synth_fs, sim_fs, gui_fs = (f"{v}_view_fileset" for v in (SYNTH_VIEW, SIM_VIEW, GUI_VIEW))

    root = ET.Element(_s("component"))
    _sub(root, _s("vendor"), ip_identity.VENDOR)
    _sub(root, _s("library"), ip_identity.LIBRARY)
    _sub(root, _s("name"), ip_identity.NAME)
    _sub(root, _s("version"), ip_identity.VERSION)

    buses = _sub(root, _s("busInterfaces"))
    for bus in interfaces.bus_interfaces:
        _bus_interface(buses, bus)

    spaces = _sub(root, _s("addressSpaces"))
    space = _sub(spaces, _s("addressSpace"))
    _sub(space, _s("name"), ADDRESS_SPACE)
    _sub(space, _s("displayName"), ADDRESS_SPACE)
    _sub(space, _s("range"), scaled_size(1 << interfaces.address_space_bits))
    _sub(space, _s("width"), interfaces.interface("m_axi_gmem").parameters["DATA_WIDTH"])

    _memory_map(_sub(root, _s("memoryMaps")), "s_axi_control", regmap, interfaces.control_range)

    model = _sub(root, _s("model"))
    views = _sub(model, _s("views"))
    _view(views, SYNTH_VIEW, "Verilog Synthesis", "verilogSource:vivado.xilinx.com:synthesis", synth_fs,
          interfaces.top_name)
    _view(views, SIM_VIEW, "Verilog Simulation", "verilogSource:vivado.xilinx.com:simulation", sim_fs,
          interfaces.top_name)
    _view(views, GUI_VIEW, "UI Layout", ":vivado.xilinx.com:xgui.ui", gui_fs, None)
    ports = _sub(model, _s("ports"))
    for p in interfaces.ports:
        pe = _sub(ports, _s("port"))
        _sub(pe, _s("name"), p.name)
        wire = _sub(pe, _s("wire"))
        _sub(wire, _s("direction"), p.direction)
        if p.width > 1:
            vec = _sub(wire, _s("vector"))
            _sub(vec, _s("left"), p.width - 1, format="long")
            _sub(vec, _s("right"), 0, format="long")
        defs = _sub(_sub(wire, _s("wireTypeDefs")), _s("wireTypeDef"))
        _sub(defs, _s("typeName"), "std_logic_vector" if p.width > 1 else "std_logic")
        _sub(defs, _s("viewNameRef"), SYNTH_VIEW)
        _sub(defs, _s("viewNameRef"), SIM_VIEW)

    filesets = _sub(root, _s("fileSets"))
    _fileset(filesets, synth_fs, verilog, "verilogSource")
    _fileset(filesets, sim_fs, verilog, "verilogSource")
    _fileset(filesets, gui_fs, XGUI_FILE, "tclSource", "XGUI_VERSION_2")

    _sub(root, _s("description"),
         f"convforge ConvAccelerator {config.name}: {config.engine} engine, pm={config.pm}, pn={config.pn}, "
         f"{config.data_width}-bit data, {config.axi_data_width}-bit AXI, {config.clock_mhz:g} MHz")
    params = _sub(root, _s("parameters"))
    _parameter(params, "Component_Name", f"{ip_identity.NAME}_v{ip_identity.VERSION.replace('.', '_')}",
               "PARAM_VALUE.Component_Name", resolve="user")

    ext = _sub(_sub(root, _s("vendorExtensions")), _x("coreExtensions"))
    fams = ET.SubElement(ext, _x("supportedFamilies"))
    for fam in SUPPORTED_FAMILIES:
        ET.SubElement(fams, _x("family"), {_x("lifeCycle"): "Production"}).text = fam
    ET.SubElement(ET.SubElement(ext, _x("taxonomies")), _x("taxonomy")).text = "/UserIP"
    ET.SubElement(ext, _x("displayName")).text = f"convforge conv accelerator ({config.name})"
    ET.SubElement(ext, _x("coreRevision")).text = "1"

    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def xgui_tcl() -> str:
    """The IP-integrator GUI script: one page, no user parameters besides the instance name."""
    return (
        "# Customisation GUI of the convforge accelerator IP (generated by dse/packaging/ipxact.py).\n"
        "# The IP has no user parameters: every build-time choice is fixed in its Verilog.\n"
        "proc init_gui { IPINST } {\n"
        "  ipgui::add_param $IPINST -name \"Component_Name\"\n"
        "  ipgui::add_page $IPINST -name \"Page 0\"\n"
        "}\n"
    )


def write_ip(config: AcceleratorConfig, verilog_path: Path, ip_dir: Path,
             interfaces: IpInterfaces | None = None) -> list[Path]:
    """Write the IP repository folder ``ip_dir`` (see the module docstring); return its files."""
    verilog_path, ip_dir = Path(verilog_path), Path(ip_dir)
    interfaces = interfaces or ip_interfaces(config)
    text = verilog_path.read_text()
    if f"module {interfaces.top_name}(" not in text and f"module {interfaces.top_name} (" not in text:
        raise PackagingError(f"{verilog_path} does not define the top module {interfaces.top_name}")
    hdl = ip_dir / HDL_DIR / f"{interfaces.top_name}.v"
    hdl.parent.mkdir(parents=True, exist_ok=True)
    if hdl.resolve() != verilog_path.resolve():
        shutil.copyfile(verilog_path, hdl)
    xgui = ip_dir / XGUI_FILE
    xgui.parent.mkdir(parents=True, exist_ok=True)
    xgui.write_text(xgui_tcl())
    component = ip_dir / COMPONENT_FILE
    component.write_text(component_xml(config, interfaces))
    return [component, hdl, xgui]
