"""Plan optimisation: choose where to apply which measures within a budget or to reach targets.

Public API: :func:`solve`, :func:`solve_milp`, :func:`solve_greedy`, :class:`PlanResult`; see
:mod:`biostress.plans.optimize` and docs/plans.md.
"""

from .optimize import MILP_MAX_OPTIONS, solve, solve_greedy, solve_milp
from .problem import MeasureLimit, PlanProblem, build_problem, violations
from .result import PlanResult, relative_gap

__all__ = ["MILP_MAX_OPTIONS", "MeasureLimit", "PlanProblem", "PlanResult", "build_problem", "relative_gap",
           "solve", "solve_greedy", "solve_milp", "violations"]
