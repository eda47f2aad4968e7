"""The run list: one AP_START walks descriptors the IP reads from DDR (RUNLIST_ADDR/COUNT).

Through the driver over the native simulator: deferred runs (``conv2d_resident(...,
defer=True)``) become one list, bit-exact against ``sim.reference``, chained in DDR on a
``pm == pn`` build; bad lists and bad entries are refused with BAD_RUN_LIST (or the entry's own
check code) and RUNLIST_INDEX naming the entry, the entries before it having run and nothing
after it written; an abort ends a list.
"""

import numpy as np
import pytest

from drivers import AcceleratorError, layout
from drivers.regmap import ABORT, AP_IDLE, REGISTERS
from dse.perf_model import CONSTANTS, ideal_memory_port, list_entry_cycles
from rtl.error_codes import ErrorCode
from sim.backends import simulated
from sim.reference import conv2d, requantize
from tests.harness.designs import DIRECT, WINOGRAD
from tests.harness.layers import random_layer, scaled_requant


def _chain(rng, c, channels, h, w):
    """Random 3x3 padded layers ``c -> channels[0] -> channels[1] ...`` on an ``h x w`` input:
    the input, per layer ``(weights, bias, mult, shift, relu)``, and every expected output."""
    x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
    layers, outputs, a = [], [], x
    for i, m in enumerate(channels):
        wt = rng.integers(-128, 128, size=(m, a.shape[0], 3, 3), dtype=np.int8)
        acc = conv2d(a, wt, 1, 1)
        relu = i % 2 == 0
        bias, mult, shift = scaled_requant(rng, acc, relu)
        a = requantize(acc, bias, mult, shift, relu)
        layers.append((wt, bias, mult, shift, relu))
        outputs.append(a)
    return x, layers, outputs


def test_chained_layers_run_from_one_start_bit_exact():
    rng = np.random.default_rng(5)
    x, layers, expected = _chain(rng, 6, [5, 8, 3, 4], 9, 11)
    with simulated(WINOGRAD[4]) as accel:
        weights = [accel.load_weights(wt, bias=b, mult=mu, shift=s) for wt, b, mu, s, _ in layers]
        for frame in range(2):
            starts, relayouts = accel.ap_starts, accel.activation_relayouts
            a = x
            acts = []
            for i, (res, (_, _, _, _, relu)) in enumerate(zip(weights, layers)):
                a = accel.conv2d_resident(a, res, padding=1, relu=relu, keep=f"l{i}", defer=True)
                acts.append(a)
            assert accel.ap_starts == starts          # nothing started yet
            got = accel.fetch(acts[-1])
            assert accel.ap_starts == starts + 1      # the whole chain: one AP_START
            assert accel.read(REGISTERS["RUNLIST_INDEX"]) == len(layers)
            assert accel.activation_relayouts == relayouts + 2   # the input packed, the output unpacked
            assert np.array_equal(got, expected[-1])
            for act, want in zip(acts, expected):
                assert np.array_equal(accel.fetch(act), want)
            # The list's counters cover every entry: each output written once, the list read.
            written = sum(layout.output_bytes(e.shape[0], e.shape[1], e.shape[2], accel.info.pm) for e in expected)
            assert accel.counters["bytes_written"] == written
        # A run from the registers after a list runs that layer, not the list again.
        wt, b, mu, s, relu = layers[0]
        assert np.array_equal(accel.conv2d(x, wt, bias=b, mult=mu, shift=s, padding=1, relu=relu), expected[0])
        assert accel.read(REGISTERS["RUNLIST_INDEX"]) == 0


def test_independent_layers_listed_on_a_build_that_relays_out():
    """pm != pn: no output is the next input, but runs with host inputs still share one start."""
    rng = np.random.default_rng(8)
    shapes = [(8, 4, 6, 7, 3, 1, 1, True), (5, 6, 7, 6, 3, 2, 1, False), (16, 8, 5, 5, 1, 1, 0, False)]
    with simulated(DIRECT) as accel:
        starts = accel.ap_starts
        runs = []
        for i, shape in enumerate(shapes):
            x, wt, bias, mult, shift, expected = random_layer(rng, *shape)
            res = accel.load_weights(wt, bias=bias, mult=mult, shift=shift)
            c, m, h, w, k, stride, padding, relu = shape
            act = accel.conv2d_resident(x, res, stride=stride, padding=padding, relu=relu, keep=f"r{i}", defer=True)
            runs.append((act, expected))
        assert accel.run_pending() is accel.counters
        assert accel.ap_starts == starts + 1
        for act, expected in runs:
            assert np.array_equal(accel.fetch(act), expected)
        assert accel.run_pending() is None


