"""The ``biostress`` command: exit codes (0 ok, 1 data error, 2 usage/config error), messages on
stderr without tracebacks, and a previous run folder that survives every failure.

CLI calls run ``python -m biostress.cli`` in a subprocess, so exit codes are the real ones.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from shapely.geometry import box

import biostress
from conftest import SAMPLE_DATA, SMALL_BBOX, run_cli, source

EXAMPLE = SAMPLE_DATA.parent / "area.yaml"
GREEN = source("green", "landcover_vector", "green.gpkg", class_column="typ",
               class_map={"gras": "lawn_grass", "bos": "trees_woodland"})


def write_area(folder: Path, sources: list[dict], name: str = "area.yaml", **top) -> Path:
    doc = {"name": "CLI test", "boundary": {"bbox": SMALL_BBOX}, "units": {"kind": "hexagon"}, "sources": sources,
           **top}
    p = folder / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def clean_error(r, code: int) -> str:
    """Check exit code and a traceback-free 'Error: ... What to do: ...' on stderr; return stderr."""
    assert r.returncode == code, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr + r.stdout
    assert "Error: " in r.stderr and "What to do: " in r.stderr
    return r.stderr


_RUNS: dict = {}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path]:
    """A project (OSM sample + a small green map over 1 km of Dordrecht) and a finished run of it."""
    root = tmp_path_factory.mktemp("cli")
    proj = root / "proj"
    shutil.copytree(SAMPLE_DATA / "osm_geoparquet", proj / "osm")
    gpd.GeoDataFrame({"typ": ["bos", "gras"]}, geometry=[box(105400, 424400, 105600, 424600),
                                                        box(105100, 424100, 105200, 424200)],
                     crs="EPSG:28992").to_file(proj / "green.gpkg")
    area = write_area(proj, [source("osm", "openmaptiles", "osm"), GREEN])
    _RUNS["previous"] = run_cli("run", area, "--out", root / "previous")  # checked in test_run_reports...
    return area, root / "previous"


@pytest.fixture
def previous(project, tmp_path) -> tuple[Path, Path, dict[str, str]]:
    """This test's own copy of the project and of its previous run folder, with a snapshot."""
    area, prev = project
    proj = tmp_path / "proj"
    shutil.copytree(area.parent, proj, symlinks=True)
    out = tmp_path / "out"
    shutil.copytree(prev, out)
    snap = snapshot(out)
    assert "manifest.json" in snap and "landcover.tif" in snap
    return proj / area.name, out, snap


# ---------------------------------------------------------------------------------------- commands


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout == f"biostress {biostress.__version__}\n"


def test_installed_entry_point_version():
    exe = Path(sys.executable).parent / "biostress"
    if not exe.exists():
        pytest.skip("no biostress console script next to this Python")
    import subprocess

    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, f"biostress {biostress.__version__}\n")


def test_schema_prints_json_schema(tmp_path):
    r = run_cli("schema")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["title"] == "biostress area configuration"
    assert s["properties"]["cell_size"]["minimum"] == 1.0 and s["properties"]["cell_size"]["maximum"] == 100.0
    r2 = run_cli("schema", "--out", tmp_path / "schema.json")
    assert r2.returncode == 0 and r2.stdout == ""
    assert json.loads((tmp_path / "schema.json").read_text()) == s


