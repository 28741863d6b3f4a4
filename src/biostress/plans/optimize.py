"""The plan optimiser: where to apply which measure to get the most biodiversity gain for the money.

An integer program over the candidate options (one row per (site, measure); see
:mod:`biostress.plans.problem` for the table). With x_i in {0, 1} (option i chosen)::

    max_benefit:  maximise  sum_i (gain_i + sum_k w_k * cobenefit_ik) x_i
    min_cost:     minimise  sum_i cost_i x_i
    subject to    sum_i cost_i x_i <= B                          (budget, EUR; optional for min_cost)
                  sum_i a_ti x_i >= T_t                          (targets, e.g. gain or cooling)
                  sum_{i at site s} x_i <= 1                     (exclusive="site": one measure per site)
               or sum_{i at site s} use_i x_i <= capacity_s      (exclusive="capacity": shared site capacity)
                  sum_{i of measure m} x_i <= N_m                (limits: max_count)
                  sum_{i of measure m} cost_i x_i <= C_m         (limits: max_cost, or max_budget_share * B)
                  x_i = 1 (mandatory),  x_i = 0 (forbidden)

:func:`solve_milp` solves it exactly with HiGHS (``scipy.optimize.milp``; ``highspy`` is not needed),
:func:`solve_greedy` with a fast heuristic whose gap is reported against a proven bound, and :func:`solve`
picks one by problem size. Infeasible problems come back with ``status="infeasible"`` and a message that
says which constraint cannot be met. Full write-up: docs/plans.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..errors import ConfigError
from .bounds import upper_bounds
from .diagnose import EXACT_DIAGNOSIS_MAX, explain_infeasible
from .exact import MIP_REL_GAP, run_milp
from .greedy import greedy
from .problem import PlanProblem, build_problem, mandatory_conflicts
from .result import PlanResult, make_result

#: solve(method="auto") uses the exact MILP up to this many candidate options, the heuristic above. On 2
#: shared cores HiGHS took 2.5-15 s at 1e4 options (bench/bench_plans.py), where the heuristic was within 1e-5
#: of the optimum; at 1e5 options HiGHS' root LP alone overran a 60 s time limit (108 s, no plan).
#: P (proposed default).
MILP_MAX_OPTIONS = 10_000


def solve_problem_milp(p: PlanProblem, *, time_limit: float | None = None,
                       mip_rel_gap: float = MIP_REL_GAP) -> PlanResult:
    """:func:`solve_milp` on an already checked :class:`PlanProblem`."""
    t0 = time.perf_counter()
    msg = mandatory_conflicts(p)
    if msg:
        return make_result(p, None, status="infeasible", method="milp", bound=None, bound_method=None,
                           time_s=time.perf_counter() - t0, message=msg)
    c = -p.value if p.sense == "max_benefit" else p.cost
    run = run_milp(c, p.rows(), p.mandatory.astype(float), upper_bounds(p), time_limit=time_limit,
                   mip_rel_gap=mip_rel_gap)
    bound = run.bound
    if bound is not None and p.sense == "max_benefit":
        bound = -bound
    if run.status == "infeasible":
        why = explain_infeasible(p, exact=p.n <= EXACT_DIAGNOSIS_MAX,
                                 time_limit=30.0 if time_limit is None else time_limit)
        return make_result(p, None, status="infeasible", method="milp", bound=None, bound_method=None,
                           time_s=time.perf_counter() - t0, message=why)
    if run.x is None:
        text = ("The time limit ran out before any plan was found; infeasibility is not proven. Raise "
                "time_limit or use solve_greedy." if run.status == "unknown"
                else f"HiGHS failed: {run.message}")
        return make_result(p, None, status="unknown", method="milp", bound=bound, bound_method="milp-dual",
                           time_s=time.perf_counter() - t0, message=text)
    status = "optimal" if run.status == "optimal" else "feasible"
    text = "" if status == "optimal" else ("Time limit reached: best plan found so far; see gap for how far "
                                           "from optimal it can be.")
    return make_result(p, run.x, status=status, method="milp", bound=bound, bound_method="milp-dual",
                       time_s=time.perf_counter() - t0, message=text)


def solve_problem_greedy(p: PlanProblem) -> PlanResult:
    """:func:`solve_greedy` on an already checked :class:`PlanProblem`."""
    t0 = time.perf_counter()
    out = greedy(p)
    return make_result(p, out.x, status=out.status, method="greedy", bound=out.bound,
                       bound_method=out.bound_method, time_s=time.perf_counter() - t0, message=out.message)


def solve_milp(options: pd.DataFrame, *, time_limit: float | None = None, mip_rel_gap: float = MIP_REL_GAP,
               **constraints: Any) -> PlanResult:
    """The exact plan (HiGHS branch-and-cut). ``constraints`` are the keywords of :func:`solve`.

    ``time_limit`` (s): stop early and return the best plan found (``status="feasible"``) with HiGHS' dual
    bound and the gap; ``mip_rel_gap``: relative optimality tolerance (default 1e-7).
    """
    return solve_problem_milp(build_problem(options, **constraints), time_limit=time_limit,
                              mip_rel_gap=mip_rel_gap)


def solve_greedy(options: pd.DataFrame, **constraints: Any) -> PlanResult:
    """A fast heuristic plan for very large problems (``constraints``: the keywords of :func:`solve`).

    Always a valid plan when one is found; ``bound``/``gap`` come from the exact fractional multiple-choice
    knapsack bound (budget + one measure per site, maximising; ``bound_method="mckp-fractional"``) or from
    the LP relaxation solved with HiGHS (every other case; ``"lp-relaxation"``). See
    :mod:`biostress.plans.greedy`.
    """
    return solve_problem_greedy(build_problem(options, **constraints))


def solve(options: pd.DataFrame, *, budget: float | None = None, sense: str = "max_benefit",
          weights: Mapping[str, float] | None = None, targets: Mapping[str, float] | None = None,
          exclusive: str | None = "site", capacity: str | Mapping[Any, float] | pd.Series | None = None,
          use: str = "area_m2", limits: Mapping[Any, Mapping[str, Any]] | None = None,
          mandatory: Iterable[Any] | str | None = None, forbidden: Iterable[Any] | str | None = None,
          method: str = "auto", milp_max_options: int = MILP_MAX_OPTIONS, time_limit: float | None = None,
          mip_rel_gap: float = MIP_REL_GAP) -> PlanResult:
    """Choose which candidate options to carry out.

    Parameters
    ----------
    options : DataFrame, one row per (site, measure): ``site``, ``measure``, ``cost`` (EUR >= 0), ``gain``
        (>= 0), optional co-benefit columns, optional ``use`` column. Row labels name the options.
    budget : EUR; ``sum(cost) <= budget``. None = no budget (needs targets to make sense).
    sense : ``"max_benefit"`` (maximise ``gain + sum_k weights[k] * column_k``) or ``"min_cost"`` (minimise
        the total cost subject to ``targets``; the dual form).
    weights : co-benefit column -> weight (objective units per column unit), e.g. ``{"cooling": 0.5}``.
    targets : column -> minimum total, e.g. ``{"gain": 100, "water_m3": 5000}``.
    exclusive : ``"site"`` (default; at most one option per site), ``"capacity"`` (options at a site share its
        ``capacity``: ``sum(use) <= capacity``) or None (options independent).
    capacity : with ``exclusive="capacity"``: a column with the site's capacity (same value on all its rows)
        or a mapping/Series site -> capacity (same unit as ``use``).
    use : the column with the capacity each option uses (default ``"area_m2"``).
    limits : measure -> ``{"max_count": int, "max_cost": EUR, "max_budget_share": 0-1}`` (any of them).
    mandatory, forbidden : row labels (list-like) or the name of a boolean column.
    method : ``"auto"`` (MILP up to ``milp_max_options`` options, heuristic above), ``"milp"`` or
        ``"greedy"``.
    time_limit, mip_rel_gap : passed to :func:`solve_milp`.

    Returns
    -------
    PlanResult (status optimal | feasible | infeasible | unknown, chosen rows, totals, objective, bound, gap).
    Bad data raises :class:`biostress.errors.InputDataError`, bad settings
    :class:`biostress.errors.ConfigError`.
    """
    if method not in ("auto", "milp", "greedy"):
        raise ConfigError(f"method must be 'auto', 'milp' or 'greedy', not {method!r}.",
                          hint="'auto' picks the exact solver for small problems, the heuristic for "
                               "large ones.")
    p = build_problem(options, budget=budget, sense=sense, weights=weights, targets=targets,
                      exclusive=exclusive, capacity=capacity, use=use, limits=limits, mandatory=mandatory,
                      forbidden=forbidden)
    if method == "milp" or (method == "auto" and p.n <= milp_max_options):
        return solve_problem_milp(p, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    return solve_problem_greedy(p)
