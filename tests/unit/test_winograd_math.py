"""rtl.winograd_math: exact identities, integer forms, widths (tight), shift-add plans, costs."""

import itertools
import math
import random
from fractions import Fraction

import numpy as np
import pytest

from rtl.numerics import signed_width
from rtl.winograd_math import (
    SUPPORTED_TILES,
    WinogradNumerics,
    constant_plan,
    csd_digits,
    dsp_per_multiply,
    matrix_plan,
    winograd_matrices,
)

TILES = [pytest.param(m, r, id=f"F({m},{r})") for m, r in SUPPORTED_TILES]
R3 = [pytest.param(m, id=f"F({m},3)") for m in (2, 4, 6)]


def corr1d(d, g):
    m = len(d) - len(g) + 1
    return [sum(g[k] * d[i + k] for k in range(len(g))) for i in range(m)]


def corr2d(d, g):
    n, r = len(d), len(g)
    return [[sum(g[a][b] * d[i + a][j + b] for a in range(r) for b in range(r)) for j in range(n - r + 1)]
            for i in range(n - r + 1)]


def matvec(mat, vec):
    return [sum(x * y for x, y in zip(row, vec)) for row in mat]


def sandwich(left, x):
    """left @ x @ left^T with Python numbers."""
    tmp = [matvec(left, col) for col in zip(*x)]          # columns of left @ x, as rows
    tmp = [list(r) for r in zip(*tmp)]                     # left @ x
    return [matvec(left, row) for row in tmp]              # (left @ x) @ left^T, row by row


def vectors(length, rng, lo=-128, hi=127):
    yield [lo] * length
    yield [hi] * length
    yield [lo if k % 2 else hi for k in range(length)]
    for _ in range(20):
        yield [rng.randint(lo, hi) for _ in range(length)]


def test_divisors_match_the_spec():
    assert winograd_matrices(2).s2 == 4
    assert winograd_matrices(4).s2 == 576
    assert winograd_matrices(6).s2 == 129600
    assert (winograd_matrices(4).s2_shift, winograd_matrices(4).s2_odd) == (6, 9)
    assert (winograd_matrices(6).s2_shift, winograd_matrices(6).s2_odd) == (6, 2025)
    assert winograd_matrices(4).points == tuple(Fraction(p) for p in (0, 1, -1, 2, -2))
    assert winograd_matrices(6).points[-2:] == (Fraction(1, 2), Fraction(-1, 2))


@pytest.mark.parametrize("m,r", TILES)
def test_rational_matrices_compute_correlation(m, r):
    mat = winograd_matrices(m, r)
    rng = random.Random(m * 10 + r)
    for d, g in zip(vectors(mat.n, rng), vectors(r, rng)):
        got = matvec(mat.AT, [a * b for a, b in zip(matvec(mat.G, g), matvec(mat.BT, d))])
        assert got == corr1d(d, g)


@pytest.mark.parametrize("m,r", TILES)
def test_integer_form_is_an_exact_identity(m, r):
    """sum_l A'^T[i][l] G'[l][a] B'^T[l][t] = s [t == i + a] for every (i, a, t): this trilinear
    identity is the whole algorithm, so checking it on all index triples proves it for all data."""
    mat = winograd_matrices(m, r)
    for i, a, t in itertools.product(range(m), range(r), range(mat.n)):
        total = sum(mat.AT_int[i][l] * mat.G_int[l][a] * mat.BT_int[l][t] for l in range(mat.n))
        assert total == (mat.s if t == i + a else 0), (i, a, t)


@pytest.mark.parametrize("m,r", TILES)
def test_integer_form_2d_on_random_and_extreme_tiles(m, r):
    mat = winograd_matrices(m, r)
    rng = random.Random(m + 100 * r)
    tiles = [[[-128] * mat.n for _ in range(mat.n)], [[127] * mat.n for _ in range(mat.n)]]
    tiles += [[[rng.choice([-128, 127]) for _ in range(mat.n)] for _ in range(mat.n)] for _ in range(3)]
    tiles += [[[rng.randint(-128, 127) for _ in range(mat.n)] for _ in range(mat.n)] for _ in range(5)]
    for k, d in enumerate(tiles):
        g = [[-128] * r for _ in range(r)] if k < 2 else [[rng.randint(-128, 127) for _ in range(r)] for _ in range(r)]
        u, v = sandwich(mat.G_int, g), sandwich(mat.BT_int, d)
        prod = [[a * b for a, b in zip(ru, rv)] for ru, rv in zip(u, v)]
        assert sandwich(mat.AT_int, prod) == [[mat.s2 * y for y in row] for row in corr2d(d, g)]


