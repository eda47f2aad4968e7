"""A whole network through ``drivers.run_network`` on the simulated IP, against the numpy int8 path.

    python bench/bench_network_sim.py [--network vgg16] [--design build/vgg16-pynq-z2]
                                      [--backend native|cocotb] [--seed 0]

The network (a zoo network: seeded random weights, ``drivers.random_weights``) is quantised to
int8 on two random calibration inputs, then one random input runs twice: through
``drivers.run_network`` with no accelerator (the numpy int8 reference of every layer) and with
``sim.backends.simulated(design)`` (the design's conv/FC layers on the simulated IP as design.json
places them, the rest on the CPU path). Printed: per-layer placement, simulated cycles and
time at the design clock, the wall time of each pass, and whether the int8 output of the
simulated run is identical to the reference's. The design is built with ``python -m dse.build``
defaults when the folder is missing. Exit 1 unless the outputs are identical.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from drivers import quantize_network, random_weights, run_network  # noqa: E402
from sim.backends import simulated  # noqa: E402
from dse.networks import get_network  # noqa: E402

from bench_vgg_conv3_1 import DesignUnavailable, config_label, ensure_design  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="vgg16")
    ap.add_argument("--design", type=Path, default=None, help="deploy folder (default build/<network>-pynq-z2)")
    ap.add_argument("--backend", default="native", choices=("native", "cocotb"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    folder = args.design or ROOT / "build" / f"{args.network}-pynq-z2"
    try:
        folder, design = ensure_design("auto", folder, network=args.network)
    except DesignUnavailable as exc:
        print(f"| network | result |\n| --- | --- |\n| {args.network} | not run: {exc} |")
        return 3
    net = get_network(args.network)
    rng = np.random.default_rng(args.seed)
    weights = random_weights(net, seed=args.seed)
    shape = tuple(net.input_shape)
    t0 = time.time()
    qnet = quantize_network(net, rng.standard_normal((2, *shape)).astype(np.float32), weights)
    t_quant = time.time() - t0
    x = qnet.quantize_input(rng.standard_normal(shape).astype(np.float32))
    t0 = time.time()
    ref, _ = run_network(qnet, x)
    t_ref = time.time() - t0
    with simulated(folder, backend=args.backend) as accel:
        clock = accel.info.clock_mhz
        t0 = time.time()
        got, table = run_network(qnet, x, accel=accel, plan=folder)
        t_sim = time.time() - t0
    same = got.dtype == ref.dtype and got.shape == ref.shape and bool(np.array_equal(got, ref))
    acc = [r for r in table if r["runs_on"] == "accelerator"]
    cycles = sum(r["cycles"] for r in acc)
    cpu_wall = sum(r["wall_seconds"] for r in table if r["runs_on"] == "cpu")
    print(f"{net.name} (random weights, seed {args.seed}) on {folder.name} ({config_label(design['config'])}, "
          f"{clock:g} MHz), {args.backend} simulator")
    print()
    print("| layer | runs on | runs | simulated cycles | ms at the design clock |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in table:
        if r["runs_on"] == "accelerator":
            print(f"| {r['name']} | accelerator | {r['runs']} | {r['cycles']:,} | {r['seconds'] * 1e3:.3f} |")
        else:
            print(f"| {r['name']} | cpu | | | |")
    print()
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| layers on the accelerator / CPU | {len(acc)} / {len(table) - len(acc)} |")
    print(f"| accelerator time per frame at {clock:g} MHz | {cycles:,} cycles = {cycles / (clock * 1e6) * 1e3:.1f} ms |")
    print(f"| int8 output identical to the numpy int8 reference | {'yes' if same else 'NO'} ({got.size} values) |")
    print(f"| wall time: quantisation / numpy reference / simulated run | {t_quant:.0f} s / {t_ref:.0f} s / {t_sim:.0f} s "
          f"(of which CPU layers {cpu_wall:.0f} s) |")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
