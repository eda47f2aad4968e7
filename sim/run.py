"""``python -m sim.run DESIGN_DIR [--layer NAME|all] [--seed N] [--json]`` and
``python -m sim.run --network model.onnx --input images.npy [--calibration cal.npy] [--board B] [DESIGN_DIR]``

Simulates conv layers of a built design (a deploy folder from ``python -m dse.build``) in
Verilator with random int8 data, through the same driver a board user runs
(``sim.backends.simulated``). Per layer it prints the simulated cycles, the GOP/s at the design's
clock, the cycles the DSE's model predicts for the same runs, and whether the output is
bit-exact against ``sim.reference``. Exits 1 if any layer is not bit-exact.

A layer the design maps to several runs (column strips, for instance) is simulated run by run;
identical runs are simulated once and counted as often as they occur. ``--max-rows N`` cuts
every run to N input rows (quick checks of big layers; the prediction is cut the same way).

With ``--network`` a whole model runs on real inputs (:func:`check_network`): the design is
DESIGN_DIR, or the deploy folder ``build/<network>-<board>`` (built with ``python -m dse.build``'s
defaults when it is missing or was built for another network). The model is quantised to int8
(calibrated on ``--calibration``, else on the inputs themselves) and every input ``[C, H, W]`` of
``images.npy`` (one image, or ``[N, C, H, W]``) runs through ``drivers.run_network`` on
``sim.backends.simulated(design)``. Printed: top-1 and top-5 agreement with onnxruntime running the
float model (top-5: onnxruntime's class among the int8 result's five best), the largest
absolute error of the dequantised output, bit-exactness against the numpy int8 reference
(``drivers.run_network`` without an accelerator), and the accelerator's time per input at the
design clock next to the CPU layers' wall time. Exits 1 unless every output is bit-exact.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

import onnxruntime as ort

from drivers import format_table, quantize_network, run_network
from sim.backends import simulated
from drivers.quantize import QuantizationError
from dse.build import BuildError, build, check_runnable
from dse.graph import NetworkError
from dse.networks import get_network
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.config import AcceleratorConfig
from rtl.descriptor import Descriptor
from sim.reference import conv2d, requantize

__all__ = ["main", "simulate_layers", "check_network"]


class UsageError(Exception):
    pass


def _load(design_dir: Path) -> dict:
    meta = design_dir / "design.json"
    if not design_dir.exists():
        raise UsageError(f"the deploy folder {design_dir} does not exist; build it with python -m dse.build")
    if not meta.is_file():
        raise UsageError(f"{design_dir} is not a convforge deploy folder (no design.json); build one with python -m dse.build")
    try:
        return json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{meta} is not valid JSON ({exc})") from None


def _select(design: dict, layer: str) -> list[dict]:
    accelerated = [l for l in design["layers"] if l.get("runs_on") == "accelerator"]
    if layer == "all":
        return accelerated
    for l in design["layers"]:
        if l["name"] == layer:
            if l.get("runs_on") != "accelerator":
                raise UsageError(f"layer {layer!r} runs on the CPU in this design ({l.get('reason', 'no reason given')}), not on the accelerator")
            return [l]
    names = ", ".join(l["name"] for l in accelerated) or "none"
    raise UsageError(f"no layer named {layer!r} in this design; accelerated layers: {names}")


def _quant_for(c: int, k: int) -> int:
    """A shift that keeps random int8 results mostly inside int8 (sum of C*K*K products)."""
    spread = math.sqrt(c * k * k) * 128 * 74  # std of a sum of products of uniform int8
    return max(0, int(round(math.log2(max(spread / 40, 1)))))


def simulate_layers(design_dir: Path, layers: list[dict], seed: int = 0, max_rows: int | None = None,
                    progress: bool = True) -> list[dict]:
    design = _load(design_dir)
    config = AcceleratorConfig.from_dict(design["config"])
    port = ideal_memory_port(config)
    rng = np.random.default_rng(seed)
    results = []
    with simulated(design_dir) as accel:
        bar = tqdm(total=len(layers), desc="simulating", unit="layer", disable=not progress, file=sys.stderr)
        for layer in layers:
            runs = Counter()
            for d in layer.get("descriptors") or [layer]:
                inv = dict(in_channels=d["in_channels"], out_channels=d["out_channels"], height=d["height"],
                           width=d["width"], kernel=d["kernel"], stride=d["stride"], padding=d["padding"])
                if max_rows is not None:
                    inv["height"] = min(inv["height"], max(max_rows, inv["kernel"] - 2 * inv["padding"]))
                runs[tuple(sorted(inv.items()))] += 1
            cycles = predicted = 0
            exact = True
            ops = 0
            for key, count in runs.items():
                inv = dict(key)
                c, m, h, w, k = inv["in_channels"], inv["out_channels"], inv["height"], inv["width"], inv["kernel"]
                x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
                wt = rng.integers(-128, 128, size=(m, c, k, k), dtype=np.int8)
                bias = rng.integers(-1000, 1000, size=m).astype(np.int32)
                shift = _quant_for(c, k)
                relu = bool(layer.get("relu", False))
                y = accel.conv2d(x, wt, bias=bias, mult=1, shift=shift, stride=inv["stride"], padding=inv["padding"], relu=relu)
                ref = requantize(conv2d(x, wt, inv["stride"], inv["padding"]), bias, 1, shift, relu)
                exact &= bool(np.array_equal(y, ref))
                cycles += accel.counters["cycles"] * count
                predicted += run_cycles(Descriptor(**inv), config, port).cycles * count
                ho, wo = ref.shape[1:]
                ops += 2 * m * c * k * k * ho * wo * count
            seconds = cycles / (config.clock_mhz * 1e6)
            results.append({
                "layer": layer["name"], "runs": sum(runs.values()), "cycles": cycles,
                "predicted_cycles": predicted, "model_error": (predicted - cycles) / cycles if cycles else 0.0,
                "seconds": seconds, "gops": ops / seconds / 1e9 if seconds else 0.0,
                "clock_mhz": config.clock_mhz, "bit_exact": exact, "cut_to_rows": max_rows,
            })
            bar.update(1)
        bar.close()
    return results


def _load_array(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc}") from None


def _batch(arr: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """``arr`` as ``[N, C, H, W]`` float32 for a network input of ``shape`` (C, H, W)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.shape == shape:
        return arr[None]
    if arr.ndim == 4 and arr.shape[1:] == shape:
        return arr
    raise UsageError(f"the {what} must have shape {shape} or [N, {', '.join(map(str, shape))}], got {arr.shape}")