@pytest.mark.parametrize("m,r", TILES)
def test_rows_are_primitive_and_s_is_minimal(m, r):
    mat = winograd_matrices(m, r)
    for row in mat.G_int + mat.BT_int:
        assert math.gcd(*row) == 1
        assert next(x for x in row if x) > 0
    # s is the least common denominator: no prime of s divides every entry of A'^T
    assert math.gcd(math.gcd(*(x for row in mat.AT_int for x in row)), mat.s) == 1
    # and the integer matrices are the rational ones up to per-point scales
    for l in range(mat.n):
        ratio_g = {Fraction(a) / b for a, b in zip(mat.G_int[l], mat.G[l]) if b}
        ratio_b = {Fraction(a) / b for a, b in zip(mat.BT_int[l], mat.BT[l]) if b}
        assert len(ratio_g) == 1 and len(ratio_b) == 1


def test_f43_int8_widths_match_the_spec():
    num = WinogradNumerics(4, 8, 512)
    assert (num.input_width, num.filter_width, num.product_width, num.channel_sum_width) == (15, 14, 26, 35)
    assert num.output_width == 28 and num.residue_width == 34 and num.acc_width == 34
    assert num.dsp_per_multiply("xc7") == 1 and num.dsp_per_multiply("xcup") == 1
    assert num.ops_per_dsp_cycle() == 8


def test_other_tile_widths():
    f2, f6 = WinogradNumerics(2, 8, 512), WinogradNumerics(6, 8, 512)
    assert (f2.input_width, f2.filter_width, f2.product_width, f2.channel_sum_width) == (10, 12, 21, 30)
    assert (f6.input_width, f6.filter_width, f6.product_width, f6.channel_sum_width) == (20, 14, 31, 40)
    assert f2.acc_width == 30 and f6.acc_width == 34          # F(6,3) keeps residues mod 2^34
    assert f6.output_transform_width_exact == 54               # what exact arithmetic would need
    assert round(f6.ops_per_dsp_cycle(), 1) == 10.1
    # int16: F(2,3) still one DSP48E1 per multiply (18 x 20 bits), F(4,3) needs two
    assert WinogradNumerics(2, 16).dsp_per_multiply("xc7") == 1
    assert WinogradNumerics(4, 16).dsp_per_multiply("xc7") == 2


@pytest.mark.parametrize("m", [2, 4, 6])
def test_widths_are_tight_extreme_tiles_attain_them(m):
    """Each element's range is attained by the tile with lo/hi at the coefficients' signs, and
    no random tile leaves it: the computed widths are the exact worst case."""
    num = WinogradNumerics(m, 8, 16)
    mat = num.matrices
    for left, ranges in ((mat.BT_int, num.input_ranges), (mat.G_int, num.filter_ranges)):
        size = len(left[0])
        for i, j in itertools.product(range(len(left)), repeat=2):
            coeff = [[left[i][a] * left[j][b] for b in range(size)] for a in range(size)]
            hi_tile = [[127 if c > 0 else -128 for c in row] for row in coeff]
            lo_tile = [[-128 if c > 0 else 127 for c in row] for row in coeff]
            assert sandwich(left, hi_tile)[i][j] == ranges[i][j][1]
            assert sandwich(left, lo_tile)[i][j] == ranges[i][j][0]
        rng = np.random.default_rng(m)
        x = rng.integers(-128, 128, size=(2000, size, size))
        vals = np.einsum("ia,tab,jb->tij", np.array(left), x, np.array(left))
        lo = np.array([[r[0] for r in row] for row in ranges])
        hi = np.array([[r[1] for r in row] for row in ranges])
        assert np.all(vals >= lo) and np.all(vals <= hi)
    assert num.input_width == signed_width(min(r[0] for row in num.input_ranges for r in row),
                                           max(r[1] for row in num.input_ranges for r in row))


def test_exhaustive_f23_input_transform_range():
    """F(2,3), int8: every one of the 2^16 extreme tiles (the vertices of the data box, where a
    linear form takes its extremes) -- the range over them equals the computed range."""
    num = WinogradNumerics(2, 8, 1)
    bt = np.array(num.matrices.BT_int)
    bits = (np.arange(1 << 16)[:, None] >> np.arange(16)) & 1
    tiles = np.where(bits, 127, -128).reshape(-1, 4, 4)
    vals = np.einsum("ia,tab,jb->tij", bt, tiles, bt)
    assert vals.min(axis=0).tolist() == [[r[0] for r in row] for row in num.input_ranges]
    assert vals.max(axis=0).tolist() == [[r[1] for r in row] for row in num.input_ranges]


