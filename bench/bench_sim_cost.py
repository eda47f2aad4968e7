"""Cost of a simulated cycle on the native simulator: host instructions per simulated cycle
(callgrind) against the wall-clock speed, per design.

    python bench/bench_sim_cost.py [--engines auto,direct] [--designs FOLDER,...] [--config cfg.json ...]
                                   [--rows 2] [--json]

For each design -- by default VGG16 on PYNQ-Z2 as ``python -m dse.build`` builds it for each of
``--engines`` (``auto``: the default build, ``build/vgg16-pynq-z2``; ``direct``: its best
direct-engine design, ``build/vgg16-pynq-z2-direct``; built when missing or stale), then deploy
folders and ``--config`` files as in bench/bench_sim_speed.py -- the smallest possible layer and
the design's largest layer cut to ``--rows`` input rows run in three simulator processes on the
native backend with the same random int8 data, bit-exact checked:

* plainly, the big layer three times, giving its simulated cycles per wall second (the best);
* under ``valgrind --tool=callgrind`` twice, once with the smallest layer only and once with
  both layers; the difference of the two instruction totals over the difference of the two
  simulated cycle totals is what one simulated cycle of the big layer costs, without the
  process's start (the model's construction, its memory initialisation) and the fixed cost of
  a run.

The table gives those instructions per simulated cycle, the host's instruction rate they imply
(instructions per simulated cycle times cycles per second), and how many instructions a
simulated cycle may take for 1 M cycles per second at that rate. A Verilated model evaluates
all of its logic on every clock edge, busy or idle, so the instructions per cycle follow the
size of the datapath. Needs valgrind (exit 3 without it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from sim.backends.native import native_simulation  # noqa: E402
from sim.backends.base import design_verilog, load_design_config  # noqa: E402

from bench_sim_speed import TINY, gather_targets  # noqa: E402
from bench_vgg_conv3_1 import config_label, design_folder, simulate_conv  # noqa: E402

#: The instruction count in a callgrind output file.
_SUMMARY = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)
#: Timed runs of the big layer; the fastest counts (a short layer's wall time is noisy).
TIMED_RUNS = 3
#: Callgrind runs the simulator about 50 times slower: the silence a call may keep.
CALLGRIND_WALL_TIMEOUT = 3600.0


def _run(design, layers, seed: int, launcher=(), wall_timeout: float = 120.0) -> tuple[list[dict], int]:
    """Run ``layers`` (``(shape, relu)``) in one simulator process: their results and the
    process's simulated cycles (reset included)."""
    config, folder = load_design_config(design)
    with native_simulation(config, design_verilog(config, folder), launcher=launcher,
                           wall_timeout=wall_timeout) as accel:
        results = [simulate_conv(accel, shape, np.random.default_rng(seed), relu=relu) for shape, relu in layers]
        return results, accel.simulated_cycles


def _instructions(design, layers, seed: int, workdir: Path, tag: str) -> tuple[int, int, bool]:
    """``(instructions, simulated cycles, bit-exact)`` of one simulator process under callgrind."""
    out = workdir / f"callgrind.{tag}.out"
    launcher = ("valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}")
    results, cycles = _run(design, layers, seed, launcher, CALLGRIND_WALL_TIMEOUT)
    found = _SUMMARY.search(out.read_text()) if out.exists() else None
    if found is None:
        raise RuntimeError(f"callgrind wrote no instruction count to {out}")
    return int(found[1]), cycles, all(r["bit_exact"] for r in results)


