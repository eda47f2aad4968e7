"""A timing estimate without Vivado: longest register-to-register path of a Yosys netlist.

:func:`estimate_timing` takes the flattened ``synth_xilinx`` netlist of a design (JSON, from
:func:`dse.synth.synthesize`) and a family's :class:`dse.delay_model.DelayModel`, and finds the
slowest path between clocked elements: it starts at a flip-flop's, block RAM's, DSP register's,
shift register's or LUT RAM's clock-to-output, or at a top-level input; adds a routed-net delay
(fan-out dependent) and the cell's delay for every LUT, carry element, wide mux, LUT-RAM read or
combinational DSP stage on the way; and ends at a clocked input's set-up time or at a top-level
output. The estimated Fmax is ``1000 / worst path``. Paths are named by the Amaranth hierarchy
Yosys keeps in the flattened net names (``dp.lb.rbu`` is the ``rbu`` signal of the line buffer
``lb`` of the datapath ``dp``).

Top-level inputs arrive at the clock edge and outputs are due at the next one: in the block
design they connect to registered interconnect ports. It is an estimate (docs/timing.md): no
placement, no congestion, no clock skew; the clock the DSE builds for keeps a margin for them.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from dataclasses import dataclass, field

from .delay_model import DELAY_MODELS, DelayModel

__all__ = ["TimingReport", "TimingPath", "Stage", "estimate_timing", "TimingError"]


class TimingError(RuntimeError):
    """The netlist holds something the analysis does not know (a cell type, a loop)."""


@dataclass(frozen=True)
class Stage:
    """One step of a path: the net reached, the cell that drives it, arrival time (ns)."""

    net: str
    cell: str
    arrival: float


@dataclass(frozen=True)
class TimingPath:
    start: str
    end: str
    delay: float
    stages: tuple[Stage, ...]
    logic_levels: int

    def describe(self) -> str:
        """The path stage by stage: arrival time, cell, net reached."""
        lines = [f"{self.delay:.3f} ns, {self.logic_levels} logic levels: {self.start} -> {self.end}"]
        lines += [f"  {s.arrival:7.3f}  {s.cell:10s} {s.net}" for s in self.stages]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "delay_ns": round(self.delay, 3),
                "logic_levels": self.logic_levels,
                "stages": [{"net": s.net, "cell": s.cell, "arrival_ns": round(s.arrival, 3)} for s in self.stages]}


@dataclass
class TimingReport:
    """The estimate of one design: worst path, Fmax and the slowest endpoints' paths."""

    top: str
    family: str
    model: str
    worst: float
    paths: list[TimingPath] = field(default_factory=list)
    endpoints: int = 0
    delays: list[float] = field(default_factory=list, repr=False)

    @property
    def fmax_mhz(self) -> float:
        return 1000.0 / self.worst if self.worst > 0 else float("inf")

    def failing(self, mhz: float) -> int:
        """Endpoints whose path is longer than the period of ``mhz``."""
        period = 1000.0 / mhz
        return sum(1 for d in self.delays if d > period)

    def summary(self, mhz: float | None = None) -> str:
        lines = [f"{self.top}: estimated Fmax {self.fmax_mhz:.1f} MHz (worst path {self.worst:.3f} ns, "
                 f"{self.family}, {self.model}; an estimate: no placement or routing)"]
        if mhz is not None:
            lines.append(f"{self.failing(mhz)} of {self.endpoints} endpoints miss {1000.0 / mhz:.3f} ns ({mhz:g} MHz)")
        for p in self.paths:
            lines.append(f"  {p.delay:6.3f} ns  {p.logic_levels:2d} levels  {p.start} -> {p.end}")
        return "\n".join(lines)

    def to_dict(self, mhz: float | None = None) -> dict:
        out = {"top": self.top, "family": self.family, "model": self.model, "worst_ns": round(self.worst, 3),
               "fmax_mhz": round(self.fmax_mhz, 1), "endpoints": self.endpoints,
               "paths": [p.to_dict() for p in self.paths]}
        if mhz is not None:
            out["target_mhz"] = mhz
            out["failing_endpoints"] = self.failing(mhz)
        return out


