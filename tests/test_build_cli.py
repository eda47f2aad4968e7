"""``python -m dse.build`` as a user runs it: default build, --help, and bad input (one sentence,
non-zero exit, nothing left that looks complete)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dse.report import fmt_number

ROOT = Path(__file__).resolve().parent.parent


def run(args, cwd):
    return subprocess.run([sys.executable, "-m", "dse.build", *args], cwd=cwd, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=600)


def one_sentence_error(proc, code: int = 2):
    """One ``error: ...`` sentence and exit status ``code``: 2 for bad input, 1 for a job that ran
    and failed (the rule of every CLI, dse/build.py's docstring)."""
    assert proc.returncode == code, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("."), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def nothing_complete(folder: Path):
    assert not (folder / "design.json").exists() and not (folder / "report.json").exists()
    assert not list(folder.parent.glob(f".{folder.name}.partial*"))


def test_default_build(tmp_path):
    # Its wall time is a figure of bench/bench_dse.py (docs/results.md, section dse), not an
    # assertion here: it depends on the machine's load.
    proc = run(["--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "build" / "vgg16-pynq-z2"
    design = json.loads((out / "design.json").read_text())
    verilog = out / "rtl" / f"{design['name']}.v"
    text = verilog.read_text()
    assert f"module {design['name']}" in text and str(tmp_path) not in text and "/work/" not in text
    for name in ("report.md", "report.json", "ga_convergence.png", "roofline.png"):
        assert (out / name).stat().st_size > 0
    assert design["network"] == "vgg16" and design["board"] == "pynq-z2" and "register_map" in design


def test_help():
    proc = run(["--help"], ROOT)
    assert proc.returncode == 0
    for flag in ("--network", "--board", "--out", "--engine", "--seed", "--population", "--generations", "--synth", "--timing"):
        assert flag in proc.stdout


@pytest.mark.parametrize("args,needle", [
    (["--network", "vgg17"], "unknown network 'vgg17'"),
    (["--board", "pynq-z9"], "unknown board 'pynq-z9'"),
])
def test_unknown_names(tmp_path, args, needle):
    out = tmp_path / "o"
    msg = one_sentence_error(run(args + ["--out", str(out), "--quiet"], tmp_path))
    assert needle in msg
    assert not out.exists()


def test_unparsable_onnx(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a model")
    out = tmp_path / "o"
    msg = one_sentence_error(run(["--network", str(bad), "--out", str(out), "--quiet"], tmp_path))
    assert "cannot parse ONNX file" in msg
    assert not out.exists()


def test_network_no_configuration_can_fit(tmp_path):
    # A 4096-channel 1024x1024 input: even a 1x1 PE array's line buffer needs ~900 BRAM36.
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="huge", pads=[1, 1, 1, 1])], "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096, 1024, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 1024, 1024])],
        [numpy_helper.from_array(np.zeros((16, 4096, 3, 3), np.float32), "w")])
    path = tmp_path / "huge.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    out = tmp_path / "o"
    msg = one_sentence_error(run(["--network", str(path), "--board", "pynq-z2", "--out", str(out), "--quiet",
                                  "--generations", "2", "--population", "4"], tmp_path), code=1)
    assert "no direct" in msg and "configuration can fit huge on pynq-z2" in msg
    nothing_complete(out)


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "o"
    msg = one_sentence_error(run(["--network", "lenet", "--out", str(out), "--quiet"], tmp_path))
    assert "cannot create the output folder" in msg
    assert not out.exists()


@pytest.mark.parametrize("make,needle", [
    (lambda d: (d / "d.onnx").mkdir() or d / "d.onnx", "is a folder, not an ONNX file"),
    (lambda d: (d / "plain").mkdir() or d / "plain", "is a folder: --network takes a zoo name (vgg16, alexnet, "),
    (lambda d: (d / "x.onnx").write_bytes(b"") or d / "x.onnx", "is empty"),
])
def test_folders_and_empty_files_as_networks(tmp_path, make, needle):
    path = make(tmp_path)
    msg = one_sentence_error(run(["--network", str(path), "--out", str(tmp_path / "o"), "--quiet"], tmp_path))
    assert needle in msg and str(path) in msg


def test_sim_run_names_a_missing_deploy_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sim.run", str(tmp_path / "nope")], cwd=tmp_path, capture_output=True,
                          text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"error: the deploy folder {tmp_path / 'nope'} does not exist; build it with python -m dse.build")


def test_progress_report_and_default_folder_agree_on_the_chosen_design(tmp_path):
    """The progress bar ends on the chosen design (after the refinement), the final line and the
    report give the same fps, the refinement is labelled as such, a direct design lists no tile
    size m, and --engine without --out writes build/<network>-<board>-<engine>."""
    proc = run(["--network", "lenet", "--engine", "direct", "--population", "6", "--generations", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "build" / "lenet-pynq-z2-direct"
    assert out.is_dir() and not (tmp_path / "build" / "lenet-pynq-z2").exists()
    rj = json.loads((out / "report.json").read_text())
    fps = rj["totals"]["fps"]
    shown = fmt_number(fps)
    bar = [line for line in proc.stderr.replace("\r", "\n").splitlines() if "DSE lenet on pynq-z2" in line]
    assert bar and f"chosen {shown} fps after refinement" in bar[-1], bar[-1:]
    assert f"predicted {shown} fps" in proc.stdout
    md = (out / "report.md").read_text()
    assert f"Predicted **{shown} fps**" in md and "e+0" not in md.split("## Configuration")[0]
    assert "| refinement |" in md and "| m |" not in md
    assert rj["search"]["history"][-1]["refined"] is True
