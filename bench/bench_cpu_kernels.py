"""Time the runtime's CPU kernels on every layer of zoo networks; fit and check the DSE's CPU floor.

Every layer of VGG16, ResNet-18 and Tiny-YOLO (the fitted set) runs with the runtime's numpy
kernels: ``drivers.run_network`` with no accelerator, int8 random weights quantised on one
random input, best of ``--repeats`` runs of the whole network. Per layer kind the bench fits
non-negative coefficients on ``dse.cpu_floor.features`` (a fixed cost; MACs, im2col patch
elements and outputs, or the elements read, written and combined) by relative least squares and
scales them until the line is at or above every measured layer of that kind.
``--write`` stores the rows, the fit and this machine's description in dse/cpu_kernels.json,
which the DSE uses as the floor of its CPU time. The check set -- the torchvision exports of
bench/export_torchvision.py in build/zoo, when present, never fitted -- shows how the floor
holds on shapes it was not fitted on.

Prints, per kind: layers, the fit, and the ratio floor / measured (min, median, max) on the
fitted and on the check set, then the DSE's CPU estimate for PYNQ-Z2 and KV260 against the
measurement, layer by layer totals. Run on a quiet machine: it measures wall time.

    python bench/bench_cpu_kernels.py [--repeats 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from drivers import quantize_network, random_weights, run_network  # noqa: E402
from dse.boards import get_board  # noqa: E402
from dse.cpu_floor import TABLE_PATH, features, fit_floor, floor_of  # noqa: E402
from dse.networks import get_network  # noqa: E402
from dse.onnx_import import load_onnx  # noqa: E402
from dse.perf_model import cpu_seconds  # noqa: E402

FITTED = ("vgg16", "resnet18", "tiny-yolo")


def measure(net, repeats: int, seed: int = 0) -> list[dict]:
    """Rows ``{network, layer, kind, features, seconds}``: the best of ``repeats`` whole-network runs."""
    rng = np.random.default_rng(seed)
    x = rng.random(tuple(net.input_shape))
    weights = net.weights or random_weights(net, seed)
    qnet = quantize_network(net, x, weights)
    best: dict[str, float] = {}
    for _ in range(repeats):
        _, table = run_network(qnet, x)
        for r in table:
            best[r["name"]] = min(best.get(r["name"], float("inf")), r["wall_seconds"])
    return [{"network": net.name, "layer": layer.name, "kind": layer.kind, "features": features(layer),
             "seconds": best[layer.name]} for layer in net.layers]


def _machine() -> dict:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cpu": model or platform.processor(), "machine": platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__}


def _ratios(rows, table) -> list[float]:
    return [floor_of(table[r["kind"]]["coefficients"], r["features"]) / r["seconds"]
            for r in rows if r["kind"] in table and r["seconds"] > 0]


def _summary(values) -> str:
    if not values:
        return "-"
    v = np.array(values)
    return f"{v.min():.2f} / {np.median(v):.2f} / {v.max():.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--zoo", type=Path, default=ROOT / "build" / "zoo")
    ap.add_argument("--write", action="store_true", help=f"write {TABLE_PATH.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    t0 = time.time()
    fitted = [row for name in FITTED for row in measure(get_network(name), args.repeats)]
    table = fit_floor(fitted)
    check_nets = []
    listing = args.zoo / "models.json"
    if listing.is_file():
        for entry in json.loads(listing.read_text()).values():
            path = args.zoo / entry["build"]          # the 224 x 224 export the DSE builds for
            if path.is_file():
                check_nets.append(load_onnx(path))
    check = [row for net in check_nets for row in measure(net, args.repeats)]
    print("| kind | layers fitted | fixed (us) | ns per MAC | ns per patch element | ns per output or element "
          "| floor / measured, fitted (min / median / max) | floor / measured, check set | layers checked |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |")
    for kind, f in table.items():
        c = f["coefficients"]
        fr = _ratios([r for r in fitted if r["kind"] == kind], table)
        cr = _ratios([r for r in check if r["kind"] == kind], table)
        cols = [f"{1e9 * c[n]:.3g}" if n in c else "-" for n in ("macs", "patch_elements")]
        per = c.get("outputs", c.get("elements", 0.0))
        print(f"| {kind} | {f['layers']} | {1e6 * c['fixed']:.1f} | {' | '.join(cols)} | {1e9 * per:.3g} "
              f"| {_summary(fr)} | {_summary(cr)} | {len(cr)} |")
    unseen = sorted({r["kind"] for r in check} - set(table))
    print()
    print(f"Fitted on {len(fitted)} layers of {', '.join(FITTED)}; checked on {len(check)} layers of "
          f"{len(check_nets)} torchvision exports ({', '.join(n.name for n in check_nets) or 'none in build/zoo'})"
          + (f"; kinds without a floor there: {', '.join(unseen)}" if unseen else "") + ".")
    # The DSE's CPU time (board estimate floored) against this machine, per network.
    print()
    print("| network | layers | measured here (ms) | PYNQ-Z2 estimate (ms) | KV260 estimate (ms) | layers below "
          "the measurement |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    by_net: dict[str, list] = {}
    nets = {n: get_network(n) for n in FITTED} | {n.name: n for n in check_nets}
    for r in fitted + check:
        by_net.setdefault(r["network"], []).append(r)
    worst = 0
    for name, rows in by_net.items():
        layers = {layer.name: layer for layer in nets[name].layers}
        est = {b: [cpu_seconds(layers[r["layer"]], get_board(b)) for r in rows] for b in ("pynq-z2", "kv260")}
        below = sum(e < r["seconds"] for e, r in zip(est["kv260"], rows))
        worst = max(worst, below)
        print(f"| {name} | {len(rows)} | {1e3 * sum(r['seconds'] for r in rows):.1f} | "
              f"{1e3 * sum(est['pynq-z2']):.1f} | {1e3 * sum(est['kv260']):.1f} | {below} |")
    print()
    m = _machine()
    print(f"Measured on {m['cpu']} ({m['machine']}), Python {m['python']}, numpy {m['numpy']}, best of "
          f"{args.repeats} runs, in {time.time() - t0:.0f} s. The estimates use the table in "
          f"{TABLE_PATH.relative_to(ROOT)} as it was when this run started.")
    if args.write:
        TABLE_PATH.write_text(json.dumps({"machine": m, "repeats": args.repeats, "fitted_on": list(FITTED),
                                          "fit": table, "rows": fitted}, indent=1) + "\n")
        print(f"wrote {TABLE_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
