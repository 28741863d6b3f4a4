"""Explain, in a planner's words, why no plan meets all constraints.

Checks in this order and reports the first kind of cause found:

1. the mandatory options alone already break a rule (two at one site, over the budget, over a limit);
2. each target on its own: the most of the target column any plan can reach within the budget and the
   other rules (site rules, measure limits, mandatory/forbidden options). If that is below the target, the
   message gives it (and the share of the target) and says whether dropping the budget would help (with the
   least cost of reaching the target) or not even that;
3. all targets together: the least cost of reaching all of them (no budget); if it exceeds the budget the
   message gives both, and if no plan reaches them all the targets compete for the same sites or limits.

Each check solves a small variant of the problem: exactly (HiGHS MILP; with a time limit its dual bound is
used, which keeps the statements true) or, for very large problems, as an LP relaxation. Both kinds of bound
make "at most"/"at least" statements that are always true, but the LP may miss a cause (then a general
message is given).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .bounds import solve_lp, upper_bounds
from .exact import run_milp
from .problem import PlanProblem, _fmt, mandatory_conflicts

#: infeasibility is explained with exact sub-solves (MILP) up to this many options, with LP relaxations
#: above. P.
EXACT_DIAGNOSIS_MAX = 10_000


def _best(p: PlanProblem, c: np.ndarray, *, targets: bool, budget: bool, exact: bool,
          time_limit: float | None) -> float | None:
    """A bound on ``min c @ x`` over the plans meeting the rules (optionally without targets/budget); it
    equals the minimum when solved exactly. ``None`` when no plan exists (proven)."""
    rows = p.rows(targets=targets, budget=budget)
    lb, ub = p.mandatory.astype(float), upper_bounds(p, budget=budget)
    if exact:
        run = run_milp(c, rows, lb, ub, time_limit=time_limit)
        if run.status == "infeasible":
            return None
        if run.bound is not None:
            return run.bound
        if run.fun is not None:
            return run.fun
    lp = solve_lp(c, rows, lb, ub)
    return None if lp.status == "infeasible" else lp.bound


def explain_infeasible(p: PlanProblem, *, exact: bool = True, time_limit: float | None = 30.0) -> str:
    """A message saying which constraint cannot be met and what to do (see the module docstring)."""
    msg = mandatory_conflicts(p)
    if msg:
        return msg
    has_budget = math.isfinite(p.budget)
    rules = "the budget of EUR " + _fmt(p.budget) + " and the other rules" if has_budget else "the site rules"
    parts: list[str] = []
    for k, name in enumerate(p.target_names):
        t = float(p.target_values[k])
        row = p.target_matrix[k]
        best = _best(p, -row, targets=False, budget=True, exact=exact, time_limit=time_limit)
        most = -best if best is not None else -math.inf
        if most >= t - 1e-9 * max(1.0, abs(t)):
            continue
        share = f" ({100 * most / t:.0f} % of the target)" if t > 0 and math.isfinite(most) else ""
        text = (f"Target '{name}' >= {_fmt(t)} cannot be reached: the best plan within {rules} reaches "
                f"at most {_fmt(most)}{share}.")
        if has_budget:
            free = _best(p, -row, targets=False, budget=False, exact=exact, time_limit=time_limit)
            free_most = -free if free is not None else -math.inf
            if free_most >= t - 1e-9 * max(1.0, abs(t)):
                one = replace(p, target_names=[name], target_values=p.target_values[[k]],
                              target_matrix=p.target_matrix[[k]])
                need = _best(one, p.cost, targets=True, budget=False, exact=exact, time_limit=time_limit)
                text += (" Without the budget limit it can be reached; that costs at least EUR "
                         f"{_fmt(need)}. Raise the budget or lower the target." if need is not None else
                         " Raise the budget or lower the target.")
            else:
                text += (" Even without the budget all candidate options together reach at most "
                         f"{_fmt(free_most)}: add candidate sites or measures, relax the measure limits, or "
                         "lower the target.")
        else:
            text += " Add candidate sites or measures, relax the measure limits, or lower the target."
        parts.append(text)
    if parts:
        return " ".join(parts)
    if p.n_targets:
        names = ", ".join(f"'{t}'" for t in p.target_names)
        need = _best(p, p.cost, targets=True, budget=False, exact=exact, time_limit=time_limit)
        if need is None:
            return (f"Each target can be reached on its own, but not all together ({names}): they compete "
                    "for the same sites or measure limits. Lower one of the targets or add candidate "
                    "options.")
        if has_budget and need > p.budget + 1e-9 * max(1.0, p.budget):
            return (f"Each target can be reached on its own, but reaching all of them together ({names}) "
                    f"costs at least EUR {_fmt(need)}, more than the budget of EUR {_fmt(p.budget)}. Raise "
                    f"the budget by at least EUR {_fmt(need - p.budget)} or lower the targets.")
    return ("No plan meets all constraints together (budget, targets, site rules, measure limits and "
            "mandatory options). Relax one of them.")
