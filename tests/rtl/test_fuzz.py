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

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import AcceleratorTimeout, layout, ops
from sim.backends import simulated
from drivers.interface import REGISTERS as _MAP
from drivers.regmap import REGISTERS
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.descriptor import POOL_AVG, POOL_MAX, POOL_MODES, POOL_NONE, POOL_WINDOW, Descriptor
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
#: Memory of a fuzzed run list: per entry four buffers in slots of LIST_SPAN / LIST_SLOTS bytes
#: (the largest buffer of these builds is under 16 KiB), the list in the last slot.
LIST_SPAN, LIST_SLOTS = 1 << 18, 16
#: Entries of a fuzzed run list (at most (LIST_SLOTS - 1) // 4), and lists per build by default.
LIST_ENTRIES, LIST_EXAMPLES = 3, 12
#: Register -> the lowest bit above its fields (what an entry may not set).
REGISTER_FIELDS = {name: max(f["lsb"] + f["width"] for f in _MAP[name]["fields"].values())
                   for name in layout.RUN_LIST_ENTRY}
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
                    relu=draw(st.booleans()), table=draw(st.booleans()), pool=draw(st.integers(0, 3)))
    k = draw(st.sampled_from(kernels))
    return dict(in_channels=draw(st.integers(1, cfg.max_channels)), out_channels=draw(st.integers(1, 9)),
                height=draw(st.integers(1, cfg.max_height)), width=draw(st.integers(1, cfg.max_width)),
                kernel=k, stride=draw(st.integers(1, cfg.max_stride)), padding=draw(st.integers(0, k - 1)),
                relu=draw(st.booleans()), table=draw(st.booleans()),
                pool=draw(st.sampled_from([POOL_NONE, POOL_NONE, POOL_MAX, POOL_AVG])))


@dataclass
class Case:
    """One fuzzed layer with its buffers written: the rule's refusal (None: it runs), its output
    span ``[out_lo, out_hi)`` (empty when refused), its expected output and a cycle budget."""

    desc: dict
    refusal: Refusal | None
    out_lo: int
    out_hi: int
    expected: np.ndarray | None
    budget: int


def prepare(accel, cfg, desc: dict, offsets: list[int], rng, pattern, high: int | None = None) -> Case:
    """Place ``desc``'s buffers at ``offsets`` (input, weights, quant, output) and write a random
    layer's images into the simulated memory and ``pattern`` (its expected contents) when the rule
    accepts it. ``high``: the index of a buffer moved to the top of the address space instead, so
    that it would wrap (the IP must refuse an otherwise valid layer with BAD_ADDRESS)."""
    info = accel.info
    pool = int(desc.get("pool", POOL_NONE))
    d = Descriptor(*(desc[k] for k in ("in_channels", "out_channels", "height", "width", "kernel", "stride",
                                       "padding")), pool=pool)
    table = bool(desc.get("table", False))
    refusal = cfg.engine_description.refusal(d, cfg.limits)
    # The check's first step: flags the build has no stage for, or no pooling mode.
    if table and not cfg.activation_table or pool and not cfg.pooling or pool >= len(POOL_MODES):
        refusal = Refusal(ErrorCode.BAD_FLAGS, "LAYER_FLAGS.TABLE or POOL on a build without the stage")
    in_a, w_a, q_a, out_a = offsets
    addrs = dict(in_addr=in_a, weight_addr=w_a, quant_addr=q_a, out_addr=out_a)
    if high is not None:
        top = 1 << cfg.axi_addr_width
        key = ("in_addr", "weight_addr", "quant_addr", "out_addr")[high]
        if refusal is None:
            # The buffer starts so that its last byte would be one past the top (a buffer that
            # ends exactly at the top is legal, and the IP runs it).
            c, m, h, w, k = d.in_channels, d.out_channels, d.height, d.width, d.kernel
            size = (layout.input_bytes(c, h, w, info.pn), layout.weight_bytes(m, c, k, info.pm, info.pn),
                    layout.quant_bytes(m, info.pm) + (layout.ACT_TABLE_BYTES if table else 0),
                    layout.output_bytes(m, d.written_height, d.written_width, info.pm))[high]
            addrs[key] = top - size + 1
            refusal = Refusal(ErrorCode.BAD_ADDRESS, "a buffer passes the top of the address space")
        else:
            addrs[key] = top - 8   # an earlier check refuses the layer first
    desc = {**desc, **addrs, "relu": int(desc["relu"]), "table": int(table), "pool": pool}
    if refusal is not None:
        return Case(desc, refusal, out_a, out_a, None, REFUSAL_CYCLES)
    c, m, h, w, k, s, p = (desc[n] for n in ("in_channels", "out_channels", "height", "width", "kernel", "stride",
                                            "padding"))
    x, wt, bias, mult, shift, expected = random_layer(rng, c, m, h, w, k, s, p, desc["relu"])
    quant = layout.pack_quant(bias, mult, shift, m, info.pm)
    if table:
        values = rng.integers(-128, 128, size=layout.ACT_TABLE_BYTES, dtype=np.int8)
        quant = np.concatenate([layout.pack_table(values), quant])
        expected = layout.apply_table(expected, values)
    if pool:
        expected = (ops.maxpool if pool == POOL_MAX else ops.avgpool)(expected, POOL_WINDOW, POOL_WINDOW)
    images = [(in_a, layout.pack_input(x, info.pn)), (w_a, layout.pack_weights(wt, info.pm, info.pn)), (q_a, quant)]
    for addr, image in images:
        accel.mem_write(addr, image.tobytes())
        pattern[addr:addr + image.nbytes] = image
    # The model assumes a port that never pauses; the random pauses on every channel at most
    # about halve each one's rate, so four times the model bounds a healthy run.
    budget = 4 * run_cycles(d, cfg, ideal_memory_port(cfg), table=table).cycles + 5_000
    return Case(desc, None, out_a, out_a + layout.output_bytes(m, d.written_height, d.written_width, info.pm),
                expected, budget)


