"""Export torchvision models to ONNX with both of torch's exporters, with the inputs to check them on.

    pip install -e ".[export]"          # torch, torchvision, onnxscript (not needed by CI)
    python bench/export_torchvision.py [--out build/zoo] [--models resnet18,...] [--inputs 20]

For each model of :data:`MODELS` (torchvision's architecture, random weights from torchvision's
own initialisation, seed 0) and each exporter it names (``torchscript``: ``torch.onnx.export(...,
dynamo=False)``, opset 17; ``dynamo``: ``dynamo=True``, opset 18), writes

* ``<out>/<model>-<exporter>-<size>.onnx`` at the reduced input size the simulation uses, and
* ``<out>/<model>-<exporter>-224.onnx`` at ImageNet's 224 x 224 (what the DSE builds for),

and ``<out>/inputs-<size>.npy`` (``--inputs`` images, ``[N, 3, size, size]`` float32) and
``<out>/calibration-<size>.npy`` (as many more from the same distribution), each with its labels
(``-labels.npy``).

Weights: torchvision's random initialisation (seed 0), then trained briefly on a synthetic task
of :data:`CLASSES` classes (Adam, the steps :data:`MODELS` gives, of :data:`BATCH` images). VGG-16, at 224 x 224 too slow
to train whole on a CPU, trains its classifier on the frozen convolutional features of
:data:`FROZEN_IMAGES` images, and is torchvision's ``vgg16_bn``: its BatchNormalization
statistics are set from the data, and the exporter folds them into the convolutions, so the graph
is VGG-16's. Plain ``vgg16`` with random features cannot be trained that way: after 13 random
convolutions and ReLUs without normalisation the images' features are nearly parallel (the
classifier stayed at chance, loss 2.36 = ln 10).
Random weights alone do not make a usable check: a freshly initialised network with its
BatchNormalization statistics set to the data amplifies any perturbation from layer to layer
(perturbing only the weights by their int8 rounding, in float, changes MobileNet-v2's logits by
53 % and ResNet-18's by 6 %), and a random 1000-way head decides by margins of 1-5 % of the
logits' range. After training, the same weight rounding changes MobileNet-v2's logits by 0.7 %,
as with a network trained on real data, so the int8 check measures the accelerator and the
quantiser, not the initialisation. The head keeps its 1000 outputs; the task uses the first
:data:`CLASSES`.

The data: each class is a low-frequency random image (a 1/4-size normal draw, upsampled
bilinearly, so neighbouring pixels are correlated as in photographs); a sample is its class's
image plus low-frequency noise of :data:`NOISE` times its amplitude. The checked inputs
(seed 1), the calibration set (seed 2) and the training batches (seeds from 100) are separate
draws.

``bench/bench_zoo.py`` builds and runs what this writes; ``models.json`` in ``--out`` lists it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent

#: model -> (torchvision constructor keyword arguments, exporters, reduced input size, training
#: steps). The sizes keep every layer's output at least 1 x 1 and make adaptive pooling a
#: whole-number average (VGG's AdaptiveAvgPool2d(7) needs a 7-multiple feature map: 224).
#: SqueezeNet, without BatchNormalization and with a ReLU before its pooled 1x1 classifier, needs
#: more steps (62 % float accuracy after 100, 100 % after 300).
MODELS = {
    "resnet18": ({}, ("torchscript", "dynamo"), 64, 100),
    "mobilenet_v2": ({}, ("torchscript", "dynamo"), 64, 100),
    "vgg16_bn": ({}, ("torchscript",), 224, 100),
    "squeezenet1_1": ({}, ("torchscript",), 64, 300),
    "densenet121": ({}, ("torchscript",), 64, 100),
    "googlenet": ({"aux_logits": False, "init_weights": True}, ("torchscript",), 64, 100),
}

OPSET = {"torchscript": 17, "dynamo": 18}


#: Classes of the synthetic task, the noise amplitude of a sample relative to its class image,
#: and the training run: images per step, Adam learning rate (Adam, since the models without
#: BatchNormalization -- VGG-16, SqueezeNet -- diverge or stall under one SGD rate that suits the others).
CLASSES, NOISE = 10, 0.75
BATCH, LR = 32, 1e-3
#: Images whose frozen features train a classifier-only model (VGG-16).
FROZEN_IMAGES = 160
#: Of those, the images that set the frozen part's BatchNormalization statistics.
BN_IMAGES = 32


def _smooth(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    small = torch.randn(n, 3, max(2, size // 4), max(2, size // 4), generator=g)
    return torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)


def images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(images [n, 3, size, size] float32, labels [n])`` of the synthetic task (module docstring)."""
    prototypes = _smooth(CLASSES, size, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    x = prototypes[labels] + NOISE * _smooth(n, size, g)
    return x.numpy(), labels.numpy()


def train(model: torch.nn.Module, size: int, steps: int, classifier_only: bool) -> float:
    """Train ``model`` on the synthetic task; returns the last step's loss. ``classifier_only``:
    the convolutional part (``model.features`` + ``model.avgpool``) is frozen, run once on
    :data:`FROZEN_IMAGES` images, and the classifier is trained on those features."""
    params = model.classifier.parameters() if classifier_only else model.parameters()
    # A 25088-input classifier trained alone on few images needs a smaller step.
    opt = torch.optim.Adam(params, lr=LR / 10 if classifier_only else LR)
    model.train()
    if classifier_only:
        # BatchNormalization statistics from the data first (cumulative average), then the
        # features in evaluation mode, as the exported graph computes them.
        x, labels = images(FROZEN_IMAGES, size, seed=100)
        for bn in (m for m in model.features.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
            bn.reset_running_stats()
            bn.momentum = None
        with torch.no_grad():
            for k in range(0, BN_IMAGES, 8):
                model.features(torch.from_numpy(x[k:k + 8]))
            model.features.eval()
            features = torch.cat([torch.flatten(model.avgpool(model.features(torch.from_numpy(x[k:k + 8]))), 1)
                                  for k in range(0, FROZEN_IMAGES, 8)])
        labels = torch.from_numpy(labels).long()
    loss = torch.zeros(())
    for step in range(steps):
        if classifier_only:
            pick = torch.randperm(FROZEN_IMAGES, generator=torch.Generator().manual_seed(step))[:BATCH]
            out, target = model.classifier(features[pick]), labels[pick]
        else:
            x, y = images(BATCH, size, seed=100 + step)
            out, target = model(torch.from_numpy(x)), torch.from_numpy(y).long()
        loss = torch.nn.functional.cross_entropy(out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def build_model(name: str, kwargs: dict, size: int, steps: int) -> tuple[torch.nn.Module, float]:
    """torchvision's ``name`` with seed-0 random weights, trained (module docstring); and its loss."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    loss = train(model, size, steps, classifier_only=name.startswith("vgg"))
    return model.eval(), loss


def accuracy(model: torch.nn.Module, x: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        y = torch.cat([model(torch.from_numpy(x[k:k + 8])) for k in range(0, len(x), 8)])
    return float((y.argmax(1).numpy() == labels).mean())


def export(model: torch.nn.Module, size: int, exporter: str, path: Path) -> None:
    x = torch.zeros(1, 3, size, size)
    # The dynamo exporter would write big weights to a side file; one self-contained .onnx instead.
    options = {"dynamo": True, "external_data": False} if exporter == "dynamo" else {"dynamo": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), opset_version=OPSET[exporter], input_names=["input"],
                          output_names=["logits"], **options)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "zoo")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    ap.add_argument("--inputs", type=int, default=40, help="images to check each model on (default 40)")
    args = ap.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    listing_path = args.out / "models.json"
    listing = json.loads(listing_path.read_text()) if listing_path.is_file() else {}
    checked = {}  # size -> (inputs, labels), written once per size
    for name in names:
        kwargs, exporters, size, steps = MODELS[name]
        if size not in checked:
            for kind, seed in (("inputs", 1), ("calibration", 2)):
                x, labels = images(args.inputs, size, seed)
                np.save(args.out / f"{kind}-{size}.npy", x)
                np.save(args.out / f"{kind}-{size}-labels.npy", labels)
                if kind == "inputs":
                    checked[size] = (x, labels)
        t0 = time.time()
        model, loss = build_model(name, kwargs, size, steps)
        acc = accuracy(model, *checked[size])
        print(f"{name}: trained in {time.time() - t0:.0f} s, last loss {loss:.4f}, float accuracy on the inputs "
              f"{100 * acc:.0f} %", file=sys.stderr, flush=True)
        for exporter in exporters:
            entry = {"model": name, "exporter": exporter, "size": size, "opset": OPSET[exporter],
                     "train_loss": loss, "float_accuracy": acc, "classes": CLASSES,
                     "inputs": f"inputs-{size}.npy", "calibration": f"calibration-{size}.npy",
                     "torch": torch.__version__, "torchvision": torchvision.__version__}
            for s in sorted({size, 224}):
                path = args.out / f"{name}-{exporter}-{s}.onnx"
                print(f"exporting {path.name}", file=sys.stderr, flush=True)
                export(model, s, exporter, path)
                entry["run" if s == size else "build"] = path.name
            entry.setdefault("build", entry["run"])
            listing[f"{name}-{exporter}"] = entry
        listing_path.write_text(json.dumps(listing, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