# ----- cell timing ---------------------------------------------------------------------------------

_FF = {"FDRE": ("R",), "FDSE": ("S",), "FDCE": (), "FDPE": ()}  # async CLR/PRE are not timed paths
_BRAM = ("RAMB18E1", "RAMB36E1", "RAMB18E2", "RAMB36E2")
_DSP = ("DSP48E1", "DSP48E2")
_LUTRAM = re.compile(r"RAM(32|64|128|256)(M|X1D|X1S|M16)$")
_SRL = ("SRL16E", "SRLC32E", "SRLC16E")
_IGNORED = ("$scopeinfo", "BUFG", "BUFGCE", "IBUF", "OBUF", "IOBUF", "OBUFT")


@dataclass
class _Cell:
    """The timing view of one cell: combinational arcs between pins, and clocked pins."""

    arcs: list[tuple[str, str, float]] = field(default_factory=list)   # (input pin, output pin, delay)
    starts: dict[str, float] = field(default_factory=dict)             # output pin -> clock-to-out
    ends: dict[str, float] = field(default_factory=dict)               # input pin -> set-up


def _param(cell: dict, name: str, default: int = 0) -> int:
    v = cell.get("parameters", {}).get(name)
    if v is None:
        return default
    if isinstance(v, int):
        return v
    v = str(v).strip()
    return int(v, 2) if set(v) <= {"0", "1"} else int(v) if v.isdigit() else default


def _pins(cell: dict, direction: str) -> list[str]:
    """``port[i]`` pins of a cell with the given direction (``input``/``output``)."""
    out = []
    for port, d in cell["port_directions"].items():
        if d == direction:
            bits = cell["connections"].get(port, [])
            out += [f"{port}[{i}]" for i in range(len(bits))]
    return out


def _port(pin: str) -> str:
    return pin.split("[", 1)[0]


def _index(pin: str) -> int:
    return int(pin.rsplit("[", 1)[1][:-1])


def _cell_timing(ctype: str, cell: dict, m: DelayModel) -> _Cell:
    t = _Cell()
    ins, outs = _pins(cell, "input"), _pins(cell, "output")
    if re.fullmatch(r"LUT[1-6]|INV", ctype):
        t.arcs = [(i, o, m.lut) for i in ins for o in outs]
    elif ctype in ("MUXF7", "MUXF8", "MUXF9"):
        t.arcs = [(i, o, m.muxf) for i in ins for o in outs]
    elif ctype in ("CARRY4", "CARRY8"):
        for o in outs:
            j, oport = _index(o), _port(o)
            for i in ins:
                port = _port(i)
                if port in ("CI", "CI_TOP"):
                    t.arcs.append((i, o, m.carry_through if oport == "CO" else m.carry_sum))
                elif port == "CYINIT" or _index(i) <= j:
                    t.arcs.append((i, o, m.carry_in))
    elif ctype in _FF:
        t.starts = {o: m.ff_clock_to_q for o in outs}
        setup = {"D": m.ff_setup_d, "CE": m.ff_setup_ce}
        setup.update({p: m.ff_setup_sr for p in _FF[ctype]})
        t.ends = {i: setup[_port(i)] for i in ins if _port(i) in setup}
    elif ctype in _BRAM:
        for o in outs:
            side = "A" if _port(o) in ("DOADO", "DOPADOP", "DOUTADOUT", "DOUTPADOUTP") else "B"
            registered = _param(cell, f"DO{side}_REG")
            t.starts[o] = m.bram_clock_to_out_registered if registered else m.bram_clock_to_out
        for i in ins:
            port = _port(i)
            if port.startswith("CLK"):
                continue
            if "ADDR" in port:
                t.ends[i] = m.bram_setup_addr
            elif port.startswith(("DI", "DIN")):
                t.ends[i] = m.bram_setup_data
            elif port.startswith("WE"):
                t.ends[i] = m.bram_setup_we
            else:
                t.ends[i] = m.bram_setup_en
    elif ctype in _DSP:
        _dsp_timing(t, cell, ins, outs, m)
    elif _LUTRAM.match(ctype):
        read = {"DOA": ("ADDRA",), "DOB": ("ADDRB",), "DOC": ("ADDRC",), "DOD": ("ADDRD",),
                "SPO": ("A",), "DPO": ("DPRA",), "O": ("A",)}
        for o in outs:
            sources = read.get(_port(o), ())
            for i in ins:
                if _port(i) in sources or (_port(i).startswith("A") and _port(o) in ("SPO", "O")):
                    t.arcs.append((i, o, m.lut + m.lutram_read))
            t.starts[o] = m.lutram_read + m.lut  # a write changes the read data after the clock
        t.ends = {i: m.lutram_setup for i in ins if not _port(i).startswith("WCLK")}
    elif ctype in _SRL:
        for o in outs:
            t.starts[o] = m.srl_clock_to_q
            t.arcs += [(i, o, m.lut) for i in ins if _port(i).startswith("A")]
        t.ends = {i: m.srl_setup for i in ins if _port(i) in ("D", "CE")}
    else:
        raise TimingError(f"cell type {ctype} is not in the timing model")
    return t


