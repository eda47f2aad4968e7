"""``python -m dse.build``: design an accelerator for a network and a board, write the deploy folder.

    python -m dse.build [--network NAME|PATH.onnx] [--board NAME] [--out DIR]
                        [--engine direct|winograd|auto] [--seed N] [--population N]
                        [--generations N] [--synth] [--data-width 8|16] [--quiet]
                        [--target-fps F] [--budget RES=V,...] [--input-shape 1,C,H,W]

Defaults: vgg16 on pynq-z2 into build/<network>-<board> (-<engine> appended when --engine names
one), engine auto, seed 0, population 24,
20 generations. The folder (spec section 6) gets report.md, report.json, ga_convergence.png,
roofline.png, design.json, rtl/<name>.v, the Vivado package (ip/, vivado/) and what the board
needs (the runtime wheel, BOARD.md, example.py and example.ipynb). :func:`build` is the same
job as a Python call (:func:`explore` runs only the DSE). It is written into a temporary sibling folder and
renamed into place at the end, so a failed run never leaves a folder that looks complete (an
existing folder of the same name is replaced only by a complete one).

Exit status (the same for every CLI: python -m dse.build, dse.sweep and sim.run): 0 done;
2 bad input, found before anything is built (malformed arguments, an unknown network or board,
an ONNX file that cannot be read, an operator that neither the accelerator nor the driver's CPU
path can run, an output folder that cannot be written); 1 the job ran and failed (no
configuration fits, Yosys failed, a simulation was not bit-exact). Either ends with one
sentence on stderr. Warnings of the ONNX import (missing weights) are printed as
``warning: ...`` lines on stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

from amaranth.hdl import UnusedElaboratable
from tqdm import tqdm

from rtl.engine import ENGINES
from rtl.top import accelerator_verilog

from .boards import Board, UnknownBoardError, board_names, get_board
from .design import (FPS_TOLERANCE, Design, binding_utilisation, design_size, fitness_key, smallest_near_fastest,
                     target_key)
from .ga import Evaluator, NoFeasibleDesign, fit_witness, genetic_search, search_space
from .graph import Network, NetworkError
from .networks import get_network, zoo_names
from .onnx_import import OnnxImportWarning
from .packaging import PackagingError, write_package
from .packaging.board_files import write_board_files
from .report import fmt_number, report_dict, write_design_json, write_report
from .resource_model import HEADROOM
from .synth import SynthError, synthesize
from .timing import TimingError, estimate_timing

__all__ = ["main", "build", "explore", "parse_budget", "write_deploy_folder", "check_runnable", "BuildError", "BuildUsageError", "DEFAULT_NETWORK", "DEFAULT_BOARD",
           "DEFAULT_POPULATION", "DEFAULT_GENERATIONS", "DEFAULT_SEED"]

#: What ``python -m dse.build`` builds without arguments, and the GA's defaults.
DEFAULT_NETWORK = "vgg16"
DEFAULT_BOARD = "pynq-z2"
DEFAULT_POPULATION = 24
DEFAULT_GENERATIONS = 20
DEFAULT_SEED = 0


class BuildError(Exception):
    """A build that cannot go on; the message is the one sentence printed (exit status 1)."""


class BuildUsageError(BuildError):
    """Bad input, found before anything was built: an unknown network or board, an ONNX file
    that cannot be read or run, an argument out of range, an output folder that cannot be
    written (exit status 2, as for malformed arguments)."""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dse.build",
        description="Design a ConvAccelerator for a CNN and an FPGA board (two-stage GA DSE) and write the "
                    "deploy folder: report, design.json, plots and Verilog.")
    ap.add_argument("--network", default=DEFAULT_NETWORK,
                    help=f"zoo network ({', '.join(zoo_names())}) or a path to an .onnx model (default {DEFAULT_NETWORK})")
    ap.add_argument("--board", default=DEFAULT_BOARD,
                    help=f"target board ({', '.join(board_names())}; default {DEFAULT_BOARD})")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default build/<network>-<board>, with -<engine> when --engine names one)")
    ap.add_argument("--engine", choices=(*ENGINES, "auto"), default="auto",
                    help="engine to search (default auto: every engine)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help=f"GA seed (default {DEFAULT_SEED}; the same seed gives the same design)")
    ap.add_argument("--population", type=int, default=DEFAULT_POPULATION,
                    help=f"GA population (default {DEFAULT_POPULATION})")
    ap.add_argument("--generations", type=int, default=DEFAULT_GENERATIONS,
                    help=f"GA generations (default {DEFAULT_GENERATIONS})")
    ap.add_argument("--data-width", type=int, choices=(8, 16), default=8, help="activation/weight width (default 8)")
    ap.add_argument("--synth", action="store_true",
                    help="run Yosys synth_xilinx on the Verilog and report measured counts and the timing estimate")
    ap.add_argument("--timing", action="store_true",
                    help="estimate Fmax from the synthesised netlist (Yosys + dse/timing.py) and report the worst paths")
    ap.add_argument("--target-fps", type=float, default=None, metavar="F",
                    help="the smallest design (by its binding resource) that predicts at least F frames per second, "
                         "instead of the fastest")
    ap.add_argument("--budget", default=None, metavar="RES=V,...",
                    help="cap the design's resources: per resource (LUT, FF, DSP, BRAM36) a fraction of the board "
                         "(0..1) or a count, e.g. DSP=0.5 or DSP=110,BRAM36=60")
    ap.add_argument("--input-shape", default=None, metavar="1,C,H,W",
                    help="the input size of an ONNX model whose height, width (or channels) are symbolic")
    ap.add_argument("--quiet", action="store_true", help="no progress display")
    return ap


def _check_writable(out: Path) -> None:
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildUsageError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if out.exists() and not out.is_dir():
        raise BuildUsageError(f"cannot write the output folder {out}: a file of that name exists")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BuildUsageError(f"cannot write the output folder {out}: {parent} is not writable")


def check_runnable(network) -> None:
    """Refuse a network with a layer that nothing can run (an ``unsupported`` ONNX operator):
    the deploy folder would promise a CPU layer the driver has no implementation for."""
    for layer in network.layers:
        if layer.kind == "unsupported":
            raise BuildUsageError(f"layer {layer.name!r} of {network.name} is the ONNX operator {layer.op_type}, which neither "
                             "the accelerator nor the driver's CPU path can run (README.md lists the supported operators)")


def _resolve(network, board, input_shape=None) -> tuple[Network, Board]:
    """The :class:`Network` and :class:`Board` named (or given; ``input_shape`` for an ONNX
    model with symbolic sizes); BuildError for an unknown one."""
    if not isinstance(network, Network):
        try:
            network = get_network(str(network), input_shape)
        except (NetworkError, ValueError, OSError) as exc:
            raise BuildUsageError(str(exc)) from None
    check_runnable(network)
    if not isinstance(board, Board):
        try:
            board = get_board(str(board))
        except UnknownBoardError as exc:
            raise BuildUsageError(str(exc)) from None
    return network, board


def parse_budget(text: str) -> dict[str, float]:
    """``"DSP=0.5,LUT=20000"`` -> ``{"DSP": 0.5, "LUT": 20000.0}``: per resource a fraction of the
    board (at most 1) or a count (above 1). BuildUsageError for anything else."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        try:
            number = float(value) if sep else float("nan")
        except ValueError:
            number = float("nan")
        if name not in HEADROOM or not number > 0:
            raise BuildUsageError(f"--budget takes RESOURCE=VALUE pairs with a resource of {', '.join(HEADROOM)} and "
                                  f"a fraction of the board (0..1) or a count, got {part!r}")
        out[name] = number
    if not out:
        raise BuildUsageError("--budget needs at least one RESOURCE=VALUE pair, e.g. DSP=0.5")
    return out


