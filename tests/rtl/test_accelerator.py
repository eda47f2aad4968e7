"""ConvAccelerator end to end: the driver over a Verilator simulation, bit-exact vs sim.reference.

Small configurations keep the Verilator builds short; every layer runs through the same code a
board user runs (drivers.core.AcceleratorDriver), with cocotbext-axi AxiRam back-pressure on every
AXI channel and AxiLiteMaster on the control port.
"""

import numpy as np
import pytest

from drivers import AcceleratorBusy, AcceleratorTimeout
from sim.backends import simulated
from drivers.regmap import ABORT, AP_IDLE, BUILD_MAGIC, REGISTERS
from rtl.config import AcceleratorConfig
from rtl.error_codes import ErrorCode
from tests.harness.designs import DIRECT, SIXTEEN_BIT, WINOGRAD
from tests.harness.layers import random_layer

LAYERS = [
    # c, m, h, w, k, stride, padding, relu
    (8, 4, 6, 7, 3, 1, 1, True),
    (5, 6, 7, 6, 3, 2, 1, False),
    (16, 8, 5, 5, 1, 1, 0, False),
    (3, 5, 9, 8, 5, 1, 2, True),
    (20, 3, 8, 9, 5, 2, 0, False),
    (1, 1, 3, 3, 3, 1, 0, False),
]


@pytest.mark.parametrize("pauses", ["none", "random"])
def test_direct_layers_bit_exact_back_to_back(pauses):
    rng = np.random.default_rng(7)
    with simulated(DIRECT, pauses=pauses, seed=3) as accel:
        assert accel.info.pm == 4 and accel.info.pn == 8 and accel.info.engine == "direct"
        for layer in LAYERS:
            x, wt, bias, mult, shift, expected = random_layer(rng, *layer)
            c, m, h, w, k, stride, padding, relu = layer
            got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=stride, padding=padding, relu=relu)
            assert got.dtype == np.int8 and got.shape == expected.shape
            assert np.array_equal(got, expected), f"layer {layer}: {np.argwhere(got != expected)[:5]}"
            ho, wo = expected.shape[1:]
            counters = accel.counters
            ideal = -(-m // 4) * -(-c // 8) * ho * wo * k * k
            assert counters["active_cycles"] == ideal, counters
            assert counters["cycles"] >= ideal


def test_memory_outside_the_output_is_untouched_and_bad_descriptors_are_refused():
    rng = np.random.default_rng(11)
    with simulated(DIRECT, pauses="fixed", seed=5) as accel:
        # Guard pattern over every byte the driver may use, then one layer.
        x, wt, bias, mult, shift, expected = random_layer(rng, 6, 5, 6, 6, 3, 1, 1, False)
        accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1)  # allocates the buffers
        span = accel.allocated_bytes + 8192
        pattern = bytes((i * 37 + 11) & 0xFF for i in range(span))
        accel.mem_write(0, pattern)
        out_buf = accel._buffers["output"]
        got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1)
        assert np.array_equal(got, expected)
        after = accel.mem_read(0, span)
        out_lo = out_buf.device_address
        out_hi = out_lo + 2 * 6 * 6 * 4  # MG * Ho * Wo * pm bytes written by this layer
        changed = [i for i in range(span) if after[i] != pattern[i] and not (out_lo <= i < out_hi)]
        # Inputs, weights and quant were rewritten by the driver with the same layer's data:
        for name in ("input", "weights", "quant"):
            b = accel._buffers[name]
            changed = [i for i in changed if not (b.device_address <= i < b.device_address + b.nbytes)]
        assert changed == [], f"bytes outside the layer's buffers changed: {changed[:10]}"

        def refused(code, **overrides):
            desc = dict(in_addr=0x1000, weight_addr=0x2000, out_addr=0x3000, quant_addr=0x4000,
                        in_channels=4, out_channels=4, height=5, width=5, kernel=3, stride=1, padding=1, relu=0)
            desc.update(overrides)
            before = accel.mem_read(0, 0x8000)
            accel.start_layer(desc)
            accel._wait_done(20000)
            status = accel.read(0x60)
            assert status & 0xFF == code, f"{overrides}: status {status:#x}, expected {code!r}"
            assert accel._read_counters()["bytes_read"] == 0
            assert accel.mem_read(0, 0x8000) == before

        refused(ErrorCode.BAD_CHANNELS, in_channels=0)
        refused(ErrorCode.BAD_CHANNELS, out_channels=25)
        refused(ErrorCode.BAD_SIZE, width=21)
        refused(ErrorCode.BAD_SIZE, height=0)
        refused(ErrorCode.BAD_KERNEL, kernel=7)
        refused(ErrorCode.BAD_STRIDE, stride=3)
        refused(ErrorCode.BAD_PADDING, padding=3)
        refused(ErrorCode.BAD_OUTPUT, height=1, padding=0)
        # Issue 15 case 1: an output larger than the build's maxima (padding above (K-1)/2) is
        # refused; it used to overflow the output counters and never finish.
        refused(ErrorCode.BAD_OUTPUT, height=20, width=8, kernel=5, padding=4)
        refused(ErrorCode.BAD_OUTPUT, height=8, width=20, kernel=3, padding=2)
        refused(ErrorCode.BAD_ADDRESS, out_addr=(1 << 64) - 16)
        # ... and the IP still works afterwards.
        assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1), expected)


