"""convforge simulation: numpy references, the Verilator/cocotb toolchain, the simulation server of
``sim.backends.simulated``, and the sim CLI (``python -m sim.run``, the one module above drivers and dse)."""
