"""The native simulator's AXI4 memory model (sim/native/axi_memory.h) on its own: INCR, FIXED and
WRAP bursts, narrow beats, byte enables, the read and write latencies (2 cycles like
cocotbext-axi's AxiRam, or configured), DECERR outside the memory, injected SLVERR/DECERR,
protocol violations and random pauses. The master-side rules the harness enables (those of
sim/axi_monitor.py's AxiChecker) each get a master that breaks them once -- ARVALID / AWVALID /
WVALID dropped, AWADDR / WDATA / WSTRB changed while the beat waits for READY, a FIXED and a WRAP
burst with ``incr_only``, one read burst more than ``max_outstanding_reads`` -- and must count
exactly those faults, while legal traffic whose beats wait (random pauses, R held back, reads at
the limit) counts none. The checks are C++ (tests/rtl/native_axi_memory_check.cpp), compiled here
without Verilator; the accelerator-level checks are in test_native_backend.py."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_axi_memory_model(tmp_path):
    exe = tmp_path / "axi_memory_check"
    cxx = os.environ.get("CXX", "c++")
    build = subprocess.run([cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "sim" / "native"),
                            str(ROOT / "tests" / "rtl" / "native_axi_memory_check.cpp"), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all checks passed" in run.stdout