def test_driver_refuses_what_the_ip_cannot_run():
    with simulated(DIRECT) as accel:
        x = np.zeros((4, 5, 5), np.int8)
        with pytest.raises(ValueError, match="kernel must be"):
            accel.conv2d(x, np.zeros((2, 4, 7, 7), np.int8))
        with pytest.raises(ValueError, match="input must be at most"):
            accel.conv2d(np.zeros((4, 5, 30), np.int8), np.zeros((2, 4, 3, 3), np.int8))
        with pytest.raises(ValueError, match="int8"):
            accel.conv2d(x.astype(np.int16) + 200, np.zeros((2, 4, 3, 3), np.int8))


def test_driver_misuse_gets_clear_errors_and_never_stale_results():
    """Issue 15, cases 3, 5, 6: after a timeout the next layer is refused (AcceleratorBusy), not
    answered with the old run's AP_DONE; float stride/padding and register offsets outside the
    window raise ValueError before anything reaches the IP; the IP keeps working after each."""
    rng = np.random.default_rng(3)
    x, wt, bias, mult, shift, expected = random_layer(rng, 8, 6, 7, 7, 3, 1, 1, True)
    with simulated(DIRECT) as accel:
        for kw, what in ((dict(stride=1.0), "stride"), (dict(padding=1.0), "padding"), (dict(stride=True), "stride"),
                         (dict(relu=0.5), "relu")):
            with pytest.raises(ValueError, match=what):
                accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, **{"padding": 1, **kw})
        for offset in (0x100, 0x1000, -4, 0x42, 4.0):
            with pytest.raises(ValueError, match="register offset|must be an integer"):
                accel.read(offset)
        with pytest.raises(ValueError, match="outside the IP's window"):
            accel.write(0x104, 1)
        assert accel.read(REGISTERS["MAGIC"]) == BUILD_MAGIC  # the simulator is alive
        with pytest.raises(ValueError, match="output must be at most 20x20 on this build, got 24x8"):
            accel.conv2d(np.zeros((4, 20, 4), np.int8), np.zeros((2, 4, 5, 5), np.int8), padding=4)
        # The largest output the build counts: 16 + 2*4 - 5 + 1 = 20 rows (the maximum), bit-exact.
        xb, wb, bb, mb, sb, eb = random_layer(rng, 4, 2, 16, 8, 5, 1, 4, False)
        assert np.array_equal(accel.conv2d(xb, wb, bias=bb, mult=mb, shift=sb, padding=4), eb)

        # Case 4: a timeout aborts the layer (CTRL.ABORT) and raises; the IP is idle again.
        accel.timeout = 50  # simulated cycles: far too few for this layer
        with pytest.raises(AcceleratorTimeout, match="aborted and the IP is idle again.*ERROR = 10"):
            accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True)
        assert accel.read(REGISTERS["CTRL"]) & AP_IDLE
        assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.ABORTED
        accel.timeout = None
        # Case 3: a start while a layer runs is refused before anything is written.
        accel.start_layer(accel._last_layers[0])
        with pytest.raises(AcceleratorBusy, match="still running"):
            accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True)
        accel._wait_done(1_000_000)  # that run finishes on its own
        assert accel.read(REGISTERS["CTRL"]) & AP_IDLE
        got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True)
        assert np.array_equal(got, expected)


