"""The deploy folder's documents: design.json, report.json, report.md and the PNG plots.

* ``design.json``: what the driver and ``sim.run`` need: ``config`` (AcceleratorConfig.to_dict()),
  ``network``, ``board``, ``clock_mhz``, ``layers`` (per layer: name, kind, shapes, kernel,
  stride, padding, relu, ``runs_on`` = "accelerator"/"cpu", ``reason``, ``predicted_cycles``, and
  the plan: ``mapping``, ``tiles``, ``descriptors`` = the runs to start), and ``register_map``
  (``rtl.registers.control_register_map(config).to_dict()``).
* ``report.json`` / ``report.md``: the chosen configuration, per-layer table (ops, predicted
  cycles, GOP/s, compute or memory bound, where it runs), totals (fps, GOP/s), predicted
  resources against the board (and Yosys counts with ``--synth``), and the search history.
* ``ga_convergence.png`` (best and mean feasible fps per generation) and ``roofline.png`` (the
  accelerated layers against the design's compute roof and its memory-bandwidth roof).
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

from matplotlib.figure import Figure

from rtl.registers import control_register_map

from .design import Design
from .ga import SearchResult
from .perf_model import CONSTANTS, memory_port
from .resource_model import HEADROOM
from .schedule import run_lists

__all__ = ["design_dict", "report_dict", "write_design_json", "write_report", "plot_convergence", "plot_roofline",
           "DESIGN_LAYER_KEYS", "timing_lines"]

#: Keys every layer entry of design.json has (the driver's contract).
DESIGN_LAYER_KEYS = ("name", "kind", "in_channels", "out_channels", "height", "width", "kernel", "stride",
                     "padding", "relu", "runs_on", "reason", "predicted_cycles")


def design_dict(design: Design) -> dict:
    cfg = design.config
    layers = []
    for p in design.plans:
        d = p.to_dict()
        layers.append({k: d[k] for k in DESIGN_LAYER_KEYS} | {
            "out_height": d["out_height"], "out_width": d["out_width"], "inputs": d["inputs"],
            "op_type": d["op_type"], "mapping": d["mapping"], "tiles": d["tiles"], "descriptors": d["descriptors"],
            "table": d["table"], "pool": d["pool"],
        })
    out = {
        "config": cfg.to_dict(),
        "name": cfg.name,
        "network": design.network.name,
        "input_shape": list(design.network.input_shape),
        "board": design.board.name,
        "part": design.board.part,
        "clock_mhz": cfg.clock_mhz,
        "layers": layers,
    }
    out["register_map"] = control_register_map(cfg).to_dict()
    return out


def _starts(design: Design) -> int:
    """AP_STARTs per frame: one per run list, one per run of every other accelerated layer."""
    cfg = design.config
    lists = run_lists(design.plans, cfg.pm, cfg.pn)
    listed = {name for names in lists for name in names}
    return len(lists) + sum(len(p.descriptors) for p in design.accelerated if p.layer.name not in listed)


def report_dict(design: Design, search: SearchResult, *, engines: list[str],
                measured: dict | None = None, timing: dict | None = None, settings: dict | None = None) -> dict:
    cfg, board, res = design.config, design.board, design.resources
    port = memory_port(cfg, board)
    acc_ops = sum(p.layer.ops for p in design.accelerated)
    totals = {
        "fps": design.fps,
        "seconds_per_frame": design.seconds,
        "gops": design.gops,
        "ops": design.network.ops,
        "accelerated_ops_fraction": acc_ops / design.network.ops if design.network.ops else 0.0,
        "accelerator_seconds": design.accelerator_seconds,
        # Of those, the CPU's work around the runs (driver, activation relayout; host_seconds).
        "host_seconds": sum(p.alternatives.get("host_seconds", 0.0) for p in design.accelerated),
        # AP_STARTs per frame: one per run list (dse.schedule.run_lists), one per other run.
        "starts_per_frame": _starts(design),
        "cpu_seconds": design.cpu_seconds,
        "accelerator_gops": acc_ops / design.accelerator_seconds / 1e9 if design.accelerator_seconds else 0.0,
        "peak_gops": design.peak_gops,
        "bandwidth_gbps": min(port.read_bpc * cfg.clock_mhz * 1e6, port.shared_bpc * cfg.clock_mhz * 1e6) / 1e9,
    }
    resources = {
        "predicted": res.totals,
        "board": board.resources,
        "headroom": HEADROOM,
        "utilisation": {k: round(v, 4) for k, v in res.utilisation(board).items()},
        "calibrated": res.calibrated,
        "components": res.to_dict()["components"],
        "memories": res.to_dict()["memories"],
    }
    if measured is not None:
        resources["measured"] = measured
    return {
        "network": design.network.name,
        "network_source": design.network.source,
        "board": board.to_dict(),
        "clock_mhz": cfg.clock_mhz,
        "config": cfg.to_dict(),
        "genome": design.genome.to_dict(),
        "totals": totals,
        "resources": resources,
        "layers": [p.to_dict() for p in design.plans],
        "search": {
            "method": "two-stage: genetic algorithm over the hardware (stage 1), exact per-layer schedule (stage 2)",
            "engines": engines,
            "seed": search.seed,
            "evaluations": search.evaluations,
            "evaluations_to_best": search.evaluations_to_best,
            "space_size": search.space_size,
            "history": search.history,
            "choice": search.choice,
            **(settings or {}),
        },
        "engine_choice": engine_choice(design, search),
        "model": {"constants": CONSTANTS.to_dict(), "headroom": HEADROOM},
        **({"timing": timing} if timing is not None else {}),
    }


def write_design_json(design: Design, path: Path) -> None:
    Path(path).write_text(json.dumps(design_dict(design), indent=1) + "\n")


def plot_convergence(history: list[dict], path: Path, title: str) -> None:
    """Best and mean feasible fps per generation; the refinement (the last history entry,
    ``refined``) is drawn apart as its own labelled point, not as one more generation."""
    ga = [h for h in history if not h.get("refined")]
    refined = [h for h in history if h.get("refined")]
    gens = [h["generation"] for h in ga]
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.subplots()
    ax.plot(gens, [h["best_fps"] for h in ga], marker="o", label="best fps (GA)")
    ax.plot(gens, [h["mean_feasible_fps"] for h in ga], marker=".", linestyle="--", label="mean fps (feasible)")
    for h in refined:
        x = h["generation"]
        ax.plot([gens[-1], x], [ga[-1]["best_fps"], h["best_fps"]], linestyle=":", color="tab:red")
        ax.plot([x], [h["best_fps"]], marker="*", markersize=12, color="tab:red", linestyle="none",
                label=f"after refinement ({h['evaluations']:,} evaluations)")
    ax.set_xlabel("generation")
    ax.set_ylabel("frames per second (predicted)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def roofline_points(design: Design) -> list[dict]:
    """The roofline's points, one per accelerated layer with operations: ``name``, ``intensity``
    (ops per DDR byte the model moves), ``gops`` (predicted), ``bound`` (the cycle model's word,
    which colours the point) and ``ceiling`` (the GOP/s the layer could reach if only its slower
    side counted: its PE-array beats or its transfers at the port rate its word width allows;
    the gap below it is setup, pipeline fill and what the two sides do not overlap)."""
    hz = design.config.clock_mhz * 1e6
    points = []
    for p in design.accelerated:
        if not p.layer.ops:
            continue
        slower = max(p.alternatives["compute_cycles"], p.alternatives["transfer_cycles"], 1)
        points.append({"name": p.layer.name, "intensity": p.layer.ops / max(1, p.read_bytes + p.write_bytes),
                       "gops": p.gops, "bound": p.bound, "ceiling": p.layer.ops * hz / slower / 1e9})
    return points


#: Roofline colours, by the cycle model's bound.
BOUND_COLOURS = {"compute": "tab:blue", "memory": "tab:red"}


def plot_roofline(design: Design, path: Path) -> None:
    """The design's roof (peak GOP/s, the port's bandwidth) and its layers (:func:`roofline_points`),
    numbered left to right; the names are listed beside the plot, so no label covers another."""
    cfg = design.config
    peak = design.peak_gops
    port = memory_port(cfg, design.board)
    bw = min(port.read_bpc, port.shared_bpc) * cfg.clock_mhz * 1e6 / 1e9  # GB/s
    pts = sorted(roofline_points(design), key=lambda q: (q["intensity"], q["gops"]))
    fig = Figure(figsize=(9.6, 5.0), dpi=100)
    ax = fig.add_axes((0.09, 0.11, 0.56, 0.8))
    ridge = peak / bw
    lo = min([q["intensity"] for q in pts] + [ridge]) / 4
    hi = max([q["intensity"] for q in pts] + [ridge]) * 4
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(xs, [min(peak, bw * x) for x in xs], color="black", label=f"roof: {peak:.0f} GOP/s, {bw:.2f} GB/s")
    for bound, colour in BOUND_COLOURS.items():
        sel = [q for q in pts if q["bound"] == bound]
        if sel:
            ax.scatter([q["intensity"] for q in sel], [q["gops"] for q in sel], color=colour, zorder=3,
                       label=f"{bound}-bound layers (cycle model)")
            ax.scatter([q["intensity"] for q in sel], [q["ceiling"] for q in sel], color=colour, marker="_", s=120,
                       zorder=3, label=f"their own ceiling ({'PE occupancy' if bound == 'compute' else 'port rate'})")
            for q in sel:
                ax.plot([q["intensity"]] * 2, [q["gops"], q["ceiling"]], color=colour, lw=0.6, ls=":")
    # Points at (nearly) the same place share a number; the numbers' names are listed on the right.
    groups: list[list[dict]] = []
    for q in pts:
        if groups and all(abs(math.log10(q[k] / groups[-1][0][k])) < 0.05 for k in ("intensity", "gops")):
            groups[-1].append(q)
        else:
            groups.append([q])
    listing = []
    for k, members in enumerate(groups, 1):
        ax.annotate(str(k), (members[0]["intensity"], members[0]["gops"]), fontsize=7, xytext=(4, -10),
                    textcoords="offset points")
        listing += textwrap.wrap(", ".join(q["name"] for q in members), 44, initial_indent=f"{k:>2}  ",
                                 subsequent_indent="    ")
    shown = listing[:48] + ([f"    ... {len(listing) - 47} more lines"] if len(listing) > 48 else [])
    fig.text(0.67, 0.91, "\n".join(shown[:48]), fontsize=7, family="monospace", va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min([q["gops"] for q in pts] + [peak]) / 4, peak * 2)
    ax.set_xlabel("operational intensity (ops per DDR byte)")
    ax.set_ylabel("GOP/s (predicted)")
    ax.set_title(f"{design.network.name} on {design.board.name}: {cfg.name}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path)


def _choice_lines(choice: dict, design_label: str) -> list[str]:
    """How the design was chosen, when not as the fastest: the rule, and for a target frame
    rate the next smaller design evaluated, which misses it."""
    if not choice:
        return ["Chosen as the fastest design that fits the board.", ""]
    lines = [f"Chosen as {choice['rule']}."]
    nxt, fastest = choice.get("next_smaller"), choice.get("fastest")
    if fastest and "target_fps" not in choice:
        lines.append("It is the fastest design found." if fastest["genome"] == design_label else
                     f"The fastest design found, `{fastest['genome']}` ({fastest['binding_utilisation']:.1%} of its "
                     f"binding resource, {fmt_number(fastest['dsp'])} DSPs), predicts {fmt_number(fastest['fps'])} fps.")
    if "target_fps" in choice:
        lines.append(f"The next smaller design evaluated, `{nxt['genome']}` ({nxt['binding_utilisation']:.1%} of its "
                     f"binding resource), predicts {fmt_number(nxt['fps'])} fps: below the target of "
                     f"{choice['target_fps']:g}." if nxt else "No smaller design fits the board.")
    return [" ".join(lines), ""]


def fmt_number(v: float) -> str:
    """One format for every count and figure of the report: whole numbers with thousands
    separators (53,200; 110), fractions to one decimal from 100 on (110.5), else 3 digits."""
    if v == int(v):
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    return f"{v:.3g}"


def engine_choice(design: Design, search: SearchResult) -> dict:
    """Why the design's engine: the best design found for every engine searched (fps, feasible)
    and, layer by layer, the predicted time of the chosen design against each other engine's
    best feasible design."""
    engines = {}
    # The chosen engine's row is the chosen design (the default rule may pick a smaller design
    # within 1 % of that engine's fastest).
    for name, best in sorted({**search.engine_best, design.genome.engine: design}.items()):
        engines[name] = {"genome": best.label, "feasible": best.feasible,
                         "fps": best.fps if best.feasible else 0.0,
                         "problem": "" if best.feasible else best.problem}
    layers = []
    others = {n: d for n, d in search.engine_best.items() if d.feasible and n != design.genome.engine}
    for k, plan in enumerate(design.plans):
        row = {"layer": plan.layer.name, design.genome.engine: plan.seconds}
        for name, other in others.items():
            row[name] = other.plans[k].seconds
        layers.append(row)
    return {"chosen": design.genome.engine, "engines": engines, "layers": layers}


def engine_choice_lines(choice: dict) -> list[str]:
    """The report's "Engine choice" section."""
    chosen, engines = choice["chosen"], choice["engines"]
    if len(engines) < 2:
        return []
    lines = ["", "## Engine choice", "",
             "The best design the search found for each engine (whole-network fps, cycle and resource models):", "",
             "| engine | best design | fits the board | predicted fps |", "| --- | --- | --- | ---: |"]
    for name, e in engines.items():
        fits = "yes" if e["feasible"] else f"no: {e['problem']}"
        lines.append(f"| {name}{' (chosen)' if name == chosen else ''} | `{e['genome']}` | {fits} | {e['fps']:.3g} |")
    others = [n for n in engines if n != chosen and engines[n]["feasible"]]
    if others:
        faster = {n: sum(1 for r in choice["layers"] if r[chosen] < r[n]) for n in others}
        slower = {n: sum(1 for r in choice["layers"] if r[chosen] > r[n]) for n in others}
        sentence = "; ".join(f"the {chosen} design is faster than the best {n} design on {faster[n]} layers and "
                             f"slower on {slower[n]} (equal elsewhere: layers on the CPU)" for n in others)
        lines += ["", sentence[0].upper() + sentence[1:] + ". A bitstream holds one engine, so the whole network's "
                  "time decides; per layer (ms):", "",
                  "| layer | " + " | ".join([chosen] + others) + " |", "| --- |" + " ---: |" * (1 + len(others))]
        for r in choice["layers"]:
            lines.append(f"| {r['layer']} | " + " | ".join(f"{r[n] * 1e3:.3g}" for n in [chosen] + others) + " |")
    return lines


