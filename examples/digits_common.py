"""What the digits demo's scripts share: the data split, the trained weights, quantisation, evaluation.

The data set is scikit-learn's bundled 8x8 handwritten digits (``sklearn.datasets.load_digits``:
1,797 images, pixel values 0..16, read from the installed package, no download). Images are
scaled to ``[0, 1]`` and shaped ``[1, 8, 8]``. The split is fixed: a seeded permutation
(:data:`SPLIT_SEED`) puts :data:`TEST_SIZE` images in the held-out set and the rest in the
training set; the training script, the demo scripts and the tests all use :func:`load_split`.

The network is ``dse.networks.get_network("digits-cnn")`` (conv 1->8 3x3 pad 1 + ReLU, max-pool 2,
conv 8->16 3x3 pad 1 + ReLU, max-pool 2, FC 64->10); its float weights are in
``examples/digits_model.npz`` (written by ``examples/digits_train.py``). Quantisation is the
driver's post-training int8 scheme (``drivers.quantize_network``) calibrated on the first
:data:`CALIBRATION_SIZE` training images.

Used by examples/digits_train.py, digits_sim.py, digits_board.py and tests/test_digits_demo.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drivers import float_forward, quantize_network, run_network
from drivers.model_file import save_network
from dse.networks import get_network

__all__ = ["NETWORK", "MODEL_PATH", "SPLIT_SEED", "TEST_SIZE", "CALIBRATION_SIZE", "BOARD_FILE", "load_split",
           "load_weights", "design_name", "run_demo", "save_weights", "quantized_model", "float_predictions",
           "Evaluation", "evaluate", "accuracy", "export_for_board"]

NETWORK = "digits-cnn"
MODEL_PATH = Path(__file__).resolve().parent / "digits_model.npz"
#: Seed of the permutation that splits the 1,797 images into training and held-out sets.
SPLIT_SEED = 2024
#: Held-out images (20 % of the data set).
TEST_SIZE = 360
#: Training images whose float activations set the int8 scales.
CALIBRATION_SIZE = 256
#: What examples/digits_board.py reads from the deploy folder (:func:`export_for_board`).
BOARD_FILE = "digits-int8.npz"
#: The layers that carry weights, in the order digits_model.npz stores them.
WEIGHT_LAYERS = ("conv1", "conv2", "fc")


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: float64 images ``[N, 1, 8, 8]`` in ``[0, 1]`` and
    int64 labels, split by a fixed seeded permutation (module docstring)."""
    # scikit-learn (the dev extra) is needed only where the data set is loaded, not on the board.
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float64) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    test, train = order[:TEST_SIZE], order[TEST_SIZE:]
    return x[train], y[train], x[test], y[test]


def save_weights(weights: dict, path: Path = MODEL_PATH, **metadata) -> None:
    """Write ``{layer: {"weight", "bias"}}`` (float32) and scalar metadata to a compressed npz."""
    arrays = {}
    for name in WEIGHT_LAYERS:
        arrays[f"{name}.weight"] = np.asarray(weights[name]["weight"], dtype=np.float32)
        arrays[f"{name}.bias"] = np.asarray(weights[name]["bias"], dtype=np.float32)
    for key, value in metadata.items():
        arrays[f"meta.{key}"] = np.asarray(value)
    np.savez_compressed(path, **arrays)


def load_weights(path: Path = MODEL_PATH) -> tuple[dict, dict]:
    """``(weights, metadata)``: weights in the form of ``Network.weights`` (float64; conv
    ``[M, C, K, K]``, fc ``[M, N]`` with ``N`` in C-major ``[C, H, W]`` order) and the training
    script's metadata (seed, epochs, accuracies)."""
    with np.load(path) as data:
        weights = {name: {"weight": data[f"{name}.weight"].astype(np.float64),
                          "bias": data[f"{name}.bias"].astype(np.float64)} for name in WEIGHT_LAYERS}
        meta = {k[len("meta."):]: data[k].item() if data[k].ndim == 0 else data[k] for k in data.files
                if k.startswith("meta.")}
    return weights, meta