#: Simulated cycles an abort may take on the small builds under random back-pressure: the
#: masters' outstanding bursts (a few, of at most 256 beats) drain, then a flush cycle.
ABORT_BOUND = 4000
#: Write beats that may still land after the register write of CTRL.ABORT: those in flight
#: while the abort reaches the masters' ``stop`` (the self-clearing bit, the sequencer's
#: ``aborting`` register, its ``stop`` register) and a W beat already presented, which completes
#: its handshake as it is (AXI payloads are stable until accepted).
ABORT_EFFECT = 4


@pytest.mark.parametrize("engine", ["direct", "winograd"])
def test_abort_stops_a_running_layer_and_nothing_is_written_after(engine):
    """Issue 15 case 4: CTRL.ABORT at several points of a run ends it within ABORT_BOUND cycles
    with STATUS.ERROR = ABORTED; no byte outside the output buffer changes, nothing at all
    changes after AP_DONE; the IP then runs the same layer bit-exact. ABORT while idle is ignored."""
    config = DIRECT if engine == "direct" else WINOGRAD[4]
    rng = np.random.default_rng(21)
    layer = (8, 6, 9, 11, 3, 1, 1, True)
    x, wt, bias, mult, shift, expected = random_layer(rng, *layer)
    with simulated(config, pauses="random", seed=9) as accel:
        assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True), expected)
        full = accel.counters["cycles"]
        desc = accel._last_layers[0]
        out = accel._buffers["output"]
        span = accel.allocated_bytes + 4096
        for point in (0, full // 7, full // 2, 3 * full // 4):
            pattern = bytes((i * 41 + point) & 0xFF for i in range(span))
            accel.mem_write(0, pattern)
            accel.start_layer(desc)
            if point:
                assert accel._call("wait_done", point)[0] is False
            accel.write(REGISTERS["CTRL"], ABORT)
            # From here on the IP may only drain the bursts it has issued, with WSTRB = 0.
            at_abort = accel.mem_read(out.device_address, out.nbytes)
            done, waited = accel._call("wait_done", ABORT_BOUND)
            assert done, f"abort at cycle {point} did not end the run within {ABORT_BOUND} cycles"
            assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.ABORTED
            assert accel.read(REGISTERS["CTRL"]) & AP_IDLE
            after = accel.mem_read(0, span)
            stray = [i for i in range(span) if after[i] != pattern[i]
                     and not out.device_address <= i < out.device_address + out.nbytes]
            assert stray == [], f"abort at cycle {point}: bytes outside the output changed: {stray[:8]}"
            drained = accel.mem_read(out.device_address, out.nbytes)
            late = [i for i in range(out.nbytes) if drained[i] != at_abort[i]]
            assert len(late) <= ABORT_EFFECT * accel.info.axi_data_width // 8, \
                f"abort at cycle {point}: {len(late)} output bytes written after the abort: {late[:8]}"
            assert accel._call("wait_done", 2000)[0] is False  # nothing further happens ...
            assert accel.mem_read(0, span) == after            # ... and nothing is written
        accel.write(REGISTERS["CTRL"], ABORT)  # idle: ignored
        got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=1, relu=True)
        assert np.array_equal(got, expected)
        assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.OK