def _dsp_timing(t: _Cell, cell: dict, ins: list[str], outs: list[str], m: DelayModel) -> None:
    d = m.dsp
    areg = _param(cell, "AREG") or _param(cell, "ACASCREG")
    breg = _param(cell, "BREG") or _param(cell, "BCASCREG")
    creg, mreg, preg = _param(cell, "CREG"), _param(cell, "MREG"), _param(cell, "PREG")
    use_mult = str(cell.get("parameters", {}).get("USE_MULT", "MULTIPLY")).strip('"') != "NONE"
    out_pins = [o for o in outs if _port(o) in ("P", "PCOUT", "CARRYOUT", "CARRYCASCOUT", "MULTSIGNOUT",
                                                  "PATTERNDETECT", "PATTERNBDETECT", "OVERFLOW", "UNDERFLOW")]
    if preg:
        p_start = d.p_from_preg
    elif mreg and use_mult:
        p_start = d.p_from_mreg
    elif areg or breg:
        p_start = d.p_from_input_reg
    else:
        p_start = None
    if p_start is not None:
        for o in out_pins:
            t.starts[o] = p_start
    for o in outs:
        if _port(o) in ("ACOUT", "BCOUT"):
            t.starts[o] = d.p_from_preg
    for i in ins:
        port = _port(i)
        if port.startswith("CLK"):
            continue
        if port in ("A", "ACIN", "D"):
            reg = areg if port != "D" else _param(cell, "DREG")
        elif port in ("B", "BCIN"):
            reg = breg
        elif port == "C":
            reg = creg
        else:
            reg = None  # PCIN, OPMODE, ALUMODE, INMODE, CARRYIN*, CE*, RST*
        if port.startswith(("CE", "RST")):
            t.ends[i] = d.input_setup
        elif reg:
            t.ends[i] = d.input_setup
        elif port in ("A", "ACIN", "D", "B", "BCIN") and use_mult and mreg:
            t.ends[i] = d.to_mreg
        elif port in ("A", "ACIN", "D", "B", "BCIN") and preg:
            t.ends[i] = d.to_preg
        elif preg:
            t.ends[i] = d.alu_to_preg
        elif port in ("A", "ACIN", "D", "B", "BCIN"):
            t.arcs += [(i, o, d.a_to_p) for o in out_pins]
        else:
            t.arcs += [(i, o, d.c_to_p) for o in out_pins]


