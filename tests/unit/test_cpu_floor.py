"""dse/cpu_floor.py: the fitted floor covers every row it was fitted on, and the DSE's CPU time
never falls below it."""

import json

import numpy as np
import pytest

from dse import cpu_floor
from dse.boards import get_board
from dse.networks import get_network
from dse.perf_model import cpu_seconds


def test_the_fit_recovers_a_linear_cost_and_covers_every_row():
    rng = np.random.default_rng(3)
    truth = {"fixed": 4e-3, "macs": 2e-11, "patch_elements": 1e-9, "outputs": 4e-9}
    rows = []
    for _ in range(30):
        f = {"fixed": 1.0, "macs": float(rng.integers(1e6, 1e9)), "patch_elements": float(rng.integers(1e4, 1e7)),
             "outputs": float(rng.integers(1e3, 1e6))}
        noise = 1 + 0.1 * rng.random()            # measured times only ever exceed the cost line
        rows.append({"kind": "conv", "features": f, "seconds": cpu_floor.floor_of(truth, f) * noise})
    rows.append({"kind": "add", "features": {"fixed": 1.0, "elements": 500.0}, "seconds": 7e-6})
    fit = cpu_floor.fit_floor(rows)
    for r in rows:
        assert cpu_floor.floor_of(fit[r["kind"]]["coefficients"], r["features"]) >= r["seconds"] * (1 - 1e-12)
    conv = fit["conv"]["coefficients"]
    assert fit["conv"]["layers"] == 30 and all(v >= 0 for v in conv.values())
    for name, value in truth.items():                 # within the 10 % of noise and the cover-up scale
        assert conv[name] == pytest.approx(value, rel=0.35), name
    add = fit["add"]["coefficients"]                   # one row: the line passes through it
    assert cpu_floor.floor_of(add, rows[-1]["features"]) == pytest.approx(7e-6)


def test_a_negative_slope_is_dropped_not_kept():
    rows = [{"kind": "maxpool", "features": {"fixed": 1.0, "elements": e}, "seconds": s}
            for e, s in ((1000.0, 3e-4), (2000.0, 2.9e-4), (4000.0, 2.8e-4))]
    c = cpu_floor.fit_floor(rows)["maxpool"]["coefficients"]
    assert c["elements"] == 0.0 and c["fixed"] == pytest.approx(3e-4)


def test_the_features_of_a_conv_and_a_pool():
    net = get_network("vgg16")
    conv = next(layer for layer in net.layers if layer.kind == "conv")
    pool = next(layer for layer in net.layers if layer.kind == "maxpool")
    f = cpu_floor.features(conv)
    assert f == {"fixed": 1.0, "macs": conv.macs, "outputs": 64 * 224 * 224,
                 "patch_elements": 224 * 224 * 3 * 3 * 3}
    assert cpu_floor.features(pool) == {"fixed": 1.0,
                                        "elements": pool.read_elements + pool.output_elements + pool.element_ops}


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
            table = {"fit": {"maxpool": {"coefficients": {"fixed": a, "elements": 1e-9}, "layers": 1}}}
            (tmp_path / f"t{a}.json").write_text(json.dumps(table))
            monkeypatch.setattr(cpu_floor, "TABLE_PATH", tmp_path / f"t{a}.json")
            cpu_floor.floor_table.cache_clear()
            floor = a + 1e-9 * (pool.read_elements + pool.output_elements + pool.element_ops)
            assert cpu_floor.cpu_floor_seconds(pool) == pytest.approx(floor)
            assert cpu_seconds(pool, board) == pytest.approx(max(estimate, floor))
        conv = next(layer for layer in net.layers if layer.kind == "conv")
        assert cpu_floor.cpu_floor_seconds(conv) == 0.0          # a kind the table does not hold
    finally:
        cpu_floor.floor_table.cache_clear()


def test_the_checked_in_table_covers_its_own_rows():
    data = json.loads(cpu_floor.TABLE_PATH.read_text())
    for r in data["rows"]:
        coefficients = data["fit"][r["kind"]]["coefficients"]
        assert cpu_floor.floor_of(coefficients, r["features"]) >= r["seconds"] * (1 - 1e-9), r["layer"]