WINOGRAD_LAYERS = [
    # c, m, h, w, padding, relu
    (4, 2, 6, 6, 1, True),
    (5, 3, 7, 9, 1, False),   # channels not multiples of pn/pm, odd sizes, partial edge tiles
    (8, 2, 5, 8, 0, False),
    (1, 1, 3, 3, 0, True),
]


#: PE arrays that are not powers of two: their activation, weight and output words do not divide
#: an AXI beat (24/48/144-bit words on a 64-bit bus, 96-bit weight words of 2 taps on 128), so
#: every DMA converter runs as a gearbox and the layer check divides by 3.
ODD_ARRAYS = {
    # ... and a 32-bit address port (Zynq-7000 HP): the IP refuses buffers crossing 4 GiB.
    "direct-6x3": AcceleratorConfig(engine="direct", pm=6, pn=3, max_width=20, max_height=20, max_channels=20,
                                    max_kernel=5, max_stride=2, requant_lanes=3, clock_mhz=100, axi_addr_width=32),
    "f43-3x2": AcceleratorConfig(engine="winograd", m=4, pm=3, pn=2, max_width=20, max_height=20, max_channels=8,
                                 max_kernel=3, max_stride=1, requant_lanes=3, clock_mhz=100),
    "f23-2x3-axi128": AcceleratorConfig(engine="winograd", m=2, pm=2, pn=3, axi_data_width=128, max_width=20,
                                        max_height=20, max_channels=8, max_kernel=3, max_stride=1,
                                        requant_lanes=1, clock_mhz=100),
}


