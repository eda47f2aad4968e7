"""The native simulation backend (sim/backends/native.py, sim/native/): same results and the same cycle
counts as the cocotb backend, bit-exact under random back-pressure, memory error responses that
reach the driver as STATUS errors, and a clear exception -- never a hang -- when the simulator
process dies or freezes.

Small configurations keep the Verilator builds short (each is cached per configuration).
"""

import os
import signal
import threading
import time
from multiprocessing import Pipe

import numpy as np
import pytest

from drivers import AcceleratorError, layout
from sim.backends import SimulatedAccelerator, SimulatorFailure, simulated
from sim.backends.native import NativeAccelerator, native_simulation
from drivers.regmap import BUILD_MAGIC, REGISTERS
from sim.backends.base import design_verilog, load_design_config
from rtl.error_codes import ErrorCode
from tests.harness.designs import DIRECT
from tests.harness.layers import random_layer
from tests.harness.designs import WINOGRAD as WINOGRAD_BUILDS

WINOGRAD = WINOGRAD_BUILDS[4]

#: c, m, h, w, k, stride, padding, relu
DIRECT_LAYERS = [
    (8, 4, 6, 7, 3, 1, 1, True),
    (5, 6, 7, 6, 3, 2, 1, False),
    (16, 8, 5, 5, 1, 1, 0, False),
    (3, 5, 9, 8, 5, 1, 2, True),
    (20, 3, 8, 9, 5, 2, 0, False),
]
WINOGRAD_LAYERS = [
    (4, 2, 6, 6, 3, 1, 1, True),
    (5, 3, 7, 9, 3, 1, 1, False),
    (8, 2, 5, 8, 3, 1, 0, False),
    (7, 5, 13, 11, 3, 1, 1, True),
]
CASES = {"direct": (DIRECT, DIRECT_LAYERS), "winograd": (WINOGRAD, WINOGRAD_LAYERS)}


def run_layers(accel, layers, seed):
    """Outputs (checked bit-exact) and counters of ``layers`` with data from ``seed``."""
    rng = np.random.default_rng(seed)
    counters = []
    for layer in layers:
        x, wt, bias, mult, shift, expected = random_layer(rng, *layer)
        _, _, _, _, _, stride, padding, relu = layer
        got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=stride, padding=padding, relu=relu)
        assert np.array_equal(got, expected), f"layer {layer}: {np.argwhere(got != expected)[:5]}"
        if isinstance(accel, NativeAccelerator):
            assert not np.shares_memory(got, accel._ddr)  # the next layer must not change it
        counters.append(dict(accel.counters))
    return counters


def test_unpacked_outputs_are_new_arrays():
    """With pm = 1 the output reorder is a view; the driver's output buffer (a view of the native
    simulator's DDR) is reused by the next layer, so conv2d must hand back a copy."""
    raw = np.arange(64, dtype=np.uint8)
    for pm, m in ((1, 3), (2, 2), (4, 1)):
        y = layout.unpack_output(raw, m, 2, 3, pm)
        assert not np.shares_memory(y, raw) and y.flags["C_CONTIGUOUS"] and y.shape == (m, 2, 3)


@pytest.mark.parametrize("engine", sorted(CASES))
def test_native_and_cocotb_backends_agree_cycle_for_cycle(engine):
    """Without pauses both backends return the reference's outputs and identical counters: the
    native memory has AxiRam's latencies and the native wait polls CTRL as the cocotb server."""
    config, layers = CASES[engine]
    results = {}
    for backend in ("native", "cocotb"):
        with simulated(config, backend=backend, pauses="none") as accel:
            counters = run_layers(accel, layers, seed=5)
            results[backend] = counters, accel._call("cycles")
            if backend == "cocotb":
                # The server's protocol monitors watched every cycle of both ports.
                seen = accel._call("monitor")
                gmem, ctrl = seen["m_axi_gmem"], seen["s_axi_control"]
                assert gmem["violations"] == [] and ctrl["violations"] == []
                assert gmem["AW"] > 0 and gmem["W"] >= gmem["AW"] and gmem["B"] == gmem["AW"]
                assert gmem["AR"] > 0 and gmem["R"] >= gmem["AR"] and gmem["peak_reads"] <= config.outstanding_reads
                assert ctrl["AW"] == ctrl["W"] == ctrl["B"] > 0 and ctrl["AR"] == ctrl["R"] > 0
    assert results["native"][0] == results["cocotb"][0]
    assert results["native"][1] == results["cocotb"][1]  # the same number of AP_DONE polls
    assert all(c["stall_read_cycles"] > 0 for c in results["native"][0])


