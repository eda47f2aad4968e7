"""drivers.quantize and the numpy side of drivers.network: exact integer layers against
hand-computed values, the requantiser's (mult, shift) bounds, the float reference against ONNX's
own reference evaluator, and the accelerator mappings (strips, fc-as-1x1, embedded-3x3) against
sim.reference."""

import math

import numpy as np
import pytest

from drivers import network as dn
from drivers import ops
from drivers import float_model as fm
from drivers import quantize as q
from dse.graph import Network, NetworkBuilder
from dse.networks import get_network
from rtl.descriptor import Descriptor
from rtl.engine import DIRECT, WINOGRAD
from sim.reference import conv2d, requantize


# ----- fixed-point multipliers ---------------------------------------------------------------------

@pytest.mark.parametrize("ratio", [1e-9, 3.1e-7, 0.000123, 0.0071, 0.25, 0.5, 0.7313, 0.999999999, 1.0, 1.5,
                                   77.7, 12345.678, 2.0 ** -30, 1 - 2.0 ** -40])
def test_quantize_multiplier_is_the_largest_int32_multiplier(ratio):
    mult, shift = q.quantize_multiplier(ratio)
    assert 0 <= shift <= 63 and 0 <= mult < 2 ** 31
    # Rounding error at most half a unit in the last place of mult / 2^shift.
    assert abs(mult - ratio * 2.0 ** shift) <= 0.5
    assert 2 ** 30 <= mult, "not the largest multiplier: one more shift bit would still fit"
    assert abs(mult / 2.0 ** shift - ratio) / ratio <= 2.0 ** -31


def test_quantize_multiplier_edges():
    assert q.quantize_multiplier(0.0) == (0, 0)
    assert q.quantize_multiplier(1.0) == (1 << 30, 30)
    assert q.quantize_multiplier(0.5) == (1 << 30, 31)
    # Rounding up to 2^31 moves one bit into the shift.
    assert q.quantize_multiplier(1 - 2.0 ** -33) == (1 << 30, 30)
    # Tiny ratios pin the shift at 63 with a smaller multiplier.
    mult, shift = q.quantize_multiplier(1e-15)
    assert shift == 63 and mult == round(1e-15 * 2.0 ** 63)
    # Large ratios need a smaller shift; beyond 2^31 nothing fits.
    assert q.quantize_multiplier(3.0 * 2 ** 29) == (3 << 29, 0)
    with pytest.raises(q.QuantizationError):
        q.quantize_multiplier(2.0 ** 31)
    with pytest.raises(q.QuantizationError):
        q.quantize_multiplier(-0.5)
    # A narrower multiplier (build option): 2^14 <= mult < 2^15.
    assert q.quantize_multiplier(0.1, mult_bits=16) == (26214, 18)


def test_requantiser_with_chosen_multipliers_matches_the_real_scale():
    """acc * mult / 2^shift lands within 1/2 + tiny of acc * ratio for every int32-sized acc."""
    rng = np.random.default_rng(3)
    ratios = 10.0 ** rng.uniform(-6, -1, size=16)
    pairs = [q.quantize_multiplier(r) for r in ratios]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    acc = rng.integers(-(1 << 24), 1 << 24, size=(16, 50))
    y = requantize(acc, None, mult, shift, relu=False, out_bits=32)
    exact = acc * ratios[:, None]
    inside = np.abs(exact) < 2 ** 31 - 1
    assert np.all(np.abs(y - exact)[inside] <= 0.5 + np.abs(exact)[inside] * 2.0 ** -31 + 1e-9)


def test_add_and_leaky_multipliers():
    ma, mb, sh = q.add_multipliers(0.02, 0.05, 0.04)
    assert sh <= 63 and 2 ** 30 <= max(ma, mb) < 2 ** 31
    assert abs(ma / 2 ** sh - 0.5) < 2 ** -30 and abs(mb / 2 ** sh - 1.25) < 2 ** -30
    assert q.leaky_relu_multiplier(0.1) == (52429, 19)
    with pytest.raises(q.QuantizationError):
        q.leaky_relu_multiplier(1.5)


# ----- weights and activations ---------------------------------------------------------------------

