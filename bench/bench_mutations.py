"""Mutation checks (issue 27): deliberate single-point faults in the RTL and the driver, each of
which the default test suite must catch.

    python bench/bench_mutations.py [--only ID,ID] [--list] [--jobs N] [--keep] [--timeout S]

What it does
    1. Snapshots the working tree's files (``git ls-files --cached --others --exclude-standard``:
       tracked files as they are now on disk, plus new files not ignored) into a temporary folder,
       and checks that every mutant's original text occurs exactly once in its file (a mutant made
       stale by a later edit of the RTL stops the bench, naming the mutant).
    2. Baseline: runs the union of the selected mutants' tests on the unmutated snapshot; if they
       fail, it stops (a failing baseline would make every mutant look killed).
    3. For each mutant: copies the snapshot, applies the one change, checks that the mutated
       module imports and that the small test builds' whole accelerator (tests/harness/designs.py:
       DIRECT and WINOGRAD[4]) still elaborates and converts to Verilog from the copy (else the
       mutant is *invalid*, not killed), then runs
       ``python -m pytest -x -q -p no:cacheprovider -m "not slow" <its tests>`` in the copy with
       ``PYTHONPATH=<copy>``.

    Result per mutant: ``killed`` (pytest exit 1; the first failing test is named), ``survived``
    (exit 0), ``invalid`` (it does not import or elaborate), ``error`` (any other exit status, or
    the per-mutant ``--timeout``). Prints a markdown table and ``killed K of N mutants``; exit
    status 0 when every mutant is killed, 1 otherwise, 2 when the bench cannot run (stale mutant,
    failing baseline, a copy whose code is not what runs).

The copy's code is what runs: ``PYTHONPATH=<copy>`` puts the copy's ``rtl``, ``sim``,
``drivers``, ``dse`` and ``tests`` packages ahead of the editable install of the checkout
(setuptools' editable finder is appended to ``sys.meta_path``, after the ``PYTHONPATH``
entries), and the cocotb runner starts its simulator with ``PYTHONPATH`` set to the pytest
process's ``sys.path`` (cocotb_tools.runner), so the cocotb test modules come from the copy too;
the native simulator is compiled from the copy's Verilog and ``sim/native`` sources. Every
mutant's run checks this (a probe prints where the packages come from, in the copy's process and
in a child started the way the cocotb runner starts one) and the bench stops if any comes from
elsewhere. The Verilator, native-simulator and Yosys caches (``CONVFORGE_CACHE``, default
``~/.cache/convforge``) are shared: their keys hash the Verilog text (and the harness sources,
flags and tool versions: sim/toolchain.py ``build``, sim/native ``build``), so a mutant's changed
Verilog gets its own build and unchanged models are reused.

Time (2 cores, ``--jobs 1``, 38 mutants): about 20 minutes the first time, most of it the
Verilator builds of the mutated modules (10-40 s per mutant; the five that only an end-to-end
test catches build a small whole accelerator, 15-60 s), and 9-11 minutes on a re-run, when those
builds are cached (the baseline is about a minute of it). ``--jobs 2`` runs two mutants at once;
``--all-failures`` runs every listed test of a mutant and names all that fail (slower: it is how
the lists were checked).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The default suite's selection (pyproject.toml's addopts say the same).
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-m", "not slow")

#: The small accelerator builds the elaboration check converts (tests/harness/designs.py).
TOPS = ("direct", "winograd")


@dataclass(frozen=True)
class Mutant:
    """One deliberate fault: ``original`` (text occurring exactly once in ``file``) becomes
    ``replacement``; ``tests`` are the default-suite tests (node ids or files) that must catch it,
    the quickest first (pytest stops at the first failure)."""

    id: str
    file: str
    original: str
    replacement: str
    fault: str
    tests: tuple[str, ...]

    @property
    def module(self) -> str:
        """The dotted module name of ``file``."""
        return self.file[:-3].replace("/", ".")

    @property
    def tops(self) -> tuple[str, ...]:
        """Accelerator builds that must still convert with the fault in (RTL faults only)."""
        return TOPS if self.file.startswith("rtl/") else ()


AXI_W64 = "tests/rtl/test_axi_masters.py::test_axi_masters[w64]"
REQUANTISER = ("tests/rtl/test_requantiser.py::test_requantiser_matches_reference[pm4-acc28-lanes4-relu0]",
               "tests/rtl/test_requantiser.py::test_requantiser_matches_reference[pm4-acc28-lanes1-relu1]")
AXI_CONTROL = "tests/rtl/test_axi_control.py::test_control_slave"
LINE_BUFFER = "tests/rtl/test_line_buffer.py::test_line_buffer_matches_numpy_windows"
DIRECT_E2E = "tests/rtl/test_native_backend.py::test_native_random_pauses_bit_exact"

MUTANTS: list[Mutant] = [
    # ----- Winograd transforms and the EWMM array
    Mutant(
        "wino-cse-shift", "rtl/winograd_math.py",
        "shared.append((Term(src_a, max(0, -d)), Term(src_b, max(0, d), opposite)))",
        "shared.append((Term(src_a, max(0, -d)), Term(src_b, max(1, d), opposite)))",
        "Winograd transform constant off by one: a shared shift-add term x_a + x_b becomes x_a + 2 x_b "
        "(its shift 0 -> 1)",
        ("tests/unit/test_winograd_math.py",
         "tests/rtl/test_winograd_stages.py::test_winograd_stage[f4-input_transform_stage]")),
    Mutant(
        "wino-division", "rtl/pe/winograd_output_transform.py",
        "[w[o][i][j][self.shift:]]",
        "[w[o][i][j][self.shift + 1:]]",
        "Winograd output transform: the exact division by s^2 shifts one bit too far",
        ("tests/rtl/test_winograd_stages.py::test_winograd_stage[f2-output_transform_stage]",
         "tests/rtl/test_winograd_stages.py::test_winograd_stage[f2-chain_layer]")),
    Mutant(
        "ewmm-swap", "rtl/pe/ewmm_array.py",
        "beat.v[i][j][c] * beat.u[o][c][i][j]",
        "beat.v[i][j][c] * beat.u[o][c][j][i]",
        "EWMM operands: transformed filter element (i, j) multiplied with input element (j, i)",
        ("tests/rtl/test_winograd_stages.py::test_winograd_stage[f2-ewmm_array_stage]",)),
    Mutant(
        "ewmm-tree-odd", "rtl/pe/ewmm_array.py",
        "nxt.append(level[-1])",
        "pass",
        "EWMM channel sum: the odd element of a level dropped (pn = 3: the third channel's product lost)",
        ("tests/rtl/test_winograd_stages.py::test_winograd_stage[f2-ewmm_array_stage]",
         "tests/rtl/test_accelerator.py::test_non_power_of_two_arrays_bit_exact[f23-2x3-axi128]")),
    # ----- the direct engine's MAC array and line buffer
    Mutant(
        "mac-carry", "rtl/pe/mac_array.py",
        'Signal(signed(product_width + 1), name=f"pair_{mi}_{k}")',
        'Signal(signed(product_width), name=f"pair_{mi}_{k}")',
        "MAC adder tree: the sum of a pair of products one bit too narrow (its carry dropped)",
        ("tests/rtl/test_mac_array.py::test_mac_array_matches_numpy[pm2-pn2-w8]",)),
    Mutant(
        "mac-tree-odd", "rtl/pe/mac_array.py",
        "nxt.append(level[-1])",
        "pass",
        "MAC adder tree: the odd element of a level dropped (pn = 6: three pairs of products, the third lost)",
        ("tests/rtl/test_mac_array.py::test_mac_array_matches_numpy[pm2-pn6-w8]",
         "tests/test_network_sim.py::test_lenet_on_the_accelerator_equals_numpy")),
    Mutant(
        "line-stride", "rtl/buffers/line_buffer.py",
        "next_ix0 = ix0 + stride_val",
        "next_ix0 = ix0 + 1",
        "line buffer: the window steps one column per output pixel whatever the stride",
        (LINE_BUFFER,)),
    Mutant(
        "line-padding", "rtl/buffers/line_buffer.py",
        "pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W)",
        "pad = (iy < 0) | (iy >= H) | (ix < 0) | (ix > W)",
        "line buffer: the first column right of the input is read, not zero-padded",
        (LINE_BUFFER,)),
    # ----- the requantiser and its parameters
    Mutant(
        "requant-round", "rtl/pe/requantiser.py",
        "rounded[lane].eq(prod[lane] + rnds[lane])",
        "rounded[lane].eq(prod[lane])",
        "requantiser: the rounding term 2^(shift-1) lost (truncates)",
        REQUANTISER),
    Mutant(
        "requant-saturate", "rtl/pe/requantiser.py",
        "hi = (1 << (self.out_width - 1)) - 1",
        "hi = (1 << (self.out_width - 1)) - 2",
        "requantiser saturation bound 127 -> 126",
        REQUANTISER),
    Mutant(
        "requant-relu", "rtl/pe/requantiser.py",
        "low = Mux(self.relu, 0, lo_signed)",
        "low = Mux(self.relu, -1, lo_signed)",
        "ReLU clamp bound 0 -> -1",
        REQUANTISER[::-1]),
    Mutant(
        "requant-bias-sign", "rtl/pe/requantiser.py",
        "a.eq(acc_sel + par_sel.bias)",
        "a.eq(acc_sel - par_sel.bias)",
        "requantiser: bias subtracted instead of added",
        REQUANTISER),
    Mutant(
        "requant-lane-step", "rtl/pe/requantiser.py",
        "par_sel.eq(held_params[s * lanes + lane])",
        "par_sel.eq(held_params[s + lane])",
        "requantiser: lane k of step s takes channel s+k's quant parameters, not channel s*lanes+k's",
        ("tests/rtl/test_requantiser.py::test_requantiser_matches_reference[pm4-acc28-lanes2-relu0]",
         DIRECT_E2E)),
    Mutant(
        "quant-lane", "rtl/control/quant_gatherer.py",
        "m.d.sync += gathered[k].eq(entry[: quant_param_layout().size])",
        "m.d.sync += gathered[pm - 1 - k].eq(entry[: quant_param_layout().size])",
        "quant gatherer: output channel k gets the quant parameters of lane pm-1-k",
        (DIRECT_E2E,)),
    # ----- control
    Mutant(
        "read-groups-short", "rtl/control/read_issuer.py",
        "more.eq(group + 1 < plan.mg)",
        "more.eq(group + 2 < plan.mg)",
        "read issuer (direct engine): the group counter stops one output-channel group short",
        (DIRECT_E2E,)),
    Mutant(
        "write-row-pitch", "rtl/control/write_issuer.py",
        "m.d.sync += [addr.eq(addr + plan.row_stride), left.eq(left - plan.row_bytes),",
        "m.d.sync += [addr.eq(addr + plan.row_bytes), left.eq(left - plan.row_bytes),",
        "write issuer: a visit's rows one group's row apart instead of a row of every group",
        ("tests/unit/test_write_issuer.py",)),
    Mutant(
        "run-list-one-entry", "rtl/control/layer_sequencer.py",
        '                with m.If(self.index == count):',
        '                with m.If(self.index != 0):',
        "layer sequencer: a run list ends after its first entry",
        ("tests/rtl/test_run_list.py",)),
    Mutant(
        "run-list-stray-bits", "rtl/control/layer_sequencer.py",
        "                    with m.Elif(entry_bad):",
        "                    with m.Elif(entry_bad & 0):",
        "layer sequencer: an entry with bits outside its registers' fields is run",
        ("tests/rtl/test_run_list.py",)),
    Mutant(
        "table-bypassed", "rtl/pe/requantiser.py",
        "        return Mux(self.use_table, entry, raw).as_signed()",
        "        return raw.as_signed()",
        "requantiser: LAYER_FLAGS.TABLE has no effect",
        ("tests/rtl/test_activation_table.py",)),
    Mutant(
        "table-entries-after", "rtl/control/read_issuer.py",
        "        return layer.quant_addr + Mux(layer.table, ACT_TABLE_BYTES, 0)",
        "        return layer.quant_addr",
        "read issuer: the quant entries read from the table's bytes",
        ("tests/rtl/test_activation_table.py",)),
    Mutant(
        "pool-max-is-min", "rtl/pe/pooling.py",
        "            return Mux(a > b, a, b)",
        "            return Mux(a > b, b, a)",
        "pooling: the smaller value wins",
        ("tests/rtl/test_pooling.py",)),
    Mutant(
        "pool-avg-truncates", "rtl/pe/pooling.py",
        "(pair[lane] + top[lane] + 2) >> 2",
        "(pair[lane] + top[lane]) >> 2",
        "pooling: the average rounded down instead of half up",
        ("tests/rtl/test_fused_pool.py",)),
    Mutant(
        "pool-odd-width-runs", "rtl/control/layer_check.py",
        "refused=pooled & (plan.ho[0] | plan.wo[0])",
        "refused=pooled & plan.ho[0]",
        "layer check: a pooled run with an odd output width is run",
        ("tests/rtl/test_fused_pool.py",)),
    # ----- the driver
    Mutant(
        "layout-quant-byte", "drivers/layout.py",
        "table[:m, 8] = s.astype(np.uint8)",
        "table[:m, 9] = s.astype(np.uint8)",
        "driver quant layout: the shift written to byte 9 of the entry instead of byte 8",
        ("tests/unit/test_layout.py",)),
    Mutant(
        "unpack-output", "drivers/layout.py",
        "arr.transpose(1, 3, 0, 2)",
        "arr.transpose(1, 3, 2, 0)",
        "driver unpack_output: output rows and columns exchanged",
        ("tests/unit/test_layout.py",)),
    # ----- AXI4 masters (docs/results-axi.md lists these)
    Mutant(
        "axi-wstrb-tail", "rtl/axi/write_master.py",
        "strb_last.eq(Mux(last_cmd, all_lanes >> ~cur.end_lane, all_lanes))",
        "strb_last.eq(all_lanes)",
        "write master: WSTRB of a ragged final beat enables every lane",
        (AXI_W64,)),
    Mutant(
        "axi-wstrb-head", "rtl/axi/write_master.py",
        "strb_first.eq(Mux(first, (all_lanes << cur.off)[:B], all_lanes))",
        "strb_first.eq(all_lanes)",
        "write master: WSTRB of an unaligned first beat enables every lane",
        (AXI_W64,)),
    Mutant(
        "axi-wlast-early", "rtl/axi/write_master.py",
        "later_last_burst.eq(bbeat + 1 == burst.len)",
        "later_last_burst.eq(bbeat + 2 == burst.len)",
        "write master: WLAST one beat early, the burst's last beat skipped into the next burst",
        (AXI_W64,)),
    Mutant(
        "axi-4k", "rtl/axi/bursts.py",
        "limit.eq(Mux(to_boundary < cap, to_boundary, cap))",
        "limit.eq(cap)",
        "burst splitter: no 4 KiB boundary limit",
        (AXI_W64,)),
    Mutant(
        "axi-ar-overwrite", "rtl/axi/bursts.py",
        "emit.eq(active & (step == 2) & self.allow & (~self.o.valid | self.o.ready))",
        "emit.eq(active & (step == 2) & self.allow)",
        "burst splitter: the next burst overwrites AR/AW before its handshake",
        (AXI_W64,)),
    Mutant(
        "axi-outstanding", "rtl/axi/read_master.py",
        "planner.allow.eq((outstanding < self.max_outstanding) & ~self.stop)",
        "planner.allow.eq(~self.stop)",
        "read master: no limit on the read bursts in flight",
        (AXI_W64,)),
    Mutant(
        "axi-read-tail", "rtl/axi/read_master.py",
        "b_word.eq(Mux(final_b, out_b & bit_mask, out_b))",
        "b_word.eq(out_b)",
        "read master: bytes past the command's end in its final beat not zeroed",
        (AXI_W64,)),
    Mutant(
        "axi-write-error-sticky", "rtl/axi/write_master.py",
        "            m.d.sync += self.error.eq(1)\n        with m.Elif(self.clear_error):",
        "            m.d.sync += self.error.eq(1)\n        with m.Else():",
        "write master: the error flag is not sticky (cleared the cycle after a bad BRESP)",
        (AXI_W64,)),
    # ----- an abort (stop) on the write master: the drained beats must write nothing
    Mutant(
        "axi-stop-wstrb", "rtl/axi/write_master.py",
        "axi.WSTRB.eq(Mux(self.stop, 0, strb_first & strb_last))",
        "axi.WSTRB.eq(strb_first & strb_last)",
        "write master: the beats drained after stop keep their byte enables",
        ("tests/rtl/test_axi_masters.py::test_axi_masters[w32]",
         "tests/rtl/test_accelerator.py::test_abort_stops_a_running_layer_and_nothing_is_written_after[direct]")),
    Mutant(
        "axi-stop-data", "rtl/axi/write_master.py",
        "self.data.ready.eq(can & takes_word & ~self.stop)",
        "self.data.ready.eq(can & takes_word)",
        "write master: words are still taken from the data stream after stop",
        ("tests/rtl/test_axi_masters.py::test_axi_masters[w32]",)),
    Mutant(
        "axi-stop-aw", "rtl/axi/write_master.py",
        "planner.allow.eq(credit & ~self.stop)",
        "planner.allow.eq(credit)",
        "write master: new bursts are still issued after stop",
        ("tests/rtl/test_axi_masters.py::test_axi_masters[w32]",)),
    # ----- AXI4-Lite control slave (docs/results-axi.md lists these)
    Mutant(
        "ctrl-wstrb", "rtl/axi/control_slave.py",
        "store.eq((store & ~ebits) | (wbits & ebits))",
        "store.eq(wbits)",
        "control slave: WSTRB ignored on register writes",
        (AXI_CONTROL,)),
    Mutant(
        "ctrl-clear-wins", "rtl/axi/control_slave.py",
        "with m.If(set_):",
        "with m.If(set_ & ~hit_r):",
        "control slave: a clear-on-read in the same cycle as the event wins (the event is lost)",
        (AXI_CONTROL,)),
    Mutant(
        "ctrl-ier", "rtl/axi/control_slave.py",
        "((isr_done & ier_done) | (isr_ready & ier_ready))",
        "(isr_done | isr_ready)",
        "control slave: the interrupt ignores IP_IER",
        (AXI_CONTROL,)),
    Mutant(
        "ctrl-unmapped", "rtl/axi/control_slave.py",
        "                    m.d.sync += axi.RDATA.eq(0)",
        "                    m.d.sync += axi.RDATA.eq(axi.ARADDR)",
        "control slave: a read of an unmapped offset returns non-zero data",
        (AXI_CONTROL,)),
    Mutant(
        "ctrl-auto-restart", "rtl/axi/control_slave.py",
        'state["restart"] | (ap_done & state[("CTRL", "AUTO_RESTART")])',
        'state["restart"]',
        "control slave: CTRL.AUTO_RESTART ignored",
        (AXI_CONTROL,)),
    Mutant(
        "ctrl-write-no-w", "rtl/axi/control_slave.py",
        "write.eq(aw_held & w_held & ~axi.BVALID)",
        "write.eq(aw_held & ~axi.BVALID)",
        "control slave: a write completes on AW without waiting for W",
        (AXI_CONTROL,)),
]


# ----- copies ---------------------------------------------------------------------------------------

def tree_files(root: Path) -> list[str]:
    """Files of the working tree: tracked (as on disk now) and new ones git does not ignore."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True)
    names = sorted({n for n in out.stdout.decode().split("\0") if n})
    return [n for n in names if (root / n).is_file()]


