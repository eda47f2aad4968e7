"""``python -m dse.sweep``: the DSE for several networks on several boards, on a Dask cluster.

    python -m dse.sweep --networks vgg16,resnet18 --boards pynq-z2,kv260 [--synth K] [--verify]
                        [--verify-rows N] [--scheduler tcp://host:8786 | --workers N | --serial]
                        [--out build/sweep] [--seed 0] [--population 24] [--generations 20] [--quiet]

Per (network, board) pair the sweep

1. runs the DSE (``explore``: the same GA as ``python -m dse.build``) and keeps its ``K`` best
   distinct feasible designs (``--synth K``; the best one without ``--synth``);
2. with ``--synth K``, synthesises those with Yosys (``synthesize_config``; netlists are cached per
   design) and chooses the fastest one whose *measured* LUT/FF/DSP/BRAM fit the board with the
   DSE's headroom (a design the model says fits but Yosys says does not is dropped, and the
   summary says why);
3. writes its deploy folder ``OUT/<network>-<board>`` (``write_design``: what ``dse.build``
   writes, with the measured counts);
4. with ``--verify``, simulates every accelerated layer of it bit-exact (``verify_folder``: the
   runs of ``python -m sim.run DIR --layer all``, cut to ``--verify-rows`` input rows).

It writes ``OUT/summary.md``, ``OUT/summary.json`` and ``OUT/fps_vs_resources.png`` (fps
against the binding resource's utilisation, one series per board).

Execution: every step is a pure function of its arguments (the same arguments give the same
result), submitted to Dask distributed: a ``LocalCluster`` of ``--workers`` processes on this
machine by default, or the cluster at ``--scheduler``. Tasks run with ``retries``: a worker that
dies mid-task (killed, out of memory) has its task rerun elsewhere, and a task that raises is
retried, then reported in the summary with its exception; nothing is dropped silently.
``--serial`` runs the same functions in this process, one after the other (the reference a
distributed run must equal). Verilator builds and Yosys netlists are cached under the cache root
(``CONVFORGE_CACHE``, default ``~/.cache/convforge``) of each worker's machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import UnusedElaboratable
from distributed import Client, LocalCluster, Security
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from tqdm import tqdm

from rtl.config import AcceleratorConfig
from rtl.engine import ENGINES
from rtl.top import accelerator_verilog
from sim.run import simulate_layers

from .boards import UnknownBoardError, get_board
from .build import DEFAULT_GENERATIONS, DEFAULT_POPULATION, check_runnable, write_deploy_folder
from .design import Design, fitness_key, smallest_near_fastest
from .ga import Evaluator, SearchResult, genetic_search, search_space
from .graph import NetworkError
from .networks import get_network
from .resource_model import HEADROOM
from .synth import SynthError, synthesize

__all__ = ["LOCAL_HOST", "local_cluster", "tls_security", "open_client", "Exploration", "explore", "synthesize_config", "synthesize_candidate", "yosys_violations", "choose",
           "write_design", "finish_pair", "verify_folder", "verify_pair", "PairOutcome", "run_sweep", "main"]

# The Dask workers import this module to run its tasks; should any of them build a component it
# never elaborates, Amaranth's UnusedElaboratable warning would print from every worker (the
# packaging reads rtl.top.accelerator_signature and builds none). main() filters it too.
warnings.filterwarnings("ignore", category=UnusedElaboratable)

#: Counts compared with the board (the resource model's totals).
RESOURCES = ("LUT", "FF", "DSP", "BRAM36")
#: Times a task is retried after its worker died or it raised.
RETRIES = 2


class SweepError(Exception):
    """Bad sweep arguments; the message is one sentence."""


@dataclass
class Exploration:
    """One pair's DSE: the search and its ``candidates`` (best first, distinct configurations)."""

    network: str
    board: str
    result: SearchResult
    candidates: list[Design]


def _shape_for(network: str, input_shape):
    """``--input-shape`` applies to the ONNX models of a sweep (zoo networks have fixed sizes)."""
    return input_shape if network.strip().lower().endswith(".onnx") else None


