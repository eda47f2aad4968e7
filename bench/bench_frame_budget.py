"""Where a frame's predicted time goes: the accelerator, the CPU layers and the host's work around
the runs, for the networks and boards of the resident-network issue (issue 30).

    python bench/bench_frame_budget.py [--networks vgg16,resnet18,tiny-yolo] [--boards pynq-z2,kv260]

For each network and board, ``python -m dse.build``'s search with its defaults (nothing is
written; the torchvision exports of bench/export_torchvision.py in build/zoo are added when
present) and the chosen design's report totals: frames per second, the frame split into
accelerator time, CPU layers and the host's share (register writes, run lists, relayouts and
copies, ``dse.perf_model.host_seconds``), the AP_STARTs per frame with resident weights, and the
accelerated layers whose input the driver packs or whose output it unpacks on the CPU
(``dse.schedule.relayouts``). The issue asks for a host share of at most 2 % and no relayout
between two accelerated layers. The figures are the model's, not a measurement of a board.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dse.build import explore  # noqa: E402
from dse.report import report_dict  # noqa: E402
from dse.schedule import relayouts  # noqa: E402

#: The share of the frame the issue allows the host's work around the runs.
HOST_SHARE_GATE = 0.02


def _config_label(cfg) -> str:
    engine = f"F({cfg.m},3)" if cfg.engine == "winograd" else "direct"
    extras = "".join(f" {x}" for x, on in (("table", cfg.activation_table), ("pool", cfg.pooling)) if on)
    return f"{engine} {cfg.pm}x{cfg.pn}{extras}"


def _zoo_exports(zoo: Path) -> list[str]:
    """The 224 x 224 torchvision exports that bench/export_torchvision.py wrote into ``zoo``."""
    listing = zoo / "models.json"
    if not listing.is_file():
        return []
    paths = [zoo / entry["build"] for entry in json.loads(listing.read_text()).values()]
    return [str(p) for p in paths if p.is_file()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="vgg16,resnet18,tiny-yolo")
    ap.add_argument("--boards", default="pynq-z2,kv260")
    ap.add_argument("--zoo", type=Path, default=ROOT / "build" / "zoo")
    args = ap.parse_args(argv)
    networks = [n for n in args.networks.split(",") if n] + _zoo_exports(args.zoo)
    boards = [b for b in args.boards.split(",") if b]
    t0 = time.time()
    print("| network | board | design | fps | frame ms | accelerator ms | CPU layers ms | host ms | host share "
          "| AP_STARTs | layers relaid out |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    within = 0
    for network in networks:
        for board in boards:
            _, _, engines, result = explore(network, board)
            design = result.best
            totals = report_dict(design, result, engines=engines)["totals"]
            frame = totals["seconds_per_frame"]
            host = totals["host_seconds"]
            flags = relayouts(design.plans, design.config.pm, design.config.pn)
            relaid = sum(1 for packs, unpacks in flags.values() if packs or unpacks)
            accelerated = sum(1 for p in design.plans if p.runs_on == "accelerator")
            within += host <= HOST_SHARE_GATE * frame
            name = Path(network).stem if network.endswith(".onnx") else network
            print(f"| {name} | {board} | {_config_label(design.config)} | {totals['fps']:.2f} | {frame * 1e3:.1f} "
                  f"| {(totals['accelerator_seconds'] - host) * 1e3:.1f} | {totals['cpu_seconds'] * 1e3:.1f} "
                  f"| {host * 1e3:.2f} | {100 * host / frame:.2f} % | {totals['starts_per_frame']} "
                  f"| {relaid} of {accelerated} |")
    print()
    print(f"{within} of {len(networks) * len(boards)} designs keep the host's share within "
          f"{HOST_SHARE_GATE:.0%} of the frame, in {time.time() - t0:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
