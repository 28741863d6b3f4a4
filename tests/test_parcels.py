"""Cadastral parcels (biostress.sources.parcels): which column is the id, how ids are compared, bad input."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from biostress.errors import InputDataError
from biostress.sources.parcels import parcel_frame, parcel_key

BOXES = [shapely.box(0, 0, 10, 20), shapely.box(10, 0, 30, 20), shapely.box(30, 0, 35, 4)]


def _frame(columns: dict, crs: str = "EPSG:28992") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=BOXES[: len(next(iter(columns.values())))], crs=crs)


def test_brk_columns_make_the_id_in_both_spellings():
    for code, section, number in (("AKRKadastraleGemeenteCodeWaarde", "sectie", "perceelnummer"),
                                  ("akr_kadastrale_gemeente_code_waarde", "sectie", "perceelnummer")):
        got = parcel_frame(_frame({code: ["DDT00", "DDT00 ", "DDT01"], section: ["K", "K", "A"],
                                   number: [1234, 7, 99]}))
        assert got["parcel_id"].tolist() == ["DDT00 K 1234", "DDT00 K 7", "DDT01 A 99"]
        assert got["area_m2"].tolist() == [200.0, 400.0, 20.0]  # 10 x 20, 20 x 20, 5 x 4
        assert list(got.columns) == ["parcel_id", "area_m2", "geometry"]


def test_a_named_or_chosen_id_column():
    got = parcel_frame(_frame({"Perceel_ID": ["a-1", "b-2"], "other": [1, 2]}))
    assert got["parcel_id"].tolist() == ["a-1", "b-2"]
    got = parcel_frame(_frame({"nummer": ["x", "y"], "parcel": ["p", "q"]}), id_column="nummer")
    assert got["parcel_id"].tolist() == ["x", "y"]


def test_parcels_without_an_id_are_left_out_and_reported():
    got = parcel_frame(_frame({"parcel_id": ["a", None, "  "]}), label="my parcels")
    assert got["parcel_id"].tolist() == ["a"]
    assert got.attrs["notes"] == ["my parcels: 2 parcels without an id left out"]


def test_bad_input_says_what_to_do():
    with pytest.raises(InputDataError, match="no parcel id column") as e:
        parcel_frame(_frame({"naam": ["a", "b"]}), label="perc.gpkg")
    assert "naam" in e.value.message and "id_column" in e.value.hint
    with pytest.raises(InputDataError, match="no column 'nr'"):
        parcel_frame(_frame({"parcel_id": ["a", "b"]}), id_column="nr")
    with pytest.raises(InputDataError, match="geographic CRS"):
        parcel_frame(_frame({"parcel_id": ["a", "b"]}, crs="EPSG:4326"))
    with pytest.raises(InputDataError, match="no parcel with an id"):
        parcel_frame(_frame({"parcel_id": [None, None]}))


def test_ids_are_compared_without_case_spaces_or_separators():
    assert parcel_key("DDT00 K 1234") == parcel_key("ddt00k1234") == parcel_key(" DDT00-K-1234 ") == "DDT00K1234"
    assert parcel_key("DDT00 K 1234") != parcel_key("DDT00 K 12345")
