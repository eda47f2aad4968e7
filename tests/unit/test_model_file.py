"""drivers/model_file.py: a quantised network saved on the PC runs bit for bit the same when loaded
with the runtime alone -- every CPU layer kind (the ONNX cases of test_cpu_ops.py), the zoo-pattern
fixtures (residual adds, concats, depthwise convolutions, channel shuffles, batch norms) and the
digits demo's network."""

import json

import numpy as np
import pytest

from drivers import quantize_network, run_network
from drivers.model_file import FORMAT, SavedNetwork, load_network, save_network
from dse.onnx_import import load_onnx
from tests.fixtures.make_onnx_fixtures import FIXTURES
from tests.unit.test_cpu_ops import CASES, _case, _model
from tests.unit.test_onnx_fixtures import HERE

RNG = np.random.default_rng(5)


def _round_trip(tmp_path, net, xs):
    qnet = quantize_network(net, xs)
    extra = {"images": xs.astype(np.float32), "labels": np.arange(len(xs))}
    path = save_network(qnet, tmp_path / "net.npz", **extra)
    loaded, got_extra = load_network(path)
    assert isinstance(loaded.network, SavedNetwork) and loaded.input_scale == qnet.input_scale
    assert set(got_extra) == set(extra) and all(np.array_equal(got_extra[k], extra[k]) for k in extra)
    for x in xs:
        want, want_table = run_network(qnet, x)
        got, got_table = run_network(loaded, x)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert [(r["name"], r["kind"], r["shape"]) for r in got_table] == \
            [(r["name"], r["kind"], r["shape"]) for r in want_table]
    return loaded


@pytest.mark.parametrize("case", CASES)
def test_every_cpu_layer_kind_round_trips(tmp_path, case):
    nodes, inits, shape, _ = _case(case)
    net = load_onnx(_model(tmp_path / f"{case}.onnx", nodes, shape, "y", inits,
                           opset=18 if case.endswith("18") else 17))
    _round_trip(tmp_path, net, RNG.normal(size=(3,) + tuple(shape[1:])))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_zoo_pattern_fixtures_round_trip(tmp_path, name):
    net = load_onnx(HERE / name)
    loaded = _round_trip(tmp_path, net, RNG.normal(size=(2,) + net.input_shape))
    assert [l.name for l in loaded.network.layers] == [l.name for l in net.layers]
    for a, b in zip(loaded.network.layers, net.layers):
        assert (a.kind, a.inputs, a.groups, a.relu, a.kernel, a.stride, a.padding) == \
            (b.kind, b.inputs, b.groups, b.relu, b.kernel, b.stride, b.padding)


def test_the_file_is_plain_arrays_and_says_its_format(tmp_path):
    net = load_onnx(HERE / sorted(FIXTURES)[0])
    path = save_network(quantize_network(net, RNG.normal(size=(1,) + net.input_shape)), tmp_path / "n.npz")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["network"].tobytes().decode())
        assert meta["format"] == FORMAT and all(data[k].dtype != object for k in data.files)
    meta["format"] = "something-else/9"
    arrays = dict(np.load(path))
    arrays["network"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(ValueError, match="has format 'something-else/9'; this runtime reads"):
        load_network(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="must not start with 'layer'"):
        save_network(quantize_network(net, RNG.normal(size=(1,) + net.input_shape)), tmp_path / "x.npz",
                     layer_x=np.zeros(1))
