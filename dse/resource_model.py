"""Resource model of a ConvAccelerator configuration: DSP, BRAM36, LUT, FF per component.

* **DSP** counts are exact rules: one DSP48 per multiplier when the signed product fits the
  slice's multiplier (25x18 for DSP48E1 on 7-series, 27x18 for DSP48E2 on UltraScale+), two
  otherwise. The direct MAC array has ``pm*pn`` multipliers (an int16 x int16 product fits one
  slice); the Winograd EWMM array ``pm*pn*n^2`` with the transformed operand widths of
  ``rtl.winograd_math``. The requantiser's ``(acc + bias) * mult`` (33 x 32 bits) costs
  ``dsp_per_multiply(33, 32)`` = 4 slices per lane (``config.requant_lanes`` lanes).
* The engine's part -- its components and their parameters, its multipliers and its memories
  (the shapes its buffers compute for themselves) -- comes from the engine's description
  (rtl/engine); the rest of the top (requantiser, AXI masters, control) is common.
* **BRAM36** is counted per memory from its width and depth the way Yosys/Vivado map a simple
  dual-port RAM: the cheapest tiling by RAMB36 shapes 512x72, 1Kx36, 2Kx18, 4Kx9, 8Kx4, 16Kx2,
  32Kx1 or RAMB18 shapes (half a RAMB36) 512x36, 1Kx18, 2Kx9, 4Kx4, 8Kx2, 16Kx1; memories of at
  most ``LUTRAM_MAX_BITS`` bits become distributed RAM (0 BRAM).
* **LUT/FF** are linear models in each component's parameters, ``coef . features``. The
  coefficients live in ``dse/resource_coefficients.json``, fitted by
  ``bench/calibrate_resources.py`` from Yosys ``synth_xilinx`` counts of the real generated
  modules; a component whose module does not exist yet carries a documented prior estimate,
  marked ``"calibrated": false`` in that file and in every report.

Headroom: a configuration fits a board when every resource stays within ``HEADROOM`` (80%) of
the device, leaving room for the PS interconnect, routing and timing closure.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from rtl.buffers.geometry import MemoryShape
from rtl.control.read_issuer import ReadIssuer
from rtl.config import AcceleratorConfig
from rtl.numerics import REQUANT, signed_range, signed_width
from rtl.winograd_math import dsp_per_multiply

__all__ = [
    "HEADROOM",
    "RESOURCES",
    "COEFFICIENTS_PATH",
    "ComponentEstimate",
    "ResourceEstimate",
    "dsp_per_multiply",
    "bram36_for",
    "memories",
    "memories_by_component",
    "component_params",
    "FEATURES",
    "feature_vector",
    "load_coefficients",
    "estimate_resources",
    "requant_sum_width",
]

#: Fraction of each device resource a configuration may use (the rest is routing headroom).
HEADROOM = {"LUT": 0.8, "FF": 0.8, "DSP": 0.8, "BRAM36": 0.8}
RESOURCES = ("LUT", "FF", "DSP", "BRAM36")

COEFFICIENTS_PATH = Path(__file__).with_name("resource_coefficients.json")

#: Memories up to this many bits are mapped to LUTRAM by Yosys (measured: 8x256 LUTRAM, 8x512 a RAMB18;
#: tests/unit/test_dse_models.py lists the measured shapes): they cost no block RAM.
LUTRAM_MAX_BITS = 2048

#: (depth, width) shapes of a RAMB36 and a RAMB18 in simple dual-port mode.
_RAMB36_SHAPES = ((512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1))
_RAMB18_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def bram36_for(width: int, depth: int) -> float:
    """Block RAMs (RAMB36 equivalents, RAMB18 = 0.5) for a ``width x depth`` simple dual-port RAM."""
    if width <= 0 or depth <= 0:
        return 0.0
    if width * depth <= LUTRAM_MAX_BITS:
        return 0.0
    best = math.inf
    for d, w in _RAMB36_SHAPES:
        best = min(best, math.ceil(depth / d) * math.ceil(width / w))
    for d, w in _RAMB18_SHAPES:
        best = min(best, 0.5 * math.ceil(depth / d) * math.ceil(width / w))
    return float(best)


def _bram36(mem: MemoryShape) -> float:
    return mem.count * bram36_for(mem.width, mem.depth)


def requant_sum_width(acc_width: int) -> int:
    """Width of ``acc + bias`` in the requantiser (the operand of its wide multiply)."""
    a_lo, a_hi = signed_range(acc_width)
    b_lo, b_hi = signed_range(REQUANT.bias_width)
    return signed_width(a_lo + b_lo, a_hi + b_hi)


def memories_by_component(config: AcceleratorConfig) -> dict[str, tuple[MemoryShape, ...]]:
    """The block memories of ``config`` by the component that owns them: the engine's (line/tile
    buffer, weight banks, output buffer) and, for an input-reuse engine, the top's input FIFO
    (rtl.top: its storage is the FIFO's depth less its output register, of read beats)."""
    out = dict(config.engine_description.memories(config))
    if config.engine_description.input_reuse:
        fifo = MemoryShape("input_fifo", config.axi_data_width + 1, ReadIssuer.input_fifo_depth(config) - 1)
        out["top_glue"] = out.get("top_glue", ()) + (fifo,)
    return out


def memories(config: AcceleratorConfig) -> list[MemoryShape]:
    """Every block memory of ``config`` (:func:`memories_by_component`, flattened)."""
    return [mem for mems in memories_by_component(config).values() for mem in mems]


def component_params(config: AcceleratorConfig) -> dict[str, dict]:
    """Parameters of each component of ``config`` (the inputs of the feature functions)."""
    pm, pn, dw = config.pm, config.pn, config.data_width
    return {
        **config.engine_description.components(config),
        "requantiser": {"pm": pm, "lanes": config.requant_lanes, "acc": config.acc_width},
        "axi_read": {"axi": config.axi_data_width, "outstanding": config.outstanding_reads},
        "axi_write": {"axi": config.axi_data_width},
        "control": {},
        "layer_check": {},
        "top_glue": {"axi": config.axi_data_width, "pm": pm, "pn": pn, "dw": dw,
                     "winograd": int(config.engine_description.input_reuse)},
    }


def _log2(x: float) -> float:
    return math.log2(max(2, x))


#: Feature functions per component: name -> (feature names, params -> feature values).
FEATURES = {
    "mac_array": (("1", "pm*pn*dw", "pm*acc", "pn*dw"),
                  lambda p: (1, p["pm"] * p["pn"] * p["dw"], p["pm"] * p["acc"], p["pn"] * p["dw"])),
    "requantiser": (("1", "lanes", "pm*acc"), lambda p: (1, p["lanes"], p["pm"] * p["acc"])),
    "line_buffer": (("1", "pn*dw", "log2(depth)"), lambda p: (1, p["pn"] * p["dw"], _log2(p["depth"]))),
    "weight_buffer": (("1", "pm*pn*dw", "log2(depth)"), lambda p: (1, p["pm"] * p["pn"] * p["dw"], _log2(p["depth"]))),
    "axi_read": (("1", "axi"), lambda p: (1, p["axi"])),
    "axi_write": (("1", "axi"), lambda p: (1, p["axi"])),
    "control": (("1",), lambda p: (1,)),
    "layer_check": (("1",), lambda p: (1,)),
    # The Winograd datapath's own sequencing (visit credits, result FIFO, channel-sum stage) is
    # glue too: a constant of its own. The quant gatherer holds sets of pm 16-byte entries and
    # the weight converter gathers pm*pn-word taps: slopes in pm and pm*pn*dw.
    "top_glue": (("1", "axi", "pm*pn*dw", "winograd", "pm"),
                 lambda p: (1, p["axi"], p["pm"] * p["pn"] * p["dw"], p.get("winograd", 0), p["pm"])),
    "winograd_input_transform": (("pn*adder_bits",), lambda p: (p["pn"] * p["adder_bits"],)),
    "winograd_filter_transform": (("pm*pn*adder_bits",), lambda p: (p["pm"] * p["pn"] * p["adder_bits"],)),
    "ewmm_array": (("1", "pm*pn*n^2*product", "pm*n^2*acc"),
                   lambda p: (1, p["pm"] * p["pn"] * p["n"] ** 2 * p["product"], p["pm"] * p["n"] ** 2 * p["acc"])),
    "winograd_output_transform": (("pm*adder_bits",), lambda p: (p["pm"] * p["adder_bits"],)),
    "tile_buffer": (("1", "pn*n^2*dw", "log2(depth)"), lambda p: (1, p["pn"] * p["n"] ** 2 * p["dw"], _log2(p["depth"]))),
    "output_buffer": (("1", "pm*n"), lambda p: (1, p["pm"] * p["n"])),
}


def feature_vector(component: str, params: dict) -> tuple[float, ...]:
    return tuple(float(v) for v in FEATURES[component][1](params))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    return json.loads(Path(path).read_text())


def load_coefficients(path: Path | str | None = None) -> dict:
    """The coefficient file written by ``bench/calibrate_resources.py``."""
    return _load(str(path or COEFFICIENTS_PATH))


@dataclass(frozen=True)
class ComponentEstimate:
    name: str
    lut: float
    ff: float
    dsp: int
    bram36: float
    calibrated: bool

    def to_dict(self) -> dict:
        return {"LUT": round(self.lut), "FF": round(self.ff), "DSP": self.dsp, "BRAM36": self.bram36,
                "calibrated": self.calibrated}


@dataclass
class ResourceEstimate:
    components: list[ComponentEstimate]
    memories: list[MemoryShape] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, float]:
        return {
            "LUT": round(sum(c.lut for c in self.components)),
            "FF": round(sum(c.ff for c in self.components)),
            "DSP": sum(c.dsp for c in self.components),
            "BRAM36": sum(c.bram36 for c in self.components),
        }

    @property
    def calibrated(self) -> bool:
        return all(c.calibrated for c in self.components)

    def utilisation(self, board) -> dict[str, float]:
        caps = board.resources
        return {k: v / caps[k] for k, v in self.totals.items()}

    def violations(self, board, headroom: dict[str, float] = HEADROOM) -> list[str]:
        """Resources over ``headroom`` of ``board``, as sentences (empty when it fits)."""
        caps = board.resources
        out = []
        for k, v in self.totals.items():
            limit = headroom[k] * caps[k]
            if v > limit:
                out.append(f"{k} {v:g} > {headroom[k]:.0%} of {caps[k]}")
        return out

    def fits(self, board, headroom: dict[str, float] = HEADROOM) -> bool:
        return not self.violations(board, headroom)

    def overuse(self, board, headroom: dict[str, float] = HEADROOM) -> float:
        """Sum of relative excesses over the headroom limits (0 when it fits)."""
        caps = board.resources
        return sum(max(0.0, v / (headroom[k] * caps[k]) - 1.0) for k, v in self.totals.items())

    def to_dict(self) -> dict:
        return {
            "totals": self.totals,
            "calibrated": self.calibrated,
            "components": {c.name: c.to_dict() for c in self.components},
            "memories": [{"name": m.name, "width": m.width, "depth": m.depth, "count": m.count,
                          "BRAM36": _bram36(m)} for m in self.memories],
        }


