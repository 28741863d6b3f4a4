"""The plan optimiser against brute force, hand-worked cases and an independent LP.

Reference: every subset of 8-12 options (4-5 sites) is enumerated and checked against the constraints
written out again here (independent of biostress.plans), so the true optimum is known exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from biostress.errors import ConfigError, InputDataError
from biostress.plans import relative_gap, solve, solve_greedy, solve_milp

MEASURES = ["tree", "wadi", "meadow"]
TOL = 1e-7


# -- an independent reference --------------------------------------------------------------------------------
def instance(seed: int) -> pd.DataFrame:
    """8-12 options at 4-5 sites (every site has at least one), costs EUR 0-500, a few free options."""
    rng = np.random.default_rng(seed)
    n_sites = int(rng.integers(4, 6))
    n = int(rng.integers(8, 13))
    site = np.r_[np.arange(n_sites), rng.integers(0, n_sites, n - n_sites)]
    rng.shuffle(site)
    cost = np.round(rng.uniform(0, 500, n), 2)
    cost[rng.random(n) < 0.08] = 0.0
    site_area = rng.integers(60, 200, n_sites).astype(float)
    return pd.DataFrame({
        "site": [f"s{s}" for s in site], "measure": rng.choice(MEASURES, n), "cost": cost,
        "gain": np.round(rng.uniform(0, 10, n), 3), "cooling": np.round(rng.uniform(0, 5, n), 3),
        "area_m2": rng.integers(10, 120, n).astype(float), "site_area": site_area[site],
    }, index=[f"o{i}" for i in range(n)])


def all_subsets(n: int) -> np.ndarray:
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)


def feasible(df: pd.DataFrame, X: np.ndarray, *, budget=None, targets=None, exclusive="site", capacity=None,
             use="area_m2", limits=None, mandatory=(), forbidden=(), **_) -> np.ndarray:
    """Which rows of the 0/1 matrix X (subsets x options) meet every rule."""
    ok = np.ones(X.shape[0], dtype=bool)
    cost = df["cost"].to_numpy()
    if budget is not None:
        ok &= X @ cost <= budget + 1e-9
    for col, t in (targets or {}).items():
        ok &= X @ df[col].to_numpy() >= t - 1e-9
    for s in df["site"].unique():
        at = (df["site"] == s).to_numpy()
        if exclusive == "site":
            ok &= X[:, at].sum(axis=1) <= 1
        elif exclusive == "capacity":
            cap = df.loc[at, capacity].iloc[0]
            ok &= X[:, at] @ df.loc[at, use].to_numpy() <= cap + 1e-9
    for m, lim in (limits or {}).items():
        of = (df["measure"] == m).to_numpy()
        if "max_count" in lim:
            ok &= X[:, of].sum(axis=1) <= lim["max_count"]
        if "max_cost" in lim:
            ok &= X[:, of] @ cost[of] <= lim["max_cost"] + 1e-9
        if "max_budget_share" in lim:
            ok &= X[:, of] @ cost[of] <= lim["max_budget_share"] * budget + 1e-9
    pos = {lab: i for i, lab in enumerate(df.index)}
    for lab in mandatory:
        ok &= X[:, pos[lab]] == 1
    for lab in forbidden:
        ok &= X[:, pos[lab]] == 0
    return ok


def objective(df: pd.DataFrame, X: np.ndarray, *, sense="max_benefit", weights=None, **_) -> np.ndarray:
    if sense == "min_cost":
        return X @ df["cost"].to_numpy()
    v = df["gain"].to_numpy(dtype=float).copy()
    for col, w in (weights or {}).items():
        v += w * df[col].to_numpy()
    return X @ v


def brute_force(df: pd.DataFrame, **spec) -> float | None:
    """The exact optimum over all subsets (None when no subset meets the rules)."""
    X = all_subsets(len(df))
    ok = feasible(df, X, **spec)
    if not ok.any():
        return None
    obj = objective(df, X[ok], **spec)
    return float(obj.min() if spec.get("sense") == "min_cost" else obj.max())


def check_against_brute_force(df: pd.DataFrame, spec: dict) -> tuple[str, object]:
    """MILP equals the brute-force optimum; the heuristic is feasible and bound >= optimum >= heuristic
    (reversed when minimising). Returns 'infeasible' or 'feasible' (for the caller's bookkeeping) and the
    exact result."""
    best = brute_force(df, **spec)
    exact = solve_milp(df, **spec)
    heur = solve_greedy(df, **spec)
    if best is None:
        assert exact.status == "infeasible" and exact.message, exact.summary()
        assert heur.status in ("infeasible", "unknown") and heur.message and not heur.mask.any()
        return "infeasible", exact
    assert exact.status == "optimal", exact.summary()
    assert exact.objective == pytest.approx(best, rel=1e-9, abs=TOL)
    X = exact.mask.astype(float)[None, :]
    assert feasible(df, X, **spec)[0]
    assert objective(df, X, **spec)[0] == pytest.approx(best, rel=1e-9, abs=TOL)
    assert exact.totals["cost"] == pytest.approx(df.loc[exact.mask, "cost"].sum())
    assert list(exact.chosen.index) == list(df.index[exact.mask])
    assert exact.gap is not None and exact.gap <= 1e-6

    assert heur.status in ("optimal", "feasible", "unknown"), heur.summary()
    assert heur.bound is not None
    if spec.get("sense") == "min_cost":
        assert heur.bound <= best + TOL
    else:
        assert heur.bound >= best - TOL
    if heur.status != "unknown":
        Xh = heur.mask.astype(float)[None, :]
        assert feasible(df, Xh, **spec)[0], heur.summary()
        if spec.get("sense") == "min_cost":
            assert heur.objective >= best - TOL
        else:
            assert heur.objective <= best + TOL
        if heur.status == "optimal":
            assert heur.objective == pytest.approx(best, rel=1e-9, abs=TOL)
    return "feasible", exact


SEEDS = range(15)


def _run(spec_of, seeds=SEEDS) -> dict[str, int]:
    """Counts of feasible/infeasible instances, and how many optimal plans put 2+ options at one site."""
    seen = {"feasible": 0, "infeasible": 0, "shared_site": 0}
    for seed in seeds:
        df = instance(seed)
        kind, exact = check_against_brute_force(df, spec_of(df, seed))
        seen[kind] += 1
        seen["shared_site"] += int(exact.chosen["site"].duplicated().any())
    return seen


# -- brute force ---------------------------------------------------------------------------------------------
def test_budget_only_matches_brute_force():
    seen = _run(lambda df, s: {"budget": (0.2 + 0.1 * (s % 5)) * df["cost"].sum()})
    assert seen["feasible"] == len(SEEDS)


def test_weights_and_targets_match_brute_force():
    def spec(df, s):
        return {"budget": 0.45 * df["cost"].sum(), "weights": {"cooling": 0.7},
                "targets": {"cooling": (0.35 + 0.1 * (s % 4)) * df["cooling"].sum()}}

    seen = _run(spec)
    assert seen["feasible"] >= 5 and seen["infeasible"] >= 1, seen


def test_capacity_sharing_matches_brute_force():
    def spec(df, s):
        return {"budget": 0.5 * df["cost"].sum(), "exclusive": "capacity", "capacity": "site_area",
                "use": "area_m2"}

    seen = _run(spec)
    assert seen["feasible"] == len(SEEDS)
    assert seen["shared_site"] > 0  # capacity sharing really puts several options at one site


def test_min_cost_to_target_matches_brute_force():
    def spec(df, s):
        best_per_site = df.groupby("site")["gain"].max().sum()
        return {"sense": "min_cost", "targets": {"gain": (0.4 + 0.15 * (s % 5)) * best_per_site}}

    seen = _run(spec)
    assert seen["feasible"] >= 10


def test_min_cost_two_targets_with_budget_matches_brute_force():
    def spec(df, s):
        f = 0.05 * (s % 3)
        return {"sense": "min_cost", "budget": 0.4 * df["cost"].sum(),
                "targets": {"gain": (0.35 + f) * df["gain"].sum(),
                            "cooling": (0.3 + f) * df["cooling"].sum()}}

    seen = _run(spec)
    assert seen["feasible"] >= 5 and seen["infeasible"] >= 1, seen


def test_limits_mandatory_forbidden_match_brute_force():
    def spec(df, s):
        rng = np.random.default_rng(1000 + s)
        must, never = rng.choice(df.index, 2, replace=False)
        return {"budget": 0.5 * df["cost"].sum(), "mandatory": [must], "forbidden": [never],
                "limits": {"tree": {"max_count": 1}, "wadi": {"max_budget_share": 0.3},
                           "meadow": {"max_cost": 300.0}}}

    seen = _run(spec, [s for s in SEEDS if set(instance(s)["measure"]) == set(MEASURES)])
    assert seen["feasible"] >= 5, seen


def test_independent_options_with_target_match_brute_force():
    def spec(df, s):
        return {"exclusive": None, "budget": 0.3 * df["cost"].sum(),
                "targets": {"gain": 0.3 * df["gain"].sum()}}

    seen = _run(spec)
    assert seen["feasible"] >= 5, seen


# -- hand-worked cases ---------------------------------------------------------------------------------------
TINY = pd.DataFrame({"site": ["A", "A", "B"], "measure": ["m1", "m2", "m1"], "cost": [10.0, 20.0, 10.0],
                     "gain": [10.0, 15.0, 8.0]})


def test_tiny_case_by_hand():
    # Integer: {A:m1, B:m1} costs 20 <= 25, gain 18; A:m2 + B costs 30 > 25; A:m2 alone 15. Optimum 18.
    # LP (hull increments by slope): A 0->10 (slope 1), B 0->10 (0.8), A 10->20 (0.5, half fits): 10+8+2.5
    r = solve_milp(TINY, budget=25)
    assert r.status == "optimal" and r.objective == pytest.approx(18.0)
    assert list(r.chosen.index) == [0, 2]
    g = solve_greedy(TINY, budget=25)
    assert g.bound_method == "mckp-fractional"
    assert g.bound == pytest.approx(20.5)
    assert g.objective == pytest.approx(18.0)
    assert g.gap == pytest.approx((20.5 - 18.0) / 20.5)
    # no budget: best option per site, 15 + 8; the bound is then exact
    g = solve_greedy(TINY)
    assert g.objective == pytest.approx(23.0) and g.bound == pytest.approx(23.0) and g.status == "optimal"


def test_relative_gap_definition():
    assert relative_gap(90.0, 100.0, "max_benefit") == pytest.approx(0.10)
    assert relative_gap(125.0, 100.0, "min_cost") == pytest.approx(0.20)
    assert relative_gap(0.0, 0.0, "max_benefit") == 0.0
    assert relative_gap(None, 1.0, "max_benefit") is None


def test_mckp_bound_equals_lp_relaxation():
    """The vectorised hull bound equals the LP relaxation solved by linprog on a dense formulation
    (options costing more than the whole budget are fixed to 0 in both, which keeps it a valid bound)."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        n_sites, n = 15, 60
        site = rng.integers(0, n_sites, n)
        cost = np.round(rng.uniform(0, 100, n), 1)
        gain = np.round(rng.uniform(0, 20, n) * (1 + cost / 50), 2)
        df = pd.DataFrame({"site": site, "measure": "m", "cost": cost, "gain": gain})
        budget = float(rng.uniform(50, 600))
        A = np.zeros((n_sites, n))
        A[site, np.arange(n)] = 1
        res = linprog(-gain, A_ub=np.vstack([cost, A]), b_ub=np.r_[budget, np.ones(n_sites)],
                      bounds=[(0, 1 if c <= budget else 0) for c in cost], method="highs")
        g = solve_greedy(df, budget=budget)
        assert g.bound_method == "mckp-fractional"
        assert g.bound == pytest.approx(-res.fun, rel=1e-9)
        assert g.objective <= g.bound + 1e-9


def test_greedy_on_a_larger_problem_is_close_to_the_milp():
    rng = np.random.default_rng(3)
    n_sites, per = 150, 4
    site = np.repeat(np.arange(n_sites), per)
    cost = np.round(rng.uniform(50, 5000, site.size), 0)
    gain = np.round(cost ** 0.7 * rng.uniform(0.5, 1.5, site.size), 2)
    df = pd.DataFrame({"site": site, "measure": rng.choice(MEASURES, site.size), "cost": cost, "gain": gain,
                       "cooling": np.round(rng.uniform(0, 3, site.size), 2)})
    for spec in ({"budget": 0.1 * cost.sum()},
                 {"budget": 0.1 * cost.sum(), "targets": {"cooling": 0.1 * df["cooling"].sum()},
                  "limits": {"tree": {"max_count": 40}}}):
        exact = solve_milp(df, **spec)
        heur = solve_greedy(df, **spec)
        assert exact.status == "optimal" and heur.ok
        assert heur.objective <= exact.objective + 1e-6 <= heur.bound + 2e-6
        assert heur.gap < 0.01  # many small options: rounding the relaxation loses little


# -- infeasibility explained ---------------------------------------------------------------------------------
def test_unreachable_target_is_explained():
    # within EUR 25 at most gain 18 (hand case above); all options together at most 15 + 8 = 23 < 40
    for r in (solve_milp(TINY, budget=25, targets={"gain": 40}),
              solve(TINY, budget=25, targets={"gain": 40})):
        assert r.status == "infeasible" and not r.ok and r.chosen.empty
        assert "'gain' >= 40" in r.message and "at most 18" in r.message and "at most 23" in r.message
    # reachable without the budget: gain >= 20 needs A:m2 + B (EUR 30) or A:m1 + B (18 < 20) -> EUR 30
    r = solve_milp(TINY, budget=25, targets={"gain": 20})
    assert r.status == "infeasible"
    assert "at most 18" in r.message and "EUR 30" in r.message and "budget" in r.message


def test_targets_that_only_fail_together_are_explained():
    df = pd.DataFrame({"site": ["A", "B"], "measure": ["m", "m"], "cost": [10.0, 10.0], "gain": [10.0, 0.0],
                       "cooling": [0.0, 10.0]})
    r = solve_milp(df, budget=15, targets={"gain": 10, "cooling": 10})
    assert r.status == "infeasible"
    assert "together" in r.message and "EUR 20" in r.message and "EUR 15" in r.message
    same_site = df.assign(site="A")
    r = solve_milp(same_site, targets={"gain": 10, "cooling": 10})
    assert r.status == "infeasible" and "compete" in r.message


def test_conflicting_mandatory_options_are_explained():
    r = solve_milp(TINY, budget=100, mandatory=[0, 1])
    assert r.status == "infeasible" and "site 'A'" in r.message and "mandatory" in r.message
    r = solve_greedy(TINY, budget=15, mandatory=[1])
    assert r.status == "infeasible" and "EUR 20" in r.message and "EUR 15" in r.message
    r = solve_milp(TINY, budget=100, mandatory=[0, 2], limits={"m1": {"max_count": 1}})
    assert r.status == "infeasible" and "'m1'" in r.message


def test_mandatory_boolean_column_and_forbidden():
    df = TINY.assign(keep=[False, True, False])
    r = solve_milp(df, budget=25, mandatory="keep")  # A:m2 (20) forced; B (10) no longer fits
    assert r.status == "optimal" and list(r.chosen.index) == [1]
    r = solve_milp(TINY, budget=25, forbidden=[0])  # then A:m2 alone (15) beats B alone (8)
    assert list(r.chosen.index) == [1]


def test_boolean_mask_and_no_constraints():
    mask = np.array([False, True, False])
    assert list(solve_milp(TINY, budget=25, mandatory=mask).chosen.index) == [1]
    for solver in (solve_milp, solve_greedy):  # independent options, no budget: everything with gain > 0
        r = solver(TINY, exclusive=None)
        assert r.status == "optimal" and r.mask.all() and r.objective == pytest.approx(33.0)
        assert r.totals == pytest.approx({"cost": 40.0, "gain": 33.0})


def test_auto_method_picks_by_size():
    assert solve(TINY, budget=25).method == "milp"
    assert solve(TINY, budget=25, milp_max_options=2).method == "greedy"
    assert solve(TINY, budget=25, method="greedy").method == "greedy"
    r = solve(TINY, budget=25, time_limit=5.0)
    assert r.status == "optimal" and r.objective == pytest.approx(18.0)


def test_by_measure_summary():
    r = solve_milp(TINY, budget=25)
    t = r.by_measure()
    assert t.loc["m1", "count"] == 2 and t.loc["m1", "cost"] == pytest.approx(20.0)


# -- bad input -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, error, words", [
    (lambda d: d.assign(cost=[10.0, -5.0, 10.0]), InputDataError, "negative"),
    (lambda d: d.drop(columns="gain"), InputDataError, "gain"),
    (lambda d: d.assign(gain=[1.0, np.nan, 2.0]), InputDataError, "missing"),
    (lambda d: d.assign(cost=["a", "b", "c"]), InputDataError, "not numeric"),
    (lambda d: d.iloc[0:0], InputDataError, "empty"),
    (lambda d: d.assign(site=["A", None, "B"]), InputDataError, "site"),
    (lambda d: d.set_axis([0, 0, 1]), InputDataError, "duplicate"),
])
def test_bad_candidate_table(change, error, words):
    with pytest.raises(error, match=words):
        solve_milp(change(TINY), budget=25)


