"""Descriptor fuzzing on the simulated IP (issue 15): how many random valid, edge and invalid
descriptors ran, how they ended, and that none hung, wrote outside its output or was wrong.

    python bench/bench_fuzz.py [--examples 400]

Runs tests/rtl/test_fuzz.py's property on the small direct and Winograd builds of the test suite
(random AXI pauses on every channel, buffers at random unaligned offsets, one in four layers
with a buffer moved to the top of the address space). Every descriptor is counted by how it
ended: ran bit-exact, refused with the rule's code, or one of the failures -- a hang (no AP_DONE
within four times the cycle model; the run is aborted and fuzzing goes on), a stray write, a
wrong error code or a wrong result. Then the run-list property: lists of one to three drawn
descriptors, one in three with an entry corrupted (a bit above its register's fields), walked
from one AP_START; counted the same way, a list that stops at a refused entry by that entry's
code. Exit status 1 when any failure was counted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.rtl.test_fuzz import BUILDS, FAILURES, fuzz, fuzz_run_lists  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400, help="descriptors per build (default 400)")
    args = ap.parse_args(argv)
    rows = []
    for kind, run in (("descriptors", fuzz), ("run lists", fuzz_run_lists)):
        for name in sorted(BUILDS):
            t0 = time.time()
            outcomes = run(name, args.examples if kind == "descriptors" else args.examples // 4, keep_going=True)
            rows.append((f"{name}, {kind}", name, outcomes, time.time() - t0))
    print("| build | runs | ran, bit-exact | refused (code: count) | "
          + " | ".join(f"{kind}s" for kind in FAILURES) + " | wall s |")
    print("| --- | ---: | ---: | --- | " + " | ".join("---:" for _ in FAILURES) + " | ---: |")
    failed = 0
    for label, name, outcomes, secs in rows:
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()) if k != "OK" and k not in FAILURES)
        failures = [outcomes.get(kind, 0) for kind in FAILURES]
        failed += sum(failures)
        label = f"{label} ({BUILDS[name].name})"
        print(f"| {label} | {sum(outcomes.values())} | {outcomes.get('OK', 0)} | {refused} | "
              + " | ".join(str(n) for n in failures) + f" | {secs:.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
