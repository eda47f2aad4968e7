"""What a fused activation table costs (issue 31): every conv shape of VGG16 and ResNet-18, cut
as tests/test_cycle_model.py cuts them, run on the simulated IP twice -- plain, and with
LAYER_FLAGS.TABLE (a tabulated LeakyReLU) -- on the cycle-model designs built with a table.

    python bench/bench_fused_cost.py

Prints per design and shape the simulated cycles of both runs, the table's extra cycles in
per cent and the model's (``dse.perf_model.run_cycles(..., table=True)``), both outputs checked
bit-exact, then the largest extra per design. The issue's gate: at most 2 % more cycles than the
conv alone.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from drivers import layout  # noqa: E402
from dse.perf_model import ideal_memory_port, run_cycles  # noqa: E402
from sim.backends import simulated  # noqa: E402
from tests.harness.layers import random_layer  # noqa: E402
from tests.test_cycle_model import DESIGNS, cut_shapes  # noqa: E402


def _leaky(v):
    return np.where(v < 0, (v.astype(np.int16) * 13) >> 7, v).astype(np.int8)


def main() -> int:
    t0 = time.time()
    table = layout.activation_table(_leaky)
    print("| design | layer (cut) | plain cycles | with table | extra % | model extra % |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    worst = {}
    for name, base in sorted(DESIGNS.items()):
        config = dataclasses.replace(base, activation_table=True)
        port = ideal_memory_port(config)
        rng = np.random.default_rng(3)
        with simulated(config) as accel:
            for label, d in cut_shapes(config):
                x, wt, bias, mult, shift, expected = random_layer(
                    rng, d.in_channels, d.out_channels, d.height, d.width, d.kernel, d.stride, d.padding, False)
                kw = dict(bias=bias, mult=mult, shift=shift, stride=d.stride, padding=d.padding)
                plain = accel.conv2d(x, wt, **kw)
                plain_cycles = accel.counters["cycles"]
                fused = accel.conv2d(x, wt, table=table, **kw)
                fused_cycles = accel.counters["cycles"]
                if not (np.array_equal(plain, expected) and np.array_equal(fused, layout.apply_table(expected, table))):
                    raise SystemExit(f"{name} {label}: not bit-exact")
                extra = 100 * (fused_cycles - plain_cycles) / plain_cycles
                model = 100 * (run_cycles(d, config, port, table=True).cycles / run_cycles(d, config, port).cycles - 1)
                worst[name] = max(worst.get(name, 0.0), extra)
                print(f"| {config.name} | {label} {dataclasses.astuple(d)} | {plain_cycles} | {fused_cycles} | "
                      f"{extra:.2f} | {model:.2f} |")
    print()
    print("Largest extra per design: " + ", ".join(f"{n} {w:.2f} %" for n, w in sorted(worst.items()))
          + f" (gate 2 %), in {time.time() - t0:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
