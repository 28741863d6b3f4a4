"""Jinja2 rendering of the reports: the template environment and the page contexts.

Templates are package data (``biostress/report/templates/*.j2`` and ``report.css``), loaded with
:class:`jinja2.PackageLoader`, autoescaped. The contexts hold text that is already formatted for the
language (:mod:`biostress.report.i18n`), so the templates only lay it out; a table is a dict
``{"head": [{"label", "num"}], "rows": [[cell, ...]], "total": [...] | None}``.

Image paths in the contexts are relative to the report folder; the same HTML is shown in a browser
and turned into the PDF (:mod:`biostress.report.pdf`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from .. import __version__
from . import data as D
from . import i18n
from .i18n import fmt_eur, fmt_eur_short, fmt_num, fmt_pct, t

_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
DOCS = (("docs/landcover.md", "landcover"), ("docs/indicators.md", "indicators"),
        ("docs/stresstest.md", "stresstest"), ("docs/potential.md", "potential"),
        ("docs/opportunity.md", "opportunity"), ("docs/measures.md", "measures"), ("docs/plans.md", "plans"),
        ("docs/reports.md", "reports"))


def css_string(value: Any) -> str:
    """Text for a CSS string literal in double quotes (backslash, quote and line breaks escaped)."""
    s = str(value)
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ").replace("<", "\\3c ")


def environment() -> Any:
    """The Jinja2 environment of the report templates (autoescaped, strict undefined)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("biostress.report", "templates"), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["css_string"] = css_string
    return env


def strings(lang: str) -> dict[str, str]:
    """Every string of :data:`biostress.report.i18n.STRINGS` without placeholders, in ``lang``."""
    return {k: t(k, lang) for k, (en, _nl) in i18n.STRINGS.items() if not _PLACEHOLDER.search(en)}


