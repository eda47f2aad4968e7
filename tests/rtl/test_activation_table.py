"""The activation table (issue 31, first step): LAYER_FLAGS.TABLE maps every output of a run
through 256 int8 values that open its quant buffer, bit-exact, on both engines; a build without
a table refuses the flag with BAD_FLAGS before any memory traffic, and the driver refuses a
table for it in one sentence."""

import numpy as np
import pytest

from drivers import layout
from drivers.regmap import REGISTERS
from rtl.error_codes import ErrorCode
from sim.backends import simulated
from tests.harness.designs import DIRECT, SIXTEEN_BIT, WINOGRAD
from tests.harness.layers import random_layer

LAYERS = {
    DIRECT.name: [(8, 6, 7, 6, 3, 2, 1, False), (5, 4, 6, 7, 5, 1, 2, True), (16, 8, 5, 5, 1, 1, 0, False)],
    WINOGRAD[4].name: [(6, 5, 9, 10, 3, 1, 1, False), (8, 3, 7, 8, 3, 1, 0, True)],
}


def _leaky(v):
    """A LeakyReLU-like function with a clamp, in int8 (what a fused CPU layer tabulates)."""
    return np.where(v < 0, (v.astype(np.int16) * 3) >> 4, np.minimum(v.astype(np.int16) * 2, 100)).astype(np.int8)


@pytest.mark.parametrize("cfg", [DIRECT, WINOGRAD[4]], ids=lambda c: c.name)
def test_outputs_go_through_the_table(cfg):
    rng = np.random.default_rng(21)
    with simulated(cfg, pauses="random", seed=4) as accel:
        assert accel.info.act_table
        for shape in LAYERS[cfg.name]:
            x, wt, bias, mult, shift, expected = random_layer(rng, *shape)
            c, m, h, w, k, s, p, relu = shape
            # Without the flag the build writes the requantised values.
            assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=s, padding=p,
                                               relu=relu), expected)
            plain_read = accel.counters["bytes_read"]
            for table in (layout.activation_table(_leaky), rng.integers(-128, 128, size=256, dtype=np.int8)):
                got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=s, padding=p, relu=relu,
                                   table=table)
                assert np.array_equal(got, layout.apply_table(expected, table)), shape
                assert accel.counters["bytes_read"] == plain_read + layout.ACT_TABLE_BYTES   # the table, once
        # Resident, in a run list that mixes runs with and without a table.
        x, wt, bias, mult, shift, expected = random_layer(rng, *LAYERS[cfg.name][0])
        c, m, h, w, k, s, p, relu = LAYERS[cfg.name][0]
        table = layout.activation_table(_leaky)
        with_table = accel.load_weights(wt, bias=bias, mult=mult, shift=shift, table=table)
        plain = accel.load_weights(wt, bias=bias, mult=mult, shift=shift)
        acts = [accel.conv2d_resident(x, res, stride=s, padding=p, keep=f"t{i}", defer=True)
                for i, res in enumerate([with_table, plain, with_table])]
        starts = accel.ap_starts
        assert np.array_equal(accel.fetch(acts[0]), layout.apply_table(expected, table))
        assert np.array_equal(accel.fetch(acts[1]), expected)
        assert np.array_equal(accel.fetch(acts[2]), layout.apply_table(expected, table))
        assert accel.ap_starts == starts + 1


def test_a_build_without_a_table_refuses_the_flag():
    cfg = SIXTEEN_BIT["direct"]
    assert not cfg.activation_table
    with simulated(cfg) as accel:
        assert not accel.info.act_table
        desc = dict(in_addr=0x10000, weight_addr=0x12000, out_addr=0x14000, quant_addr=0x16000, in_channels=4,
                    out_channels=2, height=5, width=5, kernel=3, stride=1, padding=1, relu=0, table=1)
        before = accel.mem_read(0x10000, 0x8000)
        accel.start_layer(desc)
        accel._wait_done(20_000)
        assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.BAD_FLAGS
        assert accel._read_counters()["bytes_read"] == 0 and accel.mem_read(0x10000, 0x8000) == before
        x = np.zeros((4, 5, 5), dtype=np.int16)
        w = np.zeros((2, 4, 3, 3), dtype=np.int16)
        with pytest.raises(ValueError, match=r"^this IP has no activation table \(build-info ACT_TABLE is 0\): run "
                                             r"the layer without table= and apply the function on the CPU, or build "
                                             r"with activation_table$"):
            accel.conv2d(x, w, padding=1, table=np.zeros(256, np.int8))
