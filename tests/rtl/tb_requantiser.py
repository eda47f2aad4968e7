"""cocotb test module for rtl.pe.requantiser.Requantiser (runner: test_requantiser.py)."""

import random

import cocotb
import numpy as np

from sim.reference import requantize
from sim.toolchain import tb_params
from tests.harness.clock import start_clock_and_reset
from tests.harness.layers import MIN_INTERIOR, interior_fraction, scaled_requant
from tests.harness.packing import pack, unpack
from tests.harness.streams import StreamSink, StreamSource


def pack_params(bias, mult, shift):
    word, pos = 0, 0
    for b, k, s in zip(bias, mult, shift):
        word |= (int(b) & 0xFFFFFFFF) << pos
        word |= (int(k) & 0xFFFFFFFF) << (pos + 32)
        word |= (int(s) & 0x3F) << (pos + 64)
        pos += 70
    return word


@cocotb.test()
async def groups_match_reference(dut):
    p = tb_params()
    pm, accw = p["pm"], p["acc_width"]
    relu = p["relu"]
    groups = p["groups"]
    # Groups of different sizes: the requantiser follows the input's `last`, not a count.
    sizes = [max(1, p["pixels"] + (g % 3) - 1) for g in range(groups)]
    dut.relu.value = relu
    dut.clear.value = 0
    clock = await start_clock_and_reset(dut)
    rng = np.random.default_rng(p["seed"])
    lo, hi = -(1 << (accw - 1)), (1 << (accw - 1)) - 1
    acc_in, par_in, expected = [], [], []
    last_bit = 1 << (pm * accw)
    for g, pixels in enumerate(sizes):
        if g % 3 == 0:
            # Edge group: the accumulator's extremes, int32 extremes in bias and mult, shifts 0
            # and 63 (most of these outputs clamp).
            acc = rng.integers(lo, hi + 1, size=(pm, pixels), dtype=np.int64)
            acc[:, 0] = lo if g % 2 else hi
            small = rng.integers(-3000, 3000, size=(pm, pixels))
            acc[:, 1::2] = small[:, 1::2]
            bias = rng.integers(-(2**31), 2**31, size=pm)
            bias[0] = -(2**31)
            mult = np.where(rng.random(pm) < 0.5, rng.integers(-(2**31), 2**31, size=pm),
                            rng.integers(1, 1 << 16, size=pm))
            shift = rng.integers(0, 64, size=pm)
            shift[-1] = 0
            if pm > 1:
                shift[0] = 63
        else:
            # Scaled group: each lane's accumulators spread over 2^3..2^(accw-2) around a centre
            # a bias can reach, requantised by the shared generator to mostly unclamped outputs.
            span = 1 << rng.integers(3, accw - 1, size=(pm, 1))
            reach = np.minimum(hi - span, 1 << 30)
            centre = (rng.random((pm, 1)) * 2 - 1) * reach
            acc = centre.astype(np.int64) + rng.integers(-span, span, size=(pm, pixels))
            bias, mult, shift = scaled_requant(rng, acc, bool(relu))
        acc_in += [pack(acc[:, t], accw) | (last_bit if t == pixels - 1 else 0) for t in range(pixels)]
        par_in.append(pack_params(bias, mult, shift))
        expected.append(requantize(acc, bias, mult, shift, relu=bool(relu)))
    outputs = np.concatenate(expected, axis=1)
    assert interior_fraction(outputs, bool(relu)) >= MIN_INTERIOR, interior_fraction(outputs, bool(relu))
    src = StreamSource(dut, "i", clock, idle=0.3, rng=random.Random(1))
    par = StreamSource(dut, "params", clock, idle=0.5, rng=random.Random(2))
    sink = StreamSink(dut, "o", clock, stall=0.3, rng=random.Random(3))
    t1 = cocotb.start_soon(src.send(acc_in))
    t2 = cocotb.start_soon(par.send(par_in))
    got = await sink.receive(sum(sizes))
    await t1
    await t2
    k = 0
    for g, pixels in enumerate(sizes):
        for t in range(pixels):
            word = got[k]
            k += 1
            vals = unpack(word, 8, pm)
            last = (word >> (8 * pm)) & 1
            assert list(vals) == list(expected[g][:, t]), f"group {g} pixel {t}: {list(vals)} != {list(expected[g][:, t])}"
            assert last == (t == pixels - 1), f"group {g} pixel {t}: last={last}"
