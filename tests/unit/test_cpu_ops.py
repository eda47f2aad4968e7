"""Every operator the report places on the CPU, one small ONNX graph each: the importer's layer,
the float reference against onnxruntime (the ONNX semantics), and the driver's int8 path
against the float reference within the quantisation error. The integer layers' exact semantics
are checked on hand-computed values."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from drivers import network as dn
from drivers import ops
from drivers import quantize as q
from dse.graph import LAYER_KINDS
from dse.onnx_import import load_onnx
from sim.reference import requantize

RNG = np.random.default_rng(21)


def _const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def _model(path, nodes, in_shape, out, inits=(), opset=17):
    graph = helper.make_graph(nodes, "op", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    # The checker wants the output's shape: the one onnxruntime computes.
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = sess.run(None, {"x": np.zeros(in_shape, np.float32)})[0].shape
    graph.output[0].CopyFrom(helper.make_tensor_value_info(out, TensorProto.FLOAT, list(shape)))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _w(*shape):
    return (RNG.normal(size=shape) * 0.4).astype(np.float32)


def _conv(name, x, cin, cout, k=3, pad=1, group=1, out=None):
    """A conv node and its initializers (so the op under test follows an int8 conv layer)."""
    return ([helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [out or name], name=name, pads=[pad] * 4, group=group,
                              kernel_shape=[k, k])],
            [_const(f"{name}.w", _w(cout, cin // group, k, k)), _const(f"{name}.b", _w(cout))])


def _case(kind):
    """(nodes, inits, input shape, output tensor, expected layer kind of the op under test)."""
    n = helper.make_node
    c1, i1 = _conv("c1", "x", 4, 8)
    c2, i2 = _conv("c2", "x", 4, 6)
    c3, i3 = _conv("c3", "x", 4, 8)
    shape = (1, 4, 9, 9)
    if kind == "concat":
        return c1 + c2 + [n("Concat", ["c1", "c2"], ["y"], name="op", axis=1)], i1 + i2, shape, "concat"
    if kind == "sum3":
        c4, i4 = _conv("c4", "x", 4, 8, k=1, pad=0)
        return c1 + c3 + c4 + [n("Sum", ["c1", "c3", "c4"], ["y"], name="op")], i1 + i3 + i4, shape, "add"
    if kind == "relu6":
        return c1 + [n("Clip", ["c1", "lo", "hi"], ["y"], name="op")], i1 + [_const("lo", np.float32(0)),
                                                                           _const("hi", np.float32(0.6))], shape, "clip"
    if kind == "lrn":
        return c1 + [n("LRN", ["c1"], ["y"], name="op", size=3, alpha=0.5, beta=0.75, bias=1.0)], i1, shape, "lrn"
    if kind == "avgpool_ceil_pad":
        return [n("AveragePool", ["x"], ["y"], name="op", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                  ceil_mode=1, count_include_pad=1)], [], (1, 3, 10, 10), "avgpool"
    if kind == "avgpool":
        return [n("AveragePool", ["x"], ["y"], name="op", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])], \
            [], (1, 3, 7, 7), "avgpool"
    if kind == "maxpool_ceil":
        return [n("MaxPool", ["x"], ["y"], name="op", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], [], \
            (1, 3, 10, 10), "maxpool"
    if kind == "global_avgpool":
        return [n("GlobalAveragePool", ["x"], ["y"], name="op")], [], (1, 5, 6, 7), "global_avgpool"
    if kind == "reducemean":  # opset 17: the axes are an attribute
        return [n("ReduceMean", ["x"], ["y"], name="op", axes=[2, 3], keepdims=0)], [], (1, 5, 6, 7), "global_avgpool"
    if kind == "reducemean18":  # opset 18: the axes are an input
        return [n("ReduceMean", ["x", "ax"], ["y"], name="op", keepdims=1)], [_const("ax", np.array([-1, -2]))], \
            (1, 5, 6, 7), "global_avgpool"
    if kind == "global_maxpool":
        return [n("GlobalMaxPool", ["x"], ["y"], name="op")], [], (1, 5, 6, 7), "global_maxpool"
    if kind == "reshape":
        return [n("Reshape", ["x", "s"], ["y"], name="op")], [_const("s", np.array([1, 8, 9, 2]))], \
            (1, 4, 6, 6), "reshape"
    if kind == "flatten_softmax":
        return [n("Flatten", ["x"], ["f"], name="flat"), n("Softmax", ["f"], ["y"], name="op", axis=1)], [], \
            (1, 3, 2, 2), "softmax"
    if kind == "softmax_channels":
        return c1 + [n("Softmax", ["c1"], ["y"], name="op", axis=1)], i1, shape, "softmax"
    if kind == "transpose":
        return [n("Transpose", ["x"], ["y"], name="op", perm=[0, 1, 3, 2])], [], (1, 3, 4, 6), "transpose"
    if kind == "shuffle":
        return c1 + [n("Reshape", ["c1", "s5"], ["r"], name="op"), n("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
                     n("Reshape", ["t", "s4"], ["y"])], i1 + [_const("s5", np.array([1, 2, 4, 9, 9])),
                                                             _const("s4", np.array([1, 8, 9, 9]))], shape, "channel_shuffle"
    if kind == "pad_constant":
        return [n("Pad", ["x", "p", "v"], ["pp"], name="op"), n("Relu", ["pp"], ["y"])], \
            [_const("p", np.array([0, 0, 1, 2, 0, 1, 0, 3])), _const("v", np.float32(0.7))], (1, 3, 5, 5), "pad"
    if kind == "pad_reflect":
        return [n("Pad", ["x", "p"], ["y"], name="op", mode="reflect")], \
            [_const("p", np.array([0, 0, 2, 1, 0, 0, 1, 2]))], (1, 3, 5, 5), "pad"
    if kind == "pad_edge":
        return [n("Pad", ["x", "p"], ["y"], name="op", mode="edge")], \
            [_const("p", np.array([0, 0, 2, 1, 0, 0, 1, 2]))], (1, 3, 5, 5), "pad"
    if kind == "conv_same_upper":
        return [n("Conv", ["x", "w"], ["y"], name="op", auto_pad="SAME_UPPER", strides=[2, 2], kernel_shape=[3, 3])], \
            [_const("w", _w(5, 3, 3, 3))], (1, 3, 8, 8), "conv"
    if kind == "depthwise":
        c, i = _conv("op", "x", 4, 4, group=4, out="y")
        return c, i, shape, "group_conv"
    if kind == "grouped":
        c, i = _conv("op", "x", 4, 6, k=1, pad=0, group=2, out="y")
        return c, i, shape, "group_conv"
    if kind == "batchnorm":
        stats = [_const(f"s{i}", v.astype(np.float32)) for i, v in enumerate(
            (RNG.uniform(0.5, 2, 8), RNG.normal(size=8), RNG.normal(size=8) * 0.1, RNG.uniform(0.5, 2, 8)))]
        return c1 + [n("Relu", ["c1"], ["r"]), n("BatchNormalization", ["r", "s0", "s1", "s2", "s3"], ["y"], name="op")], \
            i1 + stats, shape, "batchnorm"
    if kind == "mul_sub_const":
        return [n("Mul", ["x", "k"], ["m"], name="op"), n("Sub", ["m", "k2"], ["y"], name="sub")], \
            [_const("k", _w(1, 3, 1, 1)), _const("k2", np.float32(0.25))], (1, 3, 4, 4), "batchnorm"
    if kind == "split":
        return c1 + [n("Split", ["c1", "sp"], ["a", "b"], name="op", axis=1), n("Add", ["a", "b"], ["y"])], \
            i1 + [_const("sp", np.array([4, 4]))], shape, "slice"
    if kind == "slice":
        return c1 + [n("Slice", ["c1", "st", "en", "ax"], ["y"], name="op")], \
            i1 + [_const("st", np.array([2])), _const("en", np.array([7])), _const("ax", np.array([1]))], shape, "slice"
    if kind == "leaky":
        return [n("LeakyRelu", ["x"], ["y"], name="op", alpha=0.2)], [], (1, 3, 4, 4), "leaky_relu"
    raise KeyError(kind)


CASES = ["concat", "sum3", "relu6", "lrn", "avgpool_ceil_pad", "avgpool", "maxpool_ceil", "global_avgpool",
         "reducemean", "reducemean18", "global_maxpool", "reshape", "flatten_softmax", "softmax_channels", "transpose", "shuffle",
         "pad_constant", "pad_reflect", "pad_edge", "conv_same_upper", "depthwise", "grouped", "batchnorm",
         "mul_sub_const", "split", "slice", "leaky"]


@pytest.mark.parametrize("case", CASES)
def test_cpu_operator_float_reference_and_int8_path(tmp_path, case):
    nodes, inits, shape, kind = _case(case)
    path = _model(tmp_path / f"{case}.onnx", nodes, shape, "y", inits, opset=18 if case.endswith("18") else 17)
    net = load_onnx(path)
    assert kind in {l.kind for l in net.layers}, [l.kind for l in net.layers]
    assert "unsupported" not in {l.kind for l in net.layers}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = RNG.normal(size=(6,) + tuple(shape[1:])).astype(np.float32)
    for x in xs[:2]:
        want = sess.run(None, {"x": x[None]})[0]
        got = q.float_forward(net, x)
        assert np.allclose(got.ravel(), want.ravel(), rtol=1e-5, atol=1e-5), case
    qnet = q.quantize_network(net, xs)
    for x in xs:
        y, _ = dn.run_network(qnet, x)
        f = q.float_forward(net, x)
        # Each int8 value is within a few quantisation steps (of the coarsest scale on its path:
        # the input's own rounding and the layers' roundings add up to that) of the float one.
        step = max(ql.out_scale for ql in qnet.layers.values() if ql.kind != "softmax")
        assert np.abs(qnet.dequantize(y) - f).max() <= 3 * step + 0.02 * np.abs(f).max(), case


def test_the_driver_implements_every_layer_kind():
    assert set(ops.CPU_KINDS) == set(LAYER_KINDS) - {"unsupported"}


# ----- exact int8 semantics on hand-computed values --------------------------------------------------

def test_concat_rescales_each_input_and_add_n_sums_any_number():
    a = np.array([[[10, -20]]], dtype=np.int8)
    b = np.array([[[100, -128]], [[3, 4]]], dtype=np.int8)
    # a at ratio 1 (2^30 / 2^30) is unchanged; b at ratio 0.5 rounds half up: 50, -64, 2 (1.5), 2.
    y = ops.concat([a, b], [1 << 30, 1 << 30], [30, 31])
    assert y.tolist() == [[[10, -20]], [[50, -64]], [[2, 2]]]
    x = [np.array([1, 2, -3], dtype=np.int8)] * 3
    # (x*1 + x*1 + x*2 + 2^0) >> 1 = floor((4x + 1) / 2) = 2x exactly: 2, 4, -6.
    assert ops.add_n(x, [1, 1, 2], 1).tolist() == [2, 4, -6]
    assert ops.add_n(x, [1, 1, 2], 1, relu=True).tolist() == [2, 4, 0]


def test_clip_pad_shuffle_transpose_slice_global_max():
    x = np.arange(-6, 6, dtype=np.int8).reshape(3, 2, 2)
    assert ops.clip(x, 0, 3).ravel().tolist() == [0] * 6 + [0, 1, 2, 3, 3, 3]
    p = ops.pad(x[:1], (0, 1, 0, 0, 0, 2), "constant", 9)
    assert p.tolist() == [[[9, 9, 9, 9], [-6, -5, 9, 9], [-4, -3, 9, 9]]]
    assert ops.pad(x[:1], (0, 0, 1, 0, 0, 1), "reflect").tolist() == [[[-5, -6, -5, -6], [-3, -4, -3, -4]]]
    assert ops.pad(x[:1], (0, 1, 0, 0, 0, 0), "edge").tolist() == [[[-6, -5], [-6, -5], [-4, -3]]]
    s = ops.channel_shuffle(np.arange(6, dtype=np.int8).reshape(6, 1, 1), 2)
    assert s.ravel().tolist() == [0, 3, 1, 4, 2, 5]  # output j*g + i is input i*C/g + j
    assert ops.transpose(x, (0, 2, 1))[1].tolist() == [[-2, 0], [-1, 1]]
    assert ops.slice_channels(x, 1, 3).shape == (2, 2, 2)
    assert ops.global_maxpool(x).ravel().tolist() == [-3, 1, 5]


def test_group_conv_and_affine_accumulators():
    x = np.arange(2 * 2 * 3, dtype=np.int8).reshape(2, 2, 3) - 6
    w = np.array([[[[1]]], [[[-2]]], [[[3]]], [[[1]]]], dtype=np.int8)  # 4 outputs, 2 groups, 1x1
    acc = ops.group_conv2d(x, w, 2)
    assert acc.tolist() == [x[0].tolist(), (-2 * x[0].astype(int)).tolist(), (3 * x[1].astype(int)).tolist(),
                            x[1].tolist()]
    # A depthwise 3x3 equals the per-channel dense convolution.
    x = RNG.integers(-128, 128, size=(3, 5, 6), dtype=np.int8)
    w = RNG.integers(-127, 128, size=(3, 1, 3, 3), dtype=np.int8)
    from sim.reference import conv2d
    acc = ops.group_conv2d(x, w, 3, stride=2, padding=1)
    for c in range(3):
        assert np.array_equal(acc[c], conv2d(x[c:c + 1], w[c:c + 1], 2, 1)[0])
    a = ops.affine(np.array([[[2, -3]], [[4, 5]]], dtype=np.int8), np.array([127, -64], dtype=np.int8))
    assert a.tolist() == [[[254, -381]], [[-256, -320]]]
    assert requantize(a, np.array([2, 0], np.int32), 1, 2).tolist() == [[[64, -95]], [[-64, -80]]]


def test_softmax_is_float_on_the_dequantised_input():
    x = np.array([[[0, 10]], [[10, 0]], [[20, 0]]], dtype=np.int8)
    y = ops.softmax_int8(x, 0.1)
    z = np.exp(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]]))
    assert y[:, 0].tolist() == np.round(127 * z / z.sum(axis=0)).astype(int).tolist()


def _quantise(y: float, scale: float) -> int:
    """drivers.ops.quantize_tensor's rule: clamp(round(y / scale), -128, 127), round half to even."""
    return max(-128, min(127, round(y / scale)))


