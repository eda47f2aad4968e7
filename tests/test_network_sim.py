"""Whole networks through ``sim.backends.simulated``: the accelerator path equals the pure-numpy path
bit for bit, and the table says where every layer ran.

One deploy folder (``python -m dse.build --network lenet --board pynq-z2``, built here) and one
simulation serve every test of this module: LeNet as the design places it, LeNet with a plan that
cuts conv2 into column strips, and a small ONNX model placed layer by layer by the driver.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers import load_weights, run_network
from sim.backends import simulated
from drivers import float_forward, quantize_network, random_weights
from dse.networks import get_network
from rtl.config import AcceleratorConfig
from rtl.descriptor import Descriptor
from rtl.engine import DIRECT
from tests.harness.layers import InteriorRecorder
from tests.unit.test_quantize import make_onnx_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lenet_design(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "lenet"
    proc = subprocess.run([sys.executable, "-m", "dse.build", "--network", "lenet", "--board", "pynq-z2",
                           "--population", "8", "--generations", "2", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads((out / "design.json").read_text())


@pytest.fixture(scope="module")
def accel(lenet_design):
    with simulated(lenet_design[0], pauses="random", seed=1) as a:
        yield a


@pytest.fixture(scope="module")
def lenet_qnet():
    net = get_network("lenet")
    rng = np.random.default_rng(12)
    calib = rng.normal(size=(6, 1, 28, 28))
    return quantize_network(net, calib, random_weights(net, seed=3))


def _spread(y):
    """An output worth comparing: not all saturated, not constant."""
    return len(np.unique(y)) >= 5


def test_lenet_on_the_accelerator_equals_numpy(lenet_design, accel, lenet_qnet):
    folder, design = lenet_design
    placed = {l["name"]: l for l in design["layers"]}
    on_accel = [n for n, l in placed.items() if l["runs_on"] == "accelerator"]
    assert on_accel, "the design runs nothing on the accelerator"
    rng = np.random.default_rng(5)
    for _ in range(2):
        x = rng.normal(size=(1, 28, 28))
        want, cpu_table = run_network(lenet_qnet, x)
        ip = InteriorRecorder(accel)
        got, table = run_network(lenet_qnet, x, ip, plan=folder)
        assert got.dtype == np.int8 and got.shape == (10, 1, 1)
        assert np.array_equal(got, want), (got.ravel(), want.ravel())
        ip.assert_interior("lenet")
        assert _spread(got)
        assert [r["name"] for r in table] == [l.name for l in lenet_qnet.network.layers]
        for row in table:
            plan = placed[row["name"]]
            if plan["runs_on"] == "fused":
                # In its producer's run (a pooling stage or table): the driver fuses what the DSE did.
                assert row["runs_on"] == "accelerator" and row["mapping"] == plan["mapping"] and row["runs"] == 0
                assert row["cycles"] is None and row["seconds"] == 0
                continue
            assert row["runs_on"] == plan["runs_on"], row
            if row["runs_on"] == "accelerator":
                assert row["mapping"] == plan["mapping"] and row["runs"] == len(plan["descriptors"])
                assert row["cycles"] > 0 and row["bytes_read"] > 0 and row["bytes_written"] > 0
                assert row["seconds"] == pytest.approx(row["cycles"] / (design["config"]["clock_mhz"] * 1e6))
            else:
                assert row["cycles"] is None and row["runs"] == 0 and row["seconds"] > 0
        assert all(r["runs_on"] == "cpu" for r in cpu_table)
    # (An fc layer on the accelerator as a 1x1 convolution: test_onnx_model_placed_by_the_driver.
    # The DSE may leave LeNet's to the CPU: its model prices the driver's time around a run.)


def test_weights_packed_once_at_load(lenet_design, accel, lenet_qnet):
    """load_weights packs each accelerated layer once; frames after it pack no weights and stay
    bit-exact, and a frame without resident weights packs one per run (issue 30, item 2)."""
    folder, design = lenet_design
    runs = {l["name"]: max(1, len(l["descriptors"])) for l in design["layers"] if l["runs_on"] == "accelerator"}
    before = accel.weight_packs
    resident = load_weights(lenet_qnet, accel, plan=folder)
    assert sorted(resident) == sorted(runs) and accel.weight_packs - before == len(runs)
    rng = np.random.default_rng(21)
    for _ in range(3):
        x = rng.normal(size=(1, 28, 28))
        want, _ = run_network(lenet_qnet, x)
        packs = accel.weight_packs
        ip = InteriorRecorder(accel)
        got, table = run_network(lenet_qnet, x, ip, plan=folder, resident=resident)
        assert accel.weight_packs == packs                       # nothing packed per frame
        assert np.array_equal(got, want) and len(ip.outputs) == sum(runs.values())
        ip.assert_interior("lenet, resident weights")
    packs = accel.weight_packs
    run_network(lenet_qnet, x, accel, plan=folder)
    assert accel.weight_packs - packs == sum(runs.values())      # the per-call path packs every run


def test_lenet_hidden_layer_in_column_strips(lenet_design, accel, lenet_qnet):
    """A plan that cuts conv2 into 3 column strips (as the DSE does when rows exceed the line
    buffer) and runs every layer the IP can hold on the accelerator."""
    _, design = lenet_design
    layers = [dict(l) for l in design["layers"]]
    conv2 = next(l for l in layers if l["name"] == "conv2")
    strips = DIRECT.strips(Descriptor(6, 16, 14, 14, 5, 1, 0), 8, 8, 0)
    assert len(strips) == 3
    conv2.update(runs_on="accelerator", mapping="native", tiles=3, descriptors=[s.to_dict() for s in strips])
    x = np.random.default_rng(8).normal(size=(1, 28, 28))
    want, _ = run_network(lenet_qnet, x)
    ip = InteriorRecorder(accel)
    got, table = run_network(lenet_qnet, x, ip, plan={"layers": layers})
    assert np.array_equal(got, want)
    ip.assert_interior("lenet in strips")
    row = next(r for r in table if r["name"] == "conv2")
    assert row["runs_on"] == "accelerator" and row["runs"] == 3 and row["cycles"] > 0
    # The three strips share the layer's one resident copy of the weights.
    resident = load_weights(lenet_qnet, accel, plan={"layers": layers})
    packs = accel.weight_packs
    again, _ = run_network(lenet_qnet, x, accel, plan={"layers": layers}, resident=resident)
    assert np.array_equal(again, want) and accel.weight_packs == packs


#: An IP that holds every layer of the small ONNX model, its 64 -> 10 Gemm included (the LeNet
#: design of this module is the DSE's smallest within 1 % of the fastest: it may hold no fc layer).
WIDE = AcceleratorConfig(engine="direct", pm=8, pn=8, max_width=12, max_height=12, max_channels=64, max_kernel=3,
                         max_stride=1, requant_lanes=2, clock_mhz=100, activation_table=True, pooling=True)


@pytest.fixture(scope="module")
def wide_accel():
    with simulated(WIDE, pauses="random", seed=3) as a:
        yield a


def test_onnx_model_placed_by_the_driver(tmp_path, wide_accel):
    accel = wide_accel
    make_onnx_model(tmp_path / "small.onnx", seed=2)
    net = get_network(str(tmp_path / "small.onnx"))
    rng = np.random.default_rng(6)
    qnet = quantize_network(net, rng.normal(size=(6, 2, 12, 12)))
    x = rng.normal(size=(2, 12, 12))
    want, _ = run_network(qnet, x)
    ip = InteriorRecorder(accel)
    got, table = run_network(qnet, x, ip)  # no plan: the driver asks the IP per layer
    assert np.array_equal(got, want)
    ip.assert_interior("the ONNX model")
    rows = {r["name"]: r for r in table}
    # conv1 (3x3) and conv3 run natively; conv2 (1x1, 12 -> 12 channels, 12 columns) natively, or
    # in column strips when its row is wider than the design's line buffer (the DSE's choice of
    # design decides which); the Gemm as a 1x1 convolution.
    info = accel.info
    conv2 = Descriptor(12, 12, 12, 12, 1, 1, 0)
    wide = 12 * -(-12 // info.pn) > info.max_row_words
    conv2_runs = len(DIRECT.strips(conv2, info.pn, info.max_row_words, 0)) if wide else 1
    assert rows["conv1"]["runs_on"] == "accelerator" and rows["conv1"]["runs"] == 1
    assert rows["conv2"]["runs_on"] == "accelerator" and rows["conv2"]["runs"] == conv2_runs
    assert rows["conv3"]["runs_on"] == "accelerator"
    assert rows["fc"]["runs_on"] == "accelerator" and rows["fc"]["mapping"] == "fc-as-1x1"
    for name in ("add", "leaky", "pool1", "softmax"):
        assert rows[name]["runs_on"] == "cpu" and rows[name]["cycles"] is None
    # conv3's 2x2 average pool runs in its pooling stage: conv3 writes the pooled 16 x 2 x 2.
    assert rows["pool2"]["runs_on"] == "accelerator" and rows["pool2"]["mapping"] == "pool"
    assert rows["pool2"]["runs"] == 0 and rows["conv3"]["shape"] == (16, 2, 2)
    assert rows["conv3"]["bytes_written"] == 16 * 2 * 2
    # The probabilities track the float model.
    p = qnet.dequantize(got).ravel()
    assert np.abs(p - float_forward(net, x).ravel()).max() < 0.05
    assert abs(p.sum() - 1) < 0.05


def _random_init(seed):
    """``init(name, *shape, scale)``: a float32 ONNX initializer of N(0, scale) values."""
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)

    def init(name, *shape, scale=0.3):
        return numpy_helper.from_array(rng.normal(0, scale, size=shape).astype(np.float32), name)
    return init


def _save_model(path, name, nodes, inits, out_shape, opset):
    """An ONNX model of ``nodes`` from the float input ``x`` [1, 2, 10, 10] to ``y``, saved at ``path``."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 10, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _conv_chain_model(path, seed=4):
    """conv 3x3 (2 -> 8) + ReLU -> conv 3x3 (8 -> 8) + ReLU, whose output feeds a 1x1 conv
    (8 -> 8) and, with it, a residual Add on the CPU; a 2x2 max-pool; two unpadded 3x3 convs down
    to 6 x 1 x 1. Every convolution fits WIDE."""
    from onnx import helper

    init = _random_init(seed)

    inits = [init("w1", 8, 2, 3, 3), init("b1", 8, scale=0.1), init("w2", 8, 8, 3, 3, scale=0.2),
             init("b2", 8, scale=0.1), init("w3", 8, 8, 1, 1), init("b3", 8, scale=0.1),
             init("w4", 8, 8, 3, 3, scale=0.2), init("b4", 8, scale=0.1), init("w5", 6, 8, 3, 3, scale=0.2),
             init("b5", 6, scale=0.1)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("Add", ["r2", "c3"], ["s"], name="add"),
        helper.make_node("MaxPool", ["s"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p", "w4", "b4"], ["c4"], name="conv4"),      # 5x5 map -> 3x3
        helper.make_node("Relu", ["c4"], ["r4"], name="relu4"),
        helper.make_node("Conv", ["r4", "w5", "b5"], ["y"], name="conv5"),      # 3x3 map -> 1x1
    ]
    _save_model(path, "chain", nodes, inits, (1, 6, 1, 1), 14)


def test_activations_stay_in_ddr_between_accelerated_layers(tmp_path, wide_accel):
    """One activation layout (issue 30, item 1): on an IP with pm == pn an accelerated layer's
    output is the next accelerated layer's input where it lies. Per frame the CPU relays out
    only the network's input, what CPU layers read and write, and the network's output; the
    frames stay bit-exact with numpy, with resident weights and without."""
    accel = wide_accel
    assert accel.info.pm == accel.info.pn
    _conv_chain_model(tmp_path / "chain.onnx")
    net = get_network(str(tmp_path / "chain.onnx"))
    assert [l.kind for l in net.layers] == ["conv", "conv", "conv", "add", "maxpool", "conv", "conv"]
    rng = np.random.default_rng(7)
    qnet = quantize_network(net, rng.normal(size=(6, 2, 10, 10)))
    resident = load_weights(qnet, accel)
    assert sorted(resident) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    for frame in range(3):
        x = rng.normal(size=(2, 10, 10))
        want, _ = run_network(qnet, x)
        before, starts = accel.activation_relayouts, accel.ap_starts
        ip = InteriorRecorder(accel)
        got, table = run_network(qnet, x, ip, resident=resident if frame else None)
        assert np.array_equal(got, want)
        assert all(r["runs_on"] == "accelerator" for r in table if r["kind"] == "conv")
        # The input packed for conv1; conv2's output fetched once for the add (conv3 reads it in
        # DDR); conv3's fetched for the add; the pool's packed for conv4; conv5's output
        # fetched. conv1 -> conv2 -> conv3 and conv4 -> conv5 relay nothing out.
        assert accel.activation_relayouts - before == 5
        # With resident weights each run of consecutive accelerated layers is one run list:
        # conv1..conv3 (started for the add) and conv4..conv5 (at the end of the frame).
        assert accel.ap_starts - starts == (2 if frame else 5)
        if frame:
            rows = {r["name"]: r for r in table}
            assert [rows[n]["list_runs"] for n in ("conv3", "conv5")] == [3, 2]
            assert all(rows[n]["cycles"] is None and rows[n]["seconds"] == 0 for n in ("conv1", "conv2", "conv4"))
            assert rows["conv3"]["cycles"] > 0 and rows["conv5"]["bytes_written"] > 0
        ip.assert_interior("the conv chain")
    # profile=True: every run started on its own, with its own counters.
    starts = accel.ap_starts
    got, table = run_network(qnet, x, accel, resident=resident, profile=True)
    assert np.array_equal(got, want) and accel.ap_starts - starts == 5
    assert all(r["cycles"] > 0 for r in table if r["kind"] == "conv")


def test_a_conv_only_network_is_one_start_per_frame(tmp_path, wide_accel):
    """Issue 30, item 3: a network of accelerated layers only is one run list per frame, bit-exact;
    per frame the CPU relays out its input and its output, and packs no weights."""
    accel = wide_accel
    _conv_chain_model(tmp_path / "chain.onnx")
    net = get_network(str(tmp_path / "chain.onnx"))
    # The chain's first two convolutions and the 1x1 after them, as a network of its own.
    convs = net.layers[:3]
    assert [l.kind for l in convs] == ["conv"] * 3 and convs[2].inputs == (convs[1].name,)
    sub = dataclasses.replace(net, name=net.name + "-convs", layers=tuple(convs))
    rng = np.random.default_rng(9)
    qnet = quantize_network(sub, rng.normal(size=(6, 2, 10, 10)))
    resident = load_weights(qnet, accel)
    for frame in range(3):
        x = rng.normal(size=(2, 10, 10))
        want, _ = run_network(qnet, x)
        counts = accel.ap_starts, accel.activation_relayouts, accel.weight_packs
        got, table = run_network(qnet, x, accel, resident=resident)
        assert np.array_equal(got, want)
        assert (accel.ap_starts, accel.activation_relayouts, accel.weight_packs) == \
            (counts[0] + 1, counts[1] + 2, counts[2])
        assert table[-1]["list_runs"] == 3


def _activation_chain_model(path, seed=5):
    """conv 3x3 (2 -> 8) -> LeakyReLU -> conv 3x3 (8 -> 8) -> Clip(0, 6) -> conv 1x1 (8 -> 4) ->
    LeakyReLU, on a 10 x 10 input: element-wise layers after convolutions only."""
    from onnx import helper, numpy_helper

    init = _random_init(seed)

    inits = [init("w1", 8, 2, 3, 3), init("b1", 8, scale=0.1), init("w2", 8, 8, 3, 3, scale=0.2),
             init("b2", 8, scale=0.1), init("w3", 4, 8, 1, 1), init("b3", 4, scale=0.1),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(6.0, np.float32), "hi")]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c1"], ["l1"], name="leaky1", alpha=0.1),
        helper.make_node("Conv", ["l1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["k2"], name="clip2"),
        helper.make_node("Conv", ["k2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("LeakyRelu", ["c3"], ["y"], name="leaky3", alpha=0.2),
    ]
    _save_model(path, "acts", nodes, inits, (1, 4, 10, 10), 13)


def test_element_wise_layers_run_in_the_activation_table(tmp_path, wide_accel):
    """Issue 31, first step: on an IP with an activation table, a LeakyReLU or clip fed by an
    accelerated convolution runs inside it, bit-exact with numpy: no CPU layer is left, so with
    resident weights the frame is one run list and relays out only its input and output."""
    accel = wide_accel
    assert accel.info.act_table
    _activation_chain_model(tmp_path / "acts.onnx")
    net = get_network(str(tmp_path / "acts.onnx"))
    assert [l.kind for l in net.layers] == ["conv", "leaky_relu", "conv", "clip", "conv", "leaky_relu"]
    rng = np.random.default_rng(8)
    qnet = quantize_network(net, rng.normal(size=(6, 2, 10, 10)))
    resident = load_weights(qnet, accel)
    assert all(resident[n].table for n in ("conv1", "conv2", "conv3"))
    for frame in range(2):
        x = rng.normal(size=(2, 10, 10))
        want, cpu_table = run_network(qnet, x)
        assert {r["name"] for r in cpu_table if r["runs_on"] == "cpu"} >= {"leaky1", "clip2", "leaky3"}
        counts = accel.ap_starts, accel.activation_relayouts
        got, table = run_network(qnet, x, accel, resident=resident if frame else None)
        assert np.array_equal(got, want)
        rows = {r["name"]: r for r in table}
        for name, producer in (("leaky1", "conv1"), ("clip2", "conv2"), ("leaky3", "conv3")):
            assert (rows[name]["runs_on"], rows[name]["mapping"], rows[name]["runs"]) == ("accelerator", "table", 0)
            assert producer in rows[name]["reason"]
        assert all(r["runs_on"] == "accelerator" for r in table)
        if frame:
            assert (accel.ap_starts, accel.activation_relayouts) == (counts[0] + 1, counts[1] + 2)
