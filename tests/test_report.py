"""Municipality report: the summary's numbers against the run's own layers (read here with pyogrio and
rasterio, not through biostress.report), sources with licences, the ranking order, Dutch and English
number formats, the PDF (page count, first-page text), no network while rendering, a clear error
without Pango, the target section from a hand-made table, the Natura 2000 report and bad input."""

from __future__ import annotations

import builtins
import json
import re
import shutil
import socket
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import yaml

from biostress.errors import ConfigError, InputDataError, OutputExistsError, UnsafeInputError
from biostress.report import PdfUnavailableError, i18n, write_natura2000_report, write_report
from biostress.report import data as D
from biostress.report.html import report_context
from biostress.report.pdf import check_local_url, html_to_pdf

DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht"
BBOX = [104000, 423500, 106000, 425500]  # 2 x 2 km around the old centre


def small_run(tmp_path_factory) -> Path:
    """One real pipeline run (with a plan) on 2 x 2 km of Dordrecht, shared with test_action_plan.py
    through the session's base temp folder (made once per test session)."""
    from biostress.config import load_area
    from biostress.pipeline import run_area

    base = tmp_path_factory.getbasetemp()
    out = base / "report_small_run"
    if (out / "manifest.json").is_file():
        return out
    area_dir = base / "report_small_area"
    if not (area_dir / "data").is_dir():
        area_dir.mkdir(exist_ok=True)
        shutil.copytree(DATA / "data", area_dir / "data")
    doc = yaml.safe_load((DATA / "area.yaml").read_text())
    doc["boundary"] = {"bbox": BBOX}
    assert "plan" in doc  # the example's plan section: the run makes a plan
    (area_dir / "area.yaml").write_text(yaml.safe_dump(doc))
    run_area(load_area(area_dir / "area.yaml"), out, overwrite=True)
    return out


def targets_frame() -> pd.DataFrame:
    """A hand-made target table in the form of biostress.targets.evaluate_run."""
    rows = [
        ("gemeente", "GM0505", "Dordrecht", "r330_canopy_30", "canopy_share", 0.12, 0.30, ">=", "share (0-1)",
         "not met", 0.18, "S", "3-30-300", ""),
        ("gemeente", "GM0505", "Dordrecht", "cbi_protected", "natura2000_share", 33.0, 17.0, ">=", "%", "met", 0.0,
         "S", "CBI", ""),
        ("gemeente", "GM0505", "Dordrecht", "r330_3_trees", "homes_with_3_trees_share", np.nan, 0.9, ">=",
         "share (0-1)", "unknown", np.nan, "P", "3-30-300", "no tree register"),
    ]
    return pd.DataFrame(rows, columns=list(D.TARGET_COLUMNS))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory)


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "rep"
    written = write_report(run_dir, out, lang="nl", pdf=True, targets=targets_frame())
    return out, written


def _html(path: Path) -> str:
    return unescape(path.read_text(encoding="utf-8"))


def _summary(html: str) -> str:
    return html.split('<section class="chapter">', 1)[0]


def _section(html: str, number: int) -> str:
    parts = re.split(r'<section class="chapter">', html)
    for p in parts:
        if re.search(rf"<h2[^>]*>{number}\. ", p):
            return p
    raise AssertionError(f"no section {number}")


def _gpkg(run_dir: Path, layer: str) -> pd.DataFrame:
    return pyogrio.read_dataframe(run_dir / "biostress.gpkg", layer=layer, read_geometry=False)


# --------------------------------------------------------------------------------------------
# what the reader relies on
# --------------------------------------------------------------------------------------------

