"""The user-facing docs quote no measured figure and no build name by hand (issue 32): those go
stale with every change of the models or the DSE. Figures live in docs/results.md, which only
bench/update_results.py writes (tests/unit/test_results_doc.py); the docs point there."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The pages a user follows (design notes with dated figures, e.g. docs/dse.md, are records).
PAGES = ["README.md", "examples/README.md", "docs/driver.md", "docs/packaging.md", "docs/timing.md"]
#: What a hand-quoted figure looks like: a build name (it encodes the DSE's choice), a cycle
#: count, a time per image or layer at a clock, a predicted frame rate.
STALE = {
    "build name": re.compile(r"convforge_(?:direct|wino\d)_pm\d+_pn\d+_w\d+"),
    "cycle count": re.compile(r"\b\d[\d,]* cycles =|\b\d[\d,]+ cycles per image"),
    "time at a clock": re.compile(r"\d+(?:\.\d+)? (?:ms|us) (?:per image )?at \d+(?:\.\d+)? MHz"),
    "predicted frame rate": re.compile(r"\d+(?:\.\d+)? fps predicted"),
    # a row of drivers.format_table's output: layer, kind, where it ran, mapping, runs, cycles, ms
    "run table row": re.compile(r"^\S+ +\S+ +(?:accelerator|cpu) +\S+ +\d+ +(?:\d+|-) +\d+\.\d+ *$", re.M),
}


@pytest.mark.parametrize("page", PAGES)
def test_no_hand_quoted_figures(page):
    text = (ROOT / page).read_text()
    found = [f"{what}: {m[0]!r}" for what, rx in STALE.items() for m in rx.finditer(text)]
    assert not found, f"{page} quotes figures that go stale; point to docs/results.md instead: {found}"


def test_the_check_sees_what_it_looks_for():
    stale = ('Overlay("lenet/convforge_direct_pm16_pn8_w8.bit"), 2,102 cycles = 14.0 us per image at 150 MHz, '
             "3.55 fps predicted\n"
             "conv2            conv           accelerator native          1       3278     0.022\n")
    assert [what for what, rx in STALE.items() if rx.search(stale)] == list(STALE)
