"""Land-cover rasterisation checked against exact polygon areas computed independently with shapely.

Tolerances (sub-cell size 1 m for 10 m cells, i.e. supersample factor 10): the rasteriser counts
1 m sub-cell centres, so a cell's fraction can be off by the sub-cells that a polygon edge cuts.
For real data we allow at most 0.06 per cell and require a mean absolute error below 0.004; per
buurt, the class areas must agree within what the cells cut by the buurt boundary can misattribute (computed in the test) plus 0.2 % of the buurt area, and never more than 2 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from biostress.config import load_area
from biostress.grid import Grid
from biostress.landcover.legend import load_legend
from biostress.landcover.mapping import load_mapping
from biostress.landcover.rasterize import NO_SOURCE, Piece, rasterize
from biostress.pipeline import prepare, unit_summaries

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "area.yaml"


def _piece(cls: int, src: int, prio: int, geoms, override: int = 0, order: int | None = None) -> Piece:
    return Piece(cls, src, (override, prio, src if order is None else order), np.array(geoms, dtype=object))


def test_hand_computed_three_by_three():
    # Grid 0..30 x 0..30 m, 10 m cells. Row 0 is the top (y 20..30).
    grid = Grid.from_bounds((0, 0, 30, 30), 10, "EPSG:28992")
    legend = load_legend()
    b, g, w = (legend.by_key(k).code for k in ("building", "lawn_grass", "water"))
    building = shapely.box(0, 20, 15, 30)  # cell (0,0) fully, cell (0,1) half
    grass = shapely.box(0, 0, 30, 30)  # everywhere, lower priority
    water = shapely.box(20, 0, 30, 5)  # half of cell (2,2), higher than grass
    boundary = shapely.box(0, 0, 30, 27)  # top 3 m of row 0 outside the area
    lc = rasterize([_piece(g, 0, 40, [grass]), _piece(b, 0, 100, [building]), _piece(w, 1, 85, [water])],
                   grid, legend.codes, boundary)
    fb, fg, fw = lc.fraction(b), lc.fraction(g), lc.fraction(w)
    assert fb[0, 0] == pytest.approx(0.7)  # 10 x 7 m inside the boundary
    assert fb[0, 1] == pytest.approx(0.35)  # 5 x 7 m
    assert fg[0, 1] == pytest.approx(0.35)
    assert fg[0, 2] == pytest.approx(0.7)
    assert fw[2, 2] == pytest.approx(0.5) and fg[2, 2] == pytest.approx(0.5)
    assert fg[1, 1] == pytest.approx(1.0)
    assert lc.inside[0, 0] == pytest.approx(0.7)
    np.testing.assert_allclose(lc.fractions.sum(axis=0), lc.inside, atol=1e-6)
    assert lc.dominant[0, 0] == b and lc.dominant[1, 1] == g
    # tie in cell (2,2): water 0.5 vs grass 0.5 -> lower code wins (water 5 < grass 7)
    assert lc.dominant[2, 2] == w and lc.decided_by[2, 2] == 1


@pytest.mark.parametrize("edge", [27.5, 27.25, 26.9, 21.01])
def test_unaligned_edge_error_is_at_most_half_a_subcell(edge):
    # A straight edge that does not fall on a sub-cell edge: sub-cell centres decide, so the
    # error is at most half a sub-cell row = 0.5 / factor = 0.05 of the cell for 10 m cells.
    grid = Grid.from_bounds((0, 0, 10, 30), 10, "EPSG:28992")
    legend = load_legend()
    g = legend.by_key("lawn_grass").code
    lc = rasterize([_piece(g, 0, 40, [shapely.box(0, 0, 10, 30)])], grid, legend.codes, shapely.box(0, 0, 10, edge))
    exact = (edge - 20) / 10
    assert abs(float(lc.fraction(g)[0, 0]) - exact) <= 0.05 + 1e-6
    assert abs(float(lc.inside[0, 0]) - exact) <= 0.05 + 1e-6


def test_unknown_is_reported_not_filled():
    grid = Grid.from_bounds((0, 0, 20, 10), 10, "EPSG:28992")
    legend = load_legend()
    road = legend.by_key("road").code
    lc = rasterize([_piece(road, 0, 90, [shapely.box(0, 0, 3, 10)])], grid, legend.codes, shapely.box(0, 0, 20, 10))
    assert lc.fraction(0)[0, 0] == pytest.approx(0.7) and lc.fraction(road)[0, 0] == pytest.approx(0.3)
    assert lc.dominant[0, 0] == 0 and lc.decided_by[0, 0] == NO_SOURCE  # mostly unknown: say so
    assert lc.dominant[0, 1] == 0 and lc.fraction(0)[0, 1] == pytest.approx(1.0)


def test_override_source_wins_over_higher_priority():
    grid = Grid.from_bounds((0, 0, 10, 10), 10, "EPSG:28992")
    legend = load_legend()
    b, tr = legend.by_key("building").code, legend.by_key("trees_woodland").code
    osm_building = _piece(b, 0, 100, [shapely.box(0, 0, 10, 10)])
    local_green = _piece(tr, 1, 10, [shapely.box(0, 0, 10, 6)], override=1)
    lc = rasterize([osm_building, local_green], grid, legend.codes, shapely.box(0, 0, 10, 10))
    assert lc.fraction(tr)[0, 0] == pytest.approx(0.6) and lc.fraction(b)[0, 0] == pytest.approx(0.4)
    assert lc.dominant[0, 0] == tr and lc.decided_by[0, 0] == 1
    # without override the building (priority 100) keeps the cell
    lc2 = rasterize([osm_building, _piece(tr, 1, 10, [shapely.box(0, 0, 10, 6)])], grid, legend.codes,
                    shapely.box(0, 0, 10, 10))
    assert lc2.fraction(b)[0, 0] == pytest.approx(1.0) and lc2.decided_by[0, 0] == 0


@pytest.fixture(scope="module")
def dordrecht():
    area = load_area(EXAMPLE)
    prep = prepare(area)
    return prep


def _resolved_reference(pieces: list[Piece], box: tuple[float, float, float, float], clip: shapely.Geometry):
    """Independent reference: exact shapely geometry per class inside ``box`` after priority."""
    covered = shapely.Polygon()
    out: dict[int, shapely.Geometry] = {}
    for p in sorted(pieces, key=lambda q: q.precedence, reverse=True):
        parts = [g for g in p.geoms if shapely.intersects(g, shapely.box(*box))]
        if not parts:
            continue
        geom = shapely.intersection(shapely.union_all(shapely.intersection(np.array(parts, dtype=object), shapely.box(*box))), clip)
        geom = shapely.difference(geom, covered)
        if geom.is_empty:
            continue
        covered = shapely.union(covered, geom)
        out[p.cls] = shapely.union(out[p.cls], geom) if p.cls in out else geom
    return out


def test_cell_fractions_match_exact_areas_on_real_sample(dordrecht):
    prep = dordrecht
    legend = prep.legend
    # 30 x 30 cells in the old centre of Dordrecht (buildings, streets, water, parks)
    sub = Grid.from_bounds((104600, 424600, 104900, 424900), 10, "EPSG:28992")
    lc = rasterize(prep.pieces, sub, legend.codes, prep.boundary)
    ref = _resolved_reference(prep.pieces, sub.bounds, prep.boundary)
    assert len(ref) >= 5, "the test window should hold several classes"
    errs = []
    for code, geom in ref.items():
        for r in range(sub.height):
            for c in range(sub.width):
                cell = sub.window(r, c, 1, 1).bounds
                exact = shapely.area(shapely.intersection(geom, shapely.box(*cell))) / sub.cell_area
                errs.append(abs(float(lc.fraction(code)[r, c]) - exact))
    errs = np.array(errs)
    assert errs.max() <= 0.06, errs.max()
    assert errs.mean() <= 0.004, errs.mean()
    # classes the reference does not have are empty in the raster too
    for i, code in enumerate(legend.codes):
        if code not in ref and code != 0:
            assert lc.fractions[i].max() <= 0.06


def test_buurt_class_areas_match_exact_areas(dordrecht):
    prep = dordrecht
    legend = prep.legend
    buurten = prep.units["buurt"]
    # four small inner-city buurten (the smallest have the most boundary relative to their area)
    pick = buurten.assign(a=buurten.area).sort_values("a").iloc[:4]
    bounds = shapely.union_all(pick.geometry.values).bounds
    sub = Grid.from_bounds(bounds, 10, "EPSG:28992")
    lc = rasterize(prep.pieces, sub, legend.codes, prep.boundary)
    summ = unit_summaries(lc, legend, pick)
    for _, row in summ.iterrows():
        bgeom = row.geometry
        ref = _resolved_reference(prep.pieces, bgeom.bounds, bgeom)
        # Cells the buurt boundary cuts: a cell's classes are spread evenly over it, so at most
        # min(cov, 1 - cov) of such a cell can be attributed to the wrong side.
        bound = 0.0
        for r in range(sub.height):
            for c in range(sub.width):
                cellbox = shapely.box(*sub.window(r, c, 1, 1).bounds)
                cov = shapely.area(shapely.intersection(cellbox, bgeom)) / sub.cell_area
                if 0 < cov < 1:
                    bound += min(cov, 1 - cov) * sub.cell_area
        tol = bound + 0.002 * bgeom.area
        for c in legend.classes:
            exact = ref[c.code].area if c.code in ref else 0.0
            got = row[f"{c.key}_m2"]
            assert abs(got - exact) <= tol, (row["code"], c.key, got, exact, tol)
            assert abs(got - exact) <= 0.02 * bgeom.area, (row["code"], c.key, got, exact)
        # Second, tighter-in-spirit check: the error cannot exceed what the boundary cells can
        # misattribute (uniform-within-cell assumption) plus the sub-cell sampling error.
        total_known = sum(row[f"{c.key}_m2"] for c in legend.classes)
        assert total_known == pytest.approx(bgeom.area, rel=1e-3)


def test_hierarchy_nests_and_totals_agree(dordrecht):
    from biostress.units import check_nesting

    u = dordrecht.units
    assert len(u["buurt"]) == 132 and len(u["gemeente"]) == 1
    assert u["gemeente"]["code"].tolist() == ["GM0505"]
    assert check_nesting(u["buurt"], u["wijk"])["ok"].all()
    assert check_nesting(u["wijk"], u["gemeente"])["ok"].all()
    for r in u["buurt"].itertuples():
        assert r.parent_code == "WK" + r.code[2:8]
    assert u["buurt"]["area_m2"].sum() == pytest.approx(u["gemeente"]["area_m2"].sum(), rel=1e-6)
    assert u["wijk"]["area_m2"].sum() == pytest.approx(u["gemeente"]["area_m2"].sum(), rel=1e-6)


def test_mapping_covers_every_sample_feature(dordrecht):
    # Every OpenMapTiles feature of the sample is mapped or deliberately ignored; none unmapped.
    c = dordrecht.counts["osm"]
    assert sum(v["unmapped"] for v in c.values()) == 0
    assert c["building"]["mapped"] == c["building"]["features"] > 20000


def test_mapping_table_rows_are_valid():
    legend = load_legend()
    m = load_mapping(legend)
    assert all(r.ev in ("V", "S", "R", "P") for r in m.rules)
    assert all(r.source for r in m.rules)
    keys = set(legend.keys) | {"ignore"}
    assert all(r.cls in keys for r in m.rules)


def test_unit_summary_of_an_uncovered_unit_says_unknown():
    import geopandas as gpd

    grid = Grid.from_bounds((0, 0, 40, 20), 10, "EPSG:28992")
    legend = load_legend()
    b = legend.by_key("building").code
    lc = rasterize([_piece(b, 0, 100, [shapely.box(0, 0, 20, 20)])], grid, legend.codes, shapely.box(0, 0, 40, 20))
    units = gpd.GeoDataFrame({"code": ["W", "E"], "area_m2": [400.0, 400.0]},
                             geometry=[shapely.box(0, 0, 20, 20), shapely.box(20, 0, 40, 20)], crs=28992)
    s = unit_summaries(lc, legend, units).set_index("code")
    assert s.loc["W", "dominant_class"] == "building" and s.loc["W", "building_share"] == pytest.approx(1.0)
    assert s.loc["E", "dominant_class"] == "unknown" and s.loc["E", "unknown_share"] == pytest.approx(1.0)
    assert s.loc["E", "green_share"] == 0