def test_an_accelerated_layer_pays_the_drivers_time_around_each_run():
    """plan_layer's time = the runs' cycles at the clock + host_seconds per run, and host_seconds
    is the board's relayout estimate or the measured floor of the driver, whichever is larger;
    an activation kept in DDR between two accelerated layers (pm == pn) is relaid out by neither,
    and such layers run as run lists: each pays its entry's fetch in cycles and the driver's
    entry instead of a start, and each list's last layer its start."""
    from dse.design import Genome, evaluate
    from dse.perf_model import CONSTANTS, host_seconds, list_entry_cycles, list_host_seconds, memory_port, run_cycles
    from dse.schedule import relayouts, run_lists

    for network, board_name, genome in (("vgg16", "pynq-z2", Genome("direct", 0, 8, 8, 64, 1, 3)),
                                        ("resnet18", "kv260", Genome("direct", 0, 16, 8, 128, 2, 7, True, 2))):
        board = get_board(board_name)
        design = evaluate(genome, get_network(network), board)
        assert design.feasible
        cfg = design.config
        flags = relayouts(design.plans, cfg.pm, cfg.pn)
        lists = run_lists(design.plans, cfg.pm, cfg.pn)
        listed = {name for names in lists for name in names}
        last = {names[-1]: len(names) for names in lists}
        entry = list_entry_cycles(cfg, memory_port(cfg, board))
        for plan in design.accelerated:
            name = plan.layer.name
            relaid = flags[name] if len(plan.descriptors) == 1 else (True, True)
            host = [host_seconds(d, cfg, board, CONSTANTS, *relaid, listed=name in listed) for d in plan.descriptors]
            if name in last:
                host.append(list_host_seconds(last[name]))
            assert plan.alternatives["host_seconds"] == pytest.approx(sum(host))
            extra = plan.seconds - plan.predicted_cycles / (cfg.clock_mhz * 1e6) - sum(host)
            assert extra == pytest.approx(0.0, abs=1e-12) if len(plan.descriptors) == 1 else extra > 0  # strip copies
            if name in listed:
                runs = run_cycles(plan.descriptors[0], cfg, memory_port(cfg, board)).cycles
                assert plan.predicted_cycles == runs + entry + (CONSTANTS.list_start if name in last else 0)
            for d in plan.descriptors:
                # A pooled run (its pool fused) writes, and the driver unpacks, the pooled output.
                feats = cpu_floor.run_features(d.in_channels, d.height, d.width, d.out_channels, d.written_height,
                                               d.written_width, cfg.pm, cfg.pn, *relaid)
                moved = 2 * feats["elements"] * cfg.data_width / 8
                fixed = CONSTANTS.host_entry_s if name in listed else CONSTANTS.host_overhead_s
                estimate = fixed + moved / (board.ddr_gbps * 1e9 * CONSTANTS.cpu_copy_efficiency)
                floor = cpu_floor.run_floor_seconds(feats, name in listed)
                assert host_seconds(d, cfg, board, CONSTANTS, *relaid, listed=name in listed) == pytest.approx(
                    max(estimate, floor))
        if cfg.pm == cfg.pn:
            # VGG16: the conv outputs stay in DDR; each pool runs in the pooling stage of the conv
            # before it (whose output is then the pooled map, read in place by the next block),
            # so the conv layers are one run list.
            assert cfg.pooling
            assert flags["conv1_1"] == (True, False) and flags["conv1_2"] == (False, False)
            assert flags["conv2_1"] == (False, False) and flags["conv3_2"] == (False, False)
            assert lists[0][:5] == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
            assert "conv5_3" in lists[0]
        else:
            assert set(flags.values()) == {(True, True)} and lists == []


