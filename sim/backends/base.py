"""What the simulated backends of ``sim.backends.simulated`` share.

Both backends (cocotb: sim/backends/cocotb.py, native: sim/backends/native.py) subclass
:class:`SimulatedDriver`, which holds the register primitives' argument checks, the simulated
DDR's address allocation, the cycle budget of a layer and the wait for AP_DONE. A backend
supplies ``_call(*request)`` with the request vocabulary of sim/protocol.py -- ``("read",
offset)`` -> int, ``("write", offset, value)``, ``("mem_read", address, n)`` -> bytes,
``("mem_write", address, data)``, ``("wait_done", max_cycles)`` -> ``(done, cycles waited)``,
``("cycles",)``, ``("quit",)`` -- and ``allocate``, ``mem_read``, ``mem_write`` and ``close``.

Timeouts of a simulation are in simulated cycles (``timeout`` None: a budget derived from the
layer); every call into a simulator process is also bounded in wall-clock time, and a simulator
that died, froze or did not start raises :class:`SimulatorFailure`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rtl.config import AcceleratorConfig
from rtl.top import accelerator_verilog

from drivers.core import AcceleratorDriver, AcceleratorTimeout
from drivers.regmap import REGISTERS, check_offset, require_int

__all__ = ["SimulatorFailure", "SimulatedBuffer", "SimulatedDriver", "load_design_config", "design_verilog", "check_pauses", "PAUSES",
           "DEFAULT_WALL_TIMEOUT"]

#: The memory back-pressure settings of ``simulated(pauses=...)``.
PAUSES = ("none", "fixed", "random")

#: Seconds a simulator may stay silent during one call before it is declared frozen.
DEFAULT_WALL_TIMEOUT = 60.0


class SimulatorFailure(RuntimeError):
    """The simulator process died, stopped answering or could not start; the accelerator object
    that raised it cannot be used any more (leave its ``with`` block and start a new one)."""


def load_design_config(design):
    """``(AcceleratorConfig, deploy folder or None)`` from a deploy folder (design.json) or a
    config itself."""
    if isinstance(design, AcceleratorConfig):
        return design, None
    path = Path(design)
    meta = path / "design.json"
    if not meta.exists():
        raise ValueError(f"{path} is not a convforge deploy folder: {meta} does not exist (run python -m dse.build)")
    return AcceleratorConfig.from_dict(json.loads(meta.read_text())["config"]), path


def design_verilog(config: AcceleratorConfig, folder: Path | None) -> str:
    """The Verilog of the design: the deploy folder's ``rtl/<name>.v`` when there is one (what
    the bitstream was built from), else generated from ``config``."""
    if folder is not None:
        candidate = folder / "rtl" / f"{config.name}.v"
        if candidate.exists():
            return candidate.read_text()
    return accelerator_verilog(config)


def check_pauses(pauses) -> str:
    if pauses not in PAUSES:
        raise ValueError(f"pauses must be 'none', 'fixed' or 'random', got {pauses!r}")
    return pauses


class SimulatedBuffer(np.ndarray):
    """A numpy array in a simulated DDR at ``device_address``: the PYNQ buffer API subset the
    driver uses. A backend's subclass defines :meth:`flush` (array to DDR) and
    :meth:`invalidate` (DDR to array)."""

    device_address: int

    def flush(self):
        raise NotImplementedError

    def invalidate(self):
        raise NotImplementedError

    def sync_to_device(self):
        self.flush()

    def sync_from_device(self):
        self.invalidate()

    @property
    def physical_address(self):
        return self.device_address

    def freebuffer(self):
        pass


class SimulatedDriver(AcceleratorDriver):
    """The layer API over a simulator process; subclasses provide the transport (see the module)."""

    #: Buffers start on this boundary in the simulated DDR.
    ALIGN = 4096
    #: None: the layer's own cycle budget (:meth:`_cycle_budget`); else simulated cycles.
    timeout = None
    #: Simulated cycles an abort may take.
    abort_timeout = 20_000

    def _sim_init(self, memory_bytes: int, period_ns: float) -> None:
        self.memory_bytes = memory_bytes
        self.period_ns = period_ns
        self._next_address = self.ALIGN
        self._last_layers = []
        self._driver_init()
        self.timeout = None
        self.abort_timeout = 20_000

    def _call(self, *request):
        raise NotImplementedError

    # pynq.DefaultIP-style primitives
    def read(self, offset: int) -> int:
        return self._call("read", check_offset(offset))

    def write(self, offset: int, value: int) -> None:
        if not 0 <= require_int("a register value", value) < 1 << 32:
            raise ValueError(f"a register value must be in 0..2**32-1, got {value!r}")
        self._call("write", check_offset(offset), int(value))

    def _reserve(self, nbytes: int) -> int:
        """The device address of ``nbytes`` (at least 1) of fresh simulated DDR, ALIGN-aligned."""
        size = max(int(nbytes), 1)
        address = self._next_address
        if address + size > self.memory_bytes:
            raise MemoryError(f"simulated DDR of {self.memory_bytes} bytes is full (asked for {size} more); "
                              f"pass a larger memory_bytes to simulated()")
        self._next_address = (address + size + self.ALIGN - 1) // self.ALIGN * self.ALIGN
        return address

    def _check_span(self, address, length) -> tuple[int, int]:
        address, length = require_int("a memory address", address), require_int("a length", length)
        if address < 0 or length < 0 or address + length > self.memory_bytes:
            raise ValueError(f"bytes {address:#x}..{address + length:#x} are outside the simulated DDR "
                             f"(0..{self.memory_bytes:#x})")
        return address, length

    @property
    def allocated_bytes(self) -> int:
        """The end of the last buffer allocated (the DDR below it may be in use)."""
        return self._next_address

    def start_layer(self, desc: dict) -> None:
        self._last_layers = [dict(desc)]
        super().start_layer(desc)

    def start_run_list(self, address: int, descs: list) -> None:
        self._last_layers = [dict(d) for d in descs]
        super().start_run_list(address, descs)

    def _cycle_budget(self) -> int:
        """Simulated cycles the last AP_START may take: per layer it started (one, or a run
        list's), 20 times a generous estimate of its compute and transfer cycles plus 200,000
        (1,000,000 without a layer)."""
        if not self._last_layers:
            return 1_000_000
        return sum(self._layer_budget(d) for d in self._last_layers)

    def _layer_budget(self, d: dict) -> int:
        info = self.info
        try:
            k = d["kernel"]
            cg = math.ceil(d["in_channels"] / info.pn)
            mg = math.ceil(d["out_channels"] / info.pm)
            ho = (d["height"] + 2 * d["padding"] - k) // d["stride"] + 1
            wo = (d["width"] + 2 * d["padding"] - k) // d["stride"] + 1
            compute = mg * max(ho * wo * cg * k * k, ho * wo * info.pm)
            transfer = mg * (d["height"] * cg * d["width"] * info.pn + cg * k * k * info.pm * info.pn) // (info.axi_data_width // 8)
            return 20 * (compute + transfer) + 200_000
        except (KeyError, ZeroDivisionError, TypeError):
            return 1_000_000

    def _wait_done(self, timeout) -> None:
        budget = int(timeout) if timeout else self._cycle_budget()
        done, waited = self._call("wait_done", budget)
        if not done:
            status = self.read(REGISTERS["STATUS"])
            raise AcceleratorTimeout(f"AP_DONE did not come within {waited} simulated cycles (STATUS = {status:#x})")
