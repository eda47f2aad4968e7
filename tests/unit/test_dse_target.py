"""--target-fps and --budget (issue 32): the smallest design that meets a frame rate, and a cap on
the resources a design may use."""

import json

import pytest

from dse.build import BuildError, BuildUsageError, build, explore, parse_budget
from dse.design import FPS_TOLERANCE, design_size, smallest_near_fastest

FAST = dict(population=8, generations=3, write_verilog=False)


@pytest.fixture(scope="module")
def lenet_default(tmp_path_factory):
    return build("lenet", "pynq-z2", tmp_path_factory.mktemp("d") / "lenet", **FAST)[1]


def test_half_the_default_frame_rate_needs_a_quarter_of_the_dsps(tmp_path, lenet_default):
    target = lenet_default.fps / 2
    folder, design = build("lenet", "pynq-z2", tmp_path / "half", target_fps=target, **FAST)
    assert design.fps >= target
    assert design.resources.totals["DSP"] <= lenet_default.resources.totals["DSP"] / 4
    choice = json.loads((folder / "report.json").read_text())["search"]["choice"]
    assert choice["target_fps"] == target and choice["rule"].startswith("the smallest design (by its binding resource")
    assert "Chosen as the smallest design" in (folder / "report.md").read_text()


def test_the_next_smaller_design_misses_the_target(tmp_path, lenet_default):
    """A target between the smallest design's rate and the fastest: the chosen design is not
    the smallest, and the report names the next smaller one evaluated, below the target."""
    smallest = build("lenet", "pynq-z2", tmp_path / "s", target_fps=1.0, **FAST)[1]
    target = (smallest.fps + lenet_default.fps) / 2
    folder, design = build("lenet", "pynq-z2", tmp_path / "mid", target_fps=target, **FAST)
    assert design.fps >= target and design_size(design) > design_size(smallest)
    nxt = json.loads((folder / "report.json").read_text())["search"]["choice"]["next_smaller"]
    assert nxt is not None and nxt["fps"] < target
    assert f"below the target of {target:g}" in (folder / "report.md").read_text()


def test_a_dsp_budget_caps_the_design(tmp_path):
    folder, design = build("vgg16", "pynq-z2", tmp_path / "v", budget=parse_budget("DSP=0.5"), **FAST)
    assert design.resources.totals["DSP"] <= 110
    choice = json.loads((folder / "report.json").read_text())["search"]["choice"]
    assert choice["budget"] == {"DSP": 110} and "within the budget DSP <= 110" in choice["rule"]
    assert parse_budget("dsp=110, BRAM36=0.25") == {"DSP": 110.0, "BRAM36": 0.25}


def test_unreachable_targets_and_bad_budgets_are_refused(tmp_path):
    with pytest.raises(BuildError, match=r"^no design of lenet on pynq-z2 reaches 1e\+09 fps: the fastest found makes"):
        build("lenet", "pynq-z2", tmp_path / "x", target_fps=1e9, **FAST)
    for bad in ("GPU=3", "DSP", "DSP=-1", ""):
        with pytest.raises(BuildUsageError, match="--budget"):
            parse_budget(bad)
    with pytest.raises(BuildUsageError, match="--target-fps must be a positive frame rate"):
        build("lenet", "pynq-z2", tmp_path / "y", target_fps=0.0, **FAST)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_the_default_rule_takes_the_smallest_design_within_one_percent(tmp_path):
    """No target: of every design the search evaluated within FPS_TOLERANCE of the fastest one's
    frame rate, the chosen design is the smallest, and the report says so and names the fastest."""
    network, board, _, result = explore("lenet", "pynq-z2", **{k: FAST[k] for k in ("population", "generations")})
    feasible = [d for d in result.evaluated if d.feasible]
    fastest = max(d.fps for d in feasible)
    near = [d for d in feasible if d.fps >= (1 - FPS_TOLERANCE) * fastest]
    assert result.best in near
    assert all(design_size(result.best) <= design_size(d) for d in near)
    choice = result.choice
    assert choice["fastest"]["fps"] == fastest and choice["tolerance"] == FPS_TOLERANCE
    folder, design = build("lenet", "pynq-z2", tmp_path / "l", **FAST)
    md = (folder / "report.md").read_text()
    assert design.label == result.best.label
    assert "Chosen as the smallest design (by its binding resource" in md and "with a frame rate within 1% of the fastest" in md
    if design.fps < fastest:            # the fastest is named, with its frame rate
        assert f"`{choice['fastest']['genome']}`" in md


def test_smallest_near_fastest_on_made_up_designs():
    """The rule alone: a 0.5 % slower design half the size wins; a 2 % slower one does not."""
    network, board, _, result = explore("lenet", "pynq-z2", **{k: FAST[k] for k in ("population", "generations")})
    feasible = sorted((d for d in result.evaluated if d.feasible), key=lambda d: -d.fps)
    fastest = feasible[0]
    chosen, top = smallest_near_fastest([fastest])
    assert chosen is top is fastest
    smaller = min(feasible, key=design_size)
    assert design_size(smaller) < design_size(fastest)
    for slower, wins in ((0.995, True), (0.98, False)):
        smaller.seconds = fastest.seconds / slower
        assert smallest_near_fastest([fastest, smaller])[0] is (smaller if wins else fastest)
