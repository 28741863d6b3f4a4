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

# Result maps (stress test, potential, gaps, opportunities) of a run folder.
from .results import (  # noqa: E402
    Category,
    MapOutput,
    bin_labels,
    binned_legend,
    category_legend,
    gain_bins,
    gain_labels,
    render_binned_map,
    render_category_map,
    render_run_maps,
)

__all__ += [
    "Category",
    "MapOutput",
    "bin_labels",
    "binned_legend",
    "category_legend",
    "gain_bins",
    "gain_labels",
    "render_binned_map",
    "render_category_map",
    "render_run_maps",
]