def _finished(accel, what: str, budget: int, span: int, pattern, cases: list[Case]) -> tuple[int, np.ndarray]:
    """Wait for AP_DONE and check that no byte outside the output spans of ``cases`` changed:
    (STATUS.ERROR, the memory after)."""
    try:
        accel._wait_done(budget)
    except AcceleratorTimeout:
        raise FuzzFailure("hang", f"{what}: no AP_DONE within {budget} cycles") from None
    status = accel.read(REGISTERS["STATUS"]) & 0xFF
    after = np.frombuffer(accel.mem_read(0, span), dtype=np.uint8)
    outside = np.ones(span, dtype=bool)
    for case in cases:
        outside[case.out_lo:case.out_hi] = False
    stray = np.flatnonzero((after != pattern) & outside)
    _require(stray.size == 0, "stray write", f"{what}: bytes outside the output buffers changed at {stray[:8].tolist()}")
    return status, after


def _exact(accel, case: Case, after, what: str) -> None:
    d = case.desc
    ho, wo = case.expected.shape[1:]
    got = layout.unpack_output(after[case.out_lo:case.out_hi], d["out_channels"], ho, wo, accel.info.pm)
    _require(np.array_equal(got, case.expected), "wrong result", f"{what}: output differs from sim.reference")


def check_descriptor(accel, cfg, desc: dict, offsets: list[int], seed: int, high: int | None = None) -> str:
    """Run ``desc`` with buffers at ``offsets``; assert the three properties; return the outcome
    (``high`` as for :func:`prepare`)."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(0, 256, size=SPAN, dtype=np.uint8)
    accel.mem_write(0, pattern.tobytes())
    case = prepare(accel, cfg, desc, offsets, rng, pattern, high)
    accel.start_layer(case.desc)
    status, after = _finished(accel, str(desc), case.budget, SPAN, pattern, [case])
    if case.refusal is not None:
        _require(status == case.refusal.code, "wrong code",
                 f"{desc}: STATUS {status}, the rule says {case.refusal.code!r} ({case.refusal.reason})")
        _require(accel._read_counters()["bytes_read"] == 0, "wrong code", f"{desc}: refused after reading memory")
        return case.refusal.code.name
    _require(status == ErrorCode.OK, "wrong code", f"{desc}: STATUS {status} for a layer the rule accepts")
    _exact(accel, case, after, str(desc))
    return "OK"


#: Registers of a run-list entry with bits outside their fields (a corrupted entry sets one).
_NARROW = [name for name in layout.RUN_LIST_ENTRY if not name.endswith(("_LO", "_HI"))]


def check_run_list(accel, cfg, descs: list[dict], seed: int, corrupt: tuple[int, int, int] | None) -> str:
    """Run ``descs`` as one run list (each layer's four buffers in slots of its own); with
    ``corrupt`` = (entry, register index in :data:`_NARROW`, bit), that entry first sets a bit
    above its register's fields. The entries up to the first the rule (or the corruption) refuses
    run exact, that one's code and index are reported, nothing else is written, no hang."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(0, 256, size=LIST_SPAN, dtype=np.uint8)
    accel.mem_write(0, pattern.tobytes())
    slot = LIST_SPAN // LIST_SLOTS
    cases = [prepare(accel, cfg, desc, [(4 * i + j) * slot + 8 * j for j in range(4)], rng, pattern)
             for i, desc in enumerate(descs)]
    words = layout.pack_run_list([accel._register_values(c.desc) for c in cases]).view("<u4").copy()
    bad_entry = None
    if corrupt is not None:
        entry, reg, bit = corrupt
        name = _NARROW[reg % len(_NARROW)]
        field = REGISTER_FIELDS[name]
        bit = field + bit % (32 - field)
        words[16 * (entry % len(cases)) + layout.RUN_LIST_ENTRY.index(name)] |= 1 << bit
        bad_entry = entry % len(cases)
    list_addr = (LIST_SLOTS - 1) * slot
    accel.mem_write(list_addr, words.tobytes())
    pattern[list_addr:list_addr + words.nbytes] = words.view(np.uint8)
    # The expected walk: every entry up to the first one refused.
    stop, code = len(cases), ErrorCode.OK
    for i, case in enumerate(cases):
        if i == bad_entry:
            stop, code = i, ErrorCode.BAD_RUN_LIST
            break
        if case.refusal is not None:
            stop, code = i, case.refusal.code
            break
    ran = cases[:stop]
    what = f"run list {[c.desc for c in cases]} (corrupt {corrupt})"
    accel.start_run_list(list_addr, [c.desc for c in cases])
    status, after = _finished(accel, what, sum(c.budget for c in cases) + 2_000, LIST_SPAN, pattern, ran)
    index = accel.read(REGISTERS["RUNLIST_INDEX"])
    _require((status, index) == (code, stop), "wrong code",
             f"{what}: STATUS {status} at entry {index}, expected {code!r} at entry {stop}")
    for case in ran:
        _exact(accel, case, after, what)
    return "OK" if code == ErrorCode.OK else f"list {ErrorCode(code).name}"


def _explore(name: str, seed: int, examples: int, keep_going: bool, strategies: dict, check) -> dict[str, int]:
    """Outcome counts of ``examples`` draws of ``strategies`` on build ``name``: ``check(accel,
    cfg, **drawn)`` returns an outcome or raises :class:`FuzzFailure`; with ``keep_going`` a
    failure is counted by kind (a hang aborted with CTRL.ABORT before the next draw), without it
    the first one raises."""
    cfg = BUILDS[name]
    outcomes: dict[str, int] = {}
    with simulated(cfg, pauses="random", seed=seed) as accel:
        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(**strategies)
        def run(**drawn):
            try:
                outcome = check(accel, cfg, **drawn)
            except FuzzFailure as exc:
                if not keep_going:
                    raise
                outcome = exc.kind
                if exc.kind == "hang":
                    accel._abort(str(exc))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        run()
    return outcomes


def fuzz(name: str, examples: int, keep_going: bool = False) -> dict[str, int]:
    """Outcome counts of ``examples`` drawn descriptors on build ``name``: ``"OK"``, each refusal
    code's name, and with ``keep_going`` each of :data:`FAILURES` (a hang is aborted with
    CTRL.ABORT before the next descriptor); without it the first failure raises."""
    cfg = BUILDS[name]
    # The largest buffers of these builds are a few KiB: four slots of SPAN / 4 hold any of them.
    slot = SPAN // 4

    def check(accel, cfg, desc, skew, order, seed, high):
        offsets = [order[i] * slot + skew[i] for i in range(4)]
        return check_descriptor(accel, cfg, desc, offsets, seed, high)

    return _explore(name, 7, examples, keep_going,
                    dict(desc=descriptors(cfg), skew=st.lists(st.integers(0, 63), min_size=4, max_size=4),
                         order=st.permutations(range(4)), seed=st.integers(0, 2**31),
                         high=st.one_of(st.none(), st.none(), st.none(), st.integers(0, 3))), check)


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


def fuzz_run_lists(name: str, examples: int, keep_going: bool = False) -> dict[str, int]:
    """Outcome counts of ``examples`` drawn run lists on build ``name``: ``"OK"``, ``"list <code>"``
    for a list stopped at a refused entry, and with ``keep_going`` each of :data:`FAILURES` as
    for :func:`fuzz`; without it the first failure raises."""
    cfg = BUILDS[name]
    corrupt = st.tuples(st.integers(0, LIST_ENTRIES - 1), st.integers(0, 7), st.integers(0, 31))
    return _explore(name, 11, examples, keep_going,
                    dict(descs=st.lists(descriptors(cfg), min_size=1, max_size=LIST_ENTRIES),
                         seed=st.integers(0, 2**31), corrupt=st.one_of(st.none(), st.none(), corrupt)),
                    check_run_list)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_fuzzed_run_lists_stop_at_the_first_bad_entry(name):
    outcomes = fuzz_run_lists(name, LIST_EXAMPLES)
    assert outcomes.get("OK", 0) > 0 and outcomes.get("list BAD_RUN_LIST", 0) > 0, outcomes
