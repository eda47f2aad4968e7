"""VGG16 conv3_1 (128 -> 256 channels, 56x56, 3x3, pad 1) on the PYNQ-Z2 design, in simulation.

    python bench/bench_vgg_conv3_1.py [--engine auto|direct|winograd] [--design DIR] [--max-rows N]
                                      [--seed N] [--pauses none|fixed|random] [--json]

Runs the layer through ``sim.backends.simulated`` (Verilator, the board driver's code) on the deploy
folder ``python -m dse.build`` writes for VGG16 on PYNQ-Z2 -- by default ``build/vgg16-pynq-z2``
(``--engine auto``, the default build) or ``build/vgg16-pynq-z2-<engine>`` (built with
``--engine <engine>`` when missing) -- with random int8 activations and weights, int32 biases and
per-channel multipliers/shifts that keep the outputs spread over int8. Checks the output bit for
bit against ``sim.reference`` and prints one table: simulated cycles (the IP's CYCLES counter,
AP_START to AP_DONE), the time at the design clock, its ratio to the reference PYNQ design's
17.85 s (and to that design's HLS estimate of 3.67 s; spec section 7), GOP/s, ops per cycle
against the array's peak, PE-array utilisation (ACTIVE_CYCLES / CYCLES), stalls, bytes moved,
and the DSE's cycle model for the same runs.

A full run simulates about 1.6 M cycles on the default design (F(4,3) pm = pn = 2): about 5 s
of simulation on the native backend.
``--max-rows N`` simulates the first N input rows only (the same 256 output channels, padding
1): the table then gives the measured cycles of the cut layer and a full-layer estimate, the
cut layer's cycles scaled by the model's full/cut ratio (the model is within 0.3 % of the
simulation, docs/results.md).

A Winograd design that ``rtl.top`` cannot build yet is reported as such (exit status 3) instead of
a number.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from sim.backends import simulated  # noqa: E402
from drivers.network import accelerator_runs, place_layer  # noqa: E402
from drivers.quantize import QuantizedLayer  # noqa: E402
from sim.backends.base import load_design_config  # noqa: E402
from dse.graph import Layer  # noqa: E402
from dse.perf_model import ideal_memory_port, peak_ops_per_cycle, run_cycles  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from rtl.descriptor import Descriptor  # noqa: E402
from rtl.engine import engine_named  # noqa: E402
from rtl.top import accelerator_verilog  # noqa: E402
from sim.reference import conv2d, requantize  # noqa: E402

#: Spec section 7: the reference PYNQ design (single-channel Vitis HLS conv, int32 Q8.8) on conv3_1.
REFERENCE_SECONDS = 17.85
REFERENCE_HLS_ESTIMATE_SECONDS = 3.67
#: VGG16 conv3_1: (C, M, H, W, K, stride, padding).
CONV3_1 = (128, 256, 56, 56, 3, 1, 1)


class DesignUnavailable(Exception):
    """The requested design cannot be built (the one sentence ``python -m dse.build`` printed)."""


def design_folder(engine: str = "auto", network: str = "vgg16", board: str = "pynq-z2") -> Path:
    """Where the bench keeps the design: the default build's folder for ``auto``."""
    suffix = "" if engine == "auto" else f"-{engine}"
    return ROOT / "build" / f"{network}-{board}{suffix}"


def _current(folder: Path) -> bool:
    """Whether the deploy folder's Verilog is what the current RTL generates for its configuration
    (a folder from an older checkout would give figures of hardware that no longer exists)."""
    config, _ = load_design_config(folder)
    verilog = folder / "rtl" / f"{config.name}.v"
    return verilog.is_file() and verilog.read_text() == accelerator_verilog(config)


