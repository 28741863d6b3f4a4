"""Charts of the municipality report (matplotlib, object-oriented API, Agg; no pyplot state).

Each chart is written as PNG (200 dpi, used in the HTML and PDF) and SVG (text as paths, no
fonts needed) next to the report:

* :func:`landcover_chart`: hectares per land-cover class (legend colours), largest first, with the
  share of the area written at each bar;
* :func:`stress_per_unit_chart`: per wijk, stacked shares of the stress-test classes (the class
  colours of ``stresstest_classes.csv``), most vulnerable wijk (largest share of classes 1 and 2)
  on top;
* :func:`ranking_chart`: the ``n`` most vulnerable neighbourhoods by mean stress score, each bar in
  the colour of its class.

Axis numbers use the report language's separators (:mod:`biostress.report.i18n`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..landcover.legend import Legend
from ..stresstest.classes import StressClass
from . import i18n

DPI = 200
WIDTH_IN = 7.0
_FONT = 8.5
_GREY = "#444444"
NO_VALUE_COLOUR = "#d9d9d9"  # as the "no value" class of the maps (biostress.maps.preview)


def _save(fig: Figure, out_base: Path) -> list[Path]:
    """Write ``<out_base>.png`` and ``.svg`` atomically (temporary file, then replace)."""
    import matplotlib

    out_base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "biostress"}):
        for ext in ("png", "svg"):
            target = out_base.with_suffix(f".{ext}")
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            os.close(fd)
            try:
                fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight", metadata={"Date": None} if ext == "svg"
                            else None)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(target)
    return written


def _style(ax) -> None:
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    ax.spines["left"].set_color(_GREY)
    ax.spines["bottom"].set_color(_GREY)
    ax.tick_params(labelsize=_FONT, colors=_GREY)


def landcover_chart(ha: pd.Series, legend: Legend, lang: str, out_base: Path) -> list[Path]:
    """``ha``: hectares per class key. Classes with no area are left out."""
    names = {c.key: (c.name_nl if lang == "nl" else c.name_en) for c in legend.classes}
    colours = {c.key: c.colour for c in legend.classes}
    s = pd.to_numeric(ha, errors="coerce").fillna(0.0)
    s = s[s > 0].sort_values(ascending=True)
    total = float(s.sum())
    fig = Figure(figsize=(WIDTH_IN, 0.2 * len(s) + 0.7))
    ax = fig.add_subplot()
    y = np.arange(len(s))
    ax.barh(y, s.to_numpy(), color=[colours.get(k, "#999999") for k in s.index], edgecolor="#333333", linewidth=0.4)
    ax.set_yticks(y, [names.get(k, k) for k in s.index], fontsize=_FONT)
    for yi, v in zip(y, s.to_numpy(), strict=True):
        ax.text(v, yi, f"  {i18n.fmt_pct(v / total if total else np.nan, lang, 1)}", va="center", fontsize=_FONT - 1,
                color=_GREY)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: i18n.fmt_num(v, lang, 0)))
    ax.set_xlabel(i18n.t("chart_ha_axis", lang), fontsize=_FONT)
    ax.set_xlim(0, float(s.max()) * 1.18 if len(s) else 1)
    _style(ax)
    return _save(fig, out_base)


def stress_per_unit_chart(shares: pd.DataFrame, classes: list[StressClass], lang: str, out_base: Path,
                          max_units: int = 40) -> list[Path]:
    """``shares``: rows per unit with ``name`` and ``class_<code>`` shares (0-1)."""
    cols = [f"class_{c.code}" for c in classes]
    df = shares.copy()
    vul = df[cols[:2]].sum(axis=1) if len(cols) >= 2 else df[cols[0]]
    df = df.assign(_v=vul).sort_values(["_v", "code"], ascending=[True, False]).tail(max_units)
    fig = Figure(figsize=(WIDTH_IN, 0.24 * len(df) + 1.0))
    ax = fig.add_subplot()
    y = np.arange(len(df))
    left = np.zeros(len(df))
    parts = [(col, c.colour, f"{c.code} {c.label_nl if lang == 'nl' else c.label_en}")
             for c, col in zip(classes, cols, strict=True)]
    if "no_value" in df.columns and float(df["no_value"].fillna(0).max()) > 0:
        parts.append(("no_value", NO_VALUE_COLOUR, i18n.t("no_value", lang)))
    for col, colour, label in parts:
        v = df[col].fillna(0.0).to_numpy()
        ax.barh(y, v, left=left, color=colour, edgecolor="white", linewidth=0.3, label=label)
        left = left + v
    ax.set_yticks(y, df["name"].astype(str).tolist(), fontsize=_FONT)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: i18n.fmt_pct(v, lang, 0)))
    ax.set_xlabel(i18n.t("chart_share_axis", lang), fontsize=_FONT)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / max(len(df), 1)), ncol=min(len(parts), 6),
              fontsize=_FONT - 0.5, frameon=False, handlelength=1.2, columnspacing=1.0)
    _style(ax)
    return _save(fig, out_base)


def ranking_chart(rank: pd.DataFrame, classes: list[StressClass], lang: str, out_base: Path,
                  n: int = 15) -> list[Path]:
    """``rank``: the output of :func:`biostress.report.data.ranking` (lowest score first)."""
    df = rank[np.isfinite(rank["score"])].head(n).iloc[::-1]
    colour = {c.code: c.colour for c in classes}
    fig = Figure(figsize=(WIDTH_IN, 0.22 * len(df) + 0.8))
    ax = fig.add_subplot()
    y = np.arange(len(df))
    cols = [colour.get(int(k), "#999999") if np.isfinite(k) else "#999999" for k in df["class"]]
    ax.barh(y, df["score"].to_numpy(), color=cols, edgecolor="#333333", linewidth=0.4)
    labels = [str(r.name) for r in df.itertuples()]
    ax.set_yticks(y, labels, fontsize=_FONT)
    for yi, v in zip(y, df["score"].to_numpy(), strict=True):
        ax.text(v, yi, f" {i18n.fmt_num(v, lang, 3)}", va="center", fontsize=_FONT - 1, color=_GREY)
    hi = float(df["score"].max()) if len(df) else 1.0
    ax.set_xlim(0, max(hi * 1.25, 0.05))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: i18n.fmt_num(v, lang, 2)))
    ax.set_xlabel(i18n.t("chart_score_axis", lang), fontsize=_FONT)
    _style(ax)
    return _save(fig, out_base)


__all__ = ["landcover_chart", "ranking_chart", "stress_per_unit_chart"]