def _design_for(network, model: Path, board: str, design_dir: Path | None, input_shape=None) -> Path:
    """The deploy folder to run ``network`` on: ``design_dir``, or build/<name>-<board>, built
    with dse.build's defaults when it is missing or belongs to another network or board."""
    if design_dir is not None:
        meta = _load(design_dir)
        if meta.get("network") != network.name:
            raise UsageError(f"{design_dir} was built for {meta.get('network')!r}, not for {network.name!r}")
        return design_dir
    out = Path("build") / f"{network.name}-{board}"
    meta = out / "design.json"
    if meta.is_file():
        try:
            d = json.loads(meta.read_text())
            if d.get("network") == network.name and d.get("board") == board:
                return out
        except json.JSONDecodeError:
            pass
    print(f"building {out} with python -m dse.build (defaults)...", file=sys.stderr)
    try:
        folder, _ = build(model, board, out, input_shape=input_shape)
    except BuildError as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    return folder


def check_network(model: Path, inputs: np.ndarray, calibration: np.ndarray | None = None, board: str = "pynq-z2",
                  design_dir: Path | None = None, progress: bool = True, input_shape=None) -> dict:
    """Run ``model`` (an ONNX file) on the simulated accelerator for every input and compare it
    with onnxruntime's float result and the numpy int8 reference (see the module docstring).

    Returns ``{"design", "clock_mhz", "inputs", "top1", "top5", "max_abs_error", "bit_exact",
    "accelerator_seconds", "cpu_seconds", "table", "predictions", "reference_predictions"}``:
    agreements as fractions of the inputs, times per input (mean), ``table`` the per-layer
    table of the first input, and per input the int8 result's best class and onnxruntime's.
    """
    try:
        network = get_network(str(model), input_shape)
        check_runnable(network)
    except (NetworkError, BuildError) as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    xs = _batch(inputs, tuple(network.input_shape), "input")
    cal = xs if calibration is None else _batch(calibration, tuple(network.input_shape), "calibration data")
    if not network.weights:
        raise UsageError(f"{model} has no weights, so there is nothing to check")
    design_dir = _design_for(network, model, board, design_dir, input_shape)
    try:
        qnet = quantize_network(network, cal)
    except QuantizationError as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    top1 = top5 = 0
    max_err = 0.0
    exact = True
    acc_s = cpu_s = 0.0
    first_table = None
    predictions, reference_predictions = [], []
    with simulated(design_dir) as accel:
        bar = tqdm(total=len(xs), desc="inputs", unit="input", disable=not progress, file=sys.stderr)
        for x in xs:
            want = sess.run(None, {in_name: x[None]})[0].ravel().astype(np.float64)
            y, table = run_network(qnet, x, accel, plan=design_dir)
            ref, _ = run_network(qnet, x)
            exact &= bool(np.array_equal(y, ref))
            got = qnet.dequantize(y).ravel()
            if got.shape != want.shape:
                raise UsageError(f"the network's output has {got.size} values, onnxruntime's {want.size}")
            max_err = max(max_err, float(np.abs(got - want).max()))
            top1 += int(got.argmax() == want.argmax())
            predictions.append(int(got.argmax()))
            reference_predictions.append(int(want.argmax()))
            top5 += int(want.argmax() in np.argsort(-got, kind="stable")[:5])
            acc_s += sum(r["seconds"] for r in table if r["runs_on"] == "accelerator")
            cpu_s += sum(r["seconds"] for r in table if r["runs_on"] == "cpu")
            first_table = first_table or table
            bar.update(1)
        bar.close()
        clock = accel.info.clock_mhz
    n = len(xs)
    return {"design": str(design_dir), "clock_mhz": clock, "inputs": n, "top1": top1 / n, "top5": top5 / n,
            "max_abs_error": max_err, "output_scale": qnet.output_scale, "bit_exact": exact,
            "accelerator_seconds": acc_s / n, "cpu_seconds": cpu_s / n, "table": first_table,
            "predictions": predictions, "reference_predictions": reference_predictions}


