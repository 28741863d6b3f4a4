"""QGIS layer styles (QML, the QGIS 3 ``.qml`` XML format) built from plain Python values.

The documents follow what QGIS 3 itself writes (``<qgis version=...>`` root, a ``<pipe>`` with a
``<rasterrenderer>`` for rasters, a ``<renderer-v2>`` with ``<symbols>`` for vectors). Symbol
layer properties are written twice: as ``<Option type="Map">`` (read by QGIS >= 3.26) and as
``<prop k= v=>`` (read by older QGIS 3 releases), so the style loads in every QGIS 3 LTR.

Colours are given as ``'#rrggbb'`` (or ``'#rrggbbaa'`` with an alpha byte).

A QML string is used either as a sidecar file (``name.qml`` next to ``name.tif``, which QGIS
loads automatically) or as the default style of a GeoPackage layer (see
:func:`biostress.store.gpkg.write_layer`).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

__all__ = [
    "raster_paletted",
    "raster_pseudocolor",
    "vector_categorized",
    "vector_graduated",
    "vector_simple",
]

QGIS_VERSION = "3.28.0-Firenze"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
_COLOUR_RE = re.compile(r"^#([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")
_GEOMETRIES = {"point": (0, "marker"), "line": (1, "line"), "polygon": (2, "fill")}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _parse_colour(colour: str) -> tuple[int, int, int, int]:
    """``'#rrggbb'`` / ``'#rrggbbaa'`` -> ``(r, g, b, a)``."""
    m = _COLOUR_RE.match(colour.strip()) if isinstance(colour, str) else None
    if m is None:
        raise ValueError(f"Colour {colour!r} is not of the form '#rrggbb' or '#rrggbbaa'.")
    rgb = m.group(1)
    r, g, b = (int(rgb[i : i + 2], 16) for i in (0, 2, 4))
    a = int(m.group(2), 16) if m.group(2) else 255
    return r, g, b, a


def _hex(colour: str) -> str:
    """The ``#rrggbb`` part of a colour, lower case (QGIS palette/ramp entries use this form)."""
    r, g, b, _ = _parse_colour(colour)
    return f"#{r:02x}{g:02x}{b:02x}"


def _qgis_rgba(colour: str) -> str:
    """``'#rrggbb[aa]'`` -> ``'r,g,b,a'`` as QGIS symbol layers store colours."""
    return ",".join(str(v) for v in _parse_colour(colour))


