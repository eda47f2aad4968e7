"""The native simulator: the Verilated accelerator top compiled with the C++ harness of this folder.

The harness (``harness.cpp`` with ``axi_stream.h``, ``axi_memory.h``, ``axi_lite_master.h``)
serves the IP's AXI4 master from a memory file the host maps too, drives its AXI4-Lite port from
line commands on a socket, and polls AP_DONE in C++; its command protocol is described at the top
of ``harness.cpp``. ``sim.backends.simulated(..., backend="native")`` runs it (sim/backends/native.py).

Contract of :func:`build_native`:

* It returns a :class:`NativeBuild` whose ``executable`` runs the design; it is built once per
  configuration. The cache key hashes the Verilog text, the top name, the harness sources, the
  Verilator options, the C++ optimisation level, the thread count and the Verilator and C++
  compiler versions. Builds live under ``cache_root()/native/<top>-<hash>`` (``$CONVFORGE_CACHE``,
  default ``~/.cache/convforge``), guarded by a file lock so parallel pytest workers share them;
  only the executable and the build log are kept (the object files are deleted).
* The first build of a design prints one line to stderr, since it takes up to minutes on two cores.
* A missing Verilator or a failed compilation raises :class:`sim.toolchain.ToolchainError` (with
  the end of the build log).

Options (chosen by measurement, see docs/driver.md): Verilator ``-O3 --x-assign fast`` with one
model thread, the C++ at ``-O3``; the design's inputs behind registers (:func:`native_top_verilog`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rtl.verilog import cache_root
from sim.toolchain import VERILATED_MK_FIXES, ToolchainError, ensure_verilator

__all__ = ["NativeBuild", "build_native", "native_top_verilog", "top_ports", "NATIVE_TOP", "HARNESS_SOURCES",
           "NATIVE_VERILATOR_FLAGS", "NATIVE_CXX_OPT", "NATIVE_THREADS", "EXECUTABLE_NAME"]

HERE = Path(__file__).resolve().parent

#: The harness files compiled with every model (their text is part of the cache key).
HARNESS_SOURCES = ("harness.cpp", "axi_stream.h", "axi_memory.h", "axi_lite_master.h")

#: Verilator options of the native build: Amaranth's width warnings are expected; full Verilator
#: optimisation; X values as fast as possible (the IP is reset before use; initial values stay
#: Verilator's default, zero).
NATIVE_VERILATOR_FLAGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT", "-O3", "--x-assign", "fast")
#: The C++ compiler's optimisation level for the model and the harness.
NATIVE_CXX_OPT = "-O3"
#: Verilator model threads. Two threads wait for each other at every eval() and collapse when
#: the other core is busy (docs/driver.md), so one.
NATIVE_THREADS = 1

EXECUTABLE_NAME = "convforge-sim"

#: The module the harness simulates: the design's top behind input registers (see native_top_verilog).
NATIVE_TOP = "convforge_native_top"

_PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)\s*;", re.MULTILINE)


def top_ports(verilog_text: str, toplevel: str) -> list[tuple[str, int, str]]:
    """``(direction, width, name)`` of the ports of module ``toplevel`` in Amaranth's Verilog."""
    start = re.search(rf"^module\s+{re.escape(toplevel)}\s*\(", verilog_text, re.MULTILINE)
    if start is None:
        raise ToolchainError(f"the Verilog has no module {toplevel}")
    end = verilog_text.find("\nendmodule", start.end())
    body = verilog_text[start.end(): end if end >= 0 else len(verilog_text)]
    ports = [(m[1], int(m[2]) - int(m[3]) + 1 if m[2] else 1, m[4]) for m in _PORT.finditer(body)]
    if not any(name == "ap_clk" and d == "input" for d, _, name in ports):
        raise ToolchainError(f"module {toplevel} has no input ap_clk")
    return ports


def native_top_verilog(verilog_text: str, toplevel: str) -> str:
    """``verilog_text`` plus a module NATIVE_TOP with the ports of ``toplevel`` whose inputs (all
    but ap_clk) reach the design through registers loaded at the rising clock edge.

    The harness computes its outputs for the next cycle from what the design drove before an
    edge and writes them to NATIVE_TOP's inputs before evaluating that edge, so the design sees
    them right after the edge -- cycle for cycle what a testbench driving the inputs after each
    edge gives. This is for speed: Verilator re-evaluates all logic that depends on top-level
    inputs on every eval() call (and in Amaranth's Verilog the synchronous reset input feeds
    almost every next-state expression); behind the registers, the design's logic is evaluated
    once per cycle and the falling-edge eval() has almost nothing to do."""
    ports = top_ports(verilog_text, toplevel)
    lines = [f"module {NATIVE_TOP}(" + ", ".join(name for _, _, name in ports) + ");"]
    for direction, width, name in ports:
        lines.append(f"  {direction} {f'[{width - 1}:0] ' if width > 1 else ''}{name};")
    latched = [(width, name) for direction, width, name in ports if direction == "input" and name != "ap_clk"]
    for width, name in latched:
        lines.append(f"  reg {f'[{width - 1}:0] ' if width > 1 else ''}{name}__q = {width}'d0;")
    lines.append("  always @(posedge ap_clk) begin")
    lines += [f"    {name}__q <= {name};" for _, name in latched]
    lines.append("  end")
    connections = [f".{name}({name}__q)" if direction == "input" and name != "ap_clk" else f".{name}({name})"
                   for direction, _, name in ports]
    lines.append(f"  {toplevel} dut ({', '.join(connections)});")
    lines.append("endmodule")
    return verilog_text.rstrip() + "\n\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NativeBuild:
    """A compiled native simulator of one design."""

    toplevel: str
    build_dir: Path
    executable: Path


