"""Stage-1 GA against exhaustive search on spaces small enough to enumerate; determinism."""

import pytest

from dse.boards import get_board
from dse.design import fitness_key
from dse.ga import Evaluator, exhaustive_search, genetic_search, random_search, search_space
from dse.networks import get_network
from rtl.config import PARALLELISMS, AcceleratorConfig

SPACES = {
    # 33 sizes x 12 pm x 2 x 3 = 2376 genotypes (144 PE arrays, pm and pn of 2^a and 3 * 2^a):
    # array shape, bus width, requantiser lanes.
    "vgg16-pynq-z2": ("vgg16", "pynq-z2", dict(engines=("direct",), axi=(64, 128), requant_lanes=(1, 2, 4),
                                                kernel_cap=(7,), fc_on_accelerator=(True,), row_divisor=(1,))),
    # Both engines, buffer genes included: 4 x 9 x 5 x 2 x 2 x 2 = 1440 genotypes (fewer designs).
    "resnet18-ultra96": ("resnet18", "ultra96-v2", dict(pm=(1, 2, 4, 8, 16), pn=(1, 2, 4, 8, 16), axi=(128,),
                                                         requant_lanes=(1, 4), kernel_cap=(3, 7),
                                                         fc_on_accelerator=(False,), row_divisor=(1, 2))),
}


@pytest.fixture(scope="module")
def exhaustive():
    out = {}
    for key, (net, board, kw) in SPACES.items():
        space = search_space(**kw)
        ev = Evaluator(get_network(net), get_board(board))
        out[key] = (space, ev, exhaustive_search(space, ev))
    return out


@pytest.mark.parametrize("key", sorted(SPACES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ga_finds_the_exhaustive_optimum(exhaustive, key, seed):
    space, full, truth = exhaustive[key]
    assert truth.best.feasible and truth.evaluations == len(full.cache)
    net, board, _ = SPACES[key]
    ev = Evaluator(get_network(net), get_board(board))
    result = genetic_search(space, ev, population=16, generations=20, seed=seed)
    assert fitness_key(result.best) == fitness_key(truth.best), (result.best.genome, truth.best.genome)
    # It must have got there without enumerating the space.
    assert result.evaluations < truth.evaluations


def test_ga_is_deterministic_and_records_history(exhaustive):
    space, _, _ = exhaustive["vgg16-pynq-z2"]
    runs = []
    for _ in range(2):
        ev = Evaluator(get_network("vgg16"), get_board("pynq-z2"))
        runs.append(genetic_search(space, ev, population=8, generations=5, seed=7))
    a, b = runs
    assert a.best.genome == b.best.genome and a.history == b.history and a.evaluations == b.evaluations
    assert [h["generation"] for h in a.history] == list(range(7)) and a.history[-1]["refined"]
    best = [h["best_fps"] for h in a.history]
    assert best == sorted(best)  # elitism: the best never gets worse
    c = genetic_search(space, Evaluator(get_network("vgg16"), get_board("pynq-z2")), population=8, generations=5, seed=8)
    assert c.history != a.history


def test_random_search_reports_evaluations(exhaustive):
    space, _, truth = exhaustive["vgg16-pynq-z2"]
    ev = Evaluator(get_network("vgg16"), get_board("pynq-z2"))
    r = random_search(space, ev, budget=space.size, seed=0, target=fitness_key(truth.best))
    assert fitness_key(r.best) <= fitness_key(truth.best)
    assert 1 <= r.evaluations_to_best <= r.evaluations <= space.size


def test_every_genotype_decodes_to_a_buildable_configuration():
    """pm and pn of 3 * 2^a included: the requantiser's lanes always divide pm, pn is one of
    the offered values, and the configuration passes AcceleratorConfig's checks."""
    space = search_space(engines=("direct", "winograd"), axi=(64,), kernel_cap=(3,), fc_on_accelerator=(True,),
                         row_divisor=(1,))
    seen_odd = set()
    for geno in space.all():
        g = space.decode(geno)
        assert g.pm % g.requant_lanes == 0 and g.pn in PARALLELISMS, g
        if (g.pm * g.pn) % 3 == 0:
            seen_odd.add((g.pm, g.pn))
    assert {(6, 1), (3, 2), (2, 3), (48, 4), (24, 6)} <= seen_odd
    AcceleratorConfig(engine="winograd", m=4, pm=2, pn=3, max_width=16, max_height=16, max_channels=16,
                      max_kernel=3, max_stride=1, requant_lanes=1)