def test_per_channel_weight_quantisation():
    w = np.array([[[[0.5, -1.0], [0.25, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]], [[[-0.003, 0.001], [0.002, 0.0005]]]])
    wq, scales = q.quantize_weights(w)
    assert wq.dtype == np.int8
    assert np.allclose(scales, [1.0 / 127, 1.0, 0.003 / 127])
    assert wq[0].ravel().tolist() == [64, -127, 32, 0]  # 63.5 rounds half to even: 64
    assert wq[1].ravel().tolist() == [0, 0, 0, 0]
    assert wq[2].ravel().tolist() == [-127, 42, 85, 21]  # 42.33, 84.67, 21.17
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 3, 3, 3)) * rng.uniform(0.01, 10, size=(8, 1, 1, 1))
    wq, s = q.quantize_weights(w)
    assert np.all(np.abs(wq).reshape(8, -1).max(axis=1) == 127)
    assert np.all(np.abs(wq * s[:, None, None, None] - w) <= s[:, None, None, None] / 2 + 1e-12)


def test_activation_scales():
    v = np.concatenate([np.linspace(-1, 1, 1001), [50.0]])
    assert q.activation_scale(v) == 50.0 / 127
    assert q.activation_scale(v, percentile=99.0) == pytest.approx(np.percentile(np.abs(v), 99) / 127)
    assert q.activation_scale(np.zeros(5)) == 1.0
    assert q.quantize_tensor([-3.0, -0.26, 0.25, 0.75, 1.0, 400.0], 0.5).tolist() == [-6, -1, 0, 2, 2, 127]


# ----- integer layers against hand-computed values ----------------------------------------------------

def test_maxpool_hand_computed():
    x = np.array([[[1, -5, 3, 2],
                   [4, 0, -1, -7],
                   [-128, -2, 127, 6],
                   [9, -3, 8, -9]]], dtype=np.int8)
    assert ops.maxpool(x, 2, 2).tolist() == [[[4, 3], [9, 127]]]
    # 3x3 windows, stride 2, padding 1: padding never wins, even against -128.
    assert ops.maxpool(x, 3, 2, 1).tolist() == [[[4, 3], [9, 127]]]
    neg = np.full((1, 2, 2), -128, dtype=np.int8)
    assert ops.maxpool(neg, 2, 1, 1).tolist() == [[[-128] * 3] * 3]
    # darknet 'same' 2x2 stride-1 pooling: 4x4 -> 4x4 with an extra bottom row / right column.
    assert ops.maxpool(x, 2, 1, 0, out_size=(4, 4)).tolist() == [[[4, 3, 3, 2], [4, 127, 127, 6],
                                                                 [9, 127, 127, 6], [9, 8, 8, -9]]]


def test_average_pools_round_half_up():
    x = np.array([[[1, 2, -3, -2],
                   [0, 0, 0, 0]],
                  [[-1, -2, 5, 5],
                   [-2, 0, 5, 6]]], dtype=np.int8)
    # Channel 0: (1+2+0+0)/4 = 0.75 -> 1, (-3-2)/4 = -1.25 -> -1; channel 1: -5/4 = -1.25 -> -1, 21/4 = 5.25 -> 5.
    assert ops.avgpool(x, 2, 2).tolist() == [[[1, -1]], [[-1, 5]]]
    y = np.array([[[1, 2]], [[-3, -2]], [[-1, -2]], [[3, 4]]], dtype=np.int8)  # means 1.5, -2.5, -1.5, 3.5
    assert ops.global_avgpool(y).ravel().tolist() == [2, -2, -1, 4]
    # Padding excluded from the divisor (ONNX default) or included.
    z = np.array([[[4, 8], [12, 16]]], dtype=np.int8)
    assert ops.avgpool(z, 2, 2, 1).tolist() == [[[4, 8], [12, 16]]]
    assert ops.avgpool(z, 2, 2, 1, count_include_pad=True).tolist() == [[[1, 2], [3, 4]]]
    assert ops.avgpool(z, 3, 1, 1).tolist() == [[[10, 10], [10, 10]]]