def _headroom(budget: dict[str, float] | None, board: Board) -> dict[str, float]:
    """The share of each resource a design may use: the model's headroom, capped by ``budget``."""
    headroom = dict(HEADROOM)
    for name, value in (budget or {}).items():
        share = value if value <= 1 else value / board.resources[name]
        headroom[name] = min(headroom[name], share)
    return headroom


def explore(network=DEFAULT_NETWORK, board=DEFAULT_BOARD, *, engine: str = "auto", seed: int = DEFAULT_SEED,
            population: int = DEFAULT_POPULATION, generations: int = DEFAULT_GENERATIONS, data_width: int = 8,
            quiet: bool = True, target_fps: float | None = None, budget: dict[str, float] | None = None,
            input_shape=None):
    """The DSE of ``network`` (a zoo name, an ONNX path or a :class:`dse.graph.Network`) on
    ``board`` (a name or a :class:`dse.boards.Board`): ``(network, board, engines, result)``
    with the GA's ``SearchResult`` (``result.best`` is the design). Nothing is written.
    ``target_fps``: the smallest design (by its binding resource) that meets this frame rate,
    instead of the fastest. ``budget``: per resource a fraction of the board or a count the
    design may not exceed (see :func:`parse_budget`). ``input_shape``: ``"1,C,H,W"`` or a tuple,
    the input size of an ONNX model that leaves it symbolic. Raises :class:`BuildError` with one
    sentence."""
    network, board = _resolve(network, board, input_shape)
    if engine != "auto" and engine not in ENGINES:
        raise BuildUsageError(f"engine must be one of {', '.join((*ENGINES, 'auto'))}, got {engine!r}")
    if data_width not in (8, 16):
        raise BuildUsageError(f"the data width must be 8 or 16, got {data_width!r}")
    if population < 2 or generations < 1:
        raise BuildUsageError("the GA needs --population of at least 2 and --generations of at least 1")
    if target_fps is not None and not target_fps > 0:
        raise BuildUsageError(f"--target-fps must be a positive frame rate, got {target_fps}")
    engines = list(ENGINES) if engine == "auto" else [engine]
    headroom = _headroom(budget, board)
    space = search_space(engines, data_width)
    evaluator = Evaluator(network, board, data_width, headroom=headroom)
    witness, closest = fit_witness(space, network, board, data_width, headroom)
    if witness is None:
        raise BuildError(f"no {'/'.join(engines)} configuration can fit {network.name} on {board.name}: "
                         f"the smallest design {closest.problem or 'is infeasible'}")
    bar = None
    if not quiet:
        bar = tqdm(total=generations + 1, desc=f"DSE {network.name} on {board.name}", unit="gen", file=sys.stderr)

    def progress(gen, best):
        if bar is not None:
            bar.set_postfix_str(f"best {best.fps:.3g} fps, {evaluator.evaluations} designs")
            bar.update(1)

    caps = {k: round(v * board.resources[k]) for k, v in headroom.items() if k in budget} if budget else {}
    within = "within the budget " + ", ".join(f"{k} <= {n:,}" for k, n in caps.items()) if caps else ""
    try:
        key = fitness_key if target_fps is None else target_key(target_fps)
        result = genetic_search(space, evaluator, population=population, generations=generations,
                                seed=seed, progress=progress, key=key)
        if target_fps is None and result.best.feasible:
            _choose_near_fastest(result, within or "that fits the board")
        if bar is not None:   # the bar ends on the chosen design (after the refinement), not the GA's best
            bar.set_postfix_str(f"chosen {fmt_number(result.best.fps)} fps after refinement, {evaluator.evaluations:,} designs",
                                refresh=True)
    except NoFeasibleDesign as exc:
        raise BuildError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    if not result.best.feasible:
        raise BuildError(f"no configuration can fit {network.name} on {board.name}: {result.best.problem}")
    if caps:
        result.choice["budget"] = caps
        result.choice.setdefault("rule", f"the fastest design {within}")
    if target_fps is not None:
        _choose_for_target(result, evaluator, target_fps, network, board)
    return network, board, engines, result


