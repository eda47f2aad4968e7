"""Winograd stage components: widths come from rtl.winograd_math; unsafe parameters are refused."""

import pytest

from rtl.numerics import accumulator_width
from rtl.pe.ewmm_array import EwmmArray
from rtl.pe.winograd_filter_transform import WinogradFilterTransform
from rtl.pe.winograd_input_transform import WinogradInputTransform
from rtl.pe.winograd_output_transform import WinogradOutputTransform
from rtl.winograd_math import WinogradNumerics


def test_f43_int8_stage_widths():
    it = WinogradInputTransform(4, pn=8, flags=3)
    ft = WinogradFilterTransform(4, pm=8, pn=8)
    ew = EwmmArray(4, pm=8, pn=8, max_channels=512)
    ot = WinogradOutputTransform(4, pm=8, max_channels=512)
    assert (it.out_width, ft.out_width) == (15, 14)
    assert (ew.v_width, ew.u_width, ew.acc_width) == (15, 14, 34)
    assert ew.multipliers == 8 * 8 * 36
    assert (ot.in_width, ot.out_width, ot.residue_width) == (34, 28, 34)
    assert (ot.shift, ot.odd) == (6, 9) and (ot.inverse * 9) % (1 << 28) == 1
    # the payloads are the layouts the chain connects: v, u, acc line up
    assert it.o.payload.shape()["v"].shape == ew.i.payload.shape()["v"].shape
    assert ft.o.payload.shape()["u"].shape == ew.i.payload.shape()["u"].shape
    assert ew.o.payload.shape() == ot.i.payload.shape()
    assert it.i.payload.shape().size == 36 * 8 * 8 + 3
    assert (it.LATENCY, ft.LATENCY, ew.LATENCY, ot.LATENCY) == (3, 3, 4, 6)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_widths_follow_the_numerics(m):
    num = WinogradNumerics(m, 8, 64)
    assert WinogradInputTransform(m).out_width == num.input_width
    assert WinogradFilterTransform(m).out_width == num.filter_width
    assert EwmmArray(m, max_channels=64).acc_width == num.acc_width
    assert WinogradOutputTransform(m, max_channels=64).out_width == num.output_width
    # the output of F(m,3) over C channels is exactly as wide as the direct MAC array's
    assert num.output_width == accumulator_width(8, 9 * 64)


def test_overflowing_widths_are_refused():
    with pytest.raises(ValueError, match="needs 15 bits"):
        WinogradInputTransform(4, out_width=14)
    with pytest.raises(ValueError, match="needs 14 bits"):
        WinogradFilterTransform(4, out_width=13)
    with pytest.raises(ValueError, match="34-bit channel accumulator"):
        EwmmArray(4, 1, 1, max_channels=512, acc_width=33)
    with pytest.raises(ValueError, match="in_width=30 cannot determine"):
        WinogradOutputTransform(4, 1, max_channels=512, in_width=30)
    with pytest.raises(ValueError, match="needs 28 bits"):
        WinogradOutputTransform(4, 1, max_channels=512, out_width=27)
    # wider than needed is fine
    assert EwmmArray(4, 1, 1, max_channels=512, acc_width=40).acc_width == 40


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="not supported"):
        WinogradInputTransform(3)
    with pytest.raises(ValueError, match="data_width"):
        WinogradFilterTransform(4, data_width=12)
    with pytest.raises(ValueError, match="pm and pn"):
        EwmmArray(4, 0, 1)
    with pytest.raises(ValueError, match="max_channels"):
        EwmmArray(4, 1, 8, max_channels=4)
    with pytest.raises(ValueError, match="flags must be a width"):
        WinogradInputTransform(4, flags=-1)
