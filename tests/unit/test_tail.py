"""The CPU tail (issue 34, item 2): every operator of the numpy interpreter against onnxruntime at
the opsets whose forms differ (onnx's own reference evaluator gets Softmax before opset 13 wrong:
it ignores the coercion to 2-D), UltraFace's detection head against onnxruntime, and one-sentence
refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from drivers.tail import OPS, Tail, TailError
from dse.onnx_tail import TAIL_OPS, TailCutError, cut_tail

ULTRAFACE = Path(__file__).resolve().parents[3] / "shared" / "models" / "ultraface-rfb-320.onnx"


def test_the_build_side_knows_the_interpreters_operators():
    assert TAIL_OPS == frozenset(OPS)


def _model(node, inputs, consts, outputs, opset):
    """A one-node model: ``inputs`` {name: array} are graph inputs, ``consts`` initializers."""
    graph = helper.make_graph(
        [node], "t",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


rng = np.random.default_rng(0)
X = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
Y = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
I64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731

CASES = [
    # (id, op, extra inputs as constants, attrs, number of outputs, opset)
    ("add", "Add", {"y": Y}, {}, 1, 13), ("sub", "Sub", {"y": Y}, {}, 1, 13), ("mul", "Mul", {"y": Y}, {}, 1, 13),
    ("div", "Div", {"y": np.abs(Y) + 0.5}, {}, 1, 13), ("max", "Max", {"y": Y}, {}, 1, 13),
    ("min", "Min", {"y": Y}, {}, 1, 13), ("pow", "Pow", {"y": np.full((1,), 2.0, np.float32)}, {}, 1, 13),
    ("exp", "Exp", {}, {}, 1, 13), ("log", "Log", {}, {}, 1, 13), ("sqrt", "Sqrt", {}, {}, 1, 13),
    ("neg", "Neg", {}, {}, 1, 13), ("abs", "Abs", {}, {}, 1, 13), ("tanh", "Tanh", {}, {}, 1, 13),
    ("relu", "Relu", {}, {}, 1, 13), ("sigmoid", "Sigmoid", {}, {}, 1, 13), ("identity", "Identity", {}, {}, 1, 13),
    ("softmax-13", "Softmax", {}, {"axis": 2}, 1, 13), ("softmax-13-default", "Softmax", {}, {}, 1, 13),
    ("softmax-11", "Softmax", {}, {"axis": 2}, 1, 11), ("softmax-11-default", "Softmax", {}, {}, 1, 11),
    ("reshape", "Reshape", {"s": I64(0, -1, 5)}, {}, 1, 13), ("reshape-3d", "Reshape", {"s": I64(1, 12, 5)}, {}, 1, 13),
    ("slice-9", "Slice", {}, {"axes": [3], "starts": [1], "ends": [9223372036854775807]}, 1, 9),
    ("slice-13", "Slice", {"st": I64(0, 1), "en": I64(2, -1), "ax": I64(1, 2)}, {}, 1, 13),
    ("slice-13-steps", "Slice", {"st": I64(4), "en": I64(0), "ax": I64(3), "sp": I64(-2)}, {}, 1, 13),
    ("squeeze-11", "Squeeze", {}, {"axes": [0]}, 1, 11), ("squeeze-13", "Squeeze", {"a": I64(0)}, {}, 1, 13),
    ("unsqueeze-11", "Unsqueeze", {}, {"axes": [0, 3]}, 1, 11), ("unsqueeze-13", "Unsqueeze", {"a": I64(-1)}, {}, 1, 13),
    ("split-11", "Split", {}, {"axis": 3, "split": [2, 3]}, 2, 11), ("split-13", "Split", {"p": I64(1, 2)}, {"axis": 1}, 2, 13),
    ("split-even", "Split", {}, {"axis": 2}, 2, 13),
    ("clip-6", "Clip", {}, {"min": -0.5, "max": 0.5}, 1, 6),
    ("clip-13", "Clip", {"lo": np.float32(-0.3), "hi": np.float32(0.8)}, {}, 1, 13),
    ("concat", "Concat", {"y": Y}, {"axis": 2}, 1, 13), ("transpose", "Transpose", {}, {"perm": [0, 2, 3, 1]}, 1, 13),
    ("flatten", "Flatten", {}, {"axis": 2}, 1, 13), ("gather", "Gather", {"i": I64(2, 0)}, {"axis": 1}, 1, 13),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_operator_matches_onnxruntime(case):
    _, op, consts, attrs, n_out, opset = case
    x = np.abs(X) + 0.1 if op in ("Log", "Sqrt") else X
    names = list(consts)
    outs = [f"o{k}" for k in range(n_out)]
    node = helper.make_node(op, ["x"] + names, outs, name=f"the_{op}", **attrs)
    model = _model(node, {"x": x}, consts, outs, opset)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    plain, constants = cut_tail(model, {"x": "layer"}, outs)
    got = Tail.from_plain(plain, constants).run({"x": x})
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_ultraface_head_matches_onnxruntime():
    """The trained face detector's head (everything from the 8 head convolutions' outputs to
    ``scores`` and ``boxes``) in numpy equals onnxruntime's run of the whole model."""
    model = onnx.load(str(ULTRAFACE))
    first = next(i for i, n in enumerate(model.graph.node) if n.op_type == "Transpose")
    boundary = {n.input[0]: f"conv_{n.input[0]}" for n in model.graph.node[first:] if n.op_type == "Transpose"}
    assert len(boundary) == 8
    plain, constants = cut_tail(model, boundary)
    assert plain["outputs"] == ["scores", "boxes"]
    assert {n["op"] for n in plain["nodes"]} == {"Transpose", "Reshape", "Concat", "Softmax", "Slice", "Mul", "Add",
                                                 "Exp", "Div", "Sub"}
    extra = onnx.ModelProto()
    extra.CopyFrom(model)
    extra.graph.output.extend(helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in sorted(boundary))
    session = ort.InferenceSession(extra.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    x = np.random.default_rng(3).uniform(-1, 1, size=(1, 3, 240, 320)).astype(np.float32)
    values = dict(zip(names, session.run(None, {"input": x})))
    scores, boxes = Tail.from_plain(plain, constants).run({t: values[t] for t in boundary})
    assert scores.shape == (1, 4420, 2) and boxes.shape == (1, 4420, 4)
    np.testing.assert_allclose(scores, values["scores"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(boxes, values["boxes"], rtol=1e-5, atol=1e-6)


def test_refusals_are_one_sentence():
    x = {"x": X}
    topk = _model(helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top"), x, {"k": I64(2)}, ["v", "i"], 13)
    with pytest.raises(TailCutError, match=r"^node 'top' \(TopK\) lies beyond the layers and the CPU tail cannot run "
                                           r"it; the tail runs Abs, Add, .*Unsqueeze$"):
        cut_tail(topk, {"x": "layer"})
    orphan = _model(helper.make_node("Add", ["x", "z"], ["o"], name="add"), x, {}, ["o"], 13)
    with pytest.raises(TailCutError, match="needs 'z', which no node, constant or layer output provides"):
        cut_tail(orphan, {"x": "layer"})
    plain = {"boundary": [["x", "layer"]], "nodes": [{"op": "Erf", "inputs": ["x"], "outputs": ["o"], "name": "erf"}],
             "outputs": ["o"], "opset": 13}
    with pytest.raises(TailError, match="tail node 'erf' is a Erf, which the CPU tail cannot run"):
        Tail.from_plain(plain, {})
    good = {"boundary": [["x", "layer"]], "nodes": [{"op": "Exp", "inputs": ["x"], "outputs": ["o"]}],
            "outputs": ["o"], "opset": 13}
    with pytest.raises(TailError, match="needs the boundary tensor 'x'"):
        Tail.from_plain(good, {}).run({})
    with pytest.raises(TailError, match="Split 'sp': axis 3 of 5 does not divide into 2 outputs"):
        split = {"boundary": [["x", "l"]], "nodes": [{"op": "Split", "inputs": ["x"], "outputs": ["a", "b"],
                                                      "attrs": {"axis": 3}, "name": "sp"}], "outputs": ["a"], "opset": 13}
        Tail.from_plain(split, {}).run({"x": X})