def _choose_near_fastest(result, fits: str) -> None:
    """The default rule: of the designs evaluated within :data:`FPS_TOLERANCE` of the fastest
    one's frame rate, the smallest (by its binding resource) becomes ``result.best``; the rule
    (``fits``: what bounds the designs, the board or a budget) and the fastest design go into
    ``result.choice``."""
    chosen, fastest = smallest_near_fastest(result.evaluated)
    util = chosen.resources.utilisation(chosen.board)
    binding = max(util, key=util.get)
    result.choice.update({
        "tolerance": FPS_TOLERANCE,
        "fastest": {"genome": fastest.label, "fps": fastest.fps, "binding_utilisation": binding_utilisation(fastest),
                    "dsp": fastest.resources.totals["DSP"]},
        "rule": (f"the smallest design (by its binding resource, {binding} at {util[binding]:.1%}) {fits}, with a "
                 f"frame rate within {FPS_TOLERANCE:.0%} of the fastest design's"),
    })
    result.best = chosen


def _choose_for_target(result, evaluator, target_fps: float, network, board) -> None:
    """Check that the chosen design meets ``target_fps`` and record why it was chosen: the
    binding resource, and the next smaller design evaluated, which misses the target."""
    chosen = result.best
    if chosen.fps < target_fps:
        raise BuildError(f"no design of {network.name} on {board.name} reaches {target_fps:g} fps: the fastest "
                         f"found makes {fmt_number(chosen.fps)} fps")
    bind = binding_utilisation(chosen)
    size = design_size(chosen)
    smaller = [d for d in evaluator.cache.values() if d.feasible and design_size(d) < size]
    nearest = max(smaller, key=lambda d: (design_size(d), d.fps), default=None)
    util = chosen.resources.utilisation(board)
    result.choice.update({
        "target_fps": target_fps,
        "binding": {"resource": max(util, key=util.get), "utilisation": bind},
        "next_smaller": None if nearest is None else {
            "genome": nearest.label, "fps": nearest.fps, "binding_utilisation": binding_utilisation(nearest),
            "dsp": nearest.resources.totals["DSP"]},
    })
    rule = f"the smallest design (by its binding resource, {max(util, key=util.get)} at {bind:.1%}) that meets " \
           f"{target_fps:g} fps"
    result.choice["rule"] = rule + (f"; {result.choice['rule']}" if "rule" in result.choice else "")


