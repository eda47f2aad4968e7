"""DSE models: BRAM mapping against Yosys-measured counts, DSP rule, cycle model properties, stage 2."""

import math

import pytest

from dse.boards import BOARDS, get_board
from dse.networks import get_network
from dse.perf_model import ideal_memory_port, memory_port, run_cycles
from rtl.descriptor import Descriptor
from rtl.engine import DIRECT
from dse.resource_model import HEADROOM, bram36_for, dsp_per_multiply, estimate_resources, memories
from dse.schedule import Capabilities, eligible_descriptor, plan_layer
from rtl.config import AcceleratorConfig

# (width, depth) -> BRAM36 measured with Yosys synth_xilinx -family xc7 on an amaranth.lib.memory
# simple dual-port RAM (bench/calibrate_resources.py); RAMB18 counts as 0.5.
# The last four are rtl.buffers.weight_buffer.WeightBuffer(pm, pn, dw, depth): one RAM of
# pm*pn*dw bits x 2*depth (bench/calibrate_resources.py).
YOSYS_BRAM = {
    (32, 576): 1.0, (256, 288): 4.0, (512, 576): 14.5, (512, 288): 7.5,
    (64, 8960): 18.0, (8, 64): 0.0, (8, 256): 0.0, (8, 512): 0.5, (16, 1024): 0.5,
    (72, 512): 1.0, (64, 1792): 4.0, (128, 100): 2.0, (36, 1024): 1.0, (9, 4096): 1.0, (20, 700): 1.0,
}


@pytest.mark.parametrize("shape", sorted(YOSYS_BRAM))
def test_bram_rule_matches_yosys(shape):
    assert bram36_for(*shape) == YOSYS_BRAM[shape]


def test_dsp_rule():
    assert dsp_per_multiply(8, 8, "xc7") == 1
    assert dsp_per_multiply(16, 16, "xc7") == 1          # int16 fits one DSP48E1
    assert dsp_per_multiply(26, 18, "xc7") == 2 and dsp_per_multiply(26, 18, "xcup") == 1
    assert dsp_per_multiply(33, 32, "xc7") == 4          # the requantiser's (acc + bias) * mult


def cfg(**kw):
    base = dict(pm=8, pn=8, max_width=224, max_height=224, max_channels=512, max_kernel=3, max_stride=1,
                clock_mhz=150, max_row_words=1792, max_weight_taps=576)
    base.update(kw)
    return AcceleratorConfig(**base)


def test_direct_dsp_and_buffers():
    c = cfg(pm=8, pn=16, requant_lanes=2, max_row_words=896, max_weight_taps=288)
    est = estimate_resources(c, "xc7")
    assert est.totals["DSP"] == 8 * 16 + 2 * 4
    mems = {m.name: m for m in memories(c)}
    assert (mems["line_buffer"].width, mems["line_buffer"].depth) == (128, 4 * 896)
    assert (mems["weight_buffer"].width, mems["weight_buffer"].depth) == (1024, 2 * 288)  # both banks, one RAM
    assert est.totals["BRAM36"] == bram36_for(128, 3584) + bram36_for(1024, 576)


