"""Whole-network execution: conv/fc layers on the accelerator, everything else in numpy.

    qnet = quantize_network(get_network("lenet"), calibration, random_weights(net))
    y, table = run_network(qnet, x, accel, plan="build/lenet-pynq-z2")
    print(format_table(table))

    resident = load_weights(qnet, accel, plan="build/lenet-pynq-z2")     # once, at load
    for x in frames:                                                       # no weight packing here
        y, table = run_network(qnet, x, accel, plan="build/lenet-pynq-z2", resident=resident)

:func:`run_network` walks the layers in order. A conv or fc layer runs on the accelerator
(``accel.conv2d``, one call per descriptor) when ``accel`` is given and the plan places it there,
or, without a plan entry, when the IP can run it (:func:`place_layer` maps it the way the DSE
does and asks ``accel.check_layer``). Otherwise it runs in numpy as
``ops.requantize(ops.conv2d(...))`` (:mod:`drivers.ops`): the accelerator is bit-exact with that,
so the two paths give identical outputs. Every other kind (:data:`drivers.ops.CPU_KINDS`:
grouped and depthwise convolutions, affine/BatchNormalization, pooling, add, concat, (leaky)
ReLU, clip, LRN, softmax, pad, transpose, channel shuffle, reshape, channel slices) always runs
in numpy (:mod:`drivers.ops`), int8 in and out.

Mappings (``design.json`` ``"mapping"``; :mod:`drivers.rules`, which follows the engine descriptions):

* ``native``: the layer as it is.
* ``fc-as-1x1``: a fully-connected layer on ``N`` features as a 1x1 convolution of an
  ``N x 1 x 1`` map (weights ``[M, N, 1, 1]``).
* ``embedded-3x3`` (Winograd builds): a 1x1 stride-1 convolution or fc layer as a 3x3
  convolution with padding 1 whose taps are zero except the centre: exact.
* more than one descriptor (``tiles > 1``): column strips. The input is zero-padded once on the
  CPU; strip ``j`` covers output columns ``[o_j, o_j + wo_j)`` and reads padded columns
  ``[o_j*S, o_j*S + W_j)`` with ``W_j = (wo_j - 1)*S + K`` (descriptor width, padding 0, height
  ``H + 2P``); the outputs are stitched side by side.

Kept activations: on an IP with ``pm == pn`` (its output layout is its input layout), an
accelerated layer that runs in one call keeps its output in DDR (``keep=`` the layer's name; a
:class:`drivers.core.DeviceActivation`); accelerated layers read it where it lies, and it is
unpacked (``accel.fetch``) once, only when a CPU layer, column strips or the caller need it.

Run lists: with ``resident`` weights such layers are deferred (``defer=True``): consecutive
ones become one run list the IP walks after a single AP_START, started when a CPU layer (or a
layer run another way, or the end of the frame) needs the accelerator's results. Their rows
share the list's counters: the list's last row carries its ``cycles``, ``seconds`` and bytes
(``list_runs``: how many runs the list had), the others ``cycles`` None and ``seconds`` 0.
``profile=True`` starts every run on its own instead, for per-layer counters.

Activation tables: on an IP with one (``accel.info.act_table``), an element-wise layer
(:data:`drivers.interface.TABLE_KINDS`: ReLU, LeakyReLU, clip) whose one input is an accelerated
layer that nothing else reads runs inside that layer's run (:func:`drivers.rules.table_fusions`):
the table holds the numpy kernel's own output for every int8 value, so the result is identical.
Its row says ``runs_on`` "accelerator", ``mapping`` "table", ``runs`` 0.

Pooling: on an IP with a pooling stage (``accel.info.pooling``), an unpadded 2x2 stride-2 max
or average pool of an even map whose input is an accelerated one-run layer (or the layer its
table computes) that nothing else reads runs inside that layer's run
(:func:`drivers.rules.pool_fusions`): the IP pools the int8 outputs exactly as
``drivers.ops.maxpool``/``avgpool`` do and writes a quarter of the bytes. Its row says
``runs_on`` "accelerator", ``mapping`` "pool", ``runs`` 0.

``table``: one dict per layer, in order: ``name``, ``kind``, ``runs_on`` ("accelerator" or
"cpu"), ``mapping``, ``runs`` (accelerator calls), ``cycles`` (sum of ``accel.counters["cycles"]``,
None on the CPU), ``seconds`` (cycles at the IP's clock on the accelerator, wall time on the
CPU), ``wall_seconds``, ``bytes_read``/``bytes_written`` (accelerator), ``shape`` and ``reason``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import layout, ops, rules
from . import quantize as q
from .core import DeviceActivation
from .interface import POOL_KINDS, POOL_MODES

__all__ = ["LayerRun", "Placement", "accelerator_runs", "place_layer", "load_plan", "load_weights", "run_layer_numpy",
           "run_network", "format_table"]

_DESCRIPTOR_KEYS = ("in_channels", "out_channels", "height", "width", "kernel", "stride", "padding")
_MAPPINGS = ("native", "fc-as-1x1", "embedded-3x3")


@dataclass(frozen=True)
class LayerRun:
    """One accelerator call: ``accel.conv2d(x, w, stride, padding)`` gives output columns ``columns``."""

    x: np.ndarray
    w: np.ndarray
    stride: int
    padding: int
    columns: slice

    @property
    def descriptor(self) -> dict:
        c, h, wd = self.x.shape
        return dict(in_channels=c, out_channels=self.w.shape[0], height=h, width=wd, kernel=self.w.shape[2],
                    stride=self.stride, padding=self.padding)


@dataclass(frozen=True)
class Placement:
    """Where a layer runs and how (``source``: "plan", "auto" or "none")."""

    runs_on: str
    mapping: str
    descriptors: tuple[dict, ...]
    reason: str
    source: str


# ----- mapping a layer onto accelerator runs --------------------------------------------------------

def _geometry(ql: q.QuantizedLayer, x, mapping: str):
    """The convolution the accelerator computes for ``mapping``: ``(x, w, stride, padding)``
    (``x`` None: the weights alone, as :func:`load_weights` packs them)."""
    layer = ql.layer
    w = ql.conv_weight()
    if layer.kind == "fc":
        x = None if x is None else ops.flatten(x)
        stride, padding = 1, 0
        if mapping == "native":
            mapping = "fc-as-1x1"
        if mapping not in ("fc-as-1x1", "embedded-3x3"):
            raise ValueError(f"layer {layer.name!r}: a fully-connected layer cannot use mapping {mapping!r}")
    elif layer.kind == "conv":
        stride, padding = layer.stride, layer.padding
        if mapping not in ("native", "embedded-3x3"):
            raise ValueError(f"layer {layer.name!r}: a convolution cannot use mapping {mapping!r}")
    else:
        raise ValueError(f"layer {layer.name!r} ({layer.kind}) does not run on the accelerator")
    if mapping == "embedded-3x3":
        if w.shape[2] != 1 or stride != 1 or padding != 0:
            raise ValueError(f"layer {layer.name!r}: only 1x1 stride-1 unpadded layers embed into a 3x3 kernel")
        w3 = np.zeros(w.shape[:2] + (3, 3), dtype=w.dtype)
        w3[:, :, 1, 1] = w[:, :, 0, 0]
        w, padding = w3, 1
    return x, w, stride, padding


def accelerator_runs(ql: q.QuantizedLayer, x, mapping: str = "native", descriptors=()) -> tuple[list[LayerRun], tuple]:
    """The accelerator calls that compute ``ql`` on input ``x`` under ``mapping`` and the plan's
    ``descriptors`` (none or one: a single run; several: column strips). Returns
    ``(runs, output_shape)``; ValueError when the descriptors do not describe this layer."""
    if isinstance(x, DeviceActivation):
        # Read where it lies (drivers.rules.reads_in_place).
        if not rules.reads_in_place(ql.layer.kind, max(1, len(descriptors)), x.shape):
            raise ValueError(f"layer {ql.name!r}: an activation kept in DDR is read by one run of the layer itself")
        _, w, s, p = _geometry(ql, None, mapping)
        xe = x
    else:
        x = np.asarray(x)
        xe, w, s, p = _geometry(ql, x, mapping)
    c, h, wd = xe.shape
    m, _, k, _ = w.shape
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    name = ql.name
    descriptors = [dict(d) for d in descriptors]
    whole = dict(in_channels=c, out_channels=m, height=h, width=wd, kernel=k, stride=s, padding=p)
    if len(descriptors) <= 1:
        if descriptors and {key: descriptors[0].get(key) for key in _DESCRIPTOR_KEYS} != whole:
            raise ValueError(f"layer {name!r}: the plan's descriptor {descriptors[0]} does not match {whole}")
        return [LayerRun(xe, w, s, p, slice(0, wo))], (m, ho, wo)
    xp = np.pad(xe, ((0, 0), (p, p), (p, p)))
    runs, col = [], 0
    for d in descriptors:
        same = all(d.get(key) == whole[key] for key in ("in_channels", "out_channels", "kernel", "stride"))
        width = d.get("width", 0)
        if not same or d.get("padding") != 0 or d.get("height") != h + 2 * p or width < k or (width - k) % s:
            raise ValueError(f"layer {name!r}: strip descriptor {d} does not fit the layer {whole} "
                             "(strips have padding 0, height H+2P and width (wo-1)*S+K)")
        n = (width - k) // s + 1
        start = col * s
        if start + width > wd + 2 * p:
            raise ValueError(f"layer {name!r}: the strips are wider than the padded input ({wd + 2 * p} columns)")
        runs.append(LayerRun(xp[:, :, start:start + width], w, s, 0, slice(col, col + n)))
        col += n
    if col != wo:
        raise ValueError(f"layer {name!r}: the strips produce {col} output columns, the layer has {wo}")
    return runs, (m, ho, wo)


# ----- placement ------------------------------------------------------------------------------------

def load_plan(plan) -> dict[str, dict]:
    """``{layer name: design.json layer entry}`` from a deploy folder, a design.json path, the
    parsed design.json, a list of layer entries or such a dict itself (None: empty)."""
    if plan is None:
        return {}
    if isinstance(plan, (str, Path)):
        path = Path(plan)
        path = path / "design.json" if path.is_dir() else path
        if not path.is_file():
            raise ValueError(f"{plan} is neither a deploy folder with a design.json nor a design.json file")
        plan = json.loads(path.read_text())
    if isinstance(plan, dict) and "layers" in plan:
        plan = plan["layers"]
    if isinstance(plan, dict):
        return {str(k): dict(v) for k, v in plan.items()}
    return {entry["name"]: dict(entry) for entry in plan}


def _check_plan_entry(layer, entry: dict) -> None:
    for key in ("kind",) + _DESCRIPTOR_KEYS:
        if key in entry and entry[key] != getattr(layer, key):
            raise ValueError(f"the plan's layer {layer.name!r} has {key} = {entry[key]!r} but the network's has "
                             f"{getattr(layer, key)!r}: the plan was built for another network")


def place_layer(layer, accel=None, entry: dict | None = None) -> Placement:
    """Decide where ``layer`` runs: the plan's entry when given, else the accelerator when it can
    run the layer (mapped as the DSE maps it, cut in column strips when its rows exceed the line
    buffer, every run accepted by ``accel.check_layer``), else the CPU."""
    if layer.kind not in ("conv", "fc"):
        return Placement("cpu", "cpu", (), f"{layer.kind} runs in numpy", "none")
    if entry is not None:
        _check_plan_entry(layer, entry)
        if entry.get("runs_on") == "accelerator":
            if accel is None:
                return Placement("cpu", "cpu", (), "placed on the accelerator by the plan, but no accelerator was given",
                                 "plan")
            mapping = entry.get("mapping", "native")
            if mapping not in _MAPPINGS:
                raise ValueError(f"the plan maps layer {layer.name!r} as {mapping!r}; known mappings: {', '.join(_MAPPINGS)}")
            return Placement("accelerator", mapping, tuple(entry.get("descriptors") or ()), entry.get("reason", ""), "plan")
        return Placement("cpu", "cpu", (), entry.get("reason", "placed on the CPU by the plan"), "plan")
    if accel is None:
        return Placement("cpu", "cpu", (), "no accelerator given", "none")
    info = accel.info
    engine = info.engine_rules
    inv, mapping, reason = rules.map_layer(engine, layer.kind, layer.in_channels, layer.out_channels, layer.height,
                                           layer.width, layer.kernel, layer.stride, layer.padding, info.max_kernel)
    if inv is None:
        return Placement("cpu", "cpu", (), reason, "auto")

    def accepted(r) -> None:
        accel.check_layer((r.in_channels, r.height, r.width), (r.out_channels, r.in_channels, r.kernel, r.kernel),
                          r.stride, r.padding)

    try:
        accepted(inv)
        return Placement("accelerator", mapping, (inv.to_dict(),), reason, "auto")
    except ValueError as exc:
        refusal = f"the IP cannot run it: {exc}"
    # Rows wider than the line buffer: column strips, if every strip fits.
    runs = rules.strips(engine, inv, info.pn, info.max_row_words, info.m)
    if runs is None or len(runs) == 1:
        return Placement("cpu", "cpu", (), refusal, "auto")
    try:
        for r in runs:
            accepted(r)
    except ValueError:
        return Placement("cpu", "cpu", (), refusal, "auto")
    return Placement("accelerator", mapping, tuple(r.to_dict() for r in runs), f"{reason}, in {len(runs)} column strips",
                     "auto")


# ----- execution ------------------------------------------------------------------------------------

def run_layer_numpy(ql: q.QuantizedLayer, inputs: list[np.ndarray]) -> np.ndarray:
    """One layer in numpy on its int8 inputs (exact integer arithmetic; int8 out)."""
    layer = ql.layer
    x = inputs[0]
    kind = layer.kind
    out_size = (layer.out_height, layer.out_width)
    if kind in ("conv", "fc"):
        xe, w, s, p = _geometry(ql, x, "native")
        return ops.requantize(ops.conv2d(xe, w, s, p), ql.bias, ql.mult, ql.shift, layer.relu)
    if kind == "group_conv":
        acc = ops.group_conv2d(x, ql.weight, layer.groups, layer.stride, layer.padding)
        return ops.requantize(acc, ql.bias, ql.mult, ql.shift, layer.relu)
    if kind == "batchnorm":
        return ops.requantize(ops.affine(x, ql.weight), ql.bias, ql.mult, ql.shift, layer.relu)
    if kind == "maxpool":
        y = ops.maxpool(x, layer.kernel, layer.stride, layer.padding, out_size)
    elif kind == "avgpool":
        y = ops.avgpool(x, layer.kernel, layer.stride, layer.padding, out_size, bool(layer.attr("count_include_pad", 0)))
    elif kind == "global_avgpool":
        y = ops.global_avgpool(x)
    elif kind == "global_maxpool":
        y = ops.global_maxpool(x)
    elif kind == "add":
        return ops.add_n(inputs, ql.mult, ql.shift, layer.relu)
    elif kind == "concat":
        y = ops.concat(inputs, ql.mult, ql.shift)
    elif kind == "relu":
        y = ops.relu(x)
    elif kind == "leaky_relu":
        y = ops.leaky_relu(x, ql.mult, ql.shift)
    elif kind == "clip":
        y = ops.clip(x, *ql.params["bounds"])
    elif kind == "lrn":
        y = ops.lrn_int8(x, ql.in_scales[0], ql.out_scale, int(layer.attr("size")), layer.attr("alpha"),
                       layer.attr("beta"), layer.attr("bias"))
    elif kind == "softmax":
        y = ops.softmax_int8(x, ql.in_scales[0])
    elif kind == "pad":
        y = ops.pad(x, layer.attr("pads"), layer.attr("mode", "constant"), ql.params["value"])
    elif kind == "transpose":
        y = ops.transpose(x, layer.attr("perm"))
    elif kind == "channel_shuffle":
        y = ops.channel_shuffle(x, layer.groups)
    elif kind == "reshape":
        y = np.asarray(x).reshape(layer.out_channels, layer.out_height, layer.out_width)
    elif kind == "slice":
        y = ops.slice_channels(x, layer.attr("start"), layer.attr("end"))
    else:
        raise ValueError(f"layer {layer.name!r} ({layer.op_type or kind}) has no numpy implementation")
    return ops.relu(y) if layer.relu else y


def _fusions(network, places: dict, accel) -> dict[str, str]:
    """``{producer: consumer}``: the element-wise layers this IP's activation table computes
    inside the accelerated layer feeding them (:func:`drivers.rules.table_fusions`)."""
    accelerated = {name for name, p in places.items() if p.runs_on == "accelerator"}
    return rules.table_fusions(network.layers, accelerated, accel is not None and accel.info.act_table)


def _pool_fusions(network, places: dict, accel, tables: dict) -> dict[str, str]:
    """``{producer: pool}``: the pools this IP's pooling stage computes inside the accelerated
    one-run layer feeding them (:func:`drivers.rules.pool_fusions`)."""
    single = {name for name, p in places.items() if p.runs_on == "accelerator" and len(p.descriptors) == 1}
    return rules.pool_fusions(network.layers, single, tables, accel is not None and accel.info.pooling)


def layer_table(ql: q.QuantizedLayer) -> np.ndarray:
    """The activation table of an element-wise layer: its numpy kernel on every int8 value."""
    return layout.activation_table(lambda v: run_layer_numpy(ql, [v.reshape(1, 1, -1)]).reshape(-1))


def _last_uses(network) -> dict[str, int]:
    last = {}
    for i, layer in enumerate(network.layers):
        for p in layer.inputs or ("",):
            last[p] = i
    last[network.layers[-1].name] = len(network.layers)
    return last


def load_weights(qnet: q.QuantizedNetwork, accel, plan=None) -> dict:
    """Pack the weights and quant tables of every layer the accelerator runs, once, into DDR
    buffers of their own (``accel.load_weights``): ``{layer name: ResidentWeights}`` for
    :func:`run_network`'s ``resident``, which then packs no weights per frame. The layers and
    mappings are those :func:`run_network` uses (``plan`` as there)."""
    entries = load_plan(plan)
    resident = {}
    places = {layer.name: place_layer(layer, accel, entries.get(layer.name)) for layer in qnet.network.layers}
    fused = _fusions(qnet.network, places, accel)
    for layer in qnet.network.layers:
        where = places[layer.name]
        if where.runs_on == "accelerator":
            ql = qnet.layers[layer.name]
            _, w, _, _ = _geometry(ql, None, where.mapping)
            table = layer_table(qnet.layers[fused[layer.name]]) if layer.name in fused else None
            try:
                resident[layer.name] = accel.load_weights(w, bias=ql.bias, mult=ql.mult, shift=ql.shift, table=table)
            except ValueError as exc:
                raise ValueError(f"layer {layer.name!r}: its weights cannot be loaded onto this IP: {exc}") from None
    return resident


def run_network(qnet: q.QuantizedNetwork, x, accel=None, plan=None, resident=None,
                profile: bool = False) -> tuple[np.ndarray, list[dict]]:
    """Run the quantised network on one input; returns ``(int8 output of the last layer, table)``.

    ``x``: float ``[C, H, W]`` (quantised with ``qnet.input_scale``) or the int8 input itself.
    ``accel``: an :class:`drivers.core.AcceleratorDriver` (``ConvAccelerator`` on the board,
    ``simulated(...)``) or None for numpy only. ``plan``: the design's placement (deploy folder,
    design.json path or contents; see :func:`load_plan`) or None to decide per layer
    (:func:`place_layer`). ``resident``: what :func:`load_weights` loaded for this ``accel`` and
    ``plan``; the accelerated layers then pack only their activations (without it, every run
    packs its weights), and consecutive ones that keep their outputs run as one run list
    (``profile``: each on its own, for per-layer counters). See the module docstring for the
    mappings, the run lists and the table.
    """
    network = qnet.network
    xin = np.asarray(x)
    if xin.shape == (1,) + tuple(network.input_shape):
        xin = xin[0]
    if np.issubdtype(xin.dtype, np.integer):
        if xin.shape != tuple(network.input_shape):
            raise ValueError(f"input must have shape {tuple(network.input_shape)}, got {xin.shape}")
        if xin.size and (xin.min() < -128 or xin.max() > 127):
            raise ValueError("an integer input must hold int8 values (-128..127)")
        xin = xin.astype(np.int8)
    else:
        xin = qnet.quantize_input(xin)
    entries = load_plan(plan)
    clock_hz = accel.info.clock_mhz * 1e6 if accel is not None else None
    last = _last_uses(network)
    places = {layer.name: place_layer(layer, accel, entries.get(layer.name)) for layer in network.layers}
    fused = _fusions(network, places, accel)
    fused_into = {consumer: producer for producer, consumer in fused.items()}
    pooled = _pool_fusions(network, places, accel, fused)
    pooled_into = {pool: producer for producer, pool in pooled.items()}
    # On an IP that writes the layout it reads (pm == pn), an accelerated layer's output stays in
    # DDR: the accelerated layers that read it take it where it lies, and it is unpacked only
    # for a CPU layer or the network's output (docs/memory-layout.md).
    acts = {"": _Activation(xin)}
    table = []
    listed: list[dict] = []      # rows of the deferred runs not started yet

    def start_list() -> None:
        """Start the deferred runs as one run list; its counters go on its last row."""
        if not listed:
            return
        t = time.perf_counter()
        counters = accel.run_pending()
        if counters is not None:
            listed[-1].update(cycles=counters["cycles"], seconds=counters["cycles"] / clock_hz,
                              bytes_read=counters.get("bytes_read", 0), bytes_written=counters.get("bytes_written", 0),
                              list_runs=len(listed))
        listed[-1]["wall_seconds"] += time.perf_counter() - t
        listed.clear()

    for i, layer in enumerate(network.layers):
        ql = qnet.layers[layer.name]
        where = places[layer.name]
        inputs = [acts[p] for p in (layer.inputs or ("",))]
        row = dict(name=layer.name, kind=layer.kind, runs_on=where.runs_on, mapping=where.mapping, runs=0,
                   cycles=None, seconds=0.0, wall_seconds=0.0, bytes_read=None, bytes_written=None,
                   shape=None, reason=where.reason)
        deferred = False
        if layer.name in fused_into or layer.name in pooled_into:
            # Computed in its producer's run (activation table or pooling stage): its output is
            # the producer's, passed on through its one input.
            mapping, producer, stage = (("table", fused_into[layer.name], "activation table") if layer.name in fused_into
                                        else ("pool", pooled_into[layer.name], "pooling stage"))
            row.update(runs_on="accelerator", mapping=mapping, reason=f"in {producer}'s {stage}")
            act = acts[layer.inputs[0]]
            row["shape"] = act.shape
            acts[layer.name] = act
            table.append(row)
            continue
        if where.runs_on == "accelerator":
            runs_n = max(1, len(where.descriptors))
            keep = layer.name if rules.keeps_output(accel.info.pm, accel.info.pn, runs_n) else None
            loaded = (resident or {}).get(layer.name)
            deferred = bool(keep) and loaded is not None and not profile
        if not deferred:
            start_list()      # this layer needs the accelerator's results, or starts a run itself
        t0 = time.perf_counter()
        if where.runs_on == "accelerator":
            source = inputs[0].device if rules.reads_in_place(layer.kind, runs_n, inputs[0].shape) else None
            runs, shape = accelerator_runs(ql, inputs[0].array() if source is None else source, where.mapping,
                                           where.descriptors)
            pool = POOL_KINDS[network.layer(pooled[layer.name]).kind] if layer.name in pooled else 0
            pool_name = POOL_MODES[pool] if pool else None
            y = None if keep or pool else np.empty(shape, dtype=np.int8)
            cycles = nread = nwritten = 0
            # Resident weights carry their table; otherwise it is packed with the weights per run.
            lut = layer_table(qnet.layers[fused[layer.name]]) if layer.name in fused and loaded is None else None
            if loaded is not None and loaded.table != (layer.name in fused):
                raise ValueError(f"layer {layer.name!r}: its resident weights were loaded "
                                 f"{'with' if loaded.table else 'without'} an activation table, and this IP and plan "
                                 "need the other: load them with drivers.load_weights for this accel and plan")
            for r in runs:
                try:
                    if loaded is None:
                        out = accel.conv2d(r.x, r.w, bias=ql.bias, mult=ql.mult, shift=ql.shift, stride=r.stride,
                                           padding=r.padding, relu=layer.relu, keep=keep, table=lut, pool=pool_name)
                    else:
                        out = accel.conv2d_resident(r.x, loaded, stride=r.stride, padding=r.padding, relu=layer.relu,
                                                    keep=keep, defer=deferred, pool=pool_name)
                except ValueError as exc:
                    raise ValueError(f"layer {layer.name!r}: the run {r.descriptor} cannot run on this IP: {exc}") from None
                if keep or pool:      # a pooled layer is one run
                    y = out
                else:
                    y[:, :, r.columns] = out
                if not deferred:
                    counters = accel.counters
                    cycles += counters["cycles"]
                    nread += counters.get("bytes_read", 0)
                    nwritten += counters.get("bytes_written", 0)
            if deferred:
                row.update(runs=1, seconds=0.0)
                listed.append(row)
            else:
                row.update(runs=len(runs), cycles=cycles, seconds=cycles / clock_hz, bytes_read=nread,
                           bytes_written=nwritten)
            act = _Activation(device=y, accel=accel) if keep else _Activation(y)
        else:
            act = _Activation(run_layer_numpy(ql, [a.array() for a in inputs]))
        row["wall_seconds"] = time.perf_counter() - t0
        if where.runs_on == "cpu":
            row["seconds"] = row["wall_seconds"]
        shown = network.layer(pooled[layer.name]) if layer.name in pooled else layer    # what the IP wrote
        want = (shown.out_channels, shown.out_height, shown.out_width)
        if act.shape != want:
            raise ValueError(f"layer {layer.name!r} produced shape {act.shape}, the network says {want}")
        row["shape"] = want
        acts[layer.name] = act
        for p in list(acts):
            if last.get(p, -1) <= i:
                del acts[p]
        table.append(row)
    start_list()
    return acts[network.layers[-1].name].array(), table


class _Activation:
    """A layer's output in a frame: a numpy array, or a :class:`DeviceActivation` the IP kept in
    DDR, fetched to numpy (once) only when a CPU layer or the caller needs it."""

    def __init__(self, host=None, device=None, accel=None):
        self.host, self.device, self.accel = host, device, accel

    @property
    def shape(self) -> tuple:
        return tuple((self.host if self.host is not None else self.device).shape)

    def array(self) -> np.ndarray:
        if self.host is None:
            self.host = self.accel.fetch(self.device)
        return self.host


def format_table(table: list[dict]) -> str:
    """The per-layer table as aligned text (one line per layer and a total)."""
    nw = max([16] + [len(r["name"]) for r in table])
    kw = max([14] + [len(r["kind"]) for r in table])
    lines = [f"{'layer':{nw}} {'kind':{kw}} {'ran on':11} {'mapping':12} {'runs':>4} {'cycles':>10} {'time ms':>9}"]
    for r in table:
        cycles = "-" if r["cycles"] is None else str(r["cycles"])
        lines.append(f"{r['name']:{nw}} {r['kind']:{kw}} {r['runs_on']:11} {r['mapping']:12} {r['runs']:4} "
                     f"{cycles:>10} {1e3 * r['seconds']:9.3f}")
    acc = sum(r["seconds"] for r in table if r["runs_on"] == "accelerator")
    cpu = sum(r["seconds"] for r in table if r["runs_on"] == "cpu")
    lines.append(f"total: {1e3 * acc:.3f} ms on the accelerator (at its clock), {1e3 * cpu:.3f} ms on the CPU")
    return "\n".join(lines)
