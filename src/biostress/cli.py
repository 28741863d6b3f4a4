"""The ``biostress`` command.

Exit codes: 0 success, 1 data error (unreadable or unusable input), 2 usage or configuration
error (bad arguments, invalid area file, refused path, output exists without --overwrite).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .errors import BiostressError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="biostress: biodiversity stress test and opportunity map from open geodata.")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
_state = {"verbosity": 0}


def _version(value: bool) -> None:
    if value:
        out.print(f"biostress {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More output (-vv for debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    _state["verbosity"] = -1 if quiet else verbose
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=err, disable=_state["verbosity"] < 0 or not err.is_terminal, transient=False)


@contextlib.contextmanager
def _progress_callback():
    """A ``progress(step, done, total)`` callback drawing one bar per step (a line per step when
    stderr is not a terminal)."""
    tasks: dict[str, int] = {}
    with _progress() as prog:
        def cb(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = prog.add_task(step, total=max(total, 1))
                if not err.is_terminal and _state["verbosity"] >= 0:
                    err.print(f"  {step} ...")
            prog.update(tasks[step], completed=done, total=max(total, 1))

        yield cb


def _run_with_progress(area, out_dir: Path, overwrite: bool):
    from .pipeline import run_area

    with _progress_callback() as cb:
        return run_area(area, out_dir, overwrite=overwrite, progress=cb)


def _report(res, area_name: str, seconds: float) -> None:
    if _state["verbosity"] < 0:
        return
    t = Table(title=f"Land cover of {area_name}", show_lines=False)
    t.add_column("class")
    t.add_column("ha", justify="right")
    t.add_column("share", justify="right")
    for r in res.summary.itertuples():
        if r.ha > 0:
            t.add_row(r.name, f"{r.ha:,.1f}", f"{100 * r.share:.1f} %")
    out.print(t)
    if res.warnings:
        out.print(f"[yellow]{len(res.warnings)} warning(s)[/yellow] (all in manifest.json and the 'warnings' table):")
        for w in res.warnings[: 20 if _state["verbosity"] > 0 else 5]:
            out.print(f"  - {w}")
    d = res.out_dir
    out.print(f"\n[bold green]Done[/bold green] in {seconds:.1f} s. Results in [bold]{d}[/bold]:")
    out.print(f"  {d / 'landcover.tif'}            dominant land-cover class per cell (open in QGIS: styled)")
    out.print(f"  {d / 'landcover_fractions.tif'}  cover fraction per class, one band per class")
    out.print(f"  {d / 'landcover_source.tif'}     which source decided each cell")
    out.print(f"  {d / 'biostress.gpkg'}           area units with land-cover shares, boundary, context layers (styled)")
    out.print(f"  {d / 'maps'}/                   PNG maps with legend (English and Dutch): look at these first")
    out.print(f"  {d / 'manifest.json'}            every output, input checksums, licences, parameters, timings")


def _fail(e: BiostressError) -> None:
    err.print(f"[bold red]Error:[/bold red] {e.message}", highlight=False)
    if e.hint:
        err.print(f"[bold]What to do:[/bold] {e.hint}", highlight=False)
    raise typer.Exit(e.exit_code)


def _run_area_file(area_file: Path, out_dir: Path, overwrite: bool, *, all_indicators: bool = False) -> None:
    """Load, run and report one area; errors become messages and exit codes."""
    from .config import IndicatorsSpec, LoadedArea, load_area

    try:
        area = load_area(area_file)
        if all_indicators:
            cfg = area.config.model_copy(update={"indicators": IndicatorsSpec(params_dir=area.config.indicators.params_dir)})
            area = LoadedArea(cfg, area.base_dir, area.source_file)
        t0 = time.perf_counter()
        res = _run_with_progress(area, out_dir, overwrite)
        _report(res, area.config.name, time.perf_counter() - t0)
    except BiostressError as e:
        _fail(e)


@app.command()
def run(
    area_file: Annotated[Path, typer.Argument(help="Area configuration (YAML).", dir_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder (atomically).")] = False,
) -> None:
    """Run the analysis for an area and write a run folder."""
    _run_area_file(area_file, out_dir, overwrite)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where to write the demo run.")] = Path("biostress-demo"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier demo run folder.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Also the slower indicators (guide species, connectivity).")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the reports.")] = False,
) -> None:
    """Run everything on the shipped sample city, Dordrecht, then write its reports (Dutch and English) next to it."""
    try:
        area_file = example_path("dordrecht") / "area.yaml"
    except BiostressError as e:
        _fail(e)
    if _state["verbosity"] >= 0:
        out.print(f"biostress {__version__} demo: Dordrecht (sample data in {area_file.parent})")
    _run_area_file(area_file, out_dir, overwrite, all_indicators=full)
    if no_report:
        return
    from .report import write_report

    rep_dir = out_dir.with_name(out_dir.name + "-report")
    try:
        t0 = time.perf_counter()
        write_report(out_dir, rep_dir, lang=("nl", "en"), overwrite=overwrite)
        if _state["verbosity"] >= 0:
            out.print(f"[bold green]Reports[/bold green] in {time.perf_counter() - t0:.1f} s: "
                      f"{rep_dir / 'report_nl.pdf'}, {rep_dir / 'report_en.pdf'}, {rep_dir / 'action_plan.xlsx'}")
            out.print(f"Web tool: .venv/bin/biostress serve {out_dir} --reports {rep_dir}")
    except BiostressError as e:
        _fail(e)


@app.command()
def validate(area_file: Annotated[Path, typer.Argument(help="Area configuration (YAML).", dir_okay=False)]) -> None:
    """Check an area configuration and that all its local files exist, are safe and readable."""
    from .config import load_area
    from .landcover.legend import load_legend
    from .landcover.mapping import load_mapping
    from .sources.safe import check_format

    try:
        area = load_area(area_file)
        cfg = area.config
        legend = load_legend(area.resolve(cfg.landcover.legend) if cfg.landcover.legend else None)
        load_mapping(legend, area.resolve(cfg.landcover.mapping) if cfg.landcover.mapping else None)
        for s in cfg.sources:
            if s.path:
                p = area.resolve(s.path)
                if p.is_file():
                    check_format(p, s.format)
        if cfg.units.path:
            check_format(area.resolve(cfg.units.path))
        out.print(f"[green]OK[/green]: {area_file} describes '{cfg.name}' ({len(cfg.sources)} sources, "
                  f"{cfg.cell_size:g} m cells in {cfg.crs}).")
    except BiostressError as e:
        _fail(e)


@app.command()
def schema(out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None) -> None:
    """Print the JSON Schema of the area configuration."""
    from .config import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out_file:
        out_file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@app.command("habitat-quality")
def habitat_quality(
    lulc: Annotated[Path, typer.Option("--lulc", help="Current land cover (LULC codes), as for InVEST.", dir_okay=False)],
    threats_table: Annotated[Path, typer.Option("--threats-table", help="InVEST 3.20 threats CSV (max_dist in m).",
                                                dir_okay=False)],
    sensitivity_table: Annotated[Path, typer.Option("--sensitivity-table", help="InVEST 3.20 sensitivity CSV.",
                                                    dir_okay=False)],
    half_saturation: Annotated[float, typer.Option("--half-saturation", help="Half-saturation constant k (> 0).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (InVEST output names).")],
    access: Annotated[Path | None, typer.Option("--access", help="Access polygons with an 'access' field (0-1).")] = None,
    lulc_baseline: Annotated[Path | None, typer.Option("--lulc-baseline", help="Baseline land cover (for rarity).",
                                                       dir_okay=False)] = None,
    lulc_future: Annotated[Path | None, typer.Option("--lulc-future", help="Future land cover (uses fut_path).",
                                                     dir_okay=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder (atomically).")] = False,
) -> None:
    """InVEST 3.20 Habitat Quality on InVEST's own input files (deg_sum_c.tif, quality_c.tif, rarity_c.tif)."""
    from .indicators.habitat_quality import run_invest_files

    try:
        t0 = time.perf_counter()
        written = run_invest_files(lulc, threats_table, sensitivity_table, half_saturation, out_dir,
                                   access_path=access, baseline_path=lulc_baseline, future_path=lulc_future,
                                   overwrite=overwrite)
        if _state["verbosity"] >= 0:
            out.print(f"[bold green]Done[/bold green] in {time.perf_counter() - t0:.1f} s: "
                      + ", ".join(p.name for p in written.values()) + f" in [bold]{out_dir}[/bold]")
    except BiostressError as e:
        _fail(e)


