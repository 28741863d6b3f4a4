"""End-to-end run on a part of the real sample city: store round trip and manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import yaml

from biostress.config import load_area
from biostress.landcover.rasterize import rasterize
from biostress.pipeline import prepare, run_area
from biostress.store import sha256_file
from biostress.store.gpkg import default_style

DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht"


@pytest.fixture(scope="module")
def small_area(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("area")
    shutil.copytree(DATA / "data", d / "data")
    doc = yaml.safe_load((DATA / "area.yaml").read_text())
    doc["boundary"] = {"bbox": [104000, 423500, 106000, 425500]}  # 2 x 2 km around the old centre
    (d / "area.yaml").write_text(yaml.safe_dump(doc))
    return d / "area.yaml"


@pytest.fixture(scope="module")
def result(small_area, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r1"
    return run_area(load_area(small_area), out)


def test_outputs_round_trip(result, small_area):
    prep = prepare(load_area(small_area))
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary)
    with rasterio.open(result.out_dir / "landcover.tif") as src:
        assert src.crs.to_epsg() == 28992
        assert src.transform == prep.grid.transform
        np.testing.assert_array_equal(src.read(1), lc.dominant)
        cmap = src.colormap(1)
        tree = prep.legend.by_key("trees_woodland")
        assert cmap[tree.code][:3] == tree.rgba[:3]
    with rasterio.open(result.out_dir / "landcover_fractions.tif") as src:
        assert src.count == len(prep.legend.classes)
        assert list(src.descriptions) == prep.legend.keys
        np.testing.assert_allclose(src.read(3), lc.fractions[2], atol=1e-6)
    assert (result.out_dir / "landcover.qml").is_file()


def test_manifest_lists_every_file_with_checksum(result):
    m = json.loads((result.out_dir / "manifest.json").read_text())
    listed = {o["path"] for o in m["outputs"]}
    on_disk = {str(p.relative_to(result.out_dir)) for p in result.out_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for o in m["outputs"]:
        assert o["sha256"] == sha256_file(result.out_dir / o["path"])
        assert o["description"]
    names = {i["name"] for i in m["inputs"]}
    assert {"osm", "natura2000", "muskrat_coypu_catches", "area units"} <= names
    osm = next(i for i in m["inputs"] if i["name"] == "osm")
    assert osm["licence"] == "ODbL-1.0" and len(osm["sha256"]) == 64
    assert m["parameters"]["area"]["cell_size"] == 10
    assert {"read sources", "land cover"} <= set(m["timings"])
    assert m["software"]["gdal"]


def test_units_layers_are_styled_and_shares_add_up(result):
    gpkg = result.out_dir / "biostress.gpkg"
    layers = {str(n) for n, _ in pyogrio.list_layers(gpkg)}
    assert {"units_gemeente", "units_wijk", "units_buurt", "boundary", "natura2000", "muskrat_coypu_catches",
            "sources", "landcover_legend", "landcover_mapping"} - {"muskrat_coypu_catches"} <= layers
    # no catches fall inside this box: said in the warnings, not silently skipped
    assert any("muskrat_coypu_catches" in w and "no features inside the area" in w for w in result.warnings)
    assert "<qgis" in (default_style(gpkg, "units_buurt") or "")
    b = pyogrio.read_dataframe(gpkg, layer="units_buurt")
    share_cols = [c for c in b.columns if c.endswith("_share") and c not in ("green_share", "impervious_share")]
    # the boundary here is a 2 km box: buurten cut by it have shares summing to their inside part
    total = b[share_cols].sum(axis=1)
    assert (total <= 1.0 + 1e-6).all() and (total > 0.999).sum() >= 10


def test_second_run_needs_overwrite_and_replaces_atomically(result, small_area):
    from biostress.errors import OutputExistsError

    before = sha256_file(result.out_dir / "manifest.json")
    with pytest.raises(OutputExistsError):
        run_area(load_area(small_area), result.out_dir)
    assert sha256_file(result.out_dir / "manifest.json") == before
    run_area(load_area(small_area), result.out_dir, overwrite=True)
    assert sha256_file(result.out_dir / "manifest.json") != before
    assert not [p for p in result.out_dir.parent.iterdir() if p.name.startswith(".")]


def test_green_share_map_says_lower_bound_when_cover_is_unresolved(result):
    import geopandas as gpd

    units = gpd.read_file(result.out_dir / "biostress.gpkg", layer="units_buurt")
    unresolved = (units["unknown_m2"].sum() + units["urban_mixed_m2"].sum()) / units["area_m2"].sum()
    entries = {o["path"]: o for o in result.manifest["outputs"]}
    desc_en = entries["maps/green_share_en.png"]["description"]
    desc_nl = entries["maps/green_share_nl.png"]["description"]
    assert unresolved >= 0.01  # the old centre has built-up land whose green part OSM does not resolve
    assert f"{unresolved:.0%}" in desc_en and "lower bound" in desc_en
    assert "ondergrens" in desc_nl
