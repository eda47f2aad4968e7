"""Network zoo: exact layer shapes and MAC counts against the published figures, and validation."""

import pytest

from dse.graph import Layer, Network, NetworkError, UnknownNetworkError
from dse.networks import get_network, zoo_names


def shapes(net, kinds=("conv",)):
    return [(l.name, l.in_channels, l.out_channels, l.height, l.width, l.out_height, l.out_width, l.kernel, l.stride,
             l.padding) for l in net.layers if l.kind in kinds]


def test_zoo_names_match_the_spec():
    assert set(zoo_names()) >= {"vgg16", "alexnet", "resnet18", "tiny-yolo", "lenet"}


def test_vgg16_shapes_and_15_35_gmacs():
    net = get_network("vgg16")
    expected = []
    size, c = 224, 3
    for block, (m, reps) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for j in range(1, reps + 1):
            expected.append((f"conv{block}_{j}", c, m, size, size, size, size, 3, 1, 1))
            c = m
        size //= 2
    assert shapes(net) == expected
    assert [(l.name, l.in_channels, l.out_channels) for l in net.layers if l.kind == "fc"] == [
        ("fc6", 25088, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)]
    assert sum(l.macs for l in net.conv_layers) == 15_346_630_656  # "15.35 GMACs"
    assert net.macs == 15_470_264_320  # with the FC layers: 15.47 GMACs, 30.94 GOP
    assert net.layer("conv3_1").macs == 128 * 256 * 9 * 56 * 56
    assert net.output_shape == (1000, 1, 1)


def test_alexnet_torchvision_shapes():
    net = get_network("alexnet")
    assert shapes(net) == [
        ("conv1", 3, 64, 224, 224, 55, 55, 11, 4, 2),
        ("conv2", 64, 192, 27, 27, 27, 27, 5, 1, 2),
        ("conv3", 192, 384, 13, 13, 13, 13, 3, 1, 1),
        ("conv4", 384, 256, 13, 13, 13, 13, 3, 1, 1),
        ("conv5", 256, 256, 13, 13, 13, 13, 3, 1, 1),
    ]
    assert net.layer("fc6").in_channels == 256 * 6 * 6
    assert net.macs == 714_188_480  # torchvision: 0.71 GMACs


def test_resnet18_shapes_and_1_81_gmacs():
    net = get_network("resnet18")
    convs = shapes(net)
    assert convs[0] == ("conv1", 3, 64, 224, 224, 112, 112, 7, 2, 3)
    assert len(convs) == 20  # 1 + 16 + 3 projection shortcuts
    assert ("layer2_0_downsample", 64, 128, 56, 56, 28, 28, 1, 2, 0) in convs
    assert ("layer4_1_conv2", 512, 512, 7, 7, 7, 7, 3, 1, 1) in convs
    adds = [l for l in net.layers if l.kind == "add"]
    assert len(adds) == 8 and adds[0].inputs == ("layer1_0_conv2", "pool1")
    assert net.macs == 1_814_073_344  # torchvision: 1.81 GMACs


def test_tiny_yolo_v2_voc_shapes_and_6_97_bflops():
    net = get_network("tiny-yolo")
    convs = shapes(net)
    assert [c[2] for c in convs] == [16, 32, 64, 128, 256, 512, 1024, 1024, 125]
    assert convs[0] == ("conv1", 3, 16, 416, 416, 416, 416, 3, 1, 1)
    assert convs[-1] == ("conv9", 1024, 125, 13, 13, 13, 13, 1, 1, 0)
    assert net.layer("pool6").out_height == 13 and net.layer("pool6").stride == 1
    assert 2 * net.macs == 6_971_041_792  # darknet prints 6.97 BFLOPs
    assert sum(l.kind == "maxpool" for l in net.layers) == 6


def test_lenet_shapes():
    net = get_network("lenet")
    assert shapes(net, ("conv", "fc")) == [
        ("conv1", 1, 6, 28, 28, 28, 28, 5, 1, 2), ("conv2", 6, 16, 14, 14, 10, 10, 5, 1, 0),
        ("fc1", 400, 120, 1, 1, 1, 1, 1, 1, 0), ("fc2", 120, 84, 1, 1, 1, 1, 1, 1, 0), ("fc3", 84, 10, 1, 1, 1, 1, 1, 1, 0)]
    assert net.macs == 117_600 + 240_000 + 48_000 + 10_080 + 840


def test_inconsistent_networks_are_refused():
    good = Layer("c", "conv", 3, 8, 8, 8, 8, 8, 3, 1, 1)
    Network("ok", (3, 8, 8), (good,))
    with pytest.raises(NetworkError, match="does not match its producer"):
        Network("bad", (4, 8, 8), (good,))
    with pytest.raises(NetworkError, match="computed 6x6"):
        Network("bad", (3, 8, 8), (Layer("c", "conv", 3, 8, 8, 8, 8, 8, 3, 1, 0),))
    with pytest.raises(NetworkError, match="unique"):
        Network("bad", (3, 8, 8), (good, Layer("c", "relu", 8, 8, 8, 8, 8, 8, inputs=("c",))))
    with pytest.raises(UnknownNetworkError, match="unknown network 'vgg17'"):
        get_network("vgg17")
