"""Control: layer descriptor checking and derived sizes, the layer sequencer."""
