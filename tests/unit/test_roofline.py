"""The report's roofline (issue 32): every point is coloured by the bound the cycle model
reports for its layer, and sits at or below its own ceiling."""

import pytest

from dse.boards import get_board
from dse.design import Genome, evaluate
from dse.networks import get_network
from dse.report import BOUND_COLOURS, plot_roofline, roofline_points

DESIGNS = [("vgg16", "pynq-z2", Genome("winograd", 4, 2, 2, 64, 2, 3)),
           ("vgg16", "pynq-z2", Genome("direct", 0, 8, 8, 64, 1, 3)),
           ("resnet18", "kv260", Genome("direct", 0, 32, 24, 128, 2, 7)),
           ("tiny-yolo", "zcu102", Genome("winograd", 2, 8, 4, 128, 2, 3))]


@pytest.mark.parametrize("network,board,genome", DESIGNS, ids=[f"{n}-{b}-{g.engine}{g.m or ''}" for n, b, g in DESIGNS])
def test_points_carry_the_cycle_models_bound(tmp_path, network, board, genome):
    design = evaluate(genome, get_network(network), get_board(board))
    assert design.feasible, design.problem
    points = roofline_points(design)
    plans = {p.layer.name: p for p in design.accelerated if p.layer.ops}
    assert [q["name"] for q in points] == list(plans) and points
    hz = design.config.clock_mhz * 1e6
    for q in points:
        plan = plans[q["name"]]
        assert q["bound"] == plan.bound and q["bound"] in BOUND_COLOURS
        assert q["gops"] == pytest.approx(plan.layer.ops / plan.seconds / 1e9)
        assert q["intensity"] == pytest.approx(plan.layer.ops / (plan.read_bytes + plan.write_bytes))
        compute, transfer = plan.alternatives["compute_cycles"], plan.alternatives["transfer_cycles"]
        assert q["ceiling"] == pytest.approx(plan.layer.ops * hz / max(compute, transfer) / 1e9)
        assert q["gops"] <= q["ceiling"] * (1 + 1e-9), q["name"]
    plot_roofline(design, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
