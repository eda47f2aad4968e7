"""The control register map: one Python description for the RTL, the driver, IP-XACT and docs.

Pure Python (no Amaranth). :func:`control_register_map` builds the AXI4-Lite map of a
``ConvAccelerator`` from its :class:`rtl.config.AcceleratorConfig`;
:class:`rtl.axi.control_slave.ControlSlave` generates the register block from it, the driver
reads it back from ``design.json`` (:meth:`RegisterMap.to_dict` / :meth:`RegisterMap.from_dict`),
and ``python -m rtl.registers`` writes ``docs/registers.md`` (``--check`` verifies it is current).

Registers are 32 bits wide at word-aligned byte offsets. Each field has an access type:

========  ==============================================================================
RW        read/write; written with the byte strobes honoured; drives the core.
RO        read-only; the core drives it (or, with ``constant`` set, a build-time constant).
COR       clear-on-read status bit: set by a core event, cleared by a read of its register.
TOW       toggle-on-write status bit: set by a core event, writing 1 toggles it (HLS ISR).
SC        self-clearing command bit: writing 1 makes a one-cycle pulse; reads as 0.
========  ==============================================================================

Core-side port of a field (see :func:`field_port_name`): ``<register>_<field>`` in lower case,
or just ``<register>`` when the field has the register's own name (e.g. ``in_addr_lo``).
"""

from __future__ import annotations

import argparse
import enum
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import AcceleratorConfig
from .engine import engine_codes
from .error_codes import ErrorCode

#: Address bits of the s_axi_control port: the register window is 2**CONTROL_ADDR_WIDTH bytes.
CONTROL_ADDR_WIDTH = 8

__all__ = [
    "CONTROL_ADDR_WIDTH",
    "Access",
    "Field",
    "Register",
    "RegisterMap",
    "BUILD_MAGIC",
    "BUILD_VERSION",
    "REGISTER_BITS",
    "HLS_CONTROL_FIELDS",
    "field_port_name",
    "control_register_map",
    "render_markdown",
    "main",
]

#: Width of every register.
REGISTER_BITS = 32
#: "CVFG" in ASCII: identifies a convforge accelerator.
BUILD_MAGIC = 0x43564647
#: Version of this register layout (bump on any incompatible change).
BUILD_VERSION = 1

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Access(enum.Enum):
    """How software and the core reach a field."""

    RW = "RW"
    RO = "RO"
    COR = "COR"
    TOW = "TOW"
    SC = "SC"

    @property
    def description(self) -> str:
        return _ACCESS_TEXT[self]


_ACCESS_TEXT = {
    Access.RW: "read/write",
    Access.RO: "read-only (driven by the core, or a build constant)",
    Access.COR: "set by a core event, cleared when the register is read",
    Access.TOW: "set by a core event, a write of 1 toggles it",
    Access.SC: "write 1 for a one-cycle pulse to the core; reads as 0",
}