def snapshot(root: Path, dest: Path) -> int:
    """Copy the working tree's files into ``dest``; returns how many."""
    files = tree_files(root)
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return len(files)


def stale(mutants: list[Mutant], tree: Path) -> list[str]:
    """One sentence per mutant whose original text does not occur exactly once in its file."""
    problems = []
    for mu in mutants:
        path = tree / mu.file
        if not path.is_file():
            problems.append(f"{mu.id}: {mu.file} does not exist")
            continue
        count = path.read_text().count(mu.original)
        if count != 1:
            problems.append(f"{mu.id}: the original text occurs {count} times in {mu.file} (must be once): "
                            f"{mu.original!r}")
        elif mu.replacement == mu.original:
            problems.append(f"{mu.id}: the replacement equals the original")
    return problems


def apply(mu: Mutant, tree: Path) -> None:
    path = tree / mu.file
    text = path.read_text()
    assert text.count(mu.original) == 1, mu.id
    path.write_text(text.replace(mu.original, mu.replacement))


def copy_env(tree: Path) -> dict[str, str]:
    """The environment of a copy's processes: its packages first on the import path, and its own
    temporary folder (the run folders a failing simulation keeps go away with the copy)."""
    env = dict(os.environ)
    tmp = tree / ".tmp"
    tmp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp)
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


