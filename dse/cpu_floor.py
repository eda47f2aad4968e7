"""The CPU-time floor: what the runtime's numpy kernels took on the development machine.

The DSE prices a layer left to the board's CPU with :func:`dse.perf_model.cpu_seconds`. That
estimate comes from the board's figures (its CPU's int8 throughput, its DDR), and alone it has
priced layers 2 to 8 times below what efficient numpy takes even on an x86 PC (issue 30). So it
is floored by measurement: bench/bench_cpu_kernels.py times every layer of the zoo networks with
the runtime's own kernels (``drivers.run_network`` on the CPU) and writes ``cpu_kernels.json``
next to this module: the rows it measured (each with its :func:`features`) and, per layer
kind, non-negative coefficients ``c`` such that ``c . features(layer)`` is at or above every
measured row of that kind. The features are what a kernel's time grows with: a fixed cost, and
for layers with weights the multiply-accumulates, the im2col patch elements (MACs per output
channel) and the outputs (requantised one by one); for the others the elements read, written
and combined. The fit minimises the relative error, then is scaled up until it covers every
row. No board's CPU is faster than the development machine's core at these kernels (a Cortex-A9
at 650 MHz or an A53 at 1.5 GHz against a desktop x86 core), so no layer is predicted faster.

Kinds the table does not hold get no floor (0), and a table that is missing gives none at all.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["TABLE_PATH", "FEATURES", "RUN_KIND", "LISTED_RUN_KIND", "RUN_LIST_KIND", "features", "run_features",
           "fit_floor", "floor_of", "cpu_floor_seconds", "run_floor_seconds", "run_list_floor_seconds", "floor_table"]

#: The measured table (bench/bench_cpu_kernels.py --write).
TABLE_PATH = Path(__file__).resolve().with_name("cpu_kernels.json")

#: The feature names, for layers with weights and for the others.
FEATURES = {True: ("fixed", "macs", "patch_elements", "outputs"), False: ("fixed", "elements")}


def features(layer) -> dict[str, float]:
    """What ``layer``'s kernel time grows with (``dse.graph.Layer`` counts): see the module."""
    if layer.macs:
        return {"fixed": 1.0, "macs": float(layer.macs), "patch_elements": layer.macs / max(1, layer.out_channels),
                "outputs": float(layer.output_elements)}
    return {"fixed": 1.0, "elements": float(layer.read_elements + layer.output_elements + layer.element_ops)}


#: The table's kind for the driver's work around one accelerator run (``conv2d_resident``:
#: the checks, the input packed into the IP's layout, the registers, the output unpacked).
RUN_KIND = "accelerator_run"
#: The same for a run that joins a run list (``conv2d_resident(..., defer=True)``: the checks
#: and the entry, no registers), and for starting a list (``run_pending``: the registers, the
#: wait, the status; the list written when it changed), whose features are a fixed cost and
#: its ``entries``.
LISTED_RUN_KIND = "listed_run"
RUN_LIST_KIND = "run_list"


def run_features(in_channels: int, height: int, width: int, out_channels: int, out_height: int, out_width: int,
                 pm: int, pn: int, packs_input: bool = True, unpacks_output: bool = True) -> dict[str, float]:
    """What the driver's time around one run grows with: a fixed cost (checks, registers) and
    the elements it re-lays out: the input padded to ``pn``-channel words (unless it is read
    where the previous run left it), the output padded to ``pm``-channel groups (unless it stays
    in DDR)."""
    cin = -(-in_channels // pn) * pn if packs_input else 0
    cout = -(-out_channels // pm) * pm if unpacks_output else 0
    return {"fixed": 1.0, "elements": float(cin * height * width + cout * out_height * out_width)}


def _relative_nnls(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Non-negative ``c`` minimising ``sum(((x @ c) - t) / t) ** 2)``: least squares, dropping
    the most negative coefficient until none is (a few features: the active set is tiny)."""
    w = x / t[:, None]
    active = list(range(x.shape[1]))
    while active:
        c, *_ = np.linalg.lstsq(w[:, active], np.ones(len(t)), rcond=None)
        if (c >= 0).all():
            out = np.zeros(x.shape[1])
            out[active] = c
            return out
        del active[int(np.argmin(c))]
    return np.zeros(x.shape[1])


def fit_floor(rows: list[dict]) -> dict:
    """Per kind ``{coefficients: {feature: value}, layers}`` from measured rows ``{kind, features,
    seconds}``: the relative non-negative least-squares fit, scaled up until it is at or above
    every row of the kind."""
    out = {}
    for kind in sorted({r["kind"] for r in rows}):
        ks = [r for r in rows if r["kind"] == kind]
        names = list(ks[0]["features"])
        x = np.array([[r["features"][n] for n in names] for r in ks], dtype=float)
        t = np.array([r["seconds"] for r in ks], dtype=float)
        c = _relative_nnls(x, t)
        if not (x @ c > 0).all():              # degenerate: a constant at the slowest row
            c = np.zeros(len(names))
            c[names.index("fixed")] = t.max()
        c *= max(1.0, float(np.max(t / (x @ c))))
        out[kind] = {"coefficients": {n: float(v) for n, v in zip(names, c)}, "layers": len(ks)}
    return out


@lru_cache(maxsize=None)
def floor_table() -> dict:
    """``{kind: {feature: coefficient}}`` from the table (empty without one)."""
    if not TABLE_PATH.is_file():
        return {}
    data = json.loads(TABLE_PATH.read_text())
    return {kind: dict(v["coefficients"]) for kind, v in data["fit"].items()}


def floor_of(coefficients: dict[str, float], feats: dict[str, float]) -> float:
    """The floor line ``coefficients . feats`` (a feature the line lacks counts 0)."""
    return float(sum(v * feats.get(n, 0.0) for n, v in coefficients.items()))


def _floor(kind: str, feats: dict[str, float]) -> float:
    fit = floor_table().get(kind)
    return 0.0 if fit is None else floor_of(fit, feats)


def cpu_floor_seconds(layer) -> float:
    """The development machine's time for ``layer``'s kernel (0 for a kind it has not measured)."""
    return _floor(layer.kind, features(layer))


def run_floor_seconds(feats: dict[str, float], listed: bool = False) -> float:
    """The development machine's time for the driver's work around one run with ``feats``
    (:func:`run_features`; ``listed``: a run that joins a run list); 0 without a measured table."""
    return _floor(LISTED_RUN_KIND if listed else RUN_KIND, feats)


def run_list_floor_seconds(entries: int) -> float:
    """The development machine's time to start a run list of ``entries`` runs and wait for it
    (beyond the IP's own time); 0 without a measured table."""
    return _floor(RUN_LIST_KIND, {"fixed": 1.0, "entries": float(entries)})