def _entry(**fields):
    desc = dict(in_addr=0x10000, weight_addr=0x12000, out_addr=0x14000, quant_addr=0x16000, in_channels=4,
                out_channels=4, height=5, width=5, kernel=3, stride=1, padding=1, relu=0)
    desc.update(fields)
    return desc


def test_bad_lists_and_entries_are_refused_where_they_are():
    rng = np.random.default_rng(3)
    with simulated(WINOGRAD[4], pauses="random", seed=2) as accel:
        info = accel.info
        x, wt, bias, mult, shift, expected = random_layer(rng, 4, 4, 5, 5, 3, 1, 1, False)
        images = {0x10000: layout.pack_input(x, info.pn), 0x12000: layout.pack_weights(wt, info.pm, info.pn),
                  0x16000: layout.pack_quant(bias, mult, shift, 4, info.pm)}
        span = 0x40000
        good = _entry()
        out_n = layout.output_bytes(4, 5, 5, info.pm)

        def walk(entries, address=0x30000, count=None, raw=None):
            """Write the list (``raw``: its bytes as given), run it; (STATUS.ERROR, RUNLIST_INDEX,
            bytes read, memory before, memory after)."""
            pattern = rng.integers(0, 256, size=span, dtype=np.uint8)
            for addr, image in images.items():
                pattern[addr:addr + image.nbytes] = image
            body = layout.pack_run_list([accel._register_values(e) for e in entries]) if raw is None else raw
            pattern[address:address + body.nbytes] = body
            accel.mem_write(0, pattern.tobytes())
            accel.start_run_list(address, entries if count is None else [good] * count)
            accel._wait_done(200_000)
            after = np.frombuffer(accel.mem_read(0, span), dtype=np.uint8)
            return (accel.read(REGISTERS["STATUS"]) & 0xFF, accel.read(REGISTERS["RUNLIST_INDEX"]),
                    accel._read_counters()["bytes_read"], pattern, after)

        def untouched_but(before, after, *outputs):
            keep = np.ones(span, dtype=bool)
            for addr in outputs:
                keep[addr:addr + out_n] = False
            assert np.array_equal(before[keep], after[keep])

        # Three good entries, each to its own output: all run.
        entries = [_entry(out_addr=0x14000 + 0x1000 * i) for i in range(3)]
        code, index, nread, before, after = walk(entries)
        assert (code, index) == (ErrorCode.OK, 3)
        for i in range(3):
            got = layout.unpack_output(after[0x14000 + 0x1000 * i:], 4, 5, 5, info.pm)
            assert np.array_equal(got, expected)
        untouched_but(before, after, 0x14000, 0x15000, 0x16000)

        # The list address is not a multiple of 64, or the list passes the top: nothing is read.
        for address, count in ((0x30020, 1), ((1 << info.axi_addr_width) - 64, 2)):
            pattern = rng.integers(0, 256, size=span, dtype=np.uint8)
            accel.mem_write(0, pattern.tobytes())
            accel.start_run_list(address, [good] * count)
            accel._wait_done(20_000)
            assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.BAD_RUN_LIST
            assert accel.read(REGISTERS["RUNLIST_INDEX"]) == 0
            assert accel._read_counters()["bytes_read"] == 0
            assert np.array_equal(np.frombuffer(accel.mem_read(0, span), dtype=np.uint8), pattern)

        # Entry 1 sets a bit outside its registers' fields (KERNEL is 4 bits): entry 0 ran, 1 and
        # 2 did not write.
        for register, value in (("KERNEL", 0x13), ("LAYER_FLAGS", 0x10), ("IN_CHANNELS", 0x10004)):
            raw = layout.pack_run_list([accel._register_values(e) for e in entries]).view("<u4").copy()
            raw[16 + layout.RUN_LIST_ENTRY.index(register)] = value
            code, index, nread, before, after = walk(entries, raw=raw.view(np.uint8))
            assert (code, index) == (ErrorCode.BAD_RUN_LIST, 1), register
            assert np.array_equal(layout.unpack_output(after[0x14000:], 4, 5, 5, info.pm), expected)
            untouched_but(before, after, 0x14000)

        # Entry 2 is refused by the layer check: its own code, at its index.
        bad = entries[:2] + [_entry(out_addr=0x16000, kernel=5)]
        code, index, nread, before, after = walk(bad)
        assert (code, index) == (ErrorCode.BAD_KERNEL, 2)
        untouched_but(before, after, 0x14000, 0x15000)

        # The driver names the entry that failed.
        res = accel.load_weights(wt, bias=bias, mult=mult, shift=shift)
        accel.conv2d_resident(x, res, padding=1, keep="a", defer=True)
        accel._pending.append((_entry(kernel=7), "broken"))
        with pytest.raises(AcceleratorError, match=r"error 3 \(.*\) at run-list entry 1 of 2 \(kept as 'broken'\)$"):
            accel.run_pending()