def test_files_written_and_listed(report):
    out, written = report
    for rel in ("report_nl.html", "report_nl.pdf", "action_plan_nl.pdf", "action_plan.xlsx", "action_plan.csv",
                "action_plan.gpkg", "charts/landcover_nl.svg", "charts/landcover_nl.png", "charts/ranking_nl.svg",
                "maps/landcover_nl.png", "manifest.json"):
        assert (out / rel).is_file(), rel
        assert written[rel] == out / rel
    man = json.loads((out / "manifest.json").read_text())
    assert {o["path"] for o in man["outputs"]} >= {"report_nl.html", "report_nl.pdf"}
    # every image the HTML refers to is a file of the report folder
    html = (out / "report_nl.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all((out / s).is_file() for s in srcs)
    assert not re.search(r'(src|href)="(https?:|//)', html)


def test_summary_numbers_equal_the_units_layer(report, run_dir):
    out, _ = report
    g = _gpkg(run_dir, "units_gemeente")
    area = g["area_m2"].to_numpy(float)
    # area-weighted over the municipality rows (here one: its own value)
    green = float((g["green_share"] * area).sum() / area.sum())
    canopy = float((g["canopy_share_mean"] * area).sum() / area.sum())
    imperv = float((g["impervious_share"] * area).sum() / area.sum())
    s = _summary(_html(out / "report_nl.html"))
    tiles = re.findall(r'<div class="tile-value">([^<]+)</div>', s)
    assert tiles[0] == f"{i18n.fmt_num(area.sum() / 1e4, 'nl')} ha"
    assert tiles[1].rstrip("*") == f"{round(100 * green)}%"
    assert tiles[2].rstrip("*") == f"{round(100 * canopy)}%"
    assert tiles[3].rstrip("*") == f"{round(100 * imperv)}%"
    # the lower-bound note: unknown + unresolved built-up cover of the area
    unres = float((g["unknown_m2"].sum() + g["urban_mixed_m2"].sum()) / area.sum())
    assert f"van {round(100 * unres)}% van het gebied" in s


def test_stress_classes_of_the_summary_count_the_raster(report, run_dir):
    out, _ = report
    with rasterio.open(run_dir / "stress_class.tif") as src:
        cls = src.read(1)
    with rasterio.open(run_dir / "landcover.tif") as src:
        inside = src.read(1) != 255
    n_inside = int(inside.sum())
    s = _summary(_html(out / "report_nl.html"))
    legend = re.findall(r'<span class="item"><span class="swatch"[^>]*></span>(\d*) ([^<]*?) (<?[\d,]+%)</span>', s)
    shares = {int(code): pct for code, _label, pct in legend if code}
    for k in range(1, 6):
        expected = 100.0 * int((cls == k).sum()) / n_inside
        shown = shares[k]
        if shown.startswith("<"):
            assert 0 < expected < 0.5
        else:
            assert shown == f"{round(expected)}%"
    vulnerable = 100.0 * int(((cls == 1) | (cls == 2)).sum()) / n_inside
    tiles = re.findall(r'<div class="tile-value">([^<]+)</div>', s)
    assert tiles[4] == f"{round(vulnerable)}%"


def test_three_most_vulnerable_neighbourhoods(report, run_dir):
    out, _ = report
    b = _gpkg(run_dir, "units_buurt")
    b = b[np.isfinite(b["stress_score_mean"])].sort_values(["stress_score_mean", "code"])
    expected = b["name"].head(3).tolist()
    s = _summary(_html(out / "report_nl.html"))
    block = s.split("De drie kwetsbaarste buurten", 1)[1].split("</table>", 1)[0]
    names = re.findall(r"<tr><td>([^<]+)</td>", block)
    assert names == expected


def test_ranking_is_sorted_and_complete(report, run_dir):
    out, _ = report
    html = _html(out / "report_nl.html")
    sec = _section(html, 3)
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>[^<]*</td><td class="num">([^<]+)</td>', sec)
    b = _gpkg(run_dir, "units_buurt")
    assert len(rows) == len(b)
    assert [int(r[0]) for r in rows] == list(range(1, len(b) + 1))
    scores = [float(r[2].replace(",", ".")) if r[2] != i18n.DASH else np.inf for r in rows]
    assert scores == sorted(scores)


def test_every_source_with_its_licence(report, run_dir):
    out, _ = report
    man = json.loads((run_dir / "manifest.json").read_text())
    sec = _section(_html(out / "report_nl.html"), 8)  # methods + sources
    assert man["inputs"]
    for i in man["inputs"]:
        row = re.search(rf"<tr><td>{re.escape(i['name'])}</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", sec)
        assert row, i["name"]
        assert row.group(2) == (i["licence"] or i18n.DASH)
        assert row.group(3) == (str(i["date"]) if i["date"] else i18n.DASH)


def test_dutch_numbers_in_the_plan_sentence(report, run_dir):
    out, _ = report
    pm = _gpkg(run_dir, "plan_measures")
    s = _summary(_html(out / "report_nl.html"))
    n = len(pm)
    gain = float(pm["gain"].sum())
    # Dutch: point for thousands, comma for decimals
    assert f"aan {n:,} blokken".replace(",", ".") in s
    assert f"{gain:,.0f} m² habitatwinst".replace(",", ".") in s


@pytest.mark.parametrize(("x", "lang", "digits", "expected"), [
    (1234.5, "nl", 1, "1.234,5"), (1234.5, "en", 1, "1,234.5"), (1234567, "nl", 0, "1.234.567"),
    (-1234.25, "nl", 2, "\u22121.234,25"), (0.0, "nl", 1, "0,0"), (-0.001, "en", 1, "0.0"), (float("nan"), "nl", 0, "\u2013"),
])
def test_number_formats(x, lang, digits, expected):
    assert i18n.fmt_num(x, lang, digits) == expected


def test_percent_and_euro_formats():
    assert i18n.fmt_pct(0.125, "nl", 1) == "12,5%"
    assert i18n.fmt_pct(0.125, "en", 1) == "12.5%"
    assert i18n.fmt_pct(0.0002, "nl", 1, tiny=True) == "<0,1%"
    assert i18n.fmt_pct(0.0, "nl", 1, tiny=True) == "0,0%"
    assert i18n.fmt_eur(2_000_000, "nl") == "€ 2.000.000"
    assert i18n.fmt_eur(-1500.5, "en", 2) == "\u2212€ 1,500.50"
    assert i18n.fmt_eur_short(1_999_999.8, "nl") == "€ 2,0 miljoen"
    assert i18n.fmt_eur_short(345_600, "en") == "€ 346 thousand"
    assert i18n.fmt_length(1500, "nl") == "1,5 km"
    with pytest.raises(ConfigError):
        i18n.fmt_num(1, "de")


def test_pdf_pages_and_first_page_text(report):
    import pypdfium2 as pdfium

    out, _ = report
    pdf = pdfium.PdfDocument(str(out / "report_nl.pdf"))
    try:
        assert 8 <= len(pdf) <= 40
        first = pdf[0].get_textpage().get_text_range()
        assert "Dordrecht" in first and "Samenvatting voor het bestuur" in first
        assert "De drie kwetsbaarste buurten" in first and "Wat onzeker is" in first
        second = pdf[1].get_textpage().get_text_range()
        # the summary fits on page 1: page 2 starts with the first chapter, nothing of the summary spills over
        assert "1. Landbedekking" in second[:300] and "Details: hoofdstuk" not in second
        last = pdf[len(pdf) - 1].get_textpage().get_text_range()
        assert f"pagina {len(pdf)} van {len(pdf)}" in last
    finally:
        pdf.close()
    ap = pdfium.PdfDocument(str(out / "action_plan_nl.pdf"))
    try:
        assert len(ap) >= 2 and "Lokaal actieplan biodiversiteit" in ap[0].get_textpage().get_text_range()
    finally:
        ap.close()


def test_target_section_from_a_hand_made_table(report):
    out, _ = report
    html = _html(out / "report_nl.html")
    s = _summary(html)
    assert "1 gehaald, 1 niet gehaald, 1 onbekend" in s
    sec = _section(html, 7)
    row = re.search(r"<tr><td>r330_canopy_30</td><td[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td><td><span class=\"([^\"]+)\">"
                    r"([^<]+)</span>", sec)
    assert row and row.groups() == ("12%", "\u2265 30%", "status-not-met", "niet gehaald")
    assert re.search(r"<tr><td>cbi_protected</td><td[^>]*>33,0%</td>", sec)
    assert "r330_3_trees: no tree register" in sec


def test_english_report_formats(run_dir, tmp_path):
    data = D.collect(run_dir)
    ctx = report_context(data, "en", charts={}, maps={}, targets=targets_frame())
    assert ctx["t"]["summary"] == "Summary for the council"
    assert ctx["s"]["targets"]["line"] == "1 met, 1 not met, 1 unknown"
    kn = D.key_numbers(data)
    assert ctx["s"]["tiles"][0]["value"] == f"{kn.area_ha:,.0f} ha"


# --------------------------------------------------------------------------------------------
# offline rendering, PDF errors, bad input
# --------------------------------------------------------------------------------------------

def test_url_fetcher_refuses_network_and_outside_files(tmp_path, monkeypatch):
    calls = []

    def no_network(self, *a, **k):  # any connection attempt would be a failure of the test
        calls.append(a)
        raise AssertionError("network access while rendering")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    root = tmp_path / "rep"
    root.mkdir()
    (tmp_path / "outside.png").write_bytes(b"x")
    for src in ("http://example.com/x.png", "https://example.com/x.css", "../outside.png", "data:image/png;base64,AA=="):
        (root / "r.html").write_text(f'<html><body><img src="{src}"><p>x</p></body></html>', encoding="utf-8")
        with pytest.raises(UnsafeInputError):
            html_to_pdf(root / "r.html", tmp_path / "r.pdf", root)
        assert not (tmp_path / "r.pdf").exists()
    assert calls == []
    with pytest.raises(UnsafeInputError, match="outside the report folder"):
        check_local_url((tmp_path / "outside.png").as_uri(), root)
    (root / "ok.png").write_bytes(b"x")
    assert check_local_url((root / "ok.png").as_uri(), root) == (root / "ok.png").resolve()


def test_missing_pango_gives_a_clear_error_and_the_html(run_dir, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    out = tmp_path / "rep"
    with pytest.raises(PdfUnavailableError) as e:
        write_report(run_dir, out, lang="en", pdf=True, targets=targets_frame())
    assert "libpango-1.0-0" in str(e.value) and "make setup" in str(e.value)
    assert (out / "report_en.html").is_file() and not (out / "report_en.pdf").exists()
    assert e.value.written["report_en.html"] == out / "report_en.html"
    man = json.loads((out / "manifest.json").read_text())
    assert any("PDF not made" in w for w in man["warnings"])


def test_bad_input(run_dir, tmp_path, report):
    out, _ = report
    with pytest.raises(InputDataError, match="no manifest.json"):
        write_report(tmp_path, tmp_path / "x")
    with pytest.raises(ConfigError, match="Unknown report language"):
        write_report(run_dir, tmp_path / "y", lang="fr")
    with pytest.raises(InputDataError, match="lacks the column"):
        write_report(run_dir, tmp_path / "z", targets=targets_frame().drop(columns=["status"]))
    bad = targets_frame()
    bad.loc[0, "status"] = "maybe"
    with pytest.raises(InputDataError, match="unknown status"):
        write_report(run_dir, tmp_path / "z", targets=bad)
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(OutputExistsError):
        write_report(run_dir, out, pdf=False, targets=targets_frame())
    assert (out / "manifest.json").read_bytes() == before


def test_templates_ship_with_the_package():
    import importlib.resources as r

    names = {p.name for p in (r.files("biostress.report") / "templates").iterdir()}
    assert {"base.html.j2", "report.html.j2", "action_plan.html.j2", "natura2000.html.j2", "macros.html.j2",
            "report.css"} <= names


# --------------------------------------------------------------------------------------------
# Natura 2000 surroundings report (a hand-made folder in the form write_surroundings writes)
# --------------------------------------------------------------------------------------------

def _n2k_folder(tmp_path: Path) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    from biostress.store.runfolder import RunFolder

    folder = tmp_path / "n2k"
    with RunFolder(folder) as run:
        run.set_parameters({"site": "NL3000040", "distance_m": 1000.0})
        site = gpd.GeoDataFrame({"site_code": ["NL3000040"], "site_name": ["Biesbosch"], "area_ha": [100.0],
                                 "zone_distance_m": [1000.0]}, geometry=[box(0, 0, 1000, 1000)], crs="EPSG:28992")
        run.write_vector("natura2000_site", site, units=None, description="site")
        run.write_table("natura2000_summary", pd.DataFrame({
            "part": ["site", "zone"], "pressure": ["drying_out", "hostile_surroundings"],
            "metric": ["drained_share", "hostile_share_within_1000_m"], "value": [0.4669, 0.0957],
            "units": ["share of land cover 0-1", "share of land cover 0-1"], "status": ["ok", "ok"]}),
            description="summary")
        run.write_table("natura2000_measures", pd.DataFrame({
            "measure_id": ["extensive_grassland"], "name_en": ["Extensive grassland management"],
            "name_nl": ["Extensief graslandbeheer"], "status": ["fits"], "fits_ha": [808.3],
            "converted_ha": [238.9], "capex_eur_per_ha": [0.0], "cost_eur_per_ha_yr": [892.86],
            "revenue_eur_per_ha_yr": [750.0], "npv_eur_per_ha": [-3092.25], "pays_off": ["no"],
            "extra_1": [1.0]}), description="measures")
        png = tmp_path / "map.png"
        from PIL import Image

        Image.new("RGB", (20, 10), (40, 120, 60)).save(png)
        run.write_file("maps/natura2000_NL3000040_nl.png", png.read_bytes(), kind="png", description="map")
    return folder


def test_natura2000_report(tmp_path):
    folder = _n2k_folder(tmp_path)
    out = tmp_path / "n2k_report"
    written = write_natura2000_report(folder, out, lang="nl", pdf=False)
    html = _html(written["natura2000_nl.html"])
    assert "Omgeving Natura 2000-gebied: Biesbosch (NL3000040)" in html
    assert "een zone van 1,0 km" in html
    assert "<td>Extensief graslandbeheer</td>" in html
    assert "46,7%" in html and "9,6%" in html  # shares by the row's units, Dutch separators
    assert "€ 893" in html and "\u2212€ 3.092" in html
    assert "extra_1" not in html  # only the columns a reader needs; all are in the GeoPackage
    assert (out / "maps" / "natura2000_NL3000040_nl.png").is_file()
    assert '<img src="maps/natura2000_NL3000040_nl.png"' in written["natura2000_nl.html"].read_text()
    with pytest.raises(InputDataError, match="no manifest.json"):
        write_natura2000_report(tmp_path / "nothing", tmp_path / "o")


def test_cli_report_and_plot(run_dir, tmp_path):
    from typer.testing import CliRunner

    from biostress.cli import app

    r = CliRunner().invoke(app, ["report", str(run_dir), "--lang", "en", "--no-pdf", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "report_en.html").exists() and (tmp_path / "r" / "action_plan.xlsx").exists()
    r = CliRunner().invoke(app, ["report", str(run_dir), "--lang", "de", "--out", str(tmp_path / "r2")])
    assert r.exit_code != 0 and "Unknown language" in r.output
    r = CliRunner().invoke(app, ["plot", str(run_dir), "--xy", "105000, 424500", "--no-pdf", "--out",
                                 str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert any((tmp_path / "p").glob("*.html"))
    r = CliRunner().invoke(app, ["plot", str(run_dir), "--out", str(tmp_path / "p2")])
    assert r.exit_code != 0 and "exactly one" in r.output


def test_aggregates_gpkg_holds_objects_and_targets(report):
    import pyogrio

    out, written = report
    path = written["aggregates.gpkg"]
    layers = {n for n, _ in pyogrio.list_layers(path)}
    assert {"street_segments", "verges", "targets"} <= layers
    seg = pyogrio.read_dataframe(path, layer="street_segments")
    assert "green_share_mean" in seg.columns and seg["green_share_mean"].dropna().between(0, 1).all()
    assert len(pyogrio.read_dataframe(path, layer="targets")) == len(targets_frame())


def test_cli_report_from_an_area_file(tmp_path, write_area):
    import geopandas as gpd
    import shapely
    from typer.testing import CliRunner

    from biostress.cli import app
    from conftest import source

    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    gpd.GeoDataFrame({"typ": ["gras", "bos"]}, geometry=[shapely.box(105000, 424000, 105500, 425000),
                                                         shapely.box(105500, 424000, 106000, 425000)],
                     crs="EPSG:28992").to_file(proj / "green.gpkg")
    area = write_area([source("green", "landcover_vector", "green.gpkg", class_column="typ",
                              class_map={"gras": "lawn_grass", "bos": "trees_woodland"})],
                      indicators={"enabled": ["green", "habitat_quality"]})
    r = CliRunner().invoke(app, ["report", str(area), "--lang", "en", "--no-pdf", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep-run" / "manifest.json").exists() and (tmp_path / "rep" / "report_en.html").exists()
