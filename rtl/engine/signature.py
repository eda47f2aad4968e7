"""The contract between an engine datapath and the accelerator top: ``DatapathSignature``."""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..pe.pixel import accumulator_pixel_layout

__all__ = ["DatapathSignature", "pass_config_layout"]


def pass_config_layout(config) -> data.StructLayout:
    """Runtime configuration of one pass: the layer's geometry and ``groups``, the output-channel
    groups a pass visits (1 when a pass is one group, as in the direct engine)."""
    return data.StructLayout({
        "width": range(config.max_width + 1),
        "height": range(config.max_height + 1),
        "channel_groups": range(config.max_channel_groups + 1),
        "kernel": range(config.max_kernel + 1),
        "stride": range(config.max_stride + 1),
        "padding": range(config.max_kernel),
        "out_width": range(config.max_width + 3),
        "out_height": range(config.max_height + 3),
        "groups": range(config.max_output_groups + 1),
    })


class DatapathSignature(wiring.Signature):
    """The engine's side of the engine-to-top contract, for ``config`` (an ``AcceleratorConfig``)
    and accumulators of ``acc_width`` bits.

    Members
        ``x``: In(stream of pn-channel input words, order h, cg, w; one whole input per pass).
        ``x_rows``: Out(16): input rows (from row 0 of the pass) the datapath accepts without
        waiting for its own progress -- what a reader may fetch ahead of the computation
        (engines that take the whole input as it comes report the height). ``x_need``: Out(16):
        the rows it needs before it can go on (its reader prefers them to anything else).
        ``w``: In(stream of the engine's ``weight_load_layout``): a visit's raw weights (one
        output-channel group), ``weight_word_taps`` taps per beat in DDR order, ``last`` on the
        final beat; the next visit's may load while one computes (ping-pong).
        ``o``: Out(stream of :func:`rtl.pe.pixel.accumulator_pixel_layout`: ``pm`` accumulators
        per output pixel, raster order, ``last`` on the final pixel of each write command).
        ``cfg``: In(:func:`pass_config_layout`) sampled by ``start`` (In(1), only while ``busy``
        is low). ``busy``: Out(1). ``pass_end``: Out(1) pulse when the pass's final beat enters
        the PE array; ``visit_end``: Out(1) pulse when a visit's final beat does (its weights'
        bank is free again; a pass of a one-group engine is one visit). ``active``: Out(1), the PE array accepts a beat this cycle; ``starved``:
        Out(1), the PE array's input has no beat this cycle.

    Two signatures are equal when their members are (same configuration widths), so the top can
    check that an engine's datapath fits the contract it was built for. Besides its ports a
    datapath component has ``acc_width`` and ``pe`` (its PE array).
    """

    def __init__(self, config, acc_width: int):
        self.acc_width = acc_width
        dw = config.data_width
        super().__init__({
            "x": In(stream.Signature(data.ArrayLayout(signed(dw), config.pn))),
            "x_rows": Out(16),
            "x_need": Out(16),
            "w": In(stream.Signature(config.engine_description.weight_load_layout(config))),
            "o": Out(stream.Signature(accumulator_pixel_layout(config.pm, acc_width))),
            "cfg": In(pass_config_layout(config)),
            "start": In(1),
            "busy": Out(1),
            "pass_end": Out(1),
            "visit_end": Out(1),
            "active": Out(1),
            "starved": Out(1),
        })

    def __eq__(self, other):
        return type(other) is DatapathSignature and self.members == other.members

    def __repr__(self):
        return f"DatapathSignature(acc_width={self.acc_width})"