def _dsp(config: AcceleratorConfig, family: str) -> dict[str, int]:
    """DSP slices per component: the engine's multipliers and the requantiser's lanes."""
    out: dict[str, int] = {}
    for mul in config.engine_description.multipliers(config):
        out[mul.component] = out.get(mul.component, 0) + mul.count * dsp_per_multiply(mul.a_width, mul.b_width, family)
    out["requantiser"] = config.requant_lanes * dsp_per_multiply(requant_sum_width(config.acc_width),
                                                                 REQUANT.mult_width, family)
    return out


def estimate_resources(config: AcceleratorConfig, family: str = "xc7", coefficients: dict | None = None) -> ResourceEstimate:
    """Predicted LUT/FF/DSP/BRAM36 of ``rtl.top.ConvAccelerator(config)`` for ``family``."""
    coefs = (coefficients or load_coefficients())["components"]
    bram_of = {owner: sum(_bram36(m) for m in mems) for owner, mems in memories_by_component(config).items()}
    dsp_of = _dsp(config, family)
    comps = []
    for name, params in component_params(config).items():
        c = coefs[name]
        x = feature_vector(name, params)
        lut = max(0.0, sum(a * b for a, b in zip(c["LUT"], x)))
        ff = max(0.0, sum(a * b for a, b in zip(c["FF"], x)))
        bram = bram_of.get(name, 0.0) + float(c.get("BRAM36", 0.0))
        comps.append(ComponentEstimate(name, lut, ff, dsp_of.get(name, 0), bram, bool(c.get("calibrated", False))))
    if config.activation_table:
        comps.append(_activation_table(config))
    if config.pooling:
        comps.append(_pooling(config))
    return ResourceEstimate(comps, memories(config))


