"""Natura 2000 surroundings written from a run folder (biostress.natura2000.run).

A tiny run folder is built by hand: a 120 x 120 grid of 10 m cells whose area (the ``boundary``
layer) leaves a 50 m rim of cells without land cover; the land cover is arable west of
x = x0 + 300 m and pasture east of it, with a block of buildings just east of the first site's
zone. Three sites:

* NL1000001 "Alpha Heide": a 100 m square centred on x0 + 300 m (the arable/pasture line), inside;
* NL1000002 "Beta Moeras": a 100 m square 400 m east of the grid (450 m from the area);
* NL1000003 "Gamma Duinen": 20 x 30 m in the north-west corner of the grid, in the rim without
  land cover, sqrt(30^2 + 20^2) m from the area.

Hand-computed references: the ring of a square of side ``a`` buffered by ``d`` with 16 segments
per quarter circle is four ``a x d`` strips plus four fans of 16 triangles with apex angle
pi/32 and legs d: ``area = 4 a d + 32 d^2 sin(pi/32)``; by mirror symmetry half of the site and of
the ring lie on arable land and half on pasture, so the mean drought vulnerability (0.2 on arable,
0.6 on pasture) in the site is 0.4.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from biostress.errors import ConfigError, InputDataError, NoOverlapError, OutputExistsError
from biostress.grid import Grid
from biostress.indicator_stage import dominant_of
from biostress.landcover.legend import load_legend
from biostress.natura2000.run import list_sites, write_surroundings
from biostress.store.runfolder import RunFolder

CELL = 10.0
N = 120
GRID = Grid(crs="EPSG:28992", x0=100000.0, y1=430000.0, cell=CELL, width=N, height=N)
X0, Y0, X1, Y1 = GRID.bounds
A, D = 100.0, 100.0  # site side and zone width, m
SITE_A = shapely.box(X0 + 250, Y0 + 250, X0 + 350, Y0 + 350)
SITE_B = shapely.box(X1 + 400, Y0 + 500, X1 + 500, Y0 + 600)
SITE_C = shapely.box(X0, Y1 - 30, X0 + 20, Y1)
AREA = shapely.box(X0 + 50, Y0 + 50, X1 - 50, Y1 - 50)
CODES = {"NL1000001": "Alpha Heide", "NL1000002": "Beta Moeras", "NL1000003": "Gamma Duinen"}


def _ring_ha(a: float, d: float) -> float:
    return (4 * a * d + 32 * d * d * math.sin(math.pi / 32)) / 1e4


def _make_run(path: Path) -> Path:
    legend = load_legend()
    fr = np.zeros((len(legend.keys), N, N), np.float32)
    fr[legend.keys.index("arable"), :, :30] = 1.0  # columns 0-29: x < x0 + 300
    fr[legend.keys.index("pasture"), :, 30:] = 1.0
    # a built-up block just east of the buffer (x 460-560 m): outside the zone, but within the
    # urban-setting radius of its eastern cells, so a too small window would change the measures
    fr[:, 75:105, 46:56] = 0.0
    fr[legend.keys.index("building"), 75:105, 46:56] = 1.0
    rim = np.ones((N, N), bool)
    rim[5:N - 5, 5:N - 5] = False  # the area starts 50 m (5 cells) inside the grid
    fr[:, rim] = np.nan
    dv = np.where(np.arange(N)[None, :] < 30, 0.2, 0.6).astype(np.float32) * np.ones((N, 1), np.float32)
    dv[rim] = np.nan
    sites = gpd.GeoDataFrame({"sitecode_hr": list(CODES), "naam": list(CODES.values())},
                             geometry=[SITE_A, SITE_B, SITE_C], crs="EPSG:28992")
    with RunFolder(path) as run:
        run.set_grid(GRID)
        run.write_raster("landcover_fractions", fr, GRID, units="fraction", description="fractions",
                         nodata=float("nan"), band_names=legend.keys)
        run.write_raster("landcover", dominant_of(fr, legend), GRID, units="class", description="dominant",
                         nodata=255)
        run.write_raster("drought_vulnerability", dv, GRID, units="0-1", description="drought",
                         nodata=float("nan"))
        run.write_vector("boundary", gpd.GeoDataFrame({"name": ["test"]}, geometry=[AREA], crs="EPSG:28992"),
                         units=None, description="area")
        run.write_vector("natura2000", sites, units=None, description="sites")
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("n2k")
    run_dir = _make_run(tmp / "run")
    steps = []
    out = write_surroundings(run_dir, "alpha heide", tmp / "out" / "alpha", distance_m=D,
                             progress=lambda s, d, n: steps.append((d, n)))
    return run_dir, out, steps


def _table(out: Path, name: str):
    return pyogrio.read_dataframe(out / "biostress.gpkg", layer=name)


def test_written_tables_hold_the_hand_computed_zone(written):
    run_dir, out, steps = written
    assert steps[0] == (0, 4) and steps[-1] == (4, 4)
    layers = {str(n) for n, _ in pyogrio.list_layers(out / "biostress.gpkg")}
    for name in ("site", "zone", "areas", "landcover", "nitrogen", "drying_out", "fragmentation", "hostile",
                 "summary", "measures", "farm_types", "finance"):
        assert f"natura2000_{name}" in layers, name
    areas = _table(out, "natura2000_areas").set_index("part")
    ring = _ring_ha(A, D)
    assert areas.loc["site", "area_ha"] == pytest.approx(A * A / 1e4, rel=1e-12)
    assert areas.loc["zone", "area_ha"] == pytest.approx(ring, rel=1e-9)
    # the whole buffer lies in the area: all of it is on the grid and has land cover
    assert areas.loc["zone", "on_grid_ha"] == pytest.approx(ring, rel=1e-6)
    assert areas.loc["zone", "with_landcover_ha"] == pytest.approx(ring, rel=1e-6)
    lc = _table(out, "natura2000_landcover").set_index("key")
    assert lc.loc["arable", "zone_ha"] == pytest.approx(ring / 2, rel=1e-6)
    assert lc.loc["pasture", "zone_ha"] == pytest.approx(ring / 2, rel=1e-6)
    assert lc.loc["arable", "site_share"] == pytest.approx(0.5, abs=1e-9)
    assert lc.drop(index=["arable", "pasture"])["zone_ha"].abs().max() == 0
    dry = _table(out, "natura2000_drying_out")
    dv = dry[(dry["part"] == "site") & (dry["metric"] == "mean_drought_vulnerability")]["value"].iloc[0]
    assert dv == pytest.approx(0.4, abs=1e-6)  # read from the run's drought raster through the window
    drained = dry[(dry["part"] == "zone") & (dry["metric"] == "drained_share")]["value"].iloc[0]
    assert drained == pytest.approx(1.0, abs=1e-9)  # arable + pasture everywhere
    nit = _table(out, "natura2000_nitrogen")
    assert set(nit["status"]) == {"not available: no deposition data"}


def test_written_site_and_zone_layers(written):
    _, out, _ = written
    site = gpd.read_file(out / "biostress.gpkg", layer="natura2000_site")
    assert list(site["site_code"]) == ["NL1000001"]  # the code, though the site was named by its name
    assert list(site["site_name"]) == ["Alpha Heide"]
    assert site["area_ha"].iloc[0] == pytest.approx(1.0)
    assert site.geometry.iloc[0].area == pytest.approx(A * A)
    zone = gpd.read_file(out / "biostress.gpkg", layer="natura2000_zone")
    assert zone.geometry.iloc[0].area / 1e4 == pytest.approx(_ring_ha(A, D), rel=1e-9)
    assert zone["site_code"].iloc[0] == "NL1000001"
    assert not zone.geometry.iloc[0].intersection(SITE_A).area > 1e-6  # a ring: the site is cut out
    fin = _table(out, "natura2000_finance").set_index("parameter")
    assert 0 < fin.loc["discount_rate", "value"] < 0.1 and fin.loc["horizon_yr", "value"] > 0


def test_manifest_window_maps_and_warnings(written):
    _, out, _ = written
    from biostress.potential.transitions import load_settings

    man = json.loads((out / "manifest.json").read_text())
    # buffer x 150..450 m, y 150..450 m above y0 -> columns 15..45, rows 75..105; margin of
    # ceil(urban radius / cell) + 1 + 2 cells, clipped to the 120 x 120 grid
    m = math.ceil(load_settings(None).urban_radius_m / CELL) + 3
    r0, r1, c0, c1 = max(0, 75 - m), min(N, 105 + m), max(0, 15 - m), min(N, 45 + m)
    assert (r0, r1, c0, c1) != (0, N, 0, N)  # a real window, not the whole grid
    assert man["grid"] == GRID.window(r0, c0, r1 - r0, c1 - c0).to_dict()
    kinds = {o["path"]: o for o in man["outputs"]}
    for lang in ("en", "nl"):
        p = out / "maps" / f"natura2000_NL1000001_{lang}.png"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert kinds[f"maps/natura2000_NL1000001_{lang}.png"]["file_kind"] == "png"
    assert any("no deposition data" in w for w in man["warnings"])
    assert man["parameters"]["distance_m"] == D


def test_window_equals_whole_grid_report(written):
    """The window read from the run gives the same numbers as the report on the whole grid."""
    from biostress.natura2000 import surroundings_report
    from biostress.runs import open_run

    run_dir, out, _ = written
    ref = surroundings_report(open_run(run_dir).context(), "NL1000001", D)
    for name in ("areas", "landcover", "fragmentation", "hostile"):
        got = _table(out, f"natura2000_{name}")
        exp = ref["pressures"][name]
        if exp.index.name is not None:  # areas, landcover and fragmentation are indexed by part / class
            exp = exp.reset_index()
        num = [c for c in exp.columns if exp[c].dtype.kind in "fi"]
        np.testing.assert_allclose(got[num].to_numpy(float), exp[num].to_numpy(float), rtol=1e-9, atol=1e-12,
                                   equal_nan=True, err_msg=name)
    got = _table(out, "natura2000_measures").set_index("measure_id")["fits_ha"]
    exp = ref["measures"].set_index("measure_id")["fits_ha"]
    assert set(got.index) == set(exp.index)
    np.testing.assert_allclose(got.loc[exp.index].to_numpy(float), exp.to_numpy(float), rtol=1e-9, equal_nan=True)


def test_list_sites(written):
    run_dir, _, _ = written
    df = list_sites(run_dir)
    assert list(df.columns) == ["code", "name", "area_ha", "distance_to_area_m"]
    assert list(df["code"]) == ["NL1000001", "NL1000003", "NL1000002"]  # nearest first
    t = df.set_index("code")
    assert t.loc["NL1000001", "distance_to_area_m"] == 0.0
    assert t.loc["NL1000002", "distance_to_area_m"] == pytest.approx(450.0)
    assert t.loc["NL1000003", "distance_to_area_m"] == pytest.approx(math.sqrt(30**2 + 20**2))
    assert t.loc["NL1000001", "area_ha"] == pytest.approx(1.0)
    assert t.loc["NL1000003", "area_ha"] == pytest.approx(20 * 30 / 1e4)
    assert dict(zip(df["code"], df["name"], strict=True)) == CODES


def _no_output(out: Path) -> None:
    assert not out.exists()
    if out.parent.exists():  # no staging folder left behind either
        assert not list(out.parent.glob(f".{out.name}.*"))


def test_unknown_site_lists_codes_and_names(written, tmp_path):
    run_dir, _, _ = written
    out = tmp_path / "o"
    with pytest.raises(InputDataError) as e:
        write_surroundings(run_dir, "NL9999999", out)
    msg = str(e.value)
    assert "NL9999999" in msg
    for code, name in CODES.items():
        assert code in msg and name in msg
    _no_output(out)


def test_no_overlap(written, tmp_path):
    run_dir, _, _ = written
    out = tmp_path / "o"
    with pytest.raises(NoOverlapError) as e:  # 400 m east of the grid, zone 100 m
        write_surroundings(run_dir, "NL1000002", out, distance_m=100)
    assert "NL1000002" in str(e.value) and "NL1000001" in e.value.hint  # the hint names the sites near the area
    with pytest.raises(NoOverlapError, match="outside the run's area"):  # on the grid, in the rim without cover
        write_surroundings(run_dir, "nl1000003", out, distance_m=10)
    _no_output(out)


def test_bad_input(written, tmp_path):
    run_dir, out_ok, _ = written
    with pytest.raises(ConfigError):
        write_surroundings(run_dir, "NL1000001", tmp_path / "o", distance_m=0)
    with pytest.raises(InputDataError, match="not a biostress run folder"):
        write_surroundings(tmp_path, "NL1000001", tmp_path / "o")
    with pytest.raises(OutputExistsError):  # before any work is done
        write_surroundings(run_dir, "NL1000001", out_ok)
    _no_output(tmp_path / "o")


def test_failure_while_writing_leaves_no_folder(written, tmp_path, monkeypatch):
    import biostress.maps
    import biostress.natura2000.surroundings as surr

    run_dir, _, _ = written
    calls = []

    def recording_report(ctx, site_code, distance_m, **kw):
        calls.append(site_code)
        return real(ctx, site_code, distance_m, **kw)

    real = surr.surroundings_report
    monkeypatch.setattr(surr, "surroundings_report", recording_report)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(biostress.maps, "render_landcover_map", boom)
    out = tmp_path / "parent" / "o"
    with pytest.raises(RuntimeError, match="disk full"):
        write_surroundings(run_dir, "NL1000001", out, distance_m=D)
    assert calls == ["NL1000001"]  # it failed after the report, while writing the run folder
    _no_output(out)


def test_cli_lists_sites_and_needs_a_site(tmp_path):
    from typer.testing import CliRunner

    from biostress.cli import app

    run_dir = _make_run(tmp_path / "run")
    r = CliRunner().invoke(app, ["natura2000", str(run_dir), "--list"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["natura2000", str(run_dir)])
    assert r.exit_code != 0 and "--site" in r.output


def test_cli_writes_the_surroundings_and_their_report(tmp_path):
    from typer.testing import CliRunner

    from biostress.cli import app
    from biostress.natura2000.run import list_sites

    run_dir = _make_run(tmp_path / "run")
    code = str(list_sites(run_dir)["code"].iloc[0])
    r = CliRunner().invoke(app, ["natura2000", str(run_dir), "--site", code, "--distance", "200", "--out",
                                 str(tmp_path / "n")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "n" / "manifest.json").exists()
    rep = tmp_path / "n-report"
    assert any(rep.glob("*nl*.html")) and any(rep.glob("*en*.html"))