def test_add_relu_leaky_flatten_hand_computed():
    a = np.array([10, -10, 100, -100, 3], dtype=np.int8)
    b = np.array([1, 2, 100, -100, -4], dtype=np.int8)
    # y = (a * 3 + b * 2 + 2) >> 2 = round_half_up(0.75 a + 0.5 b)
    # 8.0 -> 8, -6.5 -> -6 (half up), 125, -125, 0.25 -> 0
    assert ops.add(a, b, 3, 2, 2).tolist() == [8, -6, 125, -125, 0]
    assert ops.add(a, b, 3, 2, 2, relu=True).tolist() == [8, 0, 125, 0, 0]
    # Saturation: 1.25 a + b.
    assert ops.add(a, b, 5, 4, 2).tolist() == [14, -10, 127, -128, 0]
    assert ops.relu(np.array([-128, -1, 0, 5, 127], dtype=np.int8)).tolist() == [0, 0, 0, 5, 127]
    m, s = q.leaky_relu_multiplier(0.1)
    x = np.array([-128, -100, -15, -5, -4, -1, 0, 1, 127], dtype=np.int8)
    # alpha = 52429 / 2^19 = 0.10000038: -12.80005 -> -13, -10.00004 -> -10, -1.500006 -> -2,
    # -0.500002 -> -1, -0.4 -> 0, -0.1 -> 0 (round half up of the exact product)
    assert ops.leaky_relu(x, m, s).tolist() == [-13, -10, -2, -1, 0, 0, 0, 1, 127]
    t = np.arange(12, dtype=np.int8).reshape(3, 2, 2)
    assert ops.flatten(t).ravel().tolist() == list(range(12)) and ops.flatten(t).shape == (12, 1, 1)


def test_softmax_int8():
    """Over the channels: the features of an fc layer's [N, 1, 1] output."""
    x = np.array([[[0]], [[10]], [[20]]], dtype=np.int8)
    p = np.exp([0.0, 1.0, 2.0])
    p /= p.sum()
    assert ops.softmax_int8(x, 0.1).ravel().tolist() == np.round(p * 127).astype(int).tolist()


# ----- accelerator mappings: the runs stitch back to the layer exactly --------------------------------

def _ql(kind, c, m, h, w, k, s, p, seed=0):
    rng = np.random.default_rng(seed)
    b = NetworkBuilder("t", (c, h, w))
    if kind == "conv":
        b.conv("L", m, k, s, p, relu=False)
        wt = rng.integers(-127, 128, size=(m, c, k, k), dtype=np.int8)
    else:
        b.fc("L", m, relu=False)
        wt = rng.integers(-127, 128, size=(m, c * h * w), dtype=np.int8)
    layer = b.build().layers[0]
    return q.QuantizedLayer(layer, (1.0,), 1.0, wt, np.ones(m), rng.integers(-900, 900, size=m).astype(np.int32),
                            rng.integers(1 << 14, 1 << 15, size=m).astype(np.int32), np.full(m, 19, dtype=np.int32))


def _stitched(ql, x, mapping, descriptors):
    runs, shape = dn.accelerator_runs(ql, x, mapping, descriptors)
    y = np.zeros(shape, dtype=np.int8)
    for r in runs:
        y[:, :, r.columns] = requantize(conv2d(r.x, r.w, r.stride, r.padding), ql.bias, ql.mult, ql.shift)
    return y, runs


@pytest.mark.parametrize("c,m,h,w,k,s,p,capacity", [(5, 4, 9, 23, 3, 1, 1, 20), (3, 6, 11, 30, 5, 2, 2, 17),
                                                     (9, 2, 4, 16, 1, 1, 0, 9), (4, 3, 7, 13, 3, 2, 0, 5)])
def test_column_strips_stitch_to_the_whole_layer(c, m, h, w, k, s, p, capacity):
    ql = _ql("conv", c, m, h, w, k, s, p, seed=c + k)
    x = np.random.default_rng(1).integers(-128, 128, size=(c, h, w), dtype=np.int8)
    strips = DIRECT.strips(Descriptor(c, m, h, w, k, s, p), 4, capacity, 0)
    assert strips is not None and len(strips) > 1
    y, runs = _stitched(ql, x, "native", [d.to_dict() for d in strips])
    assert len(runs) == len(strips) and all(r.padding == 0 for r in runs)
    assert np.array_equal(y, dn.run_layer_numpy(ql, [x]))