def test_csd_digits():
    for value in list(range(-300, 300)) + [2025, 129600, (1 << 40) + 12345]:
        digits = csd_digits(value)
        assert sum(d << s for s, d in digits) == value
        shifts = [s for s, _ in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))   # non-adjacent form


@pytest.mark.parametrize("m,r", TILES)
def test_matrix_plans_equal_their_matrices(m, r):
    """A plan is linear, so agreeing on every unit vector proves it equals the matrix."""
    mat = winograd_matrices(m, r)
    for matrix in (mat.BT_int, mat.G_int, mat.AT_int):
        plan = matrix_plan(matrix)
        k = len(matrix[0])
        for j in range(k):
            unit = [int(i == j) for i in range(k)]
            assert plan.evaluate(unit) == [row[j] for row in matrix]
        naive = sum(max(sum(len(csd_digits(c)) for c in row) - 1, 0) for row in matrix)
        assert plan.adders <= naive
        vec = [random.Random(k).randint(-128, 127) for _ in range(k)]
        assert plan.evaluate(vec, modulus_bits=20) == [v % (1 << 20) for v in matvec(matrix, vec)]


def test_common_subexpressions_save_adders():
    # F(4,3) B'^T: rows for the points +-1 and +-2 share their even and odd halves
    assert matrix_plan(winograd_matrices(4).BT_int).adders == 12
    assert matrix_plan(winograd_matrices(4).G_int).adders == 6
    # adder levels on the longest path (combinational depth of one registered pass)
    assert matrix_plan(winograd_matrices(2).BT_int).depth == 1
    assert matrix_plan(winograd_matrices(4).BT_int).depth == 3


@pytest.mark.parametrize("m", [2, 4, 6])
def test_exact_division_by_shift_and_odd_inverse(m):
    """((s^2 y mod 2^K) >> p) * q^-1 mod 2^w_y, read as signed, is y for every representable y."""
    num = WinogradNumerics(m, 8, 64)
    mat, wy, k = num.matrices, num.output_width, num.residue_width
    plan = num.division_plan
    lo, hi = -(1 << (wy - 1)), (1 << (wy - 1)) - 1
    rng = random.Random(m)
    for y in [lo, hi, 0, -1, 1] + [rng.randint(lo, hi) for _ in range(500)]:
        residue = (mat.s2 * y) % (1 << k)
        assert residue % (1 << mat.s2_shift) == 0
        (q,) = plan.evaluate([residue >> mat.s2_shift], modulus_bits=wy)
        assert q - (1 << wy) * (q >> (wy - 1)) == y


@pytest.mark.parametrize("width", [1, 5, 28, 34, 50, 64])
def test_constant_plan_modular(width):
    for c in (9, 2025, 12345678901):
        inv = pow(c, -1, 1 << width) if c % 2 else c
        plan = constant_plan(inv, width)
        for x in [0, 1, (1 << width) - 1] + [random.Random(width).getrandbits(width) for _ in range(50)]:
            assert plan.evaluate([x], modulus_bits=width) == [(x * inv) % (1 << width)]


def test_adder_counts_for_the_cost_model():
    f4 = WinogradNumerics(4, 8, 512)
    assert f4.input_transform_adders == 2 * 6 * 12
    assert f4.filter_transform_adders == (3 + 6) * 6
    assert f4.output_transform_adders == (6 + 4) * f4.output_plan.adders + 16 * f4.division_plan.adders
    assert f4.summary()["s2"] == 576


def test_dsp_per_multiply():
    assert dsp_per_multiply(25, 18) == 1 and dsp_per_multiply(18, 25) == 1
    assert dsp_per_multiply(26, 18, "xc7") == 2 and dsp_per_multiply(26, 18, "xcup") == 1
    assert dsp_per_multiply(23, 22) == 2
    with pytest.raises(ValueError, match="family"):
        dsp_per_multiply(8, 8, "ecp5")


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="not supported"):
        WinogradNumerics(3)
    with pytest.raises(ValueError, match="data_width"):
        WinogradNumerics(4, 12)
    with pytest.raises(ValueError, match="max_channels"):
        WinogradNumerics(4, 8, 0)
    with pytest.raises(ValueError, match="distinct"):
        winograd_matrices(2, 3, (0, 1, 1))
    with pytest.raises(ValueError, match="finite points"):
        winograd_matrices(2, 3, (0, 1))
