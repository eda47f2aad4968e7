"""docs/results.md is what bench/update_results.py writes: its sections, in the script's order, each
with the script's title, marker, exact command line and fixed text; nothing added by hand between
them. (The figures themselves come from the commands; a rerun reproduces them.)"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import update_results as ur  # noqa: E402

DOC = ROOT / "docs" / "results.md"


def test_results_sections_are_the_scripts():
    text = DOC.read_text()
    sections = ur.split_sections(text)
    assert list(sections) == [s.id for s in ur.SECTIONS], "sections added, dropped or reordered by hand"
    head = text.split("\n## ", 1)[0].rstrip() + "\n"
    assert head.splitlines()[0] == ur.intro().splitlines()[0] and head.count("\n") == ur.intro().count("\n")
    for s in ur.SECTIONS:
        lines = sections[s.id].splitlines()
        assert lines[:3] == [f"## {s.title}", f"<!-- section: {s.id} -->", ""], s.id
        assert lines[3].startswith(f"`{s.shown_command}`"), f"{s.id}: the command line is not the section's command"
        body = sections[s.id]
        if "Not measured yet" in body:
            continue
        for fixed in (s.before, s.after):
            assert fixed in body, f"{s.id}: its fixed text differs from the script's"


def test_rendering_round_trips():
    """A section rendered by the script is found again by split_sections, unchanged."""
    section = ur.SECTIONS[0]
    rendered = ur.render(section, "| a |\n| --- |\n| 1 |", 75.0)
    assert ur.split_sections(ur.intro() + "\n" + rendered) == {section.id: rendered}
    assert "(1.2 min on this machine)" in rendered