def build(network=DEFAULT_NETWORK, board=DEFAULT_BOARD, out=None, *, engine: str = "auto", seed: int = DEFAULT_SEED,
          population: int = DEFAULT_POPULATION, generations: int = DEFAULT_GENERATIONS, data_width: int = 8,
          synth: bool = False, timing: bool = False, quiet: bool = True, write_verilog: bool = True,
          target_fps: float | None = None, budget: dict[str, float] | None = None,
          input_shape=None) -> tuple[Path, Design]:
    """The whole build: :func:`explore`, then the deploy folder ``out`` (default
    ``build/<network>-<board>``); returns ``(folder, design)``. ``synth``/``timing``: Yosys
    counts and the Fmax estimate in the report. ``write_verilog=False`` (library use, e.g. the
    tests' sweeps over networks and boards) writes everything but ``rtl/`` and the Vivado and
    board files. Raises :class:`BuildError` with the sentence to print, before writing anything
    when the arguments are wrong."""
    t0 = time.time()
    network, board = _resolve(network, board, input_shape)
    if out is None:   # build/<network>-<board>, and -<engine> when one engine was asked for
        suffix = "" if engine == "auto" else f"-{engine}"
        out = Path("build") / f"{network.name}-{board.name}{suffix}"
    out = Path(out)
    _check_writable(out)
    network, board, engines, result = explore(network, board, engine=engine, seed=seed, population=population,
                                              generations=generations, data_width=data_width, quiet=quiet,
                                              target_fps=target_fps, budget=budget)
    settings = {"population": population, "generations": generations, "data_width": data_width}
    write_deploy_folder(result.best, result, out, engines=engines, settings=settings, started=t0,
                        write_verilog=write_verilog, synth=synth or timing, quiet=quiet)
    return out, result.best


