"""The Natura 2000 surroundings report: HTML and PDF of a folder that
:func:`biostress.natura2000.run.write_surroundings` wrote.

It renders what the folder holds, nothing more: the site and zone (layers ``natura2000_site`` /
``natura2000_zone``: name, code, zone width), the map ``maps/natura2000_<code>_<lang>.png`` and the
tables ``natura2000_<frame>`` in this order: ``summary`` (pressures on the site), ``areas``,
``landcover``, ``measures`` (promising measures in the zone, cost and income per hectare),
``farm_types`` (per farm type) and ``finance``, then any other ``natura2000_*`` table (e.g.
``nitrogen``, ``drying_out``, ``fragmentation``, ``hostile``, a combined effect). Numbers are
formatted for the language; the folder's warnings close the report.

Output (atomic, :class:`biostress.store.runfolder.RunFolder`): ``natura2000_<lang>.html``,
``natura2000_<lang>.pdf``, ``maps/<map>.png`` and ``manifest.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import InputDataError
from .pdf import PdfUnavailableError, load_weasyprint

PREFIX = "natura2000_"


def read_folder(folder: Path) -> tuple[dict, dict[str, pd.DataFrame], dict[str, str | float | None]]:
    """The folder's manifest, its ``natura2000_*`` tables (prefix removed) and the site
    (code, name, distance_m). A folder without manifest or tables is an :class:`InputDataError`."""
    import pyogrio

    man_p = folder / "manifest.json"
    if not man_p.is_file():
        raise InputDataError(f"{folder} is not a Natura 2000 surroundings folder (no manifest.json).",
                             hint="Give the folder 'biostress natura2000 RUN --site CODE --out DIR' wrote.")
    try:
        man = json.loads(man_p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputDataError(f"The manifest of {folder} cannot be read ({e}).") from None
    gpkgs = sorted(folder.glob("*.gpkg"))
    if not gpkgs:
        raise InputDataError(f"{folder} has no GeoPackage with the surroundings tables.",
                             hint="Write the folder again with 'biostress natura2000'.")
    tables: dict[str, pd.DataFrame] = {}
    site: dict[str, str | float | None] = {"code": "", "name": "", "distance_m": None}
    for g in gpkgs:
        for name, gtype in pyogrio.list_layers(g):
            name = str(name)
            if not name.startswith(PREFIX):
                continue
            if gtype is None:
                tables[name.removeprefix(PREFIX)] = pyogrio.read_dataframe(g, layer=name)
            elif name == "natura2000_site":
                s = pyogrio.read_dataframe(g, layer=name, read_geometry=False)
                if len(s):
                    site["code"] = str(s["site_code"].iloc[0]) if "site_code" in s.columns else ""
                    site["name"] = str(s["site_name"].iloc[0]) if "site_name" in s.columns else ""
                    if "zone_distance_m" in s.columns:
                        site["distance_m"] = float(s["zone_distance_m"].iloc[0])
    if not tables:
        raise InputDataError(f"{folder} holds no natura2000_* tables.",
                             hint="Give the folder 'biostress natura2000' wrote for a site.")
    if site["distance_m"] is None:
        d = (man.get("parameters") or {}).get("distance_m")
        site["distance_m"] = float(d) if isinstance(d, int | float) and math.isfinite(d) else None
    return man, tables, site


def write_natura2000_report(folder: str | Path, out_dir: str | Path, *, lang: Sequence[str] = ("nl",),
                            pdf: bool = True, overwrite: bool = False) -> dict[str, Path]:
    """Render the report (see the module docstring); returns the written files (relative path ->
    absolute path). :class:`PdfUnavailableError` after the HTML was written when WeasyPrint cannot
    run."""
    from ..store.runfolder import RunFolder
    from .html import natura2000_context, render
    from .pdf import html_to_pdf

    folder, out_dir = Path(folder), Path(out_dir)
    man, tables, site = read_folder(folder)
    pdf_error = None
    if pdf:
        try:
            load_weasyprint()
        except PdfUnavailableError as e:
            pdf_error = e
    rf = RunFolder(out_dir, overwrite=overwrite, gpkg_name="natura2000_report.gpkg")
    import tempfile

    with rf as run, tempfile.TemporaryDirectory(dir=run.path, prefix=".tmp-") as td:
        run.set_parameters({"folder": str(folder.resolve()), "lang": list(lang), "pdf": pdf})
        run.set_info("site", site)
        for lg in lang:
            maps = []
            for p in sorted((folder / "maps").glob(f"natura2000_*_{lg}.png")):
                rel = f"maps/{p.name}"
                run.write_file(rel, p.read_bytes(), kind="png", description=f"Map copied from {folder.name}")
                maps.append(rel)
            ctx = natura2000_context(folder, tables, man, lg, maps=maps, site_name=str(site["name"] or ""),
                                     site_code=str(site["code"] or ""), distance_m=site["distance_m"])  # type: ignore[arg-type]
            html = run.write_file(f"natura2000_{lg}.html", render("natura2000.html.j2", ctx), kind="html",
                                  description=f"Natura 2000 surroundings report ({lg}), HTML")
            if pdf and pdf_error is None:
                out = html_to_pdf(html, Path(td) / f"natura2000_{lg}.pdf", run.path)
                run.write_file(f"natura2000_{lg}.pdf", out.read_bytes(), kind="pdf",
                               description=f"Natura 2000 surroundings report ({lg}), PDF (A4)")
        if pdf_error is not None:
            run.add_warning(f"report: PDF not made: {pdf_error.message}")
    written = {o["path"]: rf.out_dir / o["path"] for o in rf.manifest["outputs"]}
    written["manifest.json"] = rf.out_dir / "manifest.json"
    if pdf_error is not None:
        raise PdfUnavailableError(pdf_error.message, hint=pdf_error.hint, written=written)
    return written


__all__ = ["read_folder", "write_natura2000_report"]
