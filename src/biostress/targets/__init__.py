"""Targets and norms per unit and per municipality: EU Nature Restoration Law Art. 8, the 3-30-300 rule, the
Singapore Index (CBI) indicators open data can give, and shared regional targets. See docs/targets.md.

>>> from biostress.targets import evaluate_run            # doctest: +SKIP
>>> table = evaluate_run("runs/dordrecht", baseline="runs/dordrecht_2024")  # doctest: +SKIP
"""

from .evaluate import COLUMNS, compare, compare_municipalities, evaluate_run, evaluate_table, unit_tables
from .spec import (
    DERIVED,
    RegionalTargets,
    Target,
    TargetSet,
    load_regional,
    load_targets,
    regional_example_path,
)

__all__ = ["COLUMNS", "DERIVED", "RegionalTargets", "Target", "TargetSet", "compare", "compare_municipalities",
           "evaluate_run", "evaluate_table", "load_regional", "load_targets", "regional_example_path", "unit_tables"]
