"""The CPU-time floor: what the runtime's numpy kernels took on the development machine.

The DSE prices a layer left to the board's CPU with :func:`dse.perf_model.cpu_seconds`. That
estimate comes from the board's figures (its CPU's int8 throughput, its DDR), and alone it has
priced layers 2 to 8 times below what efficient numpy takes even on an x86 PC (issue 30). So it
is floored by measurement: bench/bench_cpu_kernels.py times every layer of the zoo networks with
the runtime's own kernels (``drivers.run_network`` on the CPU) and writes ``cpu_kernels.json``
next to this module: the rows it measured and, per layer kind, a line ``a + b * work`` (work:
multiply-accumulates for conv, fc and grouped convolutions, else the elements read, written
and combined; :func:`work`) raised until it is at or above every measured row of that kind.
No board's CPU is faster than the development machine's core at these kernels (a Cortex-A9 at
650 MHz or an A53 at 1.5 GHz against a desktop x86 core), so no layer is predicted faster.

Kinds the table does not hold get no floor (0), and a table that is missing gives none at all.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["TABLE_PATH", "work", "fit_floor", "cpu_floor_seconds", "floor_table"]

#: The measured table (bench/bench_cpu_kernels.py --write).
TABLE_PATH = Path(__file__).resolve().with_name("cpu_kernels.json")


def work(layer) -> int:
    """The amount a kernel's time grows with: MACs of a layer with weights, else the elements it
    reads and writes plus its element operations (``dse.graph.Layer`` counts)."""
    if layer.macs:
        return int(layer.macs)
    return int(layer.read_elements + layer.output_elements + layer.element_ops)


def fit_floor(rows: list[dict]) -> dict:
    """Per kind ``{a, b, layers}`` from measured rows ``{kind, work, seconds}``: a least-squares
    line ``a + b * work`` (``a`` kept within ``0 .. the fastest row``), then ``b`` raised until the
    line is at or above every row of the kind."""
    out = {}
    for kind in sorted({r["kind"] for r in rows}):
        ks = [r for r in rows if r["kind"] == kind]
        u = np.array([r["work"] for r in ks], dtype=float)
        t = np.array([r["seconds"] for r in ks], dtype=float)
        b, a = np.polyfit(u, t, 1) if len(ks) >= 2 and np.ptp(u) > 0 else (0.0, t.min())
        a = max(0.0, min(float(a), float(t.min())))
        b = max(float(b), float(np.max((t - a) / np.maximum(u, 1))))
        out[kind] = {"a": a, "b": b, "layers": len(ks)}
    return out


@lru_cache(maxsize=None)
def floor_table() -> dict:
    """``{kind: (a seconds, b seconds per unit of work)}`` from the table (empty without one)."""
    if not TABLE_PATH.is_file():
        return {}
    data = json.loads(TABLE_PATH.read_text())
    return {kind: (float(v["a"]), float(v["b"])) for kind, v in data["fit"].items()}


def cpu_floor_seconds(layer) -> float:
    """The development machine's time for ``layer``'s kernel (0 for a kind it has not measured)."""
    fit = floor_table().get(layer.kind)
    return 0.0 if fit is None else fit[0] + fit[1] * work(layer)
