"""The built-in network zoo and :func:`get_network` (a zoo name or an ONNX file).

Zoo (``ZOO``; shapes are asserted in ``tests/unit/test_dse_networks.py``):

* ``vgg16``: Simonyan & Zisserman configuration D, 224x224x3 input, 13 conv + 3 FC.
* ``alexnet``: the single-tower variant of torchvision (Krizhevsky 2014, "One weird trick"):
  conv 64/192/384/256/256, 224x224 input, no grouped convolutions.
* ``resnet18``: He et al. 2016, torchvision layout (1x1 stride-2 projection shortcuts).
* ``tiny-yolo``: Tiny YOLOv2 for VOC (darknet ``yolov2-tiny-voc.cfg``), 416x416 input, 9 conv
  layers with leaky ReLU (applied on the CPU: the requantiser implements ReLU only), 6 max-pools.
* ``lenet``: LeNet-5 for MNIST, 1x28x28 input (conv 5x5 pad 2, max-pool, conv 5x5, max-pool,
  FC 120/84/10).
* ``digits-cnn``: the demo network of examples/ (scikit-learn's 8x8 digits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .graph import Network, NetworkBuilder, NetworkError, UnknownNetworkError
from .onnx_import import check_input_shape, load_onnx

__all__ = ["ZOO", "zoo_names", "get_network", "parse_input_shape", "vgg16", "alexnet", "resnet18", "tiny_yolo", "lenet", "digits_cnn"]


# ----- the zoo ---------------------------------------------------------------------------------

def vgg16() -> Network:
    b = NetworkBuilder("vgg16", (3, 224, 224), "Simonyan & Zisserman 2015, configuration D")
    blocks = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
    for i, (ch, reps) in enumerate(blocks, start=1):
        for j in range(1, reps + 1):
            b.conv(f"conv{i}_{j}", ch, 3, 1, 1)
        b.pool(f"pool{i}", 2, 2)
    b.fc("fc6", 4096)
    b.fc("fc7", 4096)
    b.fc("fc8", 1000, relu=False)
    return b.build()


def alexnet() -> Network:
    b = NetworkBuilder("alexnet", (3, 224, 224), "torchvision AlexNet (single-tower, Krizhevsky 2014)")
    b.conv("conv1", 64, 11, 4, 2)
    b.pool("pool1", 3, 2)
    b.conv("conv2", 192, 5, 1, 2)
    b.pool("pool2", 3, 2)
    b.conv("conv3", 384, 3, 1, 1)
    b.conv("conv4", 256, 3, 1, 1)
    b.conv("conv5", 256, 3, 1, 1)
    b.pool("pool5", 3, 2)
    b.fc("fc6", 4096)
    b.fc("fc7", 4096)
    b.fc("fc8", 1000, relu=False)
    return b.build()


def resnet18() -> Network:
    b = NetworkBuilder("resnet18", (3, 224, 224), "He et al. 2016, torchvision resnet18")
    b.conv("conv1", 64, 7, 2, 3)
    x = b.pool("pool1", 3, 2, 1)
    channels = 64
    for stage, out in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if (stage > 1 and block == 0) else 1
            prefix = f"layer{stage}_{block}"
            b.conv(f"{prefix}_conv1", out, 3, stride, 1, src=x)
            y = b.conv(f"{prefix}_conv2", out, 3, 1, 1, relu=False)
            shortcut = x
            if stride != 1 or channels != out:
                shortcut = b.conv(f"{prefix}_downsample", out, 1, stride, 0, relu=False, src=x)
            x = b.add(f"{prefix}_add", y, shortcut, relu=True)
            channels = out
    b.global_avgpool("avgpool")
    b.fc("fc", 1000, relu=False)
    return b.build()


def tiny_yolo() -> Network:
    b = NetworkBuilder("tiny-yolo", (3, 416, 416), "Tiny YOLOv2 VOC (darknet yolov2-tiny-voc.cfg)")
    for i, ch in enumerate((16, 32, 64, 128, 256, 512), start=1):
        b.conv(f"conv{i}", ch, 3, 1, 1, relu=False)
        b.activation(f"leaky{i}")
        if i < 6:
            b.pool(f"pool{i}", 2, 2)
        else:
            # darknet size=2 stride=1 max-pool pads one column/row on the bottom/right: 13 -> 13.
            _, (_, h, w) = b._shape(None)
            b.pool(f"pool{i}", 2, 1, out_size=(h, w))
    b.conv("conv7", 1024, 3, 1, 1, relu=False)
    b.activation("leaky7")
    b.conv("conv8", 1024, 3, 1, 1, relu=False)
    b.activation("leaky8")
    b.conv("conv9", 125, 1, 1, 0, relu=False)
    return b.build()


def lenet() -> Network:
    b = NetworkBuilder("lenet", (1, 28, 28), "LeNet-5 for MNIST (LeCun et al. 1998, 'same'-padded conv1)")
    b.conv("conv1", 6, 5, 1, 2)
    b.pool("pool1", 2, 2)
    b.conv("conv2", 16, 5, 1, 0)
    b.pool("pool2", 2, 2)
    b.fc("fc1", 120)
    b.fc("fc2", 84)
    b.fc("fc3", 10, relu=False)
    return b.build()


def digits_cnn() -> Network:
    """A small CNN for scikit-learn's 8x8 handwritten digits (``sklearn.datasets.load_digits``):
    conv 1->8 3x3 pad 1 + ReLU, max-pool 2, conv 8->16 3x3 pad 1 + ReLU, max-pool 2, FC 64->10.
    Trained weights: examples/digits_model.npz (examples/digits_train.py)."""
    b = NetworkBuilder("digits-cnn", (1, 8, 8), "convforge demo: sklearn 8x8 digits (examples/digits_train.py)")
    b.conv("conv1", 8, 3, 1, 1)
    b.pool("pool1", 2, 2)
    b.conv("conv2", 16, 3, 1, 1)
    b.pool("pool2", 2, 2)
    b.fc("fc", 10, relu=False)
    return b.build()


#: Zoo name -> builder. Names are the ``--network`` values of ``python -m dse.build``.
ZOO: dict[str, Callable[[], Network]] = {
    "vgg16": vgg16,
    "alexnet": alexnet,
    "resnet18": resnet18,
    "tiny-yolo": tiny_yolo,
    "lenet": lenet,
    "digits-cnn": digits_cnn,
}


def zoo_names() -> list[str]:
    return list(ZOO)


def parse_input_shape(shape) -> tuple[int, ...] | None:
    """``"1,3,224,224"`` (``--input-shape``), a sequence of ints or None -> a tuple (or None);
    NetworkError with one sentence for anything else."""
    if shape is None:
        return None
    parts = shape.replace("x", ",").split(",") if isinstance(shape, str) else list(shape)
    try:
        dims = tuple(int(str(p).strip()) for p in parts)
    except ValueError:
        raise NetworkError(f"--input-shape takes sizes separated by commas, e.g. 1,3,224,224; got {shape!r}") from None
    return check_input_shape(dims)


def get_network(name_or_path: str, input_shape=None) -> Network:
    """A zoo network by name, or an ONNX model by path (``*.onnx``, with its weights).
    ``input_shape`` (``"1,3,H,W"`` or a tuple): the size of an ONNX model's input where the model
    leaves it symbolic (:func:`dse.onnx_import.load_onnx`); zoo networks have fixed sizes."""
    key = name_or_path.strip()
    shape = parse_input_shape(input_shape)
    if key.lower() in ZOO:
        if shape is not None:
            net = ZOO[key.lower()]()
            if tuple(shape[1:]) != tuple(net.input_shape):
                raise NetworkError(f"--input-shape applies to ONNX models: the zoo network {net.name} has the fixed "
                                   f"input {'x'.join(map(str, net.input_shape))}")
            return net
        return ZOO[key.lower()]()
    if key.lower().endswith(".onnx"):
        return load_onnx(key, shape)
    if Path(key).is_dir():
        raise UnknownNetworkError(f"{name_or_path!r} is a folder: --network takes a zoo name ({', '.join(ZOO)}) "
                                  "or a path to an .onnx file")
    raise UnknownNetworkError(
        f"unknown network {name_or_path!r}: use one of {', '.join(ZOO)} or a path to an .onnx file")
