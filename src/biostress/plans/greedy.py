"""A fast heuristic for very large plan problems, with a proven bound to report its gap.

Steps (details and the reasoning in docs/plans.md):

1. **Relaxation.** Pure multiple-choice knapsack (maximise value, one option per site, a budget, no targets,
   no measure limits): the exact fractional bound of :func:`biostress.plans.bounds.mckp_fractional` (per-site
   upper concave hulls, increments by decreasing gain/cost slope). Otherwise the LP relaxation with HiGHS
   (:func:`biostress.plans.bounds.lp_relaxation`). Either gives the bound and a starting plan: the relaxed
   solution rounded down (options at 1; all "<=" rules stay met).
2. **Repair** (targets only): while a target is unmet, make the move (add an option, or switch a site's
   option) that covers most of the remaining shortfall per extra EUR, keeping every "<=" rule. When that gets
   stuck (or, on small problems, leaves the plan > 0.1 % from the bound) an LP dive is tried as well and the
   better plan kept.
3. **Improve.** Maximise benefit: fill the budget left with options at free sites by decreasing value/cost,
   then upgrade sites to a better option when the budget allows, repeated until nothing changes. Minimise
   cost: drop options not needed for the targets (dearest first) and downgrade sites to cheaper options.

The plan always meets every rule (checked at the end); ``gap`` is measured against the bound of step 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bounds import lp_relaxation, mckp_fractional, solve_lp, ub_form, upper_bounds
from .diagnose import EXACT_DIAGNOSIS_MAX, explain_infeasible
from .problem import PlanProblem, mandatory_conflicts, violations
from .result import relative_gap

MAX_ROUNDS = 10
#: at most this many LP re-solves when diving for a plan that reaches the targets (step 2, fallback). P.
MAX_DIVES = 30
#: the dive is tried besides the rounded relaxation up to this many options (above: only when that fails,
#: since every dive step is a full LP solve). P.
DIVE_MAX_OPTIONS = 5_000
#: ... and only when the rounded relaxation's plan is further than this from the bound (relative). P.
DIVE_ABOVE_GAP = 1e-3


def _tol(x: float) -> float:
    return 1e-9 * max(1.0, abs(x)) if math.isfinite(x) else 0.0


class _State:
    """A 0/1 plan with running totals, so that moves can be checked in O(1) (scalar) or O(m) (vectorised)."""

    def __init__(self, p: PlanProblem) -> None:
        self.p = p
        self.x = np.zeros(p.n, dtype=bool)
        self.occ = np.full(p.n_sites, -1, dtype=np.int64)
        self.used = np.zeros(p.n_sites)
        n_meas = len(p.measure_labels)
        self.cnt = np.zeros(n_meas)
        self.mcost = np.zeros(n_meas)
        self.spent = 0.0
        self.tot = np.zeros(p.n_targets)
        self.allowed = upper_bounds(p) > 0
        self.tol_budget = _tol(p.budget)
        self.tol_cap = None if p.site_capacity is None else 1e-9 * np.maximum(1.0, p.site_capacity)
        self.tol_mcost = 1e-9 * np.maximum(1.0, np.where(np.isfinite(p.limit_cost), p.limit_cost, 0.0))
        self.tol_t = 1e-9 * np.maximum(1.0, np.abs(p.target_values))
        self.scale_t = np.maximum(np.abs(p.target_values), 1e-12)

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def add(self, i: int) -> None:
        p = self.p
        self.x[i] = True
        s = p.site[i]
        if p.exclusive == "site":
            self.occ[s] = i
        elif p.exclusive == "capacity":
            self.used[s] += p.use[i]
        self.cnt[p.measure[i]] += 1
        self.mcost[p.measure[i]] += p.cost[i]
        self.spent += p.cost[i]
        self.tot += p.target_matrix[:, i]

    def remove(self, j: int) -> None:
        p = self.p
        self.x[j] = False
        s = p.site[j]
        if p.exclusive == "site" and self.occ[s] == j:
            self.occ[s] = -1
        elif p.exclusive == "capacity":
            self.used[s] -= p.use[j]
        self.cnt[p.measure[j]] -= 1
        self.mcost[p.measure[j]] -= p.cost[j]
        self.spent -= p.cost[j]
        self.tot -= p.target_matrix[:, j]

    def targets_met(self) -> bool:
        return bool((self.tot >= self.p.target_values - self.tol_t).all())

    # -- move checks -----------------------------------------------------------------------------------------
    def fits(self, i: int, j: int = -1, *, keep_targets: bool = True) -> bool:
        """Can option ``i`` be added, replacing ``j`` (the current option at its site, or -1)?"""
        p = self.p
        if self.x[i] or not self.allowed[i]:
            return False
        s = p.site[i]
        if p.exclusive == "site" and self.occ[s] != j:
            return False
        if j >= 0 and p.mandatory[j]:
            return False
        cj = p.cost[j] if j >= 0 else 0.0
        if self.spent + p.cost[i] - cj > p.budget + self.tol_budget:
            return False
        if p.exclusive == "capacity" and self.used[s] + p.use[i] > p.site_capacity[s] + self.tol_cap[s]:
            return False
        m = p.measure[i]
        same = j >= 0 and p.measure[j] == m
        if self.cnt[m] + 1 - same > p.limit_count[m]:
            return False
        if self.mcost[m] + p.cost[i] - (cj if same else 0.0) > p.limit_cost[m] + self.tol_mcost[m]:
            return False
        if keep_targets and p.n_targets:
            new = self.tot + p.target_matrix[:, i] - (p.target_matrix[:, j] if j >= 0 else 0.0)
            if (new < p.target_values - self.tol_t).any():
                return False
        return True

    def moves(self, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each candidate ``i`` (not chosen): the option it replaces (its site's option in exclusive-site
        mode, else -1), the extra cost EUR, the change of each target column (k, m), and whether the move
        keeps every "<=" rule (budget, site, limits; mandatory options are never replaced)."""
        p = self.p
        s = p.site[cand]
        drop = self.occ[s] if p.exclusive == "site" else np.full(cand.size, -1, dtype=np.int64)
        has = drop >= 0
        dj = np.where(has, drop, 0)
        cj = np.where(has, p.cost[dj], 0.0)
        dcost = p.cost[cand] - cj
        ok = self.allowed[cand] & ~self.x[cand] & (self.spent + dcost <= p.budget + self.tol_budget)
        ok &= ~(has & p.mandatory[dj])
        if p.exclusive == "capacity":
            ok &= self.used[s] + p.use[cand] <= p.site_capacity[s] + self.tol_cap[s]
        m = p.measure[cand]
        same = has & (p.measure[dj] == m)
        ok &= self.cnt[m] + 1 - same <= p.limit_count[m]
        ok &= self.mcost[m] + p.cost[cand] - np.where(same, cj, 0.0) <= p.limit_cost[m] + self.tol_mcost[m]
        d_t = p.target_matrix[:, cand] - np.where(has, p.target_matrix[:, dj], 0.0)
        return drop, dcost, d_t, ok

    def keeps_targets(self, d_t: np.ndarray) -> np.ndarray:
        if not self.p.n_targets:
            return np.ones(d_t.shape[1], dtype=bool)
        return ((self.tot[:, None] + d_t) >= (self.p.target_values - self.tol_t)[:, None]).all(axis=0)

    def apply(self, i: int, j: int) -> None:
        if j >= 0:
            self.remove(j)
        self.add(i)


