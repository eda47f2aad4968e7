"""dse/cpu_floor.py: the fitted floor covers every row it was fitted on, and the DSE's CPU time
never falls below it."""

import json

import pytest

from dse import cpu_floor
from dse.boards import get_board
from dse.networks import get_network
from dse.perf_model import cpu_seconds


def test_the_fit_covers_every_row_and_keeps_a_sane_intercept():
    rows = [{"kind": "maxpool", "work": w, "seconds": s} for w, s in
            ((1000, 2e-5), (4000, 9e-5), (16000, 2.5e-4), (64000, 1.3e-3))]
    rows += [{"kind": "add", "work": 500, "seconds": 7e-6}]
    fit = cpu_floor.fit_floor(rows)
    for r in rows:
        f = fit[r["kind"]]
        assert f["a"] + f["b"] * r["work"] >= r["seconds"] * (1 - 1e-12)
    assert 0 <= fit["maxpool"]["a"] <= 2e-5 and fit["maxpool"]["layers"] == 4
    assert fit["add"] == {"a": 7e-6, "b": 0.0, "layers": 1}


def test_the_dse_never_prices_a_layer_below_the_floor(tmp_path, monkeypatch):
    net = get_network("vgg16")
    pool = next(layer for layer in net.layers if layer.kind == "maxpool")
    board = get_board("kv260")
    try:
        monkeypatch.setattr(cpu_floor, "TABLE_PATH", tmp_path / "missing.json")
        cpu_floor.floor_table.cache_clear()
        estimate = cpu_seconds(pool, board)                      # the board's figures alone
        assert cpu_floor.cpu_floor_seconds(pool) == 0.0
        for a in (1e-6, 1.0):                                    # a floor below, then above the estimate
            (tmp_path / f"t{a}.json").write_text(json.dumps({"fit": {"maxpool": {"a": a, "b": 1e-9, "layers": 1}}}))
            monkeypatch.setattr(cpu_floor, "TABLE_PATH", tmp_path / f"t{a}.json")
            cpu_floor.floor_table.cache_clear()
            floor = a + 1e-9 * cpu_floor.work(pool)
            assert cpu_floor.cpu_floor_seconds(pool) == pytest.approx(floor)
            assert cpu_seconds(pool, board) == pytest.approx(max(estimate, floor))
        conv = next(layer for layer in net.layers if layer.kind == "conv")
        assert cpu_floor.cpu_floor_seconds(conv) == 0.0          # a kind the table does not hold
        assert cpu_floor.work(conv) == conv.macs
        assert cpu_floor.work(pool) == pool.read_elements + pool.output_elements + pool.element_ops
    finally:
        cpu_floor.floor_table.cache_clear()
