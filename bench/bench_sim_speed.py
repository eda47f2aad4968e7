"""Simulation speed: simulated cycles per second of wall time, per design and simulation backend.

    python bench/bench_sim_speed.py [--designs build/digits-cnn-pynq-z2,build/vgg16-pynq-z2]
                                    [--config cfg.json ...] [--backends native,cocotb] [--rows 4] [--json]

For each deploy folder (built with ``python -m dse.build`` defaults when missing: the folder name
is ``<network>-<board>``) and each ``--config`` (a JSON file holding an AcceleratorConfig, as in
design.json's "config"), and for each backend of ``sim.backends.simulated`` (``native``: the C++
harness, ``cocotb``: cocotbext-axi models), starts the simulator (timing the start: Verilator
build or cache hit, simulator launch) and runs, through the driver, (a) the smallest possible
layer (one channel, 3x3 pixels, 1x1 kernel: the fixed cost of a run -- descriptor writes, polling,
buffer transfers) and (b) the design's layer with the most predicted cycles from design.json, cut
to ``--rows`` input rows (for a ``--config``: the largest layer the configuration accepts, cut
likewise), with the same random int8 data on every backend, bit-exact checked. The table gives
simulated cycles, per backend the wall seconds of the ``conv2d`` call and simulated cycles per
wall second, the ratio native/cocotb of the speeds, and whether both backends counted the same
cycles. Verilator runs single-threaded; the machine's load changes the figures.
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

from sim.backends import simulated  # noqa: E402
from sim.backends.cocotb import BACKENDS  # noqa: E402
from dse.boards import board_names  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402

from bench_vgg_conv3_1 import DesignUnavailable, config_label, ensure_design, simulate_conv  # noqa: E402

DEFAULT_DESIGNS = "build/digits-cnn-pynq-z2,build/vgg16-pynq-z2"
TINY = (1, 1, 3, 3, 1, 1, 0)


def _network_board(stem: str, folder: Path) -> tuple[str, str]:
    """``<network>-<board>`` folder names: the board is the known board name at the end."""
    for board in sorted(board_names(), key=len, reverse=True):
        if stem.endswith("-" + board):
            return stem[: -len(board) - 1], board
    raise DesignUnavailable(f"{folder} does not exist and its name is not <network>-<board>[-<engine>]")


def design_target(name: str, rows: int):
    """``(what simulated() takes, label, config dict, big layer shape, its relu)`` of a deploy folder
    (built when missing or stale, see ``ensure_design``; names as ``design_folder`` gives them:
    ``<network>-<board>[-<engine>]``)."""
    folder = Path(name) if Path(name).is_absolute() else ROOT / name
    stem, _, suffix = folder.name.rpartition("-")
    engine = suffix if suffix in ("direct", "winograd") else "auto"
    if (folder / "design.json").is_file():
        meta = json.loads((folder / "design.json").read_text())
        network, board = meta["network"], meta["board"]
    else:
        network, board = _network_board(stem if engine != "auto" else folder.name, folder)
    folder, design = ensure_design(engine, folder, network=network, board=board)
    big = max((l for l in design["layers"] if l["runs_on"] == "accelerator" and l["kind"] == "conv"),
              key=lambda l: l["predicted_cycles"])
    shape = (big["in_channels"], big["out_channels"], min(big["height"], rows), big["width"],
             big["kernel"], big["stride"], big["padding"])
    return folder, folder.name, design["config"], (big["name"], shape, big["relu"])


def config_target(path: str, rows: int):
    """The same for a JSON AcceleratorConfig: its largest layer, cut to ``rows`` input rows."""
    try:
        config = AcceleratorConfig.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DesignUnavailable(f"{path} is not an AcceleratorConfig in JSON ({exc})") from None
    k = 3 if config.engine == "winograd" else config.max_kernel
    shape = (config.max_channels, config.max_channels, min(config.max_height, rows), config.max_width, k, 1, k // 2)
    return config, Path(path).stem, config.to_dict(), (f"largest layer ({k}x{k})", shape, True)


def gather_targets(designs, configs, rows: int, verb: str = "simulated") -> list[tuple]:
    """:func:`design_target` of each deploy folder, then :func:`config_target` of each config file;
    one table row "not <verb>: why" for each that is unavailable."""
    targets = []
    for target, name in [(design_target, name) for name in designs] + [(config_target, path) for path in configs]:
        try:
            targets.append(target(name, rows))
        except DesignUnavailable as exc:
            print(f"| {name} | not {verb}: {exc} |")
    return targets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=None,
                    help=f"comma-separated deploy folders (default {DEFAULT_DESIGNS} unless --config is given)")
    ap.add_argument("--config", action="append", default=[],
                    help="a JSON file with an AcceleratorConfig to simulate (repeatable)")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help=f"comma-separated simulation backends, of {', '.join(BACKENDS)} (default all)")
    ap.add_argument("--rows", type=int, default=4, help="input rows of the big layer (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        ap.error(f"--backends takes a comma-separated list of {', '.join(BACKENDS)}, got {args.backends!r}")
    designs = args.designs if args.designs is not None else ("" if args.config else DEFAULT_DESIGNS)

    targets = gather_targets(filter(None, designs.split(",")), args.config, args.rows)

    results = []
    for design, label, config, (big_name, shape, relu) in targets:
        clock = config["clock_mhz"] * 1e6
        rows = {"smallest run": {"shape": TINY}, big_name: {"shape": shape}}
        for backend in backends:
            t0 = time.time()
            with simulated(design, backend=backend) as accel:
                start = time.time() - t0
                for layer_name, kw in (("smallest run", {}), (big_name, {"relu": relu})):
                    rng = np.random.default_rng(args.seed)  # the same data on every backend
                    r = simulate_conv(accel, rows[layer_name]["shape"], rng, **kw)
                    rows[layer_name][backend] = {
                        "start_seconds": start, "cycles": r["cycles"], "wall_seconds": r["wall_seconds"],
                        "cycles_per_second": r["cycles"] / r["wall_seconds"],
                        "slowdown": r["wall_seconds"] / (r["cycles"] / clock), "bit_exact": r["bit_exact"],
                        "counters": {k: r[k] for k in ("cycles", "stall_read_cycles", "stall_write_cycles",
                                                       "active_cycles", "bytes_read", "bytes_written")},
                    }
        for layer_name, row in rows.items():
            per = {b: row[b] for b in backends}
            entry = {"design": label, "config": config_label(config), "layer": layer_name, "shape": list(row["shape"]),
                     "clock_mhz": config["clock_mhz"], "backends": per,
                     "bit_exact": all(p["bit_exact"] for p in per.values()),
                     "same_counters": len({json.dumps(p["counters"], sort_keys=True) for p in per.values()}) == 1}
            if "native" in per and "cocotb" in per:
                entry["native_over_cocotb"] = per["native"]["cycles_per_second"] / per["cocotb"]["cycles_per_second"]
            results.append(entry)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        head = "| design | config | run | C x H x W -> M, K | cycles |"
        rule = "| --- | --- | --- | --- | ---: |"
        for b in backends:
            head += f" {b} start s | {b} wall s | {b} cycles/s |"
            rule += " ---: | ---: | ---: |"
        if "native" in backends and "cocotb" in backends:
            head += " native / cocotb |"
            rule += " ---: |"
        print(head + " same counters | bit-exact |")
        print(rule + " --- | --- |")
        for r in results:
            c, m, h, w, k, _, _ = r["shape"]
            first = r["backends"][backends[0]]
            line = f"| {r['design']} | {r['config']} | {r['layer']} | {c}x{h}x{w} -> {m}, {k}x{k} | {first['cycles']} |"
            for b in backends:
                p = r["backends"][b]
                line += f" {p['start_seconds']:.1f} | {p['wall_seconds']:.3f} | {p['cycles_per_second']:,.0f} |"
            if "native_over_cocotb" in r:
                line += f" {r['native_over_cocotb']:.0f}x |"
            line += f" {'yes' if r['same_counters'] else 'NO'} | {'yes' if r['bit_exact'] else 'NO'} |"
            print(line)
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