def test_an_abort_ends_a_run_list():
    rng = np.random.default_rng(4)
    x, layers, expected = _chain(rng, 8, [8, 8, 8, 8, 8, 8], 20, 20)
    with simulated(WINOGRAD[4], pauses="random", seed=1) as accel:
        weights = [accel.load_weights(wt, bias=b, mult=mu, shift=s) for wt, b, mu, s, _ in layers]
        a = x
        for i, (res, layer) in enumerate(zip(weights, layers)):
            a = accel.conv2d_resident(a, res, padding=1, relu=layer[4], keep=f"l{i}", defer=True)
        pending = [desc for desc, _ in accel._pending]
        accel._pending, accel._pending_buffers = [], set()
        image = layout.pack_run_list([accel._register_values(d) for d in pending])
        buf = accel._buffer("run list", image.nbytes)
        buf[:image.nbytes] = image
        buf.flush()
        accel.start_run_list(buf.device_address, pending)
        with pytest.raises(Exception):
            accel._wait_done(3_000)        # the list takes far longer
        accel.write(REGISTERS["CTRL"], ABORT)
        accel._wait_done(20_000)
        assert accel.read(REGISTERS["STATUS"]) & 0xFF == ErrorCode.ABORTED
        assert accel.read(REGISTERS["RUNLIST_INDEX"]) < len(layers)
        assert accel.read(REGISTERS["CTRL"]) & AP_IDLE
        # The IP runs the next list whole.
        a = x
        for i, (res, layer) in enumerate(zip(weights, layers)):
            a = accel.conv2d_resident(a, res, padding=1, relu=layer[4], keep=f"l{i}", defer=True)
        assert np.array_equal(accel.fetch(a), expected[-1])


@pytest.mark.parametrize("cfg", [DIRECT, WINOGRAD[4]], ids=lambda c: c.name)
def test_the_cycle_model_prices_a_list_entry_as_the_ip_takes_it(cfg):
    """A list of n copies of one run takes n times (the run from the registers + the entry's
    fetch, dse.perf_model.list_entry_cycles) + the list's start, to the cycle."""
    rng = np.random.default_rng(12)
    x, wt, bias, mult, shift, expected = random_layer(rng, 8, 8, 9, 10, 3, 1, 1, True)
    with simulated(cfg) as accel:
        res = accel.load_weights(wt, bias=bias, mult=mult, shift=shift)
        accel.conv2d_resident(x, res, padding=1, relu=True, keep="a")
        single = accel.counters["cycles"]
        entry = list_entry_cycles(cfg, ideal_memory_port(cfg))
        for n in (1, 3):
            acts = [accel.conv2d_resident(x, res, padding=1, relu=True, keep=f"o{i}", defer=True) for i in range(n)]
            assert accel.run_pending()["cycles"] == n * (single + entry) + CONSTANTS.list_start
            assert all(np.array_equal(accel.fetch(a), expected) for a in acts)