@dataclass(frozen=True)
class Field:
    """A bit field ``[lsb, lsb + width)`` of a 32-bit register.

    ``reset``: value after reset (RW only; other access types reset to 0).
    ``constant``: for RO fields only: the field is this build-time constant (no core port).
    """

    name: str
    lsb: int
    width: int
    access: Access
    description: str
    reset: int = 0
    constant: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"field name must be upper-case letters, digits and _, got {self.name!r}")
        if not isinstance(self.access, Access):
            raise TypeError(f"field {self.name}: access must be an Access, got {self.access!r}")
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"field {self.name}: width must be a positive integer, got {self.width!r}")
        if not isinstance(self.lsb, int) or self.lsb < 0 or self.lsb + self.width > REGISTER_BITS:
            raise ValueError(f"field {self.name}: bits {self.lsb}..{self.lsb + self.width - 1} do not fit a 32-bit register")
        if self.access in (Access.COR, Access.TOW, Access.SC) and self.width != 1:
            raise ValueError(f"field {self.name}: {self.access.value} fields are single bits, got width {self.width}")
        if not 0 <= self.reset < (1 << self.width):
            raise ValueError(f"field {self.name}: reset value {self.reset} does not fit {self.width} bits")
        if self.reset and self.access is not Access.RW:
            raise ValueError(f"field {self.name}: only RW fields have a reset value")
        if self.constant is not None:
            if self.access is not Access.RO:
                raise ValueError(f"field {self.name}: only RO fields can be constants")
            if not 0 <= self.constant < (1 << self.width):
                raise ValueError(f"field {self.name}: constant {self.constant} does not fit {self.width} bits")

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits within the register."""
        return ((1 << self.width) - 1) << self.lsb

    @property
    def bits(self) -> str:
        return f"{self.lsb}" if self.width == 1 else f"{self.msb}:{self.lsb}"

    def to_dict(self) -> dict:
        d = {"name": self.name, "lsb": self.lsb, "width": self.width, "access": self.access.value,
             "description": self.description, "reset": self.reset}
        if self.constant is not None:
            d["constant"] = self.constant
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Field":
        return cls(d["name"], d["lsb"], d["width"], Access(d["access"]), d["description"],
                   d.get("reset", 0), d.get("constant"))


@dataclass(frozen=True)
class Register:
    """A 32-bit register at byte ``offset`` (a multiple of 4) made of non-overlapping fields."""

    name: str
    offset: int
    fields: tuple[Field, ...]
    description: str

    def __post_init__(self):
        object.__setattr__(self, "fields", tuple(self.fields))
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"register name must be upper-case letters, digits and _, got {self.name!r}")
        if not isinstance(self.offset, int) or self.offset < 0 or self.offset % 4:
            raise ValueError(f"register {self.name}: offset must be a non-negative multiple of 4, got {self.offset!r}")
        if not self.fields:
            raise ValueError(f"register {self.name} has no fields")
        names, used = set(), 0
        for f in self.fields:
            if not isinstance(f, Field):
                raise TypeError(f"register {self.name}: {f!r} is not a Field")
            if f.name in names:
                raise ValueError(f"register {self.name}: field {f.name} defined twice")
            if used & f.mask:
                raise ValueError(f"register {self.name}: field {f.name} overlaps another field")
            names.add(f.name)
            used |= f.mask

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}")

    def __contains__(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    @property
    def reset_value(self) -> int:
        """Value read right after reset with all core inputs at 0."""
        value = 0
        for f in self.fields:
            if f.access is Access.RW:
                value |= f.reset << f.lsb
            elif f.constant is not None:
                value |= f.constant << f.lsb
        return value

    @property
    def is_constant(self) -> bool:
        return all(f.constant is not None for f in self.fields)

    def to_dict(self) -> dict:
        return {"name": self.name, "offset": self.offset, "description": self.description,
                "fields": [f.to_dict() for f in self.fields]}

    @classmethod
    def from_dict(cls, d: dict) -> "Register":
        return cls(d["name"], d["offset"], tuple(Field.from_dict(f) for f in d["fields"]), d["description"])


class RegisterMap:
    """An ordered set of registers with unique names and offsets (iteration is by offset)."""

    def __init__(self, registers, name: str = "control"):
        regs = sorted(registers, key=lambda r: r.offset)
        by_name, by_offset = {}, {}
        for r in regs:
            if not isinstance(r, Register):
                raise TypeError(f"{r!r} is not a Register")
            if r.name in by_name:
                raise ValueError(f"register {r.name} defined twice")
            if r.offset in by_offset:
                raise ValueError(f"registers {by_offset[r.offset].name} and {r.name} share offset {r.offset:#x}")
            by_name[r.name] = r
            by_offset[r.offset] = r
        ports = {}
        for r in regs:
            for f in r.fields:
                port = field_port_name(r, f)
                if port in ports:
                    raise ValueError(f"fields {ports[port]} and {r.name}.{f.name} both map to port {port!r}")
                ports[port] = f"{r.name}.{f.name}"
        self.name = name
        self._regs = tuple(regs)
        self._by_name = by_name
        self._by_offset = by_offset

    def __iter__(self):
        return iter(self._regs)

    def __len__(self) -> int:
        return len(self._regs)

    def __getitem__(self, name: str) -> Register:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no register named {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def by_offset(self, offset: int) -> Register | None:
        """The register at byte ``offset`` (None when unmapped)."""
        return self._by_offset.get(offset)

    @property
    def span(self) -> int:
        """Bytes from offset 0 to the end of the last register."""
        return max(r.offset for r in self._regs) + 4

    @property
    def addr_width(self) -> int:
        """Address bits needed to reach every register."""
        return max(2, (self.span - 1).bit_length())

    def __eq__(self, other):
        return isinstance(other, RegisterMap) and self.name == other.name and self._regs == other._regs

    def __repr__(self):
        return f"RegisterMap({self.name!r}, {len(self._regs)} registers)"

    def to_dict(self) -> dict:
        """JSON-ready description (design.json, the driver, component.xml)."""
        return {
            "name": self.name,
            "register_bits": REGISTER_BITS,
            "span": self.span,
            "registers": [r.to_dict() for r in self._regs],
            "error_codes": {e.name: {"value": int(e), "description": e.description} for e in ErrorCode},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RegisterMap":
        return cls((Register.from_dict(r) for r in d["registers"]), d.get("name", "control"))

    def to_markdown(self) -> str:
        """The register tables (summary, then every field) in Markdown."""
        lines = ["| offset | register | reset | description |", "| --- | --- | --- | --- |"]
        for r in self._regs:
            lines.append(f"| 0x{r.offset:02X} | {r.name} | 0x{r.reset_value:08X} | {_md(r.description)} |")
        lines += ["", "| register | bits | field | access | reset / value | core port | description |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in self._regs:
            for f in r.fields:
                if f.constant is not None:
                    value, port = f"{f.constant} (0x{f.constant:X})", "(constant)"
                else:
                    value, port = (str(f.reset) if f.access is Access.RW else "0"), f"`{field_port_name(r, f)}`"
                if (r.name, f.name) in HLS_CONTROL_FIELDS:
                    port = HLS_CONTROL_FIELDS[(r.name, f.name)]
                    port = f"`{port}`" if port else "(internal)"
                lines.append(f"| {r.name} | {f.bits} | {f.name} | {f.access.value} | {value} | {port} | {_md(f.description)} |")
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def field_port_name(register: Register, field: Field) -> str:
    """Name of the core-side port of ``field``: ``<register>_<field>`` in lower case, or
    ``<register>`` alone when the field is named like its register."""
    if field.name == register.name:
        return register.name.lower()
    return f"{register.name}_{field.name}".lower()


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
            Field("ABORT", 8, 1, SC, "write 1 to stop the running layer: no further memory traffic is issued, "
                  "outstanding reads drain, issued write bursts finish with no byte enabled, the datapath is "
                  "reset and the run ends (AP_DONE) with STATUS.ERROR = ABORTED; ignored while idle"),
        ), "Vitis HLS block-level control"),
        Register("GIER", 0x04, (Field("ENABLE", 0, 1, RW, "global interrupt enable"),),
                 "global interrupt enable"),
        Register("IP_IER", 0x08, (
            Field("DONE", 0, 1, RW, "interrupt on ap_done"),
            Field("READY", 1, 1, RW, "interrupt on ap_ready"),
        ), "IP interrupt enable"),
        Register("IP_ISR", 0x0C, (
            Field("DONE", 0, 1, TOW, "ap_done happened while IP_IER.DONE was set (write 1 to clear)"),
            Field("READY", 1, 1, TOW, "ap_ready happened while IP_IER.READY was set (write 1 to clear)"),
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
        Register("LAYER_FLAGS", 0x5C, (Field("RELU", 0, 1, RW, "apply ReLU in the requantiser"),),
                 "layer options"),
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
        ("CLOCK_KHZ", 0xB8, round(config.clock_mhz * 1000), "design clock in kHz (AcceleratorConfig.clock_mhz)"),
        ("MAX_ROW_WORDS", 0xBC, config.row_words, "line-buffer row capacity in pn-words: largest W*ceil(C/pn) (AcceleratorConfig.row_words)"),
        ("MAX_WEIGHT_TAPS", 0xC0, config.weight_depth, "weight-buffer bank capacity: largest ceil(C/pn)*K*K (AcceleratorConfig.weight_depth)"),
        ("REQUANT_LANES", 0xC4, config.requant_lanes, "output channels requantised per cycle (AcceleratorConfig.requant_lanes)"),
        ("AXI_ADDR_WIDTH", 0xC8, config.axi_addr_width, "memory address bits: every buffer must end at or below 2^AXI_ADDR_WIDTH (AcceleratorConfig.axi_addr_width)"),
    ]
    regs += [_full(name, offset, RO, text, constant=value) for name, offset, value, text in build_info]
    return RegisterMap(regs, name="control")


_DOC_HEADER = """\
# Control registers (`s_axi_control`)

