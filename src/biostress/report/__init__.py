"""Reports of a run: the municipality report, the local action plan and the Natura 2000 report.

:func:`write_report` reads a run folder (:mod:`biostress.report.data`) and writes, atomically
(:class:`biostress.store.runfolder.RunFolder`: all or nothing), into ``out_dir``:

* ``report_<lang>.html`` and ``report_<lang>.pdf``: the municipality report (one-page summary for a
  council member, then land cover, stress test, neighbourhoods ranked, potential, opportunities,
  the plan, targets, methods, data sources, what is missing or uncertain);
* ``charts/*.png`` and ``.svg`` (matplotlib) and ``maps/*.png`` (copies of the run's maps);
* the local action plan: ``action_plan_<lang>.html`` / ``.pdf``, ``action_plan.xlsx`` (several
  sheets), ``action_plan.csv`` (one row per block) and ``action_plan.gpkg`` (layer
  ``action_plan_blocks`` with measure, unit, costs and party; tables per measure, wijk, buurt,
  party and year) when the run holds a plan;
* ``manifest.json`` (what was written, from which run).

HTML and PDF come from the same Jinja2 template; rendering uses no network (images are local
files; WeasyPrint's URL fetcher refuses anything outside the report folder). When the PDF cannot be
made (WeasyPrint without its Pango library) the HTML and the other files are still written and
:class:`~biostress.report.pdf.PdfUnavailableError` is raised afterwards, naming the system packages
to install. See docs/reports.md.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import BiostressError, ConfigError
from . import i18n
from .pdf import PdfUnavailableError

log = logging.getLogger(__name__)

__all__ = ["PdfUnavailableError", "evaluate_targets", "write_natura2000_report", "write_report"]


def _langs(lang: str | Sequence[str]) -> list[str]:
    langs = [lang] if isinstance(lang, str) else list(lang)
    if not langs:
        raise ConfigError("No report language given.", hint="Use lang='nl', 'en' or ('nl', 'en').")
    return [i18n.check_lang(x) for x in dict.fromkeys(langs)]


def _sha256(p: Path) -> str | None:
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def evaluate_targets(run_dir: str | Path) -> tuple[pd.DataFrame | None, str | None]:
    """The run's target table from :func:`biostress.targets.evaluate_run` and a note when it is not
    available (module missing or the evaluation failed with a biostress error)."""
    try:
        from ..targets import evaluate_run  # type: ignore[import-not-found]
    except ImportError:
        return None, "report: target status not available (biostress.targets is not installed)"
    from ..runs import open_run

    try:
        return evaluate_run(open_run(run_dir)), None
    except BiostressError as e:
        return None, f"report: target status not available: {e.message}"


def write_report(run_dir: str | Path, out_dir: str | Path, *, lang: str | Sequence[str] = "nl", pdf: bool = True,
                 overwrite: bool = False, targets: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write the municipality report and the local action plan of ``run_dir`` into ``out_dir``
    (see the module docstring). ``lang``: ``"nl"``, ``"en"`` or both (``("nl", "en")``);
    ``targets``: the target table (default: :func:`evaluate_targets`). Returns the written files
    (path relative to ``out_dir`` -> absolute path).

    Errors: :class:`~biostress.errors.InputDataError` when ``run_dir`` is not a run folder,
    :class:`~biostress.errors.OutputExistsError` when ``out_dir`` is not empty and ``overwrite`` is
    False (nothing is written), :class:`~biostress.errors.ConfigError` for an unknown language,
    :class:`PdfUnavailableError` after everything but the PDFs was written."""
    from ..measures.catalogue import load_catalogue
    from ..measures.finance import load_finance_params
    from ..store.runfolder import RunFolder
    from . import action_plan as A
    from . import data as D
    from .pdf import load_weasyprint

    langs = _langs(lang)
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    data = D.collect(run_dir)
    cat = load_catalogue(params_dir=data.params_dir, legend=data.legend)
    fin = load_finance_params(params_dir=data.params_dir)
    notes: list[str] = []
    if targets is None:
        targets, note = evaluate_targets(run_dir)
        if note:
            notes.append(note)
    if targets is not None:
        targets = D.check_targets(targets)
    ap = A.build_action_plan(data, catalogue=cat, finance=fin, targets=targets)
    pdf_error: PdfUnavailableError | None = None
    if pdf:
        try:
            load_weasyprint()
        except PdfUnavailableError as e:
            pdf_error = e
    rf = RunFolder(out_dir, overwrite=overwrite, gpkg_name="action_plan.gpkg")
    with rf as run, tempfile.TemporaryDirectory(dir=run.path, prefix=".tmp-") as td:
        tmp = Path(td)
        run.set_parameters({"run_dir": str(run_dir.resolve()), "lang": langs, "pdf": pdf,
                            "targets": "given" if targets is not None else "none"})
        run.add_input("run", run_dir.resolve() / "manifest.json", sha256=_sha256(run_dir / "manifest.json"),
                      licence=None, attribution=None, date=data.created, kind="run")
        run.set_info("area", {"name": data.name, "code": data.code})
        for lg in langs:
            _write_language(run, tmp, data, lg, ap, targets, cat, fin, pdf and pdf_error is None)
        if ap is not None:
            _write_action_plan_data(run, tmp, ap)
        _write_aggregates(run, tmp, run_dir, targets, notes)
        for n in notes + (ap.notes if ap is not None else []):
            run.add_warning(n)
        if pdf_error is not None:
            run.add_warning(f"report: PDF not made: {pdf_error.message}")
    written = {o["path"]: rf.out_dir / o["path"] for o in rf.manifest["outputs"]}
    written["manifest.json"] = rf.out_dir / "manifest.json"
    if pdf_error is not None:
        raise PdfUnavailableError(pdf_error.message, hint=pdf_error.hint, written=written)
    return written


