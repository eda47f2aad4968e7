"""Sustained throughput of the AXI4 read and write masters (cocotb + Verilator + AXI RAM model).

Prints, per scenario, data beats per cycle from the first command accepted to the last data
beat delivered (reads) or the last ``done`` (writes), and the bus beats per cycle between the
first and last R/W handshake. Scenarios: no back-pressure and no latency, and a memory with a
realistic latency (30 cycles AR -> first R, 30 cycles last W -> B), for short (64 B), medium
(2 KiB = one 256-beat burst at 64 bits) and long (64 KiB) transfers, aligned and not.

    python bench/bench_axi.py [--config w64|w128] [--json]

Builds are shared with tests/rtl/test_axi_masters.py (cached under ~/.cache/convforge).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.toolchain import PARAMS_ENV  # noqa: E402
from sim.toolchain import run_cocotb  # noqa: E402
from tests.rtl.test_axi_masters import harness_build  # noqa: E402

LATENCY = 30


def scenarios(bus_bytes: int) -> list[dict]:
    out = []
    for direction in ("read", "write"):
        for lat in (0, LATENCY):
            lat_key = "read_latency" if direction == "read" else "write_latency"
            for name, length, count, offset in (
                ("short 64 B x64", 64, 64, 0),
                ("medium 2 KiB x8", 2048, 8, 0),
                ("long 64 KiB", 65536, 1, 0),
                ("long 64 KiB, +3 B offset", 65536 - 5, 1, 3),
            ):
                out.append({"name": name, "direction": direction, "length": length, "count": count,
                            "offset": offset, lat_key: lat})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="w64", choices=["w64", "w128"],
                        help="harness configuration of tests/rtl/test_axi_masters.py (default w64)")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args(argv)
    model, params = harness_build(args.config)
    with tempfile.TemporaryDirectory(prefix="bench-axi-") as tmp:
        out = Path(tmp) / "results.json"
        params.update(seed=9, scenarios=scenarios(params["data_width"] // 8), out=str(out))
        print(f"simulating {len(params['scenarios'])} scenarios on the {args.config} harness "
              f"({params['data_width']}-bit bus, max_burst {params['max_burst']}, "
              f"{params['max_outstanding']} bursts outstanding)...", file=sys.stderr)
        run_cocotb(model, "tests.rtl.tb_axi_bench", extra_env={PARAMS_ENV: json.dumps(params)})
        results = json.loads(out.read_text())
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"AXI masters, {params['data_width']}-bit data, max_outstanding {params['max_outstanding']}")
    print(f"{'dir':5} {'latency':>7}  {'transfer':26} {'beats':>6} {'cycles':>7} {'beats/cycle':>11} {'bus beats/cycle':>15}")
    for r in results:
        lat = r.get("read_latency", r.get("write_latency", 0))
        print(f"{r['direction']:5} {lat:>7}  {r['name']:26} {r['beats']:>6} {r['cycles']:>7} "
              f"{r['beats_per_cycle']:>11.3f} {r['bus_beats_per_cycle']:>15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
