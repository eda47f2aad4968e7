"""Stage 2 of the DSE: the per-layer schedule on a given hardware configuration.

For every layer of the network, stage 2 chooses how it runs on the hardware picked by stage 1:

* **Placement**: on the accelerator or on the board's CPU, whichever the model says is faster
  among the mappings the configuration can run (a layer the engine cannot run goes to the CPU,
  with the reason written next to it).
* **Mapping** onto the engine's descriptor, as the engine's description says
  (``EngineDescription.map_layer``): ``native`` (the layer as it is); ``fc-as-1x1`` (a
  fully-connected layer as a 1x1 convolution of a 1x1 map, channels = features); ``embedded-3x3``
  (Winograd builds only: a 1x1 stride-1 convolution or FC layer becomes a 3x3 convolution with
  padding 1 whose weights are zero except the centre: exact, and the Winograd engine then runs it).
* **Tiling**: when a layer's row (``W * ceil(C / pn)`` words) exceeds the line buffer's row
  capacity chosen by stage 1, the layer runs as ``tiles`` column strips
  (``EngineDescription.strips``): the driver zero-pads the input once on the CPU, cuts strips of
  ``(wo_s - 1) * S + K`` columns (overlapping by ``K - S`` columns) and starts one run per strip
  with padding 0; the fewest strips that fit is optimal (more strips only repeat halo columns and
  host overhead). This is the per-layer tiling the
  runtime descriptor can change; the loop order inside a run is fixed by the hardware
  (output-channel groups outermost, weights stationary per group, input re-streamed per group),
  because partial sums never leave the chip.

Because these choices are independent from layer to layer once the hardware is fixed, stage 2
enumerates them exactly (a handful per layer) instead of searching; stage 1's genetic algorithm
calls it for every candidate configuration (dse/ga.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from rtl.config import AcceleratorConfig
from rtl.descriptor import (KERNEL_SIZES, POOL_KINDS, Descriptor, keeps_output, pool_fusions, reads_in_place,
                            table_fusions)
from rtl.engine import EngineDescription, engine_named
from rtl.numerics import ACT_TABLE_BYTES

from .graph import Layer
from .perf_model import (CONSTANTS, CycleConstants, MemoryPort, cpu_seconds, host_seconds, list_entry_cycles,
                         list_host_seconds, run_cycles, table_read_cycles)

__all__ = ["Capabilities", "LayerPlan", "eligible_descriptor", "plan_layer", "fuse_tables", "fuse_pools", "relayouts", "run_lists",
           "price_kept_activations"]


@dataclass(frozen=True)
class Capabilities:
    """What stage 1 lets the accelerator run (besides the engine's own rules)."""

    engine: str
    kernel_cap: int = KERNEL_SIZES[-1]
    fc_on_accelerator: bool = True

    @property
    def description(self) -> EngineDescription:
        return engine_named(self.engine)


@dataclass(frozen=True)
class LayerPlan:
    """The stage-2 decision for one layer and its predicted cost."""

    layer: Layer
    runs_on: str  # "accelerator", "cpu" or "fused" (computed in its producer's activation table or pooling stage)
    reason: str
    mapping: str  # "native", "fc-as-1x1", "embedded-3x3" or "cpu"
    tiles: int = 0
    descriptors: tuple[Descriptor, ...] = ()
    predicted_cycles: int = 0
    seconds: float = 0.0
    bound: str = "cpu"
    read_bytes: int = 0
    write_bytes: int = 0
    cpu_seconds: float = 0.0
    alternatives: dict = field(default_factory=dict, compare=False)

    @property
    def gops(self) -> float:
        return self.layer.ops / self.seconds / 1e9 if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        l = self.layer
        return {
            "name": l.name,
            "kind": l.kind,
            "op_type": l.op_type,
            "inputs": list(l.inputs),
            "in_channels": l.in_channels,
            "out_channels": l.out_channels,
            "height": l.height,
            "width": l.width,
            "out_height": l.out_height,
            "out_width": l.out_width,
            "kernel": l.kernel,
            "stride": l.stride,
            "padding": l.padding,
            "relu": l.relu,
            "ops": l.ops,
            "runs_on": self.runs_on,
            "reason": self.reason,
            "mapping": self.mapping,
            "tiles": self.tiles,
            "descriptors": [d.to_dict() for d in self.descriptors],
            "predicted_cycles": self.predicted_cycles,
            "seconds": self.seconds,
            "gops": self.gops,
            "bound": self.bound,
            "read_bytes": self.read_bytes,
            "write_bytes": self.write_bytes,
            # The element-wise layer this layer's activation table computes (fuse_tables).
            "table": self.alternatives.get("table"),
            # The pool this layer's pooling stage computes (fuse_pools).
            "pool": self.alternatives.get("pool"),
        }


_CPU_REASONS = {
    "maxpool": "max-pooling runs on the CPU (the engine computes convolutions only)",
    "avgpool": "average pooling runs on the CPU (the engine computes convolutions only)",
    "global_avgpool": "global average pooling runs on the CPU (the engine computes convolutions only)",
    "add": "the residual addition runs on the CPU (the engine has no element-wise path)",
    "relu": "a stand-alone ReLU runs on the CPU (ReLU is fused only into a convolution's requantiser)",
    "leaky_relu": "leaky ReLU runs on the CPU (the requantiser implements ReLU only)",
    "group_conv": "a grouped/depthwise convolution runs on the CPU (the engine's descriptor is a dense convolution)",
    "global_maxpool": "global max-pooling runs on the CPU (the engine computes convolutions only)",
    "concat": "the concatenation runs on the CPU (the engine has no data-movement path)",
    "clip": "the clip (ReLU6) runs on the CPU (the requantiser implements ReLU only)",
    "batchnorm": "a BatchNormalization that follows no convolution runs on the CPU as a per-channel affine layer",
    "lrn": "LRN runs on the CPU (the engine computes convolutions only)",
    "softmax": "softmax runs on the CPU (the engine computes convolutions only)",
    "pad": "padding runs on the CPU (the engine pads symmetrically inside a convolution only)",
    "transpose": "the transpose runs on the CPU (the engine has no data-movement path)",
    "channel_shuffle": "the channel shuffle runs on the CPU (the engine has no data-movement path)",
    "reshape": "the reshape runs on the CPU (a copy in the driver)",
    "slice": "the channel slice runs on the CPU (a copy in the driver)",
}


def eligible_descriptor(layer: Layer, caps: Capabilities) -> tuple[Descriptor | None, str, str]:
    """The descriptor that runs ``layer`` whole on the engine, or ``None`` and the reason why not.

    Returns ``(descriptor, mapping, reason)``: the engine description's mapping of a conv or fc
    layer; the other kinds, and fc layers this configuration leaves to the CPU, with their reason.
    """
    if layer.kind == "unsupported":
        return None, "cpu", f"ONNX operator {layer.op_type or layer.name} runs neither on the accelerator nor in the driver"
    if layer.kind in _CPU_REASONS:
        return None, "cpu", _CPU_REASONS[layer.kind]
    if layer.kind == "fc" and not caps.fc_on_accelerator:
        return None, "cpu", "fully-connected layers are left to the CPU by this configuration (smaller weight buffer)"
    return tuple(caps.description.map_layer(layer.kind, layer.in_channels, layer.out_channels, layer.height,
                                            layer.width, layer.kernel, layer.stride, layer.padding, caps.kernel_cap))


def plan_layer(layer: Layer, config: AcceleratorConfig, caps: Capabilities, port: MemoryPort, board,
               row_capacity: int, constants: CycleConstants = CONSTANTS, force_accelerator: bool = False) -> LayerPlan:
    """The fastest way to run ``layer`` on ``config`` (or on the CPU) and its predicted cost.

    ``force_accelerator`` keeps every layer the engine can run on the accelerator even when the
    CPU would be faster (used to decide whether any configuration fits a board at all).
    """
    t_cpu = cpu_seconds(layer, board, config.data_width, constants)
    inv, mapping, reason = eligible_descriptor(layer, caps)
    if inv is None:
        return LayerPlan(layer, "cpu", reason, "cpu", seconds=t_cpu, cpu_seconds=t_cpu)
    runs = config.engine_description.strips(inv, config.pn, row_capacity, config.m)
    if runs is None:
        cg = math.ceil(inv.in_channels / config.pn)
        return LayerPlan(layer, "cpu", f"even a {inv.kernel}-column strip ({inv.kernel * cg} words) exceeds the "
                         f"line buffer's {row_capacity}-word rows", "cpu", seconds=t_cpu, cpu_seconds=t_cpu)
    results = [run_cycles(r, config, port, constants) for r in runs]
    cycles = sum(r.cycles for r in results)
    host = sum(host_seconds(r, config, board, constants) for r in runs)
    seconds = cycles / (config.clock_mhz * 1e6) + host
    if len(runs) > 1:
        # The driver pads the input and cuts strips on the CPU, then stitches the outputs.
        ebytes = config.data_width / 8
        copied = (sum(r.in_channels * r.height * r.width for r in runs) + layer.output_elements) * ebytes
        seconds += copied / (board.ddr_gbps * 1e9 * constants.cpu_copy_efficiency)
        reason += f", in {len(runs)} column strips (rows wider than the line buffer)"
    compute = sum(r.compute_cycles for r in results)
    bound = "compute" if sum(r.cycles for r in results if r.bound == "compute") * 2 >= cycles else "memory"
    plan = LayerPlan(layer, "accelerator", reason, mapping, len(runs), runs, cycles, seconds, bound,
                     sum(r.read_bytes for r in results), sum(r.write_bytes for r in results), t_cpu,
                     {"compute_cycles": compute, "transfer_cycles": sum(r.transfer_cycles for r in results),
                      "host_seconds": host})
    if t_cpu < seconds and not force_accelerator:
        return LayerPlan(layer, "cpu", f"the CPU is faster ({t_cpu * 1e3:.3g} ms against {seconds * 1e3:.3g} ms "
                         "on the accelerator)", "cpu", seconds=t_cpu, cpu_seconds=t_cpu,
                         alternatives={"accelerator_seconds": seconds})
    return plan


def _aliases(plans: list[LayerPlan]):
    """``resolve(name)``: the layer whose output ``name``'s is -- a fused layer's is its producer's."""
    alias = {p.layer.name: p.layer.inputs[0] for p in plans if p.runs_on == "fused"}

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name
    return resolve


def relayouts(plans: list[LayerPlan], pm: int, pn: int) -> dict[str, tuple[bool, bool]]:
    """For each accelerated layer of ``plans`` (a network's, in order): whether the driver packs
    its input into the IP's layout and whether it unpacks its output, as ``run_network`` does:
    an output kept in DDR (``rtl.descriptor.keeps_output``, the driver's rule) is read where it
    lies by the accelerated layers that can (``reads_in_place``) and unpacked only for another reader or
    for the network's output. A fused layer (:func:`fuse_tables`) passes its producer's output on."""
    by_name = {p.layer.name: p for p in plans}
    resolve = _aliases(plans)

    def kept(name: str) -> bool:
        p = by_name.get(name)
        return p is not None and p.runs_on == "accelerator" and keeps_output(pm, pn, len(p.descriptors))

    def in_place(p: LayerPlan) -> bool:
        name = (p.layer.inputs or ("",))[0]
        source = by_name.get(resolve(name))
        if p.runs_on != "accelerator" or source is None or not kept(source.layer.name):
            return False
        shown = by_name[name].layer      # the tensor read: a fused pool's output is its producer's
        shape = (shown.out_channels, shown.out_height, shown.out_width)
        return reads_in_place(p.layer.kind, len(p.descriptors), shape)

    reads = {p.layer.name: in_place(p) for p in plans}
    readers: dict[str, list[tuple[int, LayerPlan]]] = {}
    for p in plans:
        if p.runs_on == "fused":
            continue
        for k, name in enumerate(p.layer.inputs or ("",)):
            readers.setdefault(resolve(name), []).append((k, p))
    last = resolve(plans[-1].layer.name) if plans else None
    out = {}
    for p in plans:
        if p.runs_on != "accelerator":
            continue
        name = p.layer.name
        unpacks = not kept(name) or name == last or any(
            k != 0 or not reads[r.layer.name] for k, r in readers.get(name, []))
        out[name] = (not reads[name], unpacks)
    return out


def fuse_tables(plans: list[LayerPlan], config: AcceleratorConfig, port: MemoryPort) -> list[LayerPlan]:
    """On a build with an activation table, the element-wise layers it computes
    (``rtl.descriptor.table_fusions``, the driver's rule) cost nothing of their own: they run
    ``"fused"`` in the accelerated layer feeding them, whose runs each read the table first
    (``table_read_cycles``, what ``run_cycles(..., table=True)`` adds); the producer names its
    layer in ``"table"``."""
    if not config.activation_table:
        return plans
    fusions = table_fusions([p.layer for p in plans], {p.layer.name for p in plans if p.runs_on == "accelerator"},
                            True)
    into = {consumer: producer for producer, consumer in fusions.items()}
    clock = config.clock_mhz * 1e6
    out = []
    for p in plans:
        name = p.layer.name
        if name in fusions:
            extra = table_read_cycles(port) * len(p.descriptors)
            out.append(replace(p, predicted_cycles=p.predicted_cycles + extra, seconds=p.seconds + extra / clock,
                               read_bytes=p.read_bytes + ACT_TABLE_BYTES * len(p.descriptors),
                               alternatives={**p.alternatives, "table": fusions[name]}))
        elif name in into:
            out.append(LayerPlan(p.layer, "fused", f"in {into[name]}'s activation table (LAYER_FLAGS.TABLE)", "table",
                                 bound="fused", cpu_seconds=p.cpu_seconds))
        else:
            out.append(p)
    return out


def fuse_pools(plans: list[LayerPlan], config: AcceleratorConfig, port: MemoryPort) -> list[LayerPlan]:
    """On a build with a pooling stage, the pools it computes (``rtl.descriptor.pool_fusions``,
    the driver's rule, after :func:`fuse_tables`) cost nothing of their own: they run ``"fused"``
    in the one-run accelerated layer feeding them, whose run writes a quarter of the output
    (``run_cycles`` of its descriptor with ``pool`` set); the producer names the pool in ``"pool"``."""
    if not config.pooling:
        return plans
    tables = {p.layer.name: p.alternatives["table"] for p in plans if p.alternatives.get("table")}
    single = {p.layer.name for p in plans if p.runs_on == "accelerator" and len(p.descriptors) == 1}
    fusions = pool_fusions([p.layer for p in plans], single, tables, True)
    into = {pool: producer for producer, pool in fusions.items()}
    by_name = {p.layer.name: p for p in plans}
    clock = config.clock_mhz * 1e6
    out = []
    for p in plans:
        name = p.layer.name
        if name in fusions:
            d = p.descriptors[0]
            pooled = replace(d, pool=POOL_KINDS[by_name[fusions[name]].layer.kind])
            table = name in tables
            before, after = run_cycles(d, config, port, table=table), run_cycles(pooled, config, port, table=table)
            extra = after.cycles - before.cycles
            out.append(replace(p, descriptors=(pooled,), predicted_cycles=p.predicted_cycles + extra,
                               seconds=p.seconds + extra / clock,
                               write_bytes=p.write_bytes + after.write_bytes - before.write_bytes,
                               alternatives={**p.alternatives, "pool": fusions[name]}))
        elif name in into:
            out.append(LayerPlan(p.layer, "fused", f"in {into[name]}'s pooling stage (LAYER_FLAGS.POOL)", "pool",
                                 bound="fused", cpu_seconds=p.cpu_seconds))
        else:
            out.append(p)
    return out


def run_lists(plans: list[LayerPlan], pm: int, pn: int) -> list[list[str]]:
    """The run lists ``run_network`` starts per frame with resident weights, as layer names: the
    maximal sequences of consecutive accelerated layers that keep their output in DDR
    (``rtl.descriptor.keeps_output``); a fused layer passes, any other layer ends a list."""
    lists, current = [], []
    for p in plans:
        if p.runs_on == "fused":
            continue
        if p.runs_on == "accelerator" and keeps_output(pm, pn, len(p.descriptors)):
            current.append(p.layer.name)
        elif current:
            lists.append(current)
            current = []
    if current:
        lists.append(current)
    return lists


def price_kept_activations(plans: list[LayerPlan], config: AcceleratorConfig, board, port: MemoryPort,
                           constants: CycleConstants = CONSTANTS) -> list[LayerPlan]:
    """``plans`` priced as the driver runs them frame after frame (resident weights): the CPU's
    work around each single-run accelerated layer for the activations it really relays out
    (:func:`relayouts`), and the run lists (:func:`run_lists`): a listed run costs the entry's
    fetch in cycles (``list_entry_cycles``) and the driver's entry on the CPU instead of a
    register-programmed start; each list's start (``list_host_seconds``, ``list_start``
    cycles) goes on its last layer. Placements are kept."""
    flags = relayouts(plans, config.pm, config.pn)
    lists = run_lists(plans, config.pm, config.pn)
    listed = {name for names in lists for name in names}
    last = {names[-1]: len(names) for names in lists}
    clock = config.clock_mhz * 1e6
    entry = list_entry_cycles(config, port, constants)
    out = []
    for p in plans:
        name = p.layer.name
        if p.runs_on != "accelerator" or len(p.descriptors) != 1 or (flags[name] == (True, True) and name not in listed):
            out.append(p)
            continue
        packs, unpacks = flags[name]
        host = host_seconds(p.descriptors[0], config, board, constants, packs, unpacks, listed=name in listed)
        cycles = p.predicted_cycles
        if name in listed:
            cycles += entry
        if name in last:
            host += list_host_seconds(last[name], constants)
            cycles += constants.list_start
        old = p.alternatives.get("host_seconds", 0.0)
        seconds = p.seconds - old - p.predicted_cycles / clock + host + cycles / clock
        out.append(replace(p, predicted_cycles=cycles, seconds=seconds,
                           alternatives={**p.alternatives, "host_seconds": host}))
    return out