def quantized_model(weights: dict, x_train: np.ndarray, calibration_size: int = CALIBRATION_SIZE):
    """The int8 network: ``drivers.quantize_network`` calibrated on the first training images."""
    return quantize_network(get_network(NETWORK), x_train[:calibration_size], weights)


def float_predictions(weights: dict, images: np.ndarray) -> np.ndarray:
    """Classes predicted by the float64 reference forward pass (``drivers.float_forward``)."""
    net = get_network(NETWORK)
    return np.array([int(np.argmax(float_forward(net, x, weights))) for x in images], dtype=np.int64)


def accuracy(predictions, labels) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


@dataclass
class Evaluation:
    """The int8 network on a set of images, through ``drivers.run_network``.

    ``outputs``: int8 logits ``[N, 10]``; ``predictions``: their argmax (the first maximum on a
    tie, as numpy's argmax); ``tables``: the per-layer run table of every image;
    ``accelerator_seconds``: per image, the accelerator's time at its clock (sum of the layers'
    CYCLES counters / clock; 0 without an accelerator); ``wall_seconds``: wall time per image.
    """

    outputs: np.ndarray
    predictions: np.ndarray
    tables: list = field(repr=False)
    accelerator_seconds: np.ndarray
    accelerator_cycles: np.ndarray
    wall_seconds: np.ndarray

    def layers_on(self, where: str) -> list[str]:
        """Names of the layers that ran on ``where`` ("accelerator" or "cpu") for every image."""
        names = [r["name"] for r in self.tables[0]]
        return [n for i, n in enumerate(names) if all(t[i]["runs_on"] == where for t in self.tables)]


def evaluate(qnet, images: np.ndarray, accel=None, plan=None, progress=None) -> Evaluation:
    """Run ``qnet`` on every image (numpy only when ``accel`` is None, else conv/fc layers on the
    accelerator as ``plan`` places them); ``progress(i, n)`` is called after each image."""

    outputs, tables, acc_s, acc_c, wall = [], [], [], [], []
    for i, x in enumerate(images):
        t0 = time.perf_counter()
        y, table = run_network(qnet, x, accel, plan=plan)
        wall.append(time.perf_counter() - t0)
        outputs.append(np.asarray(y).reshape(-1))
        tables.append(table)
        on_acc = [r for r in table if r["runs_on"] == "accelerator"]
        acc_s.append(sum(r["seconds"] for r in on_acc))
        acc_c.append(sum(r["cycles"] or 0 for r in on_acc))     # fused layers: no run, no cycles
        if progress is not None:
            progress(i + 1, len(images))
    out = np.array(outputs, dtype=np.int8)
    return Evaluation(out, np.argmax(out, axis=1).astype(np.int64), tables, np.array(acc_s, dtype=np.float64),
                      np.array(acc_c, dtype=np.int64), np.array(wall, dtype=np.float64))


# ----- the demo itself (both scripts: the board's and the simulation's) --------------------------

def design_name(design_dir) -> str:
    """The bitstream/Verilog name of a deploy folder (design.json ``name``)."""
    import json

    return json.loads((Path(design_dir) / "design.json").read_text())["name"]