def _network_main(model: Path, input_path: Path | None, calibration_path: Path | None, board: str,
                  design_dir: Path | None, as_json: bool, input_shape=None) -> int:
    if input_path is None:
        raise UsageError("--network needs --input (a .npy file of one [C, H, W] image or [N, C, H, W] images)")
    inputs = _load_array(input_path, "input")
    cal = _load_array(calibration_path, "calibration data") if calibration_path is not None else None
    r = check_network(model, inputs, cal, board, design_dir, progress=not as_json, input_shape=input_shape)
    if as_json:
        print(json.dumps({k: v for k, v in r.items() if k != "table"} | {"layers": r["table"]}, indent=1, default=str))
    else:
        print(format_table(r["table"]))
        print(f"{model.name} on {r['design']} ({r['inputs']} inputs):")
        print(f"  top-1 agreement with onnxruntime (float): {100 * r['top1']:.1f} %")
        print(f"  top-5 agreement with onnxruntime (float): {100 * r['top5']:.1f} %")
        print(f"  largest absolute error: {r['max_abs_error']:.4g} (output step {r['output_scale']:.4g})")
        print(f"  bit-exact against the numpy int8 reference: {'yes' if r['bit_exact'] else 'NO'}")
        print(f"  accelerator time per input: {1e3 * r['accelerator_seconds']:.3f} ms at {r['clock_mhz']:g} MHz "
              f"(CPU layers: {1e3 * r['cpu_seconds']:.3f} ms wall time in numpy on this machine)")
    return 0 if r["bit_exact"] else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.run", description=__doc__.split("\n\n")[1].replace("\n", " "))
    ap.add_argument("design_dir", type=Path, nargs="?", default=None,
                    help="a deploy folder written by python -m dse.build (with --network: optional)")
    ap.add_argument("--network", type=Path, default=None,
                    help="an ONNX model to run whole on real inputs against onnxruntime (see --input)")
    ap.add_argument("--input", type=Path, default=None, help="with --network: .npy of one [C,H,W] image or [N,C,H,W]")
    ap.add_argument("--calibration", type=Path, default=None,
                    help="with --network: .npy of [N,C,H,W] calibration images (default: the inputs)")
    ap.add_argument("--board", default="pynq-z2", help="with --network and no DESIGN_DIR: the board to build for")
    ap.add_argument("--input-shape", default=None, metavar="1,C,H,W",
                    help="with --network: the input size of an ONNX model whose height, width (or channels) are symbolic")
    ap.add_argument("--layer", default="all", help="layer name, or 'all' (default) for every accelerated layer")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--max-rows", type=int, default=None, help="cut every run to this many input rows (quick check)")
    args = ap.parse_args(argv)
    if args.network is not None:
        try:
            return _network_main(args.network, args.input, args.calibration, args.board, args.design_dir, args.json,
                                 args.input_shape)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.design_dir is None:
        ap.error("a DESIGN_DIR (or --network) is required")
    try:
        if args.max_rows is not None and args.max_rows < 1:
            raise UsageError(f"--max-rows must be at least 1, got {args.max_rows}")
        design = _load(args.design_dir)
        layers = _select(design, args.layer)
        if not layers:
            raise UsageError("this design runs no layer on the accelerator")
        results = simulate_layers(args.design_dir, layers, seed=args.seed, max_rows=args.max_rows, progress=not args.json)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"{'layer':14} {'runs':>4} {'cycles':>12} {'predicted':>12} {'model err':>9} {'time ms':>9} {'GOP/s':>8} {'bit-exact':>9}")
        for r in results:
            print(f"{r['layer']:14} {r['runs']:4} {r['cycles']:12} {r['predicted_cycles']:12} {100 * r['model_error']:8.1f}% "
                  f"{1e3 * r['seconds']:9.3f} {r['gops']:8.2f} {'yes' if r['bit_exact'] else 'NO':>9}")
        print(f"(GOP/s at the design clock of {results[0]['clock_mhz']:g} MHz"
              + (f"; runs cut to {args.max_rows} input rows, so the pipelines and Winograd tiles run partly empty "
                 "and GOP/s is below the whole layer's" if args.max_rows else "") + ")")
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