# ----- the probe: where the code comes from, and does the fault elaborate ---------------------------

PROBE = r"""
import importlib, json, os, subprocess, sys
tree, module, tops = sys.argv[1], sys.argv[2], sys.argv[3:]
names = ["rtl", "sim", "drivers", "dse", "tests", module]
where = {name: importlib.import_module(name).__file__ for name in names}
# A child started the way cocotb_tools.runner starts the simulator: PYTHONPATH = this sys.path.
child = subprocess.run([sys.executable, "-c", "import importlib, json, sys; print(json.dumps("
                        "{n: importlib.import_module(n).__file__ for n in sys.argv[1:]}))", *names],
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                       capture_output=True, text=True, check=True)
where.update({"cocotb-child " + k: v for k, v in json.loads(child.stdout).items()})
if tops:
    from rtl.top import ConvAccelerator
    from rtl.verilog import to_verilog
    from tests.harness.designs import DIRECT, WINOGRAD
    for top in tops:
        config = {"direct": DIRECT, "winograd": WINOGRAD[4]}[top]
        to_verilog(ConvAccelerator(config), config.name)
print("PROBE " + json.dumps(where))
"""


class NotTheCopy(RuntimeError):
    """A copy's process imported code from somewhere else."""


def probe(tree: Path, module: str, tops=(), timeout: float = 600) -> str | None:
    """``None`` when ``module`` imports and ``tops`` convert from ``tree``, else the error's last
    line. Raises :class:`NotTheCopy` when a package does not come from ``tree``."""
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tree), module, *tops], cwd=tree, env=copy_env(tree),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {proc.returncode}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE "))
    where = json.loads(line[len("PROBE "):])
    strays = {k: v for k, v in where.items() if not Path(v).resolve().is_relative_to(tree.resolve())}
    if strays:
        raise NotTheCopy(f"in {tree}, these came from elsewhere: {strays}")
    return None


