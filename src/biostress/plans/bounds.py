"""Bounds on the best plan: the fractional multiple-choice knapsack bound and the LP relaxation.

Both bound the integer program of :mod:`biostress.plans.optimize` from the right side (above when maximising
benefit, below when minimising cost), so ``gap`` computed against them is an honest worst case.

Before either relaxation, options that can never be part of a plan are fixed to 0: forbidden options and
options whose cost alone exceeds the budget (after the mandatory options). This only tightens the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from .problem import ConstraintRows, PlanProblem

#: above this many options the LP relaxation uses HiGHS' interior point method (with crossover) instead of
#: its dual simplex: ~15x faster at 1e5 options on the multiple-choice knapsack (bench/bench_plans.py). P.
IPM_ABOVE = 20_000


def _tol(x: float) -> float:
    return 1e-9 * max(1.0, abs(x)) if math.isfinite(x) else 0.0


def upper_bounds(p: PlanProblem, *, budget: bool = True) -> np.ndarray:
    """0/1 upper bound per option: 0 if forbidden or (with ``budget``) if its cost exceeds the budget left
    after the mandatory options (then it can never be chosen)."""
    if not budget:
        return (~p.forbidden).astype(float)
    left = p.budget - p.cost[p.mandatory].sum()
    ub = ~p.forbidden & ((p.cost <= left + _tol(left)) | p.mandatory)
    return ub.astype(float)


@dataclass
class McKpBound:
    """The LP relaxation of the multiple-choice knapsack, solved exactly by its greedy (see
    :func:`mckp_fractional`). ``x`` is the relaxation rounded down (a feasible 0/1 plan)."""

    bound: float
    x: np.ndarray
    n_hull: int


def _hull(site: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Positions (into the site/cost-sorted input) of the upper concave hull vertices of each site's
    (cost, value) points together with the origin (the "do nothing" option).

    Input must be sorted by site then cost, with costs strictly increasing within a site and values
    strictly increasing too (dominated points removed). A vertex j stays when the slope into it is
    strictly larger than the slope out of it; points failing this lie on or below the chord between their
    neighbours and are removed, all at once, until none is left (each pass is vectorised)."""
    keep = np.arange(site.size)
    while keep.size:
        s, cc, vv = site[keep], c[keep], v[keep]
        first = np.r_[True, s[1:] != s[:-1]]
        pc = np.where(first, 0.0, np.r_[0.0, cc[:-1]])
        pv = np.where(first, 0.0, np.r_[0.0, vv[:-1]])
        dc, dv = cc - pc, vv - pv
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(dc > 0, dv / np.where(dc > 0, dc, 1.0), np.inf)
        last = np.r_[s[1:] != s[:-1], True]
        nxt = np.where(last, -np.inf, np.r_[slope[1:], -np.inf])
        drop = slope <= nxt
        if not drop.any():
            break
        keep = keep[~drop]
    return keep


