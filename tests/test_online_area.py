"""An area whose units come from an online OGC API Features service (the PDOK CBS buurten
collection, answered by the recorded-response server of test_fetch.py over real HTTP)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import yaml

from biostress.config import load_area
from biostress.pipeline import run_area
from test_fetch import RecordedServer  # the real local HTTP server with recorded PDOK answers

DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "data"


@pytest.fixture
def server():
    s = RecordedServer()
    s.start()
    yield s
    s.stop()


def test_units_from_pdok_ogcapi_into_a_run(server, tmp_path):
    shutil.copytree(DATA / "osm_geoparquet", tmp_path / "osm")
    host = server.host
    base = f"http://{host}/cbs/wijken-en-buurten-2024/ogc/v1/collections/buurten"
    doc = {
        "name": "Dordrecht (online units)", "crs": "EPSG:28992", "cell_size": 25,
        "boundary": {"bbox": [102166, 414557, 120347, 426301]},
        "units": {"kind": "cbs", "url": base, "collection": "buurten", "filters": {"gemeentecode": "GM0505"},
                  "page_size": 50, "date": "2024"},
        "sources": [{"name": "osm", "kind": "openmaptiles", "path": "osm", "licence": "ODbL-1.0",
                     "attribution": "© OpenStreetMap contributors", "date": "2021-08"}],
        "landcover": {"subcell_m": 5.0},  # coarse sampling: this test is about the units
        "allow_hosts": [host],
    }
    (tmp_path / "area.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    res = run_area(load_area(tmp_path / "area.yaml"), tmp_path / "run")
    buurt = gpd.read_file(res.out_dir / "biostress.gpkg", layer="units_buurt")
    ref = gpd.read_file(DATA / "cbs_buurten_2024_generalised_dordrecht.geojson")
    assert sorted(buurt["code"]) == sorted(ref["buurtcode"])
    assert buurt["area_m2"].sum() == pytest.approx(ref.area.sum(), rel=1e-6)
    m = json.loads((res.out_dir / "manifest.json").read_text())
    units_in = next(i for i in m["inputs"] if i["name"] == "area units")
    assert units_in["url"] == base and units_in["retrieved_at"] and units_in["pages"] == 3
    assert len(units_in["sha256"]) == 64
    # the cache holds each page with URL, time and checksum; a second run does not hit the server
    hits = server.total_hits()
    run_area(load_area(tmp_path / "area.yaml"), tmp_path / "run", overwrite=True)
    assert server.total_hits() == hits
    sidecars = list((tmp_path / ".biostress-cache").glob("*.meta.json"))
    assert len(sidecars) == 3 and all("sha256" in json.loads(p.read_text()) for p in sidecars)
