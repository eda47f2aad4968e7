"""``python -m rtl.registers``: write docs/registers.md and drivers/interface.py (``--check``: verify them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .docs import DOC_PATH, render_markdown
from .runtime_module import RUNTIME_MODULE_PATH, render_runtime_module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtl.registers",
                                     description="Write docs/registers.md and the board runtime's drivers/interface.py "
                                                 "from the register map and the engine descriptions in rtl/.")
    parser.add_argument("--check", action="store_true", help="only check that both files are current; exit 1 if not")
    parser.add_argument("--docs", type=Path, default=DOC_PATH, help=f"the register page (default {DOC_PATH})")
    parser.add_argument("--runtime-module", type=Path, default=RUNTIME_MODULE_PATH,
                        help=f"the board runtime's module of hardware facts (default {RUNTIME_MODULE_PATH})")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in ((args.docs, render_markdown()), (args.runtime_module, render_runtime_module())):
        if args.check:
            if (path.read_text() if path.exists() else None) != text:
                print(f"{path} is out of date: run python -m rtl.registers", file=sys.stderr)
                stale = 1
            else:
                print(f"{path} is current")
            continue
        path.write_text(text)
        print(f"wrote {path}")
    return stale


if __name__ == "__main__":
    sys.exit(main())