def measure(design, label: str, config: dict, big: tuple, seed: int, workdir: Path) -> dict:
    big_name, shape, relu = big
    tiny, both = [(TINY, False)], [(TINY, False), (shape, relu)]
    results, _ = _run(design, both + [(shape, relu)] * (TIMED_RUNS - 1), seed)
    speed = max(r["cycles"] / r["wall_seconds"] for r in results[1:])
    base_instructions, base_cycles, exact_a = _instructions(design, tiny, seed, workdir, "tiny")
    instructions, cycles, exact_b = _instructions(design, both, seed, workdir, "both")
    per_cycle = (instructions - base_instructions) / (cycles - base_cycles)
    rate = per_cycle * speed
    return {"design": label, "config": config_label(config), "layer": big_name, "shape": list(shape),
            "cycles": results[1]["cycles"], "cycles_per_second": speed,
            "instructions_per_cycle": per_cycle, "instructions_per_second": rate,
            "instructions_per_cycle_for_1M": rate / 1e6,
            "bit_exact": all(r["bit_exact"] for r in results) and exact_a and exact_b}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="auto,direct",
                    help="comma-separated engines of dse.build for VGG16 on PYNQ-Z2 (auto: the default build; "
                         "default auto,direct; '' for none)")
    ap.add_argument("--designs", default="", help="comma-separated deploy folders")
    ap.add_argument("--config", action="append", default=[],
                    help="a JSON file with an AcceleratorConfig to simulate (repeatable)")
    ap.add_argument("--rows", type=int, default=2, help="input rows of the big layer (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.rows < 1:
        ap.error(f"--rows must be at least 1, got {args.rows}")
    engines = [e for e in args.engines.split(",") if e]
    if any(e not in ("auto", "direct", "winograd") for e in engines):
        ap.error(f"--engines takes a comma-separated list of auto, direct, winograd, got {args.engines!r}")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind): no instruction counts", file=sys.stderr)
        return 3
    folders = [str(design_folder(engine)) for engine in engines] + [d for d in args.designs.split(",") if d]
    targets = gather_targets(folders, args.config, args.rows, "measured")

    with tempfile.TemporaryDirectory(prefix="convforge-callgrind-") as tmp:
        rows = [measure(*target, args.seed, Path(tmp)) for target in targets]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print("| design | config | layer | C x H x W -> M, K | cycles | cycles/s | instructions / cycle "
              "| instructions / s | instructions / cycle for 1 M cycles/s | bit-exact |")
        print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in rows:
            c, m, h, w, k, _, _ = r["shape"]
            print(f"| {r['design']} | {r['config']} | {r['layer']} | {c}x{h}x{w} -> {m}, {k}x{k} | {r['cycles']} "
                  f"| {r['cycles_per_second']:,.0f} | {r['instructions_per_cycle']:,.0f} "
                  f"| {r['instructions_per_second'] / 1e9:.1f} G | {r['instructions_per_cycle_for_1M']:,.0f} "
                  f"| {'yes' if r['bit_exact'] else 'NO'} |")
        print()
        for line in summary(rows, host_clock_mhz()):
            print(line)
    return 0 if all(r["bit_exact"] for r in rows) else 1


def host_clock_mhz() -> float | None:
    """The host core's clock as the kernel reports it (``cpu MHz`` of /proc/cpuinfo), or None."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    found = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def summary(rows: list[dict], clock_mhz: float | None) -> list[str]:
    """Sentences computed from the rows: instructions per host clock (with the clock the kernel
    reports) and how many times a cycle of the costliest design costs one of the cheapest."""
    lines = []
    if clock_mhz:
        ipc = ", ".join(f"{r['config']}: {r['instructions_per_second'] / (clock_mhz * 1e6):.1f}" for r in rows)
        lines.append(f"Instructions per host clock at the {clock_mhz:,.0f} MHz of /proc/cpuinfo: {ipc}.")
    if len(rows) >= 2:
        hi = max(rows, key=lambda r: r["instructions_per_cycle"])
        lo = min(rows, key=lambda r: r["instructions_per_cycle"])
        lines.append(f"A simulated cycle of {hi['config']} takes {hi['instructions_per_cycle'] / lo['instructions_per_cycle']:.2f} "
                     f"times the host instructions of one of {lo['config']}.")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
