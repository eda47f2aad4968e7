"""DSE benchmark: the GA against exhaustive and random search, and the default build's time.

    python bench/bench_dse.py [--pairs vgg16:pynq-z2,resnet18:zcu102] [--seeds 0,1,2]

For each network/board pair, a search space that can still be enumerated (both engines, every
pm/pn, both bus widths, lanes 1..8, the buffer genes) is evaluated exhaustively (the ground
truth), then searched by the GA with the build's default settings for several seeds, and by
uniform random search until it reaches the optimum. Prints distinct evaluations (the cost that
matters) and whether the optimum was found; finally times ``python -m dse.build`` with its
defaults (VGG16 on PYNQ-Z2, including the Verilog generation) if ``rtl.top`` can build it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dse.boards import get_board  # noqa: E402
from dse.design import fitness_key  # noqa: E402
from dse.ga import Evaluator, exhaustive_search, genetic_search, random_search, search_space  # noqa: E402
from dse.networks import get_network  # noqa: E402


def bench_pair(network: str, board: str, seeds: list[int]) -> None:
    space = search_space(("direct", "winograd"), requant_lanes=(1, 2, 4, 8), kernel_cap=(3, 7), row_divisor=(1, 2))
    net, brd = get_network(network), get_board(board)
    t0 = time.time()
    full = Evaluator(net, brd)
    truth = exhaustive_search(space, full)
    t_ex = time.time() - t0
    best = truth.best
    print(f"\n{network} on {board}: {space.size} genotypes, {truth.evaluations} distinct designs, exhaustive "
          f"{t_ex:.1f} s; optimum {best.label}: {best.fps:.4g} fps, {best.gops:.4g} GOP/s")
    print(f"{'method':10s} {'seed':>4s} {'evaluations':>11s} {'to best':>8s} {'found optimum':>13s} {'fps':>9s} {'s':>6s}")
    for seed in seeds:
        t0 = time.time()
        ev = Evaluator(net, brd)
        r = genetic_search(space, ev, population=24, generations=20, seed=seed)
        hit = fitness_key(r.best) == fitness_key(best)
        print(f"{'GA':10s} {seed:4d} {r.evaluations:11d} {r.evaluations_to_best:8d} {str(hit):>13s} {r.best.fps:9.4g} {time.time() - t0:6.1f}")
    for seed in seeds:
        t0 = time.time()
        ev = Evaluator(net, brd)
        r = random_search(space, ev, budget=truth.evaluations, seed=seed, target=fitness_key(best))
        hit = fitness_key(r.best) == fitness_key(best)
        print(f"{'random':10s} {seed:4d} {r.evaluations:11d} {r.evaluations_to_best:8d} {str(hit):>13s} {r.best.fps:9.4g} {time.time() - t0:6.1f}")


def bench_default_build() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-m", "dse.build", "--quiet"], cwd=tmp, capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        dt = time.time() - t0
    status = proc.stdout.strip() if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]
    print(f"\ndefault build (vgg16 on pynq-z2, with Verilog): {dt:.1f} s, exit {proc.returncode}: {status}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="vgg16:pynq-z2,resnet18:zcu102")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    for pair in args.pairs.split(","):
        network, board = pair.split(":")
        bench_pair(network, board, seeds)
    if not args.no_build:
        bench_default_build()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