@pytest.mark.parametrize("kwargs, words", [
    ({"budget": 25, "limits": {"hedge": {"max_count": 1}}}, "hedge"),
    ({"budget": 25, "limits": {"m1": {"max_cnt": 1}}}, "invalid"),
    ({"limits": {"m1": {"max_budget_share": 0.5}}, "targets": {"gain": 1}, "sense": "min_cost"}, "no budget"),
    ({"budget": -1}, "budget"),
    ({"budget": float("nan")}, "budget"),
    ({"budget": 25, "targets": {"cooling": 3}}, "cooling"),
    ({"budget": 25, "weights": {"water_m3": 1.0}}, "water_m3"),
    ({"sense": "min_cost"}, "target"),
    ({"sense": "min_cost", "targets": {"gain": 1}, "weights": {"gain": 1}}, "weights"),
    ({"sense": "maximise"}, "sense"),
    ({"budget": 25, "exclusive": "parcel"}, "exclusive"),
    ({"budget": 25, "exclusive": "capacity"}, "capacity"),
    ({"budget": 25, "mandatory": ["nope"]}, "mandatory"),
    ({"budget": 25, "mandatory": [0], "forbidden": [0]}, "both"),
])
def test_bad_settings(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        solve_milp(TINY, **kwargs)


def test_bad_capacity_data():
    df = TINY.assign(area_m2=[5.0, 5.0, 5.0], cap=[10.0, 12.0, 10.0])
    with pytest.raises(InputDataError, match="differs"):
        solve_milp(df, budget=25, exclusive="capacity", capacity="cap")
    with pytest.raises(ConfigError, match="lacks"):
        solve_milp(df, budget=25, exclusive="capacity", capacity={"A": 10.0})
    with pytest.raises(InputDataError, match="area_m2"):
        solve_milp(TINY, budget=25, exclusive="capacity", capacity={"A": 10.0, "B": 10.0})
    with pytest.raises(ConfigError, match="method"):
        solve(TINY, budget=25, method="fast")
