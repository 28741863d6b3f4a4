"""Scenarios: a measure on a drawn polygon, re-run on the affected window only, must equal a full
re-run of the whole grid; costs follow the catalogue numbers by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from biostress.errors import InputDataError, NoOverlapError
from biostress.indicator_stage import RasterFiles, StageInputs, _window_context, dominant_of
from biostress.measures import load_catalogue
from biostress.measures.catalogue import apply_transitions
from biostress.scenarios import Change, affected_windows, run_scenario, scenario_on_context
from biostress.store.runfolder import RunFolder
from test_indicator_stage import _landcover

MODULES = ("green", "habitat_quality", "heat", "flooding")


def _run_folder(tmp: Path):
    grid, legend, fp, dp, roads, units = _landcover(tmp)
    import rasterio

    with rasterio.open(fp) as s:
        fr = s.read()
    with RunFolder(tmp / "run") as run:
        run.set_grid(grid)
        run.write_raster("landcover_fractions", fr, grid, units="fraction", description="fractions",
                         nodata=float("nan"), band_names=legend.keys)
        run.write_raster("landcover", dominant_of(fr, legend), grid, units="class", description="dominant", nodata=255)
        run.write_vector("units_buurt", units, units=None, description="units")
    return grid, legend, fr, tmp / "run"


def test_window_rerun_equals_full_rerun(tmp_path: Path):
    grid, legend, fr, run_dir = _run_folder(tmp_path)
    x0, y0, x1, y1 = grid.bounds
    poly = shapely.box(x0 + 1510, y0 + 1490, x0 + 1905, y0 + 1830)  # about 20 x 17 cells of 20 m, not cell-aligned
    ch = Change("depaving", poly, part=1.0)
    res = run_scenario(run_dir, [ch], modules=MODULES)
    # the full reference: the same measure on the whole grid, every indicator re-run everywhere
    cat = load_catalogue()
    files = RasterFiles(grid)
    files.add("__fractions__", run_dir / "landcover_fractions.tif")
    files.add("__dominant__", run_dir / "landcover.tif")
    ctx = _window_context(StageInputs(grid, legend, run_dir / "landcover_fractions.tif", run_dir / "landcover.tif"),
                          files, 0, grid.height, 0, grid.width)
    from biostress.scenarios.run import _coverage

    part = _coverage(poly, grid)
    part[~np.isfinite(fr).any(axis=0)] = 0.0
    new = apply_transitions(cat.get("depaving"), fr, legend, part)
    full = scenario_on_context(ctx, new, MODULES)
    r0, r1, c0, c1 = res.window
    assert set(res.deltas) == set(full)
    n_changed = 0
    for name, (b, a) in full.items():
        d = a - b
        np.testing.assert_allclose(res.deltas[name], d[r0:r1, c0:c1], rtol=1e-5, atol=1e-5, equal_nan=True,
                                   err_msg=name)
        outside = np.ones(grid.shape, bool)
        outside[r0:r1, c0:c1] = False
        assert np.nanmax(np.abs(d[outside]), initial=0.0) < 1e-5, name  # nothing changes beyond the reach
        n_changed += int((np.abs(np.nan_to_num(d)) > 1e-6).sum())
    assert n_changed > 0
    # de-paving raises the green share where paving was converted, never lowers it
    g = res.deltas["green_share"]
    assert np.nanmin(g) >= -1e-6 and np.nanmax(g) > 0.01


def test_costs_follow_the_catalogue(tmp_path: Path):
    grid, legend, fr, run_dir = _run_folder(tmp_path)
    x0, y0, _, _ = grid.bounds
    poly = shapely.box(x0 + 1500, y0 + 1500, x0 + 1700, y0 + 1700)  # exactly 10 x 10 cells
    res = run_scenario(run_dir, [Change("depaving", poly, part=0.5)], modules=("green",))
    m = load_catalogue().get("depaving")
    # converted area by hand: sum over the 100 cells of share x cover of the from-class x cell area x part
    r0 = int((grid.y1 - (y0 + 1700)) / grid.cell)
    c0 = int((x0 + 1500 - grid.x0) / grid.cell)
    blk = np.nan_to_num(fr[:, r0:r0 + 10, c0:c0 + 10])
    area = sum(t.share * blk[legend.keys.index(t.from_)].sum() for t in m.transitions) * grid.cell_area * 0.5
    row = res.costs.iloc[0]
    assert row["quantity"] == pytest.approx(area * m.quantity.per_m2, rel=1e-5)
    assert row["capex_eur"] == pytest.approx(area * m.quantity.per_m2 * m.capex_eur.value, rel=1e-5)
    assert row["net_capex_eur"] == pytest.approx(row["capex_eur"] - row["subsidy_eur"])
    # the converted land cover (ha) balances: what paving loses, gardens gain
    lc = res.landcover.set_index("class")["change_ha"]
    assert lc.sum() == pytest.approx(0.0, abs=1e-9)
    assert lc["garden_allotment"] == pytest.approx(area / 1e4, rel=1e-5)


def test_writes_a_scenario_folder(tmp_path: Path):
    grid, legend, fr, run_dir = _run_folder(tmp_path)
    x0, y0, _, _ = grid.bounds
    res = run_scenario(run_dir, [Change("depaving", shapely.box(x0 + 1500, y0 + 1500, x0 + 1700, y0 + 1700))],
                       tmp_path / "scen", modules=("green",))
    assert (res.out_dir / "change_green_share.tif").exists() and (res.out_dir / "manifest.json").exists()
    assert "buurt" in res.units and {"code", "green_share_change"} <= set(res.units["buurt"].columns)


def test_bad_input(tmp_path: Path):
    grid, legend, fr, run_dir = _run_folder(tmp_path)
    x0, y0, x1, y1 = grid.bounds
    with pytest.raises(InputDataError, match="Unknown measure"):
        run_scenario(run_dir, [Change("no_such_measure", shapely.box(x0, y0, x0 + 100, y0 + 100))])
    with pytest.raises(NoOverlapError):
        run_scenario(run_dir, [Change("depaving", shapely.box(x1 + 1000, y1 + 1000, x1 + 1100, y1 + 1100))])
    with pytest.raises(InputDataError, match="invalid"):
        bow = shapely.Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100)])
        run_scenario(run_dir, [Change("depaving", bow)])
    with pytest.raises(InputDataError, match="not a biostress run"):
        run_scenario(tmp_path, [Change("depaving", shapely.box(x0, y0, x0 + 100, y0 + 100))])


def test_affected_windows_are_clamped():
    out, inp = affected_windows((10, 20, 5, 8), 4, (30, 30))
    assert out == (6, 24, 1, 12) and inp == (2, 28, 0, 16)


def test_cli_scenario(tmp_path: Path):
    import json

    from typer.testing import CliRunner

    from biostress.cli import app

    grid, legend, fr, run_dir = _run_folder(tmp_path)
    x0, y0, _, _ = grid.bounds
    poly = tmp_path / "area.geojson"
    poly.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::28992"}}, "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[x0 + 1500, y0 + 1500], [x0 + 1700, y0 + 1500], [x0 + 1700, y0 + 1700],
                                                [x0 + 1500, y0 + 1700], [x0 + 1500, y0 + 1500]]]}}]}))
    r = CliRunner().invoke(app, ["scenario", str(run_dir), "--measure", "depaving", "--polygon", str(poly),
                                 "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert "De-paving" in r.output and (tmp_path / "s" / "manifest.json").exists()
    r = CliRunner().invoke(app, ["scenario", str(run_dir), "--measure", "nope", "--polygon", str(poly),
                                 "--out", str(tmp_path / "s2")])
    assert r.exit_code == 1 and "Unknown measure" in r.output
    assert not (tmp_path / "s2").exists()
