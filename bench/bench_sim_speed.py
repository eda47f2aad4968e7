"""Simulation speed: simulated cycles per second of wall time, per design (Verilator + cocotb).

    python bench/bench_sim_speed.py [--designs build/digits-cnn-pynq-z2,build/vgg16-pynq-z2] [--rows 4] [--json]

For each deploy folder (built with ``python -m dse.build`` defaults when missing: the folder name
is ``<network>-<board>``), starts ``drivers.simulated`` (timing the start: Verilator build or
cache hit, simulator launch) and runs, through the driver, (a) the smallest possible layer (one
channel, 3x3 pixels, 1x1 kernel: the fixed cost of a run -- descriptor writes, polling, buffer
transfers over the simulator's socket) and (b) the design's layer with the most predicted cycles
from design.json, cut to ``--rows`` input rows (random int8 data, bit-exact checked). The table
gives simulated cycles, wall seconds of the ``conv2d`` call, simulated cycles per wall second,
and the simulated time's ratio to wall time at the design clock (how much slower than the board
the simulation is). Verilator runs single-threaded; the machine's load changes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from drivers import simulated  # noqa: E402
from dse.boards import board_names  # noqa: E402

from bench_vgg_conv3_1 import DesignUnavailable, config_label, ensure_design, simulate_conv  # noqa: E402

DEFAULT_DESIGNS = "build/digits-cnn-pynq-z2,build/vgg16-pynq-z2"


def _network_board(folder: Path) -> tuple[str, str]:
    """``<network>-<board>`` folder names: the board is the known board name at the end."""
    for board in sorted(board_names(), key=len, reverse=True):
        if folder.name.endswith("-" + board):
            return folder.name[: -len(board) - 1], board
    raise DesignUnavailable(f"{folder} does not exist and its name is not <network>-<board>")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=DEFAULT_DESIGNS, help=f"comma-separated deploy folders (default {DEFAULT_DESIGNS})")
    ap.add_argument("--rows", type=int, default=4, help="input rows of the big layer (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = []
    rng = np.random.default_rng(args.seed)
    for name in args.designs.split(","):
        folder = Path(name) if Path(name).is_absolute() else ROOT / name
        try:
            if (folder / "design.json").is_file():
                folder, design = ensure_design("auto", folder)
            else:
                network, board = _network_board(folder)
                folder, design = ensure_design("auto", folder, network=network, board=board)
        except DesignUnavailable as exc:
            print(f"| {name} | not simulated: {exc} |")
            continue
        clock = design["config"]["clock_mhz"] * 1e6
        big = max((l for l in design["layers"] if l["runs_on"] == "accelerator" and l["kind"] == "conv"),
                  key=lambda l: l["predicted_cycles"])
        t0 = time.time()
        with simulated(folder) as accel:
            start = time.time() - t0
            tiny = simulate_conv(accel, (1, 1, 3, 3, 1, 1, 0), rng)
            shape = (big["in_channels"], big["out_channels"], min(big["height"], args.rows), big["width"],
                     big["kernel"], big["stride"], big["padding"])
            run = simulate_conv(accel, shape, rng, relu=big["relu"])
        for label, r, shp in (("smallest run", tiny, (1, 1, 3, 3, 1, 1, 0)), (big["name"], run, shape)):
            results.append({
                "design": folder.name, "config": config_label(design["config"]), "start_seconds": start,
                "layer": label, "shape": list(shp), "cycles": r["cycles"], "wall_seconds": r["wall_seconds"],
                "cycles_per_second": r["cycles"] / r["wall_seconds"],
                "slowdown": r["wall_seconds"] / (r["cycles"] / clock), "bit_exact": r["bit_exact"],
                "clock_mhz": design["config"]["clock_mhz"],
            })
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print("| design | config | simulator start s | run | C x H x W -> M, K | cycles | wall s | cycles/s | wall / simulated time | bit-exact |")
    print("| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        c, m, h, w, k, _, _ = r["shape"]
        print(f"| {r['design']} | {r['config']} | {r['start_seconds']:.1f} | {r['layer']} | {c}x{h}x{w} -> {m}, {k}x{k} | "
              f"{r['cycles']} | {r['wall_seconds']:.2f} | {r['cycles_per_second']:,.0f} | {r['slowdown']:,.0f} | "
              f"{'yes' if r['bit_exact'] else 'NO'} |")
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
