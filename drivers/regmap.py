"""Register offsets and error texts for the driver, taken from the single source rtl.registers.

The offsets do not depend on the build's parameters (only the build-info values do), so the
map of the default configuration names them all.
"""

from __future__ import annotations

import numpy as np

from rtl.config import AcceleratorConfig
from rtl.error_codes import ErrorCode
from rtl.registers import BUILD_MAGIC, CONTROL_ADDR_WIDTH, control_register_map

__all__ = ["REGISTERS", "ERROR_DESCRIPTIONS", "BUILD_MAGIC", "ErrorCode", "AP_START", "AP_DONE", "AP_IDLE", "ABORT",
           "STATUS_ERROR", "field_value", "WINDOW_BYTES", "check_offset", "require_int"]

_MAP = control_register_map(AcceleratorConfig())

#: Register name -> byte offset in the s_axi_control space.
REGISTERS: dict[str, int] = {reg.name: reg.offset for reg in _MAP}

#: Bit masks of the CTRL fields the driver uses, and the STATUS error field.
AP_START = _MAP["CTRL"]["AP_START"].mask
AP_DONE = _MAP["CTRL"]["AP_DONE"].mask
AP_IDLE = _MAP["CTRL"]["AP_IDLE"].mask
ABORT = _MAP["CTRL"]["ABORT"].mask
STATUS_ERROR = _MAP["STATUS"]["ERROR"].mask


#: Bytes of the s_axi_control window the IP decodes (address bits above it are not connected).
WINDOW_BYTES = 1 << CONTROL_ADDR_WIDTH


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


def field_value(value: int, mask: int) -> int:
    """The field selected by ``mask`` (a contiguous bit mask) of a register ``value``."""
    return (value & mask) >> ((mask & -mask).bit_length() - 1)

#: Error code -> one-line description.
ERROR_DESCRIPTIONS: dict[int, str] = {int(code): getattr(code, "description", code.name) for code in ErrorCode}


def pynq_register_description() -> dict:
    """The register map in the form PYNQ's hwh parser produces (for DefaultIP.register_map)."""
    access_names = {"RW": "read-write", "RO": "read-only", "COR": "read-only", "TOW": "read-write", "SC": "read-write"}
    out = {}
    for reg in _MAP:
        fields = {}
        for field in reg.fields:
            acc = getattr(field.access, "name", str(field.access))
            fields[field.name] = {
                "bit_offset": field.lsb, "bit_width": field.width,
                "access": access_names.get(acc, "read-write"), "description": field.description,
            }
        reg_access = "read-only" if all(f["access"] == "read-only" for f in fields.values()) else "read-write"
        out[reg.name] = {"address_offset": reg.offset, "size": 32, "access": reg_access,
                         "description": reg.description, "fields": fields}
    return out