def write_report(design: Design, search: SearchResult, out_dir: Path, report: dict) -> None:
    """report.json, report.md and the two plots into ``out_dir``."""
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if search.history:
        plot_convergence(search.history, out_dir / "ga_convergence.png",
                         f"GA: {design.network.name} on {design.board.name} (seed {search.seed})")
    plot_roofline(design, out_dir / "roofline.png")
    cfg, t, r = design.config, report["totals"], report["resources"]
    lines = [
        f"# convforge design: {design.network.name} on {design.board.name}",
        "",
        f"Predicted **{fmt_number(t['fps'])} fps** ({t['seconds_per_frame'] * 1e3:.4g} ms per frame), "
        f"**{t['gops']:.3g} GOP/s** over the whole network ({t['ops'] / 1e9:.4g} GOP per frame, "
        f"{t['accelerated_ops_fraction']:.1%} of it on the accelerator at {t['accelerator_gops']:.3g} GOP/s; "
        f"design peak {t['peak_gops']:.4g} GOP/s at {cfg.clock_mhz:g} MHz).",
        "",
        f"Per frame: {t['accelerator_seconds'] * 1e3:.4g} ms for the accelerated layers, of which "
        f"{t['host_seconds'] * 1e3:.4g} ms is the CPU's work around their runs (the driver's registers and the "
        f"activation relayout, `dse.perf_model.host_seconds`), and {t['cpu_seconds'] * 1e3:.4g} ms for the layers "
        f"on the CPU. The accelerated runs take {t['starts_per_frame']} AP_STARTs per frame (each run of "
        "consecutive accelerated layers that keep their outputs in DDR is one run list).",
        "",
        *_choice_lines(report["search"].get("choice") or {}, design.label),
        "## Configuration",
        "",
        "| parameter | value |",
        "| --- | --- |",
    ]
    for k, v in cfg.to_dict().items():
        if k == "m" and not design.config.engine_description.tiled_columns:
            continue        # the tile size: a Winograd parameter, 0 on other engines
        lines.append(f"| {k} | {v:g} |" if isinstance(v, float) else f"| {k} | {v} |")
    lines += ["", f"Top module `{cfg.name}` (rtl/{cfg.name}.v).", "", "## Resources", "",
              f"Predicted by the resource model (dse/resource_model.py); headroom: a design may use "
              f"{HEADROOM['LUT']:.0%} of each resource.", ""]
    measured = r.get("measured")
    synth_error = measured.get("error") if measured else None
    if synth_error:
        measured = None
    head = "| resource | predicted | board | limit | utilisation |" + (" Yosys synth_xilinx |" if measured else "")
    lines += [head, "| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if measured else "")]
    for k in ("LUT", "FF", "DSP", "BRAM36"):
        row = (f"| {k} | {fmt_number(r['predicted'][k])} | {fmt_number(r['board'][k])} | {fmt_number(HEADROOM[k] * r['board'][k])} | "
               f"{r['utilisation'][k]:.1%} |")
        if measured:
            row += f" {fmt_number(measured.get(k, 0))} |"
        lines.append(row)
    if synth_error:
        lines += ["", f"`--synth`: Yosys failed ({synth_error.splitlines()[0][:200]}); no measured counts."]
    if not r["calibrated"]:
        unc = [n for n, c in r["components"].items() if not c["calibrated"]]
        lines += ["", f"Components with prior (not yet Yosys-calibrated) LUT/FF coefficients: {', '.join(unc)}."]
    lines += timing_lines(report.get("timing"), cfg.clock_mhz)
    lines += engine_choice_lines(report["engine_choice"])
    lines += ["", "## Layers", "",
              "| layer | kind | shape (C x H x W -> M x Ho x Wo) | k/s/p | GOP | runs on | mapping | runs | predicted cycles | ms | GOP/s | bound |",
              "| --- | --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for p in design.plans:
        l = p.layer
        lines.append(
            f"| {l.name} | {l.kind if l.kind != 'unsupported' else l.op_type} | {l.in_channels}x{l.height}x{l.width} -> "
            f"{l.out_channels}x{l.out_height}x{l.out_width} | {l.kernel}/{l.stride}/{l.padding} | {l.ops / 1e9:.3g} | "
            f"{p.runs_on} | {p.mapping} | {p.tiles} | {p.predicted_cycles:,} | {p.seconds * 1e3:.3g} | {p.gops:.3g} | {p.bound} |")
    cpu = [p for p in design.plans if p.runs_on == "cpu"]
    if cpu:
        lines += ["", "Layers on the CPU and why:", ""]
        lines += [f"* {p.layer.name}: {p.reason}" for p in cpu]
    s = report["search"]
    lines += ["", "## Search", "",
              f"{s['method']}. Engines searched: {', '.join(s['engines'])}; space of {s['space_size']:,} genotypes, "
              f"{s['evaluations']:,} distinct designs evaluated (best found after {s['evaluations_to_best']:,}); "
              f"seed {s['seed']}, population {s.get('population')}, generations {s.get('generations')}.", ""]
    fcs = [p for p in design.plans if p.layer.kind == "fc"]
    fc_note = ""
    if fcs:
        on_acc = sum(p.runs_on == "accelerator" for p in fcs)
        fc_note = (f" `fc=acc` lets stage 2 place fully-connected layers on the accelerator where it is faster: "
                   f"{on_acc} of {len(fcs)} run there (the layer table says where each runs and why)."
                   if design.genome.fc_on_accelerator else
                   f" `fc=cpu`: the {len(fcs)} fully-connected layers run on the CPU.")
    lines += ["", "Chosen design: `" + design.label + "`." + fc_note, "",
              "| generation | best fps | mean fps (feasible) | feasible | evaluations |", "| ---: | ---: | ---: | ---: | ---: |"]
    for h in s["history"]:
        gen = "refinement" if h.get("refined") else h["generation"]
        lines.append(f"| {gen} | {fmt_number(h['best_fps'])} | {fmt_number(h['mean_feasible_fps'])} | {h['feasible']} | "
                     f"{h['evaluations']:,} |")
    if s["history"] and s["history"][-1].get("refined"):
        lines += ["", "The last row is not a generation: the refinement, a steepest-ascent search from the GA's best "
                      "genotype over every engine seen, which the chosen design comes from."]
    lines += ["", "![GA convergence](ga_convergence.png)", "", "![Roofline](roofline.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines))


def timing_lines(timing: dict | None, clock_mhz: float) -> list[str]:
    """The report's timing section (``--timing`` / ``--synth``): an estimate, said so."""
    if not timing:
        return []
    verdict = "meets" if timing["fmax_mhz"] >= clock_mhz else "does NOT meet"
    lines = ["", "## Timing (estimate)", "",
             f"Estimated Fmax **{timing['fmax_mhz']:.1f} MHz** (worst path {timing['worst_ns']:.3f} ns); the design "
             f"{verdict} its {clock_mhz:g} MHz clock: {timing['failing_endpoints']} of {timing['endpoints']} "
             f"endpoints miss {1000 / clock_mhz:.3f} ns. Longest register-to-register path of the Yosys netlist with "
             f"the {timing['model']} delay model (dse/delay_model.py): an estimate without placement, routing "
             "congestion or clock skew (docs/timing.md), not Vivado sign-off.", "",
             "| path (ns) | logic levels | from | to |", "| ---: | ---: | --- | --- |"]
    for p in timing["paths"][:8]:
        lines.append(f"| {p['delay_ns']:.3f} | {p['logic_levels']} | `{p['start']}` | `{p['end']}` |")
    return lines
