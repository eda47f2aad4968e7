"""Fit the DSE's LUT/FF resource model to Yosys ``synth_xilinx`` counts of the real modules.

    python bench/calibrate_resources.py [--family xc7] [--quick] [--out dse/resource_coefficients.json]

For every component of ``dse.resource_model`` whose Amaranth module exists, the script builds it
for a sweep of configurations, synthesises each with ``dse.synth.synth_counts`` (cached by
Verilog hash under ``~/.cache/convforge/synth``), fits the component's LUT and FF coefficients by
least squares on its features, and checks the DSP and BRAM36 rules against the measured counts.
The whole accelerator (``rtl.top.ConvAccelerator``) is synthesised too: what the components do
not explain is fitted as ``top_glue`` (sequencer, DMA width converters, FIFOs), and the complete
model's error against the whole top is printed and stored.

Components whose module does not exist yet keep a prior (``"calibrated": false``) with the
reasoning written next to it. Prints a table; writes the coefficient file (committed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dse.resource_model import (COEFFICIENTS_PATH, FEATURES, bram36_for, component_params,  # noqa: E402
                                estimate_resources, feature_vector, memories)
from dse.synth import SynthError, synth_counts  # noqa: E402
from rtl.axi.control_slave import ControlSlave  # noqa: E402
from rtl.axi.read_master import AXI4ReadMaster  # noqa: E402
from rtl.axi.write_master import AXI4WriteMaster  # noqa: E402
from rtl.buffers.line_buffer import DirectLineBuffer  # noqa: E402
from rtl.buffers.output_buffer import OutputBuffer  # noqa: E402
from rtl.buffers.tile_buffer import WinogradTileBuffer  # noqa: E402
from rtl.buffers.weight_buffer import WeightBuffer  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from rtl.engine import engine_named  # noqa: E402
from rtl.control.layer_check import LayerCheck  # noqa: E402
from rtl.pe.ewmm_array import EwmmArray  # noqa: E402
from rtl.pe.mac_array import MacArray  # noqa: E402
from rtl.pe.requantiser import Requantiser  # noqa: E402
from rtl.pe.winograd_filter_transform import WinogradFilterTransform  # noqa: E402
from rtl.pe.winograd_input_transform import WinogradInputTransform  # noqa: E402
from rtl.pe.winograd_output_transform import WinogradOutputTransform  # noqa: E402
from rtl.registers import control_register_map  # noqa: E402
from rtl.top import ConvAccelerator  # noqa: E402
from rtl.verilog import cache_root  # noqa: E402
from rtl.verilog import to_verilog  # noqa: E402

# ----- priors for components Yosys cannot synthesise -------------------------------------------
#: Coefficients per feature of FEATURES[name] (LUT, FF) and why. One adder bit costs about one
#: LUT (carry chain) and one register bit one FF; shift-add constants are adders.
PRIORS = {
    "mac_array": ([300, 1.0, 1.0, 1.0], [100, 3.0, 1.0, 1.0], "adder tree ~1 LUT per product bit, accumulators pm*acc"),
    "requantiser": ([200, 400, 0.5], [300, 300, 2.0], "per lane: 33-bit adder, 64-bit round adder, barrel shifter, clamp"),
    "line_buffer": ([400, 2.0, 40], [300, 2.0, 20], "address counters and padding muxes"),
    "weight_buffer": ([150, 0.0, 10], [60, 1.0, 6], "bank control; the read word registers in BRAM"),
    "axi_read": ([600, 4.0], [500, 3.0], "burst planner, realignment shifter (~log2(bytes) LUT per bit)"),
    "axi_write": ([600, 5.0], [500, 3.0], "burst planner, alignment shifter, strobes"),
    "control": ([800], [1200], "~40 registers of 32 bits, read multiplexer"),
    "layer_check": ([600], [700], "descriptor checks and a sequential multiplier"),
    "top_glue": ([1500, 4.0, 0.0, 2000, 0.0], [1500, 3.0, 0.0, 2000, 0.0], "FSM, command issuers, width converters, FIFOs"),
    "winograd_input_transform": ([1.0], [1.0], "one LUT and one FF per adder bit"),
    "winograd_filter_transform": ([1.0], [1.0], "one LUT and one FF per adder bit"),
    "ewmm_array": ([200, 1.0, 1.0], [100, 1.0, 1.0], "adder tree over pn products, accumulators"),
    "winograd_output_transform": ([1.0], [1.0], "one LUT and one FF per adder bit"),
    "tile_buffer": ([500, 1.0, 40], [400, 1.0, 20], "tile register n x n x pn and address counters (module not written yet)"),
    "output_buffer": ([300, 8.0], [200, 8.0], "strip double buffer control (module not written yet)"),
}


def _cfg(pm, pn, dw=8, axi=64, lanes=1, engine="direct", m=0, max_channels=512, max_width=224, kernel=3):
    cg = math.ceil(max_channels / pn)
    pn = pn
    return AcceleratorConfig(engine=engine, m=m, pm=pm, pn=pn, data_width=dw, axi_data_width=axi,
                             max_width=max_width, max_height=max_width, max_channels=max_channels,
                             max_kernel=kernel, max_stride=2 if engine_named(engine).stride is None else 1, clock_mhz=150,
                             requant_lanes=lanes, max_row_words=min(max(1, max_width * max_channels // 2 // pn), max_width * cg),
                             max_weight_taps=cg * kernel ** 2)


#: Direct-engine sweep (component fits) and the tops synthesised whole.
DIRECT_SAMPLES = [
    _cfg(2, 2, 8, 64, 1), _cfg(4, 8, 8, 64, 2), _cfg(8, 8, 8, 128, 1), _cfg(8, 4, 16, 64, 4),
    _cfg(16, 8, 8, 128, 8), _cfg(2, 16, 8, 64, 2),
]
#: Buffer sweep: small maxima keep Yosys fast (the LUT/FF features are log2(depth) and word widths;
#: BRAM is counted by the exact rule, checked separately).
BUFFER_SAMPLES = [
    _cfg(2, 2, 8, 64, 1, max_channels=64, max_width=56), _cfg(4, 8, 8, 64, 2, max_channels=128, max_width=28),
    _cfg(8, 8, 8, 128, 1, max_channels=256, max_width=14), _cfg(8, 4, 16, 64, 4, max_channels=64, max_width=56),
]
#: Whole tops at moderate maxima (the glue's counters barely depend on them, and at VGG16 sizes
#: one synthesis takes over 15 minutes); bench/bench_timing.py checks the complete model against
#: the DSE's full-size default designs, which are not among these.
TOP_SAMPLES = [_cfg(pm, pn, 8, axi, lanes, engine, m, max_channels=128, max_width=56)
               for pm, pn, axi, lanes, engine, m in ((2, 2, 64, 1, "direct", 0), (4, 8, 64, 2, "direct", 0),
                                                      (8, 8, 128, 1, "direct", 0), (12, 4, 64, 2, "direct", 0),
                                                      (32, 2, 128, 4, "direct", 0), (1, 1, 64, 1, "winograd", 2),
                                                      (2, 2, 64, 2, "winograd", 4))]
WINO_SAMPLES = [_cfg(1, 1, 8, 64, 1, "winograd", m) for m in (2, 4, 6)] + [
    _cfg(2, 2, 8, 64, 1, "winograd", 2), _cfg(1, 2, 8, 64, 1, "winograd", 4)]


def _builders():
    """component name -> (function(config) building the module, sample configurations)."""

    def mac(c):
        return MacArray(c.pm, c.pn, c.data_width, max_terms=c.max_terms)

    def rq(c):
        return Requantiser(c.pm, c.acc_width, lanes=c.requant_lanes)

    def lb(c):
        return DirectLineBuffer(c.pn, c.data_width, c.max_width, c.max_channel_groups, c.max_kernel,
                                c.max_stride, row_words=c.row_words)

    def wb(c):
        return WeightBuffer(c.pm, c.pn, c.data_width, c.weight_depth)

    def axr(c):
        return AXI4ReadMaster(data_width=c.axi_data_width, addr_width=c.axi_addr_width, max_outstanding=c.outstanding_reads)

    def axw(c):
        return AXI4WriteMaster(data_width=c.axi_data_width, addr_width=c.axi_addr_width)

    def ctl(c):
        return ControlSlave(control_register_map(c))

    def chk(c):
        return LayerCheck(c)

    def win(c):
        return WinogradInputTransform(c.m, c.pn, c.data_width)

    def wfl(c):
        return WinogradFilterTransform(c.m, c.pm, c.pn, c.data_width)

    def ewmm(c):
        return EwmmArray(c.m, c.pm, c.pn, c.data_width, c.max_channel_groups * c.pn)

    def wout(c):
        return WinogradOutputTransform(c.m, c.pm, c.data_width, c.max_channel_groups * c.pn)

    def tile(c):
        return WinogradTileBuffer(c.m, c.pn, c.data_width, c.max_width, c.max_channel_groups, c.row_words,
                                  max_height=c.max_height)

    def outbuf(c):
        return OutputBuffer(c.m, c.pm, c.engine_description.datapath(c).acc_width, c.max_width, max_height=c.max_height)

    return {
        "mac_array": (mac, DIRECT_SAMPLES), "requantiser": (rq, DIRECT_SAMPLES),
        "line_buffer": (lb, BUFFER_SAMPLES), "weight_buffer": (wb, BUFFER_SAMPLES),
        "axi_read": (axr, [DIRECT_SAMPLES[0], DIRECT_SAMPLES[2]]), "axi_write": (axw, [DIRECT_SAMPLES[0], DIRECT_SAMPLES[2]]),
        "control": (ctl, DIRECT_SAMPLES[:1]), "layer_check": (chk, DIRECT_SAMPLES[:1]),
        "winograd_input_transform": (win, WINO_SAMPLES), "winograd_filter_transform": (wfl, WINO_SAMPLES),
        "ewmm_array": (ewmm, WINO_SAMPLES), "winograd_output_transform": (wout, WINO_SAMPLES),
        "tile_buffer": (tile, WINO_SAMPLES[:1]), "output_buffer": (outbuf, WINO_SAMPLES[:1]),
    }


def cached_synth(verilog: str, top: str, family: str) -> dict:
    key = hashlib.sha256(f"{family}\n{top}\n{verilog}".encode()).hexdigest()[:24]
    path = cache_root() / "synth" / f"{top}-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    counts = synth_counts(verilog, top, family=family)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(counts))
    return counts


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def _rel(pred, meas):
    return abs(pred - meas) / max(meas, 1.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="xc7", choices=["xc7", "xcup"])
    ap.add_argument("--quick", action="store_true", help="two samples per component, no whole-top runs")
    ap.add_argument("--no-top", action="store_true", help="skip the whole-accelerator runs")
    ap.add_argument("--out", type=Path, default=COEFFICIENTS_PATH)
    ap.add_argument("--only", default="", help="comma-separated components to refit; the others keep their "
                    "coefficients from --out (incremental calibration)")
    args = ap.parse_args(argv)

    out = {"generated_by": "bench/calibrate_resources.py", "family": args.family, "components": {}, "checks": {}}
    only = [n for n in args.only.split(",") if n]
    if only and args.out.exists():
        previous = json.loads(args.out.read_text())
        out["components"] = {k: v for k, v in previous["components"].items() if k not in only}
        out["checks"] = previous.get("checks", {})
    started = time.time()
    for name, (build, samples) in _builders().items():
        if only and name not in only:
            continue
        if args.quick:
            samples = samples[:2]
        names = FEATURES[name][0]
        rows, lut, ff, checks = [], [], [], []
        try:
            for cfg in samples:
                module = build(cfg)
                t0 = time.time()
                counts = cached_synth(to_verilog(module, name), name, args.family)
                params = component_params(cfg)[name]
                rows.append(feature_vector(name, params))
                lut.append(counts["LUT"])
                ff.append(counts["FF"])
                checks.append({"config": {k: getattr(cfg, k) for k in ("engine", "m", "pm", "pn", "data_width", "axi_data_width", "requant_lanes")},
                               "full_config": cfg.to_dict(),
                               "params": params, "LUT": counts["LUT"], "FF": counts["FF"], "DSP": counts["DSP"],
                               "BRAM36": counts["BRAM36"], "LUTRAM": counts["LUTRAM"], "seconds": round(time.time() - t0, 1)})
                print(f"{name:28s} {checks[-1]['config']} LUT {counts['LUT']:6d} FF {counts['FF']:6d} "
                      f"DSP {counts['DSP']:4d} BRAM36 {counts['BRAM36']:5.1f}", flush=True)
        except SynthError as exc:
            lc, fc, why = PRIORS[name]
            exc = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            out["components"][name] = {"features": list(names), "LUT": lc, "FF": fc, "calibrated": False,
                                       "source": f"prior ({why}); module unavailable: {exc}"}
            print(f"{name:28s} prior: {exc}", flush=True)
            continue
        x = np.array(rows, dtype=float)
        # With fewer samples than features, keep the prior's slopes and fit the constant only.
        if len(rows) < len(names):
            lc, fc, _ = PRIORS[name]
            lc = list(lc)
            fc = list(fc)
            lc[0] += float(np.mean(np.array(lut) - x @ np.array(lc)))
            fc[0] += float(np.mean(np.array(ff) - x @ np.array(fc)))
            lcoef, fcoef = np.array(lc), np.array(fc)
        else:
            lcoef, fcoef = fit(x, np.array(lut, float)), fit(x, np.array(ff, float))
        for c, r in zip(checks, rows):
            c["pred_LUT"] = round(float(np.dot(lcoef, r)))
            c["pred_FF"] = round(float(np.dot(fcoef, r)))
        err = {"LUT": max(_rel(c["pred_LUT"], c["LUT"]) for c in checks),
               "FF": max(_rel(c["pred_FF"], c["FF"]) for c in checks)}
        out["components"][name] = {
            "features": list(names), "LUT": [round(float(v), 4) for v in lcoef],
            "FF": [round(float(v), 4) for v in fcoef], "calibrated": True,
            "source": f"least-squares fit to {len(rows)} Yosys synth_xilinx -family {args.family} runs",
            "max_rel_error": {k: round(v, 4) for k, v in err.items()}, "samples": checks,
        }
    # Whole accelerator: fit the glue on the residual, then report the complete model's error.
    tops = []
    if not (args.quick or args.no_top):
        out["components"]["top_glue"] = {"features": list(FEATURES["top_glue"][0]), "LUT": [0.0] * len(FEATURES["top_glue"][0]),
                                         "FF": [0.0] * len(FEATURES["top_glue"][0]), "calibrated": True}
        rows, rl, rf = [], [], []
        for cfg in TOP_SAMPLES:
            t0 = time.time()
            try:
                counts = cached_synth(to_verilog(ConvAccelerator(cfg), cfg.name), cfg.name, args.family)
            except SynthError as exc:
                print(f"top {cfg.name}: Yosys failed ({str(exc).strip() or 'no message'})", flush=True)
                out["checks"].setdefault("top_failures", []).append({"config": cfg.to_dict(), "error": str(exc).strip()})
                continue
            est = estimate_resources(cfg, args.family, out)
            rows.append(feature_vector("top_glue", component_params(cfg)["top_glue"]))
            rl.append(counts["LUT"] - est.totals["LUT"])
            rf.append(counts["FF"] - est.totals["FF"])
            tops.append((cfg, counts, round(time.time() - t0, 1)))
            print(f"top {cfg.name}: LUT {counts['LUT']} FF {counts['FF']} DSP {counts['DSP']} BRAM36 {counts['BRAM36']}", flush=True)
        if not rows:
            del out["components"]["top_glue"]
            rows = None
        if rows:
            x = np.array(rows)
            # Every feature once there are more samples than features; with fewer, the constant,
            # the bus width and (when both engines were measured) the Winograd constant.
            nf = len(FEATURES["top_glue"][0])
            if len(rows) > nf:
                cols = list(range(nf))
            else:
                cols = ([0, 1, 3] if len({r[3] for r in rows}) > 1 else [0, 1])[:len(rows)]
            lc, fc = [0.0] * nf, [0.0] * nf
            for i, v in zip(cols, fit(x[:, cols], np.array(rl, float))):
                lc[i] = float(v)
            for i, v in zip(cols, fit(x[:, cols], np.array(rf, float))):
                fc[i] = float(v)
            out["components"]["top_glue"] = {
                "features": list(FEATURES["top_glue"][0]), "LUT": [round(float(v), 4) for v in lc],
                "FF": [round(float(v), 4) for v in fc], "calibrated": True,
                "source": f"residual of {len(rows)} whole-accelerator runs after the component models",
            }
    if "top_glue" not in out["components"]:
        lc, fc, why = PRIORS["top_glue"]
        out["components"]["top_glue"] = {"features": list(FEATURES["top_glue"][0]), "LUT": lc, "FF": fc,
                                         "calibrated": False, "source": f"prior ({why})"}
    # Complete-model check against the whole tops, with DSP and BRAM exactness.
    top_checks = []
    for cfg, counts, secs in tops:
        est = estimate_resources(cfg, args.family, out).totals
        top_checks.append({"config": cfg.to_dict(), "measured": {k: counts[k] for k in ("LUT", "FF", "DSP", "BRAM36", "LUTRAM")},
                           "predicted": est, "seconds": secs,
                           "rel_error": {k: round(_rel(est[k], counts[k]), 4) for k in ("LUT", "FF", "DSP", "BRAM36")}})
    out["checks"]["top"] = top_checks
    mem_checks = []
    for name in ("line_buffer", "weight_buffer"):
        comp = out["components"].get(name, {})
        for c in comp.get("samples", []):
            cfg = AcceleratorConfig.from_dict(c["full_config"])
            pred = sum(bram36_for(mm.width, mm.depth) * mm.count for mm in memories(cfg)
                       if mm.name.startswith(name.split("_")[0]))
            mem_checks.append({"component": name, "params": c["params"], "BRAM36": c["BRAM36"], "predicted": pred})
    out["checks"]["bram"] = mem_checks
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"\nwrote {args.out} in {time.time() - started:.0f} s")
    print(f"{'component':28s} {'calibrated':10s} max LUT err  max FF err")
    for name, comp in out["components"].items():
        e = comp.get("max_rel_error", {})
        print(f"{name:28s} {str(comp['calibrated']):10s} {e.get('LUT', float('nan')):10.1%} {e.get('FF', float('nan')):10.1%}")
    for t in top_checks:
        print(f"top pm={t['config']['pm']} pn={t['config']['pn']}: measured {t['measured']} predicted {t['predicted']} error {t['rel_error']}")
    for b in mem_checks:
        print(f"BRAM {b['component']} {b['params']}: measured {b['BRAM36']} predicted {b['predicted']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
