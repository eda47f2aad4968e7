"""The committed ONNX fixtures (tests/fixtures, the model zoo's structural patterns as torch's
exporters write them) end to end on the CPU side: they import with no constant-producing layer
and nothing unsupported, the float reference equals onnxruntime, the int8 path tracks it, the
operation count equals an independent count made with onnxruntime's own shapes, and the DSE's
report totals that count. Missing weights warn; the fixtures are what the script regenerates."""

import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from drivers import network as dn
from drivers import quantize as q
from dse.boards import get_board
from dse.build import build
from dse.onnx_import import OnnxImportWarning, load_onnx
from dse.perf_model import cpu_seconds
from tests.fixtures.make_onnx_fixtures import FIXTURES, build_all

HERE = Path(__file__).resolve().parents[1] / "fixtures"
NAMES = sorted(FIXTURES)
#: ONNX operators that only compute constants or shapes: none may become a layer.
CONSTANT_OPS = {"Constant", "ConstantOfShape", "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Slice", "Div",
                "Identity", "Dropout"}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _inputs(net, n, seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + net.input_shape).astype(np.float32)


def independent_macs(path) -> int:
    """MACs of every Conv, Gemm and MatMul of the ONNX file, from the tensor shapes onnxruntime
    produces when it runs the model (every such node's input and output made a graph output):
    ``prod(out[1:]) * Cin/group * kh * kw`` and ``in_features * out_features``."""
    model = onnx.load(str(path))
    nodes = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    wanted = {t for n in nodes for t in (n.input[0], n.output[0])} - {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_empty_tensor_value_info(t) for t in sorted(wanted))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(None, {inp.name: np.zeros(shape, np.float32)})))
    values[inp.name] = np.zeros(shape)
    total = 0
    for n in nodes:
        x, y = values[n.input[0]].shape, values[n.output[0]].shape
        if n.op_type == "Conv":
            a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
            kh, kw = a["kernel_shape"]
            total += math.prod(y[1:]) * (x[1] // a.get("group", 1)) * kh * kw
        else:
            total += math.prod(x[1:]) * y[-1]
    return total


def _essence(model: onnx.ModelProto) -> bytes:
    """The model without the value_info onnx's shape inference adds (it may vary by onnx version)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.value_info[:]
    return model.SerializeToString(deterministic=True)


def test_the_script_regenerates_the_committed_fixtures():
    for name, model in build_all().items():
        committed = onnx.load(str(HERE / name))
        assert _essence(committed) == _essence(model), f"{name} is stale: run tests/fixtures/make_onnx_fixtures.py"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_imports_every_node_as_a_runnable_layer(name):
    net = load_onnx(HERE / name)
    kinds = {l.kind for l in net.layers}
    assert "unsupported" not in kinds
    assert not {l.op_type for l in net.layers} & CONSTANT_OPS
    # Every layer that carries weights has them (the fixtures are complete models).
    for l in net.layers:
        if l.kind in ("conv", "group_conv", "fc", "batchnorm"):
            assert l.name in net.weights, l.name


def test_fixtures_cover_the_zoo_patterns():
    kinds, ops = set(), set()
    for name in NAMES:
        net = load_onnx(HERE / name)
        kinds |= {l.kind for l in net.layers}
        ops |= {n.op_type for n in onnx.load(str(HERE / name)).graph.node}
    assert {"conv", "group_conv", "fc", "add", "concat", "clip", "batchnorm", "lrn", "softmax", "maxpool", "avgpool",
            "global_avgpool", "channel_shuffle"} <= kinds
    assert {"Identity", "Constant", "ConstantOfShape", "Shape", "Gather", "Unsqueeze", "Concat", "Reshape",
            "Transpose", "BatchNormalization", "Gemm", "MatMul", "ReduceMean", "Pad", "Clip"} <= ops
    depthwise = [l for name in NAMES for l in load_onnx(HERE / name).layers
                 if l.kind == "group_conv" and l.groups == l.in_channels]
    assert depthwise


@pytest.mark.parametrize("name", NAMES)
def test_float_reference_equals_onnxruntime_and_int8_tracks_it(name):
    net = load_onnx(HERE / name)
    sess = _session(HERE / name)
    xs = _inputs(net, 8, seed=3)
    for x in xs[:3]:
        want = sess.run(None, {sess.get_inputs()[0].name: x[None]})[0].ravel()
        got = q.float_forward(net, x).ravel()
        assert np.allclose(got, want, rtol=1e-4, atol=1e-5), np.abs(got - want).max()
    qnet = q.quantize_network(net, xs)
    agree = 0
    for x in xs:
        y, table = dn.run_network(qnet, x)
        assert y.dtype == np.int8 and all(r["runs_on"] == "cpu" for r in table)
        got, want = qnet.dequantize(y).ravel(), q.float_forward(net, x).ravel()
        # Within a few output quantisation steps plus what the hidden layers' rounding adds.
        assert np.abs(got - want).max() <= 0.1 * np.abs(want).max() + 2 * qnet.output_scale
        top2 = np.sort(want)[-2:]
        if top2[1] - top2[0] > 4 * qnet.output_scale:  # a clear winner must stay the winner
            assert got.argmax() == want.argmax()
        agree += int(got.argmax() == want.argmax())
    assert agree >= 6


@pytest.mark.parametrize("name", NAMES)
def test_ops_equal_an_independent_count(name):
    net = load_onnx(HERE / name)
    assert net.macs == independent_macs(HERE / name)
    assert net.ops == 2 * net.macs


@pytest.mark.parametrize("name", ["torch_shufflenet.onnx", "torch_inception.onnx"])
def test_report_gop_per_frame_is_the_independent_count(tmp_path, name):
    out = tmp_path / "o"
    _, design = build(HERE / name, out=out, population=6, generations=2, write_verilog=False)
    rj = json.loads((out / "report.json").read_text())
    count = 2 * independent_macs(HERE / name)
    assert rj["totals"]["ops"] == count
    assert sum(l["ops"] for l in rj["layers"]) == count
    assert f"({count / 1e9:.4g} GOP per frame" in (out / "report.md").read_text()
    # Grouped convolutions run on the CPU and are charged their true cost.
    board = get_board("pynq-z2")
    grouped = [p for p in design.plans if p.layer.kind == "group_conv"]
    assert grouped
    for p in grouped:
        assert p.runs_on == "cpu" and p.layer.ops > 0
        assert p.seconds == cpu_seconds(p.layer, board) >= p.layer.ops / (board.cpu_gops * 1e9)


# ----- missing weights -------------------------------------------------------------------------------

def test_weights_missing_from_the_graph_warn_and_bn_still_folds(tmp_path):
    model = onnx.load(str(HERE / "dynamo_densenet.onnx"))
    g = model.graph
    weights = [t for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT]
    keep = [t for t in g.initializer if t.data_type != onnx.TensorProto.FLOAT]
    del g.initializer[:]
    g.initializer.extend(keep)
    g.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in weights)
    path = tmp_path / "noweights.onnx"
    onnx.save(model, str(path))
    with pytest.warns(OnnxImportWarning, match=r"^noweights\.onnx has no weights for \d+ parameter tensors .* graph "
                                               r"inputs without initializers, so the DSE plans it from shapes only"):
        net = load_onnx(path)
    full = load_onnx(HERE / "dynamo_densenet.onnx")
    assert "unsupported" not in {l.kind for l in net.layers}
    assert [(l.kind, l.in_channels, l.out_channels, l.out_height) for l in net.layers] == \
        [(l.kind, l.in_channels, l.out_channels, l.out_height) for l in full.layers]
    assert net.ops == full.ops and not net.weights
    with pytest.raises(q.QuantizationError, match="no weights"):
        q.quantize_network(net, _inputs(net, 1))


def test_missing_external_data_warns_and_present_external_data_loads(tmp_path):
    model = onnx.load(str(HERE / "torch_resnet.onnx"))
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.weights", size_threshold=0)
    net = load_onnx(path)
    ref = load_onnx(HERE / "torch_resnet.onnx")
    assert set(net.weights) == set(ref.weights)
    for k in ref.weights:
        assert np.array_equal(net.weights[k]["weight"], ref.weights[k]["weight"])
    (tmp_path / "ext.weights").unlink()
    with pytest.warns(OnnxImportWarning, match=r"external data \(ext\.weights\) was not found next to ext\.onnx"):
        net = load_onnx(path)
    assert [l.kind for l in net.layers] == [l.kind for l in ref.layers] and net.ops == ref.ops
    assert not net.weights


def test_identity_on_an_initializer_imports():
    model = onnx.load(str(HERE / "torch_resnet.onnx"))
    ident = [n for n in model.graph.node if n.op_type == "Identity"]
    assert ident and ident[0].input[0] in {t.name for t in model.graph.initializer}
    net = load_onnx(HERE / "torch_resnet.onnx")
    w = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == ident[0].input[0]))
    assert any(np.array_equal(e["weight"], w) for e in net.weights.values())
