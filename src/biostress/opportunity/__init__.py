"""The opportunity map (kansenkaart): per cell and per measure of the catalogue whether it fits, the expected
biodiversity gain with its cooling and water co-benefits and the cost, a combined map of the best measure, and
the candidate table of the plan optimiser.

* :mod:`.variables`: :func:`rule_variables`, the variables the measure rules read (distances, setting, ...);
* :mod:`.gain`: the per-cell gain, co-benefit and cost functions (formulas and sources in its docstring);
* :mod:`.compute`: :func:`measure_layers`, :func:`plan_candidates` and ``compute(ctx)`` (the opportunity
  rasters), called as ``biostress.opportunity.compute.compute(ctx)`` (the submodule has the indicator-module
  contract).

See ``docs/opportunity.md``.
"""

from .compute import LAYERS, measure_colours, measure_layers, plan_candidates
from .gain import (
    CostLayers,
    GainParams,
    Weights,
    class_cooling_capacity,
    combined_gain,
    cooling_gain,
    habitat_gain,
    known_cover,
    load_gain_params,
    load_weights,
    measure_cost,
    proxy_gain,
    proxy_uplift,
    runoff_volume,
    water_gain,
)
from .variables import (
    RuleVariables,
    distance_to_cells,
    distance_to_polygons,
    rule_variables,
    unknown_notes,
)

__all__ = [
    "LAYERS", "CostLayers", "GainParams", "RuleVariables", "Weights", "class_cooling_capacity", "combined_gain",
    "cooling_gain", "distance_to_cells", "distance_to_polygons", "habitat_gain", "known_cover", "load_gain_params",
    "load_weights", "measure_colours", "measure_cost", "measure_layers", "plan_candidates", "proxy_gain",
    "proxy_uplift", "rule_variables", "runoff_volume", "unknown_notes", "water_gain",
]
