"""On-chip buffers: direct line buffer, Winograd tile buffer, weight ping-pong buffer, output buffer."""

from .line_buffer import DirectLineBuffer, line_config_layout, line_tap_layout
from .output_buffer import OutputBuffer, output_config_layout, output_tile_layout
from .tile_buffer import WinogradTileBuffer, tile_beat_layout, tile_config_layout, tile_region_depth
from .weight_buffer import WeightBuffer, weight_load_layout

__all__ = [
    "DirectLineBuffer", "line_config_layout", "line_tap_layout",
    "WeightBuffer", "weight_load_layout",
    "WinogradTileBuffer", "tile_config_layout", "tile_beat_layout", "tile_region_depth",
    "OutputBuffer", "output_config_layout", "output_tile_layout",
]
