"""``dse.sweep`` on a Dask LocalCluster of two worker processes against the serial run: the same
designs and deploy folders, a killed worker loses no task, failures are reported with a reason."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from dse.sweep import _Serial, main, run_sweep, write_summary

NETWORKS = ["lenet", "digits-cnn"]
BOARDS = ["pynq-z2", "kv260"]


def _essentials(outcomes):
    out = []
    for o in outcomes:
        design = json.loads((Path(o.folder) / "design.json").read_text()) if o.folder else None
        out.append((o.network, o.board, o.design, o.config, round(o.fps, 9), o.measured, o.dropped, o.error,
                    o.bit_exact, design and {k: design[k] for k in ("config", "layers", "register_map")}))
    return out


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            Client(c) as client:
        yield c, client


@contextlib.contextmanager
def killing_a_busy_worker(client):
    """While the block runs, SIGKILL the process of the first worker seen running a task (its
    nanny starts a new one); yields the list of killed worker addresses."""
    pids = client.run(os.getpid)
    done = threading.Event()
    killed: list[str] = []

    def kill():
        while not done.is_set() and not killed:
            for addr, keys in client.processing().items():
                if keys and addr in pids:
                    os.kill(pids[addr], signal.SIGKILL)
                    killed.append(addr)
                    break
            time.sleep(0.05)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        yield killed
    finally:
        done.set()
        killer.join()


def test_cluster_sweep_equals_serial_and_survives_a_killed_worker(tmp_path, cluster):
    serial = run_sweep(NETWORKS, BOARDS, tmp_path / "serial")
    assert all(not o.error and o.folder for o in serial), [o.error for o in serial]
    _, client = cluster
    with killing_a_busy_worker(client) as killed:
        distributed = run_sweep(NETWORKS, BOARDS, tmp_path / "cluster", client=client)
    assert killed, "no worker was busy long enough to be killed"
    assert _essentials(distributed) == _essentials(serial)
    write_summary(distributed, tmp_path / "cluster")
    table = (tmp_path / "cluster" / "summary.md").read_text()
    for o in serial:
        assert f"| {o.network} | {o.board} | {o.design} |" in table
    assert (tmp_path / "cluster" / "fps_vs_resources.png").stat().st_size > 0


def test_a_failing_task_is_reported_with_its_reason(tmp_path):
    outcomes = run_sweep(["lenet"], ["pynq-z2"], tmp_path, client=_Serial(), population=1)
    assert outcomes[0].error.startswith("the DSE failed: ValueError: the GA needs a population of at least 2")
    assert not outcomes[0].folder


def test_cli_refuses_bad_arguments_in_one_sentence(capsys):
    assert main(["--networks", "lenet", "--boards", "pynq-z9", "--serial"]) == 2   # bad input
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown board 'pynq-z9'") and err[0].endswith(".")


@pytest.mark.slow
def test_cluster_sweep_with_synthesis_and_verification(tmp_path, cluster):
    """Issue 19's whole sweep: 2 networks x 2 boards, Yosys on the best design of each, every
    accelerated layer simulated bit-exact (cut to 4 rows), on the cluster and serially. The two
    xc7z020 boards keep the designs small enough for Yosys in minutes. A worker is killed while
    it works; its task is rerun."""
    _, client = cluster
    kwargs = dict(synth=1, verify=True, verify_rows=4)
    boards = ["pynq-z1", "pynq-z2"]
    serial = run_sweep(NETWORKS, boards, tmp_path / "serial", **kwargs)
    with killing_a_busy_worker(client) as killed:
        distributed = run_sweep(NETWORKS, boards, tmp_path / "cluster", client=client, **kwargs)
    assert killed
    assert _essentials(distributed) == _essentials(serial)
    for o in distributed:
        assert o.measured and o.bit_exact is True and o.verified, o.to_dict()
