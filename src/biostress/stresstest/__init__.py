"""The biodiversity stress test: robustness, vulnerability and five classes (docs/stresstest.md).

``compute(ctx)`` runs after all indicators; ``classify(values)`` classifies unit means of the
combined score; ``palette(cb)`` gives the class colours (``cb=True``: colour-blind-safe).
"""

from __future__ import annotations

from .classes import categories, classify, load_classes, palette, robustness, stress_score, vulnerability
from .compute import compute
from .scores import goodness, green_diversity, load_indicators, load_sensitivity, sensitivity, shannon

__all__ = [
    "categories",
    "classify",
    "compute",
    "goodness",
    "green_diversity",
    "load_classes",
    "load_indicators",
    "load_sensitivity",
    "palette",
    "robustness",
    "sensitivity",
    "shannon",
    "stress_score",
    "vulnerability",
]
