"""Estimated Fmax of whole designs: the default VGG16/PYNQ-Z2 build, the best Winograd design, an
F(4,3) design and the best direct design, each synthesised by Yosys and timed by dse/timing.py;
and the DSE's resource model against Yosys's counts for each.

    python bench/bench_timing.py [--designs default,winograd,f43] [--paths 3] [--json]

The designs:

* ``default``: the deploy folder of ``python -m dse.build`` (VGG16 on PYNQ-Z2, ``--engine auto``),
  built when missing (bench/bench_vgg_conv3_1.py keeps it in ``build/vgg16-pynq-z2``);
* ``winograd``: the same with ``--engine winograd`` (the DSE's best Winograd design);
* ``f43``: the Winograd design's build maxima with F(4,3), pm = pn = 2;
* ``direct``: the same with ``--engine direct`` (the DSE's best direct-engine design).

Per design the table gives Yosys's counts (``synth_xilinx``, flattened, out of context), the
longest register-to-register path of the netlist with the family's delay model, the estimated
Fmax, the clock the design claims, the ratio of the two and how many endpoints miss that clock,
then the slowest paths. It is an estimate without placement or routing (docs/timing.md).
Synthesis takes minutes per design the first time; netlists are cached (rtl.verilog.cache_root()).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_vgg_conv3_1 import DesignUnavailable, config_label, ensure_design  # noqa: E402

from dse.boards import get_board  # noqa: E402
from dse.resource_model import estimate_resources  # noqa: E402
from dse.synth import synthesize  # noqa: E402
from dse.timing import estimate_timing  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from rtl.top import accelerator_verilog  # noqa: E402

DESIGNS = ("default", "winograd", "f43", "direct")


def design_config(name: str) -> tuple[AcceleratorConfig, str]:
    """The build configuration of a bench design and the board's family."""
    engine = {"default": "auto", "winograd": "winograd", "f43": "winograd", "direct": "direct"}[name]
    _, design = ensure_design(engine)
    config = AcceleratorConfig(**design["config"])
    if name == "f43":
        config = replace(config, m=4, pm=2, pn=2)
    board = get_board(design["board"])
    return config, board.family


def measure(name: str, paths: int) -> dict:
    config, family = design_config(name)
    syn = synthesize(accelerator_verilog(config), config.name, family)
    report = estimate_timing(syn.netlist(), config.name, family, paths=paths)
    counts = {k: syn.counts[k] for k in ("LUT", "FF", "DSP", "BRAM36")}
    model = estimate_resources(config, family).totals
    return {"design": name, "config": config.name, "label": config_label(config.to_dict()), "family": family,
            "counts": counts, "resource_model": model, **report.to_dict(mhz=config.clock_mhz), "clock_mhz": config.clock_mhz}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=",".join(DESIGNS), help=f"comma-separated subset of {', '.join(DESIGNS)}")
    ap.add_argument("--paths", type=int, default=3, help="slowest paths listed per design (default 3)")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    args = ap.parse_args(argv)
    names = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in names if d not in DESIGNS]
    if unknown:
        ap.error(f"unknown design {unknown[0]!r}; choose from {', '.join(DESIGNS)}")
    rows = []
    for name in names:
        print(f"  synthesising and timing the {name} design (minutes the first time) ...", file=sys.stderr, flush=True)
        try:
            rows.append(measure(name, args.paths))
        except DesignUnavailable as exc:
            print(f"{name}: unavailable: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| design | configuration | family | LUT | FF | DSP | BRAM36 | worst path (ns) | est. Fmax (MHz) | "
          "clock (MHz) | Fmax / clock | endpoints missing the clock |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        c = r["counts"]
        print(f"| {r['design']} | {r['config']} ({r['label']}) | {r['family']} | {c['LUT']} | {c['FF']} | {c['DSP']} | "
              f"{c['BRAM36']:g} | {r['worst_ns']:.3f} | {r['fmax_mhz']:.1f} | {r['clock_mhz']:g} | "
              f"{r['fmax_mhz'] / r['clock_mhz']:.3f} | {r['failing_endpoints']} of {r['endpoints']} |")
    print()
    print("| design | path (ns) | logic levels | from | to |")
    print("| --- | ---: | ---: | --- | --- |")
    for r in rows:
        for p in r["paths"][:args.paths]:
            print(f"| {r['design']} | {p['delay_ns']:.3f} | {p['logic_levels']} | `{p['start']}` | `{p['end']}` |")
    print()
    print("Resource model (dse/resource_model.py) against Yosys, model / Yosys:")
    print()
    print("| design | LUT model | LUT ratio | FF model | FF ratio | DSP model | DSP ratio | BRAM36 model | BRAM36 ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        c, mo = r["counts"], r["resource_model"]
        cells = " | ".join(f"{mo[k]:g} | {mo[k] / c[k]:.3f}" if c[k] else f"{mo[k]:g} | -" for k in ("LUT", "FF", "DSP", "BRAM36"))
        print(f"| {r['design']} | {cells} |")
    worst = min((r["fmax_mhz"] / r["clock_mhz"] for r in rows), default=0.0)
    print()
    print(f"Lowest Fmax / clock over the designs: {worst:.3f} ({'every design meets its clock' if worst >= 1 else 'a design misses its clock'}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
