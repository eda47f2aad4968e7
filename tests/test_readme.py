"""The README's Python API snippet runs as printed, and its board steps are those of BOARD.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end >= 0 else None]


def test_python_api_snippet_runs_and_its_board_steps_match_board_md(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", _section("Python API"), re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(blocks[0], "README.md (Python API)", "exec"), scope)
    folder = tmp_path / "build" / "lenet-pynq-z2"
    assert scope["folder"].resolve() == folder.resolve() and (scope["y_ref"] == scope["y_ip"]).all()
    assert scope["y_ref"].dtype.name == "int8" and scope["y_ref"].shape == (10, 1, 1)

    # The board steps, in order: each README step's command, with the placeholders of this folder.
    board_md = (folder / "BOARD.md").read_text()
    wheel = next(folder.glob("convforge_runtime-*.whl")).name
    steps = re.findall(r"^\d\. `([^`]+)`", _section("On a PYNQ board"), re.M)
    assert len(steps) == 4
    filled = [s.replace("<folder>", folder.name).replace("convforge_runtime-*.whl", wheel) for s in steps]
    filled[3] = f"cd {folder.name}\npython3 example.py"   # step 4 is two commands in BOARD.md's block
    at = [board_md.index(s) for s in filled]
    assert at == sorted(at), filled
