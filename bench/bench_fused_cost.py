"""What a fused activation table and a fused 2x2 max-pool cost (issue 31): every conv shape of
VGG16 and ResNet-18, cut as tests/test_cycle_model.py cuts them, run on the simulated IP plain,
with LAYER_FLAGS.TABLE (a tabulated LeakyReLU) and, where the output is even, with
LAYER_FLAGS.POOL = max, on the cycle-model designs built with a table and a pooling stage.

    python bench/bench_fused_cost.py

Prints per design and shape the simulated cycles of the runs, each fused run's extra cycles in
per cent and the model's (``dse.perf_model.run_cycles``), every output checked bit-exact, then
the largest extra per design. The issue's gate: at most 2 % more cycles than the conv alone.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from drivers import layout, ops  # noqa: E402
from dse.perf_model import ideal_memory_port, run_cycles  # noqa: E402
from sim.backends import simulated  # noqa: E402
from tests.harness.layers import random_layer  # noqa: E402
from tests.test_cycle_model import DESIGNS, cut_shapes  # noqa: E402


def _leaky(v):
    return np.where(v < 0, (v.astype(np.int16) * 13) >> 7, v).astype(np.int8)


def main() -> int:
    t0 = time.time()
    table = layout.activation_table(_leaky)
    print("| design | layer (cut) | plain cycles | with table | extra % | model extra % | pooled | extra % | "
          "model extra % |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    worst, worst_pool = {}, {}
    for name, base in sorted(DESIGNS.items()):
        config = dataclasses.replace(base, activation_table=True, pooling=True)
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
                model_plain = run_cycles(d, config, port).cycles
                model = 100 * (run_cycles(d, config, port, table=True).cycles / model_plain - 1)
                worst[name] = max(worst.get(name, 0.0), extra)
                pooled = "| - | - | - |"
                if d.out_height % 2 == 0 and d.out_width % 2 == 0:
                    got = accel.conv2d(x, wt, pool="max", **kw)
                    if not np.array_equal(got, ops.maxpool(expected, 2, 2)):
                        raise SystemExit(f"{name} {label}: pooled output not bit-exact")
                    pool_cycles = accel.counters["cycles"]
                    pool_extra = 100 * (pool_cycles - plain_cycles) / plain_cycles
                    pool_model = 100 * (run_cycles(dataclasses.replace(d, pool=1), config, port).cycles / model_plain - 1)
                    worst_pool[name] = max(worst_pool.get(name, -100.0), pool_extra)
                    pooled = f"| {pool_cycles} | {pool_extra:.2f} | {pool_model:.2f} |"
                print(f"| {config.name} | {label} {dataclasses.astuple(d)[:7]} | {plain_cycles} | {fused_cycles} | "
                      f"{extra:.2f} | {model:.2f} {pooled}")
    print()
    print("Largest extra per design, table: " + ", ".join(f"{n} {w:.2f} %" for n, w in sorted(worst.items()))
          + "; max-pool: " + ", ".join(f"{n} {w:.2f} %" for n, w in sorted(worst_pool.items()))
          + f" (gate 2 %), in {time.time() - t0:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