#: Driver pin -> load pins joined by a dedicated wire (no routing delay).
_DEDICATED = {("CARRY4", "CO"): ("CARRY4", "CI"), ("CARRY8", "CO"): ("CARRY8", "CI"),
              ("DSP48E1", "PCOUT"): ("DSP48E1", "PCIN"), ("DSP48E2", "PCOUT"): ("DSP48E2", "PCIN"),
              ("DSP48E1", "ACOUT"): ("DSP48E1", "ACIN"), ("DSP48E1", "BCOUT"): ("DSP48E1", "BCIN"),
              ("DSP48E2", "ACOUT"): ("DSP48E2", "ACIN"), ("DSP48E2", "BCOUT"): ("DSP48E2", "BCIN")}


def _dedicated(src_type: str, src_pin: str, dst_type: str, dst_pin: str) -> bool:
    if src_type.startswith("LUT") and dst_type in ("MUXF7",) and _port(dst_pin) in ("I0", "I1"):
        return True
    if src_type in ("MUXF7", "MUXF8") and dst_type in ("MUXF8", "MUXF9") and _port(dst_pin) in ("I0", "I1"):
        return True
    return _DEDICATED.get((src_type, _port(src_pin))) == (dst_type, _port(dst_pin))


# ----- the analysis -------------------------------------------------------------------------------

def _bit_names(module: dict) -> dict[int, str]:
    """A readable name per bit: a net the designer named (shortest), else Yosys's."""
    best: dict[int, tuple] = {}
    for name, net in module.get("netnames", {}).items():
        bits = net["bits"]
        hidden = net.get("hide_name", 0)
        for k, b in enumerate(bits):
            if not isinstance(b, int):
                continue
            name = name.lstrip("\\")
            label = name if len(bits) == 1 else f"{name}[{k}]"
            key = (hidden, name.startswith("$"), len(name), label)
            if b not in best or key < best[b]:
                best[b] = key
    return {b: key[3] for b, key in best.items()}


