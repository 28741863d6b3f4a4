"""The pipeline with OSM as users get it (a tile folder, a raw .osm.pbf fetched over HTTP), and a
run killed mid-way through the real CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from pyproj import Transformer

from biostress.config import load_area
from biostress.landcover.rasterize import rasterize
from biostress.pipeline import prepare
from biostress.sources.openmaptiles import tile_bounds_3857
from test_osm_pbf import BUILDING, GRASS_HOLE, GRASS_OUTER, _rd_polygon, _write_extract

ROOT = Path(__file__).resolve().parents[1]
OMT = ROOT / "tests" / "data" / "omt"
SAMPLE = ROOT / "examples" / "dordrecht" / "data"


def _write(tmp: Path, doc: dict) -> Path:
    (tmp / "area.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return tmp / "area.yaml"


def _osm(name: str, path: str) -> dict:
    return {"name": name, "kind": "openmaptiles", "path": path, "licence": "ODbL-1.0",
            "attribution": "© OpenStreetMap contributors", "date": "2021-08"}


def test_tile_folder_matches_the_decoded_sample(tmp_path):
    # the 4 real tiles shipped with the tests; an inner box 150 m from their edges
    tr = Transformer.from_crs(3857, 28992, always_xy=True)
    a, b = tile_bounds_3857(14, 8405, 5428), tile_bounds_3857(14, 8406, 5427)
    x0, y0, x1, y1 = tr.transform_bounds(a[0], a[1], b[2], b[3])
    bbox = [round(x0 + 150, -1), round(y0 + 150, -1), round(x1 - 150, -1), round(y1 - 150, -1)]
    shutil.copytree(OMT / "tiles", tmp_path / "tiles")
    shutil.copytree(SAMPLE / "osm_geoparquet", tmp_path / "pq")
    results = {}
    for name, path in (("tiles", "tiles"), ("pq", "pq")):
        doc = {"name": "t", "cell_size": 10, "boundary": {"bbox": bbox}, "units": {"kind": "none"},
               "sources": [_osm("osm", path)]}
        prep = prepare(load_area(_write(tmp_path, doc)))
        results[name] = (prep, rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary))
    (prep, t), (_, p) = results["tiles"], results["pq"]
    area = prep.grid.cell_area * float(t.inside.sum())
    for i, c in enumerate(prep.legend.classes):
        diff = abs(float(t.fractions[i].sum() - p.fractions[i].sum())) * prep.grid.cell_area
        assert diff <= 0.01 * area, (c.key, diff)
    # and cell by cell: the same tiles decoded twice give nearly the same map
    assert float(np.mean(t.dominant == p.dominant)) > 0.97


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield root, f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_osm_pbf_extract_fetched_over_http(file_server, tmp_path):
    root, host = file_server
    _write_extract(root / "dordrecht.osm.pbf")
    area_dir = tmp_path / "area"
    area_dir.mkdir()
    ref_b = _rd_polygon(BUILDING)
    ref_g = _rd_polygon(GRASS_OUTER, (GRASS_HOLE,))
    x0, y0, x1, y1 = shapely.union(ref_b, ref_g).bounds
    doc = {"name": "pbf", "cell_size": 10, "boundary": {"bbox": [x0 - 50, y0 - 50, x1 + 50, y1 + 50]},
           "units": {"kind": "none"}, "allow_hosts": [host],
           "sources": [{"name": "osm", "kind": "osm_pbf", "url": f"http://{host}/dordrecht.osm.pbf", "service": "file",
                        "licence": "ODbL-1.0", "attribution": "© OpenStreetMap contributors", "date": "2025"}]}
    prep = prepare(load_area(_write(area_dir, doc)))
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary)
    ca = prep.grid.cell_area
    got_b = float(lc.fraction(prep.legend.by_key("building").code).sum()) * ca
    got_g = float(lc.fraction(prep.legend.by_key("lawn_grass").code).sum()) * ca
    # sampling bound: half a 1 m sub-cell along each polygon's boundary
    assert abs(got_b - ref_b.area) <= 0.5 * ref_b.length
    assert abs(got_g - ref_g.area) <= 0.5 * ref_g.length
    side = list((tmp_path / "area" / ".biostress-cache").glob("*.meta.json"))
    assert len(side) == 1 and "dordrecht.osm.pbf" in side[0].read_text()


def _tree_hashes(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


def test_killed_cli_run_leaves_previous_results_intact(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "data")
    doc = yaml.safe_load((ROOT / "examples" / "dordrecht" / "area.yaml").read_text())
    doc["boundary"] = {"bbox": [104000, 423500, 106000, 425500]}
    area = _write(tmp_path, doc)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "biostress.cli", "-q", "run", str(area), "--out", str(out), "--overwrite"]
    subprocess.run(cmd, check=True, timeout=600)
    before = _tree_hashes(out)
    assert "manifest.json" in before
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 300
    staged = None
    while time.time() < deadline and proc.poll() is None:
        staged = [p for p in tmp_path.iterdir() if p.name.startswith(".out.staging-") and any(p.glob("*.tif"))]
        if staged:
            break
        time.sleep(0.05)
    assert staged, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _tree_hashes(out) == before  # the previous result, byte for byte
    # the next run cleans up the dead run's staging folder and replaces the result
    subprocess.run(cmd, check=True, timeout=600)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert (out / "manifest.json").is_file()
