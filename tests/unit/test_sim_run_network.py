"""``python -m sim.run --network``: the refusals that come before any simulation (one sentence,
exit status 2), and the old DESIGN_DIR form still required without ``--network``. The whole run
(build, Verilator, onnxruntime) is exercised by hand and its figures are in docs/dse.md."""

import json
from pathlib import Path

import numpy as np
import pytest

from sim.run import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torch_resnet.onnx"


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_network_needs_an_input(capsys):
    assert "--network needs --input" in _error(capsys, ["--network", str(FIXTURE)])


def test_input_of_the_wrong_shape_is_refused(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 16, 16), np.float32))
    msg = _error(capsys, ["--network", str(FIXTURE), "--input", str(tmp_path / "x.npy")])
    assert "the input must have shape (3, 32, 32) or [N, 3, 32, 32], got (3, 16, 16)" in msg


def test_a_design_for_another_network_is_refused(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 32, 32), np.float32))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "design.json").write_text(json.dumps({"network": "vgg16", "layers": []}))
    msg = _error(capsys, ["--network", str(FIXTURE), "--input", str(tmp_path / "x.npy"), str(tmp_path / "d")])
    assert "was built for 'vgg16', not for 'torch_resnet'" in msg


def test_without_network_a_design_dir_is_required():
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_a_symbolic_model_needs_its_input_shape(tmp_path, capsys):
    """--input-shape reaches the importer: without it one sentence says which axis is symbolic;
    with a shape of the wrong rank another says what the model has."""
    import onnx

    model = onnx.load(str(FIXTURE))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    path = tmp_path / "sym.onnx"
    onnx.save(model, str(path))
    np.save(tmp_path / "x.npy", np.zeros((3, 32, 32), np.float32))
    argv = ["--network", str(path), "--input", str(tmp_path / "x.npy")]
    assert "has the symbolic dimension 'height' at axis 2" in _error(capsys, argv)
    assert "but --input-shape gives 3" in _error(capsys, argv + ["--input-shape", "1,32,32"])