def run_demo(accel, design_dir, images: int | None = None, backend: str = "simulation", log=print) -> dict:
    """The whole demo on one accelerator (a ``drivers.ConvAccelerator`` on the board or a
    ``sim.backends.simulated`` one): float, int8-numpy and accelerator accuracy on the held-out set
    (its first ``images`` images, or all), asserting that the accelerator's int8 outputs equal
    the numpy reference's on every image. ``backend`` names what runs the IP in the report
    ("board", "simulation"). Logs a short report; returns the figures as a dict."""
    x_train, _, x_test, y_test = load_split()
    if images is not None:
        x_test, y_test = x_test[:images], y_test[:images]
    weights, meta = load_weights()
    qnet = quantized_model(weights, x_train)
    log(f"digits-cnn, {len(x_test)} held-out images; weights from {MODEL_PATH.name} "
        f"(seed {meta.get('seed')}, {meta.get('epochs')} epochs)")

    float_pred = float_predictions(weights, x_test)
    reference = evaluate(qnet, x_test)                       # int8, numpy only (sim.reference)

    def progress(i, n):
        if i % 50 == 0 or i == n:
            log(f"  accelerator: {i}/{n} images")

    on_ip = evaluate(qnet, x_test, accel, plan=design_dir, progress=progress)
    mismatches = int(np.sum(np.any(on_ip.outputs != reference.outputs, axis=1)))
    assert mismatches == 0, f"the accelerator's int8 outputs differ from the numpy reference on {mismatches} images"
    assert np.array_equal(on_ip.predictions, reference.predictions)

    info = accel.info
    accelerated = on_ip.layers_on("accelerator")
    cycles = {r["name"]: r["cycles"] for r in on_ip.tables[0] if r["runs_on"] == "accelerator" and r["runs"]}
    result = {
        "images": int(len(x_test)),
        "float_accuracy": accuracy(float_pred, y_test),
        "int8_accuracy": accuracy(reference.predictions, y_test),
        "accelerator_accuracy": accuracy(on_ip.predictions, y_test),
        "identical_outputs": mismatches == 0,
        "clock_mhz": info.clock_mhz,
        "config": f"{info.engine} pm={info.pm} pn={info.pn}",
        "accelerated_layers": accelerated,
        "cpu_layers": on_ip.layers_on("cpu"),
        "cycles_per_image": int(np.median(on_ip.accelerator_cycles)),
        "cycles_min_max": [int(on_ip.accelerator_cycles.min()), int(on_ip.accelerator_cycles.max())],
        "accelerator_seconds_per_image": float(np.median(on_ip.accelerator_seconds)),
        "layer_cycles": cycles,
        "wall_seconds_per_image": float(np.mean(on_ip.wall_seconds)),
    }
    log("| layer | kind | ran on | mapping | cycles | time |")
    log("| --- | --- | --- | --- | ---: | ---: |")
    for r in on_ip.tables[0]:
        when = f"{1e6 * r['seconds']:.2f} us" + (" (this PC's numpy)" if r["runs_on"] == "cpu" else "")
        log(f"| {r['name']} | {r['kind']} | {r['runs_on']} | {r['mapping']} | {r['cycles'] if r['cycles'] is not None else '-'} "
            f"| {when} |")
    log("")
    log("| quantity | value |")
    log("| --- | --- |")
    log(f"| held-out images | {result['images']} |")
    log(f"| float accuracy (float64 numpy) | {result['float_accuracy']:.4f} |")
    log(f"| int8 accuracy, numpy reference | {result['int8_accuracy']:.4f} |")
    log(f"| int8 accuracy, accelerator | {result['accelerator_accuracy']:.4f} |")
    log(f"| accelerator outputs == numpy int8 outputs | {'yes, all ' + str(result['images']) + ' images' if result['identical_outputs'] else 'NO'} |")
    log(f"| design | {result['config']}, {info.clock_mhz:g} MHz |")
    log(f"| layers on the accelerator | {', '.join(accelerated)} |")
    log(f"| accelerator cycles per image | {result['cycles_per_image']} "
        f"({', '.join(f'{k} {v}' for k, v in cycles.items())}) |")
    log(f"| accelerator latency per image | {1e6 * result['accelerator_seconds_per_image']:.2f} us at {info.clock_mhz:g} MHz |")
    log(f"| wall time per image (driver + CPU layers + {backend}) | "
        f"{1e3 * result['wall_seconds_per_image']:.1f} ms |")
    return result


def export_for_board(design_dir) -> Path:
    """Write :data:`BOARD_FILE` into the deploy folder ``design_dir``: the int8 network
    (``drivers.model_file``), the held-out images and labels and the float model's predictions,
    everything examples/digits_board.py needs besides the runtime, numpy and pynq."""
    x_train, _, x_test, y_test = load_split()
    weights, _ = load_weights()
    qnet = quantized_model(weights, x_train)
    return save_network(qnet, Path(design_dir) / BOARD_FILE, images=x_test.astype(np.float32), labels=y_test,
                        float_predictions=float_predictions(weights, x_test))
