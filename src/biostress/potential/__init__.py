"""Potential biodiversity: what each place could become with realistic changes, and the gap.

* :mod:`.transitions`: the transition table (``data/params/potential_transitions.csv``), its
  condition masks and :func:`potential_fractions` (pure, elementwise, numpy or dask);
* :mod:`.compute`: :func:`with_landcover` (a context with another land cover, reused by
  scenarios) and ``compute(ctx)`` (``potential_*`` and ``gap_*`` rasters), called as
  ``biostress.potential.compute.compute(ctx)`` (the submodule has the indicator-module contract).

See docs/potential.md.
"""

from .compute import dominant_class, with_landcover
from .transitions import load_settings, load_transitions, potential_fractions

__all__ = ["dominant_class", "load_settings", "load_transitions", "potential_fractions", "with_landcover"]
