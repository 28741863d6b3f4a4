"""The plot report on a small synthetic run folder, checked against independent references: plot weights by
brute-force point sampling of the circle, measures by evaluating each catalogue rule on hand-written zone
values, costs from the catalogue numbers with an explicit year-by-year cash flow."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from biostress.errors import ConfigError, InputDataError, NoOverlapError
from biostress.grid import Grid
from biostress.indicator_stage import dominant_of
from biostress.landcover.legend import load_legend
from biostress.measures import load_catalogue, load_finance_params
from biostress.measures.rules import evaluate
from biostress.report.plot import (
    _local_fetcher,
    cell_coverage,
    plot_report,
    plot_report_cli,
    weighted_mean,
    write_plot_report,
)
from biostress.sources.geocode import Place
from biostress.store.runfolder import RunFolder

CELL = 10.0
H = W = 40
X0, Y1 = 100000.0, 430400.0
OUT_ROWS = 4  # rows 0-3 lie outside the area (NaN land cover)
# zone A (columns 0-19): a built-up block; zone B (columns 20-39): a green, half-mapped block
ZONE_A = {"building": 0.45, "paved_other": 0.22, "road": 0.12, "garden_allotment": 0.21}
ZONE_B = {"lawn_grass": 0.42, "trees_woodland": 0.23, "herb_rich_grassland": 0.03, "urban_mixed": 0.32}
LIGHT = {"A": 0.6, "B": 0.2}
CANOPY = {"A": 0.0, "B": 0.23}


def _zone(col: int) -> str:
    return "A" if col < 20 else "B"


def _rasters() -> dict[str, np.ndarray]:
    rr, cc = np.mgrid[0:H, 0:W].astype(np.float64)
    a = cc < 20
    # no impervious_share raster: the report takes it from the land cover (legend flags)
    out = {
        "green_share": 0.2 + 0.01 * cc,
        "canopy_share": np.where(a, CANOPY["A"], CANOPY["B"]),
        "light_proxy": np.where(a, LIGHT["A"], LIGHT["B"]),
        "runoff_depth": 30.0 - 0.5 * rr,
        "stress_score": 0.1 + 0.02 * cc,
        "potential_green_share": 0.3 + 0.01 * cc,
        "gap_green_share": np.full((H, W), 0.1),
    }
    for v in out.values():
        v[:OUT_ROWS] = np.nan
    return {k: v.astype(np.float32) for k, v in out.items()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    legend = load_legend()
    fr = np.zeros((len(legend.keys), H, W), np.float32)
    for key, v in ZONE_A.items():
        fr[legend.keys.index(key), :, :20] = v
    for key, v in ZONE_B.items():
        fr[legend.keys.index(key), :, 20:] = v
    fr[:, :OUT_ROWS] = np.nan
    grid = Grid("EPSG:28992", X0, Y1, CELL, W, H)
    pot = np.where(np.arange(W)[None, :] < 20, legend.by_key("garden_allotment").code,
                   legend.by_key("trees_woodland").code) * np.ones((H, 1))
    pot[:OUT_ROWS] = 255
    x0, y0, x1, y1 = grid.bounds
    buurt = gpd.GeoDataFrame(
        {"code": ["BU_A", "BU_B"], "name": ["Westbuurt", "Oostbuurt"], "level": ["buurt", "buurt"],
         "parent_code": ["GM9999", "GM9999"], "green_share_mean": [0.31, 0.52], "stress_score_mean": [0.15, 0.65],
         "light_proxy_mean": [0.58, 0.21]},
        geometry=[shapely.box(x0, y0, x0 + 200, y1), shapely.box(x0 + 200, y0, x1, y1)], crs=28992)
    gem = gpd.GeoDataFrame({"code": ["GM9999"], "name": ["Testdorp"], "level": ["gemeente"], "parent_code": [""],
                            "green_share_mean": [0.4], "stress_score_mean": [0.35]},
                           geometry=[shapely.box(x0, y0, x1, y1)], crs=28992)
    out = tmp_path_factory.mktemp("plot") / "run"
    with RunFolder(out) as run:
        run.set_grid(grid)
        run.set_parameters({"area": {"name": "Testdorp", "code": "GM9999", "sources": [
            {"name": "lc", "attribution": "© test land cover", "licence": "CC0-1.0", "date": "2024"}]}})
        run.write_raster("landcover_fractions", fr, grid, units="fraction", description="fractions",
                         nodata=float("nan"), band_names=legend.keys)
        run.write_raster("landcover", dominant_of(fr, legend), grid, units="class", description="dominant", nodata=255)
        for name, arr in _rasters().items():
            run.write_raster(name, arr, grid, units="-", description=name, nodata=float("nan"))
        run.write_raster("potential_landcover", pot.astype(np.uint8), grid, units="class", description="pot",
                         nodata=255)
        run.write_vector("units_buurt", buurt, units=None, description="buurten")
        run.write_vector("units_gemeente", gem, units=None, description="gemeente")
    return out


PLOT_AB = (X0 + 203.0, Y1 - 197.0, 25.0)  # straddles the zone boundary at x0 + 200
PLOT_A = (X0 + 100.0, Y1 - 200.0, 25.0)  # inside zone A


@pytest.fixture(scope="module")
def rep_ab(run_dir: Path):
    x, y, r = PLOT_AB
    return plot_report(run_dir, x=x, y=y, radius_m=r, lang="en", regions=("NL", "AGV"))


@pytest.fixture(scope="module")
def rep_a(run_dir: Path):
    x, y, r = PLOT_A
    return plot_report(run_dir, x=x, y=y, radius_m=r, lang="nl", map_image=False)


# --------------------------------------------------------------------------------------------
# independent references
# --------------------------------------------------------------------------------------------

def _sampled_weights(px: float, py: float, r: float, n: int = 200) -> np.ndarray:
    """Share of each cell inside the circle by counting n x n sample points per cell (brute force)."""
    w = np.zeros((H, W))
    off = (np.arange(n) + 0.5) / n * CELL
    sx, sy = np.meshgrid(off, off)
    for row in range(H):
        for col in range(W):
            left, top = X0 + col * CELL, Y1 - row * CELL
            if left > px + r or left + CELL < px - r or top < py - r or top - CELL > py + r:
                continue
            inside = (left + sx - px) ** 2 + (top - sy - py) ** 2 <= r * r
            w[row, col] = inside.mean()
    return w


@functools.cache
def _legend():
    return load_legend()


def _zone_variables(zone: str, legend) -> dict:
    shares = {f"share_{k}": 0.0 for k in legend.keys}
    for k, v in (ZONE_A if zone == "A" else ZONE_B).items():
        shares[f"share_{k}"] = v
    flags = {f: sum(v for k, v in (ZONE_A if zone == "A" else ZONE_B).items() if getattr(legend.by_key(k), f))
             for f in ("green", "impervious", "water")}
    # the whole synthetic area is built-up (>= 0.32 everywhere), there is no water and no Natura 2000 layer
    return {**shares, **flags, "light_proxy": LIGHT[zone], "canopy_share": CANOPY[zone], "runoff_depth": 20.0,
            "green_share": 0.3, "impervious_share": 0.5, "stress_score": 0.5, "setting": "urban",
            "distance_water_m": math.inf}


@functools.cache
def _catalogue():
    return load_catalogue()


def _fits(rule: str, zones: set[str], extra: dict | None = None) -> bool:
    legend = _legend()
    return any(bool(np.asarray(evaluate(rule, {**_zone_variables(z, legend), **(extra or {})},
                                        missing="false").value)) for z in zones)


def _has_units(m, zones: set[str]) -> bool:
    """One application places something in some zone (biostress.opportunity: a measure fits only where its units
    are above 0), by hand from the zone's cover and the measure's quantity."""
    for z in zones:
        cover = ZONE_A if z == "A" else ZONE_B
        q = m.quantity
        if q.basis == "site":
            return True
        if q.basis == "class_area" and (sum(cover.get(k, 0.0) for k in q.classes) if q.classes else 1.0) > 0:
            return True
        if q.basis == "converted_area" and sum(t.share * cover.get(t.from_, 0.0) for t in m.transitions) > 0:
            return True
    return False


def _expected_fits(zones: set[str]) -> set[str]:
    return {m.id for m in _catalogue()
            if any(_fits(m.fits.rule, {z}) and _has_units(m, {z}) for z in zones)}


def _expected_possible(zones: set[str]) -> set[str]:
    """Measures that do not fit but would for some known roof shape and land owner (brute force)."""
    out = set()
    for m in _catalogue():
        if _fits(m.fits.rule, zones):
            continue
        if any(_fits(m.fits.rule, zones, {"roof": roof, "owner": owner})
               for roof in ("flat", "pitched") for owner in ("public", "private")):
            out.add(m.id)
    return out


def _npv_by_years(capex: float, subsidy: float, opex: float, lifetime: float, rate: float, horizon: int) -> float:
    """Year-by-year cash flow: year 0 -capex + subsidy, years 1..H -opex (while the measure lasts, with a
    replacement -capex at every whole lifetime before the horizon), discounted at rate."""
    total = -capex + subsidy
    for t in range(1, horizon + 1):
        flow = -opex
        if math.isfinite(lifetime) and t % lifetime == 0 and t < horizon:
            flow -= capex
        total += flow / (1 + rate) ** t
    return total


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------

def test_cell_coverage_closed_forms():
    grid = Grid("EPSG:28992", X0, Y1, CELL, W, H)
    # a square on the cell edges: exactly 1 inside, 0 outside
    w = cell_coverage(shapely.box(X0 + 30, Y1 - 50, X0 + 60, Y1 - 20), grid)
    assert w.sum() == pytest.approx(9.0) and set(np.unique(w)) == {0.0, 1.0} and w[2:5, 3:6].min() == 1.0
    # shifted by half a cell: the edge cells are half covered
    w = cell_coverage(shapely.box(X0 + 35, Y1 - 45, X0 + 55, Y1 - 25), grid)
    assert w[3, 4] == 1.0 and w[3, 3] == pytest.approx(0.5) and w[2, 5] == pytest.approx(0.25)
    assert w.sum() == pytest.approx(4.0) and np.count_nonzero(w) == 9
    # a circle: total area pi r^2 (the 256-gon is 0.01 % smaller)
    disc = shapely.Point(X0 + 203.0, Y1 - 197.0).buffer(25.0, quad_segs=64)
    assert cell_coverage(disc, grid).sum() * CELL**2 == pytest.approx(math.pi * 25.0**2, rel=2e-4)
    # beyond the grid: nothing
    assert cell_coverage(shapely.box(0, 0, 10, 10), grid).sum() == 0.0
    assert weighted_mean(np.array([[1.0, np.nan], [3.0, 5.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])) == 2.0
    assert math.isnan(weighted_mean(np.array([[np.nan]]), np.array([[1.0]])))


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------

def test_plot_shares_are_coverage_weighted_means(rep_ab):
    px, py, r = PLOT_AB
    rep = rep_ab
    w = _sampled_weights(px, py, r)
    ras = _rasters()
    ind = rep.indicators.set_index("name")
    for name in ("green_share", "light_proxy", "runoff_depth", "stress_score"):
        ref = float(np.nansum(w * ras[name]) / w.sum())  # no NaN inside this plot (w = 0 on the NaN rows)
        assert ind.loc[name, "plot"] == pytest.approx(ref, rel=2e-3), name
    # without a raster: paved = buildings + paving + roads (zone A 0.79, zone B 0); canopy from its raster
    wa, wb = w[:, :20].sum(), w[:, 20:].sum()
    assert ind.loc["impervious_share", "plot"] == pytest.approx((0.79 * wa + 0.0 * wb) / (wa + wb), rel=2e-3)
    assert ind.loc["canopy_share", "plot"] == pytest.approx((CANOPY["A"] * wa + CANOPY["B"] * wb) / (wa + wb),
                                                            rel=2e-3)
    assert rep.shares["green_share"] == pytest.approx(ind.loc["green_share", "plot"])
    assert rep.shares["impervious_share"] == pytest.approx(ind.loc["impervious_share", "plot"])
    # land cover (m2): sum of weight x fraction x 100 m2, by hand from the zone fractions
    lc = rep.landcover.set_index("key")
    assert lc.loc["building", "plot_m2"] == pytest.approx(0.45 * wa * 100, rel=2e-3)
    assert lc.loc["lawn_grass", "plot_m2"] == pytest.approx(0.42 * wb * 100, rel=2e-3)
    assert lc["plot_share"].sum() == pytest.approx(1.0)
    assert rep.plot_area_m2 == pytest.approx(math.pi * r * r, rel=2e-4) and rep.known_area_m2 == pytest.approx(
        rep.plot_area_m2)
    # potential: the plot means of the potential and gap rasters
    pot = rep.potential.set_index("name").loc["green_share"]
    assert pot["could_be"] == pytest.approx(float(np.nansum(w * ras["potential_green_share"]) / w.sum()), rel=2e-3)
    assert pot["change"] == pytest.approx(0.1, rel=1e-6)
    plc = rep.potential_landcover.set_index("key")["share"]
    assert plc["garden_allotment"] == pytest.approx(wa / (wa + wb), rel=2e-3)
    # stress class of the plot's mean score (classes of 0.2: class = floor(S / 0.2) + 1)
    s = rep.stress["score"]
    assert rep.stress["code"] == math.floor(s / 0.2) + 1


def test_plot_near_the_area_edge_uses_only_known_cells(run_dir: Path):
    # the circle reaches into rows 0-3, which are outside the area
    px, py, r = X0 + 100.0, Y1 - 45.0, 25.0
    rep = plot_report(run_dir, x=px, y=py, radius_m=r, lang="en", map_image=False)
    w = _sampled_weights(px, py, r)
    known = w.copy()
    known[:OUT_ROWS] = 0.0
    g = _rasters()["green_share"]
    ref = float(np.nansum(known * g) / known.sum())
    assert rep.indicators.set_index("name").loc["green_share", "plot"] == pytest.approx(ref, rel=2e-3)
    assert rep.known_area_m2 == pytest.approx(known.sum() * 100, rel=2e-3)
    assert rep.known_area_m2 < rep.plot_area_m2


def test_neighbourhood_and_municipality(rep_a):
    rep = rep_a
    assert rep.neighbourhood["code"] == "BU_A" and rep.municipality["code"] == "GM9999"
    ind = rep.indicators.set_index("name")
    assert ind.loc["green_share", "neighbourhood"] == pytest.approx(0.31)
    assert ind.loc["green_share", "municipality"] == pytest.approx(0.4)
    assert ind.loc["light_proxy", "neighbourhood"] == pytest.approx(0.58)
    assert math.isnan(ind.loc["runoff_depth", "neighbourhood"])  # the unit has no such column
    # the neighbourhood's class: its mean score 0.15 is class 1
    assert rep.stress["nb_code"] == 1 and rep.stress["nb_label"] == "Zeer kwetsbaar"
    assert rep.area_name == "Testdorp" and rep.area_code == "GM9999"


def test_measures_listed_are_exactly_those_whose_rule_fits(rep_a, rep_ab):
    # a plot inside zone A only, and one straddling both zones
    exp_a, exp_ab = _expected_fits({"A"}), _expected_fits({"A", "B"})
    assert set(rep_a.measures["id"]) == exp_a
    assert set(rep_ab.measures["id"]) == exp_ab
    # by hand from the rules: façades fit on the 45 % buildings; bat boxes need darkness (only zone B);
    # green roofs need a known flat roof; nothing rural fits in town
    assert {"green_facade", "nest_brick", "depaving", "street_tree", "dark_lighting"} <= exp_a
    assert "bat_box" not in exp_a and "bat_box" in exp_ab and "pond" in exp_ab
    assert not {"green_roof_extensive", "hedgerow_rural", "tiny_forest", "amphibian_tunnel"} & exp_ab
    # possible if the unknown roof / owner had the right value
    assert set(rep_a.possible["id"]) == _expected_possible({"A"})
    assert set(rep_ab.possible["id"]) == _expected_possible({"A", "B"})
    pos = rep_ab.possible.set_index("id")["condition"]
    assert pos["green_roof_extensive"] == "the roof is flat"
    assert pos["wadi"] == "the land belongs to the municipality"  # 22 % paving, 30 mm runoff: only the owner
    assert "pocket_park" not in pos  # needs 30 % paving, which neither zone has, whoever owns it
    assert any("roof" in n for n in rep_a.tech_notes)


def test_costs_follow_the_catalogue(rep_ab, rep_a):
    px, py, r = PLOT_AB
    rep = rep_ab
    cat = _catalogue()
    fin = load_finance_params()
    w = _sampled_weights(px, py, r)
    wa, wb = w[:, :20].sum(), w[:, 20:].sum()
    m = rep.measures.set_index("id")
    # de-paving: converts 30 % of paved_other and 10 % of urban_mixed; EUR 20/m2; AGV EUR 25/m2 up to EUR 1,100
    q = (0.3 * 0.22 * wa + 0.1 * 0.32 * wb) * 100
    d = m.loc["depaving"]
    assert d["quantity"] == pytest.approx(q, rel=2e-3)
    assert d["capex_eur"] == pytest.approx(q * cat.get("depaving").capex_eur.value, rel=2e-3)
    assert d["subsidy_eur"] == pytest.approx(min(25.0 * q, 1100.0, d["capex_eur"]), rel=2e-3)
    assert d["net_capex_eur"] == pytest.approx(d["capex_eur"] - d["subsidy_eur"])
    # no lifetime, no upkeep in the catalogue: NPV is the net investment
    assert d["npv_eur"] == pytest.approx(-(d["capex_eur"] - d["subsidy_eur"]), rel=1e-9)
    # hedge: 5 % of lawn and of garden becomes hedge, 1 m per 1.5 m2; yearly upkeep; NPV year by year
    hg = cat.get("hedge")
    qh = (0.05 * 0.21 * wa + 0.05 * 0.42 * wb) * 100 * hg.quantity.per_m2
    h = m.loc["hedge"]
    assert h["quantity"] == pytest.approx(qh, rel=2e-3)
    ref = _npv_by_years(qh * hg.capex_eur.value, 0.0, qh * hg.opex_eur_yr.value, hg.lifetime_yr.value,
                        fin.discount_rate, fin.horizon_yr)
    assert h["npv_eur"] == pytest.approx(ref, rel=2e-3)
    # nest boxes: 10 per ha of trees + gardens, counted in whole boxes (at least one)
    nb = cat.get("nest_box")
    raw = (0.21 * wa + 0.23 * wb) * 100 / 1e4 * nb.quantity.per_ha
    assert m.loc["nest_box", "quantity"] == max(1, round(raw))
    assert m.loc["nest_box", "capex_eur"] == pytest.approx(max(1, round(raw)) * nb.capex_eur.value)
    # subsidies: every catalogue subsidy of a listed measure, counted only for the regions given
    subs = rep.subsidies
    counted = subs[subs["counted"]]
    assert set(counted["region"]) <= {"NL", "AGV"} and "depaving" in set(counted["measure"])
    gouda = subs[subs["region"] == "Gouda"]
    assert len(gouda) and not gouda["counted"].any()
    # the national-only default counts no AGV subsidy (the zone-A plot)
    assert rep_a.regions == ("NL",) and rep_a.measures.set_index("id").loc["depaving", "subsidy_eur"] == 0.0


def test_writes_html_pdf_json(rep_ab, tmp_path: Path):
    rep = dataclasses.replace(rep_ab, label="Teststraat 1, Testdorp")
    write_plot_report(rep, tmp_path / "out")
    html = (tmp_path / "out" / "plot_report.html").read_text(encoding="utf-8")
    assert "Teststraat 1, Testdorp" in html and "De-paving" in html and "data:image/png;base64," in html
    assert rep.map_png.startswith(b"\x89PNG")
    assert (tmp_path / "out" / "plot_report.pdf").read_bytes().startswith(b"%PDF")
    doc = json.loads((tmp_path / "out" / "plot_report.json").read_text(encoding="utf-8"))
    assert {m["id"] for m in doc["measures"]} == set(rep.measures["id"]) and doc["neighbourhood"]["code"] in (
        "BU_A", "BU_B")
    assert not list((tmp_path / "out").glob("*.part"))  # atomic writes left no temporary files
    # the label is escaped in the HTML
    write_plot_report(dataclasses.replace(rep, label="<script>alert(1)</script>"), tmp_path / "out2", pdf=False)
    assert "<script>alert" not in (tmp_path / "out2" / "plot_report.html").read_text(encoding="utf-8")


def test_pdf_fetcher_is_local_only(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    f = _local_fetcher(tmp_path)
    get = getattr(f, "fetch", f)
    for bad in ("http://example.com/x.png", "https://127.0.0.1/x", "file:///etc/passwd",
                (tmp_path.parent / "x.png").as_uri()):
        with pytest.raises(ValueError, match="refused"):
            get(bad)
    ok = get((tmp_path / "a.png").as_uri())
    body = ok.read() if hasattr(ok, "read") else ok.get("string", b"")
    assert body == b"\x89PNG"


def test_bad_input(run_dir: Path, tmp_path: Path):
    with pytest.raises(ConfigError):
        plot_report(run_dir, x=X0 + 100, y=Y1 - 200, lang="de")
    for r in (0, -5, float("nan"), 5000.0, True):
        with pytest.raises(ConfigError):
            plot_report(run_dir, x=X0 + 100, y=Y1 - 200, radius_m=r)
    with pytest.raises(ConfigError):
        plot_report(run_dir, x=X0 + 100, y=Y1 - 200, regions=())
    with pytest.raises(NoOverlapError, match="outside the grid"):
        plot_report(run_dir, x=X0 - 500, y=Y1 - 200)
    with pytest.raises(NoOverlapError, match="outside the area"):
        plot_report(run_dir, x=X0 + 100, y=Y1 - 15, radius_m=10.0)  # only NaN rows
    with pytest.raises(InputDataError, match="not a biostress run"):
        plot_report(tmp_path, x=X0 + 100, y=Y1 - 200)
    with pytest.raises(InputDataError):
        plot_report(run_dir, x=float("inf"), y=Y1 - 200)

def test_bad_file_name(rep_a, tmp_path: Path):
    for stem in ("../evil", "a/b", "", ".hidden", "x."):
        with pytest.raises(ConfigError):
            write_plot_report(rep_a, tmp_path / "o", stem=stem)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        write_plot_report(rep_a, tmp_path / "file")


# --------------------------------------------------------------------------------------------
# the command-line helper
# --------------------------------------------------------------------------------------------

class _FakeGeocoder:
    def __init__(self, places: list[Place]) -> None:
        self.places = places
        self.asked: list[str] = []

    def search(self, text: str) -> list[Place]:
        self.asked.append(text)
        return self.places


def test_cli_helper(run_dir: Path, tmp_path: Path):
    # an address through a geocoder: the best-scoring place is used, in WGS84
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(28992, 4326, always_xy=True).transform(X0 + 100.0, Y1 - 200.0)
    g = _FakeGeocoder([Place("Elders 2", X0 + 300, Y1 - 300, "EPSG:28992", "adres", "b", 1.0),
                       Place("Teststraat 1", lon, lat, "EPSG:4326", "adres", "a", 9.0)])
    rep = plot_report_cli(run_dir, "Teststraat 1", "address", "en", tmp_path / "a", geocoder=g, pdf=False,
                          map_image=False)
    assert g.asked == ["Teststraat 1"] and rep.label == "Teststraat 1"
    assert (rep.x, rep.y) == pytest.approx((X0 + 100.0, Y1 - 200.0), abs=1e-3)
    assert (tmp_path / "a" / "plot_report.html").exists()
    # coordinates typed as text
    rep = plot_report_cli(run_dir, f"{X0 + 250}, {Y1 - 250}", "xy", "nl", tmp_path / "b", pdf=False, map_image=False)
    assert rep.neighbourhood["code"] == "BU_B"
    # a unit code: the plot is the unit's polygon (inside the area: the rows outside have no land cover)
    rep = plot_report_cli(run_dir, "bu_b", "unit", "en", tmp_path / "c", pdf=False, map_image=False)
    assert rep.kind == "polygon" and rep.plot_area_m2 == pytest.approx(200 * 400)
    assert rep.known_area_m2 == pytest.approx(200 * (400 - OUT_ROWS * CELL))
    assert rep.indicators.set_index("name").loc["light_proxy", "plot"] == pytest.approx(0.2, rel=1e-6)
    with pytest.raises(InputDataError, match="No place found"):
        plot_report_cli(run_dir, "nowhere", "address", "en", tmp_path / "d", geocoder=_FakeGeocoder([]))
    with pytest.raises(ConfigError):
        plot_report_cli(run_dir, "x", "parcel", "en", tmp_path / "e")
