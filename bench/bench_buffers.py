"""Throughput once primed (cocotb + Verilator) and Yosys BRAM counts of the on-chip buffers.

    python bench/bench_buffers.py [--no-throughput] [--synth [--only NAME]] [--family xc7] [--out FILE]

Throughput: each buffer is built at a moderate size (pn = pm = 8, int8) and driven with no
stalls by the testbenches in tests/rtl/tb_*buffer*.py; the figure is beats handed over on ``o``
divided by the cycles from the first to the last of them (the line buffer and weight buffer
over a whole pass, the Winograd tile buffer per row of tiles -- between rows it waits for m new
input rows -- and the output buffer over a whole pass). ``--synth`` adds Yosys
``synth_xilinx`` counts of typical sizes (one to a few minutes each). Prints markdown (and
writes it to ``--out``). Nothing is asserted here; the tests do that.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dse.synth import synth_counts  # noqa: E402
from rtl.buffers import DirectLineBuffer, OutputBuffer, WeightBuffer, WinogradTileBuffer, tile_region_depth  # noqa: E402
from sim.toolchain import PARAMS_ENV  # noqa: E402
from sim.toolchain import build, run_cocotb  # noqa: E402
from rtl.verilog import to_verilog  # noqa: E402
from tests.rtl.tb_buffer_harness import layout_fields  # noqa: E402


def _run(dut, top, module, testcase, params):
    report = Path(tempfile.mkdtemp(prefix="bench-buffers-")) / "report.json"
    model = build(to_verilog(dut, top), top)
    run_cocotb(model, module, testcase=testcase, extra_env={PARAMS_ENV: json.dumps(dict(params, report=str(report)))})
    return json.loads(report.read_text())


def throughput_rows() -> list[tuple]:
    rows = []
    lb = DirectLineBuffer(8, 8, 56, 4, 3, 2, row_words=128, max_height=64)
    cfgs = [(56, 8, 2, 3, 1, 1), (28, 8, 4, 3, 2, 1), (56, 6, 2, 1, 1, 0)]
    params = dict(pn=8, data_width=8, rows=lb.rows, cfg_fields=layout_fields(lb.cfg_layout),
                  tap_fields=layout_fields(lb.tap_layout), configs=cfgs, throughput_configs=cfgs)
    for r in _run(lb, "bench_line_buffer", "tests.rtl.tb_line_buffer", "one_tap_per_cycle", params):
        w, h, cg, k, s, p = r["cfg"]
        rows.append(("DirectLineBuffer pn=8", f"W={w} H={h} CG={cg} K={k} S={s} P={p}", "taps",
                     r["beats"], r["cycles"]))

    wb = WeightBuffer(8, 8, 8, 36)
    params = dict(pm=8, pn=8, data_width=8, depth=36, load_fields=layout_fields(wb.load_layout),
                  tap_fields=layout_fields(wb.tap_layout), out_fields=layout_fields(wb.o.payload.shape()))
    r = _run(wb, "bench_weight_buffer", "tests.rtl.tb_weight_buffer", "one_beat_per_cycle", params)
    rows.append(("WeightBuffer pm=pn=8 depth=36", f"{r['groups']} groups, bank swaps included", "beats",
                 r["beats"], r["cycles"]))

    for m in (2, 4):
        tb = WinogradTileBuffer(m, 8, 8, 56, 4, row_words=128, max_height=64)
        cfgs = [(56, 10, 2, 1), (28, 12, 4, 1)]
        params = dict(m=m, pn=8, data_width=8, cfg_fields=layout_fields(tb.cfg_layout),
                      tile_fields=layout_fields(tb.tile_layout), configs=cfgs, throughput_configs=cfgs,
                      tall_configs=[])
        for r in _run(tb, f"bench_tile_buffer_m{m}", "tests.rtl.tb_tile_buffer", "one_tile_per_cycle", params):
            w, h, cg, p = r["cfg"]
            per_row = r["tiles_per_row"]
            rows.append((f"WinogradTileBuffer m={m} pn=8", f"W={w} H={h} CG={cg} P={p}, per tile row", "tiles",
                         per_row * len(r["row_cycles"]), sum(r["row_cycles"])))
            rows.append((f"WinogradTileBuffer m={m} pn=8", f"W={w} H={h} CG={cg} P={p}, whole pass", "tiles",
                         r["tiles"], r["cycles"]))

    ob = OutputBuffer(4, 8, 32, 56, max_height=64)
    cfgs = [(56, 12), (54, 10)]
    params = dict(m=4, pm=8, data_width=32, cfg_fields=layout_fields(ob.cfg_layout), configs=cfgs,
                  throughput_configs=cfgs)
    for r in _run(ob, "bench_output_buffer", "tests.rtl.tb_output_buffer", "one_pixel_per_cycle", params):
        w, h = r["cfg"]
        rows.append(("OutputBuffer m=4 pm=8 32-bit", f"Wo={w} Ho={h}", "pixels", r["pixels"], r["cycles"]))
    return rows


def synth_cases():
    """(name, factory, stored bits) at the sizes of typical builds (built only when synthesised)."""
    return [
        ("DirectLineBuffer pn=8 W<=224 CG<=8 K<=3 (row_words 1792)",
         lambda: DirectLineBuffer(8, 8, 224, 8, 3), 5 * 1792 * 64),
        ("DirectLineBuffer pn=8 W<=224 CG<=64 K<=3 (row_words 896, VGG16)",
         lambda: DirectLineBuffer(8, 8, 224, 64, 3, row_words=896), 5 * 896 * 64),
        ("WeightBuffer pm=pn=8 depth 576 (VGG16: 64 CG x 9 taps)", lambda: WeightBuffer(8, 8, 8, 576), 2 * 576 * 512),
        ("WeightBuffer pm=pn=8 depth 72 (8 CG x 9 taps)", lambda: WeightBuffer(8, 8, 8, 72), 2 * 72 * 512),
        ("WinogradTileBuffer m=4 pn=8 W<=224 CG<=64 (row_words 896)",
         lambda: WinogradTileBuffer(4, 8, 8, 224, 64, row_words=896), tile_bank_bits(4, 896)),
        ("WinogradTileBuffer m=2 pn=8 W<=224 CG<=64 (row_words 896)",
         lambda: WinogradTileBuffer(2, 8, 8, 224, 64, row_words=896), tile_bank_bits(2, 896)),
        ("OutputBuffer m=4 pm=8 32-bit W<=224", lambda: OutputBuffer(4, 8, 32, 224), 2 * 4 * 224 * 8 * 32),
    ]


def tile_bank_bits(m: int, row_words: int) -> int:
    """Bits stored by WinogradTileBuffer(m, 8, 8, 224, 64, row_words): n*n banks of 64-bit words,
    m B-row lanes of 2 regions and 2 D-row lanes of 3 regions (+ the zero word), per column bank."""
    n = m + 2
    region = tile_region_depth(m, 224, 64, row_words)
    return n * (m * (2 * region + 1) + 2 * (3 * region + 1)) * 64


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-throughput", action="store_true", help="skip the simulations")
    parser.add_argument("--synth", action="store_true", help="add Yosys counts of typical sizes (minutes)")
    parser.add_argument("--only", default="", help="synthesise only the cases whose name contains this")
    parser.add_argument("--family", default="xc7", choices=["xc7", "xcup"])
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)

    lines = []
    if not args.no_throughput:
        start = time.time()
        rows = throughput_rows()
        lines += ["## Throughput once primed (Verilator, no stalls)", "",
                  "| buffer | pass | unit | beats | cycles first..last beat | beats per cycle |", "|---|---|---|---|---|---|"]
        lines += [f"| {b} | {p} | {u} | {n} | {c} | {n / c:.3f} |" for b, p, u, n, c in rows]
        lines += ["", f"({time.time() - start:.0f} s including Verilator builds)", ""]
        print("\n".join(lines), flush=True)
    if args.synth:
        synth = ["## Yosys synth_xilinx -family " + args.family, "",
                 "| buffer | stored kbit | BRAM36 (RAMB18 = 0.5) | RAMB36E1 | RAMB18E1 | LUTRAM | LUT | FF | seconds |",
                 "|---|---|---|---|---|---|---|---|---|"]
        print("\n".join(synth), flush=True)
        for name, factory, bits in synth_cases():
            if args.only not in name:
                continue
            dut = factory()
            start = time.time()
            c = synth_counts(to_verilog(dut, "buf"), "buf", family=args.family)
            cells = c["cells"]
            row = (f"| {name} | {bits / 1024:.0f} | {c['BRAM36']:g} | {cells.get('RAMB36E1', 0) + cells.get('RAMB36E2', 0)} | "
                   f"{cells.get('RAMB18E1', 0) + cells.get('RAMB18E2', 0)} | {c['LUTRAM']} | {c['LUT']} | {c['FF']} | "
                   f"{time.time() - start:.0f} |")
            synth.append(row)
            print(row, flush=True)
        lines += synth + [""]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