def test_compute_bound_layer_runs_at_the_array_rate():
    c = cfg()
    inv = Descriptor(256, 256, 56, 56, 3, 1, 1)  # VGG16 conv3_2
    r = run_cycles(inv, c, ideal_memory_port(c))
    compute = 56 * 56 * (256 // 8) * 9 * (256 // 8)
    assert r.compute_cycles == compute and r.bound == "compute"
    assert compute < r.cycles < compute * 1.02
    # Twice the output parallelism: half the groups, about half the cycles.
    r2 = run_cycles(inv, cfg(pm=16), ideal_memory_port(cfg(pm=16)))
    assert r2.groups == r.groups // 2 and abs(r2.cycles / r.cycles - 0.5) < 0.01


def test_narrow_memory_makes_a_layer_memory_bound():
    c = cfg(pm=1, pn=64, max_row_words=224, max_weight_taps=72)
    board = get_board("pynq-z2")
    inv = Descriptor(64, 64, 112, 112, 1, 1, 0)  # 1x1: one tap per pixel, input re-read per channel
    r = run_cycles(inv, c, memory_port(c, board))
    assert r.bound == "memory" and r.cycles > r.compute_cycles * 2
    assert r.read_bytes == 64 * (112 * 112 * 64 + 64 * 1 * 1 + 16)


def test_winograd_compute_counts_tiles():
    c = AcceleratorConfig(engine="winograd", m=4, pm=2, pn=4, max_width=56, max_height=56, max_channels=64,
                          max_kernel=3, max_stride=1, clock_mhz=200, max_row_words=56 * 16, max_weight_taps=16 * 9,
                          requant_lanes=2)
    r = run_cycles(Descriptor(64, 64, 56, 56, 3, 1, 1), c, ideal_memory_port(c))
    assert r.compute_cycles == math.ceil(56 / 4) ** 2 * 16 * 32


def test_stage2_eligibility_and_mappings():
    alex = get_network("alexnet")
    inv, mapping, reason = eligible_descriptor(alex.layer("conv1"), Capabilities("direct"))
    assert inv is None and "kernel 11x11" in reason
    inv, mapping, _ = eligible_descriptor(alex.layer("conv2"), Capabilities("direct", kernel_cap=3))
    assert inv is None and mapping == "cpu"
    yolo = get_network("tiny-yolo")
    inv, mapping, _ = eligible_descriptor(yolo.layer("conv9"), Capabilities("winograd"))
    assert mapping == "embedded-3x3" and (inv.kernel, inv.padding) == (3, 1)
    inv, mapping, _ = eligible_descriptor(get_network("lenet").layer("fc1"), Capabilities("direct"))
    assert mapping == "fc-as-1x1" and (inv.in_channels, inv.height, inv.kernel) == (400, 1, 1)
    inv, _, reason = eligible_descriptor(yolo.layer("leaky1"), Capabilities("direct"))
    assert inv is None and "leaky" in reason


def test_column_strips_cover_the_output_exactly():
    inv = Descriptor(64, 64, 224, 224, 3, 1, 1)  # 224 * 8 = 1792 words at pn=8
    assert DIRECT.strips(inv, 8, 1792, 0) == (inv,)
    strips = DIRECT.strips(inv, 8, 1792 // 2, 0)
    assert len(strips) == 3
    outs = [s.out_width for s in strips]
    assert sum(outs) == 224 and all(s.padding == 0 and s.height == 226 for s in strips)
    assert all(s.width * 8 <= 896 for s in strips)
    assert DIRECT.strips(Descriptor(64, 64, 8, 8, 3, 1, 1), 8, 16, 0) is None  # 3 columns need 24 words


def test_plan_prefers_the_cpu_only_when_faster():
    board = get_board("pynq-z2")
    c = cfg()
    fc7 = get_network("vgg16").layer("fc7")
    c4096 = cfg(max_channels=4096, max_row_words=512, max_weight_taps=512)
    plan = plan_layer(fc7, c4096, Capabilities("direct"), memory_port(c4096, board), board, 512)
    forced = plan_layer(fc7, c4096, Capabilities("direct"), memory_port(c4096, board), board, 512, force_accelerator=True)
    assert forced.runs_on == "accelerator" and forced.mapping == "fc-as-1x1"
    assert (plan.runs_on == "cpu") == (plan.cpu_seconds < forced.seconds)
    conv = get_network("vgg16").layer("conv3_2")
    p = plan_layer(conv, c, Capabilities("direct"), memory_port(c, board), board, 1792)
    assert p.runs_on == "accelerator" and p.bound == "compute" and p.seconds < p.cpu_seconds


def test_board_table():
    assert set(BOARDS) >= {"pynq-z1", "pynq-z2", "ultra96-v2", "kv260", "zcu104", "zcu102", "zc706"}
    z2 = get_board("pynq-z2")
    assert (z2.dsp, z2.bram36, z2.lut, z2.family) == (220, 140, 53200, "xc7")
    assert abs(z2.ddr_gbps - 2.1) < 0.01
    assert HEADROOM["DSP"] == 0.8
