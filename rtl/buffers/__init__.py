"""On-chip buffers: line buffers, Winograd tile buffer, weight ping-pong buffer, output buffer."""