def render(template: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(template).render(**context)


# --------------------------------------------------------------------------------------------
# small builders
# --------------------------------------------------------------------------------------------

def _head(lang: str, *cols: tuple[str, bool]) -> list[dict[str, Any]]:
    return [{"label": t(k, lang) if k in i18n.STRINGS else k, "num": num} for k, num in cols]


def _status(status: str, lang: str) -> Markup:
    key = f"status_{status}"
    label = t(key, lang) if key in i18n.STRINGS else status
    cls = "status-" + str(status).replace(" ", "-")
    return Markup('<span class="{}">{}</span>').format(cls, label)


def _figure(src: str | None, caption: str = "", alt: str = "") -> dict[str, str] | None:
    """An image of the report folder; maps carry their own title, legend, scale bar, north arrow and
    attribution, so they get no caption (only an alt text)."""
    return {"src": src, "caption": caption, "alt": alt or caption} if src else None


_CMP = {">=": "\u2265", "<=": "\u2264", ">": ">", "<": "<", "==": "="}


def fmt_target_value(v: Any, unit: Any, lang: str) -> str:
    """A value of the target table in its unit: shares as %, '%' as a percentage number, m2 and ha
    with their unit, other units after the number."""
    u = "" if unit is None or (isinstance(unit, float) and math.isnan(unit)) else str(unit)
    x = i18n._finite(v)
    if x is None:
        return i18n.DASH
    low = u.lower()
    if low.startswith("share"):
        return fmt_pct(x, lang, 0 if abs(x) >= 0.1 else 1)
    if low == "%":
        return f"{fmt_num(x, lang, 1 if abs(x) < 100 else 0)}%"
    if low == "m2":
        return f"{fmt_num(x, lang, 0)} m²"
    if low in ("ha", "m", "km"):
        return f"{fmt_num(x, lang, 0 if abs(x) >= 10 else 1)} {low}"
    return f"{i18n.fmt_value(x, lang)} {u.replace('m2', 'm²')}".strip()


def _norm(r: Mapping[str, Any], lang: str) -> str:
    thr = i18n._finite(r.get("threshold"))
    if thr is None:
        return i18n.DASH
    return f"{_CMP.get(str(r.get('comparison')), str(r.get('comparison') or ''))} " \
           f"{fmt_target_value(thr, r.get('unit'), lang)}"


def _target_label(r: Mapping[str, Any]) -> str:
    title = r.get("title")
    return str(title) if isinstance(title, str) and title.strip() else str(r.get("target_id", ""))


def measure_name(measure_id: str, lang: str, names: Mapping[str, tuple[str, str]]) -> str:
    en, nl = names.get(measure_id, (measure_id, measure_id))
    return nl if lang == "nl" else en


def _text_colour(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    try:
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#111111"
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def _value_fmt(v: float, kind: str, lang: str) -> str:
    if kind == "share":
        return fmt_pct(v, lang, 1)
    if kind == "index":
        return fmt_num(v, lang, 3)
    if kind == "mm":
        return f"{fmt_num(v, lang, 1)} mm"
    if kind == "m3":
        return f"{fmt_num(v, lang, 0)} m³"
    return fmt_num(v, lang, 2)


def _change_fmt(v: float, kind: str, lang: str) -> str:
    if not math.isfinite(v):
        return i18n.DASH
    sign = "+" if v > 0 else ""
    if kind == "share":
        return f"{sign}{fmt_num(100 * v, lang, 1)} {'pp' if lang == 'en' else 'procentpunt'}"
    return sign + _value_fmt(v, kind, lang)


# --------------------------------------------------------------------------------------------
# the municipality report
# --------------------------------------------------------------------------------------------

NO_VALUE_COLOUR = "#d9d9d9"
#: rows of the target table and bullets of 'what is uncertain' on the one-page summary (it must fit on page 1)
SUMMARY_TARGETS = 4
SUMMARY_UNCERTAIN = 4


def stress_bar(shares: pd.DataFrame | None, lang: str) -> list[dict[str, Any]] | None:
    """Segments of the stress-class bar: one per class and 'no value' (share of the area)."""
    if shares is None:
        return None
    out = [{"code": str(int(r.code)), "label": r.label_nl if lang == "nl" else r.label_en, "colour": r.colour,
            "text_colour": _text_colour(r.colour), "width": 100.0 * float(r.share),
            "pct": fmt_pct(r.share, lang, 0, tiny=True)} for r in shares.itertuples()]
    nv = float(shares.attrs.get("no_value_share", 0.0))
    if nv > 0:
        out.append({"code": "", "label": t("no_value", lang), "colour": NO_VALUE_COLOUR, "text_colour": "#111111",
                    "width": 100.0 * nv, "pct": fmt_pct(nv, lang, 0, tiny=True)})
    return out


def _class_label(code: float, data: D.RunData, lang: str) -> str:
    if not np.isfinite(code):
        return i18n.DASH
    for c in data.classes:
        if c.code == int(code):
            return f"{c.code} {c.label_nl if lang == 'nl' else c.label_en}"
    return str(int(code))


def ranking_table(rank: pd.DataFrame, data: D.RunData, lang: str, n: int | None = None) -> dict[str, Any]:
    df = rank if n is None else rank.head(n)
    rows = [[str(r["rank"]), r["name"], r["parent_name"] or r["parent_code"], fmt_num(r["score"], lang, 3),
             _class_label(float(r["class"]), data, lang), fmt_pct(r["green_share"], lang, 0),
             fmt_pct(r["canopy_share"], lang, 0)] for r in df.to_dict("records")]
    head = _head(lang, ("col_rank", True), ("col_unit", False), ("col_wijk", False), ("col_score", True),
                 ("col_class", False), ("col_green", True), ("col_canopy", True))
    return {"head": head, "rows": rows, "cls": "compact"}


def _vulnerable_table(rank: pd.DataFrame, data: D.RunData, lang: str) -> dict[str, Any]:
    df = rank[np.isfinite(rank["score"])].head(3)
    rows = [[r.name, r.parent_name or r.parent_code, fmt_num(r.score, lang, 3), fmt_pct(r.green_share, lang, 0),
             fmt_pct(r.canopy_share, lang, 0)] for r in df.itertuples()]
    head = _head(lang, ("col_unit", False), ("col_wijk", False), ("col_score", True), ("col_green", True),
                 ("col_canopy", True))
    return {"head": head, "rows": rows, "cls": "compact"}


def plan_measure_table(pbm: pd.DataFrame, lang: str, names: Mapping[str, tuple[str, str]],
                       n: int | None = None, total: bool = True) -> dict[str, Any]:
    df = pbm if n is None else pbm.head(n)
    rows = [[measure_name(r.measure, lang, names), fmt_num(r.blocks, lang), fmt_eur(r.cost, lang),
             fmt_num(r.gain, lang)] for r in df.itertuples()]
    tot = None
    if total and n is None:
        tot = [t("total", lang), fmt_num(pbm["blocks"].sum(), lang), fmt_eur(pbm["cost"].sum(), lang),
               fmt_num(pbm["gain"].sum(), lang)]
    head = _head(lang, ("col_measure", False), ("col_blocks", True), ("col_cost_npv", True), ("col_gain", True))
    return {"head": head, "rows": rows, "total": tot, "cls": "compact"}


def opportunity_rows(opp: pd.DataFrame, lang: str, n: int | None = None) -> dict[str, Any]:
    df = opp if n is None else opp.head(n)
    rows = []
    for r in df.itertuples():
        name = getattr(r, "name_nl" if lang == "nl" else "name_en", r.measure)
        per_k = r.gain_combined_per_eur * 1000 if np.isfinite(r.gain_combined_per_eur) else np.nan
        rows.append([name, fmt_num(r.converted_area_ha, lang, 1), fmt_num(r.gain_combined_m2, lang),
                     fmt_eur(r.cost_npv_eur, lang), fmt_num(per_k, lang, 1)])
    head = _head(lang, ("col_measure", False), ("col_converted_ha", True), ("col_gain", True),
                 ("col_cost_npv", True), ("col_gain_per_keur", True))
    return {"head": head, "rows": rows, "cls": "compact"}


def targets_tables(summary: dict[str, Any], lang: str) -> dict[str, Any]:
    """The target status of the coarsest level (one row per target) with notes, and the count of
    units of the finest level per target and status."""
    top = summary["top"].to_dict("records")
    rows, notes = [], []
    for r in top:
        rows.append([_target_label(r), fmt_target_value(r.get("value"), r.get("unit"), lang), _norm(r, lang),
                     _status(str(r["status"]), lang), str(r.get("ev") or "")])
        note = r.get("note")
        if isinstance(note, str) and note.strip():
            notes.append(f"{_target_label(r)}: {note.strip()}")
    head = _head(lang, ("col_target", False), ("col_value", True), ("col_threshold", True), ("col_status", False),
                 ("col_ev", False))
    titles = {r["target_id"]: _target_label(r) for r in summary["top"].to_dict("records")}
    counts = summary["counts"]
    crow = [[titles.get(r["target_id"], str(r["target_id"])), fmt_num(r.get("met", 0), lang),
             fmt_num(r.get("not met", 0), lang), fmt_num(r.get("unknown", 0), lang)] for r in counts.to_dict("records")]
    chead = _head(lang, ("col_target", False), ("col_met", True), ("col_not_met", True), ("col_unknown", True))
    order = {"not met": 0, "met": 1}
    ranked = sorted((order[r["status"]], i) for i, r in enumerate(top) if r["status"] in order)
    short = [rows[i][:4] for _o, i in ranked]
    return {"top": {"head": head, "rows": rows, "cls": "compact"}, "notes": notes,
            "short": {"head": head[:4], "rows": short[:SUMMARY_TARGETS], "cls": "compact"} if short else None,
            "counts": {"head": chead, "rows": crow, "cls": "compact"} if len(crow) else None}


def report_context(data: D.RunData, lang: str, *, charts: Mapping[str, str], maps: Mapping[str, str],
                   targets: pd.DataFrame | None = None, catalogue: Any = None, finance: Any = None) -> dict[str, Any]:
    """The context of ``report.html.j2`` (see the module docstring). ``charts`` and ``maps`` map a
    name to the image path relative to the report folder."""
    i18n.check_lang(lang)
    kn = D.key_numbers(data)
    shares = D.stress_class_shares(data)
    rank = D.ranking(data)
    names = _measure_names(catalogue)
    tsum = D.target_summary(targets, data)
    totals = D.plan_totals(data)
    pbm = D.plan_by_measure(data)
    opp = D.opportunity_table(data)
    years, rate = (finance.horizon_yr, finance.discount_rate) if finance is not None else (30, 0.0225)
    # --- summary ---------------------------------------------------------------------------------
    lower = kn.unresolved_share if np.isfinite(kn.unresolved_share) and kn.unresolved_share >= 0.01 else None
    star = "*" if lower is not None else ""
    tiles = [
        {"label": t("k_area", lang), "value": f"{fmt_num(kn.area_ha, lang)} ha", "note": data.code or ""},
        {"label": t("k_green", lang), "value": fmt_pct(kn.green_share, lang, 0) + star, "note": t("k_green_note", lang)},
        {"label": t("k_canopy", lang), "value": fmt_pct(kn.canopy_share, lang, 0) + star,
         "note": t("k_canopy_note", lang)},
        {"label": t("k_impervious", lang), "value": fmt_pct(kn.impervious_share, lang, 0) + star,
         "note": t("k_impervious_note", lang)},
    ]
    if shares is not None:
        vul = float(shares["share"].head(2).sum())  # of the whole area, as on the stress-class map
        tiles.append({"label": t("k_vulnerable", lang), "value": fmt_pct(vul, lang, 0),
                      "note": t("k_vulnerable_note", lang), "warn": vul >= 0.5})
    plan_sentence = None
    best = None
    if pbm is not None:
        plan_sentence = _plan_sentence(totals, lang, years)
        best = plan_measure_table(pbm, lang, names, n=5)
    elif opp is not None:
        plan_sentence = t("no_plan", lang)
        best = opportunity_rows(opp, lang, n=5)
    groups = D.group_warnings(data, lang)
    proxies = D.proxy_indicators(data)
    uncertain: list[str] = []
    if lower is not None:
        uncertain.append(t("lower_bound_note", lang, pct=fmt_pct(lower, lang, 0)).capitalize() + ".")
    if proxies:
        uncertain.append(t("proxies_named", lang, names=i18n.join_list(
            dict.fromkeys(i18n.indicator_name(p, lang) for p in proxies), lang)))
    for key in ("nitrogen", "species_records"):
        g = next((x for x in groups if x.key == key), None)
        if g and g.lay:
            uncertain.append(g.lay[-1] if key == "nitrogen" else g.lay[0])
    uncertain.append(t("params_proposed", lang))
    summary = {
        "tiles": tiles,
        "lower_bound_note": t("lower_bound_note", lang, pct=fmt_pct(lower, lang, 0)) if lower is not None else None,
        "stress_bar": stress_bar(shares, lang),
        "vulnerable": _vulnerable_table(rank, data, lang) if rank is not None else None,
        "plan_sentence": plan_sentence, "best": best,
        "targets": None, "uncertain": uncertain[:SUMMARY_UNCERTAIN],
        "see_uncertain": t("see_section", lang, name=t("sec_uncertain", lang)),
    }
    if tsum is not None:
        tt = targets_tables(tsum, lang)
        tot = tsum["totals"]
        summary["targets"] = {"line": t("targets_summary", lang, met=tot["met"], not_met=tot["not met"],
                                        unknown=tot["unknown"]),
                              "table": tt["short"]}
    # --- chapters ----------------------------------------------------------------------------------
    ch: dict[str, Any] = {}
    lc_ha = _landcover_ha(data)
    total_ha = float(lc_ha.sum()) if lc_ha is not None else 0.0
    lc_rows = []
    if lc_ha is not None:
        nm = {c.key: (c.name_nl if lang == "nl" else c.name_en) for c in data.legend.classes}
        for k, v in lc_ha.sort_values(ascending=False).items():
            if v > 0:
                lc_rows.append([nm.get(k, k), fmt_num(v, lang, 1), fmt_pct(v / total_ha if total_ha else np.nan,
                                                                            lang, 1)])
    ch["landcover"] = {
        "map": _figure(maps.get("landcover"), alt=t("sec_landcover", lang)),
        "green_map": _figure(maps.get("green_share"), alt=t("k_green", lang)),
        "chart": _figure(charts.get("landcover"), alt=t("chart_landcover", lang)),
        "table": {"head": _head(lang, ("col_class_name", False), ("col_area_ha", True), ("col_share", True)),
                  "rows": lc_rows, "total": [t("total", lang), fmt_num(total_ha, lang, 1), fmt_pct(1.0, lang, 0)],
                  "cls": "compact"} if lc_rows else None,
    }
    if shares is not None:
        crow = []
        bounds = [c.lower for c in data.classes] + [1.0]
        for i, r in enumerate(shares.itertuples()):
            crow.append([Markup('<span class="swatch" style="background: {}"></span>{}').format(
                r.colour, f"{r.code} {r.label_nl if lang == 'nl' else r.label_en}"),
                t("class_bounds", lang, lo=fmt_num(bounds[i], lang, 1), hi=fmt_num(bounds[i + 1], lang, 1)),
                fmt_pct(r.share, lang, 1, tiny=True)])
        nv = float(shares.attrs.get("no_value_share", 0.0))
        if nv > 0:
            crow.append([Markup('<span class="swatch" style="background: {}"></span>{}').format(
                NO_VALUE_COLOUR, t("no_value", lang)), "", fmt_pct(nv, lang, 1, tiny=True)])
        ch["stress"] = {
            "map": _figure(maps.get("stress_class"), alt=t("sec_stress", lang)),
            "classes": {"head": _head(lang, ("col_class", False), ("col_score", False), ("col_share", True)),
                        "rows": crow, "cls": "compact"},
            "chart": _figure(charts.get("stress_per_wijk"), alt=t("chart_stress_wijk", lang)),
        }
    if rank is not None:
        n_chart = int(min(15, np.isfinite(rank["score"]).sum()))
        ch["ranking"] = {"chart": _figure(charts.get("ranking"), alt=t("chart_ranking", lang, n=n_chart)),
                         "chart_title": t("chart_ranking", lang, n=n_chart),
                         "table": ranking_table(rank, data, lang)}
    pot = D.potential_table(data)
    if pot is not None:
        prow = [[i18n.indicator_name(r.indicator, lang), _value_fmt(r.current, r.kind, lang),
                 _value_fmt(r.potential, r.kind, lang), _change_fmt(r.change, r.kind, lang)] for r in pot.itertuples()]
        pmaps = [_figure(maps.get(n), alt=t("sec_potential", lang))
                 for n in ("potential_landcover", "gap_green_share", "gap_habitat_quality") if maps.get(n)]
        ch["potential"] = {"table": {"head": _head(lang, ("col_indicator", False), ("col_current", True),
                                                   ("col_potential", True), ("col_change", True)),
                                     "rows": prow, "cls": "compact"}, "maps": pmaps}
    if opp is not None:
        ch["opportunities"] = {
            "intro": t("opportunities_intro", lang, years=years, rate=fmt_pct(rate, lang, 2)),
            "map": _figure(maps.get("opportunity_gain"), alt=t("sec_opportunities", lang)),
            "table": opportunity_rows(opp, lang)}
    if pbm is not None:
        block = i18n.fmt_length(totals.get("block_m", math.nan), lang)
        ch["plan"] = {"intro": t("plan_intro", lang, block=f"{block} x {block}"),
                      "sentence": _plan_sentence(totals, lang, years),
                      "map": _figure(maps.get("plan"), alt=t("sec_plan", lang)),
                      "table": plan_measure_table(pbm, lang, names)}
    if tsum is not None:
        tt = targets_tables(tsum, lang)
        level = t(f"level_{tsum['fine_level']}", lang) if f"level_{tsum['fine_level']}" in i18n.STRINGS \
            else tsum["fine_level"]
        ch["targets"] = {"top": tt["top"], "counts": tt["counts"], "notes": tt["notes"],
                         "counts_title": f"{t('targets_by_buurt', lang)} ({level})"}
    ev = D.ev_counts(data)
    fin_line = ""
    if finance is not None:
        fin_line = t("finance_line", lang, rate=fmt_pct(finance.discount_rate, lang, 2),
                     rate_ev=finance.ev.get("discount_rate", ""), years=finance.horizon_yr,
                     years_ev=finance.ev.get("horizon_yr", ""))
    ch["methods"] = {
        "finance": fin_line,
        "ev": [{"mark": m, "text": t(f"ev_{m}", lang)} for m in ("V", "S", "R", "P")],
        "ev_counts": t("ev_counts", lang, counts=", ".join(f"{m} {fmt_num(n, lang)}" for m, n in ev.items())),
        "docs": [{"href": p, "label": p} for p, _k in DOCS],
        "software": t("software_line", lang, version=(data.manifest.get("software") or {}).get(
            "biostress", data.manifest.get("biostress_version", __version__))),
    }
    src = D.sources_table(data)
    ch["sources"] = {"head": _head(lang, ("col_name", False), ("col_attribution", False), ("col_licence", False),
                                   ("col_date", False), ("col_location", False)),
                     "rows": [[r.name, r.attribution, r.licence or i18n.DASH, r.date or i18n.DASH,
                               Markup('<span class="small">{}</span>').format(r.location)]
                              for r in src.itertuples()], "cls": "compact"}
    ch["proxies"] = t("proxies_named", lang, names=i18n.join_list(
        dict.fromkeys(i18n.indicator_name(p, lang) for p in proxies), lang)) if proxies else None
    ch["uncertain"] = [{"title": i18n.group_name(g.key, lang), "lay": g.lay, "messages": g.messages} for g in groups]
    return {
        "lang": lang, "t": strings(lang), "version": __version__, "area_name": data.name,
        "doc_title": t("report_title", lang), "created": data.created,
        "subtitle": " · ".join(x for x in (t("run_of", lang, date=data.created), data.code) if x),
        "s": summary, "c": ch,
    }


def _plan_sentence(totals: Mapping[str, float], lang: str, years: int) -> str:
    block = i18n.fmt_length(totals.get("block_m", math.nan), lang)
    return t("plan_sentence", lang, cost=fmt_eur_short(totals.get("cost", math.nan), lang), years=years,
             n=fmt_num(totals.get("blocks", math.nan), lang), block=f"{block} x {block}",
             gain=fmt_num(totals.get("gain", math.nan), lang), water=fmt_num(totals.get("water_m3", math.nan), lang))


def _landcover_ha(data: D.RunData) -> pd.Series | None:
    lv = data.top_level
    if lv is not None:
        u = data.units[lv]
        keys = [c.key for c in data.legend.classes if f"{c.key}_m2" in u.columns]
        if keys:
            return pd.Series({k: float(pd.to_numeric(u[f"{k}_m2"], errors="coerce").sum()) / 1e4 for k in keys})
    info = (data.manifest.get("info") or {}).get("landcover_ha")
    return pd.Series(info, dtype=float) if info else None


def _measure_names(catalogue: Any) -> dict[str, tuple[str, str]]:
    if catalogue is None:
        return {}
    return {m.id: (m.name_en, m.name_nl) for m in catalogue.measures}


# --------------------------------------------------------------------------------------------
# the action plan
# --------------------------------------------------------------------------------------------

def action_plan_context(ap: Any, data: D.RunData, lang: str, *, plan_map: str | None = None) -> dict[str, Any]:
    """The context of ``action_plan.html.j2`` for an :class:`~biostress.report.action_plan.ActionPlan`
    (``ap`` None: the page says the run has no plan)."""
    from .action_plan import schedule_summary

    i18n.check_lang(lang)
    base = {"lang": lang, "t": strings(lang), "version": __version__, "area_name": data.name,
            "doc_title": t("action_plan_title", lang), "created": data.created,
            "subtitle": " · ".join(x for x in (t("run_of", lang, date=data.created), data.code) if x), "ap": None}
    if ap is None:
        return base
    tt = ap.totals
    q = [("ap_q_budget", fmt_eur(tt.get("budget_eur"), lang)), ("ap_q_blocks", fmt_num(tt.get("blocks"), lang)),
         ("ap_q_capex", fmt_eur(tt.get("capex"), lang)), ("ap_q_subsidy", fmt_eur(tt.get("subsidy"), lang)),
         ("ap_q_opex", fmt_eur(tt.get("opex_yr"), lang)), ("ap_q_revenue", fmt_eur(tt.get("revenue_yr"), lang)),
         ("ap_q_npv", fmt_eur(tt.get("cost_npv"), lang)), ("ap_q_eac", fmt_eur(tt.get("eac"), lang)),
         ("ap_q_gain", fmt_num(tt.get("gain"), lang)), ("ap_q_cooling", fmt_num(tt.get("cooling"), lang)),
         ("ap_q_water", fmt_num(tt.get("water_m3"), lang))]
    totals_tb = {"head": _head(lang, ("col_quantity", False), ("col_value", True)),
                 "rows": [[t(k, lang), v] for k, v in q if "budget" not in k or tt.get("budget_eur") is not None],
                 "cls": "compact"}
    name_col = "name_nl" if lang == "nl" else "name_en"
    party_col = "party_nl" if lang == "nl" else "party_en"

    def money_rows(df: pd.DataFrame, label: Iterable[str]) -> list[list[Any]]:
        return [[lab, fmt_num(r.blocks, lang), fmt_eur(r.capex, lang), fmt_eur(r.opex_yr, lang),
                 fmt_eur(r.cost_npv, lang), fmt_num(r.gain, lang), fmt_num(r.water_m3, lang)]
                for lab, r in zip(label, df.itertuples(), strict=True)]

    money_head = _head(lang, ("col_blocks", True), ("col_capex", True), ("col_opex", True), ("col_cost_npv", True),
                       ("col_gain", True), ("col_water", True))
    total_row = [t("total", lang), fmt_num(tt.get("blocks"), lang), fmt_eur(tt.get("capex"), lang),
                 fmt_eur(tt.get("opex_yr"), lang), fmt_eur(tt.get("cost_npv"), lang), fmt_num(tt.get("gain"), lang),
                 fmt_num(tt.get("water_m3"), lang)]
    bm = ap.by_measure
    by_measure = {"head": _head(lang, ("col_measure", False), ("col_party", False)) + money_head,
                  "rows": [[r[0], r[1]] + r[2][1:] for r in zip(bm[name_col], bm[party_col],
                                                                money_rows(bm, bm[name_col]), strict=True)],
                  "total": [total_row[0], ""] + total_row[1:], "cls": "compact"}
    bw = ap.by_wijk
    wl = [f"{n}" if n and n != c else (c or t("ap_unit_outside", lang)) for c, n in
          zip(bw["parent_code"], bw["parent_name"], strict=True)]
    by_wijk = {"head": _head(lang, ("col_wijk", False)) + money_head, "rows": money_rows(bw, wl), "total": total_row,
               "cls": "compact"}
    bb = ap.by_buurt
    has_t = "targets_not_met" in bb.columns
    brows = []
    for r in bb.to_dict("records"):
        row = [r["unit_name"] or t("ap_unit_outside", lang), r["parent_name"] or r["parent_code"],
               fmt_num(r["blocks"], lang), fmt_eur(r["cost_npv"], lang), fmt_num(r["gain"], lang),
               fmt_party_list(ap, r["unit_code"], lang)]
        if has_t:
            met = len([x for x in str(r.get("targets_met") or "").split(";") if x])
            nmet = len([x for x in str(r.get("targets_not_met") or "").split(";") if x])
            row.append(f"{met} / {nmet}")
        brows.append(row)
    bhead = _head(lang, ("col_unit", False), ("col_wijk", False), ("col_blocks", True), ("col_cost_npv", True),
                  ("col_gain", True), ("col_parties", False))
    if has_t:
        bhead += _head(lang, ("col_targets_count", True))
    by_buurt = {"head": bhead, "rows": brows, "cls": "compact"}
    bp = ap.by_party
    by_party = {"head": _head(lang, ("col_party", False), ("col_blocks", True), ("col_cost_npv", True)),
                "rows": [[r[party_col], fmt_num(r["blocks"], lang), fmt_eur(r["cost_npv"], lang)]
                         for r in bp.to_dict("records")],
                "total": [t("total", lang), fmt_num(tt.get("blocks"), lang), fmt_eur(tt.get("cost_npv"), lang)],
                "cls": "compact"}
    ss = schedule_summary(ap.schedule, ap.horizon_yr)
    srows = [[t("ap_year", lang, a=r.first) if r.first == r.last else t("ap_years", lang, a=r.first, b=r.last),
              fmt_eur(r.capex, lang), fmt_eur(r.subsidy, lang), fmt_eur(r.opex, lang), fmt_eur(r.revenue, lang),
              fmt_eur(r.net, lang)] for r in ss.itertuples()]
    sched = {"head": _head(lang, ("col_year", False), ("col_capex", True), ("col_subsidy", True),
                           ("col_opex_period", True), ("col_revenue_period", True), ("col_net", True)),
             "rows": srows, "total": [t("total", lang)] + [fmt_eur(ss[k].sum(), lang) for k in
                                                           ("capex", "subsidy", "opex", "revenue", "net")],
             "cls": "compact"}
    base["ap"] = {
        "totals": totals_tb, "by_measure": by_measure, "by_wijk": by_wijk, "by_buurt": by_buurt, "by_party": by_party,
        "schedule": sched, "map": _figure(plan_map, alt=t("sec_plan", lang)),
        "schedule_note": t("ap_schedule_note", lang, years=ap.horizon_yr, rate=fmt_pct(ap.rate, lang, 2),
                           npv=fmt_eur(tt.get("cost_npv"), lang)),
        "notes": ap.notes,
    }
    return base


_ATOMS = {"municipality": ("municipality",), "owners": ("owners",), "municipality_owners": ("municipality", "owners"),
          "farmers": ("farmers",), "water_board": ("water_board",), "farmers_water_board": ("farmers", "water_board")}


def fmt_party_list(ap: Any, unit_code: str, lang: str) -> str:
    """The parties with a measure in the unit, each once (municipality, owners / residents, farmers,
    water board)."""
    b = ap.blocks
    keys = set(b.loc[b["unit_code"] == unit_code, "party"])
    atoms = [a for a in ("municipality", "owners", "farmers", "water_board")
             if any(a in _ATOMS.get(k, (k,)) for k in keys)]
    return ", ".join(t(f"party_atom_{a}", lang) for a in atoms)


# --------------------------------------------------------------------------------------------
# Natura 2000 surroundings
# --------------------------------------------------------------------------------------------

def frame_table(df: pd.DataFrame, lang: str, max_rows: int = 60) -> dict[str, Any]:
    """Any frame as a table: numbers formatted for the language (0-2 decimals by size; columns
    named ``*share*`` as percentages; ``*eur*`` as amounts), text as it is."""
    cols = [str(c) for c in df.columns]
    num = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    rows = []
    for rec in df.head(max_rows).itertuples(index=False):
        row = []
        rec_units = str(rec[cols.index("units")]) if "units" in cols else ""
        for c, v, isnum in zip(cols, rec, num, strict=True):
            if isnum:
                unit = "share" if "share" in c.lower() else ("eur" if "eur" in c.lower() else "")
                if c == "value" and rec_units.lower().startswith("share"):
                    unit = "share"
                row.append(i18n.fmt_value(v, lang, unit))
            else:
                row.append(i18n.DASH if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
        rows.append(row)
    head = [{"label": c.replace("_", " "), "num": n} for c, n in zip(cols, num, strict=True)]
    return {"head": head, "rows": rows, "cls": "compact"}


#: columns of the surroundings frames shown in the report (all in the GeoPackage); ``{lang}`` = en / nl
N2K_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("part", "pressure", "metric", "value", "units", "status"),
    "areas": ("part", "area_ha", "on_grid_ha", "with_landcover_ha", "landcover_share_of_area"),
    "landcover": ("name_{lang}", "site_ha", "site_share", "zone_ha", "zone_share"),
    "measures": ("name_{lang}", "status", "fits_ha", "converted_ha", "capex_eur_per_ha", "cost_eur_per_ha_yr",
                 "revenue_eur_per_ha_yr", "npv_eur_per_ha", "pays_off"),
    "farm_types": ("farm_name_{lang}", "measure_id", "measure_ha_per_farm", "capex_eur_farm", "cost_eur_farm_yr",
                   "revenue_eur_farm_yr", "npv_eur_farm", "pays_off"),
    "finance": ("parameter", "value", "units", "ev"),
    "nitrogen": ("part", "status", "mean_exceedance", "max_exceedance", "share_above_kdw"),
    "fragmentation": ("part", "area_ha", "natural_ha", "natural_share", "n_patches", "meff_cut_ha", "meff_cbc_ha"),
    "hostile": ("reach_m", "area_with_landcover_ha", "hostile_share", "hostile_ha", "hostile_classes"),
}
N2K_MAX_COLUMNS = 8


def n2k_frame(key: str, df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The columns of a surroundings frame the report shows (:data:`N2K_COLUMNS`; other frames: the
    first :data:`N2K_MAX_COLUMNS`), land-cover rows with no area left out."""
    want = [c.format(lang=lang) for c in N2K_COLUMNS.get(key, ())]
    cols = [c for c in want if c in df.columns] or [str(c) for c in df.columns[:N2K_MAX_COLUMNS]]
    out = df[cols]
    if key == "landcover" and {"site_ha", "zone_ha"} <= set(out.columns):
        out = out[(pd.to_numeric(out["site_ha"], errors="coerce").fillna(0)
                   + pd.to_numeric(out["zone_ha"], errors="coerce").fillna(0)) > 0]
    return out


def natura2000_context(folder: Path, tables: Mapping[str, pd.DataFrame], manifest: dict, lang: str, *,
                       maps: list[str], site_name: str, site_code: str, distance_m: float | None) -> dict[str, Any]:
    """The context of ``natura2000.html.j2``: the frames the surroundings folder holds, in a fixed
    order (pressures, site and zone, land cover, measures, farm types, finance), then any other."""
    i18n.check_lang(lang)
    order = [("summary", "n2k_pressures"), ("areas", "n2k_areas"), ("landcover", "n2k_landcover"),
             ("measures", "n2k_measures"), ("farm_types", "n2k_farm_types"), ("finance", "n2k_finance")]
    sections = []
    used = set()
    for key, title in order:
        df = tables.get(key)
        if df is not None:
            sections.append({"title": t(title, lang), "table": frame_table(n2k_frame(key, df, lang), lang)})
            used.add(key)
    others = [{"title": k.replace("_", " ").capitalize(), "table": frame_table(n2k_frame(k, df, lang), lang)}
              for k, df in tables.items() if k not in used]
    created = str(manifest.get("created") or "")[:10]
    return {
        "lang": lang, "t": strings(lang), "version": __version__,
        "area_name": f"{site_name} ({site_code})" if site_name and site_code else (site_name or site_code),
        "doc_title": t("n2k_title", lang), "created": created,
        "subtitle": t("run_of", lang, date=created),
        "intro": t("n2k_intro", lang, dist=i18n.fmt_length(distance_m, lang)) if distance_m else "",
        "maps": [_figure(m, alt=t("n2k_title", lang)) for m in maps], "sections": sections, "others": others,
        "warnings": [str(w) for w in manifest.get("warnings", [])], "folder": folder.name,
    }


__all__ = ["action_plan_context", "css_string", "environment", "frame_table", "natura2000_context",
           "n2k_frame", "opportunity_rows", "plan_measure_table", "ranking_table", "render", "report_context",
           "strings"]