def explore(network: str, board: str, *, seed: int = 0, population: int = 24, generations: int = 20,
            top_k: int = 1, data_width: int = 8, input_shape=None) -> Exploration:
    """The GA of ``dse.build`` for ``network`` (a zoo name or an ONNX path; ``input_shape`` for
    an ONNX model with symbolic sizes) on ``board``; the ``top_k`` best feasible designs with
    distinct configurations, the first the one ``dse.build`` chooses (the smallest within
    ``FPS_TOLERANCE`` of the fastest), then the others by fps."""
    net = get_network(network, _shape_for(network, input_shape))
    check_runnable(net)
    brd = get_board(board)
    evaluator = Evaluator(net, brd, data_width)
    result = genetic_search(search_space(tuple(ENGINES), data_width), evaluator, population=population,
                            generations=generations, seed=seed)
    ranked = sorted((d for d in evaluator.cache.values() if d.feasible), key=fitness_key, reverse=True)
    if ranked:
        chosen, _ = smallest_near_fastest(ranked)
        ranked.remove(chosen)
        ranked.insert(0, chosen)
    candidates, names = [], set()
    for d in ranked:
        if d.config.name not in names:
            names.add(d.config.name)
            candidates.append(d)
        if len(candidates) == top_k:
            break
    return Exploration(network, board, result, candidates)


def synthesize_config(config: dict, family: str) -> dict:
    """Yosys ``synth_xilinx`` counts of the whole accelerator built from ``config`` (a
    ``AcceleratorConfig.to_dict()``), cached per design by dse.synth."""
    cfg = AcceleratorConfig.from_dict(config)
    syn = synthesize(accelerator_verilog(cfg), cfg.name, family=family)
    return {k: syn.counts[k] for k in RESOURCES}


def yosys_violations(counts: dict, board: str) -> list[str]:
    """Measured resources over the DSE's headroom of ``board``, as sentences (empty: it fits)."""
    caps = get_board(board).resources
    return [f"{k} {counts[k]:g} > {HEADROOM[k]:.0%} of {caps[k]}" for k in RESOURCES if counts[k] > HEADROOM[k] * caps[k]]


def choose(exploration: Exploration, measured: list[dict | None]) -> tuple[int | None, list[str]]:
    """The index of the fastest candidate whose measured counts fit (``measured[i]`` None: not
    synthesised, the model's word stands); the reasons for every candidate dropped before it."""
    dropped = []
    for i, design in enumerate(exploration.candidates):
        counts = measured[i] if i < len(measured) else None
        if counts is None:
            return i, dropped
        bad = yosys_violations(counts, exploration.board)
        if not bad:
            return i, dropped
        dropped.append(f"{design.genome.label}: the model says it fits, Yosys says {', '.join(bad)}")
    return None, dropped


def write_design(exploration: Exploration, index: int, out: Path, measured: dict | None, settings: dict) -> str:
    """Write the deploy folder of candidate ``index`` to ``out``; its path."""
    design = exploration.candidates[index]
    write_deploy_folder(design, exploration.result, Path(out), engines=list(ENGINES), settings=settings,
                        measured=measured)
    return str(out)


def verify_folder(folder: str, rows: int, seed: int = 0) -> list[dict]:
    """Every accelerated layer of the deploy folder, cut to ``rows`` input rows, simulated
    bit-exact (``sim.run.simulate_layers``)."""
    design = json.loads((Path(folder) / "design.json").read_text())
    layers = [l for l in design["layers"] if l.get("runs_on") == "accelerator"]
    return simulate_layers(Path(folder), layers, seed=seed, max_rows=rows, progress=False)


@dataclass
class PairOutcome:
    """What the sweep found for one (network, board) pair."""

    network: str
    board: str
    design: str = ""                 # the chosen configuration's genome label
    config: str = ""                 # its AcceleratorConfig name
    fps: float = 0.0
    model: dict = field(default_factory=dict)      # resource model totals
    measured: dict | None = None                   # Yosys counts (with --synth)
    dropped: list[str] = field(default_factory=list)
    folder: str = ""
    verified: list[dict] | None = None             # per-layer simulation results (with --verify)
    error: str = ""                                # why the pair has no design

    @property
    def bit_exact(self) -> bool | None:
        return None if self.verified is None else all(r["bit_exact"] for r in self.verified)

    def to_dict(self) -> dict:
        return {"network": self.network, "board": self.board, "design": self.design, "config": self.config,
                "fps": self.fps, "model": self.model, "measured": self.measured, "dropped": self.dropped,
                "folder": self.folder, "bit_exact": self.bit_exact,
                "verified": [{k: r[k] for k in ("layer", "runs", "cycles", "bit_exact")} for r in self.verified]
                if self.verified is not None else None, "error": self.error}


