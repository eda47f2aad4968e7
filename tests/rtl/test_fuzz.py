"""Descriptor fuzzing through the control port (issue 15): valid, edge and invalid layers.

For every descriptor hypothesis draws, on a small direct and a small Winograd build:

* AP_DONE arrives within a bound derived from the cycle model (four times the model, for the
  random pauses on every AXI channel, plus a fixed allowance; refused descriptors within the
  check's few hundred cycles);
* the run ends with the error code the shared rule (``EngineDescription.refusal``) gives, and
  an accepted layer's output is bit-exact against ``sim.reference`` (its requantisation scaled
  by ``tests.harness.layers`` so that most outputs are not clamped);
* no byte outside the output buffer changes: the whole simulated memory the layer could reach
  is filled with a pattern first and compared afterwards (a refused layer changes nothing).

Buffers sit at random, unaligned offsets. ``pytest -m slow tests/rtl/test_fuzz.py`` runs the
long variant. A test stops at the first failure (hypothesis shrinks it to a minimal descriptor);
``fuzz(..., keep_going=True)`` (bench/bench_fuzz.py, docs/results.md) instead counts every
failure by kind (:data:`FAILURES`) and goes on.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import AcceleratorTimeout, layout
from sim.backends import simulated
from drivers.regmap import REGISTERS
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.descriptor import Descriptor
from rtl.engine.description import Refusal
from rtl.error_codes import ErrorCode
from tests.harness.designs import DIRECT, WINOGRAD
from tests.harness.layers import random_layer

BUILDS = {"direct": DIRECT, "winograd": WINOGRAD[4]}
#: Memory the fuzzed layers may use: four buffers at random offsets in this span.
SPAN = 1 << 17
#: Cycles a refused descriptor may take (the check is a few hundred cycles).
REFUSAL_CYCLES = 2_000
#: Descriptors per build in the default suite.
DEFAULT_EXAMPLES = 40
#: The ways a descriptor can fail, as counted by ``fuzz(..., keep_going=True)``.
FAILURES = ("hang", "stray write", "wrong code", "wrong result")


class FuzzFailure(AssertionError):
    """A property broke: ``kind`` is one of :data:`FAILURES`."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _require(ok: bool, kind: str, message: str) -> None:
    if not ok:
        raise FuzzFailure(kind, message)


@st.composite
def descriptors(draw, cfg):
    """Mostly layers inside the build's limits (some at their edges), a quarter anything the
    descriptor registers can hold."""
    wild = draw(st.integers(0, 3)) == 0
    kernels = [cfg.max_kernel] if cfg.engine == "winograd" else list(range(1, cfg.max_kernel + 1, 2))
    if wild:
        k = draw(st.one_of(st.sampled_from(kernels), st.integers(0, 15)))   # so later checks are reached
        return dict(in_channels=draw(st.integers(0, cfg.max_channels + 3)),
                    out_channels=draw(st.integers(0, cfg.max_channels + 3)),
                    height=draw(st.integers(0, cfg.max_height + 3)), width=draw(st.integers(0, cfg.max_width + 3)),
                    kernel=k, stride=draw(st.integers(0, 3)), padding=draw(st.integers(0, 15)),
                    relu=draw(st.booleans()))
    k = draw(st.sampled_from(kernels))
    return dict(in_channels=draw(st.integers(1, cfg.max_channels)), out_channels=draw(st.integers(1, 9)),
                height=draw(st.integers(1, cfg.max_height)), width=draw(st.integers(1, cfg.max_width)),
                kernel=k, stride=draw(st.integers(1, cfg.max_stride)), padding=draw(st.integers(0, k - 1)),
                relu=draw(st.booleans()))


