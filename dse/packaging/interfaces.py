"""The IP's Vivado view: its RTL ports and how they group into bus interfaces.

One description, read from ``rtl.top.accelerator_signature(config)`` (never a hand-written
port list), feeds ``component.xml`` (:mod:`dse.packaging.ipxact`), the module-reference wrapper's
``X_INTERFACE_INFO`` attributes (:mod:`dse.packaging.module_reference`) and the block-design Tcl
(:mod:`dse.packaging.vivado_tcl`).

Bus interfaces (Vivado's names and bus definitions):

=================  =========================================  ======  ==============================
name               bus type (``xilinx.com:...:1.0``)          mode    ports
=================  =========================================  ======  ==============================
``m_axi_gmem``     ``interface:aximm`` (AXI4)                 master  ``m_axi_gmem_<AXI NAME>``
``s_axi_control``  ``interface:aximm`` (AXI4-Lite)            slave   ``s_axi_control_<AXI NAME>``
``ap_clk``         ``signal:clock``                           slave   ``ap_clk`` -> ``CLK``
``ap_rst_n``       ``signal:reset``                           slave   ``ap_rst_n`` -> ``RST``
``interrupt``      ``signal:interrupt``                       master  ``interrupt`` -> ``INTERRUPT``
=================  =========================================  ======  ==============================

``ap_clk`` deliberately has no ``FREQ_HZ`` (see the comment in :func:`ip_interfaces` and
docs/packaging.md). Every RTL port belongs to exactly one bus interface; a port the table does
not place (a new port of the top) raises :class:`PackagingError` instead of silently leaving it
out of the IP.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from amaranth.hdl import Shape
from amaranth.lib import wiring

from rtl.axi.signature import AXI_MAX_BURST
from rtl.axi.write_master import AXI4WriteMaster
from rtl.config import AcceleratorConfig
from rtl.top import accelerator_signature

__all__ = [
    "PackagingError",
    "Port",
    "BusInterface",
    "IpInterfaces",
    "ip_interfaces",
    "CLOCK",
    "RESET",
    "INTERRUPT",
    "MEMORY_MASTER",
    "CONTROL_SLAVE",
]

CLOCK, RESET, INTERRUPT = "ap_clk", "ap_rst_n", "interrupt"
MEMORY_MASTER, CONTROL_SLAVE = "m_axi_gmem", "s_axi_control"


class PackagingError(ValueError):
    """The RTL cannot be described as the Vivado IP this package writes (one sentence)."""


@dataclass(frozen=True)
class Port:
    """A top-level RTL port: ``direction`` is ``"in"`` or ``"out"`` (seen from the IP)."""

    name: str
    direction: str
    width: int

    @property
    def verilog_range(self) -> str:
        """``"[w-1:0] "`` for vectors, ``""`` for single bits (as Amaranth declares them)."""
        return f"[{self.width - 1}:0] " if self.width > 1 else ""


@dataclass(frozen=True)
class BusInterface:
    """One Vivado bus interface of the IP.

    ``bus_type``/``abstraction_type``: ``(vendor, library, name, version)`` of the bus and
    abstraction definitions. ``mode``: ``"master"`` or ``"slave"``. ``port_map``: logical port
    name -> physical (RTL) port name, in RTL order. ``parameters``: bus parameters, name ->
    value, in the order Vivado lists them.
    """

    name: str
    bus_type: tuple[str, str, str, str]
    abstraction_type: tuple[str, str, str, str]
    mode: str
    port_map: dict[str, str]
    parameters: dict[str, str | int] = field(default_factory=dict)
    description: str = ""

    @property
    def bus_vlnv(self) -> str:
        return ":".join(self.bus_type)


@dataclass(frozen=True)
class IpInterfaces:
    """The ports and bus interfaces of one build; ``top_name`` is the Verilog module name."""

    top_name: str
    ports: tuple[Port, ...]
    bus_interfaces: tuple[BusInterface, ...]
    address_space_bits: int
    control_range: int

    def port(self, name: str) -> Port:
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"the IP has no port {name!r}")

    def interface(self, name: str) -> BusInterface:
        for b in self.bus_interfaces:
            if b.name == name:
                return b
        raise KeyError(f"the IP has no bus interface {name!r}")

    def interface_of(self, port_name: str) -> BusInterface:
        for b in self.bus_interfaces:
            if port_name in b.port_map.values():
                return b
        raise KeyError(f"port {port_name!r} is in no bus interface")


def _aximm() -> tuple[tuple, tuple]:
    return ("xilinx.com", "interface", "aximm", "1.0"), ("xilinx.com", "interface", "aximm_rtl", "1.0")


def _signal(name: str) -> tuple[tuple, tuple]:
    return ("xilinx.com", "signal", name, "1.0"), ("xilinx.com", "signal", f"{name}_rtl", "1.0")


def _rtl_ports(signature: wiring.Signature, owner: str) -> tuple[Port, ...]:
    ports = []
    for name, member in signature.members.items():
        if not member.is_port:
            raise PackagingError(f"member {name!r} of {owner} is not a port; the IP needs a flat signature")
        ports.append(Port(name, "in" if member.flow == wiring.In else "out", Shape.cast(member.shape).width))
    return tuple(ports)


def _write_outstanding_default() -> int:
    # rtl.top builds its write master with AXI4WriteMaster's default max_outstanding (the read
    # master gets config.outstanding_reads); read the default from the class, not a copy of it.
    return inspect.signature(AXI4WriteMaster.__init__).parameters["max_outstanding"].default


def ip_interfaces(config: AcceleratorConfig, top: wiring.Component | None = None) -> IpInterfaces:
    """The Vivado view of ``rtl.top.ConvAccelerator(config)`` (``top`` may be passed if built;
    else its signature is read from ``rtl.top.accelerator_signature``, with no component built)."""
    owner = type(top).__name__ if top is not None else "ConvAccelerator"
    ports = _rtl_ports(top.signature if top is not None else accelerator_signature(config), owner)
    by_name = {p.name: p for p in ports}

    def prefixed(prefix: str) -> dict[str, str]:
        return {p.name[len(prefix) + 1:]: p.name for p in ports if p.name.startswith(prefix + "_")}

    def single(name: str, logical: str) -> dict[str, str]:
        if name not in by_name:
            raise PackagingError(f"{owner} has no port {name!r}")
        return {logical: name}

    gmem, control = prefixed(MEMORY_MASTER), prefixed(CONTROL_SLAVE)
    for required, group in (("ARADDR", gmem), ("RDATA", gmem), ("ARID", gmem), ("AWADDR", control), ("WDATA", control)):
        if required not in group:
            raise PackagingError(f"{owner} lacks the {required} port of an AXI interface")
    bus_type, abstraction = _aximm()
    interfaces = (
        BusInterface(MEMORY_MASTER, bus_type, abstraction, "master", gmem, {
            "PROTOCOL": "AXI4",
            "ADDR_WIDTH": by_name[gmem["ARADDR"]].width,
            "DATA_WIDTH": by_name[gmem["RDATA"]].width,
            "ID_WIDTH": by_name[gmem["ARID"]].width,
            "NUM_READ_OUTSTANDING": config.outstanding_reads,
            "NUM_WRITE_OUTSTANDING": _write_outstanding_default(),
            "MAX_BURST_LENGTH": AXI_MAX_BURST,
        }, "AXI4 master to DDR: inputs, weights and quantisation parameters in, outputs out"),
        BusInterface(CONTROL_SLAVE, bus_type, abstraction, "slave", control, {
            "PROTOCOL": "AXI4LITE",
            "ADDR_WIDTH": by_name[control["AWADDR"]].width,
            "DATA_WIDTH": by_name[control["WDATA"]].width,
        }, "AXI4-Lite control and status registers (docs/registers.md)"),
        BusInterface(CLOCK, *_signal("clock"), "slave", single(CLOCK, "CLK"), {
            "ASSOCIATED_BUSIF": f"{MEMORY_MASTER}:{CONTROL_SLAVE}",
            "ASSOCIATED_RESET": RESET,
            # No FREQ_HZ: the PS's PL clock is a PLL output divided by integers, which Vivado
            # rounds in its own way (1000/7 = 142.857132 MHz, 187.498123 MHz), and a FREQ_HZ
            # fixed in the IP makes validate_bd_design fail on any mismatch ([BD 41-237]).
            # Without it Vivado propagates the delivered frequency to ap_clk and times the
            # design against it; build.tcl checks that it is the design's clock.
        }, "the single clock of the IP and of both AXI interfaces"),
        BusInterface(RESET, *_signal("reset"), "slave", single(RESET, "RST"), {
            "POLARITY": "ACTIVE_LOW",
        }, "synchronous active-low reset"),
        BusInterface(INTERRUPT, *_signal("interrupt"), "master", single(INTERRUPT, "INTERRUPT"), {
            "SENSITIVITY": "LEVEL_HIGH",
        }, "level interrupt: GIER.ENABLE & |(IP_ISR & IP_IER)"),
    )
    placed = [p for b in interfaces for p in b.port_map.values()]
    unplaced = [p.name for p in ports if p.name not in placed]
    if unplaced:
        raise PackagingError(f"ports {unplaced} of {owner} belong to no bus interface of the IP")
    if len(placed) != len(set(placed)):
        raise PackagingError("a port was placed in two bus interfaces")
    return IpInterfaces(
        top_name=config.name,
        ports=ports,
        bus_interfaces=interfaces,
        address_space_bits=by_name[gmem["ARADDR"]].width,
        control_range=1 << by_name[control["AWADDR"]].width,
    )
