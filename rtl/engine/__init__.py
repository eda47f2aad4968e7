"""The two compute engines behind one interface: the direct and the Winograd datapaths."""