def test_native_random_pauses_bit_exact():
    with simulated(DIRECT, pauses="none") as accel:
        calm = run_layers(accel, DIRECT_LAYERS, seed=8)
    with simulated(DIRECT, pauses="random", seed=4) as accel:
        assert isinstance(accel, NativeAccelerator)
        stalled = run_layers(accel, DIRECT_LAYERS, seed=8)
        assert accel.memory_faults() == {"out_of_range": 0, "injected": 0, "protocol": 0, "messages": []}
    for a, b in zip(calm, stalled):
        assert a["active_cycles"] == b["active_cycles"] and a["bytes_read"] == b["bytes_read"]
        assert b["cycles"] > a["cycles"] and b["stall_read_cycles"] > a["stall_read_cycles"]


def test_native_memory_latency_slows_the_layer_only():
    layer = DIRECT_LAYERS[0]
    with simulated(DIRECT, read_latency=2, write_latency=2) as accel:
        base = run_layers(accel, [layer], seed=1)[0]
    with simulated(DIRECT, read_latency=40, write_latency=30) as accel:
        slow = run_layers(accel, [layer], seed=1)[0]
    assert slow["active_cycles"] == base["active_cycles"]
    assert slow["cycles"] > base["cycles"] + 38 and slow["stall_read_cycles"] > base["stall_read_cycles"]
    with pytest.raises(ValueError, match="at least 2 cycles"), simulated(DIRECT, read_latency=1):
        pass
    with pytest.raises(ValueError, match="only the native backend"), simulated(DIRECT, backend="cocotb", read_latency=5):
        pass


@pytest.mark.parametrize("engine", sorted(CASES))
def test_memory_errors_reach_the_driver_as_status_errors(engine):
    """SLVERR on the reads of each stream (input, weights, quant table) and DECERR on the
    output's writes end the layer with the AXI error code; the IP then runs the layer bit-exact."""
    config, layers = CASES[engine]
    rng = np.random.default_rng(2)
    x, wt, bias, mult, shift, expected = random_layer(rng, *layers[0])
    assert layers[0][5:] == (1, 1, True)   # stride 1, padding 1, ReLU: the calls below
    with simulated(config) as accel:
        assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True), expected)
        injected = 0
        for name in ("input", "weights", "quant"):
            buf = accel._buffers[name]
            accel.inject_error(buf.device_address, buf.device_address + buf.nbytes, "SLVERR", on="read")
            with pytest.raises(AcceleratorError, match=f"error {int(ErrorCode.AXI_READ_ERROR)} "):
                accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True)
            assert accel.memory_faults()["injected"] > injected, name
            injected = accel.memory_faults()["injected"]
            accel.clear_injected_errors()
            assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True),
                                  expected), name

        # Writes outside the simulated DDR are answered DECERR and reported.
        out = accel._buffers["output"]
        accel.inject_error(out.device_address, out.device_address + out.nbytes, "DECERR", on="write")
        with pytest.raises(AcceleratorError, match=f"error {int(ErrorCode.AXI_WRITE_ERROR)} "):
            accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True)
        accel.clear_injected_errors()
        desc = dict(accel._last_layers[0], out_addr=accel.memory_bytes + 0x10000)
        accel.start_layer(desc)
        accel._wait_done(None)
        assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.AXI_WRITE_ERROR
        faults = accel.memory_faults()
        assert faults["out_of_range"] > 0 and "outside the" in " ".join(faults["messages"])
        assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True), expected)


