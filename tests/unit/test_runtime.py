"""The board runtime (``drivers``): what it may import, the Python it needs, and rules that agree with rtl's.

* A layer runs through ``drivers.ConvAccelerator`` against the real pynq package and the fake
  board of tests/harness/fake_pynq.py in a process where every PC-side package is blocked by an
  import hook: the runtime needs the standard library, numpy and pynq only.
* ``vermin`` finds nothing newer than Python 3.8 in it (PYNQ 2.7 .. 3.1 images).
* Its layer rules (drivers/rules.py) give the same answers as the engine descriptions of rtl --
  the refusal code and sentence, the mapping of a layer, its column strips -- on random
  descriptors, layers and builds, for every engine.
* Its CPU convolution and requantiser (drivers/ops.py) are bit-exact with sim.reference.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import ops, rules
from rtl.config import AcceleratorConfig
from rtl import descriptor as build_rules
from rtl.descriptor import Descriptor, Limits
from rtl.engine import ENGINES
from sim import reference
from tests.harness.runtime_check import check_blocked_run, run_blocked
from tests.unit.test_pynq_driver import CONFIG, _layer, reset_values

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "drivers"

def test_a_layer_runs_through_the_board_driver_with_the_pc_side_blocked(tmp_path):
    x, w, bias, mult, shift = _layer(7)
    got = run_blocked(sys.executable, tmp_path, reset_values(CONFIG), x, w, bias, mult, shift,
                      env={"PYTHONPATH": str(ROOT)})
    assert Path(got["drivers"]) == RUNTIME
    check_blocked_run(got, x, w, bias, mult, shift, CONFIG.pm, CONFIG.pn)


def test_the_blocker_blocks(tmp_path):
    """The same child with numpy blocked fails: the hook is live."""
    with pytest.raises(AssertionError, match="numpy is blocked"):
        x, w, bias, mult, shift = _layer(7)
        run_blocked(sys.executable, tmp_path, reset_values(CONFIG), x, w, bias, mult, shift,
                    env={"PYTHONPATH": str(ROOT)}, blocked=("numpy",))


def test_runtime_needs_python_3_8_at_most():
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent))
    assert vermin, "vermin (dev extra) is not installed"
    proc = subprocess.run([vermin, "-t=3.8-", "--no-tips", "--violations", str(RUNTIME)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # vermin leaves annotations alone; they are never evaluated only where the module says so.
    for path in sorted(RUNTIME.glob("*.py")):
        tree = ast.parse(path.read_text())
        annotated = any(isinstance(n, ast.AnnAssign) or isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and (n.returns is not None or any(a.annotation is not None for a in n.args.args))
                        for n in ast.walk(tree))
        future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                     and any(a.name == "annotations" for a in n.names) for n in tree.body)
        assert future or not annotated, f"{path.name} has annotations but no 'from __future__ import annotations'"


# ----- the rules against the engine descriptions ----------------------------------------------------

_dims = st.integers(-1, 40)


@st.composite
def builds(draw):
    engine = draw(st.sampled_from(sorted(ENGINES)))
    m = draw(st.sampled_from(ENGINES[engine].variants(8)))
    return Limits(engine, m, draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 32)),
                  draw(st.integers(1, 32)), draw(st.integers(1, 48)),
                  3 if engine == "winograd" else draw(st.sampled_from((1, 3, 5, 7))), draw(st.integers(1, 2)),
                  draw(st.integers(1, 200)), draw(st.integers(1, 200)))


def _runtime_limits(lim: Limits) -> rules.Limits:
    return rules.Limits(lim.m, lim.pm, lim.pn, lim.max_width, lim.max_height, lim.max_channels, lim.max_kernel,
                        lim.max_stride, lim.row_words, lim.weight_taps)


def _runtime(d):
    return None if d is None else rules.Descriptor(**d.to_dict())


@settings(max_examples=3000, deadline=None)
@given(builds(), _dims, _dims, _dims, _dims, st.integers(-1, 8), st.integers(-1, 3), st.integers(-1, 7))
def test_refusals_agree_with_the_engine_descriptions(lim, c, m, h, w, k, s, p):
    d = Descriptor(c, m, h, w, k, s, p)
    want = ENGINES[lim.engine].refusal(d, lim)
    got = rules.refusal(_runtime(d), _runtime_limits(lim), rules.engine_named(lim.engine))
    assert (got is None) == (want is None)
    if want is not None:
        assert (got.code, got.reason) == (int(want.code), want.reason)


@settings(max_examples=3000, deadline=None)
@given(builds(), st.sampled_from(("conv", "fc")), st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 300),
       st.integers(1, 300), st.sampled_from((1, 2, 3, 5, 7, 9)), st.integers(1, 4), st.integers(0, 5))
def test_layer_mappings_and_strips_agree_with_the_engine_descriptions(lim, kind, c, m, h, w, k, s, p):
    description, engine = ENGINES[lim.engine], rules.engine_named(lim.engine)
    want = description.map_layer(kind, c, m, h, w, k, s, p, lim.max_kernel)
    got = rules.map_layer(engine, kind, c, m, h, w, k, s, p, lim.max_kernel)
    assert (_runtime(want.descriptor), want.mapping, want.reason) == tuple(got)
    if want.descriptor is None:
        return
    strips = description.strips(want.descriptor, lim.pn, lim.row_words, lim.m)
    assert rules.strips(engine, got.descriptor, lim.pn, lim.row_words, lim.m) == \
        (None if strips is None else tuple(_runtime(r) for r in strips))
    assert rules.column_multiple(engine, lim.m) == description.column_multiple(lim.m)


def test_the_rules_see_every_engine_and_a_real_build():
    """Every engine has its facts; a real configuration's limits give the same verdicts."""
    assert {rules.engine_with_code(e.code).name for e in ENGINES.values()} == set(ENGINES)
    cfg = AcceleratorConfig(engine="winograd", m=4, pm=2, pn=2, max_width=20, max_height=20, max_channels=8,
                            max_kernel=3, max_stride=1)
    lim = cfg.limits
    for d in (Descriptor(8, 8, 20, 20, 3, 1, 1), Descriptor(8, 8, 20, 20, 1, 1, 0), Descriptor(9, 8, 4, 4, 3, 1, 1)):
        want = cfg.engine_description.refusal(d, lim)
        got = rules.refusal(_runtime(d), _runtime_limits(lim), rules.engine_named("winograd"))
        assert (None if want is None else int(want.code)) == (None if got is None else got.code)
    assert rules.refusal(_runtime(Descriptor(8, 8, 20, 20, 1, 1, 0)), _runtime_limits(lim),
                         rules.engine_named("winograd")).code == 3   # BAD_KERNEL


