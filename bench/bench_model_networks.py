"""Cycle model against simulation on every conv layer shape of VGG16 and ResNet-18, both engines.

    python bench/bench_model_networks.py [--rows 8] [--groups 4] [--cases all] [--json]

Each case is a (network, engine) pair and the design the DSE builds for it on PYNQ-Z2 (the deploy
folder of ``python -m dse.build --network N [--engine E]``, built when missing; see
bench/bench_vgg_conv3_1.py): ``vgg16`` with the default build (``auto``: the Winograd design),
``vgg16`` on the direct engine, ``resnet18`` on the direct engine (7x7 stride-2 first layer, 3x3
stride 1 and 2, 1x1 stride-2 shortcuts) and ``resnet18``'s 3x3 stride-1 layers on the VGG16
Winograd design. Every distinct conv shape the design runs (``place_layer``: native or embedded
on the accelerator) is simulated through ``sim.backends.simulated`` with random data, bit-exact
checked, cut to ``--rows`` input rows and ``--groups`` output-channel groups (full width, all
input channels), and compared with ``dse.perf_model.run_cycles`` for the same runs on the
simulation's memory (``ideal_memory_port``). The cut keeps the model honest on shapes it was not
tuned on: few groups make a Winograd layer input-bound, many make it compute-bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from bench_vgg_conv3_1 import (DesignUnavailable, config_label, cut_shape, ensure_design,  # noqa: E402
                               predicted_cycles, simulate_conv)
from sim.backends import simulated  # noqa: E402
from drivers.network import place_layer  # noqa: E402
from dse.networks import get_network  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402

#: (case name, network whose shapes run, network the design is built for, engine of the build).
CASES = [
    ("vgg16-auto", "vgg16", "vgg16", "auto"),
    ("resnet18-on-vgg16-auto", "resnet18", "vgg16", "auto"),
    ("vgg16-direct", "vgg16", "vgg16", "direct"),
    ("resnet18-direct", "resnet18", "resnet18", "direct"),
]


def shapes_of(network: str, accel, rows: int, groups: int, pm: int) -> list[tuple]:
    """Distinct conv shapes of ``network`` the IP runs, cut to ``rows`` and ``groups``."""
    seen, out = set(), []
    for layer in get_network(network).conv_layers:
        if place_layer(layer, accel).runs_on != "accelerator":
            continue
        shape = cut_shape(layer, rows, groups, pm)
        if shape not in seen:
            seen.add(shape)
            out.append((layer.name, shape))
    return out


def run_case(name, network, design_network, engine, rows, groups, rng) -> dict:
    folder, design = ensure_design(engine, network=design_network)
    config = AcceleratorConfig.from_dict(design["config"])
    rows_out = []
    with simulated(folder) as accel:
        for layer_name, shape in shapes_of(network, accel, rows, groups, config.pm):
            print(f"  {name}: {layer_name} {shape} ...", file=sys.stderr, flush=True)
            r = simulate_conv(accel, shape, rng)
            pred = predicted_cycles(config, r["descriptors"])
            rows_out.append({"layer": layer_name, "shape": shape, "simulated": r["cycles"], "predicted": pred,
                             "error": (pred - r["cycles"]) / r["cycles"], "bit_exact": r["bit_exact"]})
    return {"case": name, "config": config_label(design["config"]), "layers": rows_out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=8, help="input rows simulated per layer (default 8)")
    ap.add_argument("--groups", type=int, default=4, help="output-channel groups of pm per layer (default 4)")
    ap.add_argument("--cases", default="all", help=f"comma-separated subset of {', '.join(c[0] for c in CASES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cases = CASES if args.cases == "all" else [c for c in CASES if c[0] in args.cases.split(",")]
    rng = np.random.default_rng(args.seed)
    results = []
    for case in cases:
        try:
            results.append(run_case(*case, args.rows, args.groups, rng))
        except DesignUnavailable as exc:
            print(f"{case[0]}: no design: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"Conv layer shapes cut to {args.rows} input rows and {args.groups} output-channel groups; model with "
              "the simulation's memory.")
        print("| case | design | layer | C, M, H, W, K, S, P | simulated | predicted | error | bit-exact |")
        print("| --- | --- | --- | --- | ---: | ---: | ---: | --- |")
        for res in results:
            for r in res["layers"]:
                print(f"| {res['case']} | {res['config']} | {r['layer']} | {', '.join(map(str, r['shape']))} | "
                      f"{r['simulated']} | {r['predicted']} | {100 * r['error']:+.1f} % | "
                      f"{'yes' if r['bit_exact'] else 'NO'} |")
        print()
        print("| case | layers | mean abs error | max abs error |")
        print("| --- | ---: | ---: | ---: |")
        for res in results:
            errs = [abs(r["error"]) for r in res["layers"]]
            if errs:
                print(f"| {res['case']} | {len(errs)} | {100 * np.mean(errs):.1f} % | {100 * max(errs):.1f} % |")
    exact = all(r["bit_exact"] for res in results for r in res["layers"])
    return 0 if exact and len(results) == len(cases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
