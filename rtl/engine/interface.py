"""The interface both engine datapaths present to the accelerator top."""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..buffers.weight_buffer import weight_load_layout
from ..config import AcceleratorConfig

__all__ = ["pass_config_layout", "datapath_members"]


def pass_config_layout(config: AcceleratorConfig) -> data.StructLayout:
    """Runtime configuration of one pass (one output-channel group over the whole input)."""
    return data.StructLayout({
        "width": range(config.max_width + 1),
        "height": range(config.max_height + 1),
        "channel_groups": range(config.max_channel_groups + 1),
        "kernel": range(config.max_kernel + 1),
        "stride": range(config.max_stride + 1),
        "padding": range(config.max_kernel),
        "out_width": range(config.max_width + 3),
        "out_height": range(config.max_height + 3),
    })


def datapath_members(config: AcceleratorConfig, acc_width: int) -> dict:
    """Ports of an engine datapath.

    ``x``: In(stream of pn-channel input words, order h, cg, w; one whole input per pass).
    ``w``: In(stream of ``weight_load_layout``): the group's raw weights, taps in DDR order,
    ``last`` on the final one; the next group's may load while a pass runs (ping-pong).
    ``o``: Out(stream of ``pm`` accumulators per output pixel, raster order).
    ``cfg``: In(pass_config_layout) sampled by ``start`` (In(1), only while ``busy`` is low).
    ``busy``: Out(1). ``pass_end``: Out(1) pulse when the pass's final beat enters the PE
    array. ``active``: Out(1), the PE array accepts a beat this cycle; ``starved``: Out(1), the
    PE array's input has no beat this cycle.
    """
    dw = config.data_width
    return {
        "x": In(stream.Signature(data.ArrayLayout(signed(dw), config.pn))),
        "w": In(stream.Signature(weight_load_layout(config.pm, config.pn, dw))),
        "o": Out(stream.Signature(data.ArrayLayout(signed(acc_width), config.pm))),
        "cfg": In(pass_config_layout(config)),
        "start": In(1),
        "busy": Out(1),
        "pass_end": Out(1),
        "active": Out(1),
        "starved": Out(1),
    }
