"""The area configuration: every mistake is a ConfigError that names the file and the field, and the
CLI turns it into exit code 2 with a message on stderr (no traceback)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from biostress.config import AreaConfig, json_schema, load_area, parse_area
from biostress.errors import ConfigError
from conftest import SAMPLE_DATA, SMALL_BBOX, run_cli, source

EXAMPLE = SAMPLE_DATA.parent / "area.yaml"

BASE = {
    "name": "Test area",
    "crs": "EPSG:28992",
    "cell_size": 10,
    "boundary": {"bbox": SMALL_BBOX},
    "units": {"kind": "hexagon"},
    "sources": [source("osm", "openmaptiles", "osm")],
}


def doc(**changes) -> dict:
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def with_source(**changes) -> dict:
    d = doc()
    d["sources"][0].update(changes)
    return d


def write(tmp_path: Path, content: dict | str, name: str = "area.yaml") -> Path:
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return p


def two_sources() -> dict:
    d = doc()
    d["sources"].append(source("osm", "landcover_vector", "green.gpkg", class_column="typ",
                               class_map={"gras": "lawn_grass"}))
    return d


# (document, expected line "  - <field>: <message>") for every kind of mistake
CASES = {
    "typo top level": (doc(cel_size=10), "  - cel_size: Extra inputs are not permitted"),
    "typo in a source": (with_source(pth="osm"), "  - sources.0.pth: Extra inputs are not permitted"),
    "cell_size too small": (doc(cell_size=0.5), "  - cell_size: Input should be greater than or equal to 1"),
    "cell_size too large": (doc(cell_size=150), "  - cell_size: Input should be less than or equal to 100"),
    "geographic crs": (doc(crs="EPSG:4326"), "  - crs: crs EPSG:4326 is not projected: the grid needs metres"),
    "unknown crs": (doc(crs="EPSG:999999"), "  - crs: unknown CRS 'EPSG:999999'"),
    "duplicate source names": (two_sources(), "source names must be unique; repeated: ['osm']"),
    "path and url": (with_source(url="https://example.com/osm.pmtiles"),
                     "  - sources.0: source 'osm': give exactly one of 'path' or 'url'"),
    "neither path nor url": (with_source(path=None), "  - sources.0: source 'osm': give exactly one of 'path' or 'url'"),
    "bad date": (with_source(date="last summer"),
                 "  - sources.0.date: date 'last summer' must be YYYY, YYYY-MM or YYYY-MM-DD"),
    "unknown kind": (with_source(kind="lidar"), "  - sources.0.kind: Input should be 'openmaptiles'"),
    "empty bbox": (doc(boundary={"bbox": [106000, 424000, 105000, 425000]}),
                   "  - boundary: boundary bbox (106000.0, 424000.0, 105000.0, 425000.0) is empty"),
    "two boundaries": (doc(boundary={"bbox": SMALL_BBOX, "from_units": True}),
                       "  - boundary: boundary: give exactly one of 'path', 'from_units: true' or 'bbox'"),
    "landcover_vector without class_map": (
        doc(sources=[source("green", "landcover_vector", "g.gpkg", class_column="typ")]),
        "  - sources.0: source 'green': a landcover_vector needs 'class_column' and 'class_map'"),
    "no land-cover source": (doc(sources=[source("n2k", "natura2000", "n.gpkg")]),
                             "at least one land-cover source is needed"),
    "no sources": (doc(sources=[]), "  - sources: List should have at least 1 item"),
    "missing licence": (with_source(licence=None), "  - sources.0.licence: Input should be a valid string"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_mistake_is_a_config_error_naming_the_field(tmp_path, case):
    content, line = CASES[case]
    p = write(tmp_path, content)
    with pytest.raises(ConfigError) as ei:
        load_area(p)
    e = ei.value
    assert e.exit_code == 2
    assert e.message.startswith(f"{p} is not a valid area configuration:\n")
    assert line in e.message
    assert "docs/area-config.md" in e.hint


def test_every_problem_is_listed_at_once(tmp_path):
    d = doc(cell_size=0, crs="EPSG:4326", colour="green")
    d["sources"][0]["date"] = "soon"
    with pytest.raises(ConfigError) as ei:
        load_area(write(tmp_path, d))
    lines = [ln for ln in ei.value.message.splitlines() if ln.startswith("  - ")]
    fields = sorted(ln[4:].split(":", 1)[0] for ln in lines)
    assert fields == ["cell_size", "colour", "crs", "sources.0.date"]


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    p = write(tmp_path, "name: Test\nboundary: {bbox: [105000, 424000, 106000, 425000]\nsources:\n  - name: osm\n")
    with pytest.raises(ConfigError) as ei:
        load_area(p)
    assert ei.value.message.startswith(f"{p} is not valid YAML:")
    assert "line 3" in ei.value.message


def test_tab_indented_yaml_is_a_config_error(tmp_path):
    p = write(tmp_path, "name: Test\nboundary:\n\tbbox: [1, 2, 3, 4]\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_area(p)


@pytest.mark.parametrize("content", ["- name: Test\n- crs: EPSG:28992\n", "just a sentence\n", ""])
def test_yaml_that_is_not_a_mapping(tmp_path, content):
    p = write(tmp_path, content)
    with pytest.raises(ConfigError) as ei:
        load_area(p)
    assert ei.value.message == f"{p} must hold a mapping of settings (name, boundary, sources, ...)."


def test_missing_area_file(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_area(tmp_path / "nope.yaml")
    assert ei.value.message == f"Area configuration not found: {tmp_path / 'nope.yaml'}"
    assert "examples/dordrecht/area.yaml" in ei.value.hint


def test_binary_file_as_area_file(tmp_path):
    p = tmp_path / "area.yaml"
    p.write_bytes(b"\xff\xfe\x00\x01GPKG\x00\x00")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_area(p)


@pytest.mark.parametrize(("written", "kept"), [("2024", "2024"), ("2024-05", "2024-05"), ("2024-05-01", "2024-05-01")])
def test_unquoted_dates_are_accepted(tmp_path, written, kept):
    """YAML reads an unquoted 2024 as a number and 2024-05-01 as a date; both mean the same as quoted."""
    text = yaml.safe_dump(doc(), sort_keys=False).replace("date: '2024'", f"date: {written}")
    assert f"date: {written}\n" in text
    area = load_area(write(tmp_path, text))
    assert area.config.sources[0].date == kept


def test_shipped_example_is_valid():
    area = load_area(EXAMPLE)
    cfg = area.config
    assert (cfg.name, cfg.code, cfg.crs, cfg.cell_size) == ("Dordrecht", "GM0505", "EPSG:28992", 10.0)
    assert [s.name for s in cfg.sources] == ["osm", "natura2000", "muskrat_coypu_catches"]
    assert area.root == EXAMPLE.parent.resolve()
    assert area.resolve(cfg.units.path) == (SAMPLE_DATA / "cbs_buurten_2024_generalised_dordrecht.geojson").resolve()


def test_parse_area_labels_the_error_with_where():
    with pytest.raises(ConfigError) as ei:
        parse_area(doc(cell_size=-1), where="notebook cell 3")
    assert ei.value.message.startswith("notebook cell 3 is not a valid area configuration")


def test_json_schema_documents_the_limits():
    s = json_schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    cs = s["properties"]["cell_size"]
    assert (cs["minimum"], cs["maximum"], cs["default"]) == (1.0, 100.0, 10.0)
    assert s["additionalProperties"] is False
    assert s["$defs"]["SourceSpec"]["additionalProperties"] is False
    assert set(s["required"]) == {"name", "boundary", "sources"}
    assert s == json.loads(json.dumps(s)), "schema must be plain JSON"
    assert s["title"] == "biostress area configuration"
    assert AreaConfig.model_json_schema()["properties"].keys() == s["properties"].keys()


# ----------------------------------------------------------------------------------------------- CLI

CLI_CASES = [("validate", "typo top level"), ("validate", "cell_size too small"), ("validate", "geographic crs"),
             ("run", "cell_size too large"), ("run", "duplicate source names"), ("run", "path and url")]


@pytest.mark.parametrize(("command", "case"), CLI_CASES)
def test_cli_config_error_exit_2_message_on_stderr(tmp_path, command, case):
    content, line = CASES[case]
    p = write(tmp_path, content)
    out = tmp_path / "out"
    args = ["validate", p] if command == "validate" else ["run", p, "--out", out]
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.stdout == ""
    assert f"Error: {p} is not a valid area configuration:" in r.stderr
    assert line in r.stderr
    assert "What to do: See docs/area-config.md" in r.stderr
    assert not out.exists()


def test_cli_invalid_yaml_exit_2(tmp_path):
    p = write(tmp_path, "name: [unclosed\n")
    r = run_cli("run", p, "--out", tmp_path / "out")
    assert r.returncode == 2
    assert f"Error: {p} is not valid YAML" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_area_file_exit_2(tmp_path):
    r = run_cli("validate", tmp_path / "nope.yaml")
    assert r.returncode == 2
    assert f"Error: Area configuration not found: {tmp_path / 'nope.yaml'}" in r.stderr
    assert "What to do: Give the path of an area YAML file" in r.stderr