def test_lrn_int8_on_hand_computed_values():
    """ONNX LRN, y = x / (bias + alpha/size * sum x^2)^beta over channels max(0, c - floor((size-1)/2))
    .. min(C-1, c + ceil((size-1)/2)), on x_int * in_scale, quantised with out_scale. Here bias = 2,
    alpha/size = 1, beta = 0.5 and in_scale = 0.5: the denominators are square roots worked out below."""
    x = np.array([[[5, -5]], [[-4, 4]], [[0, 0]], [[1, -1]]], dtype=np.int8)   # C=4, H=1, W=2
    # Dequantised column 0: 2.5, -2, 0, 0.5 (squares 6.25, 4, 0, 0.25); column 1 is its negation.
    # size 3 (alpha 3): windows c-1..c+1 -> {0,1}, {0,1,2}, {1,2,3}, {2,3}
    #   c=0: 2.5 / sqrt(2 + 6.25 + 4)     = 2.5 / 3.5 = 5/7
    #   c=1: -2  / sqrt(2 + 6.25 + 4 + 0) = -2 / 3.5  = -4/7
    #   c=2: 0   / sqrt(2 + 4 + 0 + 0.25) = 0
    #   c=3: 0.5 / sqrt(2 + 0 + 0.25)     = 0.5 / 1.5 = 1/3
    size3 = [5 / 7, -4 / 7, 0.0, 1 / 3]
    # size 2 (alpha 2): windows c..c+1 -> {0,1}, {1,2}, {2,3}, {3}
    #   c=0: 2.5 / 3.5 = 5/7;  c=1: -2 / sqrt(2 + 4 + 0) = -2 / sqrt(6);  c=2: 0;  c=3: 0.5 / 1.5 = 1/3
    size2 = [5 / 7, -2 / 6 ** 0.5, 0.0, 1 / 3]
    # Quantised with out_scale 1/128, and with 1/256 where 5/7 and -4/7 (or -2/sqrt(6)) clamp.
    cases = [(3, 3.0, size3, 1 / 128, [91, -73, 0, 43]), (3, 3.0, size3, 1 / 256, [127, -128, 0, 85]),
             (2, 2.0, size2, 1 / 128, [91, -105, 0, 43]), (2, 2.0, size2, 1 / 256, [127, -128, 0, 85])]
    for size, alpha, y, out_scale, expected in cases:
        assert [_quantise(v, out_scale) for v in y] == expected
        lrn = ops.lrn_int8(x, 0.5, out_scale, size, alpha, 0.5, 2.0)
        assert lrn.dtype == np.int8 and lrn.shape == x.shape
        assert lrn[:, 0, 0].tolist() == expected, (size, out_scale)
        assert lrn[:, 0, 1].tolist() == [_quantise(-v, out_scale) for v in y], (size, out_scale)