def mckp_fractional(p: PlanProblem) -> McKpBound:
    """Exact LP bound of the multiple-choice knapsack (one option per site, one budget; maximise value).

    Per site, the options not fixed out (forbidden, too expensive, value <= 0, or a site already taken by a
    mandatory option) are reduced to the upper concave hull of (cost, value) with the origin; the hull's
    increments (dc, dv) have decreasing slopes dv/dc within a site. Taking increments of all sites in order of
    decreasing slope until the budget is spent, the last one fractionally, solves the LP relaxation exactly
    (Sinha & Zoltners 1979, Oper. Res. 27:503-515; Kellerer, Pferschy & Pisinger 2004, *Knapsack Problems*,
    ch. 11). Cost O(n log n), all numpy. Without a budget the bound is the best option per site.
    """
    must = p.mandatory
    base = float(p.value[must].sum())
    left = p.budget - float(p.cost[must].sum())
    fixed_site = np.zeros(p.n_sites, dtype=bool)
    fixed_site[p.site[must]] = True
    ok = (upper_bounds(p) > 0) & ~must & ~fixed_site[p.site] & (p.value > 0)
    idx = np.flatnonzero(ok)
    x = must.copy()
    if idx.size == 0:
        return McKpBound(base, x, 0)
    order = np.lexsort((-p.value[idx], p.cost[idx], p.site[idx]))
    idx = idx[order]
    s, c, v = p.site[idx], p.cost[idx], p.value[idx]
    # dominance: keep a point only if it is worth more than every cheaper (or equally cheap) one of its site
    prev_max = pd.Series(v).groupby(s).cummax().groupby(s).shift(1).fillna(0.0).to_numpy()
    dom = v > prev_max
    idx, s, c, v = idx[dom], s[dom], c[dom], v[dom]
    h = _hull(s, c, v)
    idx, s, c, v = idx[h], s[h], c[h], v[h]
    first = np.r_[True, s[1:] != s[:-1]]
    dc = c - np.where(first, 0.0, np.r_[0.0, c[:-1]])
    dv = v - np.where(first, 0.0, np.r_[0.0, v[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(dc > 0, dv / np.where(dc > 0, dc, 1.0), np.inf)
    go = np.argsort(-slope, kind="stable")
    cum = np.cumsum(dc[go])
    k = int(np.searchsorted(cum, left + _tol(left), side="right")) if math.isfinite(left) else go.size
    bound = base + float(dv[go[:k]].sum())
    if k < go.size:
        spent = float(cum[k - 1]) if k else 0.0
        j = go[k]
        bound += (left - spent) / dc[j] * dv[j] if dc[j] > 0 else 0.0
    # rounded down: each site gets the furthest hull point among the taken increments (a prefix per site)
    taken = go[:k]
    best = np.full(p.n_sites, -1, dtype=np.int64)
    np.maximum.at(best, s[taken], taken)
    x[idx[best[best >= 0]]] = True
    return McKpBound(bound, x, int(idx.size))


@dataclass
class LpResult:
    status: str  # "optimal" | "infeasible" | "error"
    bound: float | None
    x: np.ndarray | None
    message: str = ""


def ub_form(rows: ConstraintRows) -> tuple[sp.csr_matrix | None, np.ndarray | None]:
    """``lo <= A x <= hi`` as linprog's ``A_ub x <= b_ub`` (``None, None`` without rows)."""
    A = rows.A
    up = np.isfinite(rows.hi)
    dn = np.isfinite(rows.lo)
    if not (up.any() or dn.any()):
        return None, None
    return sp.vstack([A[up], -A[dn]]).tocsr(), np.r_[rows.hi[up], -rows.lo[dn]]


def solve_lp(c: np.ndarray, rows: ConstraintRows | tuple, lb: np.ndarray, ub: np.ndarray) -> LpResult:
    """``min c @ x`` s.t. ``rows.lo <= A x <= rows.hi``, ``lb <= x <= ub`` with HiGHS (scipy ``linprog``);
    ``rows`` may also be the output of :func:`ub_form` (to build it once for many solves)."""
    A_ub, b_ub = ub_form(rows) if isinstance(rows, ConstraintRows) else rows
    method = "highs-ipm" if c.size > IPM_ABOVE else "highs"
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=np.c_[lb, np.maximum(lb, ub)], method=method)
    if res.status == 0:
        return LpResult("optimal", float(res.fun), np.asarray(res.x), res.message)
    if res.status == 2:
        return LpResult("infeasible", None, None, res.message)
    return LpResult("error", None, None, res.message)


def lp_relaxation(p: PlanProblem) -> LpResult:
    """The LP relaxation of the whole problem (0 <= x <= 1 instead of x in {0, 1}), solved with HiGHS.

    ``bound`` is returned in the problem's own sense: the maximal relaxed value (max_benefit) or the
    minimal relaxed cost EUR (min_cost). ``status == "infeasible"`` proves that no plan exists.
    """
    c = -p.value if p.sense == "max_benefit" else p.cost
    lp = solve_lp(c, p.rows(), p.mandatory.astype(float), upper_bounds(p))
    if lp.bound is not None and p.sense == "max_benefit":
        lp.bound = -lp.bound
    return lp