def _repair(st: _State) -> bool:
    """Cover the targets' shortfall: repeatedly the move with most normalised coverage per extra EUR."""
    p = st.p
    t = p.target_values
    eps = 1e-12 * max(1.0, float(np.mean(p.cost)))
    for _ in range(p.n + 10):
        if st.targets_met():
            return True
        cand = np.flatnonzero(st.allowed & ~st.x)
        if cand.size == 0:
            return False
        drop, dcost, d_t, ok = st.moves(cand)
        cov = ((np.minimum(st.tot[:, None] + d_t, t[:, None]) - np.minimum(st.tot, t)[:, None])
               / st.scale_t[:, None]).sum(axis=0)
        ok &= cov > 1e-12
        if not ok.any():
            return False
        score = np.where(ok, cov / np.maximum(dcost, eps), -np.inf)
        b = int(np.argmax(score))
        st.apply(int(cand[b]), int(drop[b]))
    return st.targets_met()


def _fill(st: _State) -> bool:
    """Add options with value > 0 at free sites by decreasing value/cost while the rules allow."""
    p = st.p
    cand = np.flatnonzero(st.allowed & ~st.x & (p.value > 0))
    if cand.size == 0:
        return False
    drop, _, d_t, ok = st.moves(cand)
    ok &= (drop < 0) & st.keeps_targets(d_t)
    cand = cand[ok]
    if cand.size == 0:
        return False
    with np.errstate(divide="ignore"):
        pos = p.cost[cand] > 0
        ratio = np.where(pos, p.value[cand] / np.where(pos, p.cost[cand], 1.0), np.inf)
    order = np.lexsort((-p.value[cand], -ratio))
    changed = False
    for i in cand[order].tolist():
        if st.fits(i):
            st.add(i)
            changed = True
    return changed