<!-- Generated by `python -m rtl.registers` from rtl/registers.py; do not edit by hand.
     `python -m rtl.registers --check` fails when this file is out of date. -->

The accelerator is controlled through an AXI4-Lite slave with 32-bit registers, laid out like a
Vitis HLS kernel's `s_axi_control` so that PYNQ's `DefaultIP` habits work (`write(0x00, 1)`
starts, bit 1 of 0x00 reports done, bit 2 idle). One Python description, `rtl/registers.py`,
generates the register block (`rtl/axi/control_slave.py`), feeds the driver and `component.xml`
(`RegisterMap.to_dict()`), and this page.

Build-information values below are those of the default `AcceleratorConfig()`
({config_name}); every build reports its own. Software should check `MAGIC` and `VERSION` and
then read the limits from the build-information block.

## Access types

| access | meaning |
| --- | --- |
{access_rows}

Unmapped offsets read as 0 and ignore writes; every access gets an OKAY response. Writes honour
`WSTRB` per byte. The slave decodes address bits {addr_high}:2 of `s_axi_control` (a
{window}-byte window); the address range Vivado assigns to the IP is larger, and an access
beyond the window aliases the register at `offset % {window}`. The drivers refuse such offsets
(`ValueError`, before the bus is touched). The slave answers a read in the cycle after the AR handshake and a write two
cycles after the later of its AW and W handshakes (they may come in either order or together).