#: indicators summarised over streets, verges, parks and woods (those the run has)
AGGREGATE_RASTERS = ("green_share", "canopy_share", "impervious_share", "habitat_quality", "heat_mitigation",
                     "runoff_depth", "stress_score", "opportunity_gain")


def _write_aggregates(run: Any, tmp: Path, run_dir: Path, targets: pd.DataFrame | None, notes: list[str]) -> None:
    """``aggregates.gpkg``: street segments, verges, parks and woods with the indicator means
    (exact area weights) and the target table per unit, with QGIS styles."""
    from ..aggregate import aggregate_objects
    from ..errors import BiostressError
    from ..runs import open_run
    from ..store import gpkg as G
    from ..store import qml

    orun = open_run(run_dir)
    rasters = [r for r in AGGREGATE_RASTERS if r in orun.files.paths]
    path = tmp / "aggregates.gpkg"
    try:
        objs = aggregate_objects(orun, rasters) if rasters else {}
    except BiostressError as e:
        notes.append(f"report: streets and managed objects not aggregated: {e.message}")
        objs = {}
    green = [(0.0, 0.1, "< 10 %", "#a50026"), (0.1, 0.2, "10-20 %", "#f46d43"), (0.2, 0.3, "20-30 %", "#fee08b"),
             (0.3, 0.45, "30-45 %", "#a6d96a"), (0.45, 1.0001, "> 45 %", "#006837")]
    wrote = False
    for name, gdf in objs.items():
        if len(gdf) == 0:
            continue
        style = qml.vector_graduated("green_share_mean", green) if "green_share_mean" in gdf.columns else None
        G.write_layer(path, name, gdf, qml=style, description=f"{name.replace('_', ' ')} with indicator means "
                      "(exact area-weighted)")
        wrote = True
    if targets is not None and len(targets):
        G.write_table(path, "targets", targets, description="Target status and gap per unit (docs/targets.md)")
        wrote = True
    if wrote:
        run.write_file("aggregates.gpkg", path.read_bytes(), kind="gpkg",
                       description="Streets, verges, parks and woods with indicator means, and the target table")