def _upgrade(st: _State) -> bool:
    """Replace a site's option by one worth more, largest improvement first, while the rules allow."""
    p = st.p
    if p.exclusive != "site":
        return False
    cand = np.flatnonzero(st.allowed & ~st.x & (st.occ[p.site] >= 0))
    if cand.size == 0:
        return False
    drop, _, d_t, ok = st.moves(cand)
    dv = p.value[cand] - p.value[np.maximum(drop, 0)]
    ok &= (drop >= 0) & (dv > 1e-12 * np.maximum(1.0, np.abs(p.value[cand]))) & st.keeps_targets(d_t)
    if not ok.any():
        return False
    sel = np.flatnonzero(ok)
    sel = sel[np.argsort(-dv[sel], kind="stable")]
    changed = False
    for i, j in zip(cand[sel].tolist(), drop[sel].tolist(), strict=True):
        if st.occ[p.site[i]] == j and st.fits(i, j):
            st.apply(i, j)
            changed = True
    return changed


def _drop(st: _State) -> bool:
    """Remove chosen options that are not needed: dearest first (min_cost), or with value <= 0 (max)."""
    p = st.p
    chosen = np.flatnonzero(st.x & ~p.mandatory)
    if p.sense == "max_benefit":
        chosen = chosen[p.value[chosen] <= 0]
    changed = False
    for j in chosen[np.argsort(-p.cost[chosen], kind="stable")].tolist():
        if p.cost[j] <= 0 and p.sense == "min_cost":
            continue
        new = st.tot - p.target_matrix[:, j]
        if (new >= p.target_values - st.tol_t).all():
            st.remove(j)
            changed = True
    return changed


def _downgrade(st: _State) -> bool:
    """Replace a site's option by a cheaper one that keeps the targets, largest saving first (min_cost)."""
    p = st.p
    if p.exclusive != "site":
        return False
    cand = np.flatnonzero(st.allowed & ~st.x & (st.occ[p.site] >= 0))
    if cand.size == 0:
        return False
    drop, dcost, d_t, ok = st.moves(cand)
    ok &= (drop >= 0) & (dcost < -1e-12) & st.keeps_targets(d_t)
    if not ok.any():
        return False
    sel = np.flatnonzero(ok)
    sel = sel[np.argsort(dcost[sel], kind="stable")]
    changed = False
    for i, j in zip(cand[sel].tolist(), drop[sel].tolist(), strict=True):
        if st.occ[p.site[i]] == j and st.fits(i, j):
            st.apply(i, j)
            changed = True
    return changed


def _dive(p: PlanProblem, x_lp: np.ndarray) -> np.ndarray | None:
    """LP diving with backtracking: fix the fractional option with the largest LP value to 1 and re-solve
    the LP; when that is infeasible try 0 instead; when both are, undo earlier fixes (depth first). Stops
    at an integral LP solution (a plan) or after MAX_DIVES LP solves (``None``)."""
    rows = ub_form(p.rows())
    c = -p.value if p.sense == "max_benefit" else p.cost
    lb0, ub0 = p.mandatory.astype(float), upper_bounds(p)
    fixes: list[tuple[int, float, bool]] = []  # (option, value, alternative tried)
    x = x_lp
    solves = 0
    while solves < MAX_DIVES:
        lb, ub = lb0.copy(), ub0.copy()
        for j, v, _ in fixes:
            lb[j] = ub[j] = v
        if x is None:
            lp = solve_lp(c, rows, lb, ub)
            solves += 1
            x = lp.x if lp.status == "optimal" else None
            if x is None:  # dead end: flip the last fix not yet flipped, dropping those after it
                while fixes and fixes[-1][2]:
                    fixes.pop()
                if not fixes:
                    return None
                j, v, _ = fixes.pop()
                fixes.append((j, 1.0 - v, True))
                continue
        frac = np.flatnonzero((x > 1e-6) & (x < 1 - 1e-6) & (lb < 1) & (ub > 0))
        if frac.size == 0:
            return x > 0.5
        j = int(frac[np.argmax(x[frac])])
        fixes.append((j, 1.0, False))
        x = None
    return None