## Control protocol (Vitis HLS `ap_ctrl_hs`)

* Writing 1 to `CTRL.AP_START` sends a one-cycle `ap_start` pulse to the core; with
  `CTRL.AUTO_RESTART` set, every `ap_done` sends another one.
* The core pulses `ap_done` when a run ends: `CTRL.AP_DONE` is set (cleared when CTRL is read),
  and `IP_ISR.DONE` too if `IP_IER.DONE` is set. `ap_ready` does the same for `AP_READY` /
  `IP_ISR.READY`. `CTRL.AP_IDLE` is the core's `ap_idle` level.
* `interrupt = GIER.ENABLE & |(IP_ISR & IP_IER)`. Write 1 to an `IP_ISR` bit to clear it
  (toggle on write); a core event in the same cycle as the write wins.
* A typical run: write the descriptor registers, write `CTRL = 1`, wait for `CTRL.AP_DONE` (or
  the interrupt), then read `STATUS.ERROR` ({error_ok} = success) and the counters.

## Registers

{tables}
## Error codes (`STATUS.ERROR`)

| value | name | meaning |
| --- | --- | --- |
{error_rows}
## Core-side ports

`ControlSlave(regmap)` has one port per field, named `<register>_<field>` in lower case, or
`<register>` when the field is named like its register (`in_addr_lo`, `in_channels`): RW fields
are outputs holding the register value, RO fields inputs (constants have no port), SC fields
one-cycle output pulses, COR/TOW fields one-cycle "set" inputs. The HLS control fields use
`ap_start` (out), `ap_done`, `ap_ready` (pulses in) and `ap_idle` (level in) instead, `IP_ISR` is
set internally, and `interrupt` is an output.
"""


def render_markdown(config=None) -> str:
    """The text of docs/registers.md for ``config`` (default: ``AcceleratorConfig()``)."""
    config = config or AcceleratorConfig()
    regmap = control_register_map(config)
    return _DOC_HEADER.format(
        config_name=f"`{config.name}`",
        addr_high=CONTROL_ADDR_WIDTH - 1, window=1 << CONTROL_ADDR_WIDTH,
        access_rows="\n".join(f"| {a.value} | {a.description} |" for a in Access),
        tables=regmap.to_markdown(),
        error_ok=int(ErrorCode.OK),
        error_rows="\n".join(f"| {int(e)} | {e.name} | {e.description} |" for e in ErrorCode) + "\n",
    )


DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "registers.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtl.registers",
                                     description="Write docs/registers.md from the register map in rtl/registers.py.")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help=f"file to write (default {DOC_PATH})")
    parser.add_argument("--check", action="store_true", help="only check that the file is current; exit 1 if not")
    args = parser.parse_args(argv)
    text = render_markdown()
    if args.check:
        current = args.output.read_text() if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date: run python -m rtl.registers", file=sys.stderr)
            return 1
        print(f"{args.output} is current")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