def ensure_design(engine: str = "auto", folder: Path | None = None, network: str = "vgg16",
                  board: str = "pynq-z2", extra: tuple[str, ...] = ()) -> tuple[Path, dict]:
    """The deploy folder of ``python -m dse.build --network N --board B [--engine E]`` (built with
    the build's defaults when missing, and rebuilt when its Verilog is not what the current RTL
    generates for its configuration) and its design.json. Raises :class:`DesignUnavailable` with
    dse.build's message when it cannot be built, when an existing folder holds another engine
    than asked for, or when a folder given by the caller is stale (it is not rebuilt: its
    network and board may be others than the defaults)."""
    own = design_folder(engine, network, board)
    folder = Path(folder) if folder is not None else own
    stale = (folder / "design.json").is_file() and not _current(folder)
    if stale and folder.resolve() != own.resolve():
        raise DesignUnavailable(f"{folder} holds Verilog the current RTL no longer generates for its configuration: "
                                "rebuild it with python -m dse.build")
    if stale:
        print(f"{folder}: its Verilog is not what the current RTL generates for its configuration", file=sys.stderr)
    if stale or not (folder / "design.json").is_file():
        cmd = [sys.executable, "-m", "dse.build", "--network", network, "--board", board, "--out", str(folder), "--quiet"]
        if engine != "auto":
            cmd += ["--engine", engine]
        print(f"building {folder} ({' '.join(cmd[1:])}) ...", file=sys.stderr)
        proc = subprocess.run(cmd + list(extra), cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            raise DesignUnavailable(lines[-1] if lines else f"python -m dse.build exited with {proc.returncode}")
    design = json.loads((folder / "design.json").read_text())
    if engine != "auto" and design["config"]["engine"] != engine:
        raise DesignUnavailable(f"{folder} holds a {design['config']['engine']} design, not a {engine} one")
    return folder, design


def config_label(config: dict) -> str:
    eng = engine_named(config["engine"]).label(config["m"])
    return f"{eng} pm={config['pm']} pn={config['pn']}, {config['axi_data_width']}-bit AXI, {config['requant_lanes']} requant lanes"


def quant_params(rng: np.random.Generator, c: int, k: int, m: int):
    """int32 bias and per-channel (mult, shift) with mult in [2^30, 2^31) that map the spread of a
    sum of ``c*k*k`` random int8 products onto about +-40 (exercises the full 33x32-bit product)."""
    spread = math.sqrt(c * k * k) * 128 * 74
    bias = rng.integers(-(1 << 20), 1 << 20, size=m).astype(np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=m).astype(np.int64)
    shift = np.array([min(63, max(0, round(math.log2(int(v) * spread / 40)))) for v in mult], dtype=np.int64)
    return bias, mult.astype(np.int32), shift


def simulate_conv(accel, shape: tuple, rng: np.random.Generator, relu: bool = True) -> dict:
    """Run one conv layer ``(C, M, H, W, K, S, P)`` on the IP the way ``drivers.run_network`` does
    (placed and mapped by ``drivers.network.place_layer``: native, or column strips when rows
    exceed the line buffer) with random data; check it against sim.reference. Returns the summed
    counters of its runs, ``bit_exact``, ``runs``, ``mapping``, ``ops`` and ``wall_seconds``."""
    c, m, h, w, k, s, p = shape
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    layer = Layer("layer", "conv", c, m, h, w, ho, wo, k, s, p, relu)
    where = place_layer(layer, accel)
    if where.runs_on != "accelerator":
        raise ValueError(f"the IP cannot run {shape}: {where.reason}")
    x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, size=(m, c, k, k), dtype=np.int8)
    bias, mult, shift = quant_params(rng, c, k, m)
    ql = QuantizedLayer(layer, (1.0,), 1.0, weight=wt)
    runs, out_shape = accelerator_runs(ql, x, where.mapping, where.descriptors)
    y = np.empty(out_shape, dtype=np.int8)
    totals: dict[str, int] = {}
    t0 = time.perf_counter()
    for r in runs:
        y[:, :, r.columns] = accel.conv2d(r.x, r.w, bias=bias, mult=mult, shift=shift, stride=r.stride,
                                          padding=r.padding, relu=relu)
        for key, v in accel.counters.items():
            totals[key] = totals.get(key, 0) + v
    wall = time.perf_counter() - t0
    want = requantize(conv2d(x, wt, s, p), bias, mult, shift, relu)
    return dict(totals, bit_exact=bool(np.array_equal(y, want)), distinct_outputs=int(len(np.unique(y))),
                runs=len(runs), mapping=where.mapping, descriptors=[dict(d) for d in where.descriptors],
                ops=2 * m * c * k * k * ho * wo, wall_seconds=wall)