def test_validate_shipped_example():
    r = run_cli("validate", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    assert "describes 'Dordrecht' (3 sources, 10 m cells in EPSG:28992)" in r.stdout
    assert r.stderr == ""


def test_validate_reports_a_renamed_file_as_data_error(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "green.gpkg").write_text("<html><body>Service unavailable</body></html>")
    stderr = clean_error(run_cli("validate", write_area(proj, [GREEN])), 1)
    assert f"{proj / 'green.gpkg'} is not a gpkg file: its content looks like 'xml'" in stderr


def test_validate_refuses_a_path_outside_the_folder(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    stderr = clean_error(run_cli("validate", write_area(proj, [dict(GREEN, path="../../etc/passwd")])), 2)
    assert "Refused path" in stderr and "outside the allowed folder" in stderr


def test_usage_error_exit_2(tmp_path):
    r = run_cli("run", EXAMPLE)  # --out missing
    assert r.returncode == 2
    assert "--out" in r.stderr and "Traceback" not in r.stderr
    assert run_cli("frobnicate").returncode == 2


# -------------------------------------------------------------------------------------------- runs


def test_run_quiet_prints_nothing_on_success(project, tmp_path):
    area, _ = project
    out = tmp_path / "quiet"
    r = run_cli("-q", "run", area, "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["name"] for i in manifest["inputs"]] == ["osm", "green"]
    assert leftovers(out) == []


def test_run_reports_where_results_are(project):
    _, out = project
    r = _RUNS["previous"]
    assert r.returncode == 0, r.stderr
    assert "Land cover of CLI test" in r.stdout
    assert f"Results in {out}" in r.stdout and str(out / "manifest.json") in r.stdout
    assert (out / "landcover.tif").is_file() and leftovers(out) == []


def test_run_into_existing_folder_without_overwrite(previous):
    area, out, snap = previous
    stderr = clean_error(run_cli("run", area, "--out", out), 2)
    assert f"The output folder {out} already exists and is not empty." in stderr
    assert "Pass --overwrite" in stderr
    assert snapshot(out) == snap
    assert leftovers(out) == []


def test_run_onto_a_file_exit_2(tmp_path, project):
    area, _ = project
    target = tmp_path / "results"
    target.write_text("keep me")
    stderr = clean_error(run_cli("run", area, "--out", target), 2)
    assert f"The output path {target} exists and is a file" in stderr
    assert target.read_text() == "keep me"


def _truncated_dem(path: Path) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=400, height=400, count=1, dtype="float32",
                       crs="EPSG:28992", transform=Affine(3, 0, 104900, 0, -3, 425100)) as dst:
        dst.write(np.full((1, 400, 400), 2.5, dtype="float32"))
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    return path


def test_data_error_mid_run_keeps_previous_folder_with_overwrite(previous):
    area, out, snap = previous
    dem = _truncated_dem(area.parent / "dem.tif")
    bad = write_area(area.parent, [source("osm", "openmaptiles", "osm"), GREEN, source("ahn", "dem", "dem.tif")],
                     name="with_dem.yaml")
    stderr = clean_error(run_cli("run", bad, "--out", out, "--overwrite"), 1)
    assert f"Error: Cannot read the raster {dem}" in stderr
    assert "corrupt or truncated" in stderr
    assert snapshot(out) == snap, "the previous run folder was changed"
    assert leftovers(out) == [], "staging or .old folders left behind"


def test_corrupt_source_keeps_previous_folder_with_overwrite(previous):
    area, out, snap = previous
    gpkg = area.parent / "green.gpkg"
    data = gpkg.read_bytes()
    gpkg.write_bytes(data[: len(data) // 3])
    stderr = clean_error(run_cli("run", area, "--out", out, "--overwrite"), 1)
    assert f"Cannot read {gpkg}" in stderr
    assert snapshot(out) == snap
    assert leftovers(out) == []


def test_refused_path_keeps_previous_folder_with_overwrite(previous):
    area, out, snap = previous
    bad = write_area(area.parent, [dict(GREEN, path="/vsicurl/http://169.254.169.254/latest/meta-data")],
                     name="hostile.yaml")
    stderr = clean_error(run_cli("run", bad, "--out", out, "--overwrite"), 2)
    assert "Refused path '/vsicurl/http://169.254.169.254/latest/meta-data'" in stderr
    assert "GDAL virtual file systems" in stderr
    assert snapshot(out) == snap
    assert leftovers(out) == []


def test_no_overlap_exit_1_and_no_output(tmp_path, project):
    area, _ = project
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy2(area.parent / "green.gpkg", proj / "green.gpkg")
    far = write_area(proj, [GREEN], boundary={"bbox": [200000, 500000, 201000, 501000]})
    out = tmp_path / "out"
    stderr = clean_error(run_cli("run", far, "--out", out), 1)
    assert "Source 'green' (green.gpkg) has no features inside the area" in stderr
    assert not out.exists() and leftovers(out) == []