@app.command()
def scenario(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (from 'biostress run' or 'biostress demo').",
                                            file_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Scenario folder to write.")],
    measure: Annotated[str | None, typer.Option("--measure", "-m", help="Measure id from the catalogue (see "
                                                 "docs/measures.md).")] = None,
    polygon: Annotated[Path | None, typer.Option("--polygon", "-p", help="Where to apply it: a GeoJSON/GeoPackage "
                                                 "with polygon(s) (any CRS; reprojected).", dir_okay=False)] = None,
    plan_dir: Annotated[Path | None, typer.Option("--plan", help="Apply a plan instead (a folder from 'biostress "
                                                  "plan', or a run folder with a plan).", file_okay=False)] = None,
    part: Annotated[float, typer.Option("--part", help="Share of the drawn area where the measure is applied (0-1].")] = 1.0,
    networks: Annotated[bool, typer.Option("--networks", help="Also re-run the guide species (habitat networks; "
                                           "whole area, slower).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing scenario folder (atomically).")] = False,
) -> None:
    """Apply a measure on a polygon to a run's land cover and report what changes (per cell, per unit, cost)."""
    import shapely

    from .runs import open_run
    from .scenarios import Change, run_scenario
    from .sources.vector_files import read_vector

    try:
        orun = open_run(run_dir)
        grid = orun.grid
        if plan_dir is not None:
            if measure or polygon:
                raise BiostressError("Give either --plan or --measure with --polygon, not both.")
            changes = _plan_changes(orun, plan_dir)
        elif measure and polygon:
            gdf = read_vector(polygon).to_crs(grid.crs)
            polys = gdf.geometry[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
            if polys.empty:
                raise BiostressError(f"{polygon} holds no polygon.", hint="Draw the area as a polygon.")
            changes = [Change(measure, shapely.make_valid(polys.union_all()), part)]
        else:
            raise BiostressError("Say what changes: --measure ID with --polygon FILE, or --plan FOLDER.")
        t0 = time.perf_counter()
        with _progress_callback() as cb:
            res = run_scenario(run_dir, changes, out_dir, overwrite=overwrite, networks=networks, progress=cb)
        if _state["verbosity"] >= 0:
            what = ", ".join(f"{c.name_en} on {c.area_ha:.2f} ha" for c in res.costs.itertuples())
            out.print(f"[bold green]Scenario[/bold green] {what} in {time.perf_counter() - t0:.1f} s -> "
                      f"[bold]{out_dir}[/bold]")
            c = res.costs.sum(numeric_only=True)
            t = Table("indicator", "mean before (changed cells)", "after", "cells changed")
            for r in res.totals.itertuples():
                t.add_row(r.indicator, f"{r.mean_before_changed:.3g}", f"{r.mean_after_changed:.3g}", str(r.cells_changed))
            out.print(t)
            unq = sorted({u for v in res.costs["unquantified"] for u in str(v).split(", ") if u})
            out.print(f"Cost: capex EUR {c['capex_eur']:,.0f}, subsidy EUR {c['subsidy_eur']:,.0f}, "
                      f"opex EUR {c['opex_eur_yr']:,.0f}/yr, NPV EUR {c['npv_eur']:,.0f} over "
                      f"{int(res.costs['horizon_yr'].max())} yr" + (f" (not known: {', '.join(unq)})" if unq else ""))
            if res.guide_species is not None:
                g = Table("guide species", "suitable ha before", "change", "key-network ha before", "change")
                for r in res.guide_species.itertuples():
                    g.add_row(r.name_en, f"{r.before_suitable_ha:.1f}", f"{r.change_suitable_ha:+.2f}",
                              f"{r.before_key_network_ha:.1f}", f"{r.change_key_network_ha:+.2f}")
                out.print(g)
    except BiostressError as e:
        _fail(e)


@app.command("natura2000")
def natura2000(
    run_dir: Annotated[Path, typer.Argument(help="A run folder whose area is near the site.", file_okay=False)],
    site: Annotated[str | None, typer.Option("--site", help="Site code or name (see --list).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to write.")] = None,
    distance: Annotated[float, typer.Option("--distance", help="Width of the surrounding zone in m.")] = 1000.0,
    list_: Annotated[bool, typer.Option("--list", help="List the Natura 2000 sites of the run and stop.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing folder (atomically).")] = False,
) -> None:
    """Natura 2000 surroundings: pressures on a site from its zone, promising measures there and what they cost and earn."""
    from .natura2000.run import list_sites, write_surroundings

    try:
        if list_:
            t = Table("code", "name", "area ha", "distance to the area m")
            for r in list_sites(run_dir).itertuples():
                t.add_row(str(r.code), str(r.name), f"{r.area_ha:,.0f}", f"{r.distance_to_area_m:,.0f}")
            out.print(t)
            return
        if not site or out_dir is None:
            raise BiostressError("Give --site CODE and --out FOLDER (or --list to see the sites).")
        t0 = time.perf_counter()
        p = write_surroundings(run_dir, site, out_dir, distance_m=distance, overwrite=overwrite)
        from .report import write_natura2000_report

        rep = out_dir.with_name(out_dir.name + "-report")
        write_natura2000_report(p, rep, lang=("nl", "en"), overwrite=overwrite)
        if _state["verbosity"] >= 0:
            out.print(f"[bold green]Done[/bold green] in {time.perf_counter() - t0:.1f} s: [bold]{p}[/bold] and the "
                      f"report (HTML, PDF; nl, en) in [bold]{rep}[/bold]")
    except BiostressError as e:
        _fail(e)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (from 'biostress run' or 'biostress demo'), or an "
                                            "area file (area.yaml: it is run first, into <out>-run).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Report folder to write.")],
    lang: Annotated[list[str] | None, typer.Option("--lang", help="nl and/or en (repeat for both; default both).")] = None,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Only HTML (and the spreadsheets).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report folder (atomically).")] = False,
) -> None:
    """The municipality report (HTML and PDF) and the local action plan (PDF, XLSX, CSV, GeoPackage)."""
    from .report import write_report

    langs = tuple(lang or ("nl", "en"))
    try:
        bad = [x for x in langs if x not in ("nl", "en")]
        if bad:
            raise BiostressError(f"Unknown language(s) {bad}.", hint="Use --lang nl and/or --lang en.")
        t0 = time.perf_counter()
        if run_dir.is_file():  # an area file: run it first
            area_file, run_dir = run_dir, out_dir.with_name(out_dir.name + "-run")
            _run_area_file(area_file, run_dir, overwrite)
        written = write_report(run_dir, out_dir, lang=langs, pdf=not no_pdf, overwrite=overwrite)
        if _state["verbosity"] >= 0:
            out.print(f"[bold green]Report[/bold green] in {time.perf_counter() - t0:.1f} s -> [bold]{out_dir}[/bold]")
            for rel in sorted(written):
                if rel.endswith((".pdf", ".html", ".xlsx")) and "/" not in rel:
                    out.print(f"  {out_dir / rel}")
    except BiostressError as e:
        _fail(e)


