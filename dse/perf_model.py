"""Analytical cycle model of one accelerator run (one layer descriptor), per engine.

The model follows the engine's schedule (docs/architecture.md, docs/dse.md):

* **Direct engine.** Output channels are processed in ``MG = ceil(M / pm)`` groups. For each
  group the whole input (``H * CG * W`` words of ``pn`` channels, ``CG = ceil(C / pn)``) streams
  from DDR through the line buffer while the MAC array consumes one ``pn``-vector tap per cycle
  with a ``pm x pn`` weight word: ``Ho * Wo * CG * K * K`` compute cycles per group. The group's
  weights (``CG * K * K * pm * pn`` words) sit in one bank of a ping-pong buffer; the next group's
  weights load over the same read channel while the current group computes, so only the first
  group's load is exposed. Outputs (``Ho * Wo * pm`` values per group) leave on the same AXI
  port's write channel.
* **Winograd engine, F(m, 3).** Same loop; one ``n x n x pn`` tile per cycle (``n = m + 2``),
  so a group computes in ``ceil(Ho / m) * ceil(Wo / m) * CG`` cycles.
* What differs between engines -- compute cycles of a pass, the rows that prime it, the drain
  -- comes from the engine's description (``EngineDescription.pass_cycles``, rtl/engine); this
  module adds the memory system, the group loop and the shared back end.
* Both: the requantiser takes ``pm / requant_lanes`` cycles per output pixel, so a group needs at
  least ``Ho * Wo * pm / requant_lanes`` cycles. Each group reads its quant entries (16 bytes per
  output channel) and weights right after the previous group's input (one in-order read master),
  so they load while the previous group computes its last output row; the excess is exposed.

Per group: ``cycles = max(compute + prime, transfer + read_latency) + pipeline + group_setup``
where ``prime`` is the time to bring in the first rows the window needs, and ``transfer`` is the
slowest of the read channel, the write channel and the DDR they share (reads + writes). A run
adds ``layer_setup``, the exposed first weight load and the final write response.

Every tunable number is in :class:`CycleConstants` (``CONSTANTS``): recalibrate them there when
the simulated cycles of the real RTL are known (``bench/`` compares them).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from rtl.config import AcceleratorConfig
from rtl.descriptor import POOL_WINDOW, Descriptor
from rtl.control.layer_check import LayerCheck
from rtl.control.read_issuer import ReadIssuer
from rtl.numerics import ACT_TABLE_BYTES, QUANT_ENTRY_BYTES
from rtl.pe.pooling import Pooling
from rtl.pe.requantiser import Requantiser
from rtl.registers import RUN_LIST_ENTRY_BYTES

from .cpu_floor import cpu_floor_seconds, run_features, run_floor_seconds, run_list_floor_seconds

__all__ = [
    "CycleConstants",
    "CONSTANTS",
    "MemoryPort",
    "RunCycles",
    "memory_port",
    "ideal_memory_port",
    "run_cycles",
    "cpu_seconds",
    "host_seconds",
    "list_entry_cycles",
    "table_read_cycles",
    "list_host_seconds",
    "peak_ops_per_cycle",
]


@dataclass(frozen=True)
class CycleConstants:
    """All calibration constants of the cycle and time models, in one place."""

    #: Cycles from the engine's last output to its word leaving for the write master
    #: (requantiser + write packing 1); the engine's own drain comes from its description.
    back_end_latency: int = Requantiser.LATENCY + 1
    #: Descriptor checks (rtl.control.layer_check: ~8 sequential 33-cycle products, the output row
    #: pitch among them) and the first command issue at the start of a run.
    layer_setup: int = 327
    #: Bookkeeping between output-channel groups (bank swap, counter reload).
    group_setup: int = 4
    #: Cycles from an AR handshake to its first R beat on the board (HP port + DDR controller).
    read_latency: int = 40
    #: Cycles from the last W beat of a run to its B response.
    write_latency: int = 30
    #: Fraction of the peak DDR bandwidth that long INCR bursts sustain.
    ddr_efficiency: float = 0.75
    #: Cycles of a run-list entry beyond a run from the registers, besides the fetch's read round
    #: trip and beats (rtl/control/layer_sequencer.py: fetch issue, gather, decode, next entry),
    #: and once per list (its address check). tests/rtl/test_run_list.py holds them to the IP.
    list_entry: int = 11
    list_start: int = 1
    #: Host time per accelerator run on the board: register writes, start, done poll (seconds;
    #: the measured driver time around a run, bench/bench_cpu_kernels.py, is its floor). A run
    #: list costs this once (its registers, start, poll).
    host_overhead_s: float = 20e-6
    #: Host time per run that joins a run list: the driver's checks and the entry (seconds; the
    #: measured time is its floor).
    host_entry_s: float = 5e-6
    #: Host time per software layer: Python/numpy call overhead (seconds).
    cpu_layer_overhead_s: float = 50e-6
    #: Fraction of the peak DDR bandwidth the CPU's copies sustain (layout changes of tiled runs).
    cpu_copy_efficiency: float = 0.3

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CONSTANTS = CycleConstants()


@dataclass(frozen=True)
class MemoryPort:
    """Bytes per cycle the accelerator's one AXI port can move.

    ``read_bpc``/``write_bpc``: per direction (port width limit); ``shared_bpc``: reads plus
    writes together (DDR limit; ``math.inf`` in simulation); ``read_latency`` in cycles.
    """

    read_bpc: float
    write_bpc: float
    shared_bpc: float
    read_latency: int
    write_latency: int


def memory_port(config: AcceleratorConfig, board, constants: CycleConstants = CONSTANTS) -> MemoryPort:
    """The port of ``config`` on ``board`` at ``config.clock_mhz``.

    The AXI master moves ``axi_data_width / 8`` bytes per cycle per direction at most, and no more
    than the board's HP port width; DDR bandwidth (``ddr_gbps * ddr_efficiency``) is shared by
    both directions.
    """
    port_bytes = min(config.axi_data_width, board.hp_port_bits) / 8
    ddr_bpc = board.ddr_gbps * 1e9 * constants.ddr_efficiency / (config.clock_mhz * 1e6)
    return MemoryPort(port_bytes, port_bytes, ddr_bpc, constants.read_latency, constants.write_latency)


def ideal_memory_port(config: AcceleratorConfig, read_latency: int = 2, write_latency: int = 2) -> MemoryPort:
    """A memory that answers every beat (the Verilator testbench's AXI RAM without pauses)."""
    b = config.axi_data_width / 8
    return MemoryPort(b, b, math.inf, read_latency, write_latency)


@dataclass(frozen=True)
class RunCycles:
    """Predicted cycles of one run and where they go."""

    cycles: int
    compute_cycles: int
    transfer_cycles: int
    read_bytes: int
    write_bytes: int
    groups: int
    bound: str  # "compute" or "memory"


def _ceil(a: float) -> int:
    return int(math.ceil(a - 1e-9))


def peak_ops_per_cycle(config: AcceleratorConfig) -> int:
    """Operations (2 per MAC of the equivalent direct convolution) per cycle at full occupancy."""
    return config.engine_description.peak_ops_per_cycle(config)


def run_cycles(inv: Descriptor, config: AcceleratorConfig, port: MemoryPort,
               constants: CycleConstants = CONSTANTS, table: bool = False) -> RunCycles:
    """Cycles from AP_START to AP_DONE of one run of ``inv`` on ``config`` (``table``: the run
    maps its outputs through an activation table, which it reads first: ``ACT_TABLE_BYTES`` at
    the port's rate ahead of everything else). A build with an activation table drains its
    requantiser ``Requantiser.TABLE_STAGES`` cycles later. A pooled run (``inv.pool``) writes a
    quarter of the output; a build with pooling checks a descriptor ``LayerCheck.POOL_CHECK_CYCLES``
    longer and drains ``Pooling.LATENCY`` cycles later."""
    run = _run_cycles(inv, config, port, constants)
    if not (table or config.activation_table or config.pooling):
        return run
    extra = (Requantiser.TABLE_STAGES if config.activation_table else 0) + (table_read_cycles(port) if table else 0)
    if config.pooling:
        extra += Pooling.LATENCY + LayerCheck.POOL_CHECK_CYCLES
    read = ACT_TABLE_BYTES if table else 0
    return dataclasses.replace(run, cycles=run.cycles + extra, read_bytes=run.read_bytes + read)


def table_read_cycles(port: MemoryPort) -> int:
    """Cycles a run's activation table adds to it: its ``ACT_TABLE_BYTES`` read at the port's rate
    ahead of everything else (what ``run_cycles(..., table=True)`` adds to the run without)."""
    return _ceil(ACT_TABLE_BYTES / port.read_bpc)


def _run_cycles(inv: Descriptor, config: AcceleratorConfig, port: MemoryPort,
                constants: CycleConstants = CONSTANTS) -> RunCycles:
    pm, pn, dw = config.pm, config.pn, config.data_width
    ebytes = dw / 8
    cg = math.ceil(inv.in_channels / pn)
    mg = math.ceil(inv.out_channels / pm)
    ho, wo, k = inv.out_height, inv.out_width, inv.kernel
    if ho < 1 or wo < 1:
        raise ValueError(f"descriptor {inv} has an empty output")
    word_bytes = pn * ebytes
    in_bytes = inv.height * cg * inv.width * word_bytes
    # Per group: the quant table entries and the weights, read just before the group's input.
    wq_bytes = cg * k * k * pm * pn * ebytes + pm * QUANT_ENTRY_BYTES
    out_bytes = inv.written_height * inv.written_width * pm * ebytes
    pixels = ho * wo
    engine = config.engine_description
    if engine.kernel not in (None, k) or engine.stride not in (None, inv.stride):
        raise ValueError(f"the {engine.title} engine runs {engine.kernel}x{engine.kernel} stride-{engine.stride} "
                         f"descriptors only, got {inv}")
    if engine.input_reuse:
        return _reuse_run_cycles(inv, config, port, constants)
    pass_ = engine.pass_cycles(inv, config)
    compute, row_compute, prime_rows = pass_.compute, pass_.row_compute, pass_.prime_rows
    pipeline = pass_.drain + constants.back_end_latency
    # The requantiser takes pm / requant_lanes cycles per output pixel.
    compute = max(compute, _ceil(pixels * pm / config.requant_lanes))
    prime_rows = max(1, prime_rows - inv.padding)
    # The engine takes at most one pn-word of input per cycle (the line/tile buffer's write
    # port), so a narrow word (small pn) cannot use the whole bus width.
    in_bpc = min(port.read_bpc, word_bytes)
    prime = _ceil(prime_rows * cg * inv.width * word_bytes / in_bpc)
    wq_cycles = _ceil(wq_bytes / port.read_bpc)
    # The next group's weights follow this group's last input word in the read stream: they load
    # while the pass's last `load_rows` output rows compute (the line buffer takes the last input
    # row when they start), or not at all when the input streams until the pass ends (an
    # input-bound pass); whatever they take beyond that is exposed.
    input_end = max(in_bytes / in_bpc, prime + (ho - pass_.load_rows) * row_compute)

    def group(last: bool) -> tuple[int, float]:
        """(transfer cycles, cycles) of one output-channel group's pass; every group but the
        last also reads the next group's weights."""
        reads = in_bytes + (0 if last else wq_bytes)
        transfer = _ceil(max(reads / port.read_bpc, in_bytes / in_bpc, out_bytes / port.write_bpc,
                             (reads + out_bytes) / port.shared_bpc))
        pass_end = max(compute + prime, transfer)
        exposed = 0 if last else max(0, wq_cycles - max(0.0, pass_end - input_end))
        return transfer, pass_end + pipeline + constants.group_setup + exposed

    # The groups before the last are alike (a closed form of the per-group sum: the DSE asks for
    # hundreds of thousands of runs).
    (t_inner, c_inner), (t_last, c_last) = group(False), group(True)
    inner = mg - 1
    total = constants.layer_setup + wq_cycles + port.read_latency + inner * c_inner + c_last + port.write_latency
    transfer_total = inner * t_inner + t_last
    compute_bound = inner * (compute + prime >= t_inner) + (compute + prime >= t_last)
    read_bytes = int(mg * (in_bytes + wq_bytes))
    write_bytes = int(mg * out_bytes)
    bound = "compute" if compute_bound * 2 >= mg else "memory"
    return RunCycles(int(total), int(compute * mg), int(transfer_total), read_bytes, write_bytes, mg, bound)


def _reuse_run_cycles(inv: Descriptor, config: AcceleratorConfig, port: MemoryPort,
                      constants: CycleConstants) -> RunCycles:
    """A run of an input-reuse engine: the input read once, ``strips * MG`` visits.

    Two stages overlap visit by visit: the front (a visit's PE-array beats, or the read stream
    that brings its weights, quant entries and its share of the next strip's input rows, if
    slower) and the back (the visit's strip of output pixels through the output stage, the
    requantiser and the write port). With double buffering on both sides the steady period is
    the slower of the two; the first visit waits for its weights and the first rows, and the
    last strip drains after the last beat.
    """
    v = config.engine_description.visit_cycles(inv, config)
    pm, pn = config.pm, config.pn
    ebytes = config.data_width / 8
    cg = math.ceil(inv.in_channels / pn)
    mg = math.ceil(inv.out_channels / pm)
    wo = inv.out_width
    word_bytes = pn * ebytes
    row_bytes = inv.width * cg * word_bytes
    # The datapath takes at most one pn-word of input per cycle.
    in_bpc = min(port.read_bpc, word_bytes)
    row_cycles = row_bytes / in_bpc
    w_bytes = cg * 9 * pm * pn * ebytes
    q_bytes = pm * QUANT_ENTRY_BYTES
    weight_stream = max(v.weight_load, w_bytes / port.read_bpc) + q_bytes / port.read_bpc
    # The first strip's rows are read before its first visit; the remaining input rows stream
    # in during the visits of every strip but the last (which reads none), in segments between
    # the visits' weights.
    prime_rows = v.prime_rows
    ahead = max(0, inv.height - prime_rows) / ((v.strips - 1) * mg) if v.strips > 1 else 0.0

    # A pooled run writes a quarter of each strip's pixels.
    written = 1 / POOL_WINDOW ** 2 if inv.pool else 1

    def back(rows: int) -> float:
        out_bytes = rows * wo * pm * ebytes * written
        return max(rows * wo * v.pixel_cycles, out_bytes / port.write_bpc)

    # Input segments cross the bus into the input FIFO (rtl.top; the read issuer holds credits
    # for it) and drain into the datapath at a word per cycle.
    fifo_beats = ReadIssuer.input_fifo_depth(config) * port.read_bpc / (config.axi_data_width / 8)
    drain_rate = in_bpc / port.read_bpc      # FIFO beats the datapath takes per cycle

    def front(rows: int, rows_in: float) -> float:
        # The in-order read stream carries a visit's weights, then input segments as the FIFO
        # has room. While the weights stream, the FIFO drains what it holds (at most its depth,
        # at most what drains in that time); those beats crossed at the bus rate. The rest of
        # the visit's input crosses at the drain rate, the stream waiting for FIFO room.
        out_bytes = rows * wo * pm * ebytes * written
        reads = w_bytes + q_bytes + rows_in * row_bytes
        in_beats = rows_in * row_bytes / port.read_bpc
        early = min(in_beats, fifo_beats, drain_rate * weight_stream)
        stream = weight_stream + early + (in_beats - early) / drain_rate
        return max(v.compute, stream, (reads + out_bytes) / port.shared_bpc)

    full, last = v.strip_rows, v.last_rows
    visits = v.strips * mg
    prime = port.read_latency + weight_stream + prime_rows * row_cycles
    # The first strip drains only once the output stage holds all of it (written one pixel per
    # fill_pixel_cycles); later strips fill while the previous one drains.
    def fill(rows: int) -> float:
        return rows * wo * v.fill_pixel_cycles

    if v.strips > 1:
        first = max(front(full, ahead), fill(full))
        steady = ((visits - mg - 1) * max(front(full, ahead), back(full))
                  + mg * max(front(last, 0.0), back(last)))
    else:
        first = max(front(last, 0.0), fill(last))
        steady = (mg - 1) * max(front(last, 0.0), back(last))
    total = (constants.layer_setup + prime + first + steady
             + v.drain + back(last) + constants.back_end_latency + port.write_latency)
    read_bytes = int(inv.height * row_bytes + visits * (w_bytes + q_bytes))
    write_bytes = int(mg * inv.written_height * inv.written_width * pm * ebytes)
    compute_total = visits * v.compute
    transfer_total = _ceil(max(read_bytes / port.read_bpc, write_bytes / port.write_bpc,
                               (read_bytes + write_bytes) / port.shared_bpc))
    bound = "compute" if compute_total >= transfer_total else "memory"
    return RunCycles(_ceil(total), compute_total, transfer_total, read_bytes, write_bytes, visits, bound)


def cpu_seconds(layer, board, data_width: int = 8, constants: CycleConstants = CONSTANTS) -> float:
    """Time the board's CPU takes for ``layer`` (a :class:`dse.graph.Layer`).

    Compute at ``board.cpu_gops`` (2 ops per MAC of a convolution -- grouped and depthwise ones
    at their true ``2*Cin/groups*K*K*Cout*Ho*Wo`` -- or fc layer, else the layer's element
    operations) or memory traffic at the DDR's sustained bandwidth (everything the layer reads
    from all its inputs, its weights and its output), whichever is slower, plus a fixed
    per-layer overhead; and never less than the time the runtime's kernels took for the layer on
    the development machine (:func:`dse.cpu_floor.cpu_floor_seconds`, measured by
    bench/bench_cpu_kernels.py).
    """
    ebytes = data_width / 8
    traffic = (layer.read_elements + layer.output_elements + layer.weight_count) * ebytes
    ops = layer.ops if layer.ops else layer.element_ops
    bw = board.ddr_gbps * 1e9 * constants.ddr_efficiency
    estimate = max(ops / (board.cpu_gops * 1e9), traffic / bw) + constants.cpu_layer_overhead_s
    # Never faster than the runtime's numpy kernels measured on the development machine.
    return max(estimate, cpu_floor_seconds(layer))


def list_entry_cycles(config: AcceleratorConfig, port: MemoryPort, constants: CycleConstants = CONSTANTS) -> int:
    """Cycles a run spends beyond :func:`run_cycles` when it comes from a run list: the entry's
    read (a round trip and ``RUN_LIST_ENTRY_BYTES`` of beats) and the sequencer's steps."""
    beats = -(-RUN_LIST_ENTRY_BYTES // (config.axi_data_width // 8))
    return port.read_latency + beats + constants.list_entry


def list_host_seconds(entries: int, constants: CycleConstants = CONSTANTS) -> float:
    """The CPU's time to start a run list of ``entries`` runs and take its end (registers, start,
    poll, status): ``host_overhead_s``, never less than the development machine's measurement
    (:func:`dse.cpu_floor.run_list_floor_seconds`)."""
    return max(constants.host_overhead_s, run_list_floor_seconds(entries))


def host_seconds(inv: Descriptor, config: AcceleratorConfig, board, constants: CycleConstants = CONSTANTS,
                 packs_input: bool = True, unpacks_output: bool = True, listed: bool = False) -> float:
    """The CPU's time around one accelerator run of ``inv``: the driver's checks and register
    programming (``host_overhead_s``) and the activation relayout -- the input packed into the
    IP's ``[H][CG][W][pn]`` layout (unless ``packs_input`` is False: the previous layer's output
    is read where it lies), the ``[Ho][MG][Wo][pm]`` output unpacked to NCHW (unless
    ``unpacks_output`` is False: it stays in DDR for the next layer) -- at the CPU's copy
    bandwidth (``cpu_copy_efficiency`` of the DDR, every byte read and written); never less
    than the driver took for it on the development machine
    (:func:`dse.cpu_floor.run_floor_seconds`). Weights are packed once, at load
    (``drivers.load_weights``), so they cost nothing per frame. ``listed``: the run joins a run
    list, whose start (:func:`list_host_seconds`) is priced once per list; the run itself costs
    ``host_entry_s`` instead of ``host_overhead_s``."""
    feats = run_features(inv.in_channels, inv.height, inv.width, inv.out_channels, inv.written_height,
                         inv.written_width, config.pm, config.pn, packs_input, unpacks_output)
    moved = 2 * feats["elements"] * config.data_width / 8
    fixed = constants.host_entry_s if listed else constants.host_overhead_s
    estimate = fixed + moved / (board.ddr_gbps * 1e9 * constants.cpu_copy_efficiency)
    return max(estimate, run_floor_seconds(feats, listed))
