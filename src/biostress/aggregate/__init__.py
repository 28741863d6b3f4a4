"""Finer aggregation of a run's rasters: exact zonal statistics over any polygons (:mod:`.zonal`) and over the
objects a municipality manages - street segments, verges, parks, woods (:mod:`.objects`). See docs/aggregation.md."""

from .objects import (
           aggregate_objects,
           green_components,
           managed_objects,
           parks,
           street_segments,
           verges,
           woods,
)
from .zonal import OPS, raster_path, zonal_stats

__all__ = ["OPS", "aggregate_objects", "green_components", "managed_objects", "parks", "raster_path",
           "street_segments", "verges", "woods", "zonal_stats"]
