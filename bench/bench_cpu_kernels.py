"""Time the runtime's CPU kernels on every layer of zoo networks; fit and check the DSE's CPU floor.

Every layer of VGG16, ResNet-18 and Tiny-YOLO, and of the MobileNetV2 and DenseNet-121
torchvision exports when build/zoo holds them (the fitted set), runs with the runtime's numpy
kernels: ``drivers.run_network`` with no accelerator, int8 random weights quantised on one
random input, best of ``--repeats`` runs of the whole network. Every conv and fc layer also runs
as one accelerator run through the driver on an in-process register file
(``conv2d_resident``: checks, input relayout, registers, output relayout; kind
``accelerator_run``), and once more with its input and output kept in DDR (a ``DeviceActivation``
in and out: checks and registers only), and once as a run that joins a run list (kind
``listed_run``: ``defer=True``, checks and the entry); each network's conv and fc layers are
also started as run lists of 1, half and all of them (kind ``run_list``: ``run_pending``, the
list packed and written, registers, status; features a fixed cost and the entries). Per kind the bench fits
non-negative coefficients on ``dse.cpu_floor.features`` (a fixed cost; MACs, im2col patch
elements and outputs, or the elements read, written and combined) by relative least squares and
scales them until the line is at or above every measured layer of that kind.
``--write`` stores the rows, the fit and this machine's description in dse/cpu_kernels.json,
which the DSE uses as the floor of its CPU time. The check set -- the torchvision exports of
bench/export_torchvision.py in build/zoo, when present, never fitted -- shows how the floor
holds on shapes it was not fitted on.

Prints, per kind: layers, the fit (the checked-in one; with ``--write``, this run's), and the
ratio floor / measured (min, median, max) on the fitted and on the check set in this run, then the DSE's CPU estimate for PYNQ-Z2 and KV260 against the
measurement, layer by layer totals. Run on a quiet machine: it measures wall time.

    python bench/bench_cpu_kernels.py [--repeats 5] [--write | --write-kinds KIND,KIND]

``--write-kinds`` replaces only those kinds' fit and rows in the checked-in table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from drivers import (AcceleratorDriver, BuildInfo, DeviceActivation, layout, quantize_network,  # noqa: E402
                     random_weights, run_network)
from drivers.regmap import AP_DONE, AP_IDLE, REGISTERS  # noqa: E402
from dse.boards import get_board  # noqa: E402
from dse.cpu_floor import (LISTED_RUN_KIND, RUN_KIND, RUN_LIST_KIND, TABLE_PATH, features, fit_floor,  # noqa: E402
                           floor_of, run_features)
from dse.networks import get_network  # noqa: E402
from dse.onnx_import import load_onnx  # noqa: E402
from dse.perf_model import CONSTANTS, cpu_seconds, host_seconds  # noqa: E402
from rtl.config import AcceleratorConfig  # noqa: E402
from rtl.descriptor import Descriptor  # noqa: E402

FITTED = ("vgg16", "resnet18", "tiny-yolo")
#: torchvision exports fitted too when build/zoo holds them: they bring the kinds the zoo lacks
#: (batch norms, concatenations, average pools, clips, grouped convolutions).
FITTED_EXPORTS = ("mobilenet_v2-torchscript-224", "densenet121-torchscript-224")


def measure(net, repeats: int, seed: int = 0) -> list[dict]:
    """Rows ``{network, layer, kind, features, seconds}``: the best of ``repeats`` whole-network runs."""
    rng = np.random.default_rng(seed)
    x = rng.random(tuple(net.input_shape))
    weights = net.weights or random_weights(net, seed)
    qnet = quantize_network(net, x, weights)
    best: dict[str, float] = {}
    for _ in range(repeats):
        _, table = run_network(qnet, x)
        for r in table:
            best[r["name"]] = min(best.get(r["name"], float("inf")), r["wall_seconds"])
    return [{"network": net.name, "layer": layer.name, "kind": layer.kind, "features": features(layer),
             "seconds": best[layer.name]} for layer in net.layers]


class _RegisterFile(AcceleratorDriver):
    """The runtime's driver on registers and DDR held in this process: every run ends at once
    with an all-zero output. What it times is what the driver does around a run on a board --
    checks, the input packed into the IP's layout, the registers written and read, the output
    unpacked -- without the IP."""

    #: The IP the driver believes it drives: the direct engine, pm = pn = 8, limits no zoo layer reaches.
    INFO = BuildInfo(version=0, engine="direct", m=0, pm=8, pn=8, data_width=8, axi_data_width=64, max_width=4096,
                     max_height=4096, max_channels=1 << 16, max_kernel=7, max_stride=4, acc_width=32, clock_mhz=150.0,
                     max_row_words=1 << 20, max_weight_taps=1 << 20, axi_addr_width=64)

    class _Buffer(np.ndarray):
        device_address = 0

        def flush(self):
            pass

        def invalidate(self):
            pass

    def __init__(self):
        self._driver_init()
        self._info = self.INFO
        self._regs: dict[int, int] = {}
        self._next = 0x1000

    def read(self, offset: int) -> int:
        if offset == REGISTERS["CTRL"]:
            return AP_IDLE | AP_DONE
        return self._regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        self._regs[offset] = value

    def allocate(self, shape, dtype=np.uint8):
        buf = np.zeros(shape, dtype=dtype).view(self._Buffer)
        # Page-aligned, as pynq.allocate's buffers are.
        buf.device_address, self._next = self._next, self._next + (buf.nbytes + 8191) // 4096 * 4096
        return buf

    def _wait_done(self, timeout) -> None:
        pass


def _descriptor(layer) -> Descriptor:
    """A conv layer as one run; an fc layer as a 1x1 run on its flattened input."""
    if layer.kind == "fc":
        return Descriptor(layer.in_channels, layer.out_channels, 1, 1, 1, 1, 0)
    return Descriptor(layer.in_channels, layer.out_channels, layer.height, layer.width, layer.kernel, layer.stride,
                      layer.padding)


def measure_runs(net, repeats: int, seed: int = 0) -> list[dict]:
    """Rows ``{network, layer, kind: RUN_KIND, features, seconds, kept}``: the driver's time
    around one run of every conv and fc layer of ``net`` as one descriptor (fc as 1x1), resident
    weights, best of ``repeats``; twice per layer: with the input packed and the output unpacked
    (``kept`` False), and with both left in DDR (``kept`` True: a ``DeviceActivation`` in,
    ``keep=`` out, as between two accelerated layers of a ``pm == pn`` design)."""
    rng = np.random.default_rng(seed)
    drv, rows = _RegisterFile(), []
    pm, pn = drv.INFO.pm, drv.INFO.pn
    for layer in net.layers:
        if layer.kind not in ("conv", "fc"):
            continue
        d = _descriptor(layer)
        c, h, w, m, k, s, p = d.in_channels, d.height, d.width, d.out_channels, d.kernel, d.stride, d.padding
        x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
        kept_x = DeviceActivation(drv.allocate((layout.input_bytes(c, h, w, pn),)), (c, h, w))
        resident = drv.load_weights(np.zeros((m, c, k, k), np.int8))
        for kept, kind in ((False, RUN_KIND), (True, RUN_KIND), (True, LISTED_RUN_KIND)):
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                if kind == LISTED_RUN_KIND:
                    drv.conv2d_resident(kept_x, resident, stride=s, padding=p, keep="out", defer=True)
                elif kept:
                    drv.conv2d_resident(kept_x, resident, stride=s, padding=p, keep="out")
                else:
                    drv.conv2d_resident(x, resident, stride=s, padding=p)
                best = min(best, time.perf_counter() - t0)
                drv._pending.clear()          # the entry is timed, not its list
                drv._pending_buffers.clear()
            rows.append({"network": net.name, "layer": layer.name, "kind": kind, "seconds": best, "kept": kept,
                         "features": run_features(c, h, w, m, d.out_height, d.out_width, pm, pn, not kept, not kept)})
    return rows


def measure_lists(net, repeats: int) -> list[dict]:
    """Rows ``{network, layer, kind: RUN_LIST_KIND, features, seconds, kept}``: ``run_pending``
    of the first 1, half and all of ``net``'s conv and fc layers as one run list (each a kept
    run), best of ``repeats``, as a frame loop starts it: the list was written by an earlier
    frame (the driver writes a list again only when it changed)."""
    drv, rows = _RegisterFile(), []
    pn = drv.INFO.pn
    runs = []
    for layer in net.layers:
        if layer.kind in ("conv", "fc"):
            d = _descriptor(layer)
            act = DeviceActivation(drv.allocate((layout.input_bytes(d.in_channels, d.height, d.width, pn),)),
                                   (d.in_channels, d.height, d.width))
            runs.append((act, drv.load_weights(np.zeros((d.out_channels, d.in_channels, d.kernel, d.kernel), np.int8)),
                         d))
    for n in sorted({1, max(1, len(runs) // 2), len(runs)}):
        best = float("inf")
        for frame in range(repeats + 1):
            for i, (act, res, d) in enumerate(runs[:n]):
                drv.conv2d_resident(act, res, stride=d.stride, padding=d.padding, keep=f"o{i}", defer=True)
            t0 = time.perf_counter()
            drv.run_pending()
            if frame:                     # the first frame writes the list
                best = min(best, time.perf_counter() - t0)
        rows.append({"network": net.name, "layer": f"{n} runs", "kind": RUN_LIST_KIND, "seconds": best, "kept": True,
                     "features": {"fixed": 1.0, "entries": float(n)}})
    return rows


def _machine() -> dict:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cpu": model or platform.processor(), "machine": platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__}


def _ratios(rows, table) -> list[float]:
    return [floor_of(table[r["kind"]]["coefficients"], r["features"]) / r["seconds"]
            for r in rows if r["kind"] in table and r["seconds"] > 0]


def _summary(values) -> str:
    if not values:
        return "-"
    v = np.array(values)
    return f"{v.min():.2f} / {np.median(v):.2f} / {v.max():.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--zoo", type=Path, default=ROOT / "build" / "zoo")
    ap.add_argument("--write", action="store_true", help=f"write {TABLE_PATH.relative_to(ROOT)}")
    ap.add_argument("--write-kinds", default="", help="replace only these kinds (comma-separated) in the table")
    args = ap.parse_args(argv)
    t0 = time.time()
    exports = []
    listing = args.zoo / "models.json"
    if listing.is_file():
        for entry in json.loads(listing.read_text()).values():
            path = args.zoo / entry["build"]          # the 224 x 224 export the DSE builds for
            if path.is_file():
                exports.append(load_onnx(path))
    fit_nets = [get_network(name) for name in FITTED] + [n for n in exports if n.name in FITTED_EXPORTS]
    check_nets = [n for n in exports if n.name not in FITTED_EXPORTS]
    fitted = [row for net in fit_nets
              for row in measure(net, args.repeats) + measure_runs(net, args.repeats) + measure_lists(net, args.repeats)]
    # The table the DSE uses (the checked-in one) against this run's measurement; with --write,
    # this run's own fit, which replaces it.
    fresh = fit_floor(fitted)
    table = fresh if args.write or not TABLE_PATH.is_file() else json.loads(TABLE_PATH.read_text())["fit"]
    check = [row for net in check_nets
             for row in measure(net, args.repeats) + measure_runs(net, args.repeats) + measure_lists(net, args.repeats)]
    print("| kind | layers fitted | fixed (us) | ns per MAC | ns per patch element | ns per output, element or list entry "
          "| floor / measured, fitted (min / median / max) | floor / measured, check set | layers checked |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |")
    for kind, f in {**table, **{k: v for k, v in fresh.items() if k not in table}}.items():
        c = f["coefficients"]
        fr = _ratios([r for r in fitted if r["kind"] == kind], table)
        cr = _ratios([r for r in check if r["kind"] == kind], table)
        cols = [f"{1e9 * c[n]:.3g}" if n in c else "-" for n in ("macs", "patch_elements")]
        per = c.get("outputs", c.get("elements", c.get("entries", 0.0)))
        print(f"| {kind} | {f['layers']} | {1e6 * c['fixed']:.1f} | {' | '.join(cols)} | {1e9 * per:.3g} "
              f"| {_summary(fr)} | {_summary(cr)} | {len(cr)} |")
    unseen = sorted({r["kind"] for r in check} - set(table))
    print()
    print(f"Fitted on {len(fitted)} layers and runs of {', '.join(n.name for n in fit_nets)}; checked on {len(check)} of "
          f"{len(check_nets)} torchvision exports ({', '.join(n.name for n in check_nets) or 'none in build/zoo'})"
          + (f"; kinds without a floor there: {', '.join(unseen)}" if unseen else "") + ".")
    # The DSE's CPU time (board estimate floored) against this machine, per network.
    print()
    print("| network | layers | measured here (ms) | PYNQ-Z2 estimate (ms) | KV260 estimate (ms) | layers below "
          "the measurement |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    by_net: dict[str, list] = {}
    runs_by_net: dict[str, list] = {}
    nets = {n.name: n for n in fit_nets + check_nets}
    for r in fitted + check:
        if r["kind"] in (LISTED_RUN_KIND, RUN_LIST_KIND):
            continue
        (runs_by_net if r["kind"] == RUN_KIND else by_net).setdefault(r["network"], []).append(r)
    boards = ("pynq-z2", "kv260")
    for name, rows in by_net.items():
        layers = {layer.name: layer for layer in nets[name].layers}
        est = {b: [cpu_seconds(layers[r["layer"]], get_board(b)) for r in rows] for b in boards}
        below = sum(e < r["seconds"] for e, r in zip(est["kv260"], rows))
        print(f"| {name} | {len(rows)} | {1e3 * sum(r['seconds'] for r in rows):.1f} | "
              f"{1e3 * sum(est['pynq-z2']):.1f} | {1e3 * sum(est['kv260']):.1f} | {below} |")
    # The driver's time around the accelerator runs (every conv and fc layer as one run).
    print()
    # Each layer twice: relaid out, and kept in DDR (a DeviceActivation in and out).
    print("| network | runs | driver time here (ms) | PYNQ-Z2 host estimate (ms) | KV260 host estimate (ms) | runs "
          "below the measurement |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    info = _RegisterFile.INFO
    cfg = AcceleratorConfig(engine="direct", pm=info.pm, pn=info.pn)
    for name, rows in runs_by_net.items():
        layers = {layer.name: layer for layer in nets[name].layers}
        invs = [_descriptor(layers[r["layer"]]) for r in rows]
        est = {b: [host_seconds(d, cfg, get_board(b), CONSTANTS, not r["kept"], not r["kept"])
                   for d, r in zip(invs, rows)] for b in boards}
        below = sum(e < r["seconds"] for e, r in zip(est["kv260"], rows))
        print(f"| {name} | {len(rows)} | {1e3 * sum(r['seconds'] for r in rows):.2f} | "
              f"{1e3 * sum(est['pynq-z2']):.2f} | {1e3 * sum(est['kv260']):.2f} | {below} |")
    print()
    m = _machine()
    print(f"Measured on {m['cpu']} ({m['machine']}), Python {m['python']}, numpy {m['numpy']}, best of "
          f"{args.repeats} runs, in {time.time() - t0:.0f} s. The estimates use the table in "
          f"{TABLE_PATH.relative_to(ROOT)} as it was when this run started.")
    if args.write:
        TABLE_PATH.write_text(json.dumps({"machine": m, "repeats": args.repeats, "fitted_on": [n.name for n in fit_nets],
                                          "fit": fresh, "rows": fitted}, indent=1) + "\n")
        print(f"wrote {TABLE_PATH.relative_to(ROOT)}")
    elif args.write_kinds:
        kinds = set(args.write_kinds.split(","))
        data = json.loads(TABLE_PATH.read_text())
        data["fit"].update({k: v for k, v in fresh.items() if k in kinds})
        data["rows"] = [r for r in data["rows"] if r["kind"] not in kinds] + [r for r in fitted if r["kind"] in kinds]
        data.setdefault("partial_updates", []).append({"kinds": sorted(kinds), "machine": m, "repeats": args.repeats})
        TABLE_PATH.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {', '.join(sorted(kinds))} into {TABLE_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