def _gap(p: PlanProblem, st: _State, bound: float | None) -> float:
    gap = relative_gap(p.objective_of(st.x), bound, p.sense)
    return math.inf if gap is None else gap


def _restart(p: PlanProblem, start: np.ndarray) -> _State:
    st = _State(p)
    for i in np.flatnonzero(p.mandatory).tolist():
        st.add(i)
    for i in start.tolist():
        if st.fits(i, keep_targets=False):
            st.add(i)
    return st


def _improve(st: _State) -> _State:
    """Step 3 until nothing changes (at most MAX_ROUNDS rounds)."""
    for _ in range(MAX_ROUNDS):
        if st.p.sense == "max_benefit":
            changed = _drop(st) | _fill(st) | _upgrade(st)
        else:
            changed = _drop(st) | _downgrade(st)
        if not changed:
            break
    return st


@dataclass
class GreedyOutcome:
    status: str  # optimal | feasible | infeasible | unknown
    x: np.ndarray | None
    bound: float | None
    bound_method: str | None
    message: str = ""


def greedy(p: PlanProblem) -> GreedyOutcome:
    """Run the heuristic of the module docstring on a checked problem."""
    msg = mandatory_conflicts(p)
    if msg:
        return GreedyOutcome("infeasible", None, None, None, msg)
    lp_x = None
    if p.is_mckp:
        mk = mckp_fractional(p)
        bound, bound_method = mk.bound, "mckp-fractional"
        start = np.flatnonzero(mk.x & ~p.mandatory)
    else:
        lp = lp_relaxation(p)
        if lp.status == "infeasible":
            return GreedyOutcome("infeasible", None, None, "lp-relaxation",
                                 explain_infeasible(p, exact=p.n <= EXACT_DIAGNOSIS_MAX))
        bound = lp.bound
        bound_method = "lp-relaxation" if lp.bound is not None else None
        lp_x = lp.x
        if lp.x is None:
            start = np.zeros(0, dtype=np.int64)
        else:
            start = np.flatnonzero((lp.x >= 1 - 1e-6) & ~p.mandatory)
            start = start[np.argsort(-lp.x[start], kind="stable")]
    plans: list[_State] = []
    st = _restart(p, start)
    if not p.n_targets or _repair(st):
        plans.append(_improve(st))
    far = bool(plans) and p.n <= DIVE_MAX_OPTIONS and _gap(p, plans[0], bound) > DIVE_ABOVE_GAP
    if lp_x is not None and (not plans or far):
        # LP diving: slower (one LP per fractional option) but guided by the relaxation; keep the better plan
        dived = _dive(p, lp_x)
        if dived is not None:
            st = _restart(p, np.flatnonzero(dived & ~p.mandatory))
            if not p.n_targets or _repair(st):
                plans.append(_improve(st))
    plans = [s for s in plans if not violations(p, s.x)]  # a guard: never return a plan that breaks a rule
    if not plans:
        return GreedyOutcome("unknown", None, bound, bound_method,
                             "The heuristic found no plan that meets all rules and targets, but the LP "
                             "relaxation does not rule one out. Try solve_milp (the exact solver).")
    objs = [p.objective_of(s.x) for s in plans]
    st = plans[int(np.argmax(objs) if p.sense == "max_benefit" else np.argmin(objs))]
    obj = p.objective_of(st.x)
    status = "feasible"
    if bound is not None and abs(bound - obj) <= 1e-9 * max(1.0, abs(bound)):
        status = "optimal"
    return GreedyOutcome(status, st.x.copy(), bound, bound_method)