def estimate_timing(netlist: dict, top: str, family: str = "xc7", paths: int = 10) -> TimingReport:
    """The timing estimate of module ``top`` of a flattened ``synth_xilinx`` JSON ``netlist``.

    ``paths``: how many of the slowest endpoints (distinct registers) to report with their path.
    """
    if family not in DELAY_MODELS:
        raise ValueError(f"family must be one of {sorted(DELAY_MODELS)}, got {family!r}")
    model = DELAY_MODELS[family]
    module = netlist["modules"].get(top) or netlist["modules"].get(f"\\{top}")
    if module is None:
        raise TimingError(f"the netlist has no module {top}")
    names = _bit_names(module)

    # Pins of every bit: its driver (cell, type, pin) and its loads.
    driver: dict[int, tuple[str, str, str]] = {}
    loads: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    timing: dict[str, _Cell] = {}
    ctypes: dict[str, str] = {}
    for cname, cell in module["cells"].items():
        ctype = cell["type"].lstrip("\\")
        if ctype in _IGNORED:
            continue
        ctypes[cname] = ctype
        timing[cname] = _cell_timing(ctype, cell, model)
        for port, bits in cell["connections"].items():
            direction = cell["port_directions"].get(port)
            for i, b in enumerate(bits):
                if not isinstance(b, int):
                    continue
                pin = f"{port}[{i}]"
                if direction == "output":
                    driver[b] = (cname, ctype, pin)
                else:
                    loads[b].append((cname, ctype, pin))
    pin_bit = {}
    for cname, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            for i, b in enumerate(bits):
                pin_bit[(cname, f"{port}[{i}]")] = b

    def wire(b: int, dst_type: str, dst_pin: str) -> float:
        src = driver.get(b)
        if src is not None and _dedicated(src[1], src[2], dst_type, dst_pin):
            return 0.0
        return model.route(len(loads[b]))

    # Arrival times: sources are clocked outputs and top-level inputs; then the combinational
    # arcs in topological order (Kahn) over bits.
    arrival: dict[int, float] = {}
    came_from: dict[int, tuple[int | None, str]] = {}
    for cname, t in timing.items():
        for pin, delay in t.starts.items():
            b = pin_bit.get((cname, pin))
            if isinstance(b, int) and delay > arrival.get(b, -1.0):
                arrival[b] = delay
                came_from[b] = (None, ctypes[cname])
    for pname, port in module.get("ports", {}).items():
        if port["direction"] == "input":
            for b in port["bits"]:
                if isinstance(b, int):
                    arrival.setdefault(b, 0.0)
                    came_from.setdefault(b, (None, "input port"))
    edges: dict[int, list[tuple[int, float, str]]] = defaultdict(list)
    indegree: dict[int, int] = defaultdict(int)
    for cname, t in timing.items():
        for ipin, opin, delay in t.arcs:
            src, dst = pin_bit.get((cname, ipin)), pin_bit.get((cname, opin))
            if not isinstance(src, int) or not isinstance(dst, int):
                continue
            edges[src].append((dst, wire(src, ctypes[cname], ipin) + delay, ctypes[cname]))
            indegree[dst] += 1
    queue = deque(b for b in set(driver) | set(arrival) | set(edges) if indegree[b] == 0)
    seen = 0
    while queue:
        b = queue.popleft()
        seen += 1
        for dst, delay, ctype in edges.get(b, ()):
            if b in arrival and arrival[b] + delay > arrival.get(dst, -1.0):
                arrival[dst] = arrival[b] + delay
                came_from[dst] = (b, ctype)
            indegree[dst] -= 1
            if indegree[dst] == 0:
                queue.append(dst)
    if any(indegree[b] > 0 for b in indegree):
        raise TimingError(f"combinational loop in {top}: {sum(1 for b in indegree if indegree[b] > 0)} nets never settle")

    # Endpoints: clocked inputs and top-level outputs; keep the worst per endpoint cell.
    worst_of: dict[str, tuple[float, int, str]] = {}
    delays = []
    for cname, t in timing.items():
        for pin, setup in t.ends.items():
            b = pin_bit.get((cname, pin))
            if not isinstance(b, int) or b not in arrival:
                continue
            total = arrival[b] + wire(b, ctypes[cname], pin) + setup
            delays.append(total)
            if cname not in worst_of or total > worst_of[cname][0]:
                worst_of[cname] = (total, b, _endpoint_name(cname, t, pin_bit, names, pin))
    for pname, port in module.get("ports", {}).items():
        if port["direction"] == "output":
            for k, b in enumerate(port["bits"]):
                if isinstance(b, int) and b in arrival and driver.get(b) is not None:
                    total = arrival[b] + model.route(len(loads[b]) + 1)
                    delays.append(total)
                    key = f"port {pname}"
                    if key not in worst_of or total > worst_of[key][0]:
                        worst_of[key] = (total, b, f"{pname}[{k}] (output port)")
    ranked = sorted(worst_of.values(), key=lambda v: -v[0])
    report = TimingReport(top, family, model.title, ranked[0][0] if ranked else 0.0, endpoints=len(delays),
                          delays=delays)
    # One path per endpoint signal (the bits of a register share their story).
    shown: dict[str, tuple[float, int, str]] = {}
    for total, b, end in ranked:
        signal = re.sub(r"\[\d+\]", "", end)
        if signal not in shown:
            shown[signal] = (total, b, end)
        if len(shown) == paths:
            break
    for total, b, end in shown.values():
        stages = []
        cursor: int | None = b
        while cursor is not None:
            prev, ctype = came_from.get(cursor, (None, "?"))
            stages.append(Stage(names.get(cursor, f"${cursor}"), ctype, arrival.get(cursor, 0.0)))
            cursor = prev
        stages.reverse()
        levels = sum(1 for s in stages[1:] if not s.cell.startswith("CARRY"))
        report.paths.append(TimingPath(stages[0].net, end, total, tuple(stages), levels))
    return report


def _endpoint_name(cname: str, t: _Cell, pin_bit: dict, names: dict, pin: str) -> str:
    """A register endpoint is named by its output net (the Amaranth signal it holds)."""
    for opin in t.starts:
        b = pin_bit.get((cname, opin))
        if isinstance(b, int) and b in names:
            return f"{names[b]} ({_port(pin)})"
    return f"{cname} ({_port(pin)})"
