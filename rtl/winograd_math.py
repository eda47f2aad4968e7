"""Winograd / Toom-Cook F(m, r) matrices, their integer form, bit growth and adder counts.

Pure Python (exact ``fractions.Fraction`` and ``int``; no numpy, no Amaranth). This module is the
single source of the Winograd numerics: the RTL transforms take their constants and their
shift-add programs from here, ``sim.winograd_reference`` takes its matrices from here, and the
DSE's cost model takes its widths and adder counts from here. docs/numerics.md explains the
mathematics with the numbers this module computes.

Construction (1-D, correlation ``y[i] = sum_k g[k] d[i+k]``, ``n = m + r - 1``): with ``n - 1``
finite interpolation points ``a_l`` and the point at infinity, let ``E_k`` be the ``n x k``
evaluation matrix (row ``l`` = ``[1, a_l, ..., a_l^(k-1)]``, last row ``[0, ..., 0, 1]``).
Toom-Cook multiplies polynomials as ``conv(g, h) = E_n^-1 [(E_r g) * (E_m h)]``; transposing the
trilinear form gives the correlation algorithm ``y = A^T [(G g) * (B^T d)]`` with

    A^T = E_m^T,    G = E_r,    B^T = (E_n^-1)^T.

Integer "primitive-row" form: every row of ``G`` and of ``B^T`` is scaled by the rational that
makes it a primitive integer vector (gcd 1, first non-zero entry positive), giving ``G'`` and
``B'^T``; the inverse scale of each point moves into column ``l`` of ``A^T``, and the one scalar
``s`` (the least common denominator) makes ``A'^T = s * A^T * diag(...)`` integral. Then, exactly,

    A'^T [(G' g) * (B'^T d)]            = s   * y        (1-D)
    A'^T [(G' g G'^T) * (B'^T d B')] A' = s^2 * Y        (2-D)

and, by linearity, the 2-D form also holds with the element-wise products summed over input
channels before the output transform.

Division by ``s^2 = 2^p * q`` (``q`` odd) is exact, so the hardware computes it without a divider
as an arithmetic shift by ``p`` and a multiplication by ``q^-1 mod 2^w``. Because every step after
the two input transforms is a ring homomorphism ``Z -> Z / 2^K``, the channel accumulation and
the output transform only need ``K = w_y + p`` bits, where ``w_y`` is the width of the direct
result (:attr:`WinogradNumerics.residue_width`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .numerics import SUPPORTED_DATA_WIDTHS, accumulator_width, signed_range, signed_width

__all__ = [
    "WINOGRAD_TILES",
    "DEFAULT_POINTS",
    "SUPPORTED_TILES",
    "WinogradMatrices",
    "winograd_matrices",
    "default_points",
    "Term",
    "ShiftAddPlan",
    "csd_digits",
    "matrix_plan",
    "constant_plan",
    "linear_range",
    "separable_ranges",
    "WinogradNumerics",
    "dsp_per_multiply",
    "DSP_OPERANDS",
]

#: Interpolation points in order of preference (small magnitudes keep the constants small).
DEFAULT_POINTS = (
    Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2),
    Fraction(3), Fraction(-3), Fraction(1, 3), Fraction(-1, 3), Fraction(4), Fraction(-4),
)

#: (m, r) pairs the engine and the reference support with the default points.
SUPPORTED_TILES = ((2, 3), (4, 3), (6, 3), (2, 5), (4, 5))

#: Output tile sizes m of the F(m, 3) engine (rtl/engine/winograd.py).
WINOGRAD_TILES = (2, 4, 6)

Matrix = tuple[tuple[Fraction, ...], ...]
IntMatrix = tuple[tuple[int, ...], ...]


def default_points(count: int) -> tuple[Fraction, ...]:
    """The first ``count`` finite interpolation points (0, 1, -1, 2, -2, 1/2, -1/2, ...)."""
    if not 0 <= count <= len(DEFAULT_POINTS):
        raise ValueError(f"at most {len(DEFAULT_POINTS)} default points exist, {count} requested")
    return DEFAULT_POINTS[:count]


# ----- exact rational linear algebra -------------------------------------------------------------

def _evaluation_matrix(points: tuple[Fraction, ...], k: int) -> list[list[Fraction]]:
    rows = [[p**j for j in range(k)] for p in points]
    rows.append([Fraction(int(j == k - 1)) for j in range(k)])  # the point at infinity
    return rows


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan inverse over the rationals (exact)."""
    n = len(matrix)
    aug = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if aug[r][col] != 0), None)
        if pivot is None:
            raise ValueError("interpolation points must be distinct")
        aug[col], aug[pivot] = aug[pivot], aug[col]
        scale = aug[col][col]
        aug[col] = [x / scale for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                factor = aug[r][col]
                aug[r] = [x - factor * y for x, y in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


def _primitive(row) -> tuple[Fraction, tuple[int, ...]]:
    """Return ``(scale, ints)`` with ``ints = scale * row`` a primitive integer vector whose first
    non-zero entry is positive."""
    den = math.lcm(*(x.denominator for x in row))
    ints = [int(x * den) for x in row]
    g = math.gcd(*ints)
    if g == 0:
        raise ValueError("a transform row is zero")
    first = next(x for x in ints if x)
    if first < 0:
        g = -g
    return Fraction(den, g), tuple(x // g for x in ints)


@dataclass(frozen=True)
class WinogradMatrices:
    """Exact matrices of F(m, r) and their integer primitive-row form (see the module doc).

    ``AT`` (m x n), ``G`` (n x r), ``BT`` (n x n) are rational; ``AT_int``, ``G_int``, ``BT_int``
    are the integer ``A'^T``, ``G'``, ``B'^T`` with ``A'^T [(G' g) * (B'^T d)] = s * y``.
    """

    m: int
    r: int
    points: tuple[Fraction, ...]
    AT: Matrix
    G: Matrix
    BT: Matrix
    AT_int: IntMatrix
    G_int: IntMatrix
    BT_int: IntMatrix
    s: int

    @property
    def n(self) -> int:
        """Input tile size ``m + r - 1``."""
        return self.m + self.r - 1

    @property
    def s2(self) -> int:
        """The 2-D divisor ``s^2``."""
        return self.s * self.s

    @property
    def s2_shift(self) -> int:
        """``p``: the power of two in ``s^2 = 2^p * q``."""
        return (self.s2 & -self.s2).bit_length() - 1

    @property
    def s2_odd(self) -> int:
        """``q``: the odd part of ``s^2``."""
        return self.s2 >> self.s2_shift

    @property
    def B_int(self) -> IntMatrix:
        """``B'`` (the transpose of ``BT_int``)."""
        return tuple(zip(*self.BT_int))

    @property
    def A_int(self) -> IntMatrix:
        """``A'`` (the transpose of ``AT_int``)."""
        return tuple(zip(*self.AT_int))

    @property
    def multiplications(self) -> int:
        """Element-wise multiplications per 2-D tile (``n^2``) against ``m^2 r^2`` direct."""
        return self.n**2

    def inverse_odd(self, width: int) -> int:
        """``q^-1 mod 2^width``: multiplying by it divides exactly by the odd part ``q``."""
        return pow(self.s2_odd, -1, 1 << width)


@lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int = 3, points: tuple | None = None) -> WinogradMatrices:
    """Generate F(m, r) from ``m + r - 2`` finite points (default: :func:`default_points`)."""
    if m < 1 or r < 1:
        raise ValueError(f"F(m, r) needs m >= 1 and r >= 1, got m={m}, r={r}")
    n = m + r - 1
    pts = default_points(n - 1) if points is None else tuple(Fraction(p) for p in points)
    if len(pts) != n - 1:
        raise ValueError(f"F({m},{r}) needs {n - 1} finite points, got {len(pts)}")
    if len(set(pts)) != len(pts):
        raise ValueError(f"interpolation points must be distinct, got {pts}")
    e_m = _evaluation_matrix(pts, m)
    e_r = _evaluation_matrix(pts, r)
    interp = _inverse(_evaluation_matrix(pts, n))
    AT = tuple(tuple(e_m[l][i] for l in range(n)) for i in range(m))
    G = tuple(tuple(row) for row in e_r)
    BT = tuple(tuple(interp[t][l] for t in range(n)) for l in range(n))
    g_scale, G_int = zip(*(_primitive(row) for row in G))
    b_scale, BT_int = zip(*(_primitive(row) for row in BT))
    at_scaled = [[AT[i][l] / (g_scale[l] * b_scale[l]) for l in range(n)] for i in range(m)]
    s = math.lcm(*(x.denominator for row in at_scaled for x in row))
    AT_int = tuple(tuple(int(x * s) for x in row) for row in at_scaled)
    return WinogradMatrices(m, r, pts, AT, G, BT, AT_int, tuple(G_int), tuple(BT_int), s)


# ----- shift-add programs -------------------------------------------------------------------------

def csd_digits(value: int) -> list[tuple[int, int]]:
    """Canonical signed-digit (non-adjacent) form: ``[(shift, +1|-1), ...]`` summing to ``value``.

    The NAF has the fewest non-zero digits of any signed-binary form, so a constant
    multiplication costs ``len(csd_digits(c)) - 1`` adders.
    """
    digits = []
    shift = 0
    while value:
        if value & 1:
            d = 2 - (value & 3)  # +1 if value = 1 mod 4, -1 if value = 3 mod 4
            digits.append((shift, d))
            value -= d
        value >>= 1
        shift += 1
    return digits


@dataclass(frozen=True)
class Term:
    """``(-1 if negative else 1) * (value[source] << shift)``."""

    source: int
    shift: int
    negative: bool = False


@dataclass(frozen=True)
class ShiftAddPlan:
    """A multiplier-free program computing ``outputs = matrix @ inputs`` (or ``c * x``).

    Values ``0 .. n_inputs-1`` are the inputs; value ``n_inputs + k`` is ``shared[k]``, a sum of
    terms over earlier values (common subexpressions). Each output is a sum of terms; an empty
    output is the constant 0. Every node with ``t`` terms costs ``t - 1`` two-input adders (a
    lone negated term costs one subtractor).
    """

    n_inputs: int
    shared: tuple[tuple[Term, ...], ...]
    outputs: tuple[tuple[Term, ...], ...]

    @staticmethod
    def _node_adders(node) -> int:
        if not node:
            return 0
        if len(node) == 1:
            return int(node[0].negative)
        return len(node) - 1

    @property
    def adders(self) -> int:
        """Two-input adders/subtractors of one application of the plan."""
        return sum(self._node_adders(n) for n in self.shared + self.outputs)

    @property
    def depth(self) -> int:
        """Adder levels on the longest path (each node a balanced tree)."""
        level = [0] * self.n_inputs
        def node_depth(node):
            if not node:
                return 0
            inner = max(level[t.source] for t in node)
            return inner + max(math.ceil(math.log2(len(node))), int(len(node) == 1 and node[0].negative))
        for node in self.shared:
            level.append(node_depth(node))
        return max((node_depth(n) for n in self.outputs), default=0)

    def evaluate(self, inputs, modulus_bits: int | None = None) -> list[int]:
        """Run the plan on Python integers (exact, or modulo ``2^modulus_bits``)."""
        if len(inputs) != self.n_inputs:
            raise ValueError(f"plan takes {self.n_inputs} inputs, got {len(inputs)}")
        mask = None if modulus_bits is None else (1 << modulus_bits) - 1
        values = [int(v) for v in inputs]
        def run(node):
            total = sum((-1 if t.negative else 1) * (values[t.source] << t.shift) for t in node)
            return total if mask is None else total & mask
        for node in self.shared:
            values.append(run(node))
        return [run(node) for node in self.outputs]


def _cse(rows: list[list[Term]], n_inputs: int, max_shift: int | None = None) -> ShiftAddPlan:
    """Greedy two-term common-subexpression elimination (Hartley's method) over signed digits.

    Repeatedly finds the pattern ``x_a << e  +-  x_b << (e + d)`` that occurs most often (at
    least twice, non-overlapping) across all rows, computes it once as a shared node and
    substitutes it. Terms shifted by ``max_shift`` or more are dropped (modular plans).
    """
    rows = [list(r) for r in rows]
    shared: list[tuple[Term, ...]] = []
    while True:
        counts: dict[tuple, int] = {}
        for row in rows:
            seen_in_row: dict[tuple, set] = {}
            ordered = sorted(row, key=lambda t: (t.source, t.shift))
            for i, a in enumerate(ordered):
                for b in ordered[i + 1:]:
                    key = (a.source, b.source, b.shift - a.shift, a.negative != b.negative)
                    used = seen_in_row.setdefault(key, set())
                    if id(a) in used or id(b) in used:
                        continue
                    used.update((id(a), id(b)))
                    counts[key] = counts.get(key, 0) + 1
        best = max(counts.items(), key=lambda kv: (kv[1], -abs(kv[0][2]), -kv[0][0], -kv[0][1], kv[0][3]), default=None)
        if best is None or best[1] < 2:
            break
        (src_a, src_b, d, opposite), _ = best
        node_index = n_inputs + len(shared)
        shared.append((Term(src_a, max(0, -d)), Term(src_b, max(0, d), opposite)))
        new_rows = []
        for row in rows:
            ordered = sorted(row, key=lambda t: (t.source, t.shift))
            taken: set[int] = set()
            replaced: list[Term] = []
            for i, a in enumerate(ordered):
                if i in taken or a.source != src_a:
                    continue
                for j in range(i + 1, len(ordered)):
                    b = ordered[j]
                    if j in taken or b.source != src_b or b.shift - a.shift != d or (a.negative != b.negative) != opposite:
                        continue
                    taken.update((i, j))
                    replaced.append(Term(node_index, min(a.shift, b.shift), a.negative))
                    break
            new_rows.append([t for k, t in enumerate(ordered) if k not in taken] + replaced)
        rows = new_rows
        if max_shift is not None:
            rows = [[t for t in row if t.shift < max_shift] for row in rows]
    return ShiftAddPlan(n_inputs, tuple(shared), tuple(tuple(sorted(r, key=lambda t: (t.negative, t.source, t.shift))) for r in rows))


@lru_cache(maxsize=None)
def matrix_plan(matrix: IntMatrix) -> ShiftAddPlan:
    """Shift-add plan of ``y = matrix @ x`` for a constant integer matrix (rows = outputs)."""
    n_inputs = len(matrix[0])
    rows = []
    for row in matrix:
        if len(row) != n_inputs:
            raise ValueError("matrix rows must have equal length")
        rows.append([Term(k, sh, d < 0) for k, c in enumerate(row) for sh, d in csd_digits(c)])
    return _cse(rows, n_inputs)


@lru_cache(maxsize=None)
def constant_plan(constant: int, modulus_bits: int) -> ShiftAddPlan:
    """Shift-add plan of ``y = constant * x mod 2^modulus_bits`` (one input, one output)."""
    if modulus_bits < 1:
        raise ValueError("modulus_bits must be positive")
    constant %= 1 << modulus_bits
    row = [Term(0, sh, d < 0) for sh, d in csd_digits(constant) if sh < modulus_bits]
    return _cse([row], 1, max_shift=modulus_bits)


# ----- exact ranges -----------------------------------------------------------------------------

def linear_range(coefficients, lo: int, hi: int) -> tuple[int, int]:
    """Exact range of ``sum_k c_k x_k`` over every ``x`` in the box ``[lo, hi]^k`` (lo <= 0 <= hi)."""
    low = sum(c * (hi if c < 0 else lo) for c in coefficients)
    high = sum(c * (hi if c > 0 else lo) for c in coefficients)
    return low, high


@lru_cache(maxsize=None)
def separable_ranges(left: IntMatrix, right_t: IntMatrix, lo: int, hi: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Exact range of every element of ``left @ X @ right_t^T`` for ``X`` in the box ``[lo, hi]``.

    Element ``(i, j)`` is ``sum_{a,b} left[i][a] right_t[j][b] X[a][b]``: a linear form in
    independent entries, so its extremes put every entry at ``lo`` or ``hi`` by the coefficient's
    sign (and these extreme tiles are attainable, so the range is tight). Cached: the DSE asks for
    the same few tiles' ranges for every candidate design.
    """
    return tuple(tuple(linear_range([la * rb for la in li for rb in rj], lo, hi) for rj in right_t) for li in left)


def _interval_product(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    corners = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return min(corners), max(corners)


#: Signed multiplier operand widths of one DSP slice (port A x port B).
DSP_OPERANDS = {"xc7": (25, 18), "xcup": (27, 18)}


def dsp_per_multiply(a_width: int, b_width: int, family: str = "xc7") -> int:
    """DSP slices for one signed ``a_width x b_width`` product (operands may swap ports).

    One slice when the operands fit its ``A x B`` ports; otherwise the product splits into
    unsigned 17-bit limbs of the narrower operand times ``A``-port chunks (what Yosys'
    ``mul2dsp`` builds).
    """
    if family not in DSP_OPERANDS:
        raise ValueError(f"family must be one of {sorted(DSP_OPERANDS)}, got {family!r}")
    pa, pb = DSP_OPERANDS[family]

    def chunks(width: int, port: int) -> int:
        # the top chunk is signed (port bits); the others are unsigned (port - 1 bits)
        return 1 + math.ceil(max(width - port, 0) / (port - 1))

    return min(chunks(a, pa) * chunks(b, pb) for a, b in ((a_width, b_width), (b_width, a_width)))


# ----- the numerics of one engine configuration ---------------------------------------------------

@dataclass(frozen=True)
class WinogradNumerics:
    """Widths, divisors and adder counts of F(m, r) for ``data_width`` data and ``max_channels``.

    ``max_channels`` is the largest number of input channels summed in the transform domain
    (channels padded up to a multiple of pn count). Every width is the exact worst case of the
    matrices over all int data (tight: the extreme tiles attain it).
    """

    m: int
    data_width: int = 8
    max_channels: int = 512
    r: int = 3

    def __post_init__(self):
        if self.data_width not in SUPPORTED_DATA_WIDTHS:
            raise ValueError(f"data_width must be one of {SUPPORTED_DATA_WIDTHS}, got {self.data_width}")
        if (self.m, self.r) not in SUPPORTED_TILES:
            raise ValueError(f"F({self.m},{self.r}) is not supported; supported tiles: {SUPPORTED_TILES}")
        if not 1 <= self.max_channels <= 1 << 16:
            raise ValueError(f"max_channels must be in 1..65536, got {self.max_channels}")

    @property
    def matrices(self) -> WinogradMatrices:
        return winograd_matrices(self.m, self.r)

    @property
    def n(self) -> int:
        return self.m + self.r - 1

    @property
    def data_range(self) -> tuple[int, int]:
        return signed_range(self.data_width)

    # --- input transform B'^T d B'
    @property
    def input_pass1_ranges(self) -> list[tuple[int, int]]:
        """Range of row ``i`` of ``B'^T d`` (the first, column pass)."""
        return [linear_range(row, *self.data_range) for row in self.matrices.BT_int]

    @property
    def input_ranges(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        bt = self.matrices.BT_int
        return separable_ranges(bt, bt, *self.data_range)

    @property
    def input_width(self) -> int:
        """Width of every element of ``B'^T d B'`` (15 for int8 F(4,3))."""
        return _width_of(self.input_ranges)

    # --- filter transform G' g G'^T
    @property
    def filter_pass1_ranges(self) -> list[tuple[int, int]]:
        return [linear_range(row, *self.data_range) for row in self.matrices.G_int]

    @property
    def filter_ranges(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        g = self.matrices.G_int
        return separable_ranges(g, g, *self.data_range)

    @property
    def filter_width(self) -> int:
        """Width of every element of ``G' g G'^T`` (14 for int8 F(4,3))."""
        return _width_of(self.filter_ranges)

    # --- element-wise products and their channel sum
    @property
    def product_ranges(self) -> list[list[tuple[int, int]]]:
        return [[_interval_product(a, b) for a, b in zip(ra, rb)] for ra, rb in zip(self.input_ranges, self.filter_ranges)]

    @property
    def product_width(self) -> int:
        """Width of the largest element-wise product (26 for int8 F(4,3))."""
        return _width_of(self.product_ranges)

    @property
    def channel_sum_ranges(self) -> list[list[tuple[int, int]]]:
        c = self.max_channels
        return [[(c * lo, c * hi) for lo, hi in row] for row in self.product_ranges]

    @property
    def channel_sum_width(self) -> int:
        """Exact width of the products summed over ``max_channels`` (35 for int8 F(4,3), 512)."""
        return _width_of(self.channel_sum_ranges)

    # --- output
    @property
    def output_width(self) -> int:
        """Width ``w_y`` of the direct-convolution result: r*r*max_channels products."""
        return accumulator_width(self.data_width, self.r * self.r * self.max_channels)

    @property
    def residue_width(self) -> int:
        """``K = w_y + p``: bits of ``s^2 Y`` that determine ``Y`` (arithmetic mod ``2^K``)."""
        return self.output_width + self.matrices.s2_shift

    @property
    def acc_width(self) -> int:
        """Channel accumulator width: the exact sum, or its residue mod 2^K if that is narrower."""
        return min(self.channel_sum_width, self.residue_width)

    @property
    def output_pass1_width_exact(self) -> int:
        """Width ``A'^T M`` would need without modular arithmetic (triangle bound; docs only)."""
        at = self.matrices.AT_int
        bound = [[max(-lo, hi) for lo, hi in row] for row in self.channel_sum_ranges]
        worst = max(sum(abs(at[i][k]) * bound[k][j] for k in range(self.n)) for i in range(self.m) for j in range(self.n))
        return signed_width(-worst, worst)

    @property
    def output_transform_width_exact(self) -> int:
        """Width ``A'^T M A'`` would need without modular arithmetic (triangle bound; docs only)."""
        at = self.matrices.AT_int
        bound = [[max(-lo, hi) for lo, hi in row] for row in self.channel_sum_ranges]
        worst = max(
            sum(abs(at[i][k]) * abs(at[j][l]) * bound[k][l] for k in range(self.n) for l in range(self.n))
            for i in range(self.m) for j in range(self.m)
        )
        return signed_width(-worst, worst)

    @property
    def divisor_inverse(self) -> int:
        """``q^-1 mod 2^w_y`` used after the shift by ``p``."""
        return self.matrices.inverse_odd(self.output_width)

    # --- shift-add programs and their cost
    @property
    def input_plan(self) -> ShiftAddPlan:
        return matrix_plan(self.matrices.BT_int)

    @property
    def filter_plan(self) -> ShiftAddPlan:
        return matrix_plan(self.matrices.G_int)

    @property
    def output_plan(self) -> ShiftAddPlan:
        return matrix_plan(self.matrices.AT_int)

    @property
    def division_plan(self) -> ShiftAddPlan:
        return constant_plan(self.divisor_inverse, self.output_width)

    @property
    def input_transform_adders(self) -> int:
        """Adders of one ``n x n`` input transform (per input channel)."""
        return 2 * self.n * self.input_plan.adders

    @property
    def filter_transform_adders(self) -> int:
        """Adders of one filter transform: ``r`` column passes and ``n`` row passes."""
        return (self.r + self.n) * self.filter_plan.adders

    @property
    def output_transform_adders(self) -> int:
        """Adders of one output transform including the exact division (per output channel)."""
        return (self.n + self.m) * self.output_plan.adders + self.m * self.m * self.division_plan.adders

    def dsp_per_multiply(self, family: str = "xc7") -> int:
        """DSP slices per element-wise multiplication (1 for int8 F(2,3), F(4,3), F(6,3))."""
        return dsp_per_multiply(self.input_width, self.filter_width, family)

    def ops_per_dsp_cycle(self, family: str = "xc7") -> float:
        """Direct-convolution operations (2 per MAC) per DSP per cycle at full throughput."""
        return 2 * self.m**2 * self.r**2 / (self.n**2 * self.dsp_per_multiply(family))

    def summary(self) -> dict:
        mat = self.matrices
        return {
            "m": self.m, "r": self.r, "n": self.n, "data_width": self.data_width,
            "max_channels": self.max_channels, "s": mat.s, "s2": mat.s2, "s2_shift": mat.s2_shift,
            "s2_odd": mat.s2_odd, "input_width": self.input_width, "filter_width": self.filter_width,
            "product_width": self.product_width, "channel_sum_width": self.channel_sum_width,
            "output_width": self.output_width, "residue_width": self.residue_width,
            "acc_width": self.acc_width, "output_transform_width_exact": self.output_transform_width_exact,
            "input_transform_adders": self.input_transform_adders,
            "filter_transform_adders": self.filter_transform_adders,
            "output_transform_adders": self.output_transform_adders,
            "dsp_per_multiply_xc7": self.dsp_per_multiply("xc7"),
            "dsp_per_multiply_xcup": self.dsp_per_multiply("xcup"),
        }


def _width_of(ranges) -> int:
    lo = min(r[0] for row in ranges for r in row)
    hi = max(r[1] for row in ranges for r in row)
    return signed_width(lo, hi)
