"""convforge simulation: numpy references, the Verilator/cocotb toolchain, the sim CLI."""