@app.command()
def plot(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.", file_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the plot report.")],
    address: Annotated[str | None, typer.Option("--address", help="An address (PDOK Locatieserver; online).")] = None,
    xy: Annotated[str | None, typer.Option("--xy", help="'x, y' in the run's CRS or 'lat, lon'.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="A buurt/wijk code or name, a plan block or a parcel id.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="nl or en.")] = "nl",
    radius: Annotated[float, typer.Option("--radius", help="Radius of the plot around the point, m.")] = 25.0,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Only HTML and JSON.")] = False,
) -> None:
    """The plot report for a resident or business: what is there, what could be, which measures fit, costs, subsidies."""
    from .report.plot import plot_report_cli

    try:
        given = [(k, v) for k, v in (("address", address), ("xy", xy), ("unit", unit)) if v]
        if len(given) != 1:
            raise BiostressError("Give exactly one of --address, --xy or --unit.")
        kind, query = given[0]
        rep = plot_report_cli(run_dir, query, kind, lang, out_dir, radius_m=radius, pdf=not no_pdf)
        if _state["verbosity"] >= 0:
            out.print(f"[bold green]Plot report[/bold green] for {getattr(rep, 'label', query)} -> [bold]{out_dir}[/bold]")
    except BiostressError as e:
        _fail(e)


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A run folder to publish.", file_okay=False)],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    users: Annotated[Path | None, typer.Option("--users", help="Editors file (JSON; see --add-user).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data", help="Folder for proposals, uploads and saved plans.")] = None,
    report_dir: Annotated[Path | None, typer.Option("--reports", help="Report folder offered for download.")] = None,
    add_user: Annotated[str | None, typer.Option("--add-user", help="Add an editor USER:MUNICIPALITY_CODE to --users "
                                                 "(asks for the password) and stop.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes (2 uses both cores of a "
                                         "2-core machine).")] = 1,
    precompute: Annotated[bool, typer.Option("--precompute/--no-precompute", help="Compute the measures of every "
                                             "cell before serving (fast plot cards; cached for the next start).")]
    = True,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Keep the raster layers in one memory-mapped "
                                        "file (fast tiles and lookups; ~4 bytes x layers x cells on disk).")] = True,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = False,
) -> None:
    """The web tool: map, my plot, scenarios, downloads and the HTTP API (OGC API Features, OpenAPI)."""
    try:
        if add_user:
            from .web.auth import add_user as _add

            name, _, muni = add_user.partition(":")
            if users is None or not muni:
                raise BiostressError("--add-user needs USER:MUNICIPALITY and --users FILE.")
            pw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
            _add(users, name, muni, pw)
            out.print(f"Editor {name} ({muni}) saved in {users}")
            return
        from .web.serve import serve as _serve

        def say(msg: str) -> None:
            out.print(f"  {msg}")

        out.print(f"biostress web tool for {run_dir}: preparing ...")
        _serve(run_dir, host, port, users, data_dir, report_dir=report_dir, workers=workers, precompute=precompute,
               cache=cache, access_log=access_log, progress=say, ready=lambda: out.print(f"biostress web tool on http://{host}:{port}/  (Ctrl+C to stop)"))
    except BiostressError as e:
        _fail(e)


