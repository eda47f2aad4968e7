"""The control register map: one Python description for the RTL, the driver, IP-XACT and docs.

Pure Python (no Amaranth):

* :mod:`.model`: access types, fields, registers, the map, and their JSON form;
* :mod:`.control_map`: :func:`control_register_map`, the accelerator's map for a configuration;
  :class:`rtl.axi.control_slave.ControlSlave` generates the register block from it and
  ``design.json`` and ``component.xml`` carry it;
* :mod:`.docs`: docs/registers.md; :mod:`.runtime_module`: drivers/interface.py, the facts the
  board runtime needs (it cannot import rtl); ``python -m rtl.registers`` writes both and
  ``--check`` verifies them.

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

from .control_map import (BUILD_MAGIC, BUILD_VERSION, CONTROL_ADDR_WIDTH, HLS_CONTROL_FIELDS, RUN_LIST_ENTRY,
                          RUN_LIST_ENTRY_BYTES, control_register_map)
from .docs import DOC_PATH, register_tables, render_markdown
from .model import REGISTER_BITS, Access, Field, Register, RegisterMap, field_port_name
from .runtime_module import RUNTIME_MODULE_PATH, render_runtime_module

__all__ = ["CONTROL_ADDR_WIDTH", "Access", "Field", "Register", "RegisterMap", "BUILD_MAGIC", "BUILD_VERSION",
           "REGISTER_BITS", "HLS_CONTROL_FIELDS", "RUN_LIST_ENTRY", "RUN_LIST_ENTRY_BYTES", "field_port_name", "control_register_map", "register_tables",
           "render_markdown", "DOC_PATH", "render_runtime_module", "RUNTIME_MODULE_PATH"]