def test_relayouts_follow_the_driver():
    """dse.schedule.relayouts says what run_network does: an accelerated layer packs its input
    unless its producer kept its output (one run, pm == pn) and it reads it in place; it unpacks
    its output for a CPU reader, a second input, a strip-cut reader or the network's output."""
    from dse.graph import NetworkBuilder
    from dse.schedule import LayerPlan, relayouts
    from rtl.descriptor import Descriptor

    b = NetworkBuilder("t", (4, 8, 8))
    b.conv("a", 8, 3, padding=1)
    b.conv("b", 8, 3, padding=1)
    b.conv("c", 8, 1)
    b.add("s", "b", "c")
    b.conv("d", 8, 3, padding=1, src="s")
    b.conv("e", 8, 8)           # 8x8 -> 1x1
    b.fc("f", 10)
    net = b.build()
    one = (Descriptor(1, 1, 1, 1, 1, 1, 0),)

    def plans(strips_on=()):
        return [LayerPlan(l, "accelerator" if l.kind != "add" else "cpu", "", "native",
                          descriptors=one * (2 if l.name in strips_on else 1)) for l in net.layers]

    assert relayouts(plans(), 8, 8) == {"a": (True, False), "b": (False, True), "c": (False, True),
                                        "d": (True, False), "e": (False, False), "f": (False, True)}
    assert set(relayouts(plans(), 8, 4).values()) == {(True, True)}
    cut = relayouts(plans(strips_on=("c",)), 8, 8)
    assert cut["b"] == (False, True) and cut["c"] == (True, True)


def test_run_features_count_the_padded_words():
    f = cpu_floor.run_features(3, 224, 224, 64, 224, 224, pm=16, pn=8)
    assert f == {"fixed": 1.0, "elements": 8 * 224 * 224 + 64 * 224 * 224}
    assert cpu_floor.run_features(10, 4, 4, 5, 2, 2, pm=4, pn=8)["elements"] == 16 * 16 + 8 * 4


def test_element_wise_layers_fuse_into_the_activation_table():
    """On a build with an activation table the DSE runs a LeakyReLU fed by an accelerated conv
    in that conv's table (rtl.descriptor.table_fusions, the driver's rule): it costs nothing of
    its own, the conv pays its table's read, and the activation passes through it in DDR."""
    from dse.design import Genome, evaluate
    from dse.graph import NetworkBuilder
    from dse.perf_model import memory_port, run_cycles
    from dse.schedule import relayouts, run_lists

    b = NetworkBuilder("t", (8, 16, 16))
    b.conv("a", 8, 3, padding=1)
    b.activation("la")
    b.conv("b", 8, 3, padding=1)
    b.activation("lb")
    b.conv("c", 8, 3, padding=1)
    net = b.build()
    assert [l.kind for l in net.layers] == ["conv", "leaky_relu", "conv", "leaky_relu", "conv"]
    board = get_board("pynq-z2")
    design = evaluate(Genome("direct", 0, 8, 8, 64, 1, 3), net, board, force_accelerator=True)
    assert design.feasible and design.config.activation_table
    plans = {p.layer.name: p for p in design.plans}
    assert [plans[n].runs_on for n in ("la", "lb")] == ["fused", "fused"]
    assert plans["la"].seconds == 0 and plans["a"].alternatives["table"] == "la" and "table" not in plans["c"].alternatives
    port = memory_port(design.config, board)
    d = plans["a"].descriptors[0]
    table_read = run_cycles(d, design.config, port, table=True).cycles - run_cycles(d, design.config, port).cycles
    assert table_read == -(-256 // port.read_bpc)
    assert plans["a"].to_dict()["table"] == "la"
    # The activations stay in DDR through the fused layers: one run list, relaid out at its ends.
    assert relayouts(design.plans, 8, 8) == {"a": (True, False), "b": (False, False), "c": (False, True)}
    assert run_lists(design.plans, 8, 8) == [["a", "b", "c"]]
    # Without 8-bit data there is no table, and the LeakyReLUs stay on the CPU.
    wide = evaluate(Genome("direct", 0, 8, 8, 64, 1, 3), net, board, data_width=16, force_accelerator=True)
    assert not wide.config.activation_table and {p.runs_on for p in wide.plans if p.layer.kind == "leaky_relu"} == {"cpu"}
