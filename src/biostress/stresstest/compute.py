"""Stress test, step 3: ``compute(ctx)`` for the pipeline (run after all indicators).

Reads the indicator rasters from ``ctx.rasters`` (the pipeline adds every earlier result under its
name), computes the green diversity from ``ctx.fractions`` and returns

* ``stress_robustness``   R (index 0-1, good_high)
* ``stress_vulnerability`` V (index 0-1, bad_high)
* ``stress_score``        S = R (1 - V) (index 0-1, good_high)
* ``stress_class``        classes 1-5 of S (categorical, dark red -> dark green)
* ``stress_green_diversity`` the effective number of green classes used for the diversity aspect

Formulas in :mod:`biostress.stresstest.scores` and :mod:`biostress.stresstest.classes`; the method
and the tables are explained in ``docs/stresstest.md``. Indicators that are not available are left
out (weights renormalised) and named in the notes; nothing is invented. Works on numpy and dask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..indicators.base import IndicatorContext, IndicatorResult
from ..indicators.heat import finite_or_zero, mask_outside, where, xp_of
from .classes import categories, classify, load_classes, robustness, stress_score, vulnerability
from .scores import COMPUTED, green_diversity, load_indicators, load_sensitivity, sensitivity

__all__ = ["compute"]


def _nan_like(template: Any) -> Any:
    return where(template == template, np.float32(np.nan), np.float32(np.nan)).astype(np.float32)


def _coverage_notes(arrays: dict[str, Any], names: list[str], inside: Any) -> list[str]:
    """Notes for the indicators that have values in only part of the area (one pass for dask)."""
    if not names:
        return []
    xp = xp_of(inside, *(arrays[n] for n in names))
    ins = finite_or_zero(inside) > 0
    counts = [xp.sum(ins)] + [xp.sum(ins & xp.isfinite(arrays[n].astype(np.float64))) for n in names]
    if xp is not np:
        import dask

        counts = list(dask.compute(*counts))
    n_in = float(counts[0])
    notes = []
    for name, n_ok in zip(names, counts[1:], strict=True):
        share = float(n_ok) / n_in if n_in else 1.0
        if share < 0.995:
            notes.append(f"{name} has a value in {share:.1%} of the cells of the area; elsewhere it is left out and "
                         "the weights of the other indicators renormalised")
    return notes


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """The stress test of the area: robustness, vulnerability, combined score and five classes per
    cell (the pipeline summarises them per unit; classify unit means with :func:`classify`)."""
    rows = load_indicators(ctx.params_dir)
    classes = load_classes(ctx.params_dir)
    sens_table = load_sensitivity(ctx.params_dir, ctx.legend)
    rasters = ctx.rasters or {}
    shape = tuple(ctx.grid.shape)

    arrays: dict[str, Any] = {}
    for r in rows:
        if r.weight <= 0:
            continue
        if r.indicator in COMPUTED:
            arrays[r.indicator] = green_diversity(ctx.fractions, ctx.legend, ctx.inside, ctx.grid.cell,
                                                  float(r.radius_m or 0.0))
        elif r.indicator in rasters:
            a = rasters[r.indicator]
            if tuple(a.shape) != shape:
                raise InputDataError(f"The indicator raster '{r.indicator}' has shape {tuple(a.shape)}, the analysis "
                                     f"grid {shape}.", hint="Resample it onto the analysis grid.")
            arrays[r.indicator] = a

    sens, missing_classes = sensitivity(ctx.fractions, ctx.legend, sens_table)
    rob = robustness(rows, arrays)
    vul = vulnerability(rows, arrays, sens)

    disabled = [r.indicator for r in rows if r.weight <= 0]
    rob_notes = [f"Robustness from {', '.join(rob.used) or 'no indicator'} (stresstest_indicators.csv)"]
    vul_notes = [f"Vulnerability from {', '.join(vul.used) or 'no indicator'} (stresstest_indicators.csv)"]
    if rob.missing:
        rob_notes.append(f"not available, left out (weights renormalised): {', '.join(rob.missing)}")
    if vul.missing:
        vul_notes.append(f"not available, left out (weights renormalised): {', '.join(vul.missing)}")
    rob_aspects = [a for a in ("size", "quality", "connectivity", "diversity") if a not in rob.aspects]
    if rob_aspects and rob.value is not None:
        rob_notes.append(f"robustness aspect(s) without any indicator: {', '.join(rob_aspects)}")
    vul_aspects = [a for a in ("heat", "flooding", "drought", "nitrogen", "disturbance") if a not in vul.aspects]
    if vul_aspects and vul.value is not None:
        vul_notes.append(f"pressure(s) without any indicator: {', '.join(vul_aspects)}")
    rob_notes += _coverage_notes(arrays, rob.used, ctx.inside)
    vul_notes += _coverage_notes(arrays, vul.used, ctx.inside)
    if missing_classes:
        vul_notes.append(f"land-cover class(es) without a sensitivity row, treated as no data: "
                         f"{', '.join(missing_classes)}")
    if disabled:
        rob_notes.append(f"listed with weight 0 (not used): {', '.join(disabled)}")
    common = ["All weights, thresholds and sensitivities are proposals (ev P/R) for the ecologist to review; "
              "see docs/stresstest.md"]

    template = ctx.dominant
    r_arr = mask_outside(rob.value, template) if rob.value is not None else _nan_like(template)
    v_arr = mask_outside(vul.value, template) if vul.value is not None else _nan_like(template)
    if rob.value is None:
        rob_notes.append("no robustness indicator is available: robustness not computed (NaN)")
    if vul.value is None:
        vul_notes.append("no pressure indicator is available: vulnerability and the combined score not computed (NaN)")
    s_arr = stress_score(r_arr.astype(np.float64), v_arr.astype(np.float64)).astype(np.float32)
    c_arr = classify(s_arr, classes)

    status = {**{n: "used" for n in rob.used + vul.used}, **{n: "not available" for n in rob.missing + vul.missing},
              **{n: "weight 0" for n in disabled}}
    ind_table = pd.DataFrame([{**r.__dict__, "status": status.get(r.indicator, "")} for r in rows])
    cls_table = pd.DataFrame([c.__dict__ for c in classes])
    tables = {"stresstest_indicators": ind_table, "stresstest_sensitivity": sens_table.provenance,
              "stresstest_classes": cls_table}
    bounds = ", ".join(f"{c.code} >= {c.lower:g}" for c in classes)
    results = [
        IndicatorResult(
            name="stress_robustness", array=r_arr, units="index 0-1",
            description="Robustness of green and habitat: weighted mean of the size, quality, connectivity and "
                        "diversity scores (fixed thresholds, stresstest_indicators.csv)",
            title_en="Stress test: robustness", title_nl="Stresstest: robuustheid", palette="good_high",
            vmin=0.0, vmax=1.0, summarise=("mean",), notes=rob_notes + common, proxy=True),
        IndicatorResult(
            name="stress_vulnerability", array=v_arr, units="index 0-1",
            description="Vulnerability: weighted mean over heat, flooding, drought, nitrogen and disturbance of "
                        "exposure x land-cover sensitivity",
            title_en="Stress test: vulnerability", title_nl="Stresstest: kwetsbaarheid", palette="bad_high",
            vmin=0.0, vmax=1.0, summarise=("mean",), notes=vul_notes + common, proxy=True),
        IndicatorResult(
            name="stress_score", array=s_arr, units="index 0-1",
            description="Combined stress-test score S = robustness x (1 - vulnerability); classify the per-unit "
                        "mean with biostress.stresstest.classify",
            title_en="Stress test: combined score", title_nl="Stresstest: gecombineerde score", palette="good_high",
            vmin=0.0, vmax=1.0, summarise=("mean",), tables=tables, notes=rob_notes + vul_notes + common,
            proxy=True),
        IndicatorResult(
            name="stress_class", array=c_arr, units="class",
            description=f"Stress-test class of the combined score (lower bounds: {bounds}); 1 = very vulnerable / "
                        "not robust (dark red) ... 5 = robust, little stress (dark green). A colour-blind-safe "
                        "palette is in the table stresstest_classes (colour_cb)",
            title_en="Stress test: class", title_nl="Stresstest: klasse", palette="categorical",
            categories=categories(classes), summarise=("majority",), tables={"stresstest_classes": cls_table},
            notes=list(common), proxy=True),
    ]
    if "green_diversity" in arrays:
        radius = next(r.radius_m for r in rows if r.indicator == "green_diversity")
        results.append(IndicatorResult(
            name="stress_green_diversity", array=mask_outside(arrays["green_diversity"], template),
            units="effective number of green classes",
            description=f"exp(Shannon diversity) of the cover of the green land-cover classes within {radius:g} m "
                        "(Hill number N1): 1 = one green class or none",
            title_en="Variety of green", title_nl="Variatie in groen", palette="good_high", vmin=1.0, vmax=4.0,
            summarise=("mean",)))
    return results