def _activation_table(config: AcceleratorConfig) -> ComponentEstimate:
    """The requantiser's activation tables (rtl/pe/requantiser.py), counted from their structure,
    not yet fitted to Yosys (``calibrated`` False): per lane a ``256 / B``-word memory of ``8B``
    bits (B bus bytes) in distributed RAM (a RAM32M/RAM64M holds 6 / 3 bits per 4 LUTs), a
    ``B``:1 byte mux and the bypass (2 LUTs per bit of each), and registers for the clamped
    value, the byte index, the bypass value and the read word."""
    b = config.bus_bytes
    words = 256 // b
    ram_luts = 4 * math.ceil(8 * b / (6 if words <= 32 else 3)) * math.ceil(words / 64)
    lut = config.requant_lanes * (ram_luts + 2 * 8 * 2)
    ff = config.requant_lanes * (8 + (b - 1).bit_length() + 8 + 8 * b)
    return ComponentEstimate("activation_table", lut, ff, 0, 0.0, False)


def _pooling(config: AcceleratorConfig) -> ComponentEstimate:
    """The pooling stage (rtl/pe/pooling.py), counted from its structure, not yet fitted to Yosys
    (``calibrated`` False): a row memory of ``max_width / 2`` entries of ``pm`` lanes of
    ``data_width + 1`` bits (block RAM above ``LUTRAM_MAX_BITS``, else distributed RAM: 4 LUTs
    per 3 bits of 64 entries), per lane bit two compare-or-add stages and the output and
    pass-through muxes (about 6 LUTs), and registers for the held pixel and the output."""
    lanes_bits = config.pm * (config.data_width + 1)
    depth = max(1, config.max_width // 2)
    bram = bram36_for(lanes_bits, depth)
    ram_luts = 0 if bram else 4 * math.ceil(lanes_bits / 3) * math.ceil(depth / 64)
    lut = ram_luts + 6 * lanes_bits + 40
    ff = 2 * lanes_bits + config.pm * config.data_width + 40
    return ComponentEstimate("pooling", lut, ff, 0, bram, False)