def _num(value: float) -> str:
    """A number as text without needless trailing zeros (``1.0`` -> ``'1'``)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"Value {value!r} is not finite.")
    return repr(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def _root(**extra: str) -> ET.Element:
    attrs = {
        "version": QGIS_VERSION,
        "styleCategories": "AllStyleCategories",
        "hasScaleBasedVisibilityFlag": "0",
        "minScale": "1e+08",
        "maxScale": "0",
    }
    attrs.update(extra)
    return ET.Element("qgis", attrs)


def _serialise(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return _DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def _geometry(geometry: str) -> tuple[int, str]:
    try:
        return _GEOMETRIES[geometry]
    except KeyError:
        raise ValueError(
            f"Geometry {geometry!r} is not one of {sorted(_GEOMETRIES)}."
        ) from None


def _empty_ddp(parent: ET.Element) -> None:
    """An empty ``<data_defined_properties>`` block as QGIS writes it."""
    ddp = ET.SubElement(parent, "data_defined_properties")
    opt = ET.SubElement(ddp, "Option", {"type": "Map"})
    ET.SubElement(opt, "Option", {"type": "QString", "name": "name", "value": ""})
    ET.SubElement(opt, "Option", {"name": "properties"})
    ET.SubElement(opt, "Option", {"type": "QString", "name": "type", "value": "collection"})


def _symbol_layer_props(kind: str, fill: str, stroke: str, width: float) -> dict[str, str]:
    common = {
        "offset": "0,0",
        "offset_map_unit_scale": "3x:0,0,0,0,0,0",
        "offset_unit": "MM",
    }
    if kind == "fill":
        return {
            **common,
            "border_width_map_unit_scale": "3x:0,0,0,0,0,0",
            "color": _qgis_rgba(fill),
            "joinstyle": "bevel",
            "outline_color": _qgis_rgba(stroke),
            "outline_style": "solid",
            "outline_width": _num(width),
            "outline_width_unit": "MM",
            "style": "solid",
        }
    if kind == "line":
        return {
            **common,
            "align_dash_pattern": "0",
            "capstyle": "square",
            "customdash": "5;2",
            "customdash_map_unit_scale": "3x:0,0,0,0,0,0",
            "customdash_unit": "MM",
            "draw_inside_polygon": "0",
            "joinstyle": "bevel",
            "line_color": _qgis_rgba(stroke),
            "line_style": "solid",
            "line_width": _num(width),
            "line_width_unit": "MM",
            "use_custom_dash": "0",
            "width_map_unit_scale": "3x:0,0,0,0,0,0",
        }
    # marker
    return {
        **common,
        "angle": "0",
        "color": _qgis_rgba(fill),
        "horizontal_anchor_point": "1",
        "joinstyle": "bevel",
        "name": "circle",
        "outline_color": _qgis_rgba(stroke),
        "outline_style": "solid",
        "outline_width": _num(width),
        "outline_width_map_unit_scale": "3x:0,0,0,0,0,0",
        "outline_width_unit": "MM",
        "scale_method": "diameter",
        "size": "2",
        "size_map_unit_scale": "3x:0,0,0,0,0,0",
        "size_unit": "MM",
        "vertical_anchor_point": "1",
    }


_LAYER_CLASS = {"fill": "SimpleFill", "line": "SimpleLine", "marker": "SimpleMarker"}


def _symbol(name: str, kind: str, fill: str, stroke: str, width: float) -> ET.Element:
    """One ``<symbol>`` with a single simple symbol layer."""
    sym = ET.Element(
        "symbol",
        {
            "type": kind,
            "name": name,
            "alpha": "1",
            "clip_to_extent": "1",
            "force_rhr": "0",
            "is_animated": "0",
            "frame_rate": "10",
        },
    )
    _empty_ddp(sym)
    layer = ET.SubElement(
        sym, "layer", {"class": _LAYER_CLASS[kind], "enabled": "1", "locked": "0", "pass": "0"}
    )
    props = _symbol_layer_props(kind, fill, stroke, width)
    opt = ET.SubElement(layer, "Option", {"type": "Map"})
    for k, v in props.items():
        ET.SubElement(opt, "Option", {"type": "QString", "name": k, "value": v})
    for k, v in props.items():  # legacy form, read by QGIS < 3.26
        ET.SubElement(layer, "prop", {"k": k, "v": v})
    _empty_ddp(layer)
    return sym


def _default_stroke(kind: str, colour: str) -> tuple[str, float]:
    """Outline colour and width used by the categorized/graduated renderers."""
    if kind == "line":
        return colour, 0.66
    if kind == "marker":
        return "#232323", 0.0
    return "#232323", 0.1


def _vector_root() -> ET.Element:
    return _root(
        simplifyDrawingHints="1",
        simplifyAlgorithm="0",
        simplifyDrawingTol="1",
        simplifyLocal="1",
        simplifyMaxScale="1",
        labelsEnabled="0",
        readOnly="0",
    )


def _finish_vector(root: ET.Element, geometry_code: int) -> str:
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = "1"
    ET.SubElement(root, "layerGeometryType").text = str(geometry_code)
    return _serialise(root)


def _renderer(root: ET.Element, rtype: str, **attrs: str) -> ET.Element:
    base = {
        "type": rtype,
        "forceraster": "0",
        "symbollevels": "0",
        "enableorderby": "0",
        "referencescale": "-1",
    }
    base.update(attrs)
    return ET.SubElement(root, "renderer-v2", base)


def _raster_pipe(root: ET.Element, renderer_attrs: dict[str, str], resampling: str) -> ET.Element:
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        {
            "enabled": "false",
            "maxOversampling": "2",
            "zoomedInResamplingMethod": resampling,
            "zoomedOutResamplingMethod": resampling,
        },
    )
    rr = ET.SubElement(
        pipe, "rasterrenderer", {"opacity": "1", "alphaBand": "-1", "nodataColor": "", **renderer_attrs}
    )
    ET.SubElement(rr, "rasterTransparency")
    mmo = ET.SubElement(rr, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(mmo, tag).text = text
    return rr


def _finish_raster(root: ET.Element) -> str:
    pipe = root.find("pipe")
    assert pipe is not None
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(
        pipe,
        "huesaturation",
        {
            "colorizeBlue": "128",
            "colorizeGreen": "128",
            "colorizeOn": "0",
            "colorizeRed": "255",
            "colorizeStrength": "100",
            "grayscaleMode": "0",
            "saturation": "0",
        },
    )
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"
    return _serialise(root)


def _value_type(value: object) -> str:
    """QGIS' name for the type of a category value (``stringForType`` in QGIS)."""
    if isinstance(value, bool | int):
        return "integer"
    if isinstance(value, float):
        return "double"
    return "string"