def cut_shape(layer, rows: int, groups: int, pm: int) -> tuple:
    """``(C, M, H, W, K, S, P)`` of ``layer`` cut to ``rows`` input rows (at least one window)
    and ``groups`` output-channel groups of ``pm``: full width, all input channels."""
    h = min(layer.height, max(rows, layer.kernel - 2 * layer.padding))
    m = min(layer.out_channels, groups * pm)
    return (layer.in_channels, m, h, layer.width, layer.kernel, layer.stride, layer.padding)


def predicted_cycles(config, descriptors: list[dict]) -> int:
    """The DSE's cycle model for these runs with the simulation's memory (no DDR limit)."""
    port = ideal_memory_port(config)
    return sum(run_cycles(Descriptor(**{k: d[k] for k in ("in_channels", "out_channels", "height", "width", "kernel",
                                                            "stride", "padding")}), config, port).cycles
               for d in descriptors)


def full_layer_descriptors(config, shape: tuple) -> list[dict]:
    """The runs of the whole layer as the DSE maps it on ``config`` (strips if needed)."""
    inv = Descriptor(*shape)
    runs = config.engine_description.strips(inv, config.pn, config.row_words, config.m)
    return [r.to_dict() for r in (runs or (inv,))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="auto", choices=["auto", "direct", "winograd"],
                    help="design to use: the default build (auto) or the best design of one engine")
    ap.add_argument("--design", type=Path, default=None, help="deploy folder (default: see --engine)")
    ap.add_argument("--max-rows", type=int, default=None, help="simulate only the first N input rows (quick variant)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    ap.add_argument("--pauses", default="none", choices=["none", "fixed", "random"], help="AXI pauses of the simulated memory")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    args = ap.parse_args(argv)
    if args.max_rows is not None and not 1 <= args.max_rows <= CONV3_1[2]:
        ap.error(f"--max-rows must be in 1..{CONV3_1[2]}")
    try:
        folder, design = ensure_design(args.engine, args.design)
    except DesignUnavailable as exc:
        print(f"VGG16 conv3_1, {args.engine} engine: no design to simulate: {exc}", file=sys.stderr)
        print(f"| engine | result |\n| --- | --- |\n| {args.engine} | not simulated: {exc} |")
        return 3
    config = AcceleratorConfig.from_dict(design["config"])
    plan = next((l for l in design["layers"] if l["name"] == "conv3_1"), None)
    c, m, h, w, k, s, p = CONV3_1
    rows = h if args.max_rows is None else args.max_rows
    shape = (c, m, rows, w, k, s, p)
    clock = config.clock_mhz * 1e6
    t0 = time.time()
    with simulated(folder, pauses=args.pauses, seed=args.seed) as accel:
        start_s = time.time() - t0
        r = simulate_conv(accel, shape, np.random.default_rng(args.seed))
    full_desc = full_layer_descriptors(config, CONV3_1)
    model_cut, model_full = predicted_cycles(config, r["descriptors"]), predicted_cycles(config, full_desc)
    cycles = r["cycles"]
    full_cycles = cycles if rows == h else round(cycles * model_full / model_cut)
    seconds = full_cycles / clock
    full_ops = 2 * m * c * k * k * h * w
    peak = peak_ops_per_cycle(config)
    result = {
        "design": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder),
        "config": config_label(design["config"]), "clock_mhz": config.clock_mhz,
        "plan_mapping": plan and plan.get("mapping"), "runs": r["runs"], "mapping": r["mapping"],
        "rows_simulated": rows, "cycles": cycles, "active_cycles": r["active_cycles"],
        "stall_read_cycles": r["stall_read_cycles"], "stall_write_cycles": r["stall_write_cycles"],
        "bytes_read": r["bytes_read"], "bytes_written": r["bytes_written"], "bit_exact": r["bit_exact"],
        "distinct_outputs": r["distinct_outputs"],
        "model_cycles": model_cut, "model_error": (model_cut - cycles) / cycles,
        "full_layer_cycles": full_cycles, "full_layer_estimated": rows != h,
        "seconds": seconds, "speedup_vs_reference": REFERENCE_SECONDS / seconds,
        "speedup_vs_hls_estimate": REFERENCE_HLS_ESTIMATE_SECONDS / seconds,
        "gops": full_ops / seconds / 1e9, "ops_per_cycle": r["ops"] / cycles, "peak_ops_per_cycle": peak,
        "utilisation": r["active_cycles"] / cycles, "board_model_cycles": plan and plan.get("predicted_cycles"),
        "wall_seconds": r["wall_seconds"], "simulation_start_seconds": start_s, "pauses": args.pauses,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0 if r["bit_exact"] else 1
    cut = "" if rows == h else f" (first {rows} of {h} input rows simulated)"
    est = " (estimate: cut-layer cycles x model full/cut)" if rows != h else ""
    print(f"VGG16 conv3_1, {c} -> {m} channels, {h}x{w}, 3x3, pad 1, on {result['design']}{cut}")
    print("| quantity | value |")
    print("| --- | --- |")
    print(f"| design | {result['config']}, {config.clock_mhz:g} MHz |")
    print(f"| runs (mapping) | {r['runs']} ({r['mapping']}) |")
    print(f"| simulated cycles{' of the cut layer' if rows != h else ''} | {cycles:,} |")
    print(f"| DSE cycle model, same runs (simulation's memory) | {model_cut:,} ({100 * result['model_error']:+.2f} %) |")
    if rows != h:
        print(f"| full-layer cycles{est} | {full_cycles:,} |")
    if result["board_model_cycles"]:
        print(f"| DSE prediction on the board's DDR (design.json) | {result['board_model_cycles']:,} cycles = "
              f"{result['board_model_cycles'] / clock:.3f} s |")
    print(f"| layer time at {config.clock_mhz:g} MHz{' (estimate)' if rows != h else ''} | {seconds:.3f} s |")
    print(f"| reference PYNQ design (spec section 7) | {REFERENCE_SECONDS} s: {result['speedup_vs_reference']:.1f}x faster "
          f"(HLS estimate {REFERENCE_HLS_ESTIMATE_SECONDS} s: {result['speedup_vs_hls_estimate']:.1f}x) |")
    print(f"| GOP/s at {config.clock_mhz:g} MHz | {result['gops']:.1f} |")
    print(f"| ops per cycle / peak | {result['ops_per_cycle']:.1f} / {peak} ({result['ops_per_cycle'] / peak:.3f}) |")
    print(f"| PE-array utilisation (ACTIVE_CYCLES / CYCLES) | {result['utilisation']:.4f} |")
    print(f"| read / write stall cycles | {r['stall_read_cycles']:,} / {r['stall_write_cycles']:,} |")
    print(f"| bytes read / written | {r['bytes_read']:,} / {r['bytes_written']:,} |")
    print(f"| bit-exact against sim.reference | {'yes' if r['bit_exact'] else 'NO'} ({r['distinct_outputs']} distinct int8 values) |")
    print(f"| wall time of the simulated layer | {r['wall_seconds']:.1f} s ({cycles / r['wall_seconds']:,.0f} cycles/s) |")
    return 0 if r["bit_exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
