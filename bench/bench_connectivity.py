"""Benchmark: connectivity indicators (circuit current density; PC/ECA/dPC on a patch graph).

Cases
  circuit-<mode>-<m>   1000 x 1000 cells, a random resistance surface (log-normal noise smoothed over
                       ~5 cells, range ~1-1000, 2 % barrier cells), m focal habitat patches; Circuitscape
                       all-to-one (regions burned in) or pairwise (one focal cell per patch) with pyamg;
                       8 neighbours, average conductance, tol 1e-6
  pc-<N>               1000 x 1000 cells of 10 m, about N random disc-shaped habitat patches; median
                       dispersal 500 m, cut-off 1500 m: labelling, edge-to-edge distances, PC/ECA alone,
                       and PC/ECA with exact dPC (intra/flux/connector)
  dordrecht-10m        compute() on the real land cover of Dordrecht (1176 x 1819 cells at 10 m, from
                       bench_ingest.py's bench/_work/dordrecht-10m): four profiles and the current map;
                       skipped when that run's output is absent

Each case runs in its own process (its peak memory is its own). Times and peak RSS are printed as a table
and appended to bench/RESULTS.md with the machine and date.
Usage: python bench/bench_connectivity.py [case ...]
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

from _common import append_results, run_cases, run_child

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
SIZE = 1000
CASES = ["circuit-all-to-one-10", "circuit-all-to-one-25", "circuit-pairwise-10",
         "pc-250", "pc-500", "pc-1000", "pc-2000", "pc-3000", "dordrecht-10m"]


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_resistance(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    from scipy import ndimage

    z = ndimage.gaussian_filter(rng.standard_normal((size, size)), 5.0)
    z = (z - z.mean()) / z.std()
    r = np.exp(1.2 * z) * 20.0  # ~1 to ~1000
    r[rng.random(r.shape) < 0.02] = np.nan  # scattered barrier cells
    return r


def random_patches(rng: np.random.Generator, n: int, size: int = SIZE) -> np.ndarray:
    """A habitat mask of about n disc-shaped patches (radius 1-12 cells; overlaps merge)."""
    mask = np.zeros((size, size), dtype=bool)
    yy, xx = np.ogrid[-12:13, -12:13]
    for cy, cx, rad in zip(rng.integers(12, size - 12, n), rng.integers(12, size - 12, n),
                           np.clip(rng.lognormal(1.2, 0.6, n), 1, 12), strict=True):
        disc = yy**2 + xx**2 <= rad**2
        mask[cy - 12:cy + 13, cx - 12:cx + 13] |= disc
    return mask


def one(case: str) -> dict:
    from biostress.indicators import connectivity as C

    rng = np.random.default_rng(42)
    if case.startswith("circuit"):
        mode, m_str = case.removeprefix("circuit-").rsplit("-", 1)
        m = int(m_str)
        r = random_resistance(rng)
        labels, n = C.label_patches(random_patches(rng, 4 * m))
        sizes = np.bincount(labels.ravel())[1:]
        top = np.argsort(-sizes)[:m] + 1
        focal = np.where(np.isin(labels, top), labels, 0)
        r[focal > 0] = 1.0
        if mode == "pairwise":  # one focal cell per patch (Circuitscape focal points)
            pts = np.zeros_like(focal)
            for lab in top:
                ys, xs = np.nonzero(focal == lab)
                pts[ys[len(ys) // 2], xs[len(xs) // 2]] = lab
            focal = pts
        # the whole run first, so that the peak RSS is its own
        t0 = time.perf_counter()
        res = C.circuit_current(r, focal, mode=mode, solver="amg", tol=1e-6)
        t_total = time.perf_counter() - t0
        rss = _rss()
        n_solves = res.n_solves
        del res
        # then its parts: graph, multigrid set-up (the module's solver) and one solve
        t0 = time.perf_counter()
        nodemap, nn = C.build_nodemap(r, focal if mode == "all-to-one" else None)
        u, v, g = C.conductance_edges(r, nodemap)
        lap = C.laplacian(u, v, g, nn)
        t_graph = time.perf_counter() - t0
        from scipy.sparse import csgraph

        ncomp, comp = csgraph.connected_components(lap, directed=False)
        main = np.flatnonzero(comp == np.argmax(np.bincount(comp)))  # the largest component, one node grounded
        t0 = time.perf_counter()
        solver = C._Solver(lap, main[1:], "amg", 1e-6)
        t_setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        solver.unit(int(main[main.size // 2]))
        t_one = time.perf_counter() - t0
        return {"case": case, "kind": "circuit", "cells": SIZE * SIZE, "nodes": nn, "edges": int(u.size), "focal": m,
                "solves": n_solves, "graph_s": t_graph, "amg_setup_s": t_setup, "one_solve_s": t_one,
                "total_s": t_total, "peak_rss_mb": rss, "components": ncomp}
    if case.startswith("pc-"):
        n_target = int(case.split("-")[1])
        mask = random_patches(rng, n_target)
        cell, d50, maxd = 10.0, 500.0, 1500.0
        t0 = time.perf_counter()
        labels, n = C.label_patches(mask)
        a = np.bincount(labels.ravel())[1:] * cell * cell
        t_label = time.perf_counter() - t0
        t0 = time.perf_counter()
        e = C.patch_edge_distances(labels, n, cell, maxd)
        t_dist = time.perf_counter() - t0
        k = C.decay_constant(d50)
        al = SIZE * SIZE * cell * cell
        t0 = time.perf_counter()
        r0 = C.probability_of_connectivity(a, e, k, al, with_dpc=False)
        t_pc = time.perf_counter() - t0
        t0 = time.perf_counter()
        r1 = C.probability_of_connectivity(a, e, k, al)
        t_dpc = time.perf_counter() - t0
        kept = int(C.prune_dominated_links(n, e.i, e.j, e.d).sum())
        assert abs(r0.eca - r1.eca) <= 1e-9 * r1.eca
        return {"case": case, "kind": "pc", "cells": SIZE * SIZE, "patches": n, "links": int(e.i.size),
                "links_kept": kept, "label_s": t_label, "distance_s": t_dist, "pc_eca_s": t_pc, "pc_eca_dpc_s": t_dpc,
                "eca_ha": r1.eca / 1e4, "peak_rss_mb": _rss()}
    if case == "dordrecht-10m":
        import rasterio

        from biostress.grid import Grid
        from biostress.indicators.base import IndicatorContext
        from biostress.landcover.legend import load_legend

        d = WORK / "dordrecht-10m"
        with rasterio.open(d / "landcover_fractions.tif") as s:
            fr, tr, h, w = s.read(), s.transform, s.height, s.width
        with rasterio.open(d / "landcover.tif") as s:
            dom = s.read(1)
        grid = Grid("EPSG:28992", tr.c, tr.f, tr.a, w, h)
        ctx = IndicatorContext(grid, load_legend(), fr, dom, fr.sum(axis=0))
        t0 = time.perf_counter()
        res = C.compute(ctx)
        t = time.perf_counter() - t0
        tab = res[1].tables["connectivity_patches_pc_eca"]
        return {"case": case, "kind": "compute", "cells": h * w, "shape": f"{h}x{w}",
                "patches": "/".join(str(int(x)) for x in tab["n_patches"]), "total_s": t, "peak_rss_mb": _rss()}
    raise SystemExit(f"unknown case {case}")


def main() -> None:
    if run_child(one):
        return
    rows = run_cases(__file__, sys.argv[1:] or CASES,
                     lambda c: "run bench/bench_ingest.py dordrecht-10m first"
                     if c == "dordrecht-10m" and not (WORK / c / "landcover_fractions.tif").exists() else None)
    parts = []
    circ = [r for r in rows if r["kind"] == "circuit"]
    if circ:
        lines = ["| case | cells | nodes | edges | focal | solves | graph s | AMG setup s | one solve s | total s | peak RSS MB |",
                 "|" + "---|" * 11]
        for r in circ:
            lines.append(f"| {r['case']} | {r['cells']:,} | {r['nodes']:,} | {r['edges']:,} | {r['focal']} | {r['solves']} | "
                         f"{r['graph_s']:.1f} | {r['amg_setup_s']:.1f} | {r['one_solve_s']:.1f} | {r['total_s']:.1f} | "
                         f"{r['peak_rss_mb']:,.0f} |")
        parts.append("\n".join(lines))
    pcs = [r for r in rows if r["kind"] == "pc"]
    if pcs:
        lines = ["| case | cells | patches | links (kept after pruning) | label s | distances s | PC+ECA s | "
                 "PC+ECA+dPC s | peak RSS MB |", "|" + "---|" * 9]
        for r in pcs:
            lines.append(f"| {r['case']} | {r['cells']:,} | {r['patches']:,} | {r['links']:,} ({r['links_kept']:,}) | "
                         f"{r['label_s']:.1f} | {r['distance_s']:.1f} | {r['pc_eca_s']:.1f} | {r['pc_eca_dpc_s']:.1f} | "
                         f"{r['peak_rss_mb']:,.0f} |")
        parts.append("\n".join(lines))
    comp = [r for r in rows if r["kind"] == "compute"]
    if comp:
        lines = ["| case | grid | cells | patches per profile | compute() s | peak RSS MB |", "|" + "---|" * 6]
        for r in comp:
            lines.append(f"| {r['case']} | {r['shape']} | {r['cells']:,} | {r['patches']} | {r['total_s']:.1f} | "
                         f"{r['peak_rss_mb']:,.0f} |")
        parts.append("\n".join(lines))
    table = "\n\n".join(parts)
    print(table)
    append_results("bench_connectivity.py", table)


if __name__ == "__main__":
    main()
