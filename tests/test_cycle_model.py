"""The DSE's cycle model within 5 % of the simulated IP on cut VGG16 and ResNet-18 layers, on both
engines (the gate the performance figures rest on).

The designs are the arrays ``python -m dse.build`` chooses on PYNQ-Z2 for VGG16 (Winograd F(4,3),
pm = pn = 2) and for ResNet-18 (direct, pm = 32, pn = 4, kernels up to 7, stride up to 2), fixed
here so that the gate does not move with the GA, with buffers for up to ``MAX_CHANNELS`` channels
(the full 512 take minutes of Verilog generation). Every distinct conv shape of both networks that
a design runs natively is cut to ``ROWS`` input rows, ``MAX_CHANNELS`` input channels and
``GROUPS`` output-channel groups (full width), runs once on the native simulator with data from the
shared layer generator (bit-exact, mostly unsaturated), and ``dse.perf_model.run_cycles`` on the
simulation's memory must be within ``GATE`` of the IP's CYCLES count. bench/bench_model_networks.py prints the
same comparison on the DSE's current designs. A new engine or mode adds its design to ``DESIGNS``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.backends import simulated
from dse.networks import get_network
from dse.perf_model import ideal_memory_port, run_cycles
from rtl.config import AcceleratorConfig
from rtl.descriptor import Descriptor
from tests.harness.layers import random_layer

#: The largest relative error the model may make on any cut layer.
GATE = 0.05
ROWS, GROUPS, MAX_CHANNELS = 8, 4, 128
#: The networks whose shapes every design runs.
NETWORKS = ("vgg16", "resnet18")
_SIZES = dict(max_width=224, max_height=224, max_channels=MAX_CHANNELS, axi_data_width=64, axi_addr_width=32, clock_mhz=150.0)
DESIGNS = {
    "winograd-f43-pm2-pn2": AcceleratorConfig(engine="winograd", m=4, pm=2, pn=2, max_kernel=3, max_stride=1,
                                              requant_lanes=2, **_SIZES),
    "direct-pm32-pn4": AcceleratorConfig(engine="direct", pm=32, pn=4, max_kernel=7, max_stride=2, requant_lanes=1,
                                         **_SIZES),
}


def cut_shapes(config: AcceleratorConfig) -> list[tuple[str, Descriptor]]:
    """``(network/layer, descriptor)`` of every distinct conv shape of :data:`NETWORKS` that
    ``config`` runs natively, cut to :data:`ROWS` input rows (at least one window), at most
    :data:`MAX_CHANNELS` input channels and :data:`GROUPS` groups of ``pm`` output channels."""
    seen, out = set(), []
    for network in NETWORKS:
        for layer in get_network(network).conv_layers:
            h = min(layer.height, max(ROWS, layer.kernel - 2 * layer.padding))
            d = Descriptor(min(layer.in_channels, MAX_CHANNELS), min(layer.out_channels, GROUPS * config.pm), h, layer.width,
                           layer.kernel, layer.stride, layer.padding)
            if d not in seen and config.engine_description.refusal(d, config.limits) is None:
                seen.add(d)
                out.append((f"{network}/{layer.name}", d))
    return out


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_cycle_model_within_gate_on_cut_network_layers(name):
    config = DESIGNS[name]
    shapes = cut_shapes(config)
    assert len(shapes) >= 8, shapes   # both networks contribute shapes to each design
    port = ideal_memory_port(config)
    rng = np.random.default_rng(len(name))
    rows, misses = [], []
    with simulated(config) as accel:
        for label, d in shapes:
            relu = bool(rng.integers(2))
            x, wt, bias, mult, shift, expected = random_layer(
                rng, d.in_channels, d.out_channels, d.height, d.width, d.kernel, d.stride, d.padding, relu)
            got = accel.conv2d(x, wt, bias=bias, mult=mult, shift=shift, stride=d.stride, padding=d.padding,
                               relu=relu)
            assert np.array_equal(got, expected), f"{name} {label} {d}: not bit-exact"
            simulated_cycles = accel.counters["cycles"]
            predicted = run_cycles(d, config, port).cycles
            error = (predicted - simulated_cycles) / simulated_cycles
            rows.append(f"{label} {dataclasses.astuple(d)}: simulated {simulated_cycles}, model {predicted} ({100 * error:+.2f} %)")
            if abs(error) > GATE:
                misses.append(rows[-1])
    assert not misses, (f"{name}: the cycle model misses the simulation by more than {GATE:.0%} on:\n" + "\n".join(misses)
                        + "\nall layers:\n" + "\n".join(rows))
