"""Register offsets, field masks and error texts for the driver, from drivers/interface.py.

That module is generated from the single source, rtl/registers/ (``python -m rtl.registers``).
The offsets do not depend on the build's parameters (only the build-info values do).
"""

from __future__ import annotations

import numpy as np

from .interface import BUILD_MAGIC, CONTROL_ADDR_WIDTH, ERROR_CODES
from .interface import REGISTERS as _MAP

__all__ = ["REGISTERS", "ERROR_DESCRIPTIONS", "ERROR_NAMES", "BUILD_MAGIC", "AP_START", "AP_DONE", "AP_IDLE", "ABORT",
           "STATUS_ERROR", "field_mask", "field_value", "field_bits", "WINDOW_BYTES", "check_offset", "require_int",
           "pynq_register_description"]

#: Register name -> byte offset in the s_axi_control space.
REGISTERS: dict = {name: reg["offset"] for name, reg in _MAP.items()}


def field_mask(register: str, field: str) -> int:
    """The bit mask of ``field`` in ``register``."""
    f = _MAP[register]["fields"][field]
    return ((1 << f["width"]) - 1) << f["lsb"]


#: Bit masks of the CTRL fields the driver uses, and the STATUS error field.
AP_START = field_mask("CTRL", "AP_START")
AP_DONE = field_mask("CTRL", "AP_DONE")
AP_IDLE = field_mask("CTRL", "AP_IDLE")
ABORT = field_mask("CTRL", "ABORT")
STATUS_ERROR = field_mask("STATUS", "ERROR")

#: Bytes of the s_axi_control window the IP decodes (address bits above it are not connected).
WINDOW_BYTES = 1 << CONTROL_ADDR_WIDTH

#: Error code -> one-line description, and -> name.
ERROR_DESCRIPTIONS: dict = {code: text for code, (_, text) in ERROR_CODES.items()}
ERROR_NAMES: dict = {code: name for code, (name, _) in ERROR_CODES.items()}


def require_int(name: str, value) -> int:
    """``value`` as an int if it is an integer (Python or numpy, not bool), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def check_offset(offset) -> int:
    """``offset`` as an int if it addresses a 32-bit register of the window, else ValueError."""
    offset = require_int("a register offset", offset)
    if not 0 <= offset < WINDOW_BYTES or offset % 4:
        raise ValueError(f"register offset {int(offset):#x} is outside the IP's window: offsets are multiples of 4 "
                         f"in 0x00..{WINDOW_BYTES - 4:#04x}")
    return int(offset)


def _lsb(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


def field_value(value: int, mask: int) -> int:
    """The field selected by ``mask`` (a contiguous bit mask) of a register ``value``."""
    return (value & mask) >> _lsb(mask)


def field_bits(field: int, mask: int) -> int:
    """``field`` placed in the bits ``mask`` selects (the inverse of :func:`field_value`; bits
    beyond the field's width are dropped)."""
    return (field << _lsb(mask)) & mask


def pynq_register_description() -> dict:
    """The register map in the form PYNQ's hwh parser produces (for DefaultIP.register_map)."""
    access_names = {"RW": "read-write", "RO": "read-only", "COR": "read-only", "TOW": "read-write", "SC": "read-write"}
    out = {}
    for name, reg in _MAP.items():
        fields = {fname: {"bit_offset": f["lsb"], "bit_width": f["width"], "access": access_names[f["access"]],
                          "description": f["description"]}
                  for fname, f in reg["fields"].items()}
        reg_access = "read-only" if all(f["access"] == "read-only" for f in fields.values()) else "read-write"
        out[name] = {"address_offset": reg["offset"], "size": 32, "access": reg_access,
                     "description": reg["description"], "fields": fields}
    return out