class _Serial:
    """The executor interface of ``distributed.Client`` that the sweep uses, run in-process: a
    task runs at ``submit``; its arguments may be earlier results (resolved first), and a task
    whose argument failed fails with the same exception, as on Dask."""

    class _Done:
        def __init__(self, fn, args, kwargs):
            try:
                args = [_Serial._resolve(a) for a in args]
                kwargs = {k: _Serial._resolve(v) for k, v in kwargs.items()}
                self._value, self._error = fn(*args, **kwargs), None
            except Exception as exc:  # reported like a failed Dask task
                self._value, self._error = None, exc

        def result(self):
            if self._error is not None:
                raise self._error
            return self._value

    @staticmethod
    def _resolve(value):
        if isinstance(value, _Serial._Done):
            return value.result()
        if isinstance(value, list):
            return [_Serial._resolve(v) for v in value]
        return value

    def submit(self, fn, *args, **kwargs):
        for key in ("retries", "pure", "key"):
            kwargs.pop(key, None)
        return self._Done(fn, args, kwargs)


def _failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def synthesize_candidate(exploration: Exploration, index: int) -> dict | None:
    """Yosys counts of candidate ``index`` (None when the pair has fewer candidates); a Yosys
    failure is a result (``{"error": ...}``), so that the pair can drop the design with its
    reason instead of failing."""
    if index >= len(exploration.candidates):
        return None
    design = exploration.candidates[index]
    try:
        return synthesize_config(design.config.to_dict(), design.board.family)
    except SynthError as exc:
        return {"error": _failure(exc)}


def finish_pair(exploration: Exploration, measured: list, out: str, settings: dict) -> dict:
    """Choose the pair's design from its candidates and their Yosys counts (:func:`choose`) and
    write its deploy folder; what the summary needs (``error`` set when nothing fits)."""
    dropped, counts = [], []
    for i, m in enumerate(measured):
        if m is not None and "error" in m:
            dropped.append(f"{exploration.candidates[i].genome.label}: synthesis failed ({m['error']})")
            m = {k: float("inf") for k in RESOURCES}
        counts.append(m)
    if not exploration.candidates:
        return {"error": "no configuration fits the board", "dropped": dropped}
    index, why = choose(exploration, counts)
    dropped += why
    if index is None:
        return {"error": f"none of the {len(exploration.candidates)} best designs fits {exploration.board} once "
                         "synthesised", "dropped": dropped}
    d = exploration.candidates[index]
    m = counts[index] if index < len(counts) else None
    folder = write_design(exploration, index, Path(out), m, settings)
    return {"design": d.genome.label, "config": d.config.name, "fps": d.fps, "model": dict(d.resources.totals),
            "measured": m, "dropped": dropped, "folder": folder, "error": ""}


def verify_pair(finished: dict, rows: int, seed: int) -> list[dict] | None:
    """:func:`verify_folder` of a finished pair's deploy folder (None when it has none)."""
    return verify_folder(finished["folder"], rows, seed) if finished.get("folder") else None


def run_sweep(networks: list[str], boards: list[str], out: Path, *, client=None, synth: int = 0,
              verify: bool = False, verify_rows: int = 4, seed: int = 0, population: int = 24,
              generations: int = 20, progress: bool = False, input_shape=None) -> list[PairOutcome]:
    """The sweep (module docstring) on ``client`` (a ``distributed.Client``; None: in this
    process). Every pair's chain of tasks is submitted at once (the cluster pipelines the pairs);
    one outcome per pair, in the order networks x boards. ``input_shape``: the input size of the
    ONNX models among ``networks`` that leave it symbolic."""
    ex = client if client is not None else _Serial()
    out = Path(out)
    pairs = [(n, b) for n in networks for b in boards]
    settings = {"population": population, "generations": generations, "seed": seed, "sweep": True}
    opts = {"retries": RETRIES, "pure": True}
    chains = {}
    for p in pairs:
        f_explore = ex.submit(explore, *p, seed=seed, population=population, generations=generations,
                              top_k=max(1, synth), input_shape=input_shape, **opts)
        f_synth = [ex.submit(synthesize_candidate, f_explore, i, **opts) for i in range(synth)]
        f_finish = ex.submit(finish_pair, f_explore, f_synth, str(out / f"{p[0]}-{p[1]}"), settings, **opts)
        f_verify = ex.submit(verify_pair, f_finish, verify_rows, seed, **opts) if verify else None
        chains[p] = (f_explore, f_finish, f_verify)
    outcomes = []
    for p in tqdm(pairs, desc="sweep", unit="pair", disable=not progress, file=sys.stderr):
        f_explore, f_finish, f_verify = chains[p]
        o = PairOutcome(*p)
        outcomes.append(o)
        try:
            f_explore.result()
        except Exception as exc:
            o.error = f"the DSE failed: {_failure(exc)}"
            continue
        try:
            done = f_finish.result()
        except Exception as exc:
            o.error = f"choosing or writing the design failed: {_failure(exc)}"
            continue
        for key in ("design", "config", "fps", "model", "measured", "dropped", "folder", "error"):
            if key in done:
                setattr(o, key, done[key])
        if f_verify is not None and o.folder:
            try:
                o.verified = f_verify.result()
            except Exception as exc:
                o.error = f"verification failed: {_failure(exc)}"
    return outcomes


