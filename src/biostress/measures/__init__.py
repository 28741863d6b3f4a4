"""Measures: the catalogue of urban Bio-NBS and rural measures, the safe rule language that says
where a measure fits, and the finance (NPV, payback, equivalent annual cost) of measures.

See ``docs/measures.md`` and ``biostress/data/measures/README.md``.
"""

from .catalogue import (
    Catalogue,
    Fits,
    Measure,
    Quantity,
    Subsidy,
    Transition,
    Value,
    apply_transitions,
    converted_area_m2,
    load_catalogue,
    units_per_cell,
)
from .finance import (
    CostBreakdown,
    FinanceParams,
    annuity_factor,
    cost_breakdown,
    discounted_payback_year,
    equivalent_annual_cost,
    finance_table,
    load_finance_params,
    npv,
    payback_year,
    select_subsidies,
)
from .rules import (
    Categorical,
    Evaluation,
    Rule,
    evaluate,
    known_variables,
    landcover_variables,
    validate_rule,
)

__all__ = [
    "Catalogue", "Categorical", "CostBreakdown", "Evaluation", "FinanceParams", "Fits", "Measure", "Quantity",
    "Rule", "Subsidy", "Transition", "Value", "annuity_factor", "apply_transitions", "converted_area_m2",
    "cost_breakdown", "discounted_payback_year", "equivalent_annual_cost", "evaluate", "finance_table",
    "known_variables", "landcover_variables", "load_catalogue", "load_finance_params", "npv", "payback_year",
    "select_subsidies", "units_per_cell", "validate_rule",
]
