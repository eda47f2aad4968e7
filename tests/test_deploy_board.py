"""What a deploy folder carries to the board (issue 28): the runtime wheel, BOARD.md and the example.

One folder (digits-cnn on PYNQ-Z2, fast GA settings, the same design as tests/test_digits_demo.py,
so the Verilator model is shared) serves the module. The example runs as on the board, except
that ``pynq.Overlay`` hands out the simulated IP as its ``conv_accelerator_0`` cell.
"""

import json
import runpy
import sys
import zipfile
from pathlib import Path

import pynq
import pytest

from dse.build import build
from dse.packaging.runtime_wheel import RUNTIME_DISTRIBUTION
from sim.backends import simulated

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out, _ = build("digits-cnn", "pynq-z2", tmp_path_factory.mktemp("deploy") / "digits-cnn-pynq-z2", population=8,
                   generations=2)
    return out


def _wheel(folder: Path) -> Path:
    wheels = sorted(folder.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_is_the_runtime_and_nothing_else(folder):
    wheel = _wheel(folder)
    assert wheel.name.startswith(RUNTIME_DISTRIBUTION.replace("-", "_") + "-") and wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        packaged = {n: z.read(n) for n in names if n.startswith("drivers/")}
    assert set(packaged) == {f"drivers/{p.name}" for p in (ROOT / "drivers").glob("*.py")}
    assert all(packaged[f"drivers/{p.name}"] == p.read_bytes() for p in (ROOT / "drivers").glob("*.py"))
    assert {n.split("/")[0] for n in names} == {"drivers", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                                                + ".dist-info"}
    assert "Requires-Python: >=3.8" in meta.splitlines()
    assert [line for line in meta.splitlines() if line.startswith("Requires-Dist")] == ["Requires-Dist: numpy>=1.21"]


def test_board_md_gives_the_steps(folder):
    text = (folder / "BOARD.md").read_text()
    dj = json.loads((folder / "design.json").read_text())
    wheel = _wheel(folder).name
    steps = ["vivado -mode batch -source vivado/build.tcl", f"scp -r {folder.name} xilinx@pynq:",
             f"pip install --no-deps {folder.name}/{wheel}", f"cd {folder.name}\npython3 example.py"]
    at = [text.index(s) for s in steps]
    assert at == sorted(at)
    assert f"`{dj['name']}.bit` and `{dj['name']}.hwh`" in text and "has not yet been run in Vivado" in text
    assert "Vivado 2022.1" in text and "minutes" in text


def test_the_notebook_holds_the_scripts_code(folder):
    nb = json.loads((folder / "example.ipynb").read_text())
    assert nb["nbformat"] == 4
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    script = (folder / "example.py").read_text()
    assert len(code) == 4 and all(c in script for c in code)
    compile(script, "example.py", "exec")


def test_the_example_runs_every_accelerated_layer_on_the_ip(folder, monkeypatch, capsys):
    dj = json.loads((folder / "design.json").read_text())
    accelerated = [layer["name"] for layer in dj["layers"] if layer["runs_on"] == "accelerator"]
    loaded = []
    with simulated(folder) as accel:
        class SimulatedOverlay:
            def __init__(self, bitfile):
                loaded.append(bitfile)
                self.conv_accelerator_0 = accel

        monkeypatch.setattr(pynq, "Overlay", SimulatedOverlay)
        monkeypatch.setattr(sys, "argv", ["example.py", str(folder)])
        runpy.run_path(str(folder / "example.py"), run_name="__main__")
    assert loaded == [str(folder / f"{dj['name']}.bit")]
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in accelerated]
    assert [line[0] for line in lines] == accelerated and all("bit-exact" in line for line in lines)
    assert f"{len(accelerated)} of {len(accelerated)} accelerated layers bit-exact on the IP" in out
