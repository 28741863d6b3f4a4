"""The outcome of a plan optimisation: :class:`PlanResult`, and the relative gap used everywhere."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .problem import PlanProblem

STATUSES = ("optimal", "feasible", "infeasible", "unknown")


def relative_gap(objective: float | None, bound: float | None, sense: str) -> float | None:
    """Relative distance between a plan's objective and a bound on the best possible objective.

    ``max_benefit``: ``gap = (bound - objective) / |bound|`` (so objective >= (1 - gap) * bound);
    ``min_cost``: ``gap = (objective - bound) / |objective|`` (so objective <= bound / (1 - gap)).
    0 when both are 0; ``None`` when either is unknown. Clipped at 0 against round-off.
    """
    if objective is None or bound is None or not (math.isfinite(objective) and math.isfinite(bound)):
        return None
    diff = bound - objective if sense == "max_benefit" else objective - bound
    den = abs(bound) if sense == "max_benefit" else abs(objective)
    if den == 0.0:
        return 0.0 if abs(diff) <= 1e-12 else math.inf
    return max(0.0, diff / den)


@dataclass
class PlanResult:
    """A chosen plan.

    - ``status``: ``optimal`` (proven; the gap is within the solver tolerance), ``feasible`` (a valid plan,
      optimality not proven; see ``gap``), ``infeasible`` (no plan meets all constraints; ``message`` says
      which) or ``unknown`` (no plan found and infeasibility not proven, e.g. the time limit ran out);
    - ``chosen``: the chosen rows of the candidate table (original index and columns);
    - ``mask``: boolean array, one entry per candidate row, True where chosen;
    - ``totals``: sums of every numeric column (except site/measure ids) over the chosen rows (``cost`` in
      EUR, ``gain``, co-benefits);
    - ``objective``: ``gain + sum_k w_k * cobenefit_k`` (max_benefit) or the total cost EUR (min_cost);
    - ``bound``: an upper (max_benefit) or lower (min_cost) bound on the best possible objective;
      ``bound_method`` says where it comes from (``milp-dual``, ``lp-relaxation``, ``mckp-fractional``);
    - ``gap``: relative gap between ``objective`` and ``bound`` (:func:`relative_gap`);
    - ``method``: ``milp`` or ``greedy``; ``time_s``: wall-clock seconds.
    """

    status: str
    sense: str
    chosen: pd.DataFrame
    mask: np.ndarray
    totals: dict[str, float]
    objective: float | None
    bound: float | None
    gap: float | None
    method: str
    bound_method: str | None
    time_s: float
    message: str = ""
    details: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when a valid plan was found (status optimal or feasible)."""
        return self.status in ("optimal", "feasible")

    def by_measure(self) -> pd.DataFrame:
        """Number of chosen options, total cost (EUR) and total gain per measure."""
        return (self.chosen.groupby("measure", sort=True)
                .agg(count=("cost", "size"), cost=("cost", "sum"), gain=("gain", "sum")))

    def summary(self) -> str:
        """A few lines for a planner."""
        lines = [f"status: {self.status} ({self.method}, {self.time_s:.2f} s)"]
        if self.ok:
            lines.append(f"chosen options: {len(self.chosen)}; total cost EUR "
                         f"{self.totals.get('cost', 0.0):,.0f}; "
                         f"total gain {self.totals.get('gain', 0.0):,.4g}")
            if self.gap is not None:
                lines.append(f"objective {self.objective:,.6g}; bound {self.bound:,.6g} "
                             f"({self.bound_method}); gap {100 * self.gap:.3g} %")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)


def make_result(p: PlanProblem, x: np.ndarray | None, *, status: str, method: str, bound: float | None,
                bound_method: str | None, time_s: float, message: str = "") -> PlanResult:
    """Assemble a :class:`PlanResult` from a 0/1 selection (``None`` when there is no plan)."""
    if x is None:
        mask = np.zeros(p.n, dtype=bool)
        objective = None
    else:
        mask = np.asarray(x, dtype=bool)
        objective = p.objective_of(mask)
    chosen = p.table.loc[mask]
    numeric = [c for c in chosen.columns if c not in ("site", "measure")
               and pd.api.types.is_numeric_dtype(chosen[c]) and not pd.api.types.is_bool_dtype(chosen[c])]
    totals = {str(c): float(chosen[c].sum()) for c in numeric}
    gap = relative_gap(objective, bound, p.sense) if x is not None else None
    return PlanResult(status=status, sense=p.sense, chosen=chosen, mask=mask, totals=totals,
                      objective=objective, bound=bound, gap=gap, method=method, bound_method=bound_method,
                      time_s=time_s, message=message)
