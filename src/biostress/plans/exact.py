"""One call of the HiGHS branch-and-cut MILP solver through ``scipy.optimize.milp``."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from .problem import ConstraintRows

#: HiGHS stops when (primal - dual) / |primal| <= this. HiGHS' own default (1e-4) can stop at a plan 0.01 %
#: below the optimum; 1e-7 makes "optimal" mean optimal for practical purposes (HiGHS also stops at an
#: absolute gap of 1e-6). P.
MIP_REL_GAP = 1e-7


@dataclass
class MilpRun:
    """``status``: optimal | feasible (time limit, a plan found) | infeasible | unknown (no plan, not proven
    infeasible) | error. ``bound`` is HiGHS' dual bound on ``min c @ x`` (a lower bound)."""

    status: str
    x: np.ndarray | None
    fun: float | None
    bound: float | None
    message: str


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """HiGHS' MIP solver prints debug lines on the C-level stdout; hide them while it solves."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (e.g. captured): nothing to hide
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def run_milp(c: np.ndarray, rows: ConstraintRows, lb: np.ndarray, ub: np.ndarray, *,
             time_limit: float | None = None, mip_rel_gap: float = MIP_REL_GAP) -> MilpRun:
    """``min c @ x`` s.t. ``rows.lo <= A x <= rows.hi``, ``lb <= x <= ub``, x binary (HiGHS via scipy).

    ``time_limit`` (s) is passed to HiGHS; it is checked between solver phases, so a very large root LP can
    overrun it (bench/bench_plans.py)."""
    options: dict[str, float | bool] = {"presolve": True, "mip_rel_gap": float(mip_rel_gap)}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    cons = [LinearConstraint(rows.A, rows.lo, rows.hi)] if rows.A.shape[0] else []
    with quiet_stdout():
        res = milp(c, integrality=np.ones(c.size), bounds=Bounds(lb, np.maximum(lb, ub)), constraints=cons,
                   options=options)
    x = None if res.x is None else np.asarray(res.x) > 0.5
    bound = getattr(res, "mip_dual_bound", None)
    bound = None if bound is None or not math.isfinite(bound) else float(bound)
    fun = None if res.fun is None else float(res.fun)
    if res.status == 0:
        return MilpRun("optimal", x, fun, bound if bound is not None else fun, res.message)
    if res.status == 1:
        return MilpRun("feasible" if x is not None else "unknown", x, fun, bound, res.message)
    if res.status == 2:
        return MilpRun("infeasible", None, None, None, res.message)
    return MilpRun("error", x, fun, bound, res.message)
