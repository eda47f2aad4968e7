"""Descriptor fuzzing on the simulated IP (issue 15): how many random valid, edge and invalid
descriptors ran, how they ended, and that none hung, wrote outside its output or was wrong.

    python bench/bench_fuzz.py [--examples 400]

Runs tests/rtl/test_fuzz.py's property on the small direct and Winograd builds of the test suite
(random AXI pauses on every channel, buffers at random unaligned offsets, one in four layers
with a buffer moved to the top of the address space). Any hang (AP_DONE later than four times
the cycle model), stray write or wrong result stops the run with hypothesis's minimal failing
descriptor, so a finished table has zero of each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.rtl.test_fuzz import BUILDS, fuzz  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400, help="descriptors per build (default 400)")
    args = ap.parse_args(argv)
    rows = []
    for name in sorted(BUILDS):
        t0 = time.time()
        outcomes = fuzz(name, args.examples)
        rows.append((name, outcomes, time.time() - t0))
    print("| build | descriptors | ran, bit-exact | refused (code: count) | hangs | stray writes | silent wrong results | wall s |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, outcomes, secs in rows:
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()) if k != "OK")
        cfg = BUILDS[name]
        label = f"{name} ({cfg.name})"
        print(f"| {label} | {sum(outcomes.values())} | {outcomes.get('OK', 0)} | {refused} | 0 | 0 | 0 | {secs:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