def write_summary(outcomes: list[PairOutcome], out: Path) -> None:
    """``summary.json``, ``summary.md`` and ``fps_vs_resources.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps([o.to_dict() for o in outcomes], indent=1) + "\n")
    lines = ["| network | board | design | fps (model) | LUT | FF | DSP | BRAM36 | counts | bit-exact | notes |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    for o in outcomes:
        counts, source = (o.measured, "Yosys") if o.measured else (o.model, "model")
        cells = [f"{counts[k]:g}" for k in RESOURCES] if counts else [""] * 4
        exact = {None: "not run", True: "yes", False: "NO"}[o.bit_exact]
        notes = "; ".join(([o.error] if o.error else []) + o.dropped)
        lines.append(f"| {o.network} | {o.board} | {o.design or '-'} | {o.fps:.3g} | {' | '.join(cells)} | "
                     f"{source if counts else '-'} | {exact} | {notes} |")
    (out / "summary.md").write_text("# Sweep\n\n" + "\n".join(lines) + "\n")
    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    ax = fig.subplots()
    for board in sorted({o.board for o in outcomes}):
        pts = []
        for o in outcomes:
            counts = o.measured or o.model
            if o.board == board and counts:
                caps = get_board(board).resources
                pts.append((max(counts[k] / caps[k] for k in RESOURCES), o.fps, o.network))
        if pts:
            ax.scatter([x for x, _, _ in pts], [y for _, y, _ in pts], label=board, zorder=3)
            for x, y, n in pts:
                ax.annotate(n, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))   # the tables give utilisation in %
    ax.set_ylim(bottom=0)
    ax.set_xlabel("utilisation of the binding resource (LUT, FF, DSP or BRAM)")
    ax.set_ylabel("frames per second (predicted)")
    ax.set_title("sweep: fps against resources")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fps_vs_resources.png")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m dse.sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--networks", required=True, help="comma-separated zoo networks or .onnx paths")
    ap.add_argument("--input-shape", default=None, metavar="1,C,H,W",
                    help="the input size of the ONNX models whose height, width (or channels) are symbolic")
    ap.add_argument("--boards", required=True, help="comma-separated boards")
    ap.add_argument("--synth", type=int, default=0, metavar="K",
                    help="synthesise the K best designs of each pair and choose by the measured counts")
    ap.add_argument("--verify", action="store_true", help="simulate every accelerated layer of each chosen design")
    ap.add_argument("--verify-rows", type=int, default=4, help="input rows per simulated layer (default 4)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None,
                       help="address of a running Dask scheduler (tls://host:8786 with the --tls-* files, or "
                            "tcp://host:8786 on a trusted network only: docs/dse.md)")
    where.add_argument("--serial", action="store_true", help="run every task in this process, one after the other")
    ap.add_argument("--tls-ca-file", type=Path, default=None, help="CA certificate the scheduler's certificate is signed by")
    ap.add_argument("--tls-cert", type=Path, default=None, help="this client's certificate (signed by that CA)")
    ap.add_argument("--tls-key", type=Path, default=None, help="this client's private key")
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes of the local cluster (default 2; it listens on loopback only)")
    ap.add_argument("--out", type=Path, default=Path("build/sweep"), help="output folder (default build/sweep)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--population", type=int, default=DEFAULT_POPULATION)
    ap.add_argument("--generations", type=int, default=DEFAULT_GENERATIONS)
    ap.add_argument("--quiet", action="store_true", help="no progress display")
    return ap


#: Where the local cluster's scheduler and workers listen: loopback only (a Dask scheduler runs
#: whatever a client sends it, so it must not be reachable from the network by default).
LOCAL_HOST = "127.0.0.1"


def local_cluster(workers: int) -> LocalCluster:
    """The default cluster: ``workers`` single-threaded worker processes and a scheduler, all on
    loopback, without the dashboard."""
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOCAL_HOST,
                        dashboard_address=None)


def tls_security(ca_file=None, cert=None, key=None) -> Security | None:
    """Dask TLS settings from a CA file and this client's certificate and key (all three, or
    none: None). SweepError with one sentence for a partial set or a missing file."""
    files = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(files.values()):
        return None
    missing = [flag for flag, path in files.items() if not path]
    if missing:
        raise SweepError(f"{', '.join(missing)} missing: a TLS connection needs --tls-ca-file, --tls-cert and "
                         "--tls-key together")
    for flag, path in files.items():
        if not Path(path).is_file():
            raise SweepError(f"{flag} {path} does not exist")
    return Security(tls_ca_file=str(ca_file), tls_client_cert=str(cert), tls_client_key=str(key),
                    require_encryption=True)


def open_client(scheduler: str, security: Security | None = None, timeout: str = "30s") -> Client:
    """A client of the running scheduler at ``scheduler``: ``tls://`` needs ``security``
    (:func:`tls_security`), and ``security`` needs ``tls://``. SweepError otherwise."""
    tls = scheduler.startswith("tls://")
    if tls and security is None:
        raise SweepError(f"{scheduler} is a TLS scheduler: give --tls-ca-file, --tls-cert and --tls-key")
    if security is not None and not tls:
        raise SweepError(f"the TLS settings need a tls:// scheduler address, got {scheduler}")
    try:
        return Client(scheduler, security=security, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"cannot connect to the scheduler {scheduler}: {str(exc).splitlines()[0]}") from None


