"""Sweep wall time: the same ``dse.sweep`` serially and on a Dask LocalCluster, in one run.

    python bench/bench_sweep.py [--networks lenet,digits-cnn] [--boards pynq-z2,kv260]
                                [--synth 0] [--verify] [--workers 2]

Runs the sweep first in this process (``--serial``'s path), then on a LocalCluster of
``--workers`` single-threaded worker processes, into two temporary folders, checks that both
chose the same designs, and prints both wall times and their ratio. Yosys netlists and Verilator
builds are cached: the first pass pays for them, so with ``--synth`` or ``--verify`` the serial
pass runs first on a cold cache and the cluster pass may profit; run it twice for warm figures.
On this machine's two cores the ceiling is 2x; the cluster's start-up is included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distributed import Client, LocalCluster  # noqa: E402

from dse.sweep import run_sweep  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="lenet,digits-cnn")
    ap.add_argument("--boards", default="pynq-z2,kv260")
    ap.add_argument("--synth", type=int, default=0)
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    networks, boards = args.networks.split(","), args.boards.split(",")
    kwargs = dict(synth=args.synth, verify=args.verify)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        serial = run_sweep(networks, boards, Path(tmp) / "serial", **kwargs)
        t_serial = time.time() - t0
        t0 = time.time()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            distributed = run_sweep(networks, boards, Path(tmp) / "cluster", client=client, **kwargs)
        t_cluster = time.time() - t0
    same = [(o.design, o.error) for o in serial] == [(o.design, o.error) for o in distributed]
    pairs = len(serial)
    print(f"sweep of {len(networks)} networks ({', '.join(networks)}) x {len(boards)} boards ({', '.join(boards)}) "
          f"({pairs} pairs), synth top-{args.synth}, "
          f"verify {'on' if args.verify else 'off'}")
    print()
    print("| run | wall s | pairs with a design | same designs as serial |")
    print("| --- | ---: | ---: | --- |")
    print(f"| serial (one process) | {t_serial:.1f} | {sum(not o.error for o in serial)} | - |")
    print(f"| LocalCluster, {args.workers} worker processes | {t_cluster:.1f} | "
          f"{sum(not o.error for o in distributed)} | {'yes' if same else 'NO'} |")
    print()
    print(f"speed-up serial / cluster: {t_serial / t_cluster:.2f}x (cluster start-up included)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
