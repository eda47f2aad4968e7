"""Stage 1 of the DSE: a seeded genetic algorithm over the hardware configuration.

The genotype is one option index per gene of a :class:`SearchSpace` (engine and Winograd tile,
``pm``, ``pn``, AXI width, requantiser lanes, the largest kernel the line buffer is built for,
FC layers on the accelerator or not, line-buffer row capacity). Every genotype decodes to a
:class:`dse.design.Genome`; its fitness is :func:`dse.design.evaluate`'s design, which runs stage 2
(the per-layer schedule) and the models. Fitness order is :func:`dse.design.fitness_key`:
feasible designs first, then frames per second, then fewer resources.

The algorithm (as AutoAI2C's stage 1): a random initial population (plus the smallest design
of every engine, so a feasible individual exists whenever one does), then per generation
elitism (the best ``elite`` survive), tournament selection (size 3), uniform crossover and
per-gene mutation to a different option; a final steepest-ascent local search over single-gene
changes (and joint changes of the PE array's size and shape) polishes the best genotype of
every engine seen (the last history entry, marked ``refined``). Every decoded genome is evaluated once (a cache keyed
by the canonical genome); the number of distinct evaluations is what the benchmarks compare
with exhaustive and random search. The same seed gives the same run.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable

from rtl.config import AXI_DATA_WIDTHS, PARALLELISMS
from rtl.descriptor import KERNEL_SIZES
from rtl.engine import ENGINES, engine_named

from .boards import Board
from .design import Design, Genome, evaluate, fitness_key
from .graph import Network

__all__ = ["Gene", "SearchSpace", "search_space", "SearchResult", "Evaluator", "genetic_search",
           "exhaustive_search", "random_search", "NoFeasibleDesign", "smallest_designs",
           "smallest_genotypes", "fit_witness"]


class NoFeasibleDesign(ValueError):
    """No configuration of the search space fits the board while accelerating a layer."""


@dataclass(frozen=True)
class Gene:
    name: str
    options: tuple


@dataclass(frozen=True)
class SearchSpace:
    genes: tuple[Gene, ...]

    @property
    def size(self) -> int:
        return math.prod(len(g.options) for g in self.genes)

    def decode(self, genotype: tuple[int, ...]) -> Genome:
        values = {g.name: g.options[i] for g, i in zip(self.genes, genotype)}
        engine, m = values.pop("engine")
        # The PE array is encoded as its size (pm * pn) and pm, so trading pm for pn at a
        # constant multiplier count is a single-gene move; pn is the allowed value nearest
        # to size / pm.
        size = values.pop("pe")
        pns = values.pop("_pn_options")
        want = math.log2(size / values["pm"])
        values["pn"] = min(pns, key=lambda v: (abs(math.log2(v) - want), v))
        # The requantiser's lanes divide pm: the largest divisor of pm not above the gene.
        lanes = max(d for d in range(1, min(values.pop("requant_lanes"), values["pm"]) + 1) if values["pm"] % d == 0)
        # An engine restricted to one kernel size is built for it (the gene is inert there).
        values["kernel_cap"] = engine_named(engine).kernel or values["kernel_cap"]
        return Genome(engine=engine, m=m, requant_lanes=lanes, **values)

    def random(self, rng: random.Random) -> tuple[int, ...]:
        return tuple(rng.randrange(len(g.options)) for g in self.genes)

    def all(self) -> Iterable[tuple[int, ...]]:
        return itertools.product(*(range(len(g.options)) for g in self.genes))

    def index_of(self, name: str, value) -> int:
        for g in self.genes:
            if g.name == name:
                return g.options.index(value)
        raise KeyError(name)

    def describe(self) -> dict:
        return {g.name: [list(o) if isinstance(o, tuple) else o for o in g.options] for g in self.genes}


def search_space(engines: Iterable[str] = tuple(ENGINES), data_width: int = 8,
                 pm: Iterable[int] = PARALLELISMS, pn: Iterable[int] = PARALLELISMS, axi: Iterable[int] = AXI_DATA_WIDTHS,
                 requant_lanes: Iterable[int] = PARALLELISMS, kernel_cap: Iterable[int] = KERNEL_SIZES,
                 fc_on_accelerator: Iterable[bool] = (True, False), row_divisor: Iterable[int] = (1, 2, 4)) -> SearchSpace:
    """The stage-1 space; every argument restricts one gene (tests use small spaces)."""
    eng = [(e, m) for e in engines for m in engine_named(e).variants(data_width)]
    pm, pn = tuple(pm), tuple(pn)
    sizes = tuple(sorted({a * b for a in pm for b in pn}))
    genes = (
        Gene("engine", tuple(eng)), Gene("pe", sizes), Gene("pm", pm), Gene("_pn_options", (pn,)),
        Gene("axi_data_width", tuple(axi)), Gene("requant_lanes", tuple(requant_lanes)),
        Gene("kernel_cap", tuple(kernel_cap)), Gene("fc_on_accelerator", tuple(fc_on_accelerator)),
        Gene("row_divisor", tuple(row_divisor)),
    )
    for g in genes:
        if not g.options:
            raise ValueError(f"gene {g.name} has no options")
    return SearchSpace(genes)


class Evaluator:
    """Evaluates genomes once each (cache) and counts distinct evaluations."""

    def __init__(self, network: Network, board: Board, data_width: int = 8, **kwargs):
        self.network, self.board, self.data_width, self.kwargs = network, board, data_width, kwargs
        self.cache: dict[Genome, Design] = {}

    def __call__(self, genome: Genome) -> Design:
        design = self.cache.get(genome)
        if design is None:
            design = evaluate(genome, self.network, self.board, self.data_width, **self.kwargs)
            self.cache[genome] = design
        return design

    @property
    def evaluations(self) -> int:
        return len(self.cache)

    def best(self, key: Callable[[Design], tuple] = fitness_key) -> Design:
        return max(self.cache.values(), key=key)

    def best_by_engine(self) -> dict[str, Design]:
        """The best design evaluated for each engine (what the report compares the choice with)."""
        out: dict[str, Design] = {}
        for design in self.cache.values():
            engine = design.genome.engine
            if engine not in out or fitness_key(design) > fitness_key(out[engine]):
                out[engine] = design
        return out


@dataclass
class SearchResult:
    best: Design
    evaluations: int
    space_size: int
    history: list[dict] = field(default_factory=list)
    seed: int | None = None
    method: str = "ga"
    #: Distinct evaluations done when the final best was first found.
    evaluations_to_best: int = 0
    #: The best design evaluated for each engine searched.
    engine_best: dict[str, Design] = field(default_factory=dict)
    #: How the design was chosen when not by the fastest (a target frame rate, a budget):
    #: ``rule`` (a sentence) and the figures behind it (report.json ``search.choice``).
    choice: dict = field(default_factory=dict)
    #: Every design the search evaluated, in evaluation order.
    evaluated: list[Design] = field(default_factory=list, repr=False)


def smallest_genotypes(space: SearchSpace) -> list[tuple[int, ...]]:
    """The smallest PE array, bus and requantiser with every engine / buffer-limit combination."""
    small = {"pe", "pm", "axi_data_width", "requant_lanes"}
    rest = [g for g in space.genes if g.name not in small]
    out = []
    for combo in itertools.product(*(range(len(g.options)) for g in rest)):
        chosen = dict(zip((g.name for g in rest), combo))
        out.append(tuple(
            min(range(len(g.options)), key=lambda i, g=g: g.options[i]) if g.name in small else chosen[g.name]
            for g in space.genes))
    return out


def smallest_designs(space: SearchSpace, evaluator: Evaluator) -> list[tuple[tuple[int, ...], Design]]:
    """The designs of :func:`smallest_genotypes` (evaluated through ``evaluator``'s cache)."""
    return [(g, evaluator(space.decode(g))) for g in smallest_genotypes(space)]


def fit_witness(space: SearchSpace, network: Network, board: Board, data_width: int = 8,
                headroom: dict | None = None) -> tuple[Design | None, Design]:
    """A smallest design that fits while running every layer it can on the accelerator.

    Returns ``(witness or None, closest design)``: when the witness is ``None`` no configuration
    of ``space`` fits ``board`` (resources grow with pm, pn, bus width and lanes, so the smallest
    ones decide), and the closest design's ``problem`` says why.
    """
    designs = [evaluate(space.decode(g), network, board, data_width, headroom=headroom, force_accelerator=True)
               for g in smallest_genotypes(space)]
    for d in designs:
        if d.feasible:
            return d, d
    return None, min(designs, key=lambda d: (d.config is None, d.overuse))


def _tournament(rng, population, keys, k=3):
    picks = [rng.randrange(len(population)) for _ in range(k)]
    return population[max(picks, key=lambda i: keys[i])]


def genetic_search(space: SearchSpace, evaluator: Evaluator, *, population: int = 24, generations: int = 20,
                   seed: int = 0, crossover: float = 0.9, mutation: float | None = None, elite: int = 2,
                   refine: bool = True, progress: Callable[[int, Design], None] | None = None,
                   key: Callable[[Design], tuple] = fitness_key) -> SearchResult:
    """Run the GA; ``progress(generation, best)`` is called after every generation.

    ``refine``: finish with a steepest-ascent local search from the best genotype (every
    single-gene change, repeated until none improves), which turns the GA's near-optimum into
    a local optimum at the cost of a few dozen evaluations. ``key``: the fitness order (bigger
    is better; :func:`dse.design.fitness_key` by default, :func:`dse.design.target_key` to find
    the smallest design that meets a frame rate).
    """
    if population < 2 or generations < 1:
        raise ValueError("the GA needs a population of at least 2 and at least 1 generation")
    rng = random.Random(seed)
    mutation = mutation if mutation is not None else max(1.0 / len(space.genes), 0.1)
    seeds = [geno for geno, d in sorted(smallest_designs(space, evaluator), key=lambda t: key(t[1]),
                                         reverse=True)[: max(1, population // 4)]]
    pop = seeds + [space.random(rng) for _ in range(population - len(seeds))]
    history = []
    seen: dict[tuple[int, ...], tuple] = {}
    best_key, found_at = None, 0
    for gen in range(generations + 1):
        designs = [evaluator(space.decode(g)) for g in pop]
        keys = [key(d) for d in designs]
        seen.update(zip(pop, keys))
        order = sorted(range(len(pop)), key=lambda i: keys[i], reverse=True)
        top = designs[order[0]]
        if best_key is None or keys[order[0]] > best_key:
            best_key, found_at = keys[order[0]], evaluator.evaluations
        feasible = [d.fps for d in designs if d.feasible]
        history.append({
            "generation": gen, "best_fps": top.fps, "best_feasible": top.feasible, "best": top.label,
            "mean_feasible_fps": sum(feasible) / len(feasible) if feasible else 0.0,
            "feasible": len(feasible), "evaluations": evaluator.evaluations,
        })
        if progress:
            progress(gen, top)
        if gen == generations:
            break
        nxt = [pop[i] for i in order[:elite]]
        while len(nxt) < population:
            a, b = _tournament(rng, pop, keys), _tournament(rng, pop, keys)
            if rng.random() < crossover:
                child = tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b))
            else:
                child = a
            child = list(child)
            for gi, g in enumerate(space.genes):
                if len(g.options) > 1 and rng.random() < mutation:
                    choice = rng.randrange(len(g.options) - 1)
                    child[gi] = choice if choice < child[gi] else choice + 1
            nxt.append(tuple(child))
        pop = nxt
    if refine:
        # Multi-start: the best genotype of every engine seen during the run (the engines are
        # separate basins), each climbed within its engine.
        starts: dict = {}
        for g, k in seen.items():
            if g[0] not in starts or k > seen[starts[g[0]]]:
                starts[g[0]] = g
        gi_pe, gi_pm, gi_lanes, gi_rows = (next(i for i, g in enumerate(space.genes) if g.name == n)
                                           for n in ("pe", "pm", "requant_lanes", "row_divisor"))
        for current in starts.values():
            current_key = key(evaluator(space.decode(current)))
            improved = True
            while improved:
                improved = False
                # Neighbours within the start's engine: every single-gene change, every PE
                # array (size and pm jointly) and every pm with every requantiser width (lanes
                # must divide pm, so moving one alone often lands on a clipped value), both
                # with every tile-buffer row divisor (a PE array's shape sets the buffer's BRAM,
                # so the better array may only fit with other rows: F(4,3) 4x1 rows/2 to 2x2
                # rows/1 is such a step).
                cands = [current[:gi] + (oi,) + current[gi + 1:]
                         for gi, g in enumerate(space.genes) if g.name != "engine"
                         for oi in range(len(g.options)) if oi != current[gi]]
                for r in range(len(space.genes[gi_rows].options)):
                    for pair in ((gi_pe, gi_pm), (gi_pm, gi_lanes)):
                        for values in itertools.product(*(range(len(space.genes[gi].options)) for gi in pair)):
                            c = list(current)
                            for gi, v in zip((*pair, gi_rows), (*values, r)):
                                c[gi] = v
                            cands.append(tuple(c))
                for cand in cands:
                    k = key(evaluator(space.decode(cand)))
                    if k > current_key:
                        current, current_key, improved = cand, k, True
                if current_key > best_key:
                    best_key, found_at = current_key, evaluator.evaluations
        top = evaluator.best(key)
        history.append({**history[-1], "generation": generations + 1, "refined": True, "best_fps": top.fps,
                        "best_feasible": top.feasible, "best": top.label, "evaluations": evaluator.evaluations})
    best = evaluator.best(key)
    return SearchResult(best, evaluator.evaluations, space.size, history, seed, "ga", found_at,
                        evaluator.best_by_engine(), evaluated=list(evaluator.cache.values()))


def exhaustive_search(space: SearchSpace, evaluator: Evaluator) -> SearchResult:
    """Evaluate every genotype (the ground truth on spaces small enough to enumerate)."""
    best, best_key, found_at = None, None, 0
    for geno in space.all():
        d = evaluator(space.decode(geno))
        k = fitness_key(d)
        if best_key is None or k > best_key:
            best, best_key, found_at = d, k, evaluator.evaluations
    return SearchResult(best, evaluator.evaluations, space.size, [], None, "exhaustive", found_at,
                        evaluator.best_by_engine(), evaluated=list(evaluator.cache.values()))


def random_search(space: SearchSpace, evaluator: Evaluator, budget: int, seed: int = 0,
                  target: tuple | None = None) -> SearchResult:
    """Sample genotypes uniformly until ``budget`` distinct evaluations (or ``target`` reached)."""
    rng = random.Random(seed)
    best, best_key, found_at, draws = None, None, 0, 0
    while evaluator.evaluations < budget and draws < 50 * budget:
        draws += 1
        d = evaluator(space.decode(space.random(rng)))
        k = fitness_key(d)
        if best_key is None or k > best_key:
            best, best_key, found_at = d, k, evaluator.evaluations
            if target is not None and k >= target:
                break
    return SearchResult(best, evaluator.evaluations, space.size, [], seed, "random", found_at,
                        evaluator.best_by_engine(), evaluated=list(evaluator.cache.values()))
