"""The pooling stage (issue 31): LAYER_FLAGS.POOL pools a run's outputs 2x2 with stride 2 (max,
or the mean rounded half up), after the requantiser and the activation table, bit-exact with the
CPU's int8 pooling, on both engines and under random AXI back-pressure; the run writes a quarter
of the bytes. An odd output is refused with BAD_POOL, a build without the stage refuses the field
with BAD_FLAGS, both before any memory traffic, and the driver refuses both in one sentence."""

import numpy as np
import pytest

from drivers import layout, ops
from drivers.regmap import REGISTERS
from rtl.error_codes import ErrorCode
from sim.backends import simulated
from tests.harness.designs import DIRECT, SIXTEEN_BIT, WINOGRAD
from tests.harness.layers import random_layer

#: (C, M, H, W, K, stride, padding, relu) with an even output; on F(4,3) 6 rows make a strip of 4
#: and one of 2, and an output width that is not a multiple of the tile.
LAYERS = {
    DIRECT.name: [(8, 6, 8, 10, 3, 1, 1, False), (5, 4, 12, 8, 5, 2, 2, True), (16, 8, 6, 6, 1, 1, 0, False)],
    WINOGRAD[4].name: [(6, 5, 8, 10, 3, 1, 1, False), (8, 3, 10, 6, 3, 1, 0, True), (4, 3, 6, 6, 3, 1, 1, False)],
}

POOLS = {"max": ops.maxpool, "avg": ops.avgpool}


def _pooled(y, pool):
    return POOLS[pool](y, 2, 2)


@pytest.mark.parametrize("cfg", [DIRECT, WINOGRAD[4]], ids=lambda c: c.name)
def test_outputs_are_pooled(cfg):
    rng = np.random.default_rng(33)
    with simulated(cfg, pauses="random", seed=8) as accel:
        assert accel.info.pooling
        for shape in LAYERS[cfg.name]:
            x, wt, bias, mult, shift, expected = random_layer(rng, *shape)
            c, m, h, w, k, s, p, relu = shape
            assert np.array_equal(accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=s, padding=p,
                                               relu=relu), expected)
            plain = accel.counters["bytes_written"]
            for pool in ("max", "avg"):
                got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=s, padding=p, relu=relu,
                                   pool=pool)
                assert np.array_equal(got, _pooled(expected, pool)), (shape, pool)
                assert accel.counters["bytes_written"] * 4 == plain      # a quarter of the output
            # After the table: pool(table(y)).
            table = rng.integers(-128, 128, size=256, dtype=np.int8)
            got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=s, padding=p, relu=relu,
                               table=table, pool="avg")
            assert np.array_equal(got, _pooled(layout.apply_table(expected, table), "avg")), shape
        # Resident, in one run list: pooled, plain, pooled again, the second reading the first.
        x, wt, bias, mult, shift, expected = random_layer(rng, *LAYERS[cfg.name][0])
        c, m, h, w, k, s, p, relu = LAYERS[cfg.name][0]
        weights = accel.load_weights(wt, bias=bias, mult=mult, shift=shift)
        starts = accel.ap_starts
        acts = [accel.conv2d_resident(x, weights, stride=s, padding=p, keep=f"p{i}", defer=True, pool=pool)
                for i, pool in enumerate(["max", None, "avg"])]
        assert acts[0].shape == (m, h // 2, w // 2) and acts[1].shape == (m, h, w)
        assert np.array_equal(accel.fetch(acts[0]), _pooled(expected, "max"))
        assert np.array_equal(accel.fetch(acts[1]), expected)
        assert np.array_equal(accel.fetch(acts[2]), _pooled(expected, "avg"))
        assert accel.ap_starts == starts + 1


def _refused(accel, desc, code):
    """Start ``desc`` from the registers: the IP refuses it with ``code``, reading and writing nothing."""
    base = dict(in_addr=0x10000, weight_addr=0x12000, out_addr=0x14000, quant_addr=0x16000, relu=0, table=0)
    before = accel.mem_read(0x10000, 0x8000)
    accel.start_layer({**base, **desc})
    accel._wait_done(20_000)
    assert accel.read(REGISTERS["STATUS"]) & 0xFF == code
    counters = accel._read_counters()
    assert counters["bytes_read"] == 0 and counters["bytes_written"] == 0
    assert accel.mem_read(0x10000, 0x8000) == before


def test_odd_outputs_and_unknown_modes_are_refused():
    with simulated(DIRECT) as accel:
        # 7 x 6 output rows and columns: no 2x2 tiling.
        odd = dict(in_channels=4, out_channels=2, height=7, width=6, kernel=3, stride=1, padding=1, pool=1)
        _refused(accel, odd, ErrorCode.BAD_POOL)
        _refused(accel, {**odd, "height": 6, "width": 7}, ErrorCode.BAD_POOL)
        _refused(accel, {**odd, "height": 6, "pool": 3}, ErrorCode.BAD_FLAGS)
        x = np.zeros((4, 7, 6), dtype=np.int8)
        w = np.zeros((2, 4, 3, 3), dtype=np.int8)
        with pytest.raises(ValueError, match=r"^2x2 stride-2 pooling needs an even output height and width, got 7x6$"):
            accel.conv2d(x, w, padding=1, pool="max")
        with pytest.raises(ValueError, match=r"^pool must be None or one of \('max', 'avg'\) \(2x2 stride 2\), "
                                             r"got 'min'$"):
            accel.conv2d(x[:, :6], w, padding=1, pool="min")


def test_a_build_without_a_pooling_stage_refuses_the_field():
    cfg = SIXTEEN_BIT["direct"]
    assert not cfg.pooling
    with simulated(cfg) as accel:
        assert not accel.info.pooling
        _refused(accel, dict(in_channels=4, out_channels=2, height=6, width=6, kernel=3, stride=1, padding=1, pool=1),
                 ErrorCode.BAD_FLAGS)
        x = np.zeros((4, 6, 6), dtype=np.int16)
        w = np.zeros((2, 4, 3, 3), dtype=np.int16)
        with pytest.raises(ValueError, match=r"^this IP has no pooling stage \(build-info POOLING is 0\): run the "
                                             r"layer without pool= and pool on the CPU, or build with pooling$"):
            accel.conv2d(x, w, padding=1, pool="max")