def write_deploy_folder(design: Design, result, out: Path, *, engines: list[str], settings: dict,
                        started: float | None = None, write_verilog: bool = True, synth: bool = False,
                        quiet: bool = True, measured: dict | None = None, timing: dict | None = None) -> Path:
    """Write the deploy folder of ``design`` (found by ``result``, a ``SearchResult``) to ``out``.

    It is written into a temporary sibling folder and renamed into place, so a failure never
    leaves a folder that looks complete. ``synth``: run Yosys (cached per design) for measured
    counts and the timing estimate, unless ``measured``/``timing`` are given (a sweep that has
    synthesised the design already). ``settings`` go into report.json (``seconds`` is added from
    ``started``). Raises :class:`BuildError` with one sentence.
    """
    board = design.board
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        if write_verilog:
            (tmp / "rtl").mkdir()
            try:
                verilog = accelerator_verilog(design.config)
            except Exception as exc:  # the generator's own error, reported in one sentence
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BuildError(f"the Verilog of {design.config.name} could not be generated: "
                                 f"{type(exc).__name__}: {first}") from None
            (tmp / "rtl" / f"{design.config.name}.v").write_text(verilog)
            # Vivado packaging: ip/component.xml, vivado/build.tcl, the module-reference wrapper.
            try:
                write_package(design.config, board, tmp, tmp / "rtl" / f"{design.config.name}.v")
            except PackagingError as exc:
                raise BuildError(f"the Vivado package of {design.config.name} could not be written: {exc}") from None
            # What the board needs: the runtime wheel, BOARD.md and the example for this design.
            try:
                write_board_files(design.config, board, design.network.name, tmp, out.name)
            except PackagingError as exc:
                raise BuildError(f"the board files of {design.config.name} could not be written: {exc}") from None
            if synth and measured is None:
                if not quiet:
                    print(f"synthesising {design.config.name} with Yosys (minutes; cached per design)...", file=sys.stderr)
                try:
                    syn = synthesize(verilog, design.config.name, family=board.family)
                    measured = {k: syn.counts[k] for k in ("LUT", "FF", "DSP", "BRAM36", "LUTRAM", "CARRY")}
                    timing = estimate_timing(syn.netlist(), design.config.name, board.family).to_dict(
                        mhz=design.config.clock_mhz)
                except (SynthError, TimingError) as exc:
                    first = (str(exc).strip() or "yosys failed without a message").splitlines()[0]
                    raise BuildError(f"Yosys could not synthesise {design.config.name} (--synth/--timing asked for "
                                     f"it): {first}") from None
        settings = dict(settings)
        if started is not None:
            settings["seconds"] = round(time.time() - started, 2)
        report = report_dict(design, result, engines=engines, measured=measured, timing=timing, settings=settings)
        write_design_json(design, tmp / "design.json")
        write_report(design, result, tmp, report)
        # Replace atomically: the complete folder appears under its name in one rename.
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise BuildError(f"cannot write the output folder {out}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    # The register map and the models build components they never elaborate; Amaranth's warning
    # about that would bury the one-sentence messages.
    warnings.filterwarnings("ignore", category=UnusedElaboratable)
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OnnxImportWarning)
            try:
                out, design = build(args.network, args.board, args.out, engine=args.engine, seed=args.seed,
                                    population=args.population, generations=args.generations,
                                    data_width=args.data_width, synth=args.synth, timing=args.timing,
                                    quiet=args.quiet, target_fps=args.target_fps,
                                    budget=None if args.budget is None else parse_budget(args.budget),
                                    input_shape=args.input_shape)
            finally:
                for w in caught:
                    if issubclass(w.category, OnnxImportWarning):
                        print(f"warning: {w.message}", file=sys.stderr)
                    else:
                        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except BuildError as exc:
        msg = str(exc).strip().rstrip(".")
        print(f"error: {msg}.", file=sys.stderr)
        return 2 if isinstance(exc, BuildUsageError) else 1
    cfg = design.config
    print(f"wrote {out}: {design.label}; predicted {fmt_number(design.fps)} fps, {design.gops:.3g} GOP/s; "
          f"LUT {design.resources.totals['LUT']}, DSP {design.resources.totals['DSP']}, "
          f"BRAM36 {design.resources.totals['BRAM36']:g} of {design.board.name}; rtl/{cfg.name}.v")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
