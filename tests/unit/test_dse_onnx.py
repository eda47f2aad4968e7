"""ONNX importer: a small conv/relu/maxpool/gemm/add model built with onnx.helper, shapes and weights
checked exactly; an operator nothing can run is reported by name and refused by the build;
unreadable files are refused; the README's operator table is the importer's."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dse.build import BuildError, build
from dse.onnx_import import OnnxImportError, OnnxImportWarning, load_onnx, operator_table
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
                                              r"2; export the model with a fixed input size$"):
        load_onnx(path)
