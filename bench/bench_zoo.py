"""Real torchvision networks end to end: built on each board, run whole on the simulated IP.

    python bench/export_torchvision.py          # once, with the export extra (torch, torchvision)
    python bench/bench_zoo.py [--zoo build/zoo] [--models resnet18-torchscript,...]
                              [--boards pynq-z2,kv260] [--run-board pynq-z2] [--inputs N] [--json]

For every model that ``bench/export_torchvision.py`` listed in ``<zoo>/models.json``:

1. **Build**: ``python -m dse.build`` on its 224 x 224 export for every ``--boards`` board
   (deploy folders under ``<zoo>/designs/``, Verilog included); the table gives the engine and
   configuration the DSE chose, its predicted frames per second and GOP/s, its DSP and LUT counts
   and the build's wall time.
2. **Run**: the one command ``python -m sim.run --network <reduced-size export> --input
   <zoo>/inputs-<size>.npy --calibration <zoo>/calibration-<size>.npy --board <run-board>``
   (:func:`sim.run.check_network`, here in this process): the model quantised to int8, every input
   run through ``drivers.run_network`` on the native simulator of the design the DSE builds for that
   export, and compared with onnxruntime's float result (top-1, top-5, largest error) and with the
   numpy int8 reference (bit-exact). ``--inputs N`` checks only the first N inputs of each model
   (default all); the models of :data:`LARGE_INPUTS` (VGG-16, which runs at 224 x 224 and takes
   about 110 s of simulation per input) check ``--large-inputs`` (default 10) instead.

The last lines say, computed from the run, how many inputs each model checked and whether the
exit criteria held.

Exit status: 0 when every run is bit-exact and agrees on top-1 for at least 90 % of its inputs,
1 otherwise, 3 when ``models.json`` does not exist (nothing exported yet).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from dse.build import build  # noqa: E402
from sim.run import check_network  # noqa: E402

#: Models whose whole-network simulation is long: they check ``--large-inputs`` inputs.
LARGE_INPUTS = ("vgg16_bn",)
TOP1_NEEDED = 0.9


def build_row(model: Path, board: str, out: Path) -> dict:
    """``python -m dse.build --network model --board board --out out``, summarised."""
    _, design = build(model, board, out)
    return {"board": board, "summary": design.label, "fps": design.fps, "gops": design.gops,
            "dsp": design.resources.totals["DSP"], "lut": design.resources.totals["LUT"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=ROOT / "build" / "zoo")
    ap.add_argument("--models", default=None, help="comma-separated keys of models.json (default all)")
    ap.add_argument("--boards", default="pynq-z2,kv260", help="boards to build the 224 x 224 models for")
    ap.add_argument("--run-board", default="pynq-z2", help="board whose design runs the reduced-size models")
    ap.add_argument("--inputs", type=int, default=None, help="inputs per model (default all)")
    ap.add_argument("--large-inputs", type=int, default=10,
                    help=f"inputs per model for {', '.join(LARGE_INPUTS)} (default 10)")
    ap.add_argument("--no-run", action="store_true", help="only build")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    listing_path = args.zoo / "models.json"
    if not listing_path.is_file():
        print(f"| not run: {listing_path} does not exist; export the models first with "
              f"`pip install -e \".[export]\"` and `python bench/export_torchvision.py` |")
        return 3
    listing = json.loads(listing_path.read_text())
    keys = list(listing) if args.models is None else [k for k in args.models.split(",") if k]
    unknown = [k for k in keys if k not in listing]
    if unknown:
        ap.error(f"{', '.join(unknown)} not in {listing_path} (it has {', '.join(listing)})")
    boards = [b for b in args.boards.split(",") if b]

    results = []
    for key in keys:
        entry = listing[key]
        row = {"key": key, **{k: entry[k] for k in ("model", "exporter", "size", "float_accuracy")}, "builds": []}
        for board in boards:
            t0 = time.time()
            b = build_row(args.zoo / entry["build"], board, args.zoo / "designs" / f"{key}-224-{board}")
            b["seconds"] = time.time() - t0
            row["builds"].append(b)
            print(f"built {key} for {board}: {b['summary']}", file=sys.stderr, flush=True)
        if not args.no_run:
            n = args.large_inputs if entry["model"] in LARGE_INPUTS else args.inputs
            inputs = np.load(args.zoo / entry["inputs"])[:n]
            calibration = np.load(args.zoo / entry["calibration"])
            t0 = time.time()
            r = check_network(args.zoo / entry["run"], inputs, calibration, args.run_board, progress=False)
            row["run"] = {k: v for k, v in r.items() if k != "table"} | {"wall_seconds": time.time() - t0,
                                                                           "layers": len(r["table"])}
            print(f"ran {key}: top-1 {r['top1']:.3f}, bit-exact {r['bit_exact']}", file=sys.stderr, flush=True)
        results.append(row)

    if args.json:
        print(json.dumps(results, indent=1, default=str))
    else:
        print("| model | exporter | board | design the DSE chose (224 x 224) | predicted fps | GOP/s | DSP | LUT | "
              "build s |")
        print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for row in results:
            for b in row["builds"]:
                print(f"| {row['model']} | {row['exporter']} | {b['board']} | {b['summary']} | {b['fps']:,.2f} | {b['gops']:,.1f} | "
                      f"{b['dsp']:,} | {b['lut']:,} | {b['seconds']:.0f} |")
        runs = [row for row in results if "run" in row]
        if runs:
            print()
            print("| model | exporter | input | inputs | float accuracy (task) | top-1 agreement | top-5 agreement | "
                  "largest error (output steps) | bit-exact | accelerator ms/input | design | simulation s |")
            print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: |")
            for row in runs:
                r = row["run"]
                print(f"| {row['model']} | {row['exporter']} | {row['size']} x {row['size']} | {r['inputs']} | "
                      f"{100 * row['float_accuracy']:.0f} % | {100 * r['top1']:.1f} % | {100 * r['top5']:.1f} % | "
                      f"{r['max_abs_error'] / r['output_scale']:.1f} | {'yes' if r['bit_exact'] else 'NO'} | "
                      f"{1e3 * r['accelerator_seconds']:,.3f} | {Path(r['design']).name} | {r['wall_seconds']:.0f} |")
    runs = [row for row in results if "run" in row]
    exact = all(row["run"]["bit_exact"] for row in runs)
    agree = all(row["run"]["top1"] >= TOP1_NEEDED for row in runs)
    ok = exact and agree
    if not args.json and runs:
        counts: dict[int, list[str]] = {}
        for row in runs:
            counts.setdefault(row["run"]["inputs"], []).append(row["key"])
        print()
        versions = sorted({(listing[row["key"]].get("torch"), listing[row["key"]].get("torchvision")) for row in runs})
        print("Exported by bench/export_torchvision.py with " + "; ".join(
            f"torch {t}, torchvision {v}" for t, v in versions) + " (models.json).")
        print("Inputs checked: " + "; ".join(f"{n} for {', '.join(keys)}" for n, keys in sorted(counts.items())) + ".")
        print(f"Exit status {0 if ok else 1}: every run bit-exact: {'yes' if exact else 'no'}; every top-1 agreement "
              f"at least {100 * TOP1_NEEDED:.0f} %: {'yes' if agree else 'no'}.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
