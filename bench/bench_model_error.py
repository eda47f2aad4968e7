"""Cycle model against simulated cycles of the real RTL (direct engine).

For a sweep of layer shapes on one configuration, prints the cycles measured in Verilator
(AP_START to AP_DONE, the IP's CYCLES register), the cycles dse.perf_model predicts for the
same descriptor with the simulation's memory (ideal_memory_port: no DDR limit, short latency),
and the relative error. Run: python bench/bench_model_error.py. Exit status 1 when any error
exceeds the 5 % target (``TARGET``).
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.backends import simulated
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.descriptor import Descriptor
from rtl.config import AcceleratorConfig

#: The largest model error the bench accepts (the default suite gates the same in tests/test_cycle_model.py).
TARGET = 0.05
# (C, M, H, W, K, stride, padding)
SHAPES = [
    (64, 16, 8, 56, 3, 1, 1),
    (128, 16, 6, 28, 3, 1, 1),
    (32, 32, 10, 20, 3, 2, 1),
    (16, 8, 12, 32, 5, 1, 2),
    (64, 16, 14, 14, 1, 1, 0),
    (8, 16, 16, 40, 3, 1, 1),
    (256, 8, 4, 14, 3, 1, 1),
    (3, 16, 16, 64, 3, 1, 1),
]


# (C, M, H, W, padding) for the Winograd engine (3x3, stride 1)
WINOGRAD_SHAPES = [(8, 4, 12, 20, 1), (4, 2, 20, 20, 1), (16, 2, 8, 16, 0), (8, 6, 16, 12, 1), (3, 2, 20, 18, 1)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pm", type=int, default=8)
    ap.add_argument("--pn", type=int, default=8)
    ap.add_argument("--lanes", type=int, default=2)
    ap.add_argument("--engine", choices=["direct", "winograd"], default="direct")
    ap.add_argument("--m", type=int, default=2, help="Winograd tile (with --engine winograd)")
    args = ap.parse_args(argv)
    if args.engine == "direct":
        cfg = AcceleratorConfig(pm=args.pm, pn=args.pn, max_width=64, max_height=16, max_channels=256,
                                max_kernel=5, requant_lanes=args.lanes, clock_mhz=150)
        shapes = SHAPES
    else:  # the configuration of tests/rtl/test_accelerator.py (its Verilator build is cached)
        cfg = AcceleratorConfig(engine="winograd", m=args.m, pm=2, pn=4 if args.m == 2 else 2, max_width=20,
                                max_height=20, max_channels=16 if args.m == 2 else 8, max_kernel=3, max_stride=1,
                                requant_lanes=2, clock_mhz=100)
        shapes = [(c, mo, h, w, 3, 1, p) for c, mo, h, w, p in WINOGRAD_SHAPES if c <= cfg.max_channels]
    port = ideal_memory_port(cfg)
    rng = np.random.default_rng(1)
    print(f"config {cfg.name} (lanes {cfg.requant_lanes}); memory: the native simulator's AXI memory "
          "(cocotbext-axi AxiRam's latencies), no pauses")
    print(f"{'C':>4} {'M':>4} {'H':>3} {'W':>3} {'K':>2} {'S':>2} {'simulated':>10} {'predicted':>10} {'error':>7}")
    errors = []
    with simulated(cfg) as accel:
        for c, m, h, w, k, s, p in shapes:
            x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
            wt = rng.integers(-128, 128, size=(m, c, k, k), dtype=np.int8)
            accel.conv2d(x, wt, shift=10, stride=s, padding=p)
            sim = accel.counters["cycles"]
            pred = run_cycles(Descriptor(c, m, h, w, k, s, p), cfg, port).cycles
            err = (pred - sim) / sim
            errors.append(abs(err))
            print(f"{c:4} {m:4} {h:3} {w:3} {k:2} {s:2} {sim:10} {pred:10} {100 * err:6.1f}%")
    print(f"mean |error| {100 * np.mean(errors):.1f}%, max |error| {100 * np.max(errors):.1f}% "
          f"(target {100 * TARGET:.0f}%)")
    return 0 if max(errors) <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