def test_fc_as_1x1_and_embedded_3x3():
    rng = np.random.default_rng(5)
    fc = _ql("fc", 6, 10, 2, 3, 1, 1, 0, seed=2)
    x = rng.integers(-128, 128, size=(6, 2, 3), dtype=np.int8)
    want = dn.run_layer_numpy(fc, [x])
    assert np.array_equal(want[:, 0, 0], requantize(fc.weight.astype(np.int64) @ x.reshape(-1), fc.bias, fc.mult, fc.shift))
    for mapping in ("fc-as-1x1", "embedded-3x3"):
        y, runs = _stitched(fc, x, mapping, [])
        assert np.array_equal(y, want), mapping
    assert runs[0].w.shape == (10, 36, 3, 3) and runs[0].padding == 1
    conv1x1 = _ql("conv", 7, 5, 6, 9, 1, 1, 0, seed=4)
    x = rng.integers(-128, 128, size=(7, 6, 9), dtype=np.int8)
    want = dn.run_layer_numpy(conv1x1, [x])
    y, _ = _stitched(conv1x1, x, "embedded-3x3", [])
    assert np.array_equal(y, want)
    # Embedded and cut in strips, as the DSE plans wide 1x1 layers on a Winograd build (m = 2).
    strips = WINOGRAD.strips(Descriptor(7, 5, 6, 9, 3, 1, 1), 4, 12, 2)
    assert len(strips) > 1
    y, _ = _stitched(conv1x1, x, "embedded-3x3", [d.to_dict() for d in strips])
    assert np.array_equal(y, want)
    with pytest.raises(ValueError, match="embed"):
        dn.accelerator_runs(_ql("conv", 3, 2, 5, 5, 3, 1, 1), x[:3, :5, :5], "embedded-3x3")
    with pytest.raises(ValueError, match="does not match"):
        dn.accelerator_runs(conv1x1, x, "native", [dict(in_channels=7, out_channels=5, height=6, width=8, kernel=1,
                                                        stride=1, padding=0)])


# ----- the float reference against ONNX's reference evaluator, and quantisation end to end ----------

