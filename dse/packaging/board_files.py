"""What a deploy folder carries to the board: the runtime wheel, BOARD.md and an example for the built network.

:func:`write_board_files` adds to the deploy folder::

    convforge_runtime-<version>-py3-none-any.whl   the board runtime (runtime_wheel.py)
    BOARD.md                                        the steps: Vivado, copy, install, run
    example.py / example.ipynb                      every accelerated layer of the design run once
                                                    on the IP, checked bit for bit against the
                                                    runtime's CPU kernels

The example needs only the runtime, numpy and pynq; it reads the design from ``design.json``
next to it and finds the folder from the working directory (a notebook's is its own folder), so
it also runs when its cells are pasted into Jupyter. Each layer's first ``ROWS`` output rows are
run, with weights and requantisation drawn so that most outputs are not clamped.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from rtl.config import AcceleratorConfig

from ..boards import Board
from .runtime_wheel import MIN_NUMPY, write_runtime_wheel
from .vivado_tcl import IP_CELL, ps_profile

__all__ = ["write_board_files", "render_board_md", "EXAMPLE_CELLS", "render_example", "render_notebook"]

#: The example's cells: (markdown, code) pairs; the script is their code, the notebook both.
EXAMPLE_CELLS = (
    ("# @NETWORK@ on the convforge IP (@NAME@)\n\nEvery layer the DSE placed on the accelerator runs once on the IP "
     "(its first output rows, random int8 data) and is checked bit for bit against the runtime's CPU kernels.",
     '''import json
import sys
from pathlib import Path

import numpy as np
from pynq import Overlay

import drivers                  # registers drivers.ConvAccelerator with PYNQ by the IP's VLNV
from drivers import ops

# The deploy folder: the working directory (a notebook's own folder), or the script's argument.
FOLDER = Path(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else Path.cwd()
ROWS = 4                        # output rows of each layer to run (the CPU check is the slow part)
design = json.loads((FOLDER / "design.json").read_text())'''),
    ("Load the bitstream (the `.hwh` beside it names the IP's cell `@CELL@`).",
     '''overlay = Overlay(str(FOLDER / (design["name"] + ".bit")))
accel = overlay.@CELL@          # a drivers.ConvAccelerator
print(accel.info)'''),
    ("Run each accelerated layer's first descriptor, cropped to its first `ROWS` output rows.",
     '''def crop(d, rows):
    """The descriptor's first ``rows`` output rows: the input rows they read."""
    k, s, p = d["kernel"], d["stride"], d["padding"]
    height = min(d["height"], (rows - 1) * s + k - p)
    return dict(d, height=max(height, k - 2 * p, 1))


