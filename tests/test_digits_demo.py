"""The digits demo (examples/): a CNN trained on scikit-learn's 8x8 digits, quantised to int8 and run
through the simulated IP, equal bit for bit to the numpy int8 reference.

One deploy folder (``python -m dse.build --network digits-cnn --board pynq-z2`` with fast GA
settings, built here) and one simulation serve the module. Default suite: the training code
(finite-difference gradients, forward pass against ``drivers.float_forward``), the shipped
weights' float and int8 accuracy on the whole held-out set, the first 30 held-out images through
the IP, and both example scripts on 5 images each. ``-m slow``: the whole held-out set through the
IP, and retraining reproduces the shipped weights.
"""

import ast
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers import float_forward
from sim.backends import simulated
from dse.networks import get_network
from tests.harness.layers import InteriorRecorder

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

import digits_common as dc  # noqa: E402
import digits_train as dt  # noqa: E402

FAST_IMAGES = 30
#: Held-out accuracy the shipped model must reach (float and int8; it has 0.9806 for both).
ACCURACY_BOUND = 0.97
#: On the first 30 held-out images (28 of 30 right with these weights).
FAST_ACCURACY_BOUND = 0.9


@pytest.fixture(scope="module")
def split():
    return dc.load_split()


@pytest.fixture(scope="module")
def model():
    return dc.load_weights()