def make_onnx_model(path, seed=0):
    """A small CNN with every operator the importer knows: Conv+Relu, 1x1 Conv+BatchNormalization,
    Add+Relu (residual), LeakyRelu(0.1), MaxPool, AveragePool, Flatten, Gemm, Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name, *shape, scale=0.3):
        return numpy_helper.from_array(rng.normal(0, scale, size=shape).astype(np.float32), name)

    inits = [init("w1", 12, 2, 3, 3), init("b1", 12, scale=0.1), init("w2", 12, 12, 1, 1), init("b2", 12, scale=0.1),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 12).astype(np.float32), "bn_s"),
             init("bn_b", 12, scale=0.1), init("bn_m", 12, scale=0.1),
             numpy_helper.from_array(rng.uniform(0.5, 2.0, 12).astype(np.float32), "bn_v"),
             init("w3", 16, 12, 3, 3, scale=0.15), init("b3", 16, scale=0.1), init("wf", 10, 64, scale=0.15),
             init("bf", 10, scale=0.1)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("BatchNormalization", ["c2", "bn_s", "bn_b", "bn_m", "bn_v"], ["n2"], name="bn2"),
        helper.make_node("Add", ["r1", "n2"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["rs"], name="relu_add"),
        helper.make_node("LeakyRelu", ["rs"], ["lk"], name="leaky", alpha=0.1),
        helper.make_node("MaxPool", ["lk"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("AveragePool", ["r3"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], name="fc", transB=1),
        helper.make_node("Softmax", ["g"], ["y"], name="softmax"),
    ]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return model


def test_float_reference_matches_onnx_reference_evaluator(tmp_path):
    from onnx.reference import ReferenceEvaluator

    model = make_onnx_model(tmp_path / "small.onnx")
    net = get_network(str(tmp_path / "small.onnx"))
    assert [l.kind for l in net.layers] == ["conv", "conv", "add", "leaky_relu", "maxpool", "conv", "avgpool", "fc",
                                            "softmax"]
    x = np.random.default_rng(9).normal(size=(1, 2, 12, 12)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = q.float_forward(net, x[0])
    assert got.shape == (10, 1, 1)
    assert np.allclose(got.ravel(), want.ravel(), rtol=1e-4, atol=1e-6)


def test_quantised_onnx_network_tracks_the_float_network(tmp_path):
    make_onnx_model(tmp_path / "small.onnx")
    net = get_network(str(tmp_path / "small.onnx"))
    rng = np.random.default_rng(4)
    calib = rng.normal(size=(8, 2, 12, 12))
    qnet = q.quantize_network(net, calib)
    conv3 = qnet["conv3"]
    assert conv3.weight.dtype == np.int8 and conv3.bias.dtype == np.int32
    assert np.all(conv3.mult >= 1 << 30) and np.all(conv3.mult < 1 << 31)
    ratio = conv3.weight_scale * conv3.in_scales[0] / conv3.out_scale
    assert np.all(np.abs(conv3.mult / 2.0 ** conv3.shift - ratio) <= ratio * 2.0 ** -31)
    assert qnet["leaky"].out_scale == qnet["add"].out_scale and qnet["pool1"].out_scale == qnet["add"].out_scale
    for x in rng.normal(size=(3, 2, 12, 12)):
        y, table = dn.run_network(qnet, x)
        assert [r["runs_on"] for r in table] == ["cpu"] * len(net.layers)
        p_int = qnet.dequantize(y).ravel()
        p_float = q.float_forward(net, x).ravel()
        assert np.abs(p_int - p_float).max() < 0.05, (p_int, p_float)
        # Hidden activations stay close too (a few quantisation steps).
        y_conv3, _ = dn.run_network(q.QuantizedNetwork(_prefix(net, "conv3"), qnet.input_scale, qnet.layers), x)
        f_conv3 = q.float_forward(net, x, return_all=True)["conv3"]
        assert np.abs(qnet.dequantize(y_conv3, "conv3") - f_conv3).max() < 6 * conv3.out_scale


def _prefix(net, last):
    names = [l.name for l in net.layers]
    return Network(net.name, net.input_shape, net.layers[: names.index(last) + 1], net.source, net.weights)


def test_quantize_network_refusals():
    net = get_network("lenet")
    with pytest.raises(q.QuantizationError, match="no weights"):
        q.quantize_network(net, np.zeros((1, 1, 28, 28)))
    with pytest.raises(q.QuantizationError, match="shape"):
        q.quantize_network(net, np.zeros((1, 3, 28, 28)), fm.random_weights(net))
    w = fm.random_weights(net)
    w["conv1"]["weight"] = w["conv1"]["weight"][:, :, :3, :3]
    with pytest.raises(q.QuantizationError, match="weight shape"):
        q.quantize_network(net, np.zeros((1, 1, 28, 28)), w)


def test_zoo_network_with_random_weights_in_numpy():
    net = get_network("lenet")
    w = fm.random_weights(net, seed=2)
    assert w["fc1"]["weight"].shape == (120, 400) and w["conv2"]["weight"].shape == (16, 6, 5, 5)
    rng = np.random.default_rng(0)
    qnet = q.quantize_network(net, rng.normal(size=(4, 1, 28, 28)), w, percentile=99.9)
    x = rng.normal(size=(1, 28, 28))
    y1, table = dn.run_network(qnet, x)
    y2, _ = dn.run_network(qnet, qnet.quantize_input(x))
    assert y1.dtype == np.int8 and y1.shape == (10, 1, 1) and np.array_equal(y1, y2)
    assert [r["name"] for r in table] == [l.name for l in net.layers]
    assert all(r["cycles"] is None and r["seconds"] > 0 for r in table)
    # One image through the integer path tracks the float network within a few output steps.
    f = q.float_forward(net, x, w)
    assert np.abs(qnet.dequantize(y1) - np.clip(f, -128 * qnet.output_scale, 127 * qnet.output_scale)).max() \
        < 4 * qnet.output_scale
    assert math.isclose(qnet.output_scale, qnet["fc3"].out_scale)