@pytest.mark.parametrize("name", sorted(ODD_ARRAYS))
def test_non_power_of_two_arrays_bit_exact(name):
    cfg = ODD_ARRAYS[name]
    rng = np.random.default_rng(len(name))
    if cfg.engine == "direct":
        layers = LAYERS
    else:
        layers = [(c, mo, h, w, 3, 1, p, r) for c, mo, h, w, p, r in WINOGRAD_LAYERS + [(7, 5, 13, 11, 1, True)]]
    with simulated(cfg, pauses="random", seed=9) as accel:
        assert (accel.info.pm, accel.info.pn) == (cfg.pm, cfg.pn)
        for c, mo, h, w, k, stride, padding, relu in layers:
            c = min(c, cfg.max_channels)
            x, wt, bias, mult, shift, expected = random_layer(rng, c, mo, h, w, k, stride, padding, relu)
            got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=stride, padding=padding, relu=relu)
            assert np.array_equal(got, expected), f"{name} layer {(c, mo, h, w, k, stride, padding)}"
            ho, wo = expected.shape[1:]
            groups = -(-mo // cfg.pm) * -(-c // cfg.pn)
            per_group = ho * wo * k * k if cfg.engine == "direct" else -(-ho // cfg.m) * -(-wo // cfg.m)
            assert accel.counters["active_cycles"] == groups * per_group
        if cfg.axi_addr_width == 32:
            assert accel.info.axi_addr_width == 32
            accel.start_layer(dict(in_addr=0x1000, weight_addr=0x2000, out_addr=(1 << 32) - 64, quant_addr=0x4000,
                                   in_channels=4, out_channels=4, height=5, width=5, kernel=3, stride=1, padding=1))
            accel._wait_done(20000)
            assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.BAD_ADDRESS
            assert accel._read_counters()["bytes_read"] == 0  # refused before any memory traffic


@pytest.mark.parametrize("m", [2, 4, 6])
def test_winograd_layers_bit_exact(m):
    cfg = WINOGRAD[m]
    rng = np.random.default_rng(20 + m)
    with simulated(cfg, pauses="random", seed=m) as accel:
        assert accel.info.engine == "winograd" and accel.info.m == m
        for c, mo, h, w, padding, relu in WINOGRAD_LAYERS:
            c = min(c, cfg.max_channels)
            x, wt, bias, mult, shift, expected = random_layer(rng, c, mo, h, w, 3, 1, padding, relu)
            got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=1, padding=padding, relu=relu)
            assert np.array_equal(got, expected), f"F({m},3) layer {(c, mo, h, w, padding)}: {np.argwhere(got != expected)[:5]}"
            ho, wo = expected.shape[1:]
            tiles = -(-ho // m) * -(-wo // m) * -(-c // cfg.pn)
            assert accel.counters["active_cycles"] == -(-mo // cfg.pm) * tiles
        with pytest.raises(ValueError, match="3x3"):
            accel.conv2d(np.zeros((2, 5, 5), np.int8), np.zeros((2, 2, 1, 1), np.int8))
        # Issue 15 case 2: padding 2 with an output beyond the maxima is refused by the IP (it
        # used to never finish) and by the driver; an output of exactly the maxima runs.
        desc = dict(in_addr=0x1000, weight_addr=0x2000, out_addr=0x3000, quant_addr=0x4000, in_channels=2,
                    out_channels=2, height=cfg.max_height, width=6, kernel=3, stride=1, padding=2, relu=0)
        accel.start_layer(desc)
        accel._wait_done(20000)
        assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.BAD_OUTPUT
        with pytest.raises(ValueError, match="output must be at most"):
            accel.conv2d(np.zeros((2, cfg.max_height, 6), np.int8), np.zeros((2, 2, 3, 3), np.int8), padding=2)
        x, wt, bias, mult, shift, expected = random_layer(rng, 3, 2, cfg.max_height - 2, 5, 3, 1, 2, False)
        got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, padding=2)
        assert got.shape[1] == cfg.max_height and np.array_equal(got, expected)


SIXTEEN_BIT_LAYERS = {
    # c, m, h, w, k, stride, padding, relu
    "direct": [(5, 3, 7, 6, 3, 2, 1, False), (12, 4, 6, 7, 3, 1, 1, True), (6, 3, 5, 5, 1, 1, 0, False)],
    "winograd": [(5, 3, 7, 9, 3, 1, 1, False), (8, 2, 6, 6, 3, 1, 1, True), (3, 2, 4, 5, 3, 1, 0, False)],
}


@pytest.mark.parametrize("engine", sorted(SIXTEEN_BIT))
def test_sixteen_bit_layers_bit_exact(engine):
    """A 16-bit IP (``--data-width 16``): int16 activations and weights, both extremes present,
    sums far beyond an 8-bit build's, requantised to int8 bit-exact under random back-pressure."""
    cfg = SIXTEEN_BIT[engine]
    rng = np.random.default_rng(16)
    with simulated(cfg, pauses="random", seed=4) as accel:
        assert accel.info.data_width == 16 and accel.info.engine == engine
        for c, mo, h, w, k, stride, padding, relu in SIXTEEN_BIT_LAYERS[engine]:
            x, wt, bias, mult, shift, expected = random_layer(rng, c, mo, h, w, k, stride, padding, relu, data_width=16)
            assert x.dtype == np.int16 and x.min() == -(1 << 15) and wt.max() == (1 << 15) - 1
            got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=stride, padding=padding, relu=relu)
            assert np.array_equal(got, expected), f"16-bit {engine} layer {(c, mo, h, w, k, stride, padding)}"
            ho, wo = expected.shape[1:]
            groups = -(-mo // cfg.pm) * -(-c // cfg.pn)
            per_group = ho * wo * k * k if engine == "direct" else -(-ho // cfg.m) * -(-wo // cfg.m)
            assert accel.counters["active_cycles"] == groups * per_group
        with pytest.raises(ValueError, match="int16"):
            accel.conv2d(np.full((2, 4, 4), 1 << 15, np.int32), np.zeros((2, 2, 3, 3), np.int16))