@pytest.fixture(scope="module")
def qnet(model, split):
    return dc.quantized_model(model[0], split[0])


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "digits-cnn"
    proc = subprocess.run([sys.executable, "-m", "dse.build", "--network", "digits-cnn", "--board", "pynq-z2",
                           "--population", "8", "--generations", "2", "--quiet", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads((out / "design.json").read_text())


@pytest.fixture(scope="module")
def accel(design):
    with simulated(design[0], pauses="random", seed=3) as a:
        yield a


# ----- the data, the training code and the shipped weights ------------------------------------------

def test_split_is_fixed_and_disjoint(split):
    x_train, y_train, x_test, y_test = split
    assert x_train.shape == (1797 - dc.TEST_SIZE, 1, 8, 8) and x_test.shape == (dc.TEST_SIZE, 1, 8, 8)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # Every class is in both sets, and no held-out image is a training image.
    assert set(y_train) == set(y_test) == set(range(10))
    train_rows = {row.tobytes() for row in x_train.reshape(len(x_train), -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(len(x_test), -1))
    again = dc.load_split()
    assert all(np.array_equal(a, b) for a, b in zip(split, again))


def test_training_gradients_match_finite_differences(split):
    rng = np.random.default_rng(7)
    params = dt.init_params(rng)
    for k in params:  # non-zero biases and away from the initial symmetric point
        params[k] = params[k] + rng.normal(0.0, 0.1, size=params[k].shape)
    x, y = split[0][:6], split[1][:6]
    _, grads = dt.loss_and_grads(params, x, y)
    eps = 1e-6
    for name, value in params.items():
        for _ in range(4):
            i = tuple(int(rng.integers(0, s)) for s in value.shape)
            old = value[i]
            value[i] = old + eps
            up, _ = dt.loss_and_grads(params, x, y)
            value[i] = old - eps
            down, _ = dt.loss_and_grads(params, x, y)
            value[i] = old
            assert grads[name][i] == pytest.approx((up - down) / (2 * eps), abs=1e-7), (name, i)


def test_training_forward_equals_drivers_float_forward(model, split):
    weights, _ = model
    params = {f"{layer}.{kind}": weights[layer][kind] for layer in weights for kind in ("weight", "bias")}
    x = split[2][:20]
    logits = dt.forward(params, x)
    net = get_network("digits-cnn")
    want = np.array([float_forward(net, xi, weights).ravel() for xi in x])
    np.testing.assert_allclose(logits, want, rtol=1e-12, atol=1e-12)


def test_shipped_weights_float_and_int8_accuracy(model, qnet, split):
    weights, meta = model
    _, _, x_test, y_test = split
    float_acc = dc.accuracy(dc.float_predictions(weights, x_test), y_test)
    assert float_acc == pytest.approx(meta["test_accuracy"], abs=1e-12)  # what digits_train.py measured
    assert float_acc >= ACCURACY_BOUND
    int8 = dc.evaluate(qnet, x_test)
    assert int8.outputs.dtype == np.int8 and int8.outputs.shape == (dc.TEST_SIZE, 10)
    assert len(np.unique(int8.outputs)) > 50  # logits spread over the int8 range, not saturated
    int8_acc = dc.accuracy(int8.predictions, y_test)
    assert int8_acc >= ACCURACY_BOUND and abs(int8_acc - float_acc) <= 0.01
    assert dc.MODEL_PATH.stat().st_size < 20_000  # "small": about 9 KB


# ----- on the simulated IP -----------------------------------------------------------------------------

def _placed(dj, where: str) -> list[str]:
    """The layers the design places ``where``; the driver's table says "accelerator" for a layer
    fused into its producer's run (the design's "fused")."""
    return [l["name"] for l in dj["layers"] if l["runs_on"] == where or where == "accelerator" and l["runs_on"] == "fused"]


def test_design_places_the_convolutions_on_the_ip(design):
    """Both convolutions run on the IP; the fc layer where the DSE's model says it is faster
    (its reason says why), as a 1x1 or embedded 3x3 convolution when on the IP."""
    _, dj = design
    placed = {l["name"]: l for l in dj["layers"]}
    assert placed["conv1"]["runs_on"] == placed["conv2"]["runs_on"] == "accelerator"
    fc = placed["fc"]
    if fc["runs_on"] == "accelerator":
        assert fc["mapping"] in ("fc-as-1x1", "embedded-3x3")  # direct / Winograd design
    else:
        assert fc["reason"].startswith(("the CPU is faster", "fully-connected layers are left to the CPU"))
    # Each 2x2 max-pool follows a convolution's ReLU: in its pooling stage on a build with one.
    pools = "fused" if dj["config"]["pooling"] else "cpu"
    assert placed["pool1"]["runs_on"] == placed["pool2"]["runs_on"] == pools


def test_first_held_out_images_on_the_ip_equal_the_int8_reference(design, accel, qnet, split):
    folder, dj = design
    _, _, x_test, y_test = split
    x, y = x_test[:FAST_IMAGES], y_test[:FAST_IMAGES]
    reference = dc.evaluate(qnet, x)
    ip = InteriorRecorder(accel)
    on_ip = dc.evaluate(qnet, x, ip, plan=folder)
    np.testing.assert_array_equal(on_ip.outputs, reference.outputs)
    np.testing.assert_array_equal(on_ip.predictions, reference.predictions)
    ip.assert_interior("digits-cnn on held-out images")
    assert dc.accuracy(on_ip.predictions, y) >= FAST_ACCURACY_BOUND
    assert on_ip.layers_on("accelerator") == _placed(dj, "accelerator")
    assert on_ip.layers_on("cpu") == _placed(dj, "cpu")
    clock = dj["config"]["clock_mhz"] * 1e6
    for table, cycles, seconds in zip(on_ip.tables, on_ip.accelerator_cycles, on_ip.accelerator_seconds):
        fused = [r for r in table if r["runs_on"] == "accelerator" and r["mapping"] in ("pool", "table")]
        assert all(r["runs"] == 0 and r["cycles"] is None for r in fused)
        rows = [r for r in table if r["runs_on"] == "accelerator" and r not in fused]
        assert all(r["runs"] == 1 and r["cycles"] > 0 and r["bytes_written"] > 0 for r in rows)
        assert cycles == sum(r["cycles"] for r in rows)
        assert seconds == pytest.approx(cycles / clock)


def test_board_script_runs_with_the_simulation_behind_the_overlay(design, accel, split, monkeypatch, capsys):
    """examples/digits_board.py as on the board -- copied into the deploy folder next to the
    digits-int8.npz that digits_sim.py writes, run from there -- except that ``pynq.Overlay``
    (which needs the bitstream and a Zynq) hands out the simulated IP as its cell."""
    import pynq

    folder, dj = design
    script = folder / "digits_board.py"
    shutil.copyfile(EXAMPLES / "digits_board.py", script)
    dc.export_for_board(folder)
    # It imports only the standard library, numpy, pynq and the runtime.
    tree = ast.parse(script.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"argparse", "json", "time", "pathlib", "numpy", "pynq", "drivers"}
    loaded = []

    class SimulatedOverlay:
        def __init__(self, bitfile):
            loaded.append(bitfile)
            self.conv_accelerator_0 = accel

    monkeypatch.setattr(pynq, "Overlay", SimulatedOverlay)
    monkeypatch.setattr(sys, "argv", ["digits_board.py", "--images", "5", "--json"])
    monkeypatch.chdir(folder)
    runpy.run_path(str(script), run_name="__main__")
    assert loaded == [str(folder / f"{dj['name']}.bit")]
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{\n"):])
    assert result["images"] == 5 and result["identical_outputs"]
    assert result["accelerated_layers"] == _placed(dj, "accelerator") and result["cpu_layers"] == _placed(dj, "cpu")
    _, _, x_test, y_test = split
    weights, _ = dc.load_weights()
    assert result["float_accuracy"] == dc.accuracy(dc.float_predictions(weights, x_test[:5]), y_test[:5])
    assert result["int8_accuracy"] == result["accelerator_accuracy"]
    assert result["cycles_per_image"] > 0


def test_sim_script(design):
    """examples/digits_sim.py (its own simulation, without AXI pauses): the latency it reports is
    the same for every image (the schedule does not depend on the data) but the first, whose
    first run after reset may take a few cycles more (5 on an F(2,3) pm=1 pn=1 design), and near
    the DSE's prediction for the design."""
    folder, dj = design
    proc = subprocess.run([sys.executable, str(EXAMPLES / "digits_sim.py"), "--design", str(folder), "--images", "5",
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{\n"):])
    assert result["images"] == 5 and result["identical_outputs"]
    assert result["int8_accuracy"] == result["accelerator_accuracy"]
    lo, hi = result["cycles_min_max"]
    assert lo == result["cycles_per_image"] and 0 <= hi - lo <= 8  # the median: images 2-5
    assert sum(result["layer_cycles"].values()) == hi > 0           # the table: image 1, after reset
    assert result["accelerator_seconds_per_image"] == pytest.approx(lo / (dj["config"]["clock_mhz"] * 1e6))
    predicted = sum(l["predicted_cycles"] for l in dj["layers"] if l["runs_on"] == "accelerator")
    assert abs(lo - predicted) <= 0.25 * predicted


# ----- full size ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_whole_held_out_set_on_the_ip(design, accel, qnet, model, split):
    folder, _ = design
    _, _, x_test, y_test = split
    reference = dc.evaluate(qnet, x_test)
    ip = InteriorRecorder(accel)
    on_ip = dc.evaluate(qnet, x_test, ip, plan=folder)
    np.testing.assert_array_equal(on_ip.outputs, reference.outputs)
    ip.assert_interior("digits-cnn on the whole held-out set")
    acc = dc.accuracy(on_ip.predictions, y_test)
    assert acc == dc.accuracy(reference.predictions, y_test) >= ACCURACY_BOUND
    assert abs(acc - dc.accuracy(dc.float_predictions(model[0], x_test), y_test)) <= 0.01


@pytest.mark.slow
def test_training_script_reproduces_the_shipped_weights(tmp_path, model):
    out = tmp_path / "retrained.npz"
    meta = model[1]
    assert dt.main(["--epochs", str(meta["epochs"]), "--seed", str(meta["seed"]), "--out", str(out)]) == 0
    weights, new_meta = dc.load_weights(out)
    for layer, entry in model[0].items():
        for kind in ("weight", "bias"):
            np.testing.assert_allclose(weights[layer][kind], entry[kind], rtol=1e-4, atol=1e-6)
    assert new_meta["test_accuracy"] == meta["test_accuracy"]