def _compiler_version() -> str:
    cxx = os.environ.get("CXX", "c++")
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolchainError(f"the C++ compiler {cxx!r} does not run ({exc}); install g++ or clang++ "
                             "or name one in $CXX") from None
    return out.stdout.splitlines()[0] if out.stdout else cxx


def build_native(verilog_text: str, toplevel: str, *, verilator_flags: tuple[str, ...] = NATIVE_VERILATOR_FLAGS,
                 cxx_opt: str = NATIVE_CXX_OPT, threads: int = NATIVE_THREADS) -> NativeBuild:
    """Build (or reuse) the native simulator of ``verilog_text`` (top module ``toplevel``).

    ``verilator_flags``, ``cxx_opt`` and ``threads`` default to the chosen options; other values
    (for measurements) are separate cache entries.
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    major, minor = ensure_verilator()
    sources = {name: (HERE / name).read_text() for name in HARNESS_SOURCES}
    options = [*verilator_flags, "--threads", str(threads), f"OPT={cxx_opt}", f"top={NATIVE_TOP}"]
    key_text = "\n".join([verilog_text, toplevel, *sources.values(), " ".join(options),
                          f"verilator {major}.{minor}", _compiler_version()])
    digest = hashlib.sha256(key_text.encode()).hexdigest()[:20]
    build_dir = cache_root() / "native" / f"{toplevel}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    executable = build_dir / EXECUTABLE_NAME
    stamp = build_dir / "convforge-build.ok"
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and executable.exists()):
            print(f"compiling the native simulator for {toplevel} (about a minute on 2 cores, once per design; cached in "
                  f"{build_dir})", file=sys.stderr, flush=True)
            _compile(build_dir, native_top_verilog(verilog_text, toplevel), NATIVE_TOP, verilator_flags, cxx_opt,
                     threads)
            stamp.write_text(" ".join(options) + "\n")
    return NativeBuild(toplevel, build_dir, executable)


def _compile(build_dir: Path, verilog_text: str, toplevel: str, verilator_flags, cxx_opt: str, threads: int) -> None:
    obj = build_dir / "obj"
    shutil.rmtree(obj, ignore_errors=True)
    obj.mkdir()
    verilog = obj / f"{toplevel}.v"
    verilog.write_text(verilog_text)
    # The harness (a user file) is compiled with CFLAGS but without OPT_FAST, so the options go in
    # CFLAGS (every object gets them) and the optimisation level also in OPT_*, which would otherwise
    # lower it for the model. Verilator splits -MAKEFLAGS at blanks, so only one word goes there.
    levels = [word for word in cxx_opt.split() if word.startswith("-O")]
    level = levels[-1] if levels else NATIVE_CXX_OPT
    make_vars = [f"OPT_FAST={level}", f"OPT_GLOBAL={level}", f"OPT_SLOW={level}", *VERILATED_MK_FIXES]
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 2), "--prefix", "Vtop",
           "--top-module", toplevel, *verilator_flags, "--threads", str(threads),
           "-CFLAGS", f"{cxx_opt} -I{HERE}", "-LDFLAGS", cxx_opt, "-Mdir", str(obj), "-o", EXECUTABLE_NAME]
    for assignment in make_vars:
        cmd += ["-MAKEFLAGS", assignment]
    cmd += [str(verilog), str(HERE / "harness.cpp")]
    log = build_dir / "build.log"
    with open(log, "w") as out:
        out.write(" ".join(cmd) + "\n")
        out.flush()
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=build_dir)
    if result.returncode != 0 or not (obj / EXECUTABLE_NAME).exists():
        tail = log.read_text(errors="replace")[-4000:]
        raise ToolchainError(f"native simulator build of {toplevel} failed (exit {result.returncode}); "
                             f"log {log}:\n{tail}")
    os.replace(obj / EXECUTABLE_NAME, build_dir / EXECUTABLE_NAME)
    shutil.rmtree(obj, ignore_errors=True)