def _write_language(run: Any, tmp: Path, data: Any, lang: str, ap: Any, targets: pd.DataFrame | None, cat: Any,
                    fin: Any, make_pdf: bool) -> None:
    from . import charts as C
    from . import data as D
    from .html import action_plan_context, render, report_context
    from .pdf import html_to_pdf

    maps: dict[str, str] = {}
    for name in D.REPORT_MAPS:
        p = data.map_path(name, lang)
        if p is not None:
            rel = f"maps/{name}_{lang}.png"
            run.write_file(rel, p.read_bytes(), kind="png", description=data.output_description(rel) or
                           f"Map {name} ({lang}) copied from the run")
            maps[name] = rel
    charts: dict[str, str] = {}

    def chart(key: str, fn: Any, *args: Any) -> None:
        base = tmp / f"{key}_{lang}"
        for p in fn(*args, lang, base):
            rel = f"charts/{p.name}"
            run.write_file(rel, p.read_bytes(), kind=p.suffix.lstrip("."),
                           description=f"Chart '{key}' of the report ({lang})")
        charts[key] = f"charts/{key}_{lang}.svg"  # vector: sharp in the PDF, natural size on the page

    lc = _landcover_ha(data)
    if lc is not None and (lc > 0).any():
        chart("landcover", C.landcover_chart, lc, data.legend)
    per_wijk = D.class_shares_per_unit(data, "wijk")
    if per_wijk is not None and len(per_wijk):
        chart("stress_per_wijk", C.stress_per_unit_chart, per_wijk, data.classes)
    rank = D.ranking(data)
    if rank is not None and bool(pd.notna(rank["score"]).any()):
        chart("ranking", C.ranking_chart, rank, data.classes)
    ctx = report_context(data, lang, charts=charts, maps=maps, targets=targets, catalogue=cat, finance=fin)
    html = run.write_file(f"report_{lang}.html", render("report.html.j2", ctx), kind="html",
                          description=f"Municipality report ({lang}), HTML")
    ap_html = run.write_file(f"action_plan_{lang}.html",
                             render("action_plan.html.j2", action_plan_context(ap, data, lang, plan_map=maps.get("plan"))),
                             kind="html", description=f"Local action plan ({lang}), HTML")
    if make_pdf:
        for src, name, desc in ((html, f"report_{lang}.pdf", f"Municipality report ({lang}), PDF (A4)"),
                                (ap_html, f"action_plan_{lang}.pdf", f"Local action plan ({lang}), PDF (A4)")):
            out = html_to_pdf(src, tmp / name, run.path)
            run.write_file(name, out.read_bytes(), kind="pdf", description=desc)


def _landcover_ha(data: Any) -> pd.Series | None:
    from .html import _landcover_ha as lc

    return lc(data)


def _write_action_plan_data(run: Any, tmp: Path, ap: Any) -> None:
    from ..store import qml
    from . import action_plan as A

    xlsx = A.write_xlsx(ap, tmp / "action_plan.xlsx")
    run.write_file("action_plan.xlsx", xlsx.read_bytes(), kind="xlsx",
                   description="Local action plan: sheets readme, summary, by_measure, by_wijk, by_buurt, by_party, "
                               "schedule (EUR per year), blocks" + (", targets" if ap.targets is not None else ""))
    run.write_file("action_plan.csv", A.blocks_csv(ap), kind="csv", units="EUR, m2, m3",
                   description="Local action plan: one row per block (measure, place, party, costs, gains)")
    blocks = ap.blocks[[c for c in A.BLOCK_COLUMNS if c in ap.blocks.columns] + ["geometry"]]
    run.write_vector("action_plan_blocks", blocks, units="EUR, m2 habitat-equivalent, m3",
                     description="Plan blocks with measure, neighbourhood, district, responsible party, costs "
                                 "(capex, subsidy, opex per year, net present cost) and gains",
                     qml=qml.vector_simple("#1a985088", "#00441b"))
    for name, df, desc in (("action_plan_by_measure", ap.by_measure, "Action plan per measure"),
                           ("action_plan_by_wijk", ap.by_wijk, "Action plan per district (wijk)"),
                           ("action_plan_by_buurt", ap.by_buurt, "Action plan per neighbourhood (buurt)"),
                           ("action_plan_by_party", ap.by_party, "Action plan per responsible party"),
                           ("action_plan_schedule", ap.schedule, "Costs per year and measure (EUR, undiscounted)"),
                           ("action_plan_summary", A.summary_rows(ap).astype({"value": float}),
                            "Totals of the action plan")):
        run.write_table(name, pd.DataFrame(df), description=desc)


def write_natura2000_report(folder: str | Path, out_dir: str | Path, *, lang: str | Sequence[str] = "nl",
                            pdf: bool = True, overwrite: bool = False) -> dict[str, Path]:
    """The Natura 2000 surroundings report (HTML and PDF) of a folder that
    :func:`biostress.natura2000.run.write_surroundings` wrote; see
    :mod:`biostress.report.natura2000`."""
    from .natura2000 import write_natura2000_report as w

    return w(folder, out_dir, lang=_langs(lang), pdf=pdf, overwrite=overwrite)
