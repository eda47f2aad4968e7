"""The board runtime as a wheel of its own: ``convforge-runtime``, built from this checkout's ``drivers/``.

A PYNQ board installs only the runtime (issue 28): the ``drivers`` package, which needs the
standard library, numpy and pynq and runs on Python 3.8+ (tests/unit/test_runtime.py). It is
packed by setuptools, through ``pip wheel``, from a small project made in a temporary folder: a
copy of ``drivers/`` and a ``pyproject.toml`` naming it ``convforge-runtime`` with the version
of convforge and ``numpy`` as its only dependency (the board installs it with ``pip install
--no-deps``: pynq images bring numpy and pynq). Wheels are cached by a hash of the sources
(``rtl.verilog.cache_root()/runtime``), so a build does not pay for pip each time.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rtl.verilog import cache_root

from .interfaces import PackagingError

__all__ = ["RUNTIME_DISTRIBUTION", "RUNTIME_PACKAGE_DIR", "runtime_version", "runtime_wheel", "write_runtime_wheel"]

#: The distribution name of the board runtime.
RUNTIME_DISTRIBUTION = "convforge-runtime"
#: The runtime's sources: the ``drivers`` package beside ``dse`` (in a checkout or site-packages).
RUNTIME_PACKAGE_DIR = Path(__file__).resolve().parents[2] / "drivers"
#: The oldest numpy the runtime supports: that of the PYNQ 3.0 image (Ubuntu 22.04, Python 3.10).
MIN_NUMPY = "1.21"

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "convforge board runtime: the driver of the convforge IP for PYNQ, its DDR layouts and the CPU's share of a network"
requires-python = ">=3.8"
dependencies = ["numpy>={numpy}"]
license = {{ text = "Apache-2.0" }}

[tool.setuptools]
packages = ["drivers"]
"""


def runtime_version() -> str:
    """The runtime's version: convforge's own."""
    try:
        return version("convforge")
    except PackageNotFoundError:
        raise PackagingError("convforge is not installed (pip install -e .), so the runtime wheel has no version") \
            from None


def _sources() -> list[Path]:
    files = sorted(p for p in RUNTIME_PACKAGE_DIR.glob("*.py"))
    if not any(p.name == "__init__.py" for p in files):
        raise PackagingError(f"the board runtime's sources are missing: no package at {RUNTIME_PACKAGE_DIR}")
    return files


def runtime_wheel() -> Path:
    """The cached wheel of the runtime for these sources (built with ``pip wheel`` when missing)."""
    files = _sources()
    ver = runtime_version()
    pyproject = _PYPROJECT.format(name=RUNTIME_DISTRIBUTION, version=ver, numpy=MIN_NUMPY)
    digest = hashlib.sha256(pyproject.encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    folder = cache_root() / "runtime" / digest.hexdigest()[:16]
    wheels = sorted(folder.glob("*.whl"))
    if wheels:
        return wheels[0]
    with tempfile.TemporaryDirectory(prefix="convforge-runtime-") as tmp:
        project = Path(tmp) / "project"
        (project / "drivers").mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, project / "drivers" / path.name)
        (project / "pyproject.toml").write_text(pyproject)
        built = Path(tmp) / "wheel"
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                               "--quiet", "--wheel-dir", str(built), str(project)], capture_output=True, text=True)
        wheels = sorted(built.glob("*.whl"))
        if proc.returncode or len(wheels) != 1:
            detail = (proc.stderr.strip() or proc.stdout.strip() or "no wheel was written").splitlines()[-1]
            raise PackagingError(f"the runtime wheel could not be built (pip wheel with setuptools >= 70.1): {detail}")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / wheels[0].name
        shutil.copyfile(wheels[0], folder / (wheels[0].name + ".partial"))
        (folder / (wheels[0].name + ".partial")).replace(target)
    return target


def write_runtime_wheel(out_dir) -> Path:
    """Copy the runtime wheel into the deploy folder ``out_dir``; returns its path there."""
    wheel = runtime_wheel()
    out = Path(out_dir) / wheel.name
    shutil.copyfile(wheel, out)
    return out