def _check(networks: str, boards: str, *, synth: int, verify_rows: int, workers: int, population: int,
           generations: int, input_shape=None) -> tuple[list[str], list[str]]:
    """The comma-separated ``networks`` and ``boards`` as lists, once every name and number is
    valid; SweepError with one sentence otherwise."""
    networks = [n for n in networks.split(",") if n]
    boards = [b for b in boards.split(",") if b]
    if not networks or not boards:
        raise SweepError("--networks and --boards each need at least one name")
    for b in boards:
        try:
            get_board(b)
        except UnknownBoardError as exc:
            raise SweepError(str(exc)) from None
    for n in networks:
        try:
            get_network(n, _shape_for(n, input_shape))
        except (NetworkError, ValueError, OSError) as exc:
            raise SweepError(str(exc)) from None
    if synth < 0 or verify_rows < 1 or workers < 1:
        raise SweepError("--synth must be at least 0, --verify-rows and --workers at least 1")
    if population < 2 or generations < 1:
        raise SweepError("the GA needs --population of at least 2 and --generations of at least 1")
    return networks, boards


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=UnusedElaboratable)
    args = _parser().parse_args(argv)
    try:
        networks, boards = _check(args.networks, args.boards, synth=args.synth, verify_rows=args.verify_rows,
                                  workers=args.workers, population=args.population, generations=args.generations,
                                  input_shape=args.input_shape)
    except SweepError as exc:   # bad input: exit status 2, as python -m dse.build
        print(f"error: {str(exc).rstrip('.')}.", file=sys.stderr)
        return 2
    try:
        security = tls_security(args.tls_ca_file, args.tls_cert, args.tls_key)
        if security is not None and not args.scheduler:
            raise SweepError("the --tls-* files are for a --scheduler tls://... address; the local cluster stays "
                             "on loopback")
        client = open_client(args.scheduler, security) if args.scheduler else None
    except SweepError as exc:
        print(f"error: {str(exc).rstrip('.')}.", file=sys.stderr)
        return 2
    t0 = time.time()
    kwargs = dict(synth=args.synth, verify=args.verify, verify_rows=args.verify_rows, seed=args.seed,
                  population=args.population, generations=args.generations, progress=not args.quiet,
                  input_shape=args.input_shape)
    if args.serial:
        outcomes = run_sweep(networks, boards, args.out, **kwargs)
    else:
        if client is not None:
            with client:
                outcomes = run_sweep(networks, boards, args.out, client=client, **kwargs)
        else:
            with local_cluster(args.workers) as cluster, Client(cluster) as local:
                outcomes = run_sweep(networks, boards, args.out, client=local, **kwargs)
    write_summary(outcomes, args.out)
    print((args.out / "summary.md").read_text())
    print(f"{len(outcomes)} pairs in {time.time() - t0:.0f} s; summary in {args.out}")
    return 0 if all(not o.error and o.bit_exact is not False for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