def _value_text(value: object) -> str:
    if isinstance(value, bool | int | float):
        return _num(value)  # type: ignore[arg-type]
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# rasters
# ---------------------------------------------------------------------------------------------


def raster_paletted(classes: Sequence[tuple[int, str, str]], *, band: int = 1) -> str:
    """A paletted ("unique values") raster style: one ``(value, label, '#rrggbb')`` per class.

    >>> import xml.etree.ElementTree as ET
    >>> q = raster_paletted([(1, "bos", "#267300"), (2, "water", "#0064ff")])
    >>> [e.get("label") for e in ET.fromstring(q.split("\\n", 1)[1]).iter("paletteEntry")]
    ['bos', 'water']
    """
    if not classes:
        raise ValueError("A paletted style needs at least one class.")
    root = _root()
    rr = _raster_pipe(root, {"type": "paletted", "band": str(int(band))}, "nearestNeighbour")
    pal = ET.SubElement(rr, "colorPalette")
    for value, label, colour in classes:
        _, _, _, a = _parse_colour(colour)
        ET.SubElement(
            pal,
            "paletteEntry",
            {"value": str(int(value)), "label": str(label), "alpha": str(a), "color": _hex(colour)},
        )
    ET.SubElement(rr, "colorramp", {"name": "[source]", "type": "randomcolors"})
    return _finish_raster(root)


