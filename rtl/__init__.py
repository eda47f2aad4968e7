"""convforge RTL: parameterised Amaranth 0.5 components of the conv accelerator."""
