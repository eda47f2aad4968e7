"""Processing elements: direct MAC array, Winograd transforms and EWMM array, requantiser."""
