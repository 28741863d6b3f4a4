"""Finance of measures: annuity factor, net present value, payback, equivalent annual cost and a
per-measure cost breakdown. All functions are vectorised over numpy arrays (measures x cells);
inputs broadcast against each other.

Cash-flow convention (per unit or per cell, EUR, real prices): costs negative, inflows positive.

- year 0: ``-capex + subsidy``;
- years ``t = 1..n``: ``revenue + avoided - opex`` (yearly, end of year); ``n = H`` with
  reinvestment, else ``n = min(H, floor(L))`` (the measure stops at the end of its life);
- with ``reinvest``: a replacement ``-capex`` at ``t = kL`` for ``k = 1, 2, ...`` while ``kL < H``
  (no new subsidy; a replacement exactly at the horizon is not made);
- discounted with ``(1 + r)^-t``; no residual value at the horizon.

So ``NPV = -capex + subsidy + (revenue + avoided - opex) * AF(r, n) - capex * sum_k (1+r)^(-kL)``
with the annuity factor ``AF(r, n) = (1 - (1 + r)^-n) / r`` (``= n`` at ``r = 0``), the present
value of 1 EUR a year for n years (any finance textbook; e.g. AF(3 %, 10) = 8.5302).

Default rate: the Dutch standard discount rate for social cost-benefit analysis (MKBA), 2.25 %
real (Werkgroep Discontovoet 2020; ev S) and a 30-year default horizon (P), both in
``biostress/data/measures/finance.yaml`` (an area's copy in ``params_dir`` overrides it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import ConfigError, InputDataError
from .catalogue import Catalogue, Measure, Subsidy, data_path

FINANCE_FILE = "finance.yaml"
_TOL = 1e-9


@dataclass(frozen=True)
class FinanceParams:
    """Defaults of the finance functions, with their evidence."""

    discount_rate: float
    horizon_yr: int
    ev: dict[str, str]
    source: dict[str, str]
    path: str


def load_finance_params(path: str | Path | None = None, params_dir: Path | str | None = None) -> FinanceParams:
    """Read ``finance.yaml`` (the area's copy in ``params_dir`` if present)."""
    p = Path(path) if path is not None else data_path(FINANCE_FILE, params_dir)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Cannot read the finance parameters {p}: {e}") from e
    try:
        rate = doc["discount_rate"]
        hor = doc["horizon_yr"]
        r, h = float(rate["value"]), hor["value"]
        evs = {"discount_rate": rate["ev"], "horizon_yr": hor["ev"]}
        srcs = {"discount_rate": str(rate["source"]), "horizon_yr": str(hor["source"])}
    except (TypeError, KeyError, ValueError) as e:
        raise ConfigError(f"The finance parameters {p} are invalid: missing or bad {e}.",
                          hint="Give discount_rate and horizon_yr, each with value, ev and source.") from None
    if not -0.5 < r < 1:
        raise ConfigError(f"{p}: discount_rate {r} is not a yearly rate (use 0.0225 for 2.25 %).")
    if not (isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 500):
        raise ConfigError(f"{p}: horizon_yr must be a whole number of years from 1 to 500, got {h!r}.")
    for k, ev in evs.items():
        if ev not in ("V", "S", "R", "P"):
            raise ConfigError(f"{p}: {k}.ev must be V, S, R or P, got {ev!r}.")
    return FinanceParams(r, h, evs, srcs, str(p))


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------

def _arr(x: Any, name: str, nonneg: bool = False) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if nonneg and np.any(a < 0):
        raise InputDataError(f"{name} must not be negative (got {a[a < 0].ravel()[:3].tolist()}).",
                             hint="Costs and inflows are given as positive amounts; the sign comes from the formula.")
    return a


def _rate(rate: Any) -> np.ndarray:
    r = _arr(rate, "rate")
    if np.any(r <= -1):
        raise InputDataError(f"rate must be above -1 (got {r[r <= -1].ravel()[:3].tolist()}); 0.03 means 3 %.")
    return r


def _out(a: np.ndarray) -> Any:
    return a[()] if a.ndim == 0 else a


def annuity_factor(rate: Any, years: Any) -> Any:
    """Present value of 1 EUR paid at the end of each of ``years`` years:
    ``AF = (1 - (1 + r)^-n) / r``, and ``AF = n`` at ``r = 0``. Years may be 0 (AF = 0)."""
    r = _rate(rate)
    n = _arr(years, "years", nonneg=True)
    r, n = np.broadcast_arrays(r, n)
    safe = np.where(r == 0, 1.0, r)
    with np.errstate(over="ignore", invalid="ignore"):
        af = np.where(r == 0, n, (1.0 - np.power(1.0 + r, -n)) / safe)
    return _out(np.asarray(af, dtype=np.float64))


def _lifetime(lifetime_yr: Any) -> np.ndarray:
    lt = _arr(lifetime_yr, "lifetime_yr")
    if np.any(lt <= 0):
        raise InputDataError(f"lifetime_yr must be above 0 (got {lt[lt <= 0].ravel()[:3].tolist()}); "
                             "use inf for a measure without replacement.")
    return lt


def _horizon(horizon_yr: Any, lifetime: np.ndarray) -> np.ndarray:
    if horizon_yr is None:
        if np.any(~np.isfinite(lifetime)):
            raise InputDataError("A measure without a lifetime (inf) needs a horizon_yr.",
                                 hint="Pass horizon_yr, e.g. the default of finance.yaml.")
        h = lifetime
    else:
        h = _arr(horizon_yr, "horizon_yr")
    if np.any(h <= 0) or np.any(h != np.floor(h)):
        raise InputDataError(f"horizon_yr must be a whole number of years above 0 (got {np.unique(h)[:5].tolist()}).")
    return h


def _replacements(lifetime: np.ndarray, horizon: np.ndarray, reinvest: bool) -> np.ndarray:
    """Number of replacements ``K`` = count of k >= 1 with ``kL < H`` (0 without reinvestment)."""
    if not reinvest:
        return np.zeros(np.broadcast(lifetime, horizon).shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(np.isfinite(lifetime), np.ceil(horizon / lifetime - _TOL) - 1, 0.0)
    return np.maximum(k, 0.0)


def _geometric(rate: np.ndarray, lifetime: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``sum_{k=1..K} (1 + r)^(-kL)``; ``K`` at r = 0; 0 for K = 0."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        q = np.where(np.isfinite(lifetime), np.power(1.0 + rate, -np.where(np.isfinite(lifetime), lifetime, 1.0)), 0.0)
        s = np.where(np.abs(1.0 - q) < 1e-15, count, q * (1.0 - np.power(q, count)) / np.where(q == 1, 1.0, 1.0 - q))
    return np.where(count > 0, s, 0.0)


def _flow_years(lifetime: np.ndarray, horizon: np.ndarray, reinvest: bool) -> np.ndarray:
    if reinvest:
        return horizon + np.zeros_like(lifetime)
    return np.minimum(horizon, np.floor(np.where(np.isfinite(lifetime), lifetime, horizon) + _TOL))


def _cumulative(t: Any, capex: np.ndarray, net: np.ndarray, subsidy: np.ndarray, lifetime: np.ndarray,
                horizon: np.ndarray, rate: np.ndarray, reinvest: bool) -> np.ndarray:
    """Cumulative (discounted at ``rate``) cash flow up to and including year ``t``."""
    n_flow = np.minimum(t, _flow_years(lifetime, horizon, reinvest))
    k_all = _replacements(lifetime, horizon, reinvest)
    with np.errstate(invalid="ignore", divide="ignore"):
        k_t = np.where(np.isfinite(lifetime), np.floor(t / lifetime + _TOL), 0.0)
    k_t = np.minimum(k_t, k_all)
    return -capex + subsidy + net * annuity_factor(rate, n_flow) - capex * _geometric(rate, lifetime, k_t)


def _prepare(capex: Any, opex_yr: Any, revenue_yr: Any, lifetime_yr: Any, rate: Any, horizon_yr: Any,
             subsidy: Any, avoided_yr: Any) -> tuple[np.ndarray, ...]:
    c = _arr(capex, "capex", True)
    o = _arr(opex_yr, "opex_yr", True)
    rv = _arr(revenue_yr, "revenue_yr", True)
    s = _arr(subsidy, "subsidy", True)
    av = _arr(avoided_yr, "avoided_yr", True)
    lt = _lifetime(lifetime_yr)
    r = _rate(rate)
    h = _horizon(horizon_yr, lt)
    return c, rv + av - o, s, lt, h, r


def npv(capex: Any, opex_yr: Any, revenue_yr: Any, lifetime_yr: Any, rate: Any, horizon_yr: Any = None,
        subsidy: Any = 0.0, avoided_yr: Any = 0.0, reinvest: bool = True) -> Any:
    """Net present value (EUR) over ``horizon_yr`` years (default: one lifetime); see the module
    docstring for the cash flows. ``lifetime_yr = inf`` means no replacement."""
    c, net, s, lt, h, r = _prepare(capex, opex_yr, revenue_yr, lifetime_yr, rate, horizon_yr, subsidy, avoided_yr)
    return _out(_cumulative(h, c, net, s, lt, h, r, reinvest))


def payback_year(capex: Any, opex_yr: Any, revenue_yr: Any, lifetime_yr: Any, horizon_yr: Any = None,
                 subsidy: Any = 0.0, avoided_yr: Any = 0.0, reinvest: bool = True, rate: Any = 0.0) -> Any:
    """First year ``t`` (0..H) in which the cumulative cash flow (undiscounted at ``rate=0``,
    else discounted) is non-negative; NaN if it never is within the horizon. Year 0 means the
    subsidy covers the capex. Replacements can push the sum below 0 again: the first year counts.
    A measure whose yearly net flow (revenue + avoided - opex) is negative never pays back (NaN),
    even when a subsidy covers its capex: its cumulative cash flow only falls."""
    c, net, s, lt, h, r = _prepare(capex, opex_yr, revenue_yr, lifetime_yr, rate, horizon_yr, subsidy, avoided_yr)
    shape = np.broadcast(c, net, s, lt, h, r).shape
    found = np.full(shape, np.nan)
    never = np.broadcast_to(net < 0, shape) | np.broadcast_to(np.isnan(c) | np.isnan(net), shape)
    hmax = int(np.max(h)) if h.size else 0
    for t in range(hmax + 1):
        cum = _cumulative(float(t), c, net, s, lt, h, r, reinvest)
        scale = 1.0 + np.abs(c) + np.abs(s)
        hit = np.isnan(found) & ~never & (cum >= -_TOL * scale) & (t <= h)
        found = np.where(hit, float(t), found)
        if not (np.isnan(found) & ~never).any():
            break
    return _out(found)


def discounted_payback_year(capex: Any, opex_yr: Any, revenue_yr: Any, lifetime_yr: Any, rate: Any,
                            horizon_yr: Any = None, subsidy: Any = 0.0, avoided_yr: Any = 0.0,
                            reinvest: bool = True) -> Any:
    """:func:`payback_year` on the cash flows discounted at ``rate``."""
    return payback_year(capex, opex_yr, revenue_yr, lifetime_yr, horizon_yr, subsidy, avoided_yr, reinvest, rate)


def equivalent_annual_cost(capex: Any, opex_yr: Any, lifetime_yr: Any, rate: Any, revenue_yr: Any = 0.0,
                           subsidy: Any = 0.0, avoided_yr: Any = 0.0, horizon_yr: Any = None,
                           reinvest: bool = True) -> Any:
    """Equivalent annual cost (EUR/yr, positive = net cost): ``EAC = -NPV / AF(r, H)``. With no
    inflows and ``H = L``: ``capex / AF(r, L) + opex``."""
    lt = _lifetime(lifetime_yr)
    h = _horizon(horizon_yr, lt)
    v = _arr(npv(capex, opex_yr, revenue_yr, lt, rate, h, subsidy, avoided_yr, reinvest), "npv")
    return _out(-v / _arr(annuity_factor(rate, h), "af") + 0.0)


# --------------------------------------------------------------------------------------------
# measures
# --------------------------------------------------------------------------------------------

def select_subsidies(measure: Measure, regions: Iterable[str] = ("NL",), on: date | None = None,
                     programmes: Iterable[str] | None = None) -> list[Subsidy]:
    """The measure's subsidies open in ``regions`` (the catalogue's ``region`` keys, e.g. "NL",
    "AGV", "Gouda"), still open on date ``on`` (if given) and, if given, only ``programmes``."""
    regs = set(regions)
    progs = set(programmes) if programmes is not None else None
    out = []
    for s in measure.subsidies:
        if s.region not in regs:
            continue
        if on is not None and s.valid_until is not None and s.valid_until < on:
            continue
        if progs is not None and s.programme not in progs:
            continue
        out.append(s)
    return out


@dataclass
class CostBreakdown:
    """Costs of ``quantity`` units of a measure (arrays like ``quantity``; EUR, real prices)."""

    measure_id: str
    quantity: Any
    capex: Any  # gross investment
    subsidy: Any  # one-off, capped per rule and at the capex
    net_capex: Any
    opex_yr: Any
    revenue_yr: Any
    avoided_yr: Any
    horizon_yr: int
    replacements: int  # within the horizon
    capex_horizon: Any  # undiscounted: net capex + replacements
    opex_horizon: Any  # undiscounted: opex_yr x operating years
    npv: Any
    eac: Any  # equivalent annual cost, positive = cost
    payback_year: Any
    discounted_payback_year: Any
    rate: float
    unquantified: list[str] = field(default_factory=list)  # fields without a value (counted as 0)


def _subsidy_amount(rule: Subsidy, quantity: np.ndarray, capex: np.ndarray) -> np.ndarray:
    if rule.per == "unit":
        amount = rule.amount_eur * quantity
    elif rule.per == "share_of_capex":
        amount = rule.share * capex
    else:
        amount = np.where(quantity > 0, rule.amount_eur, 0.0)
    if rule.max_eur is not None:
        amount = np.minimum(amount, rule.max_eur)
    return amount


def cost_breakdown(measure: Measure, quantity: Any, subsidy_rules: Sequence[Subsidy] | None = None, *,
                   rate: float | None = None, horizon_yr: int | None = None, reinvest: bool = True,
                   params: FinanceParams | None = None) -> CostBreakdown:
    """Capex, subsidy, net capex, yearly and horizon costs, NPV, EAC and payback for ``quantity``
    units (array: e.g. per cell from :func:`~biostress.measures.catalogue.units_per_cell`).

    ``subsidy_rules``: the subsidies to apply (e.g. :func:`select_subsidies`); None = none. They add
    up, each capped at its ``max_eur`` per application (each element of ``quantity`` is one
    application), the total capped at the capex. Unknown opex/revenue/avoided damage count as 0 and
    are listed in ``unquantified``; an unknown capex gives NaN. Lifetime unknown = no replacement."""
    p = params or load_finance_params()
    r = p.discount_rate if rate is None else rate
    h = p.horizon_yr if horizon_yr is None else horizon_yr
    q = _arr(quantity, "quantity", nonneg=True)
    unq = [f for f in ("capex_eur", "opex_eur_yr", "revenue_eur_yr", "avoided_damage_eur_yr", "lifetime_yr")
           if getattr(measure, f) is None or getattr(measure, f).value is None]
    capex = q * measure.number("capex_eur")
    opex = q * measure.number("opex_eur_yr", 0.0)
    revenue = q * measure.number("revenue_eur_yr", 0.0)
    avoided = q * measure.number("avoided_damage_eur_yr", 0.0)
    lifetime = measure.number("lifetime_yr", math.inf)
    sub = np.zeros_like(q)
    for rule in subsidy_rules or []:
        sub = sub + _subsidy_amount(rule, q, np.nan_to_num(capex))
    sub = np.minimum(sub, np.where(np.isnan(capex), sub, capex))
    k = int(_replacements(np.asarray(lifetime), np.asarray(float(h)), reinvest))
    years = int(_flow_years(np.asarray(lifetime), np.asarray(float(h)), reinvest))
    args = (capex, opex, revenue, lifetime)
    return CostBreakdown(
        measure_id=measure.id, quantity=_out(q), capex=_out(capex), subsidy=_out(sub),
        net_capex=_out(capex - sub), opex_yr=_out(opex), revenue_yr=_out(revenue), avoided_yr=_out(avoided),
        horizon_yr=h, replacements=k, capex_horizon=_out(capex - sub + k * capex),
        opex_horizon=_out(opex * years),
        npv=npv(*args, r, h, sub, avoided, reinvest),
        eac=equivalent_annual_cost(capex, opex, lifetime, r, revenue, sub, avoided, h, reinvest),
        payback_year=payback_year(*args, h, sub, avoided, reinvest),
        discounted_payback_year=discounted_payback_year(*args, r, h, sub, avoided, reinvest),
        rate=r, unquantified=unq)


def finance_table(catalogue: Catalogue, regions: Iterable[str] = ("NL",), *, rate: float | None = None,
                  horizon_yr: int | None = None, on: date | None = None,
                  params: FinanceParams | None = None) -> pd.DataFrame:
    """Per measure, for one unit: capex, subsidy (``regions``), net capex, opex, NPV, EAC and payback
    over the horizon, with the evidence marks of capex and opex and the unquantified fields."""
    p = params or load_finance_params()
    regs = tuple(regions)
    rows = []
    for m in catalogue.measures:
        b = cost_breakdown(m, 1.0, select_subsidies(m, regs, on), rate=rate, horizon_yr=horizon_yr, params=p)
        rows.append({
            "id": m.id, "unit": m.unit, "capex_eur": b.capex, "subsidy_eur": b.subsidy, "net_capex_eur": b.net_capex,
            "opex_eur_yr": b.opex_yr, "revenue_eur_yr": b.revenue_yr, "avoided_eur_yr": b.avoided_yr,
            "replacements": b.replacements, "npv_eur": b.npv, "eac_eur_yr": b.eac,
            "payback_year": b.payback_year, "discounted_payback_year": b.discounted_payback_year,
            "rate": b.rate, "horizon_yr": b.horizon_yr, "regions": ";".join(regs),
            "capex_ev": m.capex_eur.ev, "opex_ev": "" if m.opex_eur_yr is None else m.opex_eur_yr.ev,
            "unquantified": ";".join(b.unquantified),
        })
    return pd.DataFrame(rows)
