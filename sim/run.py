"""``python -m sim.run DESIGN_DIR [--layer NAME|all] [--seed N] [--json]``

Simulates conv layers of a built design (a deploy folder from ``python -m dse.build``) in
Verilator with random int8 data, through the same driver a board user runs
(``drivers.simulated``). Per layer it prints the simulated cycles, the GOP/s at the design's
clock, the cycles the DSE's model predicts for the same runs, and whether the output is
bit-exact against ``sim.reference``. Exits 1 if any layer is not bit-exact.

A layer the design maps to several runs (column strips, for instance) is simulated run by run;
identical runs are simulated once and counted as often as they occur. ``--max-rows N`` cuts
every run to N input rows (quick checks of big layers; the prediction is cut the same way).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from drivers import simulated
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.config import AcceleratorConfig
from rtl.descriptor import Descriptor
from sim.reference import conv2d, requantize

__all__ = ["main", "simulate_layers"]


class UsageError(Exception):
    pass


def _load(design_dir: Path) -> dict:
    meta = design_dir / "design.json"
    if not meta.is_file():
        raise UsageError(f"{design_dir} is not a convforge deploy folder (no design.json); build one with python -m dse.build")
    try:
        return json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{meta} is not valid JSON ({exc})") from None


def _select(design: dict, layer: str) -> list[dict]:
    accelerated = [l for l in design["layers"] if l.get("runs_on") == "accelerator"]
    if layer == "all":
        return accelerated
    for l in design["layers"]:
        if l["name"] == layer:
            if l.get("runs_on") != "accelerator":
                raise UsageError(f"layer {layer!r} runs on the CPU in this design ({l.get('reason', 'no reason given')}), not on the accelerator")
            return [l]
    names = ", ".join(l["name"] for l in accelerated) or "none"
    raise UsageError(f"no layer named {layer!r} in this design; accelerated layers: {names}")


def _quant_for(c: int, k: int) -> int:
    """A shift that keeps random int8 results mostly inside int8 (sum of C*K*K products)."""
    spread = math.sqrt(c * k * k) * 128 * 74  # std of a sum of products of uniform int8
    return max(0, int(round(math.log2(max(spread / 40, 1)))))


def simulate_layers(design_dir: Path, layers: list[dict], seed: int = 0, max_rows: int | None = None,
                    progress: bool = True) -> list[dict]:
    design = _load(design_dir)
    config = AcceleratorConfig.from_dict(design["config"])
    port = ideal_memory_port(config)
    rng = np.random.default_rng(seed)
    results = []
    with simulated(design_dir) as accel:
        bar = tqdm(total=len(layers), desc="simulating", unit="layer", disable=not progress, file=sys.stderr)
        for layer in layers:
            runs = Counter()
            for d in layer.get("descriptors") or [layer]:
                inv = dict(in_channels=d["in_channels"], out_channels=d["out_channels"], height=d["height"],
                           width=d["width"], kernel=d["kernel"], stride=d["stride"], padding=d["padding"])
                if max_rows is not None:
                    inv["height"] = min(inv["height"], max(max_rows, inv["kernel"] - 2 * inv["padding"]))
                runs[tuple(sorted(inv.items()))] += 1
            cycles = predicted = 0
            exact = True
            ops = 0
            for key, count in runs.items():
                inv = dict(key)
                c, m, h, w, k = inv["in_channels"], inv["out_channels"], inv["height"], inv["width"], inv["kernel"]
                x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
                wt = rng.integers(-128, 128, size=(m, c, k, k), dtype=np.int8)
                bias = rng.integers(-1000, 1000, size=m).astype(np.int32)
                shift = _quant_for(c, k)
                relu = bool(layer.get("relu", False))
                y = accel.conv2d(x, wt, bias=bias, mult=1, shift=shift, stride=inv["stride"], padding=inv["padding"], relu=relu)
                ref = requantize(conv2d(x, wt, inv["stride"], inv["padding"]), bias, 1, shift, relu)
                exact &= bool(np.array_equal(y, ref))
                cycles += accel.counters["cycles"] * count
                predicted += run_cycles(Descriptor(**inv), config, port).cycles * count
                ho, wo = ref.shape[1:]
                ops += 2 * m * c * k * k * ho * wo * count
            seconds = cycles / (config.clock_mhz * 1e6)
            results.append({
                "layer": layer["name"], "runs": sum(runs.values()), "cycles": cycles,
                "predicted_cycles": predicted, "model_error": (predicted - cycles) / cycles if cycles else 0.0,
                "seconds": seconds, "gops": ops / seconds / 1e9 if seconds else 0.0,
                "clock_mhz": config.clock_mhz, "bit_exact": exact, "cut_to_rows": max_rows,
            })
            bar.update(1)
        bar.close()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.run", description=__doc__.split("\n\n")[1].replace("\n", " "))
    ap.add_argument("design_dir", type=Path, help="a deploy folder written by python -m dse.build")
    ap.add_argument("--layer", default="all", help="layer name, or 'all' (default) for every accelerated layer")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--max-rows", type=int, default=None, help="cut every run to this many input rows (quick check)")
    args = ap.parse_args(argv)
    try:
        if args.max_rows is not None and args.max_rows < 1:
            raise UsageError(f"--max-rows must be at least 1, got {args.max_rows}")
        design = _load(args.design_dir)
        layers = _select(design, args.layer)
        if not layers:
            raise UsageError("this design runs no layer on the accelerator")
        results = simulate_layers(args.design_dir, layers, seed=args.seed, max_rows=args.max_rows, progress=not args.json)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"{'layer':14} {'runs':>4} {'cycles':>12} {'predicted':>12} {'model err':>9} {'time ms':>9} {'GOP/s':>8} {'bit-exact':>9}")
        for r in results:
            print(f"{r['layer']:14} {r['runs']:4} {r['cycles']:12} {r['predicted_cycles']:12} {100 * r['model_error']:8.1f}% "
                  f"{1e3 * r['seconds']:9.3f} {r['gops']:8.2f} {'yes' if r['bit_exact'] else 'NO':>9}")
        print(f"(GOP/s at the design clock of {results[0]['clock_mhz']:g} MHz"
              + (f"; runs cut to {args.max_rows} input rows" if args.max_rows else "") + ")")
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
