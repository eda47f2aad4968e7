"""AXI4 / AXI4-Lite interface signatures with Vivado member names, and flat-port helpers.

Every signature here is seen from the MASTER: the address, write-data and ready-for-response
members are ``Out``; the ready-for-request and response members are ``In``. A slave uses the
flipped signature (``In(AXI4LiteSignature())`` as a component port).

Member names are the AXI signal names in upper case (``ARADDR``, ``RVALID``, ...), so that a
top-level component can expose ports named exactly as Vivado's IP packager and cocotbext-axi
expect: ``m_axi_gmem_ARADDR``, ``s_axi_control_AWADDR``. Amaranth would name the ports of a
nested interface ``m_axi_gmem__ARADDR``; :func:`flat_members` and :func:`connect_flat` instead
splice the members into the top's own signature under ``<prefix>_<MEMBER>`` and wire them:

.. code-block:: python

    class Top(wiring.Component):
        def __init__(self):
            super().__init__({
                **flat_members("m_axi_gmem", AXI4Signature(64, 64)),
                **flat_members("s_axi_control", AXI4LiteSignature(8, 32).flip()),
            })

        def elaborate(self, platform):
            m = Module()
            m.submodules.rd = rd = AXI4ReadMaster()
            m.submodules.wr = wr = AXI4WriteMaster()
            m.submodules.ctrl = ctrl = ControlSlave(regmap)
            connect_flat(m, self, "m_axi_gmem", rd.axi)     # AR + R of the shared port
            connect_flat(m, self, "m_axi_gmem", wr.axi)     # AW + W + B of the same port
            connect_flat(m, self, "s_axi_control", ctrl.axi)
            return m

Widths: AxLEN 8, AxSIZE 3, AxBURST 2, AxLOCK 1 (AXI4), AxCACHE 4, AxPROT 3, AxQOS 4, xRESP 2,
WSTRB ``data_width // 8``. AxREGION and USER signals are omitted (optional in AXI4 and in
Vivado's inference; cocotbext-axi treats them as optional).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = [
    "AXI4Signature",
    "AXI4ReadSignature",
    "AXI4WriteSignature",
    "AXI4LiteSignature",
    "flat_members",
    "connect_flat",
    "AXI_BURST_INCR",
    "AXI_RESP_OKAY",
    "AXI_RESP_EXOKAY",
    "AXI_RESP_SLVERR",
    "AXI_RESP_DECERR",
    "AXI_PAGE_BYTES",
    "AXI_MAX_BURST",
]

AXI_BURST_INCR = 0b01
AXI_RESP_OKAY = 0b00
AXI_RESP_EXOKAY = 0b01
AXI_RESP_SLVERR = 0b10
AXI_RESP_DECERR = 0b11
#: An AXI burst must not cross a 4 KiB address boundary.
AXI_PAGE_BYTES = 4096
#: AXI4 INCR bursts are at most 256 beats (AxLEN is 8 bits).
AXI_MAX_BURST = 256


def _check_widths(addr_width: int, data_width: int, id_width: int | None = None,
                  min_data: int = 8, max_data: int = 1024) -> None:
    if not isinstance(addr_width, int) or not 12 <= addr_width <= 64:
        raise ValueError(f"addr_width must be an integer in 12..64, got {addr_width!r}")
    if (not isinstance(data_width, int) or data_width < min_data or data_width > max_data
            or data_width & (data_width - 1)):
        raise ValueError(f"data_width must be a power of two in {min_data}..{max_data}, got {data_width!r}")
    if id_width is not None and (not isinstance(id_width, int) or not 1 <= id_width <= 32):
        raise ValueError(f"id_width must be an integer in 1..32, got {id_width!r}")


def _address_members(ch: str, addr_width: int, id_width: int) -> dict:
    return {
        f"{ch}ID": Out(id_width),
        f"{ch}ADDR": Out(addr_width),
        f"{ch}LEN": Out(8),
        f"{ch}SIZE": Out(3),
        f"{ch}BURST": Out(2),
        f"{ch}LOCK": Out(1),
        f"{ch}CACHE": Out(4),
        f"{ch}PROT": Out(3),
        f"{ch}QOS": Out(4),
        f"{ch}VALID": Out(1),
        f"{ch}READY": In(1),
    }


def _write_members(addr_width: int, data_width: int, id_width: int) -> dict:
    return {
        **_address_members("AW", addr_width, id_width),
        "WDATA": Out(data_width),
        "WSTRB": Out(data_width // 8),
        "WLAST": Out(1),
        "WVALID": Out(1),
        "WREADY": In(1),
        "BID": In(id_width),
        "BRESP": In(2),
        "BVALID": In(1),
        "BREADY": Out(1),
    }


def _read_members(addr_width: int, data_width: int, id_width: int) -> dict:
    return {
        **_address_members("AR", addr_width, id_width),
        "RID": In(id_width),
        "RDATA": In(data_width),
        "RRESP": In(2),
        "RLAST": In(1),
        "RVALID": In(1),
        "RREADY": Out(1),
    }


class _AXI4Base(wiring.Signature):
    """Common parameters and structural equality of the AXI4 signatures."""

    def __init__(self, members: dict, addr_width: int, data_width: int, id_width: int):
        self.addr_width = addr_width
        self.data_width = data_width
        self.id_width = id_width
        super().__init__(members)

    @property
    def bytes(self) -> int:
        """Byte lanes of the data bus."""
        return self.data_width // 8

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width and other.id_width == self.id_width)

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width, self.id_width))

    def __repr__(self):
        return (f"{type(self).__name__}(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"id_width={self.id_width})")


class AXI4Signature(_AXI4Base):
    """A full AXI4 master port (all five channels)."""

    def __init__(self, addr_width: int = 64, data_width: int = 64, id_width: int = 1):
        _check_widths(addr_width, data_width, id_width)
        super().__init__({**_write_members(addr_width, data_width, id_width),
                          **_read_members(addr_width, data_width, id_width)},
                         addr_width, data_width, id_width)


class AXI4ReadSignature(_AXI4Base):
    """The read half (AR and R channels) of an AXI4 master port."""

    def __init__(self, addr_width: int = 64, data_width: int = 64, id_width: int = 1):
        _check_widths(addr_width, data_width, id_width)
        super().__init__(_read_members(addr_width, data_width, id_width), addr_width, data_width, id_width)


class AXI4WriteSignature(_AXI4Base):
    """The write half (AW, W and B channels) of an AXI4 master port."""

    def __init__(self, addr_width: int = 64, data_width: int = 64, id_width: int = 1):
        _check_widths(addr_width, data_width, id_width)
        super().__init__(_write_members(addr_width, data_width, id_width), addr_width, data_width, id_width)


class AXI4LiteSignature(wiring.Signature):
    """An AXI4-Lite master port (no IDs, bursts, LAST or CACHE/QOS signals)."""

    def __init__(self, addr_width: int = 8, data_width: int = 32):
        if not isinstance(addr_width, int) or not 2 <= addr_width <= 64:
            raise ValueError(f"addr_width must be an integer in 2..64, got {addr_width!r}")
        if data_width not in (32, 64):
            raise ValueError(f"AXI4-Lite data_width must be 32 or 64, got {data_width!r}")
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__({
            "AWADDR": Out(addr_width),
            "AWPROT": Out(3),
            "AWVALID": Out(1),
            "AWREADY": In(1),
            "WDATA": Out(data_width),
            "WSTRB": Out(data_width // 8),
            "WVALID": Out(1),
            "WREADY": In(1),
            "BRESP": In(2),
            "BVALID": In(1),
            "BREADY": Out(1),
            "ARADDR": Out(addr_width),
            "ARPROT": Out(3),
            "ARVALID": Out(1),
            "ARREADY": In(1),
            "RDATA": In(data_width),
            "RRESP": In(2),
            "RVALID": In(1),
            "RREADY": Out(1),
        })

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width))

    def __repr__(self):
        return f"AXI4LiteSignature(addr_width={self.addr_width}, data_width={self.data_width})"


def _port_members(signature: wiring.Signature):
    """``(path, member)`` of every port member (sub-signatures are descended into)."""
    for path, member in signature.members.flatten():
        if member.is_port:
            yield path, member


def _flat_name(prefix: str, path) -> str:
    return "_".join([prefix, *(str(p) for p in path)])


def flat_members(prefix: str, signature: wiring.Signature) -> dict[str, wiring.Member]:
    """Members of ``signature`` renamed ``<prefix>_<MEMBER>``, to splice into a top signature.

    Pass the signature as the top level should see it: ``AXI4Signature(...)`` for a master port
    (``m_axi_gmem_ARADDR``: ``Out(64)``), ``AXI4LiteSignature(...).flip()`` for a slave port
    (``s_axi_control_AWADDR``: ``In(8)``).
    """
    if not prefix or not prefix[0].isalpha():
        raise ValueError(f"prefix must start with a letter, got {prefix!r}")
    return {_flat_name(prefix, path): member for path, member in _port_members(signature)}


def connect_flat(m: Module, top: wiring.Component, prefix: str, interface) -> None:
    """Wire the flat ports ``<prefix>_<MEMBER>`` of ``top`` to ``interface`` (combinationally).

    ``interface`` is a sub-component's port (e.g. ``read_master.axi``) or any interface object
    whose ``signature`` has the same member flows as the flat ports of ``top`` (both seen from
    the component that owns them). Members the interface drives (``Out``) drive the top's
    output ports; the top's input ports drive the interface's ``In`` members. Only the members
    of ``interface`` are connected, so a read and a write half can share one prefix.
    """
    top_members = top.signature.members
    for path, member in _port_members(interface.signature):
        name = _flat_name(prefix, path)
        if name not in top_members:
            raise NameError(f"{type(top).__name__} has no port {name!r} for {prefix}")
        outer_member = top_members[name]
        if outer_member.flow != member.flow or outer_member.shape != member.shape:
            raise TypeError(f"port {name!r} is {outer_member.flow.name}({outer_member.shape}) on the top "
                            f"but {member.flow.name}({member.shape}) on the interface")
        outer = getattr(top, name)
        inner = interface
        for part in path:
            inner = inner[part] if isinstance(part, int) else getattr(inner, part)
        if member.flow == wiring.Out:
            m.d.comb += outer.eq(inner)
        else:
            m.d.comb += inner.eq(outer)