def test_native_buffers_are_views_of_the_simulated_ddr():
    with simulated(DIRECT, memory_bytes=1 << 20) as accel:
        buf = accel.allocate((3, 5), dtype=np.int16)
        assert buf.device_address % 4096 == 0 and buf.shape == (3, 5) and not buf.any()
        buf[1, 2] = -2
        buf.flush()
        raw = accel.mem_read(buf.device_address, buf.nbytes)
        assert np.frombuffer(raw, dtype=np.int16).reshape(3, 5)[1, 2] == -2
        accel.mem_write(buf.device_address, np.full(15, 7, np.int16).tobytes())
        buf.invalidate()
        assert (buf == 7).all()
        with pytest.raises(ValueError, match="outside the simulated DDR"):
            accel.mem_read((1 << 20) - 4, 8)
        with pytest.raises(MemoryError, match="is full"):
            accel.allocate(1 << 20)
        with pytest.raises(ValueError, match="unknown request 'bogus'"):
            accel._request("bogus 1")
        assert accel.read(REGISTERS["MAGIC"]) == BUILD_MAGIC
        assert accel.simulated_cycles > accel._call("cycles")


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_a_dead_or_frozen_native_simulator_raises_within_the_wall_timeout(how):
    with simulated(DIRECT, wall_timeout=2.0) as accel:
        assert accel.read(REGISTERS["MAGIC"]) == BUILD_MAGIC
        pid = accel._process.pid
        os.kill(pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        t0 = time.monotonic()
        expected = "ended with signal SIGKILL" if how == "killed" else "did not answer 'wait_done .*' within 2 s"
        with pytest.raises(SimulatorFailure, match=expected):
            accel._wait_done(10_000_000)
        assert time.monotonic() - t0 < 2.0 + 3.0
        with pytest.raises(SimulatorFailure, match=f"pid {pid}"):  # and it stays unusable
            accel.read(REGISTERS["MAGIC"])
        assert accel._process.poll() is not None  # a frozen simulator was killed, not left behind


def test_a_dead_cocotb_simulator_raises_instead_of_hanging():
    """The cocotb backend's calls are bounded too: a server whose process ended is noticed at once."""
    ours, _theirs = Pipe()
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    accel = SimulatedAccelerator(ours, 1 << 20, 10.0, thread=ended, outcome={"error": RuntimeError("crashed")},
                                 wall_timeout=30.0)
    t0 = time.monotonic()
    with pytest.raises(SimulatorFailure, match="cocotb simulator exited while answering 'read': crashed"):
        accel.read(REGISTERS["MAGIC"])
    assert time.monotonic() - t0 < 5.0
    mute, _other_end = Pipe()
    silent = SimulatedAccelerator(mute, 1 << 20, 10.0, wall_timeout=0.5)
    with pytest.raises(SimulatorFailure, match="did not answer within 0.5 s"):
        silent.read(REGISTERS["MAGIC"])


def test_the_native_simulator_runs_under_a_launcher():
    """``launcher`` (how bench/bench_sim_cost.py runs the simulator under callgrind) prefixes the
    simulator's command: under ``env``, which sets a variable and execs it with its descriptors,
    a layer still runs bit-exact; a command given as one string is refused before anything starts."""
    config, folder = load_design_config(DIRECT)
    text = design_verilog(config, folder)
    with native_simulation(config, text, launcher=("env", "CONVFORGE_LAUNCHED=1")) as accel:
        run_layers(accel, DIRECT_LAYERS[:1], seed=3)
        assert os.path.basename(accel._process.args[0]) == "env"
    with pytest.raises(ValueError, match="launcher must be a sequence of non-empty strings"):
        with native_simulation(config, text, launcher="valgrind --tool=callgrind"):
            pass
