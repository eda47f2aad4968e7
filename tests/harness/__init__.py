"""Testbench parts shared by the cocotb modules (tests/rtl/tb_*.py) and the benches: stream
drivers and monitors, an AXI memory with fault windows, an AXI protocol monitor, bit packing,
clock and reset. They run inside the simulator process (cocotb) or in amaranth.sim."""
