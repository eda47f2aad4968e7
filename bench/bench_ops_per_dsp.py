"""Effective ops per DSP per cycle and PE-array utilisation on the VGG16 conv layers (simulated).

    python bench/bench_ops_per_dsp.py [--engine auto|direct|winograd] [--design DIR] [--rows 4]
                                      [--groups 1] [--full-below CYCLES] [--layers conv1_1,conv3_1]
                                      [--no-synth] [--json]

Every VGG16 conv layer runs on the PYNQ-Z2 design (``build/vgg16-pynq-z2``, the default build, or
``build/vgg16-pynq-z2-<engine>``; see bench/bench_vgg_conv3_1.py) through ``sim.backends.simulated``,
cut to ``--rows`` input rows and ``--groups`` output-channel groups of ``pm`` channels (full
width, all input channels; layers whose full size the cycle model puts at most ``--full-below``
cycles run at full size), bit-exact checked against sim.reference. Per layer the table gives
the simulated cycles, the ideal cycles of the engine's schedule (direct:
``ceil(M/pm)*ceil(C/pn)*Ho*Wo*K*K``; Winograd: ``ceil(M/pm)*ceil(C/pn)*ceil(Ho/m)*ceil(Wo/m)``),
the PE-array utilisation (ACTIVE_CYCLES / CYCLES: cycles in which the array accepted a beat),
ops per cycle (2 per MAC of the direct convolution) and ops per DSP per cycle, counting

* every DSP of the compute path: the PE array plus the requantiser lanes, as Yosys
  ``synth_xilinx -family xc7`` maps them (the array -- ``MacArray`` or ``EwmmArray`` as the
  datapath instantiates it -- and the ``Requantiser`` are synthesised separately; the
  transforms of a Winograd engine use no DSP by construction), and
* the PE array's DSPs alone (what the limits below count),

and the same ratio for the full-size layer from the DSE's cycle model (the simulation's memory;
the model is within 0.3 % of the simulation at full height, docs/results.md). Short cuts
under-state the full layer: each output-channel group first primes the line buffer with K-P rows.

Limits (spec section 7): 2 ops per DSP per cycle for the direct engine (one MAC per DSP), 8 for
int8 Winograd F(4,3) and 10.1 for F(6,3) with one DSP per multiply; Lu/Liang et al. reach 4.9-5.8
on VGG16 (ZCU102). ``--no-synth`` takes the DSP counts from the DSE's resource model instead of
Yosys (it agrees with Yosys on every MacArray measured).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import warnings  # noqa: E402

import numpy as np  # noqa: E402
from amaranth.hdl import UnusedElaboratable  # noqa: E402

from sim.backends import simulated  # noqa: E402
from dse.networks import get_network  # noqa: E402
from dse.resource_model import estimate_resources  # noqa: E402
from dse.synth import synth_counts  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from rtl.descriptor import Descriptor  # noqa: E402
from rtl.pe.requantiser import Requantiser  # noqa: E402
from rtl.verilog import to_verilog  # noqa: E402

from bench_vgg_conv3_1 import (DesignUnavailable, config_label, cut_shape, ensure_design,  # noqa: E402
                               full_layer_descriptors, predicted_cycles, simulate_conv)

LU_LIANG = (4.9, 5.8)


def limit_for(config) -> float:
    """Ops per PE-array multiplier per cycle at full occupancy (one DSP per multiply; spec
    section 7): 2 for the direct engine, 2*9*m^2/n^2 for Winograd F(m,3)."""
    engine = config.engine_description
    return engine.peak_ops_per_cycle(config) / sum(mul.count for mul in engine.multipliers(config))


def compute_dsps(config, synth: bool = True) -> dict:
    """DSPs of the PE array and of the requantiser: Yosys counts (``synth``) or the resource model."""
    model = {c.name: c.dsp for c in estimate_resources(config).components}
    pe_name = config.engine_description.multipliers(config)[0].component
    out = {"model_pe": model.get(pe_name, 0), "model_requantiser": model.get("requantiser", 0)}
    if not synth:
        out.update(pe=out["model_pe"], requantiser=out["model_requantiser"], source="DSE resource model")
        return out
    # The datapath is built only to take its PE array (and accumulator width); it is never elaborated.
    warnings.filterwarnings("ignore", category=UnusedElaboratable)
    dp = config.engine_description.datapath(config)
    pe = dp.pe
    pe_label = f"{type(pe).__name__}(m={config.m}, pm={config.pm}, pn={config.pn}, {config.data_width}-bit)"
    rq = Requantiser(config.pm, dp.acc_width, lanes=config.requant_lanes)
    counts = {}
    for key, comp, top in (("pe", pe, "pe_array"), ("requantiser", rq, "requantiser")):
        t0 = time.time()
        print(f"Yosys synth_xilinx of the {key} ...", file=sys.stderr)
        counts[key] = synth_counts(to_verilog(comp, top), top, family="xc7")
        print(f"  {counts[key]['DSP']} DSP in {time.time() - t0:.0f} s", file=sys.stderr)
    out.update(pe=counts["pe"]["DSP"], requantiser=counts["requantiser"]["DSP"], pe_label=pe_label,
               requantiser_label=f"Requantiser(pm={config.pm}, acc {dp.acc_width}, {config.requant_lanes} lanes)",
               source="Yosys synth_xilinx -family xc7")
    return out


def ideal_cycles(config, shape) -> int:
    """Cycles of the engine's schedule at one beat per cycle: every group's pass."""
    d = Descriptor(*shape)
    return math.ceil(d.out_channels / config.pm) * config.engine_description.pass_cycles(d, config).compute


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="auto", choices=["auto", "direct", "winograd"])
    ap.add_argument("--design", type=Path, default=None, help="deploy folder (default: see bench_vgg_conv3_1.py)")
    ap.add_argument("--rows", type=int, default=4, help="input rows simulated per layer (default 4)")
    ap.add_argument("--groups", type=int, default=1, help="output-channel groups of pm simulated per layer (default 1)")
    ap.add_argument("--full-below", type=int, default=0,
                    help="simulate layers at full size when the model puts them at most this many cycles (default 0)")
    ap.add_argument("--layers", default="all", help="comma-separated VGG16 conv layers (default all 13)")
    ap.add_argument("--no-synth", action="store_true", help="DSP counts from the resource model instead of Yosys")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        folder, design = ensure_design(args.engine, args.design)
    except DesignUnavailable as exc:
        print(f"ops per DSP, {args.engine} engine: no design to simulate: {exc}", file=sys.stderr)
        print(f"| engine | result |\n| --- | --- |\n| {args.engine} | not simulated: {exc} |")
        return 3
    config = AcceleratorConfig.from_dict(design["config"])
    layers = get_network("vgg16").conv_layers
    if args.layers != "all":
        wanted = args.layers.split(",")
        layers = [l for l in layers if l.name in wanted]
        if len(layers) != len(wanted):
            ap.error(f"unknown VGG16 conv layers in {args.layers}")
    dsps = compute_dsps(config, synth=not args.no_synth)
    total_dsp = dsps["pe"] + dsps["requantiser"]
    rng = np.random.default_rng(args.seed)
    rows_out = []
    full_ops = full_cycles = 0
    with simulated(folder) as accel:
        for layer in layers:
            full = (layer.in_channels, layer.out_channels, layer.height, layer.width, layer.kernel, layer.stride, layer.padding)
            model_full = predicted_cycles(config, full_layer_descriptors(config, full))
            shape = full if model_full <= args.full_below else cut_shape(layer, args.rows, args.groups, config.pm)
            _, m, h = shape[:3]
            print(f"simulating {layer.name} {shape} ...", file=sys.stderr)
            r = simulate_conv(accel, shape, rng, relu=layer.relu)
            model_cut = predicted_cycles(config, full_layer_descriptors(config, shape))
            full_ops += layer.ops
            full_cycles += model_full
            rows_out.append({
                "layer": layer.name, "C": layer.in_channels, "M": m, "rows": h, "W": layer.width,
                "cycles": r["cycles"], "ideal": ideal_cycles(config, shape), "active": r["active_cycles"],
                "utilisation": r["active_cycles"] / r["cycles"], "ops_per_cycle": r["ops"] / r["cycles"],
                "model_utilisation": ideal_cycles(config, shape) / model_cut,
                "ops_per_dsp": r["ops"] / r["cycles"] / total_dsp, "ops_per_pe_dsp": r["ops"] / r["cycles"] / dsps["pe"],
                "model_full_cycles": model_full, "full_ops_per_dsp": layer.ops / model_full / total_dsp,
                "full_utilisation": ideal_cycles(config, full) / model_full,
                "full_ops_per_pe_dsp": layer.ops / model_full / dsps["pe"], "bit_exact": r["bit_exact"],
                "wall_seconds": r["wall_seconds"],
            })
    limit = limit_for(config)
    summary = {
        "design": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder), "config": config_label(design["config"]),
        "dsps": dsps, "total_dsp": total_dsp, "limit_per_pe_dsp": limit,
        "limit_per_dsp": limit * dsps["pe"] / total_dsp if total_dsp else 0.0,
        "network_full_ops_per_dsp": full_ops / full_cycles / total_dsp,
        "network_full_ops_per_pe_dsp": full_ops / full_cycles / dsps["pe"], "lu_liang": LU_LIANG,
        "rows": args.rows, "groups": args.groups, "full_below": args.full_below,
    }
    if args.json:
        print(json.dumps({"summary": summary, "layers": rows_out}, indent=1))
        return 0 if all(r["bit_exact"] for r in rows_out) else 1
    print(f"VGG16 conv layers on {summary['design']} ({summary['config']}), cut to {args.rows} input rows and "
          f"{args.groups} group(s) of {config.pm} output channels"
          + (f" (full size when the model puts the layer at most {args.full_below} cycles)" if args.full_below else ""))
    print("| layer | C | M sim | rows x W | cycles | ideal | PE utilisation | same shape (model): PE utilisation | "
          "ops/cycle | ops/DSP/cycle | ops/PE-DSP/cycle | full layer (model): PE utilisation | "
          "full layer (model): ops/DSP/cycle | bit-exact |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows_out:
        print(f"| {r['layer']} | {r['C']} | {r['M']} | {r['rows']}x{r['W']} | {r['cycles']} | {r['ideal']} | "
              f"{r['utilisation']:.3f} | {r['model_utilisation']:.3f} | {r['ops_per_cycle']:.1f} | "
              f"{r['ops_per_dsp']:.3f} | {r['ops_per_pe_dsp']:.3f} | "
              f"{r['full_utilisation']:.3f} | {r['full_ops_per_dsp']:.3f} | {'yes' if r['bit_exact'] else 'NO'} |")
    print(f"| all 13, full size (model) | | | | {full_cycles} | | | | {full_ops / full_cycles:.1f} | "
          f"{summary['network_full_ops_per_dsp']:.3f} | {summary['network_full_ops_per_pe_dsp']:.3f} | | | |"
          if args.layers == "all" else "")
    print()
    pe_label = dsps.get("pe_label", "PE array")
    rq_label = dsps.get("requantiser_label", "requantiser")
    print(f"DSPs ({dsps['source']}): {pe_label} {dsps['pe']} + {rq_label} {dsps['requantiser']} = {total_dsp} "
          f"(resource model: {dsps['model_pe']} + {dsps['model_requantiser']}). Limits: {limit:g} ops per PE-array DSP "
          f"per cycle for this engine ({summary['limit_per_dsp']:.2f} counting the requantiser's DSPs); "
          f"Winograd F(4,3) 8, F(6,3) 10.1; Lu/Liang et al. {LU_LIANG[0]}-{LU_LIANG[1]}.")
    return 0 if all(r["bit_exact"] for r in rows_out) else 1


if __name__ == "__main__":
    raise SystemExit(main())
