"""Static PNG preview maps (matplotlib, no network): land cover and unit choropleths."""

from .preview import (
    DEFAULT_SHARE_CLASSES,
    DEFAULT_SHARE_COLOURS,
    LegendEntry,
    classify_values,
    format_length,
    legend_entries,
    nice_scale_length,
    render_landcover_map,
    render_share_map,
    share_class_labels,
)

__all__ = [
    "DEFAULT_SHARE_CLASSES",
    "DEFAULT_SHARE_COLOURS",
    "LegendEntry",
    "classify_values",
    "format_length",
    "legend_entries",
    "nice_scale_length",
    "render_landcover_map",
    "render_share_map",
    "share_class_labels",
]
