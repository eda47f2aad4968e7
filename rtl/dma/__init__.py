"""Data movement between the AXI masters and the engine: routing and width conversion."""
