"""AcceleratorConfig: the build-time parameters of one ConvAccelerator bitstream.

Pure Python; the DSE produces it, the RTL generator consumes it, the driver reads it back from
the build-info registers. Validation explains every refusal in one sentence.

Decisions (see docs/architecture.md):

* A weight group is ``tm = pm`` output channels by all ``C`` input channels (``tn = C``): the
  MAC array accumulates the full ``K*K*C`` sum of an output before it leaves the array, so no
  partial sums go back to memory. ``weight_depth`` (taps per ping-pong bank) is at most
  ``ceil(max_channels / pn) * max_kernel**2`` for the direct engine; the DSE sets
  ``max_weight_taps`` and ``max_row_words`` to what the network needs.
* pm and pn are powers of two (1..64) so activation and output words pack evenly into AXI beats.
* What depends on the engine (its tile sizes, the kernels it runs, its name in the build's name)
  is asked of the engine's description (rtl/engine); the descriptor bounds every build shares
  (4096, kernel sizes, strides) come from rtl/descriptor.py.
* Addresses are 64-bit (as Vitis HLS m_axi ports); the interconnect drops the unused high bits.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from .descriptor import KERNEL_SIZES, MAX_DIMENSION, POOL_WINDOW, STRIDES, Limits
from .engine import ENGINES, EngineDescription
from .numerics import SUPPORTED_DATA_WIDTHS, accumulator_width

__all__ = ["AcceleratorConfig", "AXI_DATA_WIDTHS", "ADDRESS_WIDTHS", "PARALLELISMS"]

AXI_DATA_WIDTHS = (64, 128)
#: AXI address widths: 32 (Zynq-7000 HP ports), 40, 49 (UltraScale+), 64 (Vitis HLS default).
ADDRESS_WIDTHS = (32, 40, 49, 64)
#: pm and pn values: powers of two and three times them (up to 64). Words of 3 * 2^k bytes do
#: not divide an AXI beat; the DMA converters then run as gearboxes (rtl/dma), so a PE array
#: can fill a board's DSPs (F(4,3) pm x pn = 6: 216 of the xc7z020's 220; direct 48 x 4: 192).
PARALLELISMS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


@dataclass(frozen=True)
class AcceleratorConfig:
    engine: str = "direct"
    #: Winograd output tile size m of F(m, 3) (ignored by the direct engine; kept 0 there).
    m: int = 0
    #: Output-channel parallelism (output channels computed at once).
    pm: int = 8
    #: Input-channel parallelism (input channels consumed per beat).
    pn: int = 8
    data_width: int = 8
    axi_data_width: int = 64
    axi_addr_width: int = 64
    #: Largest input feature-map width (pixels) the line buffer holds.
    max_width: int = 224
    #: Largest input feature-map height the sequencer counts to.
    max_height: int = 224
    #: Largest input (and output) channel count.
    max_channels: int = 512
    #: Largest kernel size (direct engine); Winograd runs 3x3 only.
    max_kernel: int = 3
    max_stride: int = 2
    #: Clock the design is built for (MHz): a hint for the DSE, reports and Vivado.
    clock_mhz: float = 100.0
    #: AXI read bursts in flight.
    outstanding_reads: int = 4
    #: Output channels the requantiser computes per cycle (divides pm). Each lane costs a
    #: 33 x 32-bit multiply; one pixel leaves the MAC array every ceil(C/pn)*K*K cycles, so a
    #: few lanes keep up with all but 1x1 layers with few channels.
    requant_lanes: int = 1
    #: Line-buffer row capacity in pn-words: the largest W * ceil(C / pn) of any layer the build
    #: accepts (0 = max_width * max_channel_groups). Wide layers have few channels and deep ones
    #: are narrow, so sizing by the product instead of both maxima saves most of the BRAM.
    max_row_words: int = 0
    #: Weight taps (pm x pn words) per ping-pong bank: the largest ceil(C / pn) * K * K of any
    #: layer (0 = max_channel_groups * max_kernel**2).
    max_weight_taps: int = 0
    #: A 256-entry int8 -> int8 activation table after the requantiser (8-bit builds), chosen
    #: per run by LAYER_FLAGS.TABLE: a LeakyReLU, clip or other element-wise function of the
    #: output fused into the layer (rtl/pe/requantiser.py).
    activation_table: bool = False
    #: A 2x2 stride-2 max/average pooling stage after the requantiser (and the table), chosen per
    #: run by LAYER_FLAGS.POOL: the pool that follows a convolution fused into it, its output
    #: written a quarter the size (rtl/pe/pooling.py).
    pooling: bool = False

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ValueError(problems[0])

    def problems(self) -> list[str]:
        p = []
        if self.engine not in ENGINES:
            p.append(f"engine must be one of {tuple(ENGINES)}, got {self.engine!r}")
        else:
            p += self.engine_description.config_problems(self)
        for name in ("pm", "pn"):
            v = getattr(self, name)
            if v not in PARALLELISMS:
                p.append(f"{name} must be one of {PARALLELISMS}, got {v}")
        if self.data_width not in SUPPORTED_DATA_WIDTHS:
            p.append(f"data_width must be one of {SUPPORTED_DATA_WIDTHS}, got {self.data_width}")
        if self.axi_data_width not in AXI_DATA_WIDTHS:
            p.append(f"axi_data_width must be one of {AXI_DATA_WIDTHS}, got {self.axi_data_width}")
        if self.axi_addr_width not in ADDRESS_WIDTHS:
            p.append(f"axi_addr_width must be 32, 40, 49 or 64, got {self.axi_addr_width}")
        for name in ("max_width", "max_height", "max_channels"):
            v = getattr(self, name)
            if not 1 <= v <= MAX_DIMENSION:
                p.append(f"{name} must be in 1..{MAX_DIMENSION}, got {v}")
        if self.max_kernel not in KERNEL_SIZES:
            p.append(f"max_kernel must be 1, 3, 5 or 7, got {self.max_kernel}")
        if self.max_stride not in STRIDES:
            p.append(f"max_stride must be 1 or 2, got {self.max_stride}")
        if not 10 <= self.clock_mhz <= 500:
            p.append(f"clock_mhz must be in 10..500, got {self.clock_mhz}")
        if self.max_row_words < 0 or self.max_row_words > self.max_width * math.ceil(self.max_channels / max(self.pn, 1)):
            p.append("max_row_words must be in 0..max_width*ceil(max_channels/pn) (0 derives it)")
        if self.max_weight_taps < 0 or self.max_weight_taps > math.ceil(self.max_channels / max(self.pn, 1)) * self.max_kernel**2:
            p.append("max_weight_taps must be in 0..ceil(max_channels/pn)*max_kernel**2 (0 derives it)")
        if self.requant_lanes < 1 or self.pm % self.requant_lanes:
            p.append(f"requant_lanes must divide pm ({self.pm}), got {self.requant_lanes}")
        if not 1 <= self.outstanding_reads <= 16:
            p.append(f"outstanding_reads must be in 1..16, got {self.outstanding_reads}")
        if self.activation_table not in (False, True):
            p.append(f"activation_table must be a bool, got {self.activation_table!r}")
        elif self.activation_table and self.data_width != 8:
            p.append(f"an activation table maps 8-bit outputs: activation_table needs data_width 8, got {self.data_width}")
        if self.pooling not in (False, True):
            p.append(f"pooling must be a bool, got {self.pooling!r}")
        elif self.pooling and self.engine in ENGINES and self.engine_description.input_reuse \
                and self.engine_description.strip_rows(self) % POOL_WINDOW:
            p.append(f"2x2 pooling needs strips of an even number of output rows, got "
                     f"{self.engine_description.strip_rows(self)}")
        return p

    # ----- derived quantities -------------------------------------------------------------
    @property
    def engine_description(self) -> EngineDescription:
        """The description of this build's engine (rtl/engine)."""
        return ENGINES[self.engine]

    @property
    def limits(self) -> Limits:
        """What this build accepts (the engine's descriptor rule reads it)."""
        return Limits(self.engine, self.m, self.pm, self.pn, self.max_width, self.max_height, self.max_channels,
                      self.max_kernel, self.max_stride, self.row_words, self.weight_depth)

    @property
    def max_channel_groups(self) -> int:
        return math.ceil(self.max_channels / self.pn)

    @property
    def max_output_groups(self) -> int:
        return math.ceil(self.max_channels / self.pm)

    @property
    def max_terms(self) -> int:
        """Longest accumulation (products per output) the build accepts."""
        return self.max_kernel**2 * self.max_channel_groups * self.pn

    @property
    def acc_width(self) -> int:
        return accumulator_width(self.data_width, self.max_terms)

    @property
    def weight_depth(self) -> int:
        """Weight taps (pm x pn words) per ping-pong bank: one whole output-channel group."""
        return self.max_weight_taps or self.max_channel_groups * self.max_kernel**2

    @property
    def row_words(self) -> int:
        """Line-buffer capacity of one row, in pn-words (W * ceil(C / pn) at most)."""
        return self.max_row_words or self.max_width * self.max_channel_groups

    @property
    def bus_bytes(self) -> int:
        return self.axi_data_width // 8

    @property
    def name(self) -> str:
        table = "_act" if self.activation_table else ""
        pool = "_pool" if self.pooling else ""
        return (f"convforge_{self.engine_description.tag(self.m)}_pm{self.pm}_pn{self.pn}_w{self.data_width}"
                f"{table}{pool}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AcceleratorConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown AcceleratorConfig fields {sorted(unknown)}; allowed: {sorted(fields)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