rng = np.random.default_rng(0)
results = []
for layer in design["layers"]:
    if layer["runs_on"] != "accelerator":
        continue
    d = crop(layer["descriptors"][0], ROWS)
    c, m, k = d["in_channels"], d["out_channels"], d["kernel"]
    x = rng.integers(-128, 128, (c, d["height"], d["width"]), dtype=np.int8)
    w = rng.integers(-128, 128, (m, c, k, k), dtype=np.int8)
    acc = ops.conv2d(x, w, d["stride"], d["padding"])
    # Scale each channel's accumulators onto about 0..100 so the check sees unclamped outputs.
    peak = np.maximum(np.abs(acc).reshape(m, -1).max(axis=1), 1)
    shift = np.full(m, 24, dtype=np.int64)
    mult = np.minimum((100 << 24) // peak, (1 << 31) - 1)
    bias = rng.integers(-peak // 4, peak // 4 + 1).astype(np.int64)
    y = accel.conv2d(x, w, bias, mult, shift, stride=d["stride"], padding=d["padding"], relu=True)
    want = ops.requantize(acc, bias, mult, shift, relu=True)
    cycles = accel.counters["cycles"]
    results.append((layer["name"], tuple(y.shape), bool(np.array_equal(y, want)), cycles))
    print(f"{layer['name']:>16} {str(tuple(y.shape)):>16} {'bit-exact' if results[-1][2] else 'DIFFERENT'} "
          f"{cycles} cycles")'''),
    ("The verdict.",
     '''exact = sum(r[2] for r in results)
print(f"{exact} of {len(results)} accelerated layers bit-exact on the IP")
assert results and exact == len(results), "the IP's outputs differ from the runtime's CPU kernels"'''),
)

_BOARD_MD = """\
# @NAME@ on @BOARD_TITLE@

This folder is what `python -m dse.build` wrote for `@NETWORK@` on @BOARD_TITLE@
(@LABEL@, @MHZ@ MHz). `report.md` has the design and its predictions; these are the steps to run
it on the board.

## 1. Bitstream (on a PC with Vivado)

```
vivado -mode batch -source vivado/build.tcl
```

writes `@NAME@.bit` and `@NAME@.hwh` into this folder (`vivado/README.md` has the options). It
needs Vivado with @FAMILY_TITLE@ support; it looks every Xilinx IP up by name, so no version is
hard-coded, and it was written for Vivado 2022.1 or newer (the PYNQ 3.0 images' tools). Expect
about 20 to 60 minutes on a 4-core PC for a Zynq-7000 part, longer for UltraScale+.
**This Tcl has not yet been run in Vivado**: it was reviewed against PYNQ's own board overlays
only, so report what Vivado says if it stops.

## 2. Copy this folder to the board

```
scp -r @FOLDER@ xilinx@pynq:
```

(the board's Jupyter file browser's upload works too). On the board the folder needs
`design.json`, `@NAME@.bit`, `@NAME@.hwh`, `@WHEEL@` and `example.py` / `example.ipynb`.

## 3. Install the runtime (on the board)

```
pip install --no-deps @FOLDER@/@WHEEL@
```

in a terminal of the board's Jupyter (PYNQ 3 images: that pip installs into the PYNQ
environment; over ssh, `sudo -H /usr/local/share/pynq-venv/bin/pip install --no-deps ...`).
`--no-deps`: the runtime needs only Python 3.8+, numpy >= @NUMPY@ and pynq, which the PYNQ
images already have; nothing else is installed or compiled on the board.

## 4. Run the example

```
cd @FOLDER@
python3 example.py
```

or open `example.ipynb` in Jupyter. It loads the bitstream, prints the IP's build parameters,
runs every layer the DSE placed on the accelerator once (its first output rows, random data)
and checks each output bit for bit against the runtime's CPU kernels:

```python
from pynq import Overlay
import drivers                                    # binds drivers.ConvAccelerator to the IP
accel = Overlay("@NAME@.bit").@CELL@
y = accel.conv2d(x, w, bias, mult, shift, stride=1, padding=1, relu=True)   # int8 [M, Ho, Wo]
```

A whole quantised network runs with `drivers.run_network(qnet, x, accel, plan="design.json")`
(docs/driver.md in the convforge repository).
"""


def _fill(text: str, values: dict) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def render_board_md(config: AcceleratorConfig, board: Board, network: str, folder: str, wheel: str) -> str:
    """The text of BOARD.md."""
    return _fill(_BOARD_MD, {
        "@NAME@": config.name, "@NETWORK@": network, "@BOARD_TITLE@": board.vendor_name or board.name,
        "@LABEL@": config.engine_description.label(config.m) + f" pm={config.pm} pn={config.pn}",
        "@MHZ@": f"{config.clock_mhz:g}", "@FAMILY_TITLE@": ps_profile(board).title, "@FOLDER@": folder,
        "@WHEEL@": wheel, "@NUMPY@": MIN_NUMPY, "@CELL@": IP_CELL,
    })


def _cells(config: AcceleratorConfig, network: str) -> list[tuple[str, str]]:
    values = {"@NAME@": config.name, "@CELL@": IP_CELL, "@NETWORK@": network}
    return [(_fill(md, values), _fill(code, values)) for md, code in EXAMPLE_CELLS]


def render_example(config: AcceleratorConfig, network: str) -> str:
    """example.py: the cells' code, their markdown as comments (the first as the docstring)."""
    cells = _cells(config, network)
    title, _, text = cells[0][0].partition("\n\n")
    doc = [title.lstrip("# "), "", *textwrap.wrap(text, 96), "", "    python3 example.py [deploy folder]"]
    parts = ['"""' + "\n".join(doc) + '\n"""', cells[0][1]]
    for md, code in cells[1:]:
        parts.append("\n".join("# " + line for line in textwrap.wrap(md, 96)) + "\n" + code)
    return "\n\n".join(parts) + "\n"


def render_notebook(config: AcceleratorConfig, network: str) -> str:
    """example.ipynb (nbformat 4): a markdown and a code cell per step."""
    cells = []
    for md, code in _cells(config, network):
        cells.append({"cell_type": "markdown", "metadata": {}, "source": md.splitlines(keepends=True)})
        cells.append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                      "source": code.splitlines(keepends=True)})
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1) + "\n"


def write_board_files(config: AcceleratorConfig, board: Board, network: str, out_dir, folder_name: str) -> list[Path]:
    """Write the runtime wheel, BOARD.md, example.py and example.ipynb into ``out_dir`` (the deploy
    folder, or the folder it is assembled in; ``folder_name``: the name it has in the end)."""
    out_dir = Path(out_dir)
    wheel = write_runtime_wheel(out_dir)
    files = [wheel]
    for name, text in (("BOARD.md", render_board_md(config, board, network, folder_name, wheel.name)),
                       ("example.py", render_example(config, network)),
                       ("example.ipynb", render_notebook(config, network))):
        (out_dir / name).write_text(text)
        files.append(out_dir / name)
    return files
