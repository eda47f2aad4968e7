"""From a stage-1 genome to a complete, costed design (config + per-layer plan + resources).

:class:`Genome` is what the genetic algorithm varies: the engine and its tile size, the PE array
(``pm`` output x ``pn`` input channels), the AXI width, and two buffer-size genes (the largest
kernel the line buffer is built for, the line buffer's row capacity as a fraction of the widest
row) plus whether fully-connected layers use the accelerator (they set the weight-buffer depth
when their input vectors are long).

:func:`evaluate` turns a genome into a :class:`Design`:

1. the layers the genome makes eligible set a provisional configuration (channel, size, kernel,
   stride limits; row capacity = widest eligible row / ``row_divisor``);
2. stage 2 (dse/schedule.py) plans every layer (placement, mapping, strips);
3. the final :class:`rtl.config.AcceleratorConfig` sizes every limit and buffer from the runs
   actually placed on the accelerator (``max_row_words``, ``max_weight_taps``, ``max_width``...),
   so buffers are just big enough;
4. the resource model checks it against the board with headroom; the fitness is the network's
   frames per second (infeasible designs rank below every feasible one, by how far they overshoot).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from rtl.config import AcceleratorConfig
from rtl.descriptor import KERNEL_SIZES, pool_fusions, table_fusions
from rtl.engine import engine_named

from .boards import Board
from .graph import Network
from .perf_model import CONSTANTS, CycleConstants, memory_port, peak_ops_per_cycle
from .resource_model import HEADROOM, ResourceEstimate, estimate_resources
from .schedule import (Capabilities, LayerPlan, eligible_descriptor, fuse_pools, fuse_tables, plan_layer,
                       price_kept_activations)

__all__ = ["FPS_TOLERANCE", "binding_utilisation", "design_size", "smallest_near_fastest", "target_key", "Genome", "Design", "evaluate", "fitness_key"]


@dataclass(frozen=True)
class Genome:
    engine: str = "direct"
    m: int = 0
    pm: int = 8
    pn: int = 8
    axi_data_width: int = 64
    #: Output channels the requantiser computes per cycle (divides pm).
    requant_lanes: int = 1
    #: Largest kernel the direct engine is built for; bigger kernels run on the CPU.
    kernel_cap: int = 7
    #: Fully-connected layers on the accelerator (as 1x1 convolutions) or on the CPU.
    fc_on_accelerator: bool = True
    #: Line-buffer row capacity = widest eligible row / row_divisor (wider rows run in strips).
    row_divisor: int = 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def label(self) -> str:
        """The genes in one line (``kcap``: the kernel-size cap gene; a design's label gives the
        kernel it is built for)."""
        return self.describe(f"kcap={self.kernel_cap}")

    def describe(self, kernel: str) -> str:
        eng = engine_named(self.engine).label(self.m)
        return (f"{eng} pm={self.pm} pn={self.pn} axi={self.axi_data_width} {kernel} "
                f"lanes={self.requant_lanes} fc={'acc' if self.fc_on_accelerator else 'cpu'} rows/{self.row_divisor}")


@dataclass
class Design:
    """A costed candidate: its configuration, plan, resources and throughput."""

    genome: Genome
    network: Network
    board: Board
    config: AcceleratorConfig | None
    plans: list[LayerPlan] = field(default_factory=list)
    resources: ResourceEstimate | None = None
    feasible: bool = False
    problem: str = ""
    seconds: float = math.inf
    #: For a design whose layers all run faster on the CPU: the time with them forced onto it.
    forced_seconds: float = math.inf

    @property
    def label(self) -> str:
        """The configuration in one line, with the largest kernel it is built for (``kmax``, the
        configuration's ``max_kernel``) once it has a configuration, else the genome's cap."""
        if self.config is None:
            return self.genome.label
        return self.genome.describe(f"kmax={self.config.max_kernel}")

    @property
    def accelerated(self) -> list[LayerPlan]:
        return [p for p in self.plans if p.runs_on == "accelerator"]

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds if self.feasible and self.seconds > 0 else 0.0

    @property
    def gops(self) -> float:
        return self.network.ops / self.seconds / 1e9 if self.feasible else 0.0

    @property
    def accelerator_seconds(self) -> float:
        return sum(p.seconds for p in self.accelerated)

    @property
    def cpu_seconds(self) -> float:
        return sum(p.seconds for p in self.plans if p.runs_on == "cpu")

    @property
    def peak_gops(self) -> float:
        if self.config is None:
            return 0.0
        return peak_ops_per_cycle(self.config) * self.config.clock_mhz * 1e6 / 1e9

    @property
    def overuse(self) -> float:
        return self.resources.overuse(self.board) if self.resources else math.inf


def fitness_key(design: Design) -> tuple:
    """Sort key (bigger is better).

    Feasible designs first, by fps, then by fewer resources (sum of utilisations). Then designs
    too small to beat the CPU anywhere, by the fps they would reach if forced (so the search
    climbs towards bigger arrays), then designs over the board's limits, by how far over.
    """
    if design.feasible:
        util = design.resources.utilisation(design.board)
        return (2, round(design.fps, 9), -round(sum(util.values()), 9))
    if math.isfinite(design.forced_seconds):
        return (1, round(1.0 / design.forced_seconds, 9), 0.0)
    return (0, -design.overuse if math.isfinite(design.overuse) else -1e9, 0.0)


def binding_utilisation(design: Design) -> float:
    """The design's largest fraction of any board resource (LUT, FF, DSP, BRAM36): the one that
    binds it."""
    return max(design.resources.utilisation(design.board).values())


def design_size(design: Design) -> tuple[float, float]:
    """What "smaller" means for a target frame rate: the binding resource's fraction, then the
    sum of the fractions of all four (designs whose fixed logic binds them alike differ there)."""
    util = design.resources.utilisation(design.board)
    return round(max(util.values()), 9), round(sum(util.values()), 9)


#: Designs within this fraction of the fastest design's frame rate count as equally fast: the
#: default choice is the smallest of them (hls4ml and FINN users would trade 1 % for area).
FPS_TOLERANCE = 0.01


def smallest_near_fastest(designs, tolerance: float = FPS_TOLERANCE) -> tuple[Design, Design]:
    """``(chosen, fastest)`` among the feasible ``designs``: the fastest by :func:`fitness_key`,
    and the smallest (by :func:`design_size`, then the faster) of those whose frame rate is at
    least ``1 - tolerance`` of it. Raises ValueError when none is feasible."""
    feasible = [d for d in designs if d.feasible]
    if not feasible:
        raise ValueError("no feasible design to choose from")
    # Two genomes can make the same design (an fc gene whose layer the CPU runs anyway): their
    # labels break the tie, so the choice never depends on the order they were evaluated in.
    fastest = max(feasible, key=lambda d: (fitness_key(d), d.genome.label))
    near = [d for d in feasible if d.fps >= (1.0 - tolerance) * fastest.fps]
    chosen = min(near, key=lambda d: (design_size(d), -d.fps, fitness_key(d) != fitness_key(fastest),
                                      d.genome.label))
    return chosen, fastest


def target_key(target_fps: float):
    """A fitness order (bigger is better) for the smallest design that meets ``target_fps``:
    feasible designs that meet it first, by :func:`design_size` (smaller first), then the
    faster; then feasible designs that miss it, by fps (so the search climbs towards it); then
    the infeasible ones as in :func:`fitness_key`."""
    def key(design: Design) -> tuple:
        if design.feasible and design.fps >= target_fps:
            binding, total = design_size(design)
            return (3, -binding, -total, round(design.fps, 9))
        return fitness_key(design)
    return key


def _round_kernel(k: int) -> int:
    for size in KERNEL_SIZES:
        if k <= size:
            return size
    raise ValueError(f"kernel {k} exceeds 7")


def evaluate(genome: Genome, network: Network, board: Board, data_width: int = 8,
             constants: CycleConstants = CONSTANTS, coefficients: dict | None = None,
             headroom: dict | None = None, force_accelerator: bool = False) -> Design:
    """Stage 2 and the models for one stage-1 genome (see the module docstring).

    ``force_accelerator``: stage 2 keeps every eligible layer on the accelerator (a witness that
    the configuration fits the board, whatever the CPU could do).
    """
    headroom = headroom or HEADROOM
    engine = engine_named(genome.engine)
    caps = Capabilities(genome.engine, engine.kernel or genome.kernel_cap,
                        genome.fc_on_accelerator)
    design = Design(genome, network, board, None)
    eligible = [inv for inv, _, _ in (eligible_descriptor(l, caps) for l in network.layers) if inv is not None]
    if not eligible:
        design.problem = f"no layer of {network.name} can run on the {genome.engine} engine with these limits"
        return design
    tables = _table_candidates(network)
    pools = _pool_candidates(network, tables)
    pn = genome.pn
    widest = max(inv.width * math.ceil(inv.in_channels / pn) for inv in eligible)
    row_capacity = max(1, math.ceil(widest / genome.row_divisor))
    try:
        provisional = _config(genome, eligible, data_width, board, row_capacity, tables, pools)
    except ValueError as exc:
        design.problem = str(exc)
        return design
    port = memory_port(provisional, board, constants)
    plans = [plan_layer(l, provisional, caps, port, board, row_capacity, constants, force_accelerator)
             for l in network.layers]
    plans = fuse_pools(fuse_tables(plans, provisional, port), provisional, port)
    plans = price_kept_activations(plans, provisional, board, port, constants)
    runs = [d for p in plans for d in p.descriptors]
    design.plans = plans
    if not runs:
        design.problem = f"no layer of {network.name} is worth running on the {genome.engine} engine"
        # A gradient for the search: how fast it would be if the eligible layers were forced
        # onto this (too small) accelerator.
        forced = [plan_layer(l, provisional, caps, port, board, row_capacity, constants, True) for l in network.layers]
        design.forced_seconds = sum(p.seconds for p in forced)
        return design
    try:
        config = _config(genome, runs, data_width, board, None, tables, pools)
    except ValueError as exc:
        design.problem = str(exc)
        return design
    design.config = config
    design.resources = estimate_resources(config, board.family, coefficients)
    violations = design.resources.violations(board, headroom)
    design.seconds = sum(p.seconds for p in plans)
    if violations:
        design.problem = f"does not fit {board.name}: " + ", ".join(violations)
        return design
    design.feasible = True
    return design


def _table_candidates(network) -> bool:
    """Whether an activation table would compute any of ``network``'s element-wise layers (one
    fed by a convolution or fully-connected layer alone: ``rtl.descriptor.table_fusions`` with
    every such layer accelerated)."""
    producers = {l.name for l in network.layers if l.kind in ("conv", "fc")}
    return bool(table_fusions(network.layers, producers, True))


def _pool_candidates(network, tables: bool) -> bool:
    """Whether a pooling stage would compute any of ``network``'s pools (``rtl.descriptor.
    pool_fusions`` with every convolution one accelerated run, through the activation tables a
    build with ``tables`` has)."""
    convs = {l.name for l in network.layers if l.kind == "conv"}
    fused = table_fusions(network.layers, convs, tables)
    return bool(pool_fusions(network.layers, convs, fused, True))


def _config(genome: Genome, runs, data_width: int, board: Board, row_capacity: int | None,
            activation_table: bool = False, pooling: bool = False) -> AcceleratorConfig:
    """The smallest configuration that accepts every descriptor in ``runs`` (with an activation
    table when asked and the data is 8-bit, and a pooling stage when asked)."""
    pn = genome.pn
    max_k = engine_named(genome.engine).kernel or _round_kernel(max(r.kernel for r in runs))
    max_c = max(max(r.in_channels, r.out_channels) for r in runs)
    rows = max(r.width * math.ceil(r.in_channels / pn) for r in runs)
    taps = max(math.ceil(r.in_channels / pn) * r.kernel ** 2 for r in runs)
    # The build's maxima bound the output too (rtl.engine.description: refusal).
    max_w = max(max(r.width, r.out_width) for r in runs)
    cfg = dict(
        engine=genome.engine, m=genome.m, pm=genome.pm, pn=pn,
        data_width=data_width, axi_data_width=genome.axi_data_width, axi_addr_width=board.addr_bits,
        max_width=max_w, max_height=max(max(r.height, r.out_height) for r in runs), max_channels=max_c,
        max_kernel=max_k, max_stride=max(r.stride for r in runs), clock_mhz=board.clock_mhz,
        requant_lanes=genome.requant_lanes,
        max_weight_taps=taps,
        activation_table=activation_table and data_width == 8,
        pooling=pooling,
    )
    if row_capacity is None:
        cfg["max_row_words"] = rows
    else:
        cfg["max_row_words"] = min(row_capacity, max_w * math.ceil(max_c / pn))
    return AcceleratorConfig(**cfg)
