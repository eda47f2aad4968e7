"""convforge simulation: numpy references, the Verilator/cocotb toolchain, the simulation server of
``drivers.simulated``, and the sim CLI (``python -m sim.run``, the one module above drivers and dse)."""
