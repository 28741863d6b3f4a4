"""Benchmark: the plan optimiser (exact MILP vs the heuristic) on random candidate tables.

Cases (n = number of candidate options, about n/5 sites with 1-9 options each, 6 measures; costs log-normal
around EUR 5 000, gain ~ cost^0.7 with noise, a cooling co-benefit):
  budget-<n>    maximise gain, one measure per site, budget = 5 % of the total cost of all options
                (the multiple-choice knapsack: the heuristic's bound is the exact fractional MCKP bound)
  general-<n>   maximise gain + 0.5 * cooling, the same budget, a cooling target (15 % of the best cooling per
                site, summed), at most n/100 green roofs (the heuristic's bound is the LP relaxation, HiGHS)
  mincost-<n>   minimise cost to reach a gain target (20 % of the best gain per site, summed)

The MILP (HiGHS through scipy.optimize.milp, time limit 60 s) is skipped above --milp-max options (default
20 000) with the reason printed: at 1e5 options its root LP alone ran far past the time limit in trials.
Prints a table (time in s, objective, bound, gap); nothing is written.
Usage: python bench/bench_plans.py [--sizes 1000 10000 100000 1000000] [--milp-max 20000]
                                   [--cases budget general mincost] [--greedy-general-max 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import pandas as pd

from biostress.plans import solve_greedy, solve_milp
from biostress.plans.exact import quiet_stdout

MEASURES = ["street_tree", "green_roof", "wadi", "flower_grassland", "hedge", "depaving"]


def candidates(n: int, seed: int = 0) -> pd.DataFrame:
    """A random candidate table with ``n`` options at about n/5 sites."""
    rng = np.random.default_rng(seed)
    per = rng.integers(1, 10, size=n // 2 + 1)  # plenty; cut to n options below
    site = np.repeat(np.arange(per.size), per)[:n]
    cost = np.round(rng.lognormal(np.log(5000), 0.8, n), 0)
    gain = np.round(cost ** 0.7 * rng.lognormal(0, 0.4, n) / 10, 3)
    return pd.DataFrame({"site": site, "measure": rng.choice(MEASURES, n), "cost": cost, "gain": gain,
                         "cooling": np.round(rng.uniform(0, 4, n), 2)})


def spec(case: str, df: pd.DataFrame) -> dict:
    budget = 0.05 * float(df["cost"].sum())
    if case == "budget":
        return {"budget": budget}
    if case == "general":
        target = 0.15 * float(df.groupby("site")["cooling"].max().sum())
        return {"budget": budget, "weights": {"cooling": 0.5}, "targets": {"cooling": target},
                "limits": {"green_roof": {"max_count": max(1, len(df) // 100)}}}
    if case == "mincost":
        return {"sense": "min_cost", "targets": {"gain": 0.2 * float(df.groupby("site")["gain"].max().sum())}}
    raise ValueError(case)


def fmt(v: float | None, spec_: str = ",.1f") -> str:
    return "-" if v is None else format(v, spec_)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--milp-max", type=int, default=20_000)
    ap.add_argument("--greedy-general-max", type=int, default=100_000,
                    help="largest size for the LP-bound cases (the LP relaxation dominates their time)")
    ap.add_argument("--cases", nargs="+", default=["budget", "general", "mincost"])
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args(argv)

    rows = []
    notes = []
    for case in args.cases:
        for n in args.sizes:
            if case != "budget" and n > args.greedy_general_max:
                notes.append(f"{case}-{n}: skipped (LP relaxation for the bound; raise --greedy-general-max)")
                continue
            df = candidates(n)
            sp = spec(case, df)
            milp = None
            if n <= args.milp_max:
                with quiet_stdout():
                    milp = solve_milp(df, time_limit=args.time_limit, **sp)
            else:
                notes.append(f"{case}-{n}: MILP skipped (n > --milp-max {args.milp_max}: HiGHS' root LP "
                             "alone overruns the time limit at 1e5 options)")
            with quiet_stdout():
                heur = solve_greedy(df, **sp)
            vs = None
            if milp is not None and milp.ok and heur.ok:
                vs = abs(milp.objective - heur.objective) / max(abs(milp.objective), 1e-12)
            rows.append({
                "case": f"{case}-{n}", "options": n, "sites": int(df["site"].nunique()),
                "milp_s": fmt(milp.time_s if milp else None, ".2f"),
                "milp_status": milp.status if milp else "skipped",
                "milp_obj": fmt(milp.objective if milp else None),
                "milp_gap": fmt(milp.gap if milp else None, ".2e"),
                "heur_s": f"{heur.time_s:.2f}", "heur_status": heur.status, "heur_obj": fmt(heur.objective),
                "bound": fmt(heur.bound), "bound_method": heur.bound_method or "-",
                "heur_gap": fmt(heur.gap, ".2e"), "heur_vs_milp": fmt(vs, ".2e"),
            })
            print(f"done {case}-{n}: heuristic {heur.time_s:.2f} s" +
                  (f", MILP {milp.time_s:.2f} s" if milp else ""), file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(f"# bench_plans on {platform.node()} ({os.cpu_count()} cpus), python {platform.python_version()}")
    print("# gap: relative to the solver's bound; "
          "heur_vs_milp: relative loss of the heuristic vs the MILP plan")
    print(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    for note in notes:
        print("# " + note)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"# total {time.perf_counter() - t0:.1f} s")
