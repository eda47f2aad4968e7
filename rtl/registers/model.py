"""The register model: access types, fields, registers and a register map (pure Python).

A :class:`RegisterMap` is an ordered set of 32-bit registers at word-aligned byte offsets, each
made of bit fields with an access type (see the package docstring). It validates itself
(unique names, offsets and core-side port names; fields inside their register) and round-trips
through JSON (:meth:`RegisterMap.to_dict` / :meth:`RegisterMap.from_dict`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..error_codes import ErrorCode

__all__ = ["REGISTER_BITS", "Access", "Field", "Register", "RegisterMap", "field_port_name"]

#: Width of every register.
REGISTER_BITS = 32

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


def field_port_name(register: Register, field: Field) -> str:
    """Name of the core-side port of ``field``: ``<register>_<field>`` in lower case, or
    ``<register>`` alone when the field is named like its register."""
    if field.name == register.name:
        return register.name.lower()
    return f"{register.name}_{field.name}".lower()