def _plan_changes(orun, plan_dir: Path):
    import geopandas as gpd
    import pyogrio

    from .scenarios import plan_changes

    gpkg = plan_dir / "biostress.gpkg"
    if not gpkg.is_file() or "plan_measures" not in {n for n, _ in pyogrio.list_layers(gpkg)}:
        raise BiostressError(f"{plan_dir} holds no plan (no layer 'plan_measures' in biostress.gpkg).",
                             hint="Make one with 'biostress plan RUN --budget EUR --out FOLDER'.")
    blocks = gpd.read_file(gpkg, layer="plan_measures").to_crs(orun.grid.crs)
    man = json.loads((plan_dir / "manifest.json").read_text()) if (plan_dir / "manifest.json").is_file() else {}
    block_m = float((man.get("info", {}).get("plan") or {}).get("block_m", 100.0))
    changes = plan_changes(orun, blocks, max(1, int(round(block_m / orun.grid.cell))))
    if not changes:
        raise BiostressError(f"The plan in {plan_dir} changes nothing in this run's area.")
    return changes


def _pairs(items: list[str] | None, what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            sep = ""
        if not sep or not k.strip():
            raise BiostressError(f"{what} '{it}' is not of the form name=number.", hint=f"E.g. --{what} cooling=0.5")
    return out


@app.command()
def plan(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (from 'biostress run' or 'biostress demo').",
                                            file_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Plan folder to write.")],
    budget: Annotated[float | None, typer.Option("--budget", help="Budget in EUR (net present cost).")] = None,
    block_m: Annotated[float, typer.Option("--block-m", help="Block size in m (one measure per block).")] = 100.0,
    measure: Annotated[list[str] | None, typer.Option("--measure", "-m", help="Only this measure (repeat for more).")] = None,
    weight: Annotated[list[str] | None, typer.Option("--weight", help="Co-benefit weight, e.g. cooling=0.5 (repeat).")] = None,
    target: Annotated[list[str] | None, typer.Option("--target", help="Minimum total, e.g. gain=50000 (repeat).")] = None,
    method: Annotated[str, typer.Option("--method", help="auto, milp (exact, HiGHS) or greedy (fast, with gap).")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing plan folder (atomically).")] = False,
) -> None:
    """Choose which measures to carry out where, for a budget or to reach targets (HiGHS)."""
    from .planning import candidates, make_plan, write_plan
    from .runs import open_run
    from .store.runfolder import RunFolder

    try:
        if method not in ("auto", "milp", "greedy"):
            raise BiostressError(f"Unknown method '{method}'.", hint="Use auto, milp or greedy.")
        weights, targets = _pairs(weight, "weight"), _pairs(target, "target")
        orun = open_run(run_dir)
        t0 = time.perf_counter()
        with _progress_callback() as cb:
            block = max(1, int(round(block_m / orun.grid.cell)))
            cands = candidates(orun.inputs, orun.files, block_cells=block, measures=measure, progress=cb)
            p = make_plan(cands, orun.grid, budget=budget, weights=weights, targets=targets, method=method)
        with RunFolder(out_dir, overwrite=overwrite) as run:
            run.set_grid(orun.grid)
            write_plan(run, p, orun.grid)
            run.write_table("plan_candidates", cands.drop(columns=["block_row", "block_col"], errors="ignore"),
                            description="Every option the optimiser could choose from")
            run.set_info("base_run", str(run_dir))
        if _state["verbosity"] >= 0:
            r = p.result
            gap = f", gap {r.gap:.2%} ({r.bound_method})" if r.gap is not None else ""
            out.print(f"[bold green]Plan[/bold green] {r.status} ({r.method}{gap}) in {time.perf_counter() - t0:.1f} s: "
                      f"{len(p.blocks)} of {len(cands)} options -> [bold]{out_dir}[/bold]")
            if r.message:
                out.print(r.message)
            if len(p.by_measure):
                t = Table("measure", "blocks", "cost EUR (NPV)", "habitat gain m2", "cooling", "water m3")
                for row in p.by_measure.sort_values("cost", ascending=False).itertuples():
                    t.add_row(row.measure, str(row.blocks), f"{row.cost:,.0f}", f"{row.gain:,.0f}",
                              f"{row.cooling:,.0f}", f"{row.water_m3:,.0f}")
                out.print(t)
    except BiostressError as e:
        _fail(e)


def example_path(name: str) -> Path:
    """Folder of a shipped example: inside the installed package, or in the source tree."""
    from importlib import resources

    pkg = Path(str(resources.files("biostress"))) / "_examples" / name
    if (pkg / "area.yaml").is_file():
        return pkg
    repo = Path(__file__).resolve().parents[2] / "examples" / name
    if (repo / "area.yaml").is_file():
        return repo
    raise BiostressError(f"The example '{name}' is not installed.", hint="Reinstall biostress from its source tree.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
