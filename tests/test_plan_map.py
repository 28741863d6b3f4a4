"""Plan map: legend counts and costs by hand, block colours read back from the PNG, both languages,
and the plan map of a run folder only when its GeoPackage holds a plan."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import matplotlib.image as mpimg
import numpy as np
import pytest
from shapely.geometry import box

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.maps import preview
from biostress.maps.results import (
    PLAN_OTHER_COLOUR,
    PLAN_SEVERAL_COLOUR,
    format_count,
    format_eur,
    plan_legend,
    render_plan_map,
    render_run_maps,
)

DPI = 100
MAP_IN = 6.0
X0, Y0 = 100_000.0, 400_000.0
BOUNDS = (X0, Y0, X0 + 600.0, Y0 + 400.0)  # 600 m x 400 m: 1 inch per 100 m on a 6-inch map
GRID = Grid("EPSG:28992", X0, Y0 + 400.0, 10.0, 60, 40)  # the same extent as a grid
# Paul Tol's "muted" scheme, first three colours (personal.sron.nl/~pault): rose, indigo, sand
ROSE, INDIGO, SAND = "#cc6677", "#332288", "#ddcc77"

NAMES = {"street_tree": ("Street trees", "Straatbomen"), "bat_box": ("Bat boxes", "Vleermuiskasten"),
         "hedgehog_passage": ("Hedgehog passages", "Egelpoortjes"), "pond": ("Pond", "Poel")}


class _Catalogue:
    """A stand-in catalogue: ``get(id)`` with ``name_en`` / ``name_nl``, ConfigError when unknown."""

    def get(self, measure_id: str):
        if measure_id not in NAMES:
            raise ConfigError(f"No measure {measure_id!r}")
        en, nl = NAMES[measure_id]
        return SimpleNamespace(name_en=en, name_nl=nl)


CAT = _Catalogue()


def _block(col: int, row: int) -> object:
    """The 100 m block in column ``col`` (from the west) and row ``row`` (from the north)."""
    return box(X0 + col * 100, Y0 + 400 - (row + 1) * 100, X0 + (col + 1) * 100, Y0 + 400 - row * 100)


# street_tree: 3 blocks, 1000 + 2000 + 341 290 = EUR 344 290; bat_box: 2 blocks, 10 + 20.4 = EUR 30.4;
# hedgehog_passage: 1 block, EUR 0.
ROWS = [(1, "street_tree", 1000.0, 0, 0), (2, "street_tree", 2000.0, 1, 0), (3, "street_tree", 341_290.0, 2, 0),
        (4, "bat_box", 10.0, 0, 2), (5, "bat_box", 20.4, 1, 2), (6, "hedgehog_passage", 0.0, 4, 1)]


def _blocks(rows=ROWS, crs: str = "EPSG:28992") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"site": [r[0] for r in rows], "measure": [r[1] for r in rows],
                             "cost": [r[2] for r in rows], "gain": [1.0] * len(rows)},
                            geometry=[_block(r[3], r[4]) for r in rows], crs=crs)


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.int64)


def _read_rgb(path: Path) -> np.ndarray:
    return np.round(mpimg.imread(path)[..., :3] * 255).astype(np.int64)


def _colour_at_block(rgb: np.ndarray, col: int, row: int) -> np.ndarray:
    """Colour at the centre of block (col, row): the map's upper-left corner is at (_MARGIN,
    _TITLE_H) inches and 100 m is one inch (a one-line title)."""
    r = int((preview._TITLE_H + row + 0.5) * DPI)
    c = int((preview._MARGIN + col + 0.5) * DPI)
    patch = rgb[r - 3:r + 4, c - 3:c + 4].reshape(-1, 3)
    assert (patch == patch[0]).all(), "sample a uniform region"
    return patch[0]


def _has_swatch(rgb: np.ndarray, colour: str) -> bool:
    """A 5 x 5 pixel block of exactly ``colour`` right of the map (a legend swatch)."""
    panel = rgb[:, int((preview._MARGIN + MAP_IN + 0.1) * DPI):]
    match = np.abs(panel - _rgb(colour)).max(axis=2) <= 1
    return bool(np.lib.stride_tricks.sliding_window_view(match, (5, 5)).all(axis=(2, 3)).any())


# ---------------------------------------------------------------------------------------------
# Formatting and legend
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("v", "en", "nl"), [
    (0.0, "EUR 0", "EUR 0"),
    (0.3, "< EUR 1", "< EUR 1"),
    (0.61, "EUR 1", "EUR 1"),
    (611.2, "EUR 611", "EUR 611"),
    (12_345.0, "EUR 12.3k", "EUR 12.300"),
    (344_290.0, "EUR 344k", "EUR 344.000"),
    (1_234_567.0, "EUR 1.23M", "EUR 1,23 mln"),
    (999_700.0, "EUR 1M", "EUR 1 mln"),  # 3 significant digits round up into millions
    (4.5e9, "EUR 4.5bn", "EUR 4,5 mld"),
    (-2_500.0, "\u2212EUR 2.5k", "\u2212EUR 2.500"),
])
def test_format_eur_by_hand(v, en, nl):
    assert format_eur(v, "en") == en
    assert format_eur(v, "nl") == nl


def test_format_count_and_bad_amount():
    assert format_count(6813, "en") == "6,813"
    assert format_count(6813, "nl") == "6.813"
    assert format_count(12, "nl") == "12"
    with pytest.raises(ValueError, match="finite"):
        format_eur(float("nan"))


def test_plan_legend_counts_and_costs_by_hand():
    entries, fill = plan_legend(_blocks(), "en", CAT)
    # most blocks first: street_tree (3), bat_box (2), hedgehog_passage (1); Tol muted in order
    assert [(e.name, e.blocks, e.colour) for e in entries] == [
        ("Street trees", 3, ROSE), ("Bat boxes", 2, INDIGO), ("Hedgehog passages", 1, SAND)]
    assert [e.cost for e in entries] == pytest.approx([344_290.0, 30.4, 0.0])
    assert [e.label for e in entries] == ["Street trees \u2014 3 blocks, EUR 344k",
                                          "Bat boxes \u2014 2 blocks, EUR 30",
                                          "Hedgehog passages \u2014 1 block, EUR 0"]
    assert list(fill) == [ROSE, ROSE, ROSE, INDIGO, INDIGO, SAND]
    nl, fill_nl = plan_legend(_blocks(), "nl", CAT)
    assert [e.label for e in nl] == ["Straatbomen \u2014 3 blokken, EUR 344.000",
                                     "Vleermuiskasten \u2014 2 blokken, EUR 30",
                                     "Egelpoortjes \u2014 1 blok, EUR 0"]
    assert list(fill_nl) == list(fill)  # the same colours in both languages


def test_plan_legend_ties_by_cost_and_unknown_measure_keeps_its_id():
    rows = [(1, "pond", 5.0, 0, 0), (2, "my_own_measure", 50.0, 1, 0)]  # one block each: costlier first
    entries, _ = plan_legend(_blocks(rows), "en", CAT)
    assert [(e.name, e.colour) for e in entries] == [("my_own_measure", ROSE), ("Pond", INDIGO)]


def test_plan_legend_built_in_catalogue_names():
    from biostress.measures import load_catalogue

    cat = load_catalogue()
    entries, _ = plan_legend(_blocks(), "nl", cat)
    assert entries[0].name == cat.get("street_tree").name_nl
    assert entries[2].name == cat.get("hedgehog_passage").name_nl


def test_plan_legend_more_measures_than_colours_merges_the_rest():
    rows = [(1, "street_tree", 1.0, 0, 0), (2, "street_tree", 1.0, 1, 0), (3, "street_tree", 1.0, 2, 0),
            (4, "bat_box", 2.0, 0, 1), (5, "bat_box", 2.0, 1, 1), (6, "pond", 7.0, 0, 2),
            (7, "hedgehog_passage", 5.0, 1, 2)]
    entries, fill = plan_legend(_blocks(rows), "en", CAT, colours=("#111111", "#222222", "#333333"))
    # 4 measures, 3 colours: the first two keep theirs, pond and hedgehog_passage become "other"
    assert [(e.name, e.colour, e.blocks) for e in entries] == [
        ("Street trees", "#111111", 3), ("Bat boxes", "#222222", 2), ("Other measures (2)", PLAN_OTHER_COLOUR, 2)]
    assert entries[2].cost == pytest.approx(12.0)
    assert entries[2].measures == ("pond", "hedgehog_passage")
    assert list(fill[5:]) == [PLAN_OTHER_COLOUR, PLAN_OTHER_COLOUR]


def test_plan_legend_block_with_several_measures():
    rows = [(1, "street_tree", 100.0, 0, 0), (1, "bat_box", 30.0, 0, 0), (2, "bat_box", 20.0, 1, 0)]
    entries, fill = plan_legend(_blocks(rows), "en", CAT)
    # per measure every row counts; one extra entry for the one block holding two measures
    assert [(e.name, e.blocks) for e in entries] == [("Bat boxes", 2), ("Street trees", 1),
                                                     ("Blocks with several measures", 1)]
    assert entries[2].cost == pytest.approx(130.0)
    assert list(fill) == [PLAN_SEVERAL_COLOUR, PLAN_SEVERAL_COLOUR, ROSE]


def test_plan_legend_empty_plan():
    entries, fill = plan_legend(_blocks([]), "en", CAT)
    assert entries == [] and len(fill) == 0


def test_plan_bad_input_is_clear(tmp_path):
    with pytest.raises(InputDataError, match="cost"):
        plan_legend(_blocks().drop(columns="cost"), "en", CAT)
    bad = _blocks()
    bad.loc[2, "cost"] = np.nan
    with pytest.raises(InputDataError, match="finite cost"):
        plan_legend(bad, "en", CAT)
    with pytest.raises(InputDataError, match="projected"):
        render_plan_map(_blocks().to_crs("EPSG:4326"), tmp_path / "x.png", title="t", legend_title="l",
                        catalogue=CAT)
    with pytest.raises(InputDataError, match="GeoDataFrame"):
        render_plan_map(_blocks().drop(columns="geometry"), tmp_path / "x.png", title="t", legend_title="l",
                        catalogue=CAT)
    with pytest.raises(ValueError, match="lang"):
        render_plan_map(_blocks(), tmp_path / "x.png", title="t", legend_title="l", lang="de", catalogue=CAT)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Rendered PNGs
# ---------------------------------------------------------------------------------------------

def _units() -> gpd.GeoDataFrame:
    """Two units split along x = X0 + 300 (a block edge, away from the block centres)."""
    return gpd.GeoDataFrame({"name": ["w", "e"]}, geometry=[box(X0, Y0, X0 + 300, Y0 + 400),
                                                            box(X0 + 300, Y0, X0 + 600, Y0 + 400)],
                            crs="EPSG:28992")


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_plan_map_block_colours_and_legend_swatches(tmp_path, lang):
    out = render_plan_map(_blocks(), tmp_path / f"plan_{lang}.png", title="Plan", legend_title="Measure",
                          boundary=box(*BOUNDS), units=_units(), lang=lang, attribution="test", catalogue=CAT,
                          dpi=DPI, map_size_in=MAP_IN, bounds=BOUNDS)
    assert out == tmp_path / f"plan_{lang}.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rgb = _read_rgb(out)
    for col, row, colour in [(0, 0, ROSE), (2, 0, ROSE), (1, 2, INDIGO), (4, 1, SAND)]:
        assert tuple(_colour_at_block(rgb, col, row)) == tuple(_rgb(colour)), (col, row)
    assert tuple(_colour_at_block(rgb, 5, 3)) == (255, 255, 255)  # no block there
    for colour in (ROSE, INDIGO, SAND):
        assert _has_swatch(rgb, colour)
    assert not _has_swatch(rgb, PLAN_SEVERAL_COLOUR)
    assert [p.name for p in tmp_path.iterdir()] == [f"plan_{lang}.png"]  # written atomically


def test_plan_map_several_measures_drawn_grey(tmp_path):
    rows = [(1, "street_tree", 100.0, 0, 0), (1, "bat_box", 30.0, 0, 0), (2, "bat_box", 20.0, 1, 0)]
    out = render_plan_map(_blocks(rows), tmp_path / "p.png", title="Plan", legend_title="Measure", catalogue=CAT,
                          dpi=DPI, map_size_in=MAP_IN, bounds=BOUNDS)
    rgb = _read_rgb(out)
    assert tuple(_colour_at_block(rgb, 0, 0)) == tuple(_rgb(PLAN_SEVERAL_COLOUR))
    assert tuple(_colour_at_block(rgb, 1, 0)) == tuple(_rgb(ROSE))


def test_plan_map_empty_plan_draws_outlines(tmp_path):
    out = render_plan_map(_blocks([]), tmp_path / "p.png", title="Plan", legend_title="Measure",
                          boundary=box(*BOUNDS), catalogue=CAT, dpi=DPI, map_size_in=MAP_IN)
    assert out.is_file()
    with pytest.raises(ValueError, match="nothing to draw"):
        render_plan_map(_blocks([]), tmp_path / "q.png", title="Plan", legend_title="Measure", catalogue=CAT)


# ---------------------------------------------------------------------------------------------
# Run folder
# ---------------------------------------------------------------------------------------------

def test_run_maps_plan_layer_gives_plan_maps_in_both_languages(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _blocks().to_file(run / "biostress.gpkg", layer="plan_measures", driver="GPKG")
    out = render_run_maps(run, GRID, out_dir=tmp_path / "png", boundary=box(*BOUNDS), units=_units(),
                          attribution="test", area_name="Testdorp", dpi=DPI, map_size_in=MAP_IN)
    assert [n for n, _, _ in out] == ["maps/plan_en.png", "maps/plan_nl.png"]
    for _, path, desc in out:
        assert path.parent == tmp_path / "png" and "plan" in desc
        rgb = _read_rgb(path)
        # built-in catalogue, same ordering: street_tree rose, bat_box indigo, hedgehog_passage sand
        assert tuple(_colour_at_block(rgb, 1, 0)) == tuple(_rgb(ROSE))
        assert tuple(_colour_at_block(rgb, 0, 2)) == tuple(_rgb(INDIGO))
        assert tuple(_colour_at_block(rgb, 4, 1)) == tuple(_rgb(SAND))


def test_run_maps_without_plan_layer_gives_no_plan_map(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    gpd.GeoDataFrame({"name": ["area"]}, geometry=[box(*BOUNDS)], crs="EPSG:28992").to_file(
        run / "biostress.gpkg", layer="boundary", driver="GPKG")
    assert render_run_maps(run, GRID, out_dir=tmp_path / "png") == []
    assert not (tmp_path / "png").exists()