# ----- pytest -----------------------------------------------------------------------------------------

@dataclass
class Outcome:
    result: str                 # killed, survived, invalid, error
    first_failure: str = ""     # node id (killed), or what went wrong (invalid, error)
    seconds: float = 0.0
    summary: str = ""           # pytest's last line


FAILED_LINE = re.compile(r"^(FAILED|ERROR) (\S+)")


def run_pytest(tree: Path, tests, timeout: float, stop: bool = True) -> tuple[int, str, str]:
    """``(exit status, failing node ids, pytest's summary line)``: the first failing test, or
    with ``stop=False`` (every test runs) all of them, comma-separated; status -1 on timeout."""
    args = PYTEST_ARGS if stop else tuple(a for a in PYTEST_ARGS if a != "-x")
    cmd = [sys.executable, "-m", "pytest", *args, *tests]
    try:
        proc = subprocess.run(cmd, cwd=tree, env=copy_env(tree), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout:.0f} s"
    lines = proc.stdout.splitlines()
    failed = [m.group(2) for ln in lines if (m := FAILED_LINE.match(ln))]
    first = ", ".join(failed[:1] if stop else failed)
    summary = next((ln.strip("= ").strip() for ln in reversed(lines) if ln.strip()), "")
    summary = re.sub(r" \(\d+:\d\d:\d\d\)$", "", summary)   # "70 passed in 65.18s (0:01:05)"
    usage = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("ERROR: ")]
    if usage and proc.returncode not in (0, 1):
        summary = f"{summary}; {usage[0]}"
    return proc.returncode, first, summary


