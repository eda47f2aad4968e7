"""Efficiency of the direct engine on VGG16-shaped layers at reduced height (simulated).

Prints, per layer: simulated cycles, the ideal ceil(M/pm)*ceil(C/pn)*Ho*Wo*K*K, PE-array busy
fraction (ACTIVE_CYCLES / cycles), stall counters, bytes moved, and whether the output is
bit-exact against sim.reference (with the test suite's requantisation, which keeps most outputs
unclamped: tests/harness/layers.py). Run: python bench/bench_accelerator.py [--pauses random]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from sim.backends import simulated  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from sim.reference import conv2d, requantize  # noqa: E402
from tests.harness.layers import interior_fraction, scaled_requant  # noqa: E402

# VGG16 layer shapes (C, M, W) with the height cut to a few rows to keep simulation short.
LAYERS = [
    ("conv1_2", 64, 64, 224),
    ("conv2_2", 128, 128, 112),
    ("conv3_1", 128, 256, 56),
    ("conv4_2", 512, 512, 28),
    ("conv5_3", 512, 512, 14),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pauses", default="none", choices=["none", "fixed", "random"])
    ap.add_argument("--rows", type=int, default=4, help="input rows per layer (default 4)")
    ap.add_argument("--groups", type=int, default=2, help="output-channel groups simulated per layer")
    ap.add_argument("--pm", type=int, default=8)
    ap.add_argument("--pn", type=int, default=8)
    args = ap.parse_args(argv)
    cfg = AcceleratorConfig(pm=args.pm, pn=args.pn, max_width=224, max_height=16, max_channels=512,
                            max_kernel=3, max_row_words=224 * 64 // args.pn, requant_lanes=2, clock_mhz=150)
    rng = np.random.default_rng(0)
    print(f"config {cfg.name}: pm={cfg.pm} pn={cfg.pn} bus={cfg.axi_data_width} bits, {args.rows} input rows, "
          f"{args.groups} output-channel groups, native simulator, pauses={args.pauses}")
    print(f"{'layer':10} {'C':>4} {'M':>4} {'HxW':>7} {'cycles':>9} {'ideal':>9} {'efficiency':>10} "
          f"{'busy':>6} {'stall_rd':>8} {'stall_wr':>8} {'MB read':>8} {'exact':>5} {'wall s':>6}")
    all_exact = True
    with simulated(cfg, pauses=args.pauses) as accel:
        for name, c, m_full, w in LAYERS:
            m = min(m_full, args.groups * cfg.pm)
            h = args.rows
            x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
            wt = rng.integers(-128, 128, size=(m, c, 3, 3), dtype=np.int8)
            acc = conv2d(x, wt, 1, 1)
            bias, mult, shift = scaled_requant(rng, acc, True)
            t0 = time.time()
            y = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=1, padding=1, relu=True)
            wall = time.time() - t0
            want = requantize(acc, bias, mult, shift, True)
            assert interior_fraction(want, True) >= 0.5, f"{name}: the requantisation clamps most outputs"
            exact = bool(np.array_equal(y, want))
            all_exact = all_exact and exact
            k = accel.counters
            ideal = math.ceil(m / cfg.pm) * math.ceil(c / cfg.pn) * h * w * 9
            print(f"{name:10} {c:4} {m:4} {h:3}x{w:<3} {k['cycles']:9} {ideal:9} {ideal / k['cycles']:10.3f} "
                  f"{k['active_cycles'] / k['cycles']:6.3f} {k['stall_read_cycles']:8} {k['stall_write_cycles']:8} "
                  f"{k['bytes_read'] / 1e6:8.3f} {str(exact):>5} {wall:6.1f}")
    return 0 if all_exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
