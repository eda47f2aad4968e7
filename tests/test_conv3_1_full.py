"""VGG16 conv3_1 at full size on the default PYNQ-Z2 build, in simulation (slow: ~10 minutes with
the Verilator build; run with ``pytest -m slow tests/test_conv3_1_full.py``).

The default build (``python -m dse.build``: VGG16 on PYNQ-Z2, the Winograd F(4,3) design today)
runs 128 -> 256 channels, 56x56, 3x3, pad 1 through the board driver's code over Verilator with
random int8 data (tests/harness/layers.py); the output must equal ``sim.reference`` bit for bit, and the DSE's cycle model
must predict the simulated cycles within 5 % (docs/results.md records the measured figures).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.backends import simulated
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.config import AcceleratorConfig
from rtl.descriptor import Descriptor
from tests.harness.layers import random_layer

ROOT = Path(__file__).resolve().parent.parent
C, M, H, W = 128, 256, 56, 56


@pytest.mark.slow
def test_vgg16_conv3_1_full_size_bit_exact(tmp_path):
    out = tmp_path / "vgg16-pynq-z2"
    proc = subprocess.run([sys.executable, "-m", "dse.build", "--out", str(out), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    config = AcceleratorConfig.from_dict(json.loads((out / "design.json").read_text())["config"])
    # The shared generator: most outputs strictly inside int8 (asserted), so the check is strong.
    x, wt, bias, mult, shift, want = random_layer(np.random.default_rng(31), C, M, H, W, 3, 1, 1, True)
    with simulated(out) as accel:
        got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=1, padding=1, relu=True)
        cycles = accel.counters["cycles"]
    assert np.array_equal(got, want)
    predicted = run_cycles(Descriptor(C, M, H, W, 3, 1, 1), config, ideal_memory_port(config)).cycles
    assert abs(predicted - cycles) <= 0.05 * cycles, (predicted, cycles)