def check_descriptor(accel, cfg, desc: dict, offsets: list[int], seed: int, high: int | None = None) -> str:
    """Run ``desc`` with buffers at ``offsets``; assert the three properties; return the outcome.
    ``high``: the index of a buffer moved to the top of the address space instead, so that it
    would wrap (the IP must refuse an otherwise valid layer with BAD_ADDRESS)."""
    info = accel.info
    d = Descriptor(*(desc[k] for k in ("in_channels", "out_channels", "height", "width", "kernel", "stride",
                                       "padding")))
    refusal = cfg.engine_description.refusal(d, cfg.limits)
    rng = np.random.default_rng(seed)
    pattern = rng.integers(0, 256, size=SPAN, dtype=np.uint8)
    accel.mem_write(0, pattern.tobytes())
    in_a, w_a, q_a, out_a = offsets
    addrs = dict(in_addr=in_a, weight_addr=w_a, quant_addr=q_a, out_addr=out_a)
    out_lo = out_hi = out_a
    if high is not None:
        top = 1 << cfg.axi_addr_width
        key = ("in_addr", "weight_addr", "quant_addr", "out_addr")[high]
        if refusal is None:
            # The buffer starts so that its last byte would be one past the top (a buffer that
            # ends exactly at the top is legal, and the IP runs it).
            c, m, h, w, k = d.in_channels, d.out_channels, d.height, d.width, d.kernel
            size = (layout.input_bytes(c, h, w, info.pn), layout.weight_bytes(m, c, k, info.pm, info.pn),
                    layout.quant_bytes(m, info.pm), layout.output_bytes(m, d.out_height, d.out_width, info.pm))[high]
            addrs[key] = top - size + 1
            refusal = Refusal(ErrorCode.BAD_ADDRESS, "a buffer passes the top of the address space")
        else:
            addrs[key] = top - 8   # an earlier check refuses the layer first
    if refusal is None:
        c, m, h, w, k, s, p = (desc[n] for n in ("in_channels", "out_channels", "height", "width", "kernel", "stride",
                                                "padding"))
        x, wt, bias, mult, shift, expected = random_layer(rng, c, m, h, w, k, s, p, desc["relu"])
        images = [(in_a, layout.pack_input(x, info.pn)), (w_a, layout.pack_weights(wt, info.pm, info.pn)),
                  (q_a, layout.pack_quant(bias, mult, shift, m, info.pm))]
        for addr, image in images:
            accel.mem_write(addr, image.tobytes())
            pattern[addr:addr + image.nbytes] = image
        out_hi = out_a + layout.output_bytes(m, d.out_height, d.out_width, info.pm)
        # The model assumes a port that never pauses; the random pauses on every channel at most
        # about halve each one's rate, so four times the model bounds a healthy run.
        budget = 4 * run_cycles(d, cfg, ideal_memory_port(cfg)).cycles + 5_000
    else:
        budget = REFUSAL_CYCLES
    accel.start_layer({**desc, **addrs, "relu": int(desc["relu"])})
    try:
        accel._wait_done(budget)
    except AcceleratorTimeout:
        raise FuzzFailure("hang", f"{desc}: no AP_DONE within {budget} cycles") from None
    status = accel.read(REGISTERS["STATUS"]) & 0xFF
    after = np.frombuffer(accel.mem_read(0, SPAN), dtype=np.uint8)
    outside = np.ones(SPAN, dtype=bool)
    outside[out_lo:out_hi] = False
    stray = np.flatnonzero((after != pattern) & outside)
    _require(stray.size == 0, "stray write", f"{desc}: bytes outside the output buffer changed at {stray[:8].tolist()}")
    if refusal is not None:
        _require(status == refusal.code, "wrong code",
                 f"{desc}: STATUS {status}, the rule says {refusal.code!r} ({refusal.reason})")
        _require(accel._read_counters()["bytes_read"] == 0, "wrong code", f"{desc}: refused after reading memory")
        return refusal.code.name
    _require(status == ErrorCode.OK, "wrong code", f"{desc}: STATUS {status} for a layer the rule accepts")
    got = layout.unpack_output(after[out_lo:out_hi], desc["out_channels"], d.out_height, d.out_width, info.pm)
    _require(np.array_equal(got, expected), "wrong result", f"{desc}: output differs from sim.reference")
    return "OK"


def fuzz(name: str, examples: int, keep_going: bool = False) -> dict[str, int]:
    """Outcome counts of ``examples`` drawn descriptors on build ``name``: ``"OK"``, each refusal
    code's name, and with ``keep_going`` each of :data:`FAILURES` (a hang is aborted with
    CTRL.ABORT before the next descriptor); without it the first failure raises."""
    cfg = BUILDS[name]
    outcomes: dict[str, int] = {}
    # The largest buffers of these builds are a few KiB: four slots of SPAN / 4 hold any of them.
    slot = SPAN // 4

    with simulated(cfg, pauses="random", seed=7) as accel:
        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(desc=descriptors(cfg), skew=st.lists(st.integers(0, 63), min_size=4, max_size=4),
               order=st.permutations(range(4)), seed=st.integers(0, 2**31),
               high=st.one_of(st.none(), st.none(), st.none(), st.integers(0, 3)))
        def run(desc, skew, order, seed, high):
            offsets = [order[i] * slot + skew[i] for i in range(4)]
            try:
                outcome = check_descriptor(accel, cfg, desc, offsets, seed, high)
            except FuzzFailure as exc:
                if not keep_going:
                    raise
                outcome = exc.kind
                if exc.kind == "hang":
                    accel._abort(str(exc))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        run()
    return outcomes


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_fuzzed_descriptors_finish_exact_or_refused(name):
    outcomes = fuzz(name, DEFAULT_EXAMPLES)
    # The draw covers both sides: layers that run and layers the rule refuses.
    assert outcomes.get("OK", 0) > 0 and sum(v for k, v in outcomes.items() if k != "OK") > 0, outcomes


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_fuzzed_descriptors_long_run(name):
    outcomes = fuzz(name, 400)
    print(f"fuzz {name}: {sum(outcomes.values())} descriptors, outcomes {dict(sorted(outcomes.items()))}")
