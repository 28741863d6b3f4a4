"""Finance of measures against hand computations (textbook annuity tables), an independent
year-by-year brute force, and numpy_financial when it is installed."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from biostress.errors import ConfigError, InputDataError
from biostress.landcover.legend import load_legend
from biostress.measures.catalogue import load_catalogue
from biostress.measures.finance import (
    annuity_factor,
    cost_breakdown,
    discounted_payback_year,
    equivalent_annual_cost,
    finance_table,
    load_finance_params,
    npv,
    payback_year,
    select_subsidies,
)

# present value of an annuity of 1 (textbook tables, 4 decimals)
AF_3_10 = 8.5302
AF_5_20 = 12.4622
AF_5_12 = 8.8633
AF_3_12 = 9.9540
AF_3_13 = 10.6350
AF_3_30 = 19.6004
# present value of 1 (textbook tables)
PV_5_5 = 0.7835
PV_5_10 = 0.6139


@pytest.fixture(scope="module")
def cat():
    return load_catalogue(legend=load_legend())


def brute(capex, opex, rev, life, r, horizon, sub=0.0, av=0.0, reinvest=True):
    """Year-by-year cash flows, written independently of the module: returns (npv, cumulative
    undiscounted, cumulative discounted) with the cumulative lists indexed by year 0..H."""
    n = horizon if reinvest or not math.isfinite(life) else min(horizon, math.floor(life))
    flows_t = [(0.0, -capex + sub)] + [(float(t), rev + av - opex) for t in range(1, n + 1)]
    if reinvest and math.isfinite(life):
        k = 1
        while k * life < horizon - 1e-12:
            flows_t.append((k * life, -capex))
            k += 1
    value = sum(f / (1 + r) ** t for t, f in flows_t)
    cum, cum_d = [], []
    for year in range(horizon + 1):
        cum.append(sum(f for t, f in flows_t if t <= year + 1e-12))
        cum_d.append(sum(f / (1 + r) ** t for t, f in flows_t if t <= year + 1e-12))
    return value, cum, cum_d


def first_nonneg(cum, net):
    if net < 0:
        return math.nan
    for t, c in enumerate(cum):
        if c >= -1e-9:
            return float(t)
    return math.nan


# ------------------------------------------------------------------ annuity factor

def test_annuity_factor_textbook_values():
    assert annuity_factor(0.03, 10) == pytest.approx(AF_3_10, abs=1e-4)
    assert annuity_factor(0.05, 20) == pytest.approx(AF_5_20, abs=1e-4)
    assert annuity_factor(0.0, 10) == 10.0
    assert annuity_factor(0.05, 0) == 0.0
    np.testing.assert_allclose(annuity_factor([0.03, 0.05, 0.0], [10, 20, 7]), [AF_3_10, AF_5_20, 7.0], atol=1e-4)


def test_annuity_factor_bad_input():
    with pytest.raises(InputDataError):
        annuity_factor(-1.0, 10)
    with pytest.raises(InputDataError):
        annuity_factor(0.03, -1)


# ------------------------------------------------------------------ NPV

def test_npv_one_lifetime_hand():
    # capex 1000, opex 10/yr, 10 years at 3 %: -1000 - 10 * 8.5302 = -1085.302
    assert npv(1000, 10, 0, 10, 0.03) == pytest.approx(-1085.302, abs=1e-3)
    # with a subsidy of 300 and avoided damage of 50/yr: -700 + 40 * 8.5302 = -358.792
    assert npv(1000, 10, 0, 10, 0.03, subsidy=300, avoided_yr=50) == pytest.approx(-358.792, abs=1e-3)


def test_npv_with_replacements_hand():
    # capex 1000, revenue 200/yr, life 5, horizon 12, undiscounted: replacements at 5 and 10
    # -1000 + 12 * 200 - 2 * 1000 = -600
    assert npv(1000, 0, 200, 5, 0.0, horizon_yr=12) == pytest.approx(-600.0)
    # at 5 %: -1000 - 1000 * (0.7835 + 0.6139) + 200 * 8.8633 = -624.74 (table rounding)
    assert npv(1000, 0, 200, 5, 0.05, horizon_yr=12) == pytest.approx(-1000 - 1000 * (PV_5_5 + PV_5_10)
                                                                     + 200 * AF_5_12, abs=0.2)
    # no replacement at the horizon itself: life 5, horizon 10 -> one replacement (year 5)
    assert npv(1000, 0, 200, 5, 0.0, horizon_yr=10) == pytest.approx(-1000 + 2000 - 1000)
    # without reinvestment the flows stop after the lifetime: -1000 + 5 * 200
    assert npv(1000, 0, 200, 5, 0.0, horizon_yr=12, reinvest=False) == pytest.approx(0.0)


def test_npv_no_lifetime_runs_to_the_horizon():
    assert npv(1000, 0, 100, math.inf, 0.0, horizon_yr=30) == pytest.approx(2000.0)
    with pytest.raises(InputDataError, match="horizon"):
        npv(1000, 0, 100, math.inf, 0.0)


def test_npv_vectorised_over_measures_and_cells():
    capex = np.array([[1000.0], [500.0]])  # 2 measures x 3 cells
    rev = np.array([[100.0, 200.0, 0.0]])
    got = npv(capex, 0.0, rev, 10, 0.0)
    np.testing.assert_allclose(got, [[0.0, 1000.0, -1000.0], [500.0, 1500.0, -500.0]])


@pytest.mark.parametrize("reinvest", [True, False])
def test_npv_and_payback_match_brute_force(reinvest):
    rng = np.random.default_rng(11)
    for _ in range(60):
        capex = float(rng.choice([0.0, rng.uniform(10, 5000)]))
        opex = float(rng.uniform(0, 200))
        rev = float(rng.uniform(0, 600))
        life = float(rng.choice([1, 2.5, 3, 7.5, 10, 40, math.inf]))
        horizon = int(rng.integers(1, 45))
        r = float(rng.choice([0.0, 0.0225, 0.05]))
        sub = float(rng.uniform(0, capex))
        av = float(rng.uniform(0, 50))
        want, cum, cum_d = brute(capex, opex, rev, life, r, horizon, sub, av, reinvest)
        got = npv(capex, opex, rev, life, r, horizon, sub, av, reinvest)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)
        net = rev + av - opex
        pb = payback_year(capex, opex, rev, life, horizon, sub, av, reinvest)
        pbd = discounted_payback_year(capex, opex, rev, life, r, horizon, sub, av, reinvest)
        np.testing.assert_equal(pb, first_nonneg(cum, net))
        np.testing.assert_equal(pbd, first_nonneg(cum_d, net))


def test_npv_matches_numpy_financial_if_installed():
    npf = pytest.importorskip("numpy_financial")
    flows = [-1000.0] + [150.0] * 10
    assert npv(1000, 0, 150, 10, 0.04) == pytest.approx(npf.npv(0.04, flows))


# ------------------------------------------------------------------ payback and EAC

def test_payback_hand():
    assert payback_year(1000, 0, 100, 20, 30) == 10.0  # 1000 / 100
    assert payback_year(1000, 0, 100, 20, 30, subsidy=400) == 6.0  # 600 / 100
    assert payback_year(1000, 20, 120, 20, 30) == 10.0  # net 100
    assert payback_year(1000, 0, 100, 20, 8) != payback_year(1000, 0, 100, 20, 8)  # NaN: not within 8 years
    assert payback_year(100, 0, 0, 20, 30, subsidy=100) == 0.0  # fully subsidised, no yearly loss
    assert np.isnan(payback_year(0, 100, 84, 6, 30))  # loses 16 a year: never, even at capex 0
    # life 5 = payback time: the replacement falls in the same year, so it never pays back
    assert np.isnan(payback_year(1000, 0, 200, 5, 12))
    # discounted at 3 %: AF(3 %, 12) = 9.9540 < 10 <= AF(3 %, 13) = 10.6350 -> year 13
    assert AF_3_12 < 10 <= AF_3_13
    assert discounted_payback_year(1000, 0, 100, 50, 0.03, 30) == 13.0
    np.testing.assert_array_equal(payback_year([1000, 1000, 1000], 0, [100, 250, 10], 50, 30), [10.0, 4.0, np.nan])


def test_equivalent_annual_cost_hand():
    # 1000 / 8.5302 + 10 = 127.23
    assert equivalent_annual_cost(1000, 10, 10, 0.03) == pytest.approx(1000 / AF_3_10 + 10, abs=1e-2)
    assert equivalent_annual_cost(1000, 10, 10, 0.0) == pytest.approx(110.0)
    assert equivalent_annual_cost(1000, 0, 10, 0.0, revenue_yr=150) == pytest.approx(-50.0)  # a net gain


@pytest.mark.parametrize("kwargs,match", [
    ({"capex": -1}, "capex"),
    ({"opex_yr": -5}, "opex"),
    ({"lifetime_yr": 0}, "lifetime"),
    ({"rate": -1.5}, "rate"),
    ({"horizon_yr": 2.5}, "horizon"),
    ({"horizon_yr": 0}, "horizon"),
    ({"subsidy": -1}, "subsidy"),
])
def test_bad_finance_input(kwargs, match):
    args = {"capex": 1000, "opex_yr": 10, "revenue_yr": 0, "lifetime_yr": 10, "rate": 0.03, "horizon_yr": 20}
    args.update(kwargs)
    with pytest.raises(InputDataError, match=match):
        npv(**args)


# ------------------------------------------------------------------ parameters

def test_default_discount_rate_is_the_mkba_rate():
    p = load_finance_params()
    assert p.discount_rate == 0.0225 and p.ev["discount_rate"] == "S"
    assert "discontovoet" in p.source["discount_rate"].lower()
    assert p.horizon_yr == 30 and p.ev["horizon_yr"] == "P"


def test_bad_finance_params(tmp_path):
    f = tmp_path / "finance.yaml"
    f.write_text("discount_rate: {value: 2.25, ev: S, source: x}\nhorizon_yr: {value: 30, ev: P, source: y}\n")
    with pytest.raises(ConfigError, match="0.0225"):
        load_finance_params(f)
    f.write_text("discount_rate: {value: 0.02, ev: S, source: x}\n")
    with pytest.raises(ConfigError, match="horizon_yr"):
        load_finance_params(f)
    f.write_text("discount_rate: {value: 0.02, ev: Q, source: x}\nhorizon_yr: {value: 30, ev: P, source: y}\n")
    with pytest.raises(ConfigError, match="ev"):
        load_finance_params(f)
    (tmp_path / "finance.yaml").write_text(
        "discount_rate: {value: 0.04, ev: P, source: area}\nhorizon_yr: {value: 50, ev: P, source: area}\n")
    assert load_finance_params(params_dir=tmp_path).discount_rate == 0.04


# ------------------------------------------------------------------ measures

def test_cost_breakdown_green_roof_with_agv_subsidy(cat):
    m = cat.get("green_roof_extensive")  # 59.27 EUR/m2, opex 2 EUR/m2/yr, life 40
    b = cost_breakdown(m, 100.0, select_subsidies(m, ["AGV"]), rate=0.03, horizon_yr=30)
    assert b.capex == pytest.approx(5927.0)
    assert b.subsidy == pytest.approx(1100.0)  # 20 x 100 = 2000, capped at EUR 1,100
    assert b.net_capex == pytest.approx(4827.0)
    assert b.opex_yr == pytest.approx(200.0) and b.opex_horizon == pytest.approx(6000.0)
    assert b.replacements == 0
    # -4827 - 200 * 19.6004 = -8747.08
    assert b.npv == pytest.approx(-4827 - 200 * AF_3_30, abs=0.05)
    assert b.eac == pytest.approx((4827 + 200 * AF_3_30) / AF_3_30, abs=0.01)
    assert np.isnan(b.payback_year)
    assert "revenue_eur_yr" in b.unquantified and "capex_eur" not in b.unquantified


def test_cost_breakdown_subsidy_rules(cat):
    d = cat.get("disconnect_downpipe")  # 48 EUR/m2; Nijmegen 50 % + EUR 200 per application
    b = cost_breakdown(d, np.array([100.0, 0.0]), select_subsidies(d, ["Nijmegen"]), rate=0.0, horizon_yr=30)
    np.testing.assert_allclose(b.capex, [4800.0, 0.0])
    np.testing.assert_allclose(b.subsidy, [2400.0 + 200.0, 0.0])  # no bonus without a measure
    np.testing.assert_allclose(b.npv, [-2200.0, 0.0])  # no opex, no lifetime -> no replacement
    # subsidy never above the capex: de-paving 20 EUR/m2 and AGV pays 25 EUR/m2
    dp = cat.get("depaving")
    b = cost_breakdown(dp, 10.0, select_subsidies(dp, ["AGV"]), rate=0.0, horizon_yr=30)
    assert b.capex == pytest.approx(200.0) and b.subsidy == pytest.approx(200.0) and b.net_capex == 0.0
    # no rules -> no subsidy
    assert cost_breakdown(dp, 10.0, rate=0.0, horizon_yr=30).subsidy == 0.0


def test_cost_breakdown_replacements_and_unknown_capex(cat):
    nb = cat.get("nest_box")  # 35 EUR, 5 EUR/yr, life 15
    b = cost_breakdown(nb, 2.0, rate=0.0, horizon_yr=30)
    assert b.replacements == 1  # at year 15; none at 30
    assert b.capex_horizon == pytest.approx(140.0)
    assert b.npv == pytest.approx(-70 - 70 - 30 * 10)
    pp = cat.get("permeable_paving")  # capex not known
    b = cost_breakdown(pp, 10.0, select_subsidies(pp, ["AGV"]), rate=0.0225, horizon_yr=30)
    assert np.isnan(b.capex) and np.isnan(b.npv) and "capex_eur" in b.unquantified
    with pytest.raises(InputDataError):
        cost_breakdown(nb, -1.0)


def test_select_subsidies_regions_and_dates(cat):
    w = cat.get("wadi")
    assert [s.region for s in select_subsidies(w, ["DPRA"])] == ["DPRA"]
    assert select_subsidies(w, ["DPRA"], on=date(2024, 1, 1)) == []  # applications closed end 2023
    g = cat.get("green_roof_extensive")
    assert select_subsidies(g) == []  # no national green-roof subsidy
    assert {s.region for s in select_subsidies(g, ["AGV", "Gouda"])} == {"AGV", "Gouda"}
    tf = cat.get("tiny_forest")
    assert select_subsidies(tf)[0].amount_eur == 7500


def test_finance_table_one_row_per_measure(cat):
    t = finance_table(cat, ["NL", "AGV"], rate=0.0, horizon_yr=10)
    assert list(t["id"]) == cat.ids
    row = t.set_index("id").loc["street_tree"]  # 500 EUR, 10 EUR/yr, life 65
    assert row["npv_eur"] == pytest.approx(-500 - 10 * 10)
    assert row["eac_eur_yr"] == pytest.approx(60.0)
    assert row["capex_ev"] == "V"
