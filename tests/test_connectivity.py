"""Connectivity: PC/ECA/dPC on hand-checked patch graphs and circuit currents on hand-checked circuits,
both against independent brute-force references, and the indicator on synthetic land cover."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from biostress.errors import ConfigError
from biostress.grid import Grid
from biostress.indicators import connectivity as C
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

# --------------------------------------------------------------------------------------------------
# PC, ECA, dPC
# --------------------------------------------------------------------------------------------------


def edges(*links: tuple[int, int, float], n: int) -> C.PatchEdges:
    i, j, d = zip(*links, strict=True) if links else ((), (), ())
    return C.PatchEdges(np.array(i, dtype=np.int64), np.array(j, dtype=np.int64), np.array(d, dtype=float), n)


def test_decay_constant_gives_half_at_median():
    k = C.decay_constant(350.0)
    assert math.exp(-k * 350.0) == pytest.approx(0.5)
    assert C.decay_constant(math.inf) == 0.0


def test_two_patches_by_hand():
    # a = 2 and 3 ha, 100 m apart, median dispersal 100 m -> p = 0.5; landscape 10 ha
    a = np.array([2.0, 3.0])
    r = C.probability_of_connectivity(a, edges((0, 1, 100.0), n=2), C.decay_constant(100.0), 10.0)
    num = 2 * 2 + 3 * 3 + 2 * (2 * 3 * 0.5)  # = 19
    assert r.pc_num == pytest.approx(num)
    assert r.pc == pytest.approx(num / 10.0**2)
    assert r.eca == pytest.approx(math.sqrt(19.0))
    # removing patch 1 leaves a2^2 = 9
    assert r.dpc[0] == pytest.approx(100 * (19 - 9) / 19)
    assert r.dpc_intra[0] == pytest.approx(100 * 4 / 19)
    assert r.dpc_flux[0] == pytest.approx(100 * 2 * 2 * 3 * 0.5 / 19)
    assert r.dpc_connector[0] == pytest.approx(0.0, abs=1e-12)
    assert r.dpc[1] == pytest.approx(100 * (19 - 4) / 19)
    np.testing.assert_allclose(r.dpc, r.dpc_intra + r.dpc_flux + r.dpc_connector)


def test_stepping_stone_with_weaker_direct_link():
    # 1 --100 m-- 2 --100 m-- 3 and a direct link 1-3 of 250 m; median 100 m
    a = np.array([2.0, 1.0, 3.0])
    e = edges((0, 1, 100.0), (1, 2, 100.0), (0, 2, 250.0), n=3)
    r = C.probability_of_connectivity(a, e, C.decay_constant(100.0), 10.0)
    p12 = p23 = 0.5
    p13 = 0.25  # via the stepping stone: 0.5 * 0.5 > 0.5 ** 2.5 (direct)
    p13_direct = 0.5**2.5
    num = 4 + 1 + 9 + 2 * (2 * 1 * p12 + 1 * 3 * p23 + 2 * 3 * p13)
    assert r.pc_num == pytest.approx(num)
    assert r.eca == pytest.approx(math.sqrt(num))
    # removing the stepping stone: 1-3 falls back on the direct link
    num_without_2 = 4 + 9 + 2 * 2 * 3 * p13_direct
    assert r.dpc[1] == pytest.approx(100 * (num - num_without_2) / num)
    assert r.dpc_intra[1] == pytest.approx(100 * 1 / num)
    assert r.dpc_flux[1] == pytest.approx(100 * 2 * 1 * (2 * p12 + 3 * p23) / num)
    assert r.dpc_connector[1] == pytest.approx(100 * 2 * 2 * 3 * (p13 - p13_direct) / num)
    assert r.dpc_connector[1] > 0
    assert r.dpc_connector[0] == pytest.approx(0.0, abs=1e-12) and r.dpc_connector[2] == pytest.approx(0.0, abs=1e-12)


def test_stepping_stone_without_direct_link():
    # as above but 1 and 3 beyond the cut-off: removing 2 disconnects them
    a = np.array([2.0, 1.0, 3.0])
    r = C.probability_of_connectivity(a, edges((0, 1, 100.0), (1, 2, 100.0), n=3), C.decay_constant(100.0), 10.0)
    num = 14 + 2 * (2 * 0.5 + 3 * 0.5 + 6 * 0.25)
    assert r.dpc_connector[1] == pytest.approx(100 * 2 * 6 * 0.25 / num)
    assert r.dpc[1] == pytest.approx(100 * (num - 13) / num)


def test_eca_is_total_area_when_all_connected_with_certainty():
    a = np.array([5.0, 1.0, 2.5, 4.0])
    e = edges((0, 1, 300.0), (1, 2, 900.0), (2, 3, 50.0), n=4)  # a chain: every pair connected
    r = C.probability_of_connectivity(a, e, C.decay_constant(math.inf), 100.0)  # k = 0: p = 1
    assert r.eca == pytest.approx(a.sum())
    assert r.pc == pytest.approx(a.sum() ** 2 / 100.0**2)
    p = C.max_product_probabilities(4, e.i, e.j, e.d, 0.0)
    assert np.all(p == 1.0)


def test_eca_of_isolated_patches():
    a = np.array([5.0, 1.0, 2.5])
    r = C.probability_of_connectivity(a, edges(n=3), C.decay_constant(100.0), 100.0)
    assert r.eca == pytest.approx(math.sqrt((a**2).sum()))
    np.testing.assert_allclose(r.dpc, 100 * a**2 / (a**2).sum())
    np.testing.assert_allclose(r.dpc_flux, 0.0)
    np.testing.assert_allclose(r.dpc_connector, 0.0)


def test_no_patches():
    r = C.probability_of_connectivity(np.zeros(0), edges(n=0), 0.01, 100.0)
    assert r.pc == 0.0 and r.eca == 0.0


def brute_force_pc(a: np.ndarray, e: C.PatchEdges, k: float) -> tuple[float, np.ndarray]:
    """PCnum and dPC by recomputing p* from scratch without each patch (Conefor's way)."""
    n = a.size
    num = float(a @ C.max_product_probabilities(n, e.i, e.j, e.d, k) @ a)
    dpc = np.zeros(n)
    for m in range(n):
        keep = (e.i != m) & (e.j != m)
        p = C.max_product_probabilities(n, e.i[keep], e.j[keep], e.d[keep], k)
        am = a.copy()
        am[m] = 0.0
        dpc[m] = 100 * (num - am @ p @ am) / num
    return num, dpc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dpc_matches_removal_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 40
    xy = rng.uniform(0, 3000, (n, 2))
    a = rng.uniform(0.1, 5.0, n) * 1e4
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    i, j = np.triu_indices(n, 1)
    ok = d[i, j] < 900.0  # several components, many stepping stones
    e = C.PatchEdges(i[ok], j[ok], d[i, j][ok], n)
    k = C.decay_constant(300.0)
    r = C.probability_of_connectivity(a, e, k, 9e6, block_bytes=4096)  # tiny blocks: exercises the batching
    num, dpc = brute_force_pc(a, e, k)
    assert r.pc_num == pytest.approx(num, rel=1e-10)
    np.testing.assert_allclose(r.dpc, dpc, rtol=1e-8, atol=1e-10)
    assert (r.dpc_connector > 1e-6).any()
    assert (r.dpc_connector >= 0).all()


def test_pruning_and_lookup_paths_do_not_change_results(monkeypatch):
    rng = np.random.default_rng(11)
    n = 60
    xy = rng.uniform(0, 4000, (n, 2))
    a = rng.uniform(0.1, 5.0, n) * 1e4
    radius = rng.uniform(20, 300, n)  # edge-to-edge distances of round patches: not a metric
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) - radius[:, None] - radius[None, :]
    d = np.maximum(d, 10.0)
    i, j = np.triu_indices(n, 1)
    ok = d[i, j] < 1500.0
    e = C.PatchEdges(i[ok], j[ok], d[i, j][ok], n)
    k = C.decay_constant(400.0)
    kept = C.prune_dominated_links(n, e.i, e.j, e.d)
    assert 0 < kept.sum() < kept.size  # dense geometric graphs have many dominated links
    full = C.probability_of_connectivity(a, e, k, 1.6e7, prune=False)
    pruned = C.probability_of_connectivity(a, e, k, 1.6e7)
    monkeypatch.setattr(C, "_DENSE_BYTES", 0)  # sparse slicing and sorted-key look-ups instead
    sparse_paths = C.probability_of_connectivity(a, e, k, 1.6e7)
    for r in (pruned, sparse_paths):
        assert r.pc_num == pytest.approx(full.pc_num, rel=1e-12)
        np.testing.assert_allclose(r.dpc_connector, full.dpc_connector, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(r.dpc, full.dpc, rtol=1e-9, atol=1e-12)


def test_label_patches_uses_8_connectivity():
    m = np.array([[1, 0, 0, 1],
                  [0, 1, 0, 1],
                  [0, 0, 0, 0],
                  [1, 1, 0, 0]], dtype=bool)
    labels, n = C.label_patches(m)
    assert n == 3
    assert labels[0, 0] == labels[1, 1]


def test_edge_distances_on_a_raster():
    lab = np.zeros((20, 30), dtype=np.int32)
    lab[2:5, 2:5] = 1  # 3x3
    lab[2:5, 8:12] = 2  # 3 empty columns (5, 6, 7) to the right of patch 1
    lab[9:11, 2:4] = 3  # 4 empty rows (5-8) below patch 1
    lab[15:17, 15:17] = 4  # diagonal from patch 2: gap of 3 columns and 10 rows
    e = C.patch_edge_distances(lab, 4, 10.0, max_distance=1000.0)
    got = {(int(i), int(j)): d for i, j, d in zip(e.i, e.j, e.d, strict=True)}
    assert got[(0, 1)] == pytest.approx(30.0)
    assert got[(0, 2)] == pytest.approx(40.0)
    # diagonal: nearest cells (4, 11) and (15, 15): centres sqrt(11^2 + 4^2) cells apart, minus one cell;
    # the exact gap between the cell squares is sqrt(10^2 + 3^2) cells, at most (sqrt 2 - 1) cell less
    assert got[(1, 3)] == pytest.approx((math.hypot(11, 4) - 1) * 10.0)
    assert 0 <= got[(1, 3)] - math.hypot(10, 3) * 10.0 <= (math.sqrt(2) - 1) * 10.0
    # the cut-off drops far pairs
    e2 = C.patch_edge_distances(lab, 4, 10.0, max_distance=35.0)
    assert {(int(i), int(j)) for i, j in zip(e2.i, e2.j, strict=True)} == {(0, 1)}


def test_edge_distances_match_brute_force():
    rng = np.random.default_rng(5)
    labels, n = C.label_patches(rng.random((60, 70)) > 0.93)
    e = C.patch_edge_distances(labels, n, 2.0, max_distance=30.0)
    got = {(int(i), int(j)): d for i, j, d in zip(e.i, e.j, e.d, strict=True)}
    rr, cc = np.nonzero(labels)
    ll = labels[rr, cc] - 1
    dist = np.hypot(rr[:, None] - rr[None, :], cc[:, None] - cc[None, :])
    want = {}
    for p in range(n):
        for q in range(p + 1, n):
            d = (dist[np.ix_(ll == p, ll == q)].min() - 1) * 2.0
            if d <= 30.0:
                want[(p, q)] = d
    assert got.keys() == want.keys()
    for key, d in want.items():
        assert got[key] == pytest.approx(d)


# --------------------------------------------------------------------------------------------------
# Circuit theory
# --------------------------------------------------------------------------------------------------


def reference_circuit(r: np.ndarray, focal: np.ndarray, mode: str, *, four: bool = False, avg_res: bool = False,
                      burn: bool = True) -> tuple[np.ndarray, dict]:
    """Independent dense implementation written from Circuitscape's documentation and code: loops to build
    the conductance matrix, one ground per solve (row and column deleted), node current = max(in, out)."""
    h, w = r.shape
    valid = np.isfinite(r) & (r > 0)
    ids = sorted(int(x) for x in np.unique(focal[(focal > 0) & valid]))

    def solve(burned: list[int], sources: dict[int, float], ground: int):
        node, k = {}, 0
        reg = {}
        for y in range(h):
            for x in range(w):
                if not valid[y, x]:
                    continue
                f = int(focal[y, x])
                if f in burned:
                    if f not in reg:
                        reg[f] = k
                        k += 1
                    node[y, x] = reg[f]
                else:
                    node[y, x] = k
                    k += 1
        g = np.zeros((k, k))
        nb = [(0, 1, False), (1, 0, False)] + ([] if four else [(1, 1, True), (1, -1, True)])
        for (y, x), a in node.items():
            for dy, dx, diag in nb:
                q = (y + dy, x + dx)
                if q not in node or node[q] == a:
                    continue
                ra, rb = r[y, x], r[q]
                if avg_res:
                    c = 1 / (math.sqrt(2) * (ra + rb) / 2) if diag else 1 / ((ra + rb) / 2)
                else:
                    c = (1 / ra + 1 / rb) / (2 * math.sqrt(2)) if diag else (1 / ra + 1 / rb) / 2
                g[a, node[q]] += c
                g[node[q], a] += c

        def nid(f):
            return reg[f] if f in reg else next(v for (y, x), v in node.items() if focal[y, x] == f)

        lap = np.diag(g.sum(1)) - g
        b = np.zeros(k)
        for f, amps in sources.items():
            b[nid(f)] += amps
        gnd = nid(ground)
        # only the connected component of the ground
        seen, todo = {gnd}, [gnd]
        while todo:
            a = todo.pop()
            for c in np.flatnonzero(g[a] > 0):
                if c not in seen:
                    seen.add(int(c))
                    todo.append(int(c))
        comp = sorted(seen)
        keep = [c for c in comp if c != gnd]
        v = np.zeros(k)
        v[keep] = np.linalg.solve(lap[np.ix_(keep, keep)], b[keep])
        inflow, outflow = np.zeros(k), np.zeros(k)
        for a in range(k):
            for c in range(a + 1, k):
                cur = g[a, c] * (v[a] - v[c])
                if cur > 0:
                    outflow[a] += cur
                    inflow[c] += cur
                else:
                    inflow[a] -= cur
                    outflow[c] -= cur
        nc = np.maximum(inflow, outflow)
        out = np.full((h, w), np.nan)
        for (y, x), a in node.items():
            out[y, x] = nc[a]
        return out, v, nid, set(comp)

    total = np.where(valid, 0.0, np.nan)
    resist = {}
    if mode == "pairwise":
        for s, a in enumerate(ids):
            for b in ids[s + 1:]:
                cm, v, nid, comp = solve([a, b] if burn else [], {a: 1.0}, b)
                if nid(a) not in comp:
                    resist[a, b] = math.inf
                    continue
                resist[a, b] = v[nid(a)] - v[nid(b)]
                total = total + np.nan_to_num(cm)
    else:
        for gnd in ids:
            # sources outside the ground's component have no ground: only the component is solved
            cm, *_ = solve(ids if burn else [], {f: 1.0 for f in ids if f != gnd}, gnd)
            total = total + np.nan_to_num(cm)
    return np.where(valid, total, np.nan), resist


@pytest.mark.parametrize("avg_res", [True, False])
def test_series_chain_by_ohms_law(avg_res):
    r = np.array([[1.0, 2.0, 4.0, 8.0, 3.0]])
    focal = np.array([[1, 0, 0, 0, 2]])
    res = C.circuit_current(r, focal, mode="pairwise", four_neighbours=True, avg_resistances=avg_res, solver="direct")
    if avg_res:
        edge_r = [(r[0, i] + r[0, i + 1]) / 2 for i in range(4)]
    else:
        edge_r = [1 / ((1 / r[0, i] + 1 / r[0, i + 1]) / 2) for i in range(4)]
    # series resistors: R = sum; 1 A flows through every cell, also the source and ground (Circuitscape's
    # node current there is the injected current, not half the branch sum)
    assert res.resistances[0, 1] == pytest.approx(sum(edge_r))
    np.testing.assert_allclose(res.current, 1.0)


def test_parallel_paths_split_inversely_to_resistance():
    L = 9
    r = np.full((3, L), np.nan)
    r[0, :] = 2.0  # upper path
    r[2, :] = 5.0  # lower path
    r[:, 0] = r[:, -1] = 1.0  # focal regions at both ends (3 cells each)
    focal = np.zeros((3, L), dtype=int)
    focal[:, 0], focal[:, -1] = 1, 2
    res = C.circuit_current(r, focal, mode="pairwise", four_neighbours=True, avg_resistances=True, solver="direct")
    # each path: (1 + a)/2 + (L - 3) a + (a + 1)/2 = 1 + a (L - 2)
    r_up, r_lo = 1 + 2.0 * (L - 2), 1 + 5.0 * (L - 2)
    i_up, i_lo = r_lo / (r_up + r_lo), r_up / (r_up + r_lo)
    np.testing.assert_allclose(res.current[0, 1:-1], i_up)
    np.testing.assert_allclose(res.current[2, 1:-1], i_lo)
    assert res.current[0, 4] / res.current[2, 4] == pytest.approx(r_lo / r_up)
    assert res.resistances[0, 1] == pytest.approx(r_up * r_lo / (r_up + r_lo))
    np.testing.assert_allclose(res.current[:, 0][[0, 2]], 1.0)  # a focal region carries the full 1 A
    assert np.isnan(res.current[1, 4])


@pytest.mark.parametrize("four", [True, False])
def test_pinch_point_carries_all_current(four):
    r = np.ones((9, 11))
    r[:, 5] = np.nan  # a wall ...
    r[4, 5] = 3.0  # ... with one gap
    focal = np.zeros(r.shape, dtype=int)
    focal[:, 0], focal[:, -1] = 1, 2
    res = C.circuit_current(r, focal, mode="pairwise", four_neighbours=four, solver="amg", tol=1e-10)
    assert res.current[4, 5] == pytest.approx(1.0, rel=1e-6)  # all current passes the gap
    # with 4 neighbours the cells either side of the gap are its only access, so they carry it all too
    hot = {(4, 4), (4, 5), (4, 6)} if four else {(4, 5)}
    for y, x in hot:
        assert res.current[y, x] == pytest.approx(1.0, rel=1e-6)
    others = res.current[:, 1:-1].copy()
    for y, x in hot:
        others[y, x - 1] = np.nan
    assert np.nanmax(others) < 0.9


def test_amg_and_direct_match_a_dense_reference_pairwise():
    rng = np.random.default_rng(3)
    r = rng.lognormal(1.0, 1.0, (12, 15))
    r[rng.random(r.shape) < 0.1] = np.nan
    focal = np.zeros(r.shape, dtype=int)
    for k, (y, x) in enumerate([(1, 1), (10, 2), (6, 13), (0, 14)], start=1):
        r[y, x] = 1.0
        focal[y, x] = k
    ref, ref_res = reference_circuit(r, focal, "pairwise")
    for solver, tol in (("direct", 0.0), ("amg", 1e-12)):
        got = C.circuit_current(r, focal, mode="pairwise", solver=solver, tol=tol)
        np.testing.assert_allclose(got.current, ref, rtol=1e-7, atol=1e-9)
        for (a, b), val in ref_res.items():
            assert got.resistances[a - 1, b - 1] == pytest.approx(val, rel=1e-8)
    assert got.n_solves == 3  # superposition: one solve per focal point but the grounded one


def test_all_to_one_regions_match_a_dense_reference():
    rng = np.random.default_rng(4)
    r = rng.lognormal(1.0, 0.8, (11, 13))
    focal = np.zeros(r.shape, dtype=int)
    focal[0:2, 0:3] = 1
    focal[8:11, 1:3] = 2
    focal[4:6, 10:13] = 3
    focal[5, 6] = 4
    ref, _ = reference_circuit(r, focal, "all-to-one", avg_res=True)
    got = C.circuit_current(r, focal, mode="all-to-one", avg_resistances=True, solver="amg", tol=1e-12)
    np.testing.assert_allclose(got.current, ref, rtol=1e-7, atol=1e-9)


def test_pairwise_regions_match_a_dense_reference():
    rng = np.random.default_rng(6)
    r = rng.lognormal(1.0, 0.8, (9, 10))
    focal = np.zeros(r.shape, dtype=int)
    focal[0:2, 0:2] = 1
    focal[7:9, 0:3] = 2
    focal[3:6, 8:10] = 3
    ref, ref_res = reference_circuit(r, focal, "pairwise")
    got = C.circuit_current(r, focal, mode="pairwise", solver="direct")
    np.testing.assert_allclose(got.current, ref, rtol=1e-9, atol=1e-12)
    for (a, b), val in ref_res.items():
        assert got.resistances[a - 1, b - 1] == pytest.approx(val)


def test_all_to_one_with_two_regions_is_twice_pairwise():
    rng = np.random.default_rng(7)
    r = rng.lognormal(0.0, 1.0, (10, 10))
    focal = np.zeros(r.shape, dtype=int)
    focal[0:2, 0:2], focal[8:10, 7:10] = 1, 2
    pw = C.circuit_current(r, focal, mode="pairwise", solver="direct")
    a1 = C.circuit_current(r, focal, mode="all-to-one", solver="direct")
    np.testing.assert_allclose(a1.current, 2 * pw.current, rtol=1e-9)


def test_disconnected_focal_nodes():
    r = np.ones((5, 7))
    r[:, 3] = np.nan
    focal = np.zeros(r.shape, dtype=int)
    focal[2, 0], focal[2, 6], focal[0, 0] = 1, 2, 3
    res = C.circuit_current(r, focal, mode="pairwise", solver="direct")
    assert math.isinf(res.resistances[0, 1]) and math.isinf(res.resistances[1, 2])
    assert np.isfinite(res.resistances[0, 2])
    assert np.nansum(res.current[:, 4:]) == 0.0  # no current on the side with a single focal point
    assert np.isnan(res.current[:, 3]).all()


def test_node_currents_definition():
    # a star: centre 0 with three leaves; 2 A in at leaf 1, out 1 A at leaves 2 and 3
    u, v, g = np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([1.0, 1.0, 1.0])
    volt = np.array([0.0, 2.0, -1.0, -1.0])
    nc = C.node_currents(u, v, g, volt, 4)
    np.testing.assert_allclose(nc, [2.0, 2.0, 1.0, 1.0])  # centre: (2 + 1 + 1) / 2


def test_resistance_surface_mixing():
    f = np.zeros((3, 1, 2))
    f[0, 0, 0], f[1, 0, 0] = 0.5, 0.5  # half R=1000, half R=1
    f[2, 0, 1] = 0.4  # a boundary cell: 40 % inside, all class 2
    rc = np.array([1000.0, 1.0, 10.0])
    assert C.resistance_surface(f, rc)[0, 0] == pytest.approx(500.5)
    assert C.resistance_surface(f, rc, "harmonic")[0, 0] == pytest.approx(1 / ((1 / 1000 + 1) / 2))
    assert C.resistance_surface(f, rc, "geometric")[0, 0] == pytest.approx(math.sqrt(1000))
    assert C.resistance_surface(f, rc)[0, 1] == pytest.approx(10.0)


def test_coarsen_factor():
    assert C.coarsen_factor((1000, 1000), 2_500_000) == 1
    assert C.coarsen_factor((1000, 1000), 250_000) == 2
    assert C.coarsen_factor((1001, 1000), 250_000) == 3


# --------------------------------------------------------------------------------------------------
# Parameters and the indicator
# --------------------------------------------------------------------------------------------------


def test_builtin_params_cover_the_legend():
    legend = load_legend()
    p = C.load_params(legend)
    assert len(p.profiles) >= 3
    assert p.current_profile.key == "hedgehog"
    for prof in p.profiles:
        assert set(prof.resistance) == set(legend.keys)
        assert all(v > 0 for v in prof.resistance.values())
        assert all(0 <= v <= 1 for v in prof.quality.values())
        assert any(v > 0 for v in prof.quality.values())
    assert set(p.resistance_table["ev"]) <= {"V", "S", "R", "P"}
    assert (p.resistance_table["source"].str.len() > 0).all()
    assert (p.profiles_table["dispersal_source"].str.len() > 0).all()


def test_params_dir_override_and_validation(tmp_path: Path):
    legend = load_legend()
    builtin = C.load_params(legend)
    d = tmp_path / "params"
    d.mkdir()
    prof = builtin.profiles_table[builtin.profiles_table["profile"] == "pollinator"].copy()
    prof["current_map"] = "1"
    prof.to_csv(d / C.PROFILES_FILE, index=False)
    res = builtin.resistance_table[builtin.resistance_table["profile"] == "pollinator"]
    res.to_csv(d / C.RESISTANCE_FILE, index=False)
    p = C.load_params(legend, d)
    assert [x.key for x in p.profiles] == ["pollinator"] and p.current_profile.key == "pollinator"
    res.iloc[:-1].to_csv(d / C.RESISTANCE_FILE, index=False)
    with pytest.raises(ConfigError, match="no resistance for the class"):
        C.load_params(legend, d)
    bad = res.copy()
    bad.loc[bad.index[0], "ev"] = "X"
    bad.to_csv(d / C.RESISTANCE_FILE, index=False)
    with pytest.raises(ConfigError, match="evidence mark"):
        C.load_params(legend, d)
    bad = res.copy()
    bad.loc[bad.index[0], "resistance"] = "0"
    bad.to_csv(d / C.RESISTANCE_FILE, index=False)
    with pytest.raises(ConfigError, match="must be >"):
        C.load_params(legend, d)


def make_ctx(classmap: np.ndarray, cell: float = 10.0) -> IndicatorContext:
    """A context from a map of legend keys (None = outside the area)."""
    legend = load_legend()
    h, w = classmap.shape
    grid = Grid("EPSG:28992", 100000.0, 430000.0, cell, w, h)
    fr = np.zeros((len(legend.keys), h, w), dtype=np.float32)
    dom = np.full((h, w), 255, dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            k = classmap[y, x]
            if k is None:
                continue
            i = legend.keys.index(k)
            fr[i, y, x] = 1.0
            dom[y, x] = legend.classes[i].code
    inside = fr.sum(axis=0)
    return IndicatorContext(grid, legend, fr, dom, inside)


def town() -> np.ndarray:
    m = np.full((40, 60), "building", dtype=object)
    m[:, 28:31] = "road"
    m[18:21, :] = "garden_allotment"  # a green strip crossing the road: a corridor
    m[5:15, 3:15] = "trees_woodland"
    m[25:37, 40:55] = "garden_allotment"
    m[3:10, 40:50] = "shrub"
    m[30:38, 5:12] = "herb_rich_grassland"
    m[0, :] = None  # outside the area
    return m


def test_compute_on_synthetic_town():
    ctx = make_ctx(town())
    results = C.compute(ctx)
    names = [r.name for r in results]
    assert names == ["connectivity_current", "connectivity_patches"]
    cur, pat = results
    assert cur.array.shape == ctx.grid.shape and cur.array.dtype == np.float32
    assert np.isnan(cur.array[0]).all()  # outside
    finite = cur.array[np.isfinite(cur.array)]
    assert finite.size > 0 and (finite >= 0).all() and finite.max() > 0
    # the gap in the green strip where it crosses the road is a pinch point between the patches
    layer = pat.layers["connectivity_patches"]
    assert {"profile", "patch_id", "area_m2", "habitat_area_m2", "dPC", "dPCintra", "dPCflux",
            "dPCconnector", "geometry"} <= set(layer.columns)
    assert layer.crs.to_epsg() == 28992 and layer.geometry.notna().all()
    hog = layer[layer["profile"] == "hedgehog"]
    np.testing.assert_allclose(hog["dPC"], hog["dPCintra"] + hog["dPCflux"] + hog["dPCconnector"])
    assert hog["area_m2"].sum() == pytest.approx(hog.geometry.area.sum())
    table = pat.tables["connectivity_patches_pc_eca"]
    assert list(table["profile"]) == ["hedgehog", "woodland_bird", "amphibian", "pollinator"]
    row = table.set_index("profile").loc["hedgehog"]
    assert 0 < row["PC"] <= 1
    assert math.sqrt((hog["habitat_area_m2"] ** 2).sum()) - 1e-6 <= row["ECA_m2"] <= hog["habitat_area_m2"].sum() + 1e-6
    assert np.nanmax(pat.array) == pytest.approx(hog["dPC"].max(), rel=1e-6)
    assert "connectivity_current_resistance" in cur.tables


def test_compute_patch_limit_is_reported():
    cur, pat = C.compute(make_ctx(town()), max_patches=2)
    layer = pat.layers["connectivity_patches"]
    assert layer.groupby("profile").size().max() == 2
    assert any("exceed the limit of 2" in n for n in pat.notes)
    # the two kept patches are the ones with the most habitat
    hog = layer[layer["profile"] == "hedgehog"]
    assert list(hog["patch_id"]) == [1, 2] and hog["habitat_area_m2"].is_monotonic_decreasing


def test_compute_without_habitat():
    m = np.full((20, 20), "building", dtype=object)
    results = C.compute(make_ctx(m))
    cur, pat = results
    assert np.isnan(cur.array).all()
    assert any("no habitat" in n for n in pat.notes)
    assert any("fewer than two" in n for n in cur.notes)
    assert len(pat.layers["connectivity_patches"]) == 0
    assert (pat.tables["connectivity_patches_pc_eca"]["ECA_m2"] == 0).all()


def test_compute_on_dask_equals_numpy_and_coarsening():
    da = pytest.importorskip("dask.array")
    ctx = make_ctx(town())
    ref = C.compute(ctx)
    lazy = IndicatorContext(ctx.grid, ctx.legend, da.from_array(ctx.fractions, chunks=(21, 20, 30)),
                            da.from_array(ctx.dominant, chunks=(20, 30)), da.from_array(ctx.inside, chunks=(20, 30)))
    got = C.compute(lazy)
    np.testing.assert_allclose(got[0].array, ref[0].array, rtol=1e-4, equal_nan=True)
    np.testing.assert_allclose(got[1].array, ref[1].array, rtol=1e-6, equal_nan=True)
    coarse = C.compute(ctx, max_circuit_cells=700)
    assert coarse[0].array.shape == ctx.grid.shape
    assert any("blocks" in n for n in coarse[0].notes)
    assert np.isfinite(coarse[0].array).any()