def run_mutant(mu: Mutant, tree: Path, work: Path, keep: bool, timeout: float, stop: bool = True) -> Outcome:
    t0 = time.time()
    copy = work / mu.id
    shutil.copytree(tree, copy)
    try:
        apply(mu, copy)
        problem = probe(copy, mu.module, mu.tops)
        if problem is not None:
            return Outcome("invalid", problem, time.time() - t0)
        code, first, summary = run_pytest(copy, mu.tests, timeout, stop)
        if code == 1:
            return Outcome("killed", first, time.time() - t0, summary)
        if code == 0:
            return Outcome("survived", "", time.time() - t0, summary)
        return Outcome("error", f"pytest exit status {code}: {summary}", time.time() - t0, summary)
    finally:
        if not keep:
            shutil.rmtree(copy, ignore_errors=True)


# ----- output -----------------------------------------------------------------------------------------

def cell(text: str) -> str:
    return text.replace("|", "\\|")


def short_test(node: str) -> str:
    """A test as the table shows it: the file's name without ``tests/``, then the test."""
    return node.removeprefix("tests/")


def table(rows: list[tuple[Mutant, Outcome]]) -> str:
    lines = ["| mutant | file | fault | tests run | result | first failing test | wall s |",
             "| --- | --- | --- | --- | --- | --- | ---: |"]
    for mu, out in rows:
        tests = "<br>".join(f"`{short_test(t)}`" for t in mu.tests)
        if out.result == "killed" and out.first_failure:
            first = "<br>".join(f"`{short_test(t)}`" for t in out.first_failure.split(", "))
        else:
            first = out.first_failure
        lines.append(f"| {mu.id} | `{mu.file}` | {cell(mu.fault)} | {tests} | {out.result} | {cell(first)} "
                     f"| {out.seconds:.0f} |")
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated mutant ids (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests, then exit")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1; the machine has 2 cores)")
    ap.add_argument("--keep", action="store_true", help="keep the snapshot and the mutated copies (paths printed)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one mutant's tests may take (default 1800)")
    ap.add_argument("--all-failures", action="store_true",
                    help="run every test of a mutant (no -x) and name all that fail (slower; for finding out "
                         "which tests catch a fault)")
    args = ap.parse_args(argv)

    ids = [mu.id for mu in MUTANTS]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate mutant ids")
    selected = MUTANTS
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in ids]
        if unknown:
            ap.error(f"unknown mutant(s) {', '.join(unknown)}; known: {', '.join(ids)}")
        selected = [mu for mu in MUTANTS if mu.id in wanted]
    if args.list:
        problems = stale(MUTANTS, ROOT)
        for mu in selected:
            print(f"{mu.id:20} {mu.file:40} {mu.fault}")
            for t in mu.tests:
                print(f"{'':20} {t}")
        for p in problems:
            print(f"STALE {p}")
        return 2 if problems else 0

    work = Path(tempfile.mkdtemp(prefix="convforge-mutants-"))
    tree = work / "snapshot"
    try:
        t0 = time.time()
        count = snapshot(ROOT, tree)
        log(f"snapshot of {count} files in {tree}")
        problems = stale(MUTANTS, tree)
        if problems:
            print("Stale mutants (the code they fault has changed; update MUTANTS in bench/bench_mutations.py):",
                  file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            return 2

        # Baseline: the unmutated snapshot must pass every test the mutants use.
        baseline = list(dict.fromkeys(t for mu in selected for t in mu.tests))
        try:
            problem = probe(tree, "rtl.top", TOPS)
        except NotTheCopy as exc:
            print(f"The copy's code is not what runs: {exc}", file=sys.stderr)
            return 2
        if problem is not None:
            print(f"The unmutated snapshot does not elaborate: {problem}", file=sys.stderr)
            return 2
        log(f"baseline: {len(baseline)} test selections on the unmutated snapshot")
        code, first, summary = run_pytest(tree, baseline, args.timeout * 2)
        if code != 0:
            print(f"The baseline fails (pytest exit status {code}, first failure {first or 'none'}: {summary}); "
                  "every mutant would look killed. Fix the suite or the working tree first.", file=sys.stderr)
            return 2
        base_seconds = time.time() - t0
        log(f"baseline passed: {summary}")

        def one(mu: Mutant) -> Outcome:
            log(f"{mu.id}: running {len(mu.tests)} test selection(s)")
            out = run_mutant(mu, tree, work, args.keep, args.timeout, stop=not args.all_failures)
            log(f"{mu.id}: {out.result} {out.first_failure} ({out.seconds:.0f} s)")
            return out

        try:
            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                outcomes = list(pool.map(one, selected))
        except NotTheCopy as exc:
            print(f"The copy's code is not what runs: {exc}", file=sys.stderr)
            return 2
        rows = list(zip(selected, outcomes))
        killed = sum(out.result == "killed" for out in outcomes)
        print(f"Baseline: the {len(baseline)} test selections below pass on the unmutated working tree "
              f"({summary}; {base_seconds:.0f} s with the snapshot and the elaboration check).")
        print()
        print(table(rows))
        print()
        print(f"killed {killed} of {len(rows)} mutants")
        others = {r: sum(out.result == r for out in outcomes) for r in ("survived", "invalid", "error")}
        if any(others.values()):
            print("Not killed: " + ", ".join(f"{n} {r}" for r, n in others.items() if n) + ".")
        log(f"total wall time {(time.time() - t0) / 60:.1f} min with --jobs {args.jobs}")
        return 0 if killed == len(rows) else 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
