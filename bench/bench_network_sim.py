"""A whole network through ``drivers.run_network`` on the simulated IP, against the numpy int8 path.

    python bench/bench_network_sim.py [--network vgg16] [--design build/vgg16-pynq-z2]
                                      [--backend native|cocotb] [--seed 0]

The network (a zoo network: seeded random weights, ``drivers.random_weights``) is quantised to
int8 on two random calibration inputs, then one random input runs twice: through
``drivers.run_network`` with no accelerator (the numpy int8 reference of every layer) and with
``sim.backends.simulated(design)`` (the design's conv/FC layers on the simulated IP as design.json
places them, the rest on the CPU path). Printed: per-layer placement, simulated cycles and
time at the design clock, the wall time of each pass, and whether the int8 output of the
simulated run is identical to the reference's. Then the same input runs again with the weights
loaded once (``drivers.load_weights``), as a frame loop runs it: printed are its AP_STARTs (one
per run list, i.e. per run of consecutive accelerated layers that keep their outputs in DDR,
against the design's ``starts_per_frame``), the weights packed and the activations relaid
out during that frame, and whether it is bit-exact too. The design is built with
``python -m dse.build`` defaults when the folder is missing. Exit 1 unless both outputs are
identical to the reference and the AP_STARTs are the design's (``starts_per_frame`` in report.json).
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

from drivers import load_weights, quantize_network, random_weights, run_network  # noqa: E402
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
        # A frame with resident weights: runs of kept layers go out as run lists.
        resident = load_weights(qnet, accel, plan=folder)
        starts, packs, relayouts = accel.ap_starts, accel.weight_packs, accel.activation_relayouts
        t0 = time.time()
        again, listed = run_network(qnet, x, accel=accel, plan=folder, resident=resident)
        t_res = time.time() - t0
        starts, packs = accel.ap_starts - starts, accel.weight_packs - packs
        relayouts = accel.activation_relayouts - relayouts
    same = got.dtype == ref.dtype and got.shape == ref.shape and bool(np.array_equal(got, ref))
    same_resident = bool(np.array_equal(again, ref))
    lists = [[r["name"] for r in group] for group in _lists(listed)]
    # The DSE's count: one per run list (dse.schedule.run_lists), one per other run.
    planned = json.loads((folder / "report.json").read_text())["totals"]["starts_per_frame"]
    # A layer fused into its producer's run (a table or a pooling stage) is an accelerator row of
    # no runs and no counters of its own.
    acc = [r for r in table if r["runs_on"] == "accelerator"]
    cycles = sum(r["cycles"] for r in acc if r["runs"])
    cpu_wall = sum(r["wall_seconds"] for r in table if r["runs_on"] == "cpu")
    print(f"{net.name} (random weights, seed {args.seed}) on {folder.name} ({config_label(design['config'])}, "
          f"{clock:g} MHz), {args.backend} simulator")
    print()
    print("| layer | runs on | runs | simulated cycles | ms at the design clock |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in table:
        if r["runs_on"] == "accelerator" and not r["runs"]:
            print(f"| {r['name']} | accelerator (fused: {r['mapping']}) | 0 | | |")
        elif r["runs_on"] == "accelerator":
            print(f"| {r['name']} | accelerator | {r['runs']} | {r['cycles']:,} | {r['seconds'] * 1e3:.3f} |")
        else:
            print(f"| {r['name']} | cpu | | | |")
    print()
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| layers on the accelerator / CPU | {len(acc)} / {len(table) - len(acc)} |")
    print(f"| accelerator time per frame at {clock:g} MHz | {cycles:,} cycles = {cycles / (clock * 1e6) * 1e3:.1f} ms |")
    print(f"| int8 output identical to the numpy int8 reference | {'yes' if same else 'NO'} ({got.size} values) |")
    print(f"| with resident weights: AP_STARTs per frame / the design's (report.json) | {starts} / {planned} "
          f"({', '.join(f'{g[0]}..{g[-1]} ({len(g)})' for g in lists)}) |")
    print(f"| with resident weights: weights packed / activations relaid out in the frame | {packs} / {relayouts} |")
    print(f"| with resident weights: int8 output identical to the reference | {'yes' if same_resident else 'NO'} |")
    print(f"| wall time: quantisation / numpy reference / simulated run / resident frame | {t_quant:.0f} s / "
          f"{t_ref:.0f} s / {t_sim:.0f} s / {t_res:.0f} s (of which CPU layers {cpu_wall:.0f} s) |")
    return 0 if same and same_resident and starts == planned else 1


def _lists(rows: list[dict]) -> list[list[dict]]:
    """The run lists of a resident frame's table: each list's rows end with the one carrying
    ``list_runs`` (the list's counters), which says how many runs it had."""
    listed = [r for r in rows if r["runs_on"] == "accelerator" and r["runs"]]
    out = []
    for i, r in enumerate(listed):
        if r.get("list_runs"):
            out.append(listed[i + 1 - r["list_runs"]:i + 1])
    return out


if __name__ == "__main__":
    raise SystemExit(main())