def raster_pseudocolor(
    vmin: float,
    vmax: float,
    stops: Sequence[tuple[float, str]],
    band: int = 1,
    label_unit: str = "",
    *,
    interpolation: str = "INTERPOLATED",
) -> str:
    """A single-band pseudocolour style: colours interpolated between ``(value, '#rrggbb')`` stops.

    ``label_unit`` is appended to the legend labels (e.g. ``"m"``, ``"%"``). ``interpolation`` is
    QGIS' ``colorRampType``: ``INTERPOLATED`` (default), ``DISCRETE`` or ``EXACT``.
    """
    vmin, vmax = float(vmin), float(vmax)
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
        raise ValueError(f"Need finite vmin < vmax, got {vmin}, {vmax}.")
    if len(stops) < 2:
        raise ValueError("A pseudocolour style needs at least two colour stops.")
    values = [float(v) for v, _ in stops]
    if any(b < a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError("Colour stops must be sorted by value.")
    if interpolation not in {"INTERPOLATED", "DISCRETE", "EXACT"}:
        raise ValueError(f"Unknown interpolation {interpolation!r}.")
    root = _root()
    rr = _raster_pipe(
        root,
        {
            "type": "singlebandpseudocolor",
            "band": str(int(band)),
            "classificationMin": _num(vmin),
            "classificationMax": _num(vmax),
        },
        "bilinear",
    )
    shader = ET.SubElement(rr, "rastershader")
    crs = ET.SubElement(
        shader,
        "colorrampshader",
        {
            "colorRampType": interpolation,
            "classificationMode": "1",
            "clip": "0",
            "minimumValue": _num(vmin),
            "maximumValue": _num(vmax),
            "labelPrecision": "4",
        },
    )
    suffix = f" {label_unit}" if label_unit else ""
    for value, colour in stops:
        _, _, _, a = _parse_colour(colour)
        ET.SubElement(
            crs,
            "item",
            {
                "value": _num(value),
                "label": f"{_num(value)}{suffix}",
                "alpha": str(a),
                "color": _hex(colour),
            },
        )
    ET.SubElement(
        crs,
        "rampLegendSettings",
        {
            "minimumLabel": "",
            "maximumLabel": "",
            "prefix": "",
            "suffix": suffix,
            "direction": "0",
            "useContinuousLegend": "1",
            "orientation": "2",
        },
    )
    return _finish_raster(root)


# ---------------------------------------------------------------------------------------------
# vectors
# ---------------------------------------------------------------------------------------------


def vector_simple(fill: str, stroke: str, geometry: str = "polygon", *, width: float | None = None) -> str:
    """A single-symbol style: one fill colour and one outline (or line) colour for all features."""
    code, kind = _geometry(geometry)
    if width is None:
        width = 0.66 if kind == "line" else (0.0 if kind == "marker" else 0.26)
    root = _vector_root()
    r = _renderer(root, "singleSymbol")
    symbols = ET.SubElement(r, "symbols")
    symbols.append(_symbol("0", kind, fill, stroke, width))
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return _finish_vector(root, code)


def vector_categorized(
    field: str,
    categories: Sequence[tuple[object, str, str]],
    geometry: str = "polygon",
) -> str:
    """A categorized ("unique values") style on ``field``: ``(value, label, '#rrggbb')`` each."""
    if not categories:
        raise ValueError("A categorized style needs at least one category.")
    code, kind = _geometry(geometry)
    root = _vector_root()
    r = _renderer(root, "categorizedSymbol", attr=field)
    cats = ET.SubElement(r, "categories")
    symbols = ET.SubElement(r, "symbols")
    for i, (value, label, colour) in enumerate(categories):
        ET.SubElement(
            cats,
            "category",
            {
                "value": _value_text(value),
                "type": _value_type(value),
                "symbol": str(i),
                "label": str(label),
                "render": "true",
            },
        )
        stroke, width = _default_stroke(kind, colour)
        symbols.append(_symbol(str(i), kind, colour, stroke, width))
    source = ET.SubElement(r, "source-symbol")
    stroke, width = _default_stroke(kind, categories[0][2])
    source.append(_symbol("0", kind, categories[0][2], stroke, width))
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return _finish_vector(root, code)


def vector_graduated(
    field: str,
    classes: Sequence[tuple[float, float, str, str]],
    geometry: str = "polygon",
) -> str:
    """A graduated style on numeric ``field``: ``(lower, upper, label, '#rrggbb')`` per class."""
    if not classes:
        raise ValueError("A graduated style needs at least one class.")
    for lo, hi, label, _ in classes:
        if not float(hi) >= float(lo):
            raise ValueError(f"Class {label!r}: upper bound {hi} is below lower bound {lo}.")
    code, kind = _geometry(geometry)
    root = _vector_root()
    r = _renderer(root, "graduatedSymbol", attr=field, graduatedMethod="GraduatedColor")
    ranges = ET.SubElement(r, "ranges")
    symbols = ET.SubElement(r, "symbols")
    for i, (lo, hi, label, colour) in enumerate(classes):
        ET.SubElement(
            ranges,
            "range",
            {
                "lower": _num(lo),
                "upper": _num(hi),
                "symbol": str(i),
                "label": str(label),
                "render": "true",
            },
        )
        stroke, width = _default_stroke(kind, colour)
        symbols.append(_symbol(str(i), kind, colour, stroke, width))
    source = ET.SubElement(r, "source-symbol")
    stroke, width = _default_stroke(kind, classes[0][3])
    source.append(_symbol("0", kind, classes[0][3], stroke, width))
    ET.SubElement(r, "mode", {"name": "manual"})
    method = ET.SubElement(r, "classificationMethod", {"id": "Manual"})
    ET.SubElement(method, "symmetricMode", {"enabled": "0", "symmetrypoint": "0", "astride": "0"})
    ET.SubElement(method, "labelFormat", {"format": "%1 - %2", "labelprecision": "4", "trimtrailingzeroes": "1"})
    ET.SubElement(method, "parameters")
    ET.SubElement(method, "extraInformation")
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return _finish_vector(root, code)
