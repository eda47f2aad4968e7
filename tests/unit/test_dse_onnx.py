"""ONNX importer: a small conv/relu/maxpool/gemm/add model built with onnx.helper, shapes and weights
checked exactly; an operator nothing can run is reported by name and refused by the build;
unreadable files are refused; the README's operator table is the importer's."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dse.build import BuildError, build
from dse.build import main as build_main
from dse.graph import NetworkError
from dse.networks import get_network
from dse.onnx_import import OnnxImportError, OnnxImportWarning, load_onnx, operator_table
from dse.sweep import SweepError
from dse.sweep import _check as sweep_check
from dse.schedule import Capabilities, eligible_descriptor


def _model(path, with_softmax=True, weight_as_input=False):
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((10, 8 * 4 * 4)).astype(np.float32)
    fcb = rng.standard_normal(10).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["a"], name="res_add"),
        helper.make_node("Relu", ["a"], ["ar"], name="relu_add"),
        helper.make_node("MaxPool", ["ar"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", transB=1),
    ]
    out = "y"
    if with_softmax:
        nodes.append(helper.make_node("Softmax", ["y"], ["prob"], name="softmax_out", axis=1))
        out = "prob"
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (fc, "fc"), (fcb, "fcb"))]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])]
    if weight_as_input:
        inits = [i for i in inits if i.name != "w2"]
        inputs.append(helper.make_tensor_value_info("w2", TensorProto.FLOAT, [8, 8, 3, 3]))
    graph = helper.make_graph(nodes, "small", inputs,
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
    return w1, b1, fc, fcb


def test_small_model_layers_shapes_and_weights(tmp_path):
    path = tmp_path / "small.onnx"
    w1, b1, fc, fcb = _model(path)
    net = load_onnx(path)
    assert net.name == "small" and net.input_shape == (3, 8, 8)
    got = [(l.name, l.kind, l.in_channels, l.out_channels, l.height, l.width, l.out_height, l.out_width,
            l.kernel, l.stride, l.padding, l.relu, l.inputs) for l in net.layers]
    assert got == [
        ("conv1", "conv", 3, 8, 8, 8, 8, 8, 3, 1, 1, True, ()),
        ("conv2", "conv", 8, 8, 8, 8, 8, 8, 3, 1, 1, False, ("conv1",)),
        ("res_add", "add", 8, 8, 8, 8, 8, 8, 1, 1, 0, True, ("conv2", "conv1")),
        ("pool", "maxpool", 8, 8, 8, 8, 4, 4, 2, 2, 0, False, ("res_add",)),
        ("fc", "fc", 128, 10, 1, 1, 1, 1, 1, 1, 0, False, ("pool",)),
        ("softmax_out", "softmax", 10, 10, 1, 1, 1, 1, 1, 1, 0, False, ("fc",)),
    ]
    assert net.layers[-1].op_type == "Softmax"
    np.testing.assert_array_equal(net.weights["conv1"]["weight"], w1)
    np.testing.assert_array_equal(net.weights["conv1"]["bias"], b1)
    np.testing.assert_array_equal(net.weights["fc"]["weight"], fc)
    np.testing.assert_array_equal(net.weights["fc"]["bias"], fcb)
    np.testing.assert_array_equal(net.weights["conv2"]["bias"], np.zeros(8, np.float32))
    assert net.macs == 8 * 64 * 27 + 8 * 64 * 72 + 128 * 10
    inv, mapping, reason = eligible_descriptor(net.layers[-1], Capabilities("direct"))
    assert inv is None and mapping == "cpu" and "softmax runs on the CPU" in reason


def test_weight_given_as_graph_input_keeps_its_shape(tmp_path):
    path = tmp_path / "winput.onnx"
    _model(path, with_softmax=False, weight_as_input=True)
    with pytest.warns(OnnxImportWarning, match=r"winput\.onnx has no weights for 1 parameter tensors \('w2'\)"):
        net = load_onnx(path)
    assert net.layer("conv2").out_channels == 8 and "conv2" not in net.weights and "conv1" in net.weights


def _erf_model(path):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Erf", ["c"], ["y"], name="gelu_erf")]
    graph = helper.make_graph(nodes, "erf", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_an_operator_nothing_runs_is_named_and_refused_at_build_time(tmp_path):
    path = tmp_path / "erf.onnx"
    _erf_model(path)
    net = load_onnx(path)
    layer = net.layer("gelu_erf")
    assert layer.kind == "unsupported" and layer.op_type == "Erf"
    inv, _, reason = eligible_descriptor(layer, Capabilities("direct"))
    assert inv is None and "Erf runs neither on the accelerator nor in the driver" in reason
    with pytest.raises(BuildError, match=r"^layer 'gelu_erf' of erf is the ONNX operator Erf, which neither the "
                                         r"accelerator nor the driver's CPU path can run \(README.md lists"):
        build(path, out=tmp_path / "o", write_verilog=False)
    assert not (tmp_path / "o").exists()


def test_readme_operator_table_is_the_importers():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert operator_table() in readme


def test_unparsable_file_is_refused_in_one_sentence(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf \x00\xff\x13")
    with pytest.raises(OnnxImportError, match=r"^cannot parse ONNX file .*bad\.onnx"):
        load_onnx(bad)
    with pytest.raises(OnnxImportError, match="does not exist"):
        load_onnx(tmp_path / "missing.onnx")


def test_the_network_ends_at_the_first_graph_output(tmp_path):
    path = tmp_path / "two.onnx"
    _model(path)  # outputs 'prob' (softmax of the fc's 'y')
    model = onnx.load(str(path))
    model.graph.output.insert(0, helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10]))
    onnx.save(model, str(path))
    net = load_onnx(path)
    assert net.layers[-1].name == "fc" and "softmax_out" not in [l.name for l in net.layers]


def test_a_symbolic_image_size_is_refused(tmp_path):
    path = tmp_path / "sym.onnx"
    _model(path)
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, str(path))
    with pytest.raises(OnnxImportError, match=r"^input 'x' of sym\.onnx has the symbolic dimension 'height' at axis "
                                              r"2 \(shape 1,3,height,8\); give its size with --input-shape"):
        load_onnx(path)


# ----- symbolic sizes and graphs the importer cannot follow (issue 34) ---------------------------------

def _symbolic(path, axes=(2, 3)):
    _model(path)
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for axis in axes:
        dims[axis].dim_param = ("batch", "channels", "height", "width")[axis]
    onnx.save(model, str(path))


def test_input_shape_fixes_symbolic_sizes(tmp_path):
    path = tmp_path / "sym.onnx"
    _symbolic(path)
    with pytest.raises(OnnxImportError, match=r"^input 'x' of sym\.onnx has the symbolic dimension 'height' at axis 2 "
                                              r"\(shape 1,3,height,width\); give its size with --input-shape .*"
                                              r"e\.g\. --input-shape 1,3,224,224$"):
        load_onnx(path)
    net = load_onnx(path, (1, 3, 8, 8))
    assert net.input_shape == (3, 8, 8) and net.layers[0].height == 8 and net.layer("fc").in_channels == 128
    assert get_network(str(path), "1,3,8,8").input_shape == (3, 8, 8)
    with pytest.raises(OnnxImportError, match=r"has the fixed size 3 at axis 1, but --input-shape gives 4$"):
        load_onnx(path, (1, 4, 8, 8))
    with pytest.raises(OnnxImportError, match=r"has 4 axes \(1,3,height,width\), but --input-shape gives 3"):
        load_onnx(path, (1, 8, 8))
    for bad in ("2,3,8,8", "1,3,x8", "1,0,8,8"):
        with pytest.raises(NetworkError, match="^--input-shape "):
            get_network(str(path), bad)
    with pytest.raises(NetworkError, match=r"^--input-shape applies to ONNX models: the zoo network lenet has the "
                                           r"fixed input 1x28x28$"):
        get_network("lenet", "1,1,32,32")


def test_input_shape_on_the_command_lines(tmp_path, capsys):
    path = tmp_path / "sym.onnx"
    _symbolic(path)
    out = tmp_path / "o"
    assert build_main(["--network", str(path), "--input-shape", "1,3,8,8", "--out", str(out), "--population", "4",
                       "--generations", "1", "--quiet"]) == 0
    assert json.loads((out / "design.json").read_text())["layers"][0]["height"] == 8
    assert build_main(["--network", str(path), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert "give its size with --input-shape" in capsys.readouterr().err
    assert sweep_check(str(path), "pynq-z2", synth=0, verify_rows=1, workers=1, population=4, generations=1,
                       input_shape="1,3,8,8") == ([str(path)], ["pynq-z2"])
    with pytest.raises(SweepError, match="symbolic dimension"):
        sweep_check(str(path), "pynq-z2", synth=0, verify_rows=1, workers=1, population=4, generations=1)


def _save(path, nodes, inits, out_shape, in_shape=(1, 3, 16, 16)):
    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, out_shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _w(name, *shape):
    return numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.3, size=shape).astype(np.float32), name)


def _i64(name, *values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


UNFOLLOWABLE = {
    # HardSwish as x * HardSigmoid(x): an operator the runtime lacks, then a Mul of two tensors.
    "hardswish": ([helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                   helper.make_node("HardSigmoid", ["c"], ["hs"], name="hsig", alpha=1 / 6, beta=0.5),
                   helper.make_node("Mul", ["c", "hs"], ["y"], name="Mul_0")],
                  [_w("w", 8, 3, 3, 3)], [1, 8, 16, 16], "'hsig' of hardswish is the ONNX operator HardSigmoid"),
    # A YOLOv5 head: Reshape to 5-D, Transpose, Reshape to 3-D.
    "yolo_head": ([helper.make_node("Conv", ["x", "w"], ["c"], name="head"),
                   helper.make_node("Reshape", ["c", "s5"], ["r"], name="reshape5"),
                   helper.make_node("Transpose", ["r"], ["t"], name="tr", perm=[0, 1, 3, 4, 2]),
                   helper.make_node("Reshape", ["t", "s3"], ["y"], name="reshape3")],
                  [_w("w", 18, 3, 1, 1), _i64("s5", 1, 3, 6, 16, 16), _i64("s3", 1, 768, 6)], [1, 768, 6],
                  "'reshape5' of yolo_head is the ONNX operator Reshape (its output has the 5-D shape 1x3x6x16x16"),
    # A Transpose of a 3-D tensor (the IndexError of issue 34).
    "transpose3d": ([helper.make_node("Conv", ["x", "w"], ["c"], name="head"),
                     helper.make_node("Reshape", ["c", "s"], ["r"], name="flat3"),
                     helper.make_node("Transpose", ["r"], ["y"], name="tr3", perm=[0, 2, 1])],
                    [_w("w", 6, 3, 1, 1), _i64("s", 1, 6, 256)], [1, 256, 6],
                    "'flat3' of transpose3d is the ONNX operator Reshape (its output has the 3-D shape 1x6x256"),
    # UltraFace's head: Reshape to 3-D and Concat along a spatial axis.
    "spatial_concat": ([helper.make_node("Conv", ["x", "w"], ["c"], name="head"),
                        helper.make_node("Transpose", ["c"], ["t"], name="t1", perm=[0, 2, 3, 1]),
                        helper.make_node("Reshape", ["t", "s"], ["r"], name="r1"),
                        helper.make_node("Concat", ["r", "r"], ["y"], name="Concat_55", axis=1)],
                       [_w("w", 4, 3, 1, 1), _i64("s", 1, -1, 2)], [1, 1024, 2],
                       "'r1' of spatial_concat is the ONNX operator Reshape (its output has the 3-D shape 1x512x2"),
}


@pytest.mark.parametrize("name", sorted(UNFOLLOWABLE))
def test_graphs_the_importer_cannot_follow_are_refused_in_one_sentence(tmp_path, name):
    nodes, inits, out_shape, expected = UNFOLLOWABLE[name]
    path = _save(tmp_path / f"{name}.onnx", nodes, inits, out_shape)
    net = load_onnx(path)                                   # imports: the unfollowable layers are named
    assert net.layers[0].kind == "conv" and any(layer.kind == "unsupported" for layer in net.layers)
    with pytest.raises(BuildError) as info:
        build(path, out=tmp_path / "o", write_verilog=False, population=4, generations=1)
    msg = str(info.value)
    assert msg.startswith(f"layer {expected}") and "\n" not in msg, msg
    assert msg.endswith("which neither the accelerator nor the driver's CPU path can run (README.md lists the "
                        "supported operators)")
    assert not (tmp_path / "o").exists()


MALFORMED = [
    ("gemm_3d_weight", [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                        helper.make_node("Gemm", ["f", "w"], ["y"], name="fc")], [_w("w", 2, 768, 5)], [1, 5]),
    ("conv_weight_missing_dims", [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [_w("w", 4, 3)],
     [1, 4, 16, 16]),
    ("concat_axis_2", [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                       helper.make_node("Concat", ["c", "c"], ["y"], name="cat", axis=2)],
     [_w("w", 4, 3, 1, 1)], [1, 4, 32, 16]),
    ("maxpool_no_kernel", [helper.make_node("MaxPool", ["x"], ["y"], name="pool")], [], [1, 3, 16, 16]),
    ("split_uneven", [helper.make_node("Split", ["x", "parts"], ["a", "b"], name="split", axis=1),
                      helper.make_node("Add", ["a", "a"], ["y"], name="add")], [_i64("parts", 1, 2)], [1, 1, 16, 16]),
    ("softmax_spatial", [helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=2)], [], [1, 3, 16, 16]),
    ("slice_height", [helper.make_node("Slice", ["x", "st", "en", "ax"], ["y"], name="crop")],
     [_i64("st", 2), _i64("en", 10), _i64("ax", 2)], [1, 3, 8, 16]),
]


@pytest.mark.parametrize("name,nodes,inits,out_shape", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_unsupported_and_malformed_nodes_give_one_sentence(tmp_path, name, nodes, inits, out_shape):
    """Whatever the importer makes of these -- a refusal while reading, or a layer nothing runs
    that the build refuses -- the user gets one sentence, never a traceback."""
    path = _save(tmp_path / f"{name}.onnx", nodes, inits, out_shape)
    try:
        build(path, out=tmp_path / "o", write_verilog=False, population=4, generations=1)
    except BuildError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "Traceback" not in msg and len(msg) < 400, msg
    else:                                       # it may run: then every layer is one the build accepted
        assert (tmp_path / "o" / "design.json").is_file()


def test_dilated_convolutions_import_as_the_dense_kernels_they_span(tmp_path):
    """A dilated 3x3 (dilation 2, pad 2) and a dilated depthwise 3x3 (dilation 3, pad 3), as
    UltraFace's RFB blocks have them: imported as 5x5 and 7x7 kernels with zeros between the
    taps, the float forward pass equals onnxruntime's, and the network builds."""
    import onnxruntime as ort
    from drivers import float_forward

    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="dil2", pads=[2, 2, 2, 2], dilations=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["y"], name="dw_dil3", pads=[3, 3, 3, 3], dilations=[3, 3],
                              group=8)]
    path = _save(tmp_path / "dilated.onnx", nodes, [_w("w1", 8, 3, 3, 3), _w("w2", 8, 1, 3, 3), _w("b2", 8)],
                 [1, 8, 16, 16])
    net = load_onnx(path)
    assert [(l.name, l.kind, l.kernel, l.padding) for l in net.layers] == [("dil2", "conv", 5, 2),
                                                                             ("dw_dil3", "group_conv", 7, 3)]
    w = net.weights["dil2"]["weight"]
    assert w.shape == (8, 3, 5, 5) and not w[:, :, 1::2, :].any() and not w[:, :, :, 1::2].any()
    x = np.random.default_rng(4).normal(size=(1, 3, 16, 16)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0][0]
    np.testing.assert_allclose(float_forward(net, x[0]), want, rtol=1e-4, atol=1e-4)
    folder, design = build(path, out=tmp_path / "o", write_verilog=False, population=4, generations=1)
    assert design.feasible
