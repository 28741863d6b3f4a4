"""The validated array form of a plan-optimisation problem.

:func:`build_problem` checks the candidate table and the constraints a caller passes to
:func:`biostress.plans.optimize.solve` and turns them into :class:`PlanProblem`: plain numpy arrays
(one entry per candidate option) plus the constraint matrix used by both the exact solver and the LP
relaxation. Nothing here solves anything.

Candidate table (pandas DataFrame, one row per (site, measure) option):

- ``site``: a cell or parcel id; ``measure``: the measure key (from the measures catalogue);
- ``cost``: EUR, >= 0 (e.g. the net present cost); ``gain``: biodiversity gain, >= 0 (any consistent unit);
- optional numeric co-benefit columns (e.g. ``cooling``, ``water_m3``) used in ``weights``/``targets``;
- optional ``area_m2`` (or another ``use`` column) and a site capacity for capacity sharing.

The row labels (the DataFrame index) name the options in ``mandatory``/``forbidden`` and in messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, InputDataError

Sense = Literal["max_benefit", "min_cost"]
SENSES = ("max_benefit", "min_cost")
REQUIRED_COLUMNS = ("site", "measure", "cost", "gain")


class MeasureLimit(BaseModel):
    """Limits for one measure: at most ``max_count`` options, at most ``max_cost`` EUR, at most
    ``max_budget_share`` (0-1) of the budget ``B`` (i.e. ``max_cost = share * B``; needs a budget)."""

    model_config = ConfigDict(extra="forbid")

    max_count: int | None = Field(default=None, ge=0)
    max_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_budget_share: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)


@dataclass(frozen=True)
class ConstraintRows:
    """``lo <= A @ x <= hi`` with one human-readable name per row (for messages)."""

    A: sp.csr_matrix
    lo: np.ndarray
    hi: np.ndarray
    names: list[str]


@dataclass
class PlanProblem:
    """A checked problem in array form. ``n`` options, ``n_sites`` sites, ``k`` targets.

    ``value`` is the objective coefficient of each option in the ``max_benefit`` sense:
    ``gain + sum_k w_k * column_k``. Absent limits are ``inf``; ``budget`` is ``inf`` without a budget.
    """

    table: pd.DataFrame
    sense: str
    value: np.ndarray
    cost: np.ndarray
    site: np.ndarray
    site_labels: np.ndarray
    exclusive: str  # "site" | "capacity" | "none"
    use: np.ndarray | None
    site_capacity: np.ndarray | None
    use_column: str | None
    measure: np.ndarray
    measure_labels: list[Any]
    limit_count: np.ndarray
    limit_cost: np.ndarray
    target_names: list[str]
    target_values: np.ndarray
    target_matrix: np.ndarray
    budget: float
    mandatory: np.ndarray
    forbidden: np.ndarray
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.cost.size)

    @property
    def n_sites(self) -> int:
        return int(self.site_labels.size)

    @property
    def n_targets(self) -> int:
        return len(self.target_names)

    @property
    def has_limits(self) -> bool:
        return bool(np.isfinite(self.limit_count).any() or np.isfinite(self.limit_cost).any())

    @property
    def is_mckp(self) -> bool:
        """True for the pure multiple-choice knapsack: maximise value, one option per site, at most a
        budget (mandatory/forbidden options allowed), no targets, no measure limits."""
        return (self.sense == "max_benefit" and self.exclusive == "site" and self.n_targets == 0
                and not self.has_limits)

    def objective_of(self, x: np.ndarray) -> float:
        """Objective of a 0/1 selection: total value (max_benefit) or total cost EUR (min_cost)."""
        x = np.asarray(x, dtype=bool)
        return float(self.value[x].sum() if self.sense == "max_benefit" else self.cost[x].sum())

    def label(self, i: int) -> str:
        row = self.table.iloc[i]
        return f"option {self.table.index[i]!r} ({row['measure']} at site {row['site']})"

    def rows(self, *, targets: bool = True, budget: bool = True) -> ConstraintRows:
        """All linear constraints as sparse rows (0/1 bounds and mandatory/forbidden are variable bounds).

        Order: budget, targets, sites (exclusivity or capacity), measure counts, measure costs. Rows that
        can never bind (a site with one option, a capacity above the site's total use) are left out.
        """
        n = self.n
        idx = np.arange(n)
        blocks: list[sp.csr_matrix] = []
        lo: list[np.ndarray] = []
        hi: list[np.ndarray] = []
        names: list[str] = []

        def add(mat: sp.spmatrix, low: np.ndarray, high: np.ndarray, labels: list[str]) -> None:
            if mat.shape[0]:
                blocks.append(sp.csr_matrix(mat))
                lo.append(np.asarray(low, float))
                hi.append(np.asarray(high, float))
                names.extend(labels)

        if budget and math.isfinite(self.budget):
            add(sp.csr_matrix(self.cost[None, :]), [-np.inf], [self.budget], ["budget"])
        if targets and self.n_targets:
            add(sp.csr_matrix(self.target_matrix), self.target_values, np.full(self.n_targets, np.inf),
                [f"target {t}" for t in self.target_names])
        if self.exclusive in ("site", "capacity"):
            coef = np.ones(n) if self.exclusive == "site" else self.use
            full = sp.csr_matrix((coef, (self.site, idx)), shape=(self.n_sites, n))
            if self.exclusive == "site":
                keep = np.flatnonzero(np.bincount(self.site, minlength=self.n_sites) > 1)
                cap = np.ones(keep.size)
            else:
                total = np.bincount(self.site, weights=self.use, minlength=self.n_sites)
                keep = np.flatnonzero(total > self.site_capacity)
                cap = self.site_capacity[keep]
            add(full[keep], np.full(keep.size, -np.inf), cap,
                [f"site {self.site_labels[s]}" for s in keep])
        n_meas = len(self.measure_labels)
        per = np.bincount(self.measure, minlength=n_meas)
        mcount = np.flatnonzero(np.isfinite(self.limit_count) & (self.limit_count < per))
        if mcount.size:
            full = sp.csr_matrix((np.ones(n), (self.measure, idx)), shape=(n_meas, n))
            add(full[mcount], np.full(mcount.size, -np.inf), self.limit_count[mcount],
                [f"max count of {self.measure_labels[m]}" for m in mcount])
        mcost = np.flatnonzero(np.isfinite(self.limit_cost))
        if mcost.size:
            full = sp.csr_matrix((self.cost, (self.measure, idx)), shape=(n_meas, n))
            add(full[mcost], np.full(mcost.size, -np.inf), self.limit_cost[mcost],
                [f"max cost of {self.measure_labels[m]}" for m in mcost])
        if not blocks:
            return ConstraintRows(sp.csr_matrix((0, n)), np.zeros(0), np.zeros(0), [])
        return ConstraintRows(sp.vstack(blocks).tocsr(), np.concatenate(lo), np.concatenate(hi), names)


def _numeric(df: pd.DataFrame, col: str, *, nonneg: bool, what: str) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        raise InputDataError(f"Column {col!r} of the candidate options ({what}) is not numeric "
                             f"(dtype {s.dtype}).", hint=f"Give {col!r} as numbers.")
    a = s.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        raise InputDataError(f"Column {col!r} of the candidate options ({what}) has {int(bad.sum())} missing "
                             f"or infinite value(s), e.g. at row {df.index[np.argmax(bad)]!r}.",
                             hint=f"Fill in {col!r} for every option or drop those rows.")
    if nonneg and (a < 0).any():
        neg = a < 0
        raise InputDataError(f"Column {col!r} of the candidate options ({what}) has {int(neg.sum())} "
                             f"negative value(s), e.g. {a[neg][0]:g} at row {df.index[np.argmax(neg)]!r}; "
                             "it must be >= 0.",
                             hint=f"Check how {col!r} was computed; a saving is not a negative cost here.")
    return a


def _labels(df: pd.DataFrame, sel: Iterable[Any] | str | None, what: str) -> np.ndarray:
    """A boolean mask from row labels (list-like), a boolean mask (one entry per option) or the name of a
    boolean column."""
    if sel is None:
        return np.zeros(len(df), dtype=bool)
    if isinstance(sel, str):
        if sel not in df.columns:
            raise ConfigError(f"{what}: column {sel!r} is not in the candidate options.",
                              hint=f"Give a boolean column name or a list of row labels for {what}.")
        s = df[sel]
        if not pd.api.types.is_bool_dtype(s):
            raise InputDataError(f"{what}: column {sel!r} must be boolean (True/False), not {s.dtype}.",
                                 hint="Convert it with .astype(bool) after filling missing values.")
        return s.to_numpy(dtype=bool)
    arr = np.asarray(sel)
    if arr.dtype == bool:
        if arr.shape != (len(df),):
            raise ConfigError(f"{what}: a boolean mask must have one entry per option ({len(df)}), not "
                              f"shape {arr.shape}.", hint="Pass row labels or a boolean column name instead.")
        return arr.copy()
    labels = list(arr) if arr.ndim == 1 else list(sel)
    missing = [lab for lab in labels if lab not in df.index]
    if missing:
        raise ConfigError(f"{what}: {len(missing)} label(s) are not rows of the candidate options, "
                          f"e.g. {missing[0]!r}.",
                          hint="Use the row labels (DataFrame index) of the options table.")
    return df.index.isin(labels)


def _column(df: pd.DataFrame, col: Any, what: str) -> str:
    if not isinstance(col, str) or col not in df.columns:
        raise ConfigError(f"{what} refers to column {col!r}, which is not in the candidate options "
                          f"(columns: {', '.join(map(str, df.columns))}).",
                          hint=f"Add the column to the options table or remove it from {what}.")
    if col in ("site", "measure"):
        raise ConfigError(f"{what} cannot use column {col!r}: it is an id, not a quantity.",
                          hint="Use a numeric column such as 'gain' or a co-benefit column.")
    return col


def _finite(value: Any, what: str, *, nonneg: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, not {value!r}.",
                          hint=f"Set {what} to a number.") from None
    if not math.isfinite(v) or (nonneg and v < 0):
        raise ConfigError(f"{what} must be a finite number{' >= 0' if nonneg else ''}, not {value!r}.",
                          hint=f"Set {what} to a finite number{' >= 0' if nonneg else ''}.")
    return v


def build_problem(options: pd.DataFrame, *, budget: float | None = None, sense: str = "max_benefit",
                  weights: Mapping[str, float] | None = None, targets: Mapping[str, float] | None = None,
                  exclusive: str | None = "site",
                  capacity: str | Mapping[Any, float] | pd.Series | None = None,
                  use: str = "area_m2", limits: Mapping[Any, Mapping[str, Any]] | None = None,
                  mandatory: Iterable[Any] | str | None = None,
                  forbidden: Iterable[Any] | str | None = None) -> PlanProblem:
    """Check the inputs and build a :class:`PlanProblem` (see :func:`biostress.plans.optimize.solve` for the
    meaning of every argument). Bad data raises :class:`InputDataError`, bad settings :class:`ConfigError`."""
    if not isinstance(options, pd.DataFrame):
        raise InputDataError("The candidate options must be a pandas DataFrame, not "
                             f"{type(options).__name__}.",
                             hint="Build one row per (site, measure) with columns site, measure, cost, gain.")
    missing = [c for c in REQUIRED_COLUMNS if c not in options.columns]
    if missing:
        raise InputDataError(f"The candidate options lack column(s) {', '.join(missing)} "
                             f"(has: {', '.join(map(str, options.columns)) or 'none'}).",
                             hint="Give one row per (site, measure) with columns site, measure, cost (EUR), "
                                  "gain.")
    if len(options) == 0:
        raise InputDataError("The candidate options table is empty: there is nothing to choose from.",
                             hint="Check the opportunity map and the measures catalogue that built the "
                                  "candidates.")
    if not options.index.is_unique:
        raise InputDataError("The candidate options have duplicate row labels (index).",
                             hint="Call .reset_index(drop=True) on the table first.")
    for col in ("site", "measure"):
        if options[col].isna().any():
            raise InputDataError(f"Column {col!r} of the candidate options has missing values.",
                                 hint=f"Every option needs a {col}.")
    if sense not in SENSES:
        raise ConfigError(f"sense must be one of {', '.join(SENSES)}, not {sense!r}.",
                          hint="Use 'max_benefit' (within a budget) or 'min_cost' (to reach targets).")

    cost = _numeric(options, "cost", nonneg=True, what="EUR")
    gain = _numeric(options, "gain", nonneg=True, what="biodiversity gain")
    n = cost.size

    weights = dict(weights or {})
    if weights and sense == "min_cost":
        raise ConfigError("weights only apply when maximising benefit; with sense='min_cost' the objective "
                          "is the cost.",
                          hint="Express co-benefit requirements as targets, or drop the weights.")
    value = gain.copy()
    for col, w in weights.items():
        col = _column(options, col, "weights")
        wv = _finite(w, f"the weight of {col!r}")
        value += wv * _numeric(options, col, nonneg=False, what="co-benefit")
        weights[col] = wv

    tnames: list[str] = []
    tvals: list[float] = []
    tcols: list[np.ndarray] = []
    for col, t in (targets or {}).items():
        col = _column(options, col, "targets")
        tnames.append(col)
        tvals.append(_finite(t, f"the target for {col!r}"))
        tcols.append(_numeric(options, col, nonneg=False, what="target column"))
    if sense == "min_cost" and not tnames:
        raise ConfigError("Minimising cost needs at least one target (otherwise the cheapest plan is to do "
                          "nothing).",
                          hint="Pass targets={'gain': ...} or use sense='max_benefit' with a budget.")

    b = math.inf if budget is None else _finite(budget, "budget (EUR)", nonneg=True)

    site_codes, site_labels = pd.factorize(options["site"], sort=False)
    meas_codes, meas_labels = pd.factorize(options["measure"], sort=False)
    site_codes = site_codes.astype(np.int64)
    meas_codes = meas_codes.astype(np.int64)
    n_sites = len(site_labels)

    if exclusive is None or exclusive == "none":
        mode = "none"
    elif exclusive in ("site", "capacity"):
        mode = exclusive
    else:
        raise ConfigError(f"exclusive must be 'site', 'capacity' or None, not {exclusive!r}.",
                          hint="'site': at most one measure per site; 'capacity': measures share the site's "
                               "capacity; None: options are independent.")
    if capacity is not None and mode != "capacity":
        raise ConfigError("A capacity was given but exclusive is not 'capacity'.",
                          hint="Pass exclusive='capacity' to share site capacity, or drop capacity.")
    use_arr: np.ndarray | None = None
    cap_arr: np.ndarray | None = None
    use_col: str | None = None
    if mode == "capacity":
        if capacity is None:
            raise ConfigError("exclusive='capacity' needs capacity= (a column name or a site -> capacity "
                              "map).",
                              hint="For example capacity='site_area_m2' with use='area_m2'.")
        if use not in options.columns:
            raise InputDataError(f"Capacity sharing needs column {use!r} (the capacity each option uses), "
                                 "which the candidate options lack.", hint="Add it or pass use='<column>'.")
        use_arr = _numeric(options, use, nonneg=True, what="capacity used")
        use_col = use
        if isinstance(capacity, str):
            cap_rows = _numeric(options, _column(options, capacity, "capacity"), nonneg=True,
                                what="site capacity")
            cap_arr = np.full(n_sites, np.nan)
            cap_arr[site_codes] = cap_rows
            lo = np.full(n_sites, np.inf)
            hi = np.full(n_sites, -np.inf)
            np.minimum.at(lo, site_codes, cap_rows)
            np.maximum.at(hi, site_codes, cap_rows)
            bad = np.flatnonzero(hi - lo > 1e-9 * np.maximum(1.0, hi))
            if bad.size:
                raise InputDataError(f"Column {capacity!r} (site capacity) differs between options of the "
                                     f"same site, e.g. site {site_labels[bad[0]]!r} ({lo[bad[0]]:g} vs "
                                     f"{hi[bad[0]]:g}).",
                                     hint="Give each site one capacity value on all its rows.")
        else:
            cmap = pd.Series(capacity) if not isinstance(capacity, pd.Series) else capacity
            absent = [s for s in site_labels if s not in cmap.index]
            if absent:
                raise ConfigError(f"The site capacity map lacks {len(absent)} site(s), e.g. {absent[0]!r}.",
                                  hint="Give a capacity for every site in the candidate options.")
            cap_arr = np.array([_finite(cmap[s], f"capacity of site {s!r}", nonneg=True)
                                for s in site_labels])

    lim_count = np.full(len(meas_labels), np.inf)
    lim_cost = np.full(len(meas_labels), np.inf)
    known = {m: i for i, m in enumerate(meas_labels)}
    for meas, spec in (limits or {}).items():
        if meas not in known:
            raise ConfigError(f"limits name measure {meas!r}, which no candidate option has "
                              f"(measures: {', '.join(map(str, meas_labels))}).",
                              hint="Check the spelling of the measure key or drop the limit.")
        try:
            lim = MeasureLimit.model_validate(dict(spec))
        except (ValidationError, TypeError, ValueError) as exc:
            raise ConfigError(f"The limit for measure {meas!r} is invalid: {exc}",
                              hint="Use keys max_count (int >= 0), max_cost (EUR >= 0), "
                                   "max_budget_share (0-1).") from None
        i = known[meas]
        if lim.max_count is not None:
            lim_count[i] = lim.max_count
        if lim.max_cost is not None:
            lim_cost[i] = min(lim_cost[i], lim.max_cost)
        if lim.max_budget_share is not None:
            if not math.isfinite(b):
                raise ConfigError(f"The limit for measure {meas!r} uses max_budget_share but no budget was "
                                  "given.", hint="Pass a budget or use max_cost (EUR) instead.")
            lim_cost[i] = min(lim_cost[i], lim.max_budget_share * b)

    must = _labels(options, mandatory, "mandatory")
    never = _labels(options, forbidden, "forbidden")
    both = must & never
    if both.any():
        raise ConfigError(f"{int(both.sum())} option(s) are both mandatory and forbidden, e.g. "
                          f"{options.index[np.argmax(both)]!r}.",
                          hint="Remove them from one of the two lists.")

    return PlanProblem(
        table=options, sense=sense, value=value, cost=cost, site=site_codes,
        site_labels=np.asarray(site_labels),
        exclusive=mode, use=use_arr, site_capacity=cap_arr, use_column=use_col, measure=meas_codes,
        measure_labels=list(meas_labels), limit_count=lim_count, limit_cost=lim_cost, target_names=tnames,
        target_values=np.asarray(tvals, float),
        target_matrix=np.vstack(tcols) if tcols else np.zeros((0, n)),
        budget=b, mandatory=must, forbidden=never, weights=weights)


def mandatory_conflicts(p: PlanProblem) -> str | None:
    """Why the mandatory options alone already break a constraint (a message), or ``None``."""
    must = np.flatnonzero(p.mandatory)
    if must.size == 0:
        return None
    if p.exclusive == "site":
        per = np.bincount(p.site[must], minlength=p.n_sites)
        s = int(np.argmax(per))
        if per[s] > 1:
            names = ", ".join(p.label(i) for i in must[p.site[must] == s])
            return (f"Mandatory options conflict: {names} are all mandatory but share site "
                    f"{p.site_labels[s]!r}, where only one measure can go. Make only one of them mandatory.")
    if p.exclusive == "capacity":
        used = np.bincount(p.site[must], weights=p.use[must], minlength=p.n_sites)
        over = np.flatnonzero(used > p.site_capacity + 1e-9 * np.maximum(1.0, p.site_capacity))
        if over.size:
            s = int(over[0])
            return (f"The mandatory options at site {p.site_labels[s]!r} use {_fmt(used[s])} {p.use_column}, "
                    f"more than the site's capacity of {_fmt(p.site_capacity[s])}. Drop one of them or raise "
                    "the capacity.")
    spent = float(p.cost[must].sum())
    if spent > p.budget + 1e-9 * max(1.0, p.budget):
        return (f"The mandatory options alone cost EUR {_fmt(spent)}, more than the budget of EUR "
                f"{_fmt(p.budget)}. Raise the budget by at least EUR {_fmt(spent - p.budget)} or make fewer "
                "options mandatory.")
    n_meas = len(p.measure_labels)
    cnt = np.bincount(p.measure[must], minlength=n_meas)
    mc = np.bincount(p.measure[must], weights=p.cost[must], minlength=n_meas)
    for m in range(n_meas):
        name = p.measure_labels[m]
        if cnt[m] > p.limit_count[m]:
            return (f"{cnt[m]} options of measure {name!r} are mandatory, but at most "
                    f"{int(p.limit_count[m])} are allowed. Relax the limit or make fewer of them mandatory.")
        if mc[m] > p.limit_cost[m] + 1e-9 * max(1.0, p.limit_cost[m]):
            return (f"The mandatory options of measure {name!r} cost EUR {_fmt(mc[m])}, more than its limit "
                    f"of EUR {_fmt(p.limit_cost[m])}. Relax the limit or make fewer of them mandatory.")
    return None


def violations(p: PlanProblem, x: np.ndarray, rtol: float = 1e-6) -> list[str]:
    """The constraints a 0/1 selection breaks (empty when it is a valid plan); tolerance ``rtol`` relative to
    each right-hand side (at least absolute ``rtol``)."""
    x = np.asarray(x, dtype=bool)
    out: list[str] = []
    if (x & p.forbidden).any():
        out.append("a forbidden option is chosen")
    if (p.mandatory & ~x).any():
        out.append("a mandatory option is not chosen")
    rows = p.rows()
    if rows.A.shape[0]:
        ax = rows.A @ x.astype(float)
        tol_hi = rtol * np.maximum(1.0, np.abs(np.where(np.isfinite(rows.hi), rows.hi, 0.0)))
        tol_lo = rtol * np.maximum(1.0, np.abs(np.where(np.isfinite(rows.lo), rows.lo, 0.0)))
        for r in np.flatnonzero((ax > rows.hi + tol_hi) | (ax < rows.lo - tol_lo)):
            out.append(f"{rows.names[r]}: {ax[r]:g} not in [{rows.lo[r]:g}, {rows.hi[r]:g}]")
    return out


def _fmt(v: float) -> str:
    """A number for a planner: thousands separated, at most 2 decimals (e.g. 12,500 or 3.25)."""
    if not math.isfinite(v):
        return str(v)
    s = f"{v:,.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s
