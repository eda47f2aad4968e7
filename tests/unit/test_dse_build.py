"""Every zoo network on two boards, and the default network on every other board of the table: the
DSE writes consistent reports (fast GA settings, no RTL)."""

import json
import math

import pytest

from dse.boards import BOARDS as BOARD_TABLE
from dse.boards import get_board
from dse.build import build
from dse.design import FPS_TOLERANCE
from dse.networks import get_network, zoo_names
from dse.report import DESIGN_LAYER_KEYS
from dse.resource_model import HEADROOM
from rtl.descriptor import POOL_KINDS

BOARDS = ("pynq-z2", "zcu102")
#: (network, board): the zoo on BOARDS, and VGG16 (``python -m dse.build``'s default) on the rest.
CASES = [(n, b) for b in BOARDS for n in zoo_names()] + [("vgg16", b) for b in BOARD_TABLE if b not in BOARDS]
#: The zoo on the second board is the slow run's (``pytest -m slow``): the default run builds every
#: zoo network once and every board once.
SLOW_CASES = {(n, BOARDS[1]) for n in zoo_names() if n != "vgg16"}


def test_every_board_of_the_table_is_built():
    assert {b for _, b in CASES} == set(BOARD_TABLE) and len(BOARD_TABLE) >= 7


@pytest.mark.parametrize("network,board", [
    pytest.param(n, b, id=f"{n}-{b}", marks=[pytest.mark.slow] if (n, b) in SLOW_CASES else []) for n, b in CASES])
def test_zoo_network_builds_consistently(tmp_path, network, board):
    out = tmp_path / f"{network}-{board}"
    folder, design = build(network, board, out, population=8, generations=3, write_verilog=False)
    assert folder == out and sorted(p.name for p in out.iterdir()) == [
        "design.json", "ga_convergence.png", "report.json", "report.md", "roofline.png"]
    assert not list(tmp_path.glob(".*partial*"))
    dj = json.loads((out / "design.json").read_text())
    rj = json.loads((out / "report.json").read_text())
    net, b = get_network(network), get_board(board)
    assert dj["config"] == rj["config"] == design.config.to_dict()
    assert (dj["network"], dj["board"], dj["clock_mhz"]) == (network, board, b.clock_mhz)
    assert [l["name"] for l in dj["layers"]] == [l.name for l in net.layers]
    for entry, layer in zip(dj["layers"], net.layers):
        assert set(DESIGN_LAYER_KEYS) <= set(entry)
        assert (entry["in_channels"], entry["out_channels"], entry["height"], entry["width"]) == (
            layer.in_channels, layer.out_channels, layer.height, layer.width)
        assert entry["runs_on"] in ("accelerator", "cpu", "fused") and entry["reason"]
        if entry["runs_on"] == "fused" and entry["mapping"] == "table":
            # In the activation table of the accelerated layer feeding it.
            producer = next(e for e in dj["layers"] if e["name"] == entry["inputs"][0])
            assert producer["runs_on"] == "accelerator" and producer["table"] == entry["name"]
            assert entry["predicted_cycles"] == 0 and dj["config"]["activation_table"]
        elif entry["runs_on"] == "fused":
            # In the pooling stage of the one-run layer feeding it (or feeding its table).
            assert entry["mapping"] == "pool" and entry["predicted_cycles"] == 0 and dj["config"]["pooling"]
            producer = next(e for e in dj["layers"] if e["name"] == entry["inputs"][0])
            if producer["runs_on"] == "fused":
                producer = next(e for e in dj["layers"] if e["name"] == producer["inputs"][0])
            assert producer["runs_on"] == "accelerator" and producer["pool"] == entry["name"]
            (d,) = producer["descriptors"]
            assert d["pool"] == POOL_KINDS[entry["kind"]] and (entry["out_height"], entry["out_width"]) == (
                producer["out_height"] // 2, producer["out_width"] // 2)
        elif entry["runs_on"] == "accelerator":
            assert entry["predicted_cycles"] > 0 and entry["descriptors"]
            for d in entry["descriptors"]:  # every run fits the build's limits
                c = dj["config"]
                assert d["in_channels"] <= c["max_channels"] and d["out_channels"] <= c["max_channels"]
                assert d["width"] <= c["max_width"] and d["height"] <= c["max_height"]
                assert d["kernel"] <= c["max_kernel"] and d["stride"] <= c["max_stride"]
                cg = math.ceil(d["in_channels"] / c["pn"])
                assert d["width"] * cg <= c["max_row_words"] and cg * d["kernel"] ** 2 <= c["max_weight_taps"]
        else:
            assert entry["predicted_cycles"] == 0
    assert "register_map" in dj  # rtl.registers exists
    t = rj["totals"]
    seconds = sum(l["seconds"] for l in rj["layers"])
    assert math.isclose(t["seconds_per_frame"], seconds, rel_tol=1e-9)
    assert math.isclose(t["fps"], 1 / seconds, rel_tol=1e-9)
    assert math.isclose(t["gops"], net.ops / seconds / 1e9, rel_tol=1e-9)
    assert 0 < t["accelerator_gops"] <= t["peak_gops"] * 1.0001
    host = sum(p.alternatives["host_seconds"] for p in design.accelerated)
    assert 0 < t["host_seconds"] == pytest.approx(host) and t["host_seconds"] < t["accelerator_seconds"]
    assert math.isclose(t["accelerator_seconds"] + t["cpu_seconds"], seconds, rel_tol=1e-9)
    for k, v in rj["resources"]["predicted"].items():
        assert v <= HEADROOM[k] * rj["resources"]["board"][k]
    assert rj["search"]["history"] and rj["search"]["evaluations"] >= 1
    # The engine choice: the chosen engine's best design is the network's fastest feasible one,
    # and the per-layer times are the plans' (the chosen column equals the layers' seconds).
    choice = rj["engine_choice"]
    assert choice["chosen"] == dj["config"]["engine"] and set(choice["engines"]) == set(rj["search"]["engines"])
    # (the default rule chooses the smallest design within FPS_TOLERANCE of the fastest)
    assert all(e["fps"] <= t["fps"] / (1 - FPS_TOLERANCE) * (1 + 1e-9) for e in choice["engines"].values())
    assert choice["engines"][choice["chosen"]]["fps"] == pytest.approx(t["fps"], rel=1e-12)
    assert rj["search"]["choice"]["tolerance"] == FPS_TOLERANCE and "a frame rate within 1%" in rj["search"]["choice"]["rule"]
    assert [r[choice["chosen"]] for r in choice["layers"]] == [l["seconds"] for l in rj["layers"]]
    md = (out / "report.md").read_text()
    assert f"{network} on {board}" in md and "![Roofline](roofline.png)" in md
    assert (out / "roofline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_design(tmp_path):
    designs = []
    for k in range(2):
        folder, _ = build("lenet", out=tmp_path / f"l{k}", seed=3, population=6, generations=3, write_verilog=False)
        designs.append(json.loads((folder / "design.json").read_text()))
    assert designs[0] == designs[1]