def test_kept_activations_agree_with_the_build_side():
    """Where activations stay in DDR: the runtime's rule is the build side's, everywhere."""
    for pm in (1, 2, 3, 4, 8):
        for pn in (1, 2, 3, 4, 8):
            for runs in (1, 2, 3):
                assert rules.keeps_output(pm, pn, runs) == build_rules.keeps_output(pm, pn, runs) == \
                    (pm == pn and runs == 1)
    for kind in ("conv", "fc", "maxpool", "add"):
        for runs in (1, 2):
            for shape in ((8, 1, 1), (8, 2, 1), (8, 1, 3), (1, 5, 5)):
                assert rules.reads_in_place(kind, runs, shape) == build_rules.reads_in_place(kind, runs, shape)
    assert build_rules.reads_in_place("fc", 1, (8, 1, 1)) and not build_rules.reads_in_place("fc", 1, (8, 2, 2))
    assert build_rules.reads_in_place("conv", 1, (8, 2, 2)) and not build_rules.reads_in_place("conv", 2, (8, 2, 2))


# ----- the CPU's convolution against the reference -----------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9),
       st.sampled_from((1, 3, 5)), st.integers(1, 3), st.integers(0, 4), st.booleans(), st.sampled_from((8, 16)))
def test_cpu_conv_and_requantiser_are_bit_exact_with_the_reference(seed, c, m, h, w, k, s, p, relu, bits):
    p = min(p, k - 1)
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    x, wt = rng.integers(lo, hi, (c, h, w)), rng.integers(lo, hi, (m, c, k, k))
    acc = ops.conv2d(x, wt, s, p)
    want = reference.conv2d(x, wt, s, p)
    assert acc.shape == want.shape and (acc == want).all()
    bias = rng.integers(-2 ** 31, 2 ** 31, m)
    mult = rng.integers(-2 ** 31, 2 ** 31, m)
    shift = rng.integers(0, 64, m)
    for scale in (1, 1 << 36):  # beyond int64 products: the exact path
        got = ops.requantize(acc * scale, bias, mult, shift, relu, out_bits=bits)
        ref = reference.requantize(want * scale, bias, mult, shift, relu, out_bits=bits)
        assert got.dtype == ref.dtype and (got == ref).all()


