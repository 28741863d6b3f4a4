"""The measures catalogue: contents checked against the knowledge base, validation errors that name
the measure and the field, the flat table, and the per-cell effects (hand-computed)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import yaml

from biostress.errors import ConfigError, InputDataError
from biostress.landcover.legend import load_legend
from biostress.measures import rules
from biostress.measures.catalogue import (
    apply_transitions,
    converted_area_m2,
    data_path,
    load_catalogue,
    units_per_cell,
)

REQUIRED = [
    "green_roof_extensive", "green_roof_intensive", "green_blue_roof", "green_facade", "facade_garden", "depaving",
    "permeable_paving", "disconnect_downpipe", "street_tree", "tiny_forest", "pocket_park", "wadi", "urban_wetland",
    "pond", "flower_grassland", "sinus_mowing", "hedge", "nest_brick", "nest_box", "bat_box", "insect_hotel",
    "hedgehog_passage", "dark_lighting", "schoolyard", "daylight_stream", "hedgerow_rural", "field_margin",
    "buffer_strip", "extensive_grassland", "herb_rich_grassland", "plas_dras", "rewetting", "agroforestry",
    "amphibian_tunnel", "wildlife_crossing",
]
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
GUIDE_SPECIES = {"icarusblauwtje", "kleine_vos", "egel", "huismus", "gierzwaluw", "huiszwaluw", "dwergvleermuis",
                 "kamsalamander", "bruine_kikker_pad", "ringslang", "ijsvogel", "ringmus", "zanglijster", "wilde_bij"}


@pytest.fixture(scope="module")
def legend():
    return load_legend()


@pytest.fixture(scope="module")
def cat(legend):
    return load_catalogue(legend=legend)


@pytest.fixture(scope="module")
def raw():
    return yaml.load(data_path("measures.yaml").read_text(encoding="utf-8"), Loader=LOADER)


# ------------------------------------------------------------------ contents

def test_all_required_measures_and_at_least_32(cat):
    assert len(cat) >= 32
    missing = [m for m in REQUIRED if m not in cat.ids]
    assert not missing
    assert len(set(cat.ids)) == len(cat.ids)


def test_every_number_has_ev_and_source_in_the_raw_file(raw):
    """Independent of the loader: walk the YAML and check every {value: ...} leaf."""
    keys = set(raw["sources"])
    seen = 0

    def walk(node, where):
        nonlocal seen
        if isinstance(node, dict):
            if any(k in node for k in ("share", "per_m2", "per_ha", "per_site", "amount_eur", "rule")):
                assert node.get("ev") in ("V", "S", "R", "P"), where
                src = node.get("source")
                src = [src] if isinstance(src, str) else src
                assert src and all(s in keys for s in src), where
            if "value" in node:
                seen += 1
                assert node.get("ev") in ("V", "S", "R", "P"), where
                src = node.get("source")
                src = [src] if isinstance(src, str) else src
                assert src and all(s in keys for s in src), where
                if node.get("midpoint"):
                    assert math.isclose(node["value"], (node["low"] + node["high"]) / 2), where
                if node.get("low") is not None and node.get("high") is not None and node["value"] is not None:
                    assert node["low"] <= node["value"] <= node["high"], where
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(raw["measures"], "measures")
    assert seen >= 3 * len(raw["measures"])  # at least capex, lifetime and one more each


def test_source_keys_include_the_knowledge_base_keys(raw):
    for k in ("MKBA-dak", "AGV", "TF", "AST", "RVO-KA", "UGF", "BFF", "DIN", "K2021", "B2010", "SP2017", "NKNB"):
        assert k in raw["sources"]


def test_values_match_the_knowledge_base(cat):
    """Spot checks against KB section 3 (numbers copied from the base by hand)."""
    g = cat.get("green_roof_extensive")
    assert (g.capex_eur.value, g.capex_eur.ev, g.capex_eur.source) == (59.27, "S", ["MKBA-dak"])
    assert (g.opex_eur_yr.low, g.opex_eur_yr.high, g.opex_eur_yr.value, g.opex_eur_yr.ev) == (1, 3, 2, "R")
    assert g.runoff_coefficient.value == 0.5 and g.green_factor_ugf.value == 0.7 and g.green_factor_bff.value == 0.5
    agv = [s for s in g.subsidies if s.region == "AGV"][0]
    assert (agv.amount_eur, agv.max_eur, agv.per, agv.ev) == (20, 1100, "unit", "V")
    t = cat.get("street_tree")
    assert (t.capex_eur.value, t.capex_eur.ev, t.opex_eur_yr.value) == (500, "V", 10)
    assert (t.cooling_c.value, t.cooling_c.ev, t.cooling_c.source) == (0.8, "V", ["K2021"])
    assert (t.lifetime_yr.low, t.lifetime_yr.high, t.lifetime_yr.value) == (50, 80, 65)
    tf = cat.get("tiny_forest")
    assert (tf.capex_eur.low, tf.capex_eur.high, tf.capex_eur.value) == (20000, 25000, 22500)
    assert tf.subsidies[0].amount_eur == 7500
    w = cat.get("wadi")
    assert (w.capex_eur.value, w.opex_eur_yr.value, w.green_factor_ugf.value) == (75, 0.75, 0.7)
    assert w.subsidies[0].share == pytest.approx(1 / 3, abs=1e-3)
    assert cat.get("green_roof_intensive").runoff_coefficient.value == 0.2
    assert cat.get("permeable_paving").runoff_coefficient.value == 0.4
    assert cat.get("hedge").green_factor_ugf.value == 0.6
    assert cat.get("pocket_park").cooling_c.value == 0.94
    assert cat.get("rain_barrel").subsidies[0].amount_eur == 30
    assert cat.get("green_facade").subsidies[0].amount_eur == 25
    assert cat.get("disconnect_downpipe").capex_eur.value == 48
    # R in the base stays R
    for mid in ("pocket_park", "green_blue_roof", "pond", "amphibian_tunnel", "wildlife_crossing", "insect_hotel"):
        assert cat.get(mid).capex_eur.ev == "R", mid
    # the ANLb cost is the payment / 0.84 (84 % rule) and marked P
    fm = cat.get("field_margin")
    assert fm.revenue_eur_yr.value == 1750 and fm.revenue_eur_yr.ev == "R"
    assert fm.opex_eur_yr.value == pytest.approx(1750 / 0.84, abs=0.01) and fm.opex_eur_yr.ev == "P"


def test_references_are_known(cat, legend):
    known = rules.known_variables(legend)
    for m in cat:
        assert set(m.guide_species) <= GUIDE_SPECIES, m.id
        for t in m.transitions:
            assert t.from_ in legend.keys and t.to in legend.keys and 0 < t.share <= 1
        rules.validate_rule(m.fits.rule, known)
        assert m.explain_en and m.explain_nl


def test_to_frame_is_flat_with_sources(cat):
    df = cat.to_frame()
    assert len(df) == len(cat) and list(df["id"]) == cat.ids
    row = df.set_index("id").loc["street_tree"]
    assert row["capex_eur"] == 500 and row["capex_eur_ev"] == "V" and row["capex_eur_source"] == "RVO-KA"
    assert row["cooling_c_source"] == "K2021"
    assert "road->trees_woodland:0.1" in row["transitions"]
    assert np.isnan(df.set_index("id").loc["permeable_paving", "capex_eur"])  # unknown stays unknown
    assert "AGV" in df.set_index("id").loc["depaving", "subsidies"]
    assert set(cat.sources_frame()["key"]) >= {"KB", "BIOSTRESS"}


def test_by_setting_and_get(cat):
    urban = {m.id for m in cat.by_setting("urban")}
    rural = {m.id for m in cat.by_setting("rural")}
    assert "green_roof_extensive" in urban and "green_roof_extensive" not in rural
    assert "field_margin" in rural and "field_margin" not in urban
    assert "pond" in urban and "pond" in rural  # setting both
    assert urban | rural == set(cat.ids)
    with pytest.raises(ConfigError, match="no_such"):
        cat.get("no_such")
    with pytest.raises(ConfigError):
        cat.by_setting("suburban")


# ------------------------------------------------------------------ validation errors

def _load_mutated(tmp_path: Path, raw: dict, legend, mutate) -> None:
    doc = copy.deepcopy(raw)
    mutate(doc)
    p = tmp_path / "measures.yaml"
    p.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_catalogue(p, legend=legend, species_ids=GUIDE_SPECIES)


def _m(doc: dict, mid: str) -> dict:
    return next(m for m in doc["measures"] if m["id"] == mid)


BAD = [
    ("unknown class", lambda d: _m(d, "depaving")["transitions"][0].update({"to": "gardn"}),
     ["depaving", "transitions[0].to", "gardn"]),
    ("share above 1", lambda d: _m(d, "depaving")["transitions"][0].update({"share": 1.5}),
     ["depaving", "transitions[0].share"]),
    ("shares add up above 1", lambda d: _m(d, "pocket_park")["transitions"][0].update({"share": 0.9}),
     ["pocket_park", "transitions", "more than 1"]),
    ("negative capex", lambda d: _m(d, "hedge")["capex_eur"].update({"value": -5, "low": None, "high": None,
                                                                      "midpoint": False}),
     ["hedge", "capex_eur", "negative"]),
    ("negative opex", lambda d: _m(d, "street_tree")["opex_eur_yr"].update({"value": -1}),
     ["street_tree", "opex_eur_yr"]),
    ("lifetime zero", lambda d: _m(d, "nest_box")["lifetime_yr"].update({"value": 0, "low": None, "high": None,
                                                                        "midpoint": False}),
     ["nest_box", "lifetime_yr"]),
    ("duplicate id", lambda d: d["measures"].append(copy.deepcopy(_m(d, "pond"))), ["pond", "more than once"]),
    ("unknown guide species", lambda d: _m(d, "pond")["guide_species"].append("draak"),
     ["pond", "guide_species", "draak"]),
    ("fits does not parse", lambda d: _m(d, "wadi")["fits"].update({"rule": "runoff_depth >"}),
     ["wadi", "fits.rule"]),
    ("fits unknown variable", lambda d: _m(d, "wadi")["fits"].update({"rule": "runof_depth > 10"}),
     ["wadi", "fits.rule", "runof_depth"]),
    ("fits hostile", lambda d: _m(d, "wadi")["fits"].update({"rule": "__import__('os')"}),
     ["wadi", "fits.rule"]),
    ("unknown source key", lambda d: _m(d, "pond")["capex_eur"].update({"source": "NOWHERE"}),
     ["pond", "capex_eur.source", "NOWHERE"]),
    ("bad ev", lambda d: _m(d, "pond")["capex_eur"].update({"ev": "X"}), ["pond", "capex_eur.ev"]),
    ("midpoint mismatch", lambda d: _m(d, "pond")["capex_eur"].update({"value": 31}), ["pond", "capex_eur"]),
    ("runoff above 1", lambda d: _m(d, "wadi").update({"runoff_coefficient": {"value": 1.2, "ev": "P",
                                                                              "source": "BIOSTRESS"}}),
     ["wadi", "runoff_coefficient"]),
    ("relief above 1", lambda d: _m(d, "dark_lighting")["stressor_relief"]["light"].update({"value": 2}),
     ["dark_lighting", "stressor_relief.light"]),
    ("unknown stressor", lambda d: _m(d, "dark_lighting")["stressor_relief"].update(
        {"smell": {"value": 0.1, "ev": "P", "source": "BIOSTRESS"}}), ["dark_lighting", "stressor_relief"]),
    ("converted area without transitions", lambda d: _m(d, "pond").update({"transitions": []}),
     ["pond", "quantity.basis"]),
    ("quantity class", lambda d: _m(d, "nest_box")["quantity"]["classes"].append("forest"),
     ["nest_box", "quantity.classes", "forest"]),
    ("subsidy without amount", lambda d: _m(d, "rain_barrel")["subsidies"][0].pop("amount_eur"),
     ["rain_barrel", "subsidies[0]"]),
    ("unknown field", lambda d: _m(d, "pond").update({"capex": 3}), ["pond", "capex"]),
    ("bad setting", lambda d: _m(d, "pond").update({"setting": "suburb"}), ["pond", "setting"]),
]


@pytest.mark.parametrize("name,mutate,words", BAD, ids=[b[0] for b in BAD])
def test_invalid_catalogue_names_measure_and_field(tmp_path, raw, legend, name, mutate, words):
    with pytest.raises(ConfigError) as e:
        _load_mutated(tmp_path, raw, legend, mutate)
    for w in words:
        assert w in str(e.value), (name, str(e.value))


def test_the_unmutated_copy_loads(tmp_path, raw, legend):
    _load_mutated(tmp_path, raw, legend, lambda d: None)


def test_unreadable_catalogue(tmp_path):
    p = tmp_path / "measures.yaml"
    p.write_text("measures: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Cannot read"):
        load_catalogue(p)
    with pytest.raises(ConfigError):
        load_catalogue(tmp_path / "nope.yaml")


def test_params_dir_copy_overrides(tmp_path, raw, legend):
    doc = copy.deepcopy(raw)
    doc["measures"] = [m for m in doc["measures"] if m["id"] in ("pond", "hedge")]
    (tmp_path / "measures.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    c = load_catalogue(params_dir=tmp_path, legend=legend)
    assert c.ids == ["hedge", "pond"] or c.ids == ["pond", "hedge"]


# ------------------------------------------------------------------ per-cell effects

def _stack(legend, cells: list[dict[str, float]]) -> np.ndarray:
    fr = np.zeros((len(legend.classes), 1, len(cells)), dtype=np.float32)
    for j, c in enumerate(cells):
        if c is None:
            fr[:, 0, j] = np.nan
            continue
        for k, v in c.items():
            fr[legend.keys.index(k), 0, j] = v
    return fr


def test_converted_area_units_and_transitions_depaving(cat, legend):
    m = cat.get("depaving")  # paved_other -> garden 0.3, urban_mixed -> garden 0.1
    fr = _stack(legend, [{"paved_other": 0.5, "building": 0.5}, {"paved_other": 0.2, "urban_mixed": 0.8}, None])
    # cell 100 m2: 0.3 * 0.5 * 100 = 15; 0.3 * 0.2 * 100 + 0.1 * 0.8 * 100 = 6 + 8 = 14
    np.testing.assert_allclose(converted_area_m2(m, fr, legend, 100.0), [[15.0, 14.0, np.nan]], rtol=1e-6)
    np.testing.assert_allclose(units_per_cell(m, fr, legend, 100.0), [[15.0, 14.0, np.nan]], rtol=1e-6)
    after = apply_transitions(m, fr, legend)
    k = legend.keys.index
    np.testing.assert_allclose(after[k("paved_other"), 0, :2], [0.35, 0.14], rtol=1e-6)
    np.testing.assert_allclose(after[k("urban_mixed"), 0, :2], [0.0, 0.72], rtol=1e-6)
    np.testing.assert_allclose(after[k("garden_allotment"), 0, :2], [0.15, 0.14], rtol=1e-6)
    np.testing.assert_allclose(after.sum(axis=0)[0, :2], [1.0, 1.0], rtol=1e-6)
    assert np.isnan(after[:, 0, 2]).all()
    # only where the mask is true
    masked = apply_transitions(m, fr, legend, where=np.array([[False, True, False]]))
    np.testing.assert_allclose(masked[:, 0, 0], fr[:, 0, 0])
    np.testing.assert_allclose(masked[k("garden_allotment"), 0, 1], 0.14, rtol=1e-6)


def test_units_street_tree_nest_brick_and_site(cat, legend):
    fr = _stack(legend, [{"road": 0.5, "building": 0.5}, {"building": 1.0}])
    # street tree: road -> trees 0.1; 0.1 * 0.5 * 400 m2 = 20 m2 of crown; 1 tree per 25 m2 = 0.8 trees
    np.testing.assert_allclose(units_per_cell(cat.get("street_tree"), fr, legend, 400.0), [[0.8, 0.0]], rtol=1e-6)
    # nest bricks: 10 per ha of building; 0.5 * 400 m2 = 0.02 ha -> 0.2; 1.0 * 0.04 ha -> 0.4
    np.testing.assert_allclose(units_per_cell(cat.get("nest_brick"), fr, legend, 400.0), [[0.2, 0.4]], rtol=1e-6)
    # a crossing is one unit per application whatever the cell size
    np.testing.assert_allclose(units_per_cell(cat.get("amphibian_tunnel"), fr, legend, 400.0), [[1.0, 1.0]])


def test_per_cell_effects_dask_equals_numpy(cat, legend):
    rng = np.random.default_rng(3)
    fr = rng.random((len(legend.classes), 6, 5)).astype(np.float32)
    fr /= fr.sum(axis=0)
    fd = da.from_array(fr, chunks=(len(legend.classes), 3, 5))
    for mid in ("pocket_park", "nest_box", "wildlife_crossing"):
        m = cat.get(mid)
        np.testing.assert_allclose(units_per_cell(m, fd, legend, 100.0).compute(),
                                   units_per_cell(m, fr, legend, 100.0), rtol=1e-6)
        np.testing.assert_allclose(apply_transitions(m, fd, legend).compute(), apply_transitions(m, fr, legend),
                                   rtol=1e-6)


def test_per_cell_bad_input(cat, legend):
    m = cat.get("depaving")
    with pytest.raises(InputDataError):
        converted_area_m2(m, np.zeros((3, 2, 2)), legend, 100.0)
    with pytest.raises(InputDataError):
        units_per_cell(m, _stack(legend, [{"road": 1.0}]), legend, 0.0)


def test_evaluate_fits_reports_missing_context(cat, legend):
    fr = _stack(legend, [{"paved_other": 0.6, "building": 0.4}, {"lawn_grass": 1.0}])
    v = rules.landcover_variables(fr, legend)
    v["setting"] = np.array([["urban", "urban"]])
    res = cat.evaluate_fits(v, ids=["depaving", "pocket_park", "tiny_forest"])
    assert res["depaving"].value.tolist() == [[True, False]] and res["depaving"].complete
    # pocket park and tiny forest need ownership data, which is absent: not a fit, and reported
    assert res["pocket_park"].missing == ("owner",) and not res["pocket_park"].value.any()
    v["owner"] = np.array([["public", "public"]])
    res = cat.evaluate_fits(v, ids=["pocket_park", "tiny_forest"])
    assert res["pocket_park"].value.tolist() == [[True, False]]  # paved 0.6, green 0.0 < 0.3
    assert res["tiny_forest"].value.tolist() == [[False, True]]
