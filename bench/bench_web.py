"""Benchmark: the web tool under concurrent load on loopback (plot lookup and tiles).

Starts ``biostress serve RUN`` in its own process (uvicorn, one worker), waits until it answers, then
lets C concurrent clients (asyncio + httpx, keep-alive) send N requests each kind:

* plot lookup  ``GET /api/plot?x=&y=&crs=EPSG:28992&compact=true`` at random points inside the area (seeded):
  the request the map sends when a user clicks (the card without the layer and measure texts, which the map
  has already; ~7 KB for Dordrecht);
* plot lookup, full card: the same points without ``compact`` (the card with all texts, ~39 KB);
* raster tiles ``GET /tiles/{layer}/{z}/{x}/{y}.png`` over the area at zoom 13-16, several layers;
* unit tiles   ``GET /tiles/units/buurt/{z}/{x}/{y}.pbf``.

Each kind runs twice: a cold pass (first requests after start) and a warm pass (the same requests again).
Latency p50/p95/max in ms, throughput and errors (non-2xx except 204, or exceptions) go into a table that is
printed and appended to bench/RESULTS.md. Aim (issue 6): p95 < 20 ms for a lookup, < 50 ms for a tile with 64
clients on a 2-core machine, zero errors.

Load generator: wrk (Debian package ``wrk``: ``apt-get install wrk``; C, two threads) when installed, else
asyncio + httpx in this process (much slower: it then measures the client as much as the server).

Usage: python bench/bench_web.py [RUN_DIR] [--clients 64] [--requests 2000] [--workers 2] [--client wrk|httpx]
(default RUN_DIR: biostress-demo, made by ``make demo``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _requests(run_dir: Path, info: dict, n: int, seed: int = 7) -> dict[str, list[str]]:
    from biostress.runs import open_run

    rng = np.random.default_rng(seed)
    orun = open_run(run_dir)
    g = orun.grid
    with __import__("rasterio").open(run_dir / "landcover.tif") as src:
        lc = src.read(1)
        nodata = src.nodata if src.nodata is not None else 255
    rr, cc = np.nonzero(lc != nodata)  # points on cells inside the area
    pick = rng.integers(0, rr.size, n)
    xs = g.x0 + (cc[pick] + rng.uniform(0.05, 0.95, n)) * g.cell  # inside the cell, not on its edge
    ys = g.y1 - (rr[pick] + rng.uniform(0.05, 0.95, n)) * g.cell
    plot = [f"/api/plot?x={x:.2f}&y={y:.2f}&crs=EPSG:28992" for x, y in zip(xs, ys, strict=True)]
    compact = [p + "&compact=true" for p in plot]  # what the map asks for (app.js loadPlot)
    w, s, e, nn = info["bounds_wgs84"]
    layers = [x for x in ("landcover", "stress_class", "green_share", "habitat_quality", "heat_mitigation")]
    tiles, units = [], []
    for z in (13, 14, 15, 16):
        x0, y1 = _tile_of(w, s, z)
        x1, y0 = _tile_of(e, nn, z)
        for _ in range(n // 4):
            tx, ty = int(rng.integers(x0, x1 + 1)), int(rng.integers(y0, y1 + 1))
            tiles.append(f"/tiles/{layers[int(rng.integers(0, len(layers)))]}/{z}/{tx}/{ty}.png")
            units.append(f"/tiles/units/buurt/{z}/{tx}/{ty}.pbf")
    return {"plot lookup": compact, "plot lookup, full card": plot, "raster tile": tiles, "unit tile": units}


async def _load(base: str, paths: list[str], clients: int) -> tuple[np.ndarray, int, float]:
    import httpx

    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    lat: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0) as client:
        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    p = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                try:
                    r = await client.get(p)
                    ok = r.status_code in (200, 204)
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - t) * 1000.0)
                errors += 0 if ok else 1

        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(clients)])
        wall = time.perf_counter() - t0
    return np.asarray(lat), errors, wall


WRK_SCRIPT = r"""
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local counter = 0
function setup(thread) thread:set("offset", counter); counter = counter + 1 end
local i = 0
function request()
  i = i + 1
  return wrk.format("GET", paths[((i * 7 + (offset or 0) * 997) % #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %f %f %f %d %d %f\n", latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency.max / 1000, summary.requests, e.connect + e.read + e.write + e.timeout + e.status,
    summary.duration / 1e6))
end
"""


def _load_wrk(base: str, paths: list[str], clients: int, seconds: float) -> tuple[float, float, float, int, int, float]:
    """wrk (C, two threads) sending ``paths`` round-robin for ``seconds`` with ``clients`` connections:
    ``(p50 ms, p95 ms, max ms, requests, errors, wall s)``; errors = socket errors, timeouts and non-2xx/3xx."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "paths.txt").write_text("\n".join(paths) + "\n")
        (Path(d) / "bench.lua").write_text(WRK_SCRIPT)
        r = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "10s", "-s",
                            str(Path(d) / "bench.lua"), base], capture_output=True, text=True,
                           env={**os.environ, "BENCH_PATHS": str(Path(d) / "paths.txt")}, check=True)
    line = next(x for x in r.stdout.splitlines() if x.startswith("BENCH "))
    p50, p95, mx, n, err, wall = line.split()[1:]
    return float(p50), float(p95), float(mx), int(n), int(err), float(wall)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", nargs="?", default=str(ROOT / "biostress-demo"))
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2, help="server processes (biostress serve --workers)")
    ap.add_argument("--client", choices=("wrk", "httpx"), default=None,
                    help="load generator: wrk (C; default when installed) or httpx (Python asyncio)")
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each wrk pass")
    a = ap.parse_args()
    run_dir = Path(a.run_dir)
    if not (run_dir / "manifest.json").exists():
        raise SystemExit(f"{run_dir} is not a run folder: run 'make demo' first")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "biostress.cli", "serve", str(run_dir), "--port", str(port),
                             "--workers", str(a.workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(600):
            try:
                info = httpx.get(base + "/api/info", timeout=2).json()
                break
            except (httpx.HTTPError, json.JSONDecodeError):
                if proc.poll() is not None:
                    raise SystemExit(proc.stderr.read().decode()) from None
                time.sleep(0.5)
        else:
            raise SystemExit("the server did not start")
        for _ in range(120):  # every worker reads the precomputed measure table in the background
            if all(httpx.get(base + "/api/info", timeout=5).json().get("plot_cards_ready") for _ in range(8)):
                break
            time.sleep(0.5)
        reqs = _requests(run_dir, info, a.requests)
        rows = []
        client = a.client or ("wrk" if shutil.which("wrk") else "httpx")
        for kind, paths in reqs.items():
            for phase in ("cold", "warm"):
                if client == "wrk":
                    p50, p95, mx, n, errors, wall = _load_wrk(base, paths, a.clients, a.seconds)
                    rows.append((kind, phase, n, a.clients, p50, p95, mx, n / wall, errors))
                else:
                    lat, errors, wall = asyncio.run(_load(base, paths, a.clients))
                    rows.append((kind, phase, len(paths), a.clients, float(np.percentile(lat, 50)),
                                 float(np.percentile(lat, 95)), float(lat.max()), len(paths) / wall, errors))
                print(f"{kind} {phase}: p50 {rows[-1][4]:.1f} ms p95 {rows[-1][5]:.1f} ms errors {errors}",
                      file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    head = "| requests | pass | n | clients | p50 ms | p95 ms | max ms | req/s | errors |"
    lines = [head, "|" + "---|" * 9]
    lines += [f"| {k} | {ph} | {n} | {c} | {p50:.1f} | {p95:.1f} | {mx:.0f} | {rps:.0f} | {err} |"
              for k, ph, n, c, p50, p95, mx, rps, err in rows]
    table = "\n".join(lines)
    print(table)
    ha = info.get("area_ha")
    append_results("bench_web.py", table, f"Run folder {run_dir.name} ({f'{ha:,.0f}' if ha else '?'} ha); server "
                   f"(`biostress serve --workers {a.workers}`, caches prepared before it listens) and the clients "
                   + ("(wrk, 2 threads, " + f"{a.seconds:g} s per pass, {a.requests} distinct paths round-robin)"
                      if client == "wrk" else "(one Python process, asyncio + httpx)")
                   + " on the same 2-core machine; 'cold' = first pass after start, 'warm' = the same requests "
                   "again (tile LRU cache); n = requests answered.",
                   load_average=True)


if __name__ == "__main__":
    main()