def test_table_fusions_agree_with_the_build_side():
    """Which element-wise layers an activation table computes: the runtime's rule is the build
    side's, on random chains and branches; the cases that must not fuse do not."""
    from collections import namedtuple

    L = namedtuple("L", "name kind inputs")
    kinds = ("conv", "fc", "relu", "leaky_relu", "clip", "add", "maxpool")
    rng = np.random.default_rng(4)
    for _ in range(300):
        layers = []
        for i in range(int(rng.integers(1, 8))):
            kind = kinds[int(rng.integers(len(kinds)))]
            n_in = 2 if kind == "add" and i >= 2 else 1
            inputs = tuple(sorted({f"l{int(rng.integers(i))}" for _ in range(n_in)})) if i else ()
            layers.append(L(f"l{i}", kind, inputs))
        accelerated = {l.name for l in layers if l.kind in ("conv", "fc") and rng.random() < 0.8}
        for act_table in (False, True):
            assert rules.table_fusions(layers, accelerated, act_table) == \
                build_rules.table_fusions(layers, accelerated, act_table)
    chain = [L("c", "conv", ()), L("a", "leaky_relu", ("c",)), L("d", "conv", ("a",)), L("b", "clip", ("d",)),
             L("e", "relu", ("b",))]
    assert build_rules.table_fusions(chain, {"c", "d"}, True) == {"c": "a", "d": "b"}     # one table each
    assert build_rules.table_fusions(chain, {"c", "d"}, False) == {}
    assert build_rules.table_fusions(chain, {"d"}, True) == {"d": "b"}                     # c on the CPU
    branch = [L("c", "conv", ()), L("a", "leaky_relu", ("c",)), L("d", "conv", ("c",))]
    assert build_rules.table_fusions(branch, {"c", "d"}, True) == {}                       # c has two readers
    assert build_rules.table_fusions([L("c", "conv", ()), L("a", "relu", ("c",))], {"c"}, True) == {"c": "a"}


def test_pool_fusions_agree_with_the_build_side():
    """Which pools the pooling stage computes: the runtime's rule is the build side's, on random
    chains; a pool fuses through its producer's table, never when padded, strided otherwise, odd,
    read twice or fed by a layer of several runs."""
    from collections import namedtuple

    L = namedtuple("L", "name kind inputs kernel stride padding height width out_height out_width")

    def pool(name, source, k=2, s=2, p=0, hw=8, kind="maxpool"):
        return L(name, kind, (source,), k, s, p, hw, hw, (hw + 2 * p - k) // s + 1, (hw + 2 * p - k) // s + 1)

    def layer(name, kind, inputs=()):
        return L(name, kind, inputs, 3, 1, 1, 8, 8, 8, 8)

    rng = np.random.default_rng(5)
    kinds = ("conv", "relu", "leaky_relu", "maxpool", "avgpool", "add")
    for _ in range(300):
        layers = []
        for i in range(int(rng.integers(1, 8))):
            kind = kinds[int(rng.integers(len(kinds)))]
            source = f"l{int(rng.integers(i))}" if i else ""
            if kind in ("maxpool", "avgpool"):
                hw = int(rng.choice([7, 8]))
                layers.append(pool(f"l{i}", source, k=int(rng.choice([2, 3])), s=int(rng.choice([1, 2])),
                                   p=int(rng.integers(2)), hw=hw, kind=kind))
            else:
                layers.append(layer(f"l{i}", kind, (source,) if source else ()))
        single = {l.name for l in layers if l.kind == "conv" and rng.random() < 0.8}
        for act_table in (False, True):
            tables = build_rules.table_fusions(layers, single, act_table)
            assert tables == rules.table_fusions(layers, single, act_table)
            for pooling in (False, True):
                assert rules.pool_fusions(layers, single, tables, pooling) == \
                    build_rules.pool_fusions(layers, single, tables, pooling)
    chain = [layer("c", "conv"), layer("a", "relu", ("c",)), pool("p", "a"), layer("d", "conv", ("p",)),
             pool("q", "d", kind="avgpool"), layer("e", "conv", ("q",))]
    tables = build_rules.table_fusions(chain, {"c", "d", "e"}, True)
    assert build_rules.pool_fusions(chain, {"c", "d", "e"}, tables, True) == {"c": "p", "d": "q"}
    assert build_rules.pool_fusions(chain, {"c", "d", "e"}, {}, True) == {"d": "q"}      # relu on the CPU
    assert build_rules.pool_fusions(chain, {"c", "d", "e"}, tables, False) == {}
    assert build_rules.pool_fusions(chain, {"e"}, tables, True) == {}                    # c, d several runs
    for odd in (pool("p", "c", p=1), pool("p", "c", k=3), pool("p", "c", s=1), pool("p", "c", hw=7)):
        assert build_rules.pool_fusions([layer("c", "conv"), odd, layer("d", "conv", ("p",))], {"c", "d"}, {},
                                        True) == {}
    branch = [layer("c", "conv"), pool("p", "c"), layer("d", "conv", ("c",))]
    assert build_rules.pool_fusions(branch, {"c", "d"}, {}, True) == {}                 # c read twice
    assert build_rules.pool_fusions([layer("c", "conv"), pool("p", "c")], {"c"}, {}, True) == {"c": "p"}
