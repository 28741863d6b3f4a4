"""Connectivity: habitat availability on a patch graph (PC, ECA, dPC) and circuit-theory current density.

Two complementary views of how well habitat hangs together, both computed per *ecoprofile* (a guide
species standing for a group with similar dispersal and habitat needs; Vos et al. 2001, Am. Nat.
157:24-41). Profiles and their per-class resistance and habitat quality are data files with sources
and evidence marks (V verified, S secondary, R typical value, P proposed):
``biostress/data/params/connectivity_profiles.csv`` and ``connectivity_resistance.csv``; an area's
``indicators.params_dir`` may hold its own copies, which replace the built-in ones.

1. Graph-based habitat availability (Saura & Pascual-Hortal 2007, Landsc. Urban Plan. 83:91-103;
   Saura & Rubio 2010, Ecography 33:523-537)
   ----------------------------------------------------------------------------------------------
   * Habitat share per cell ``h = sum_c f_c q_c`` (cover fraction ``f_c`` times the profile's habitat
     quality ``q_c`` in 0-1 of class ``c``). Habitat cells: ``h >= habitat_threshold * inside``.
   * Patches: 8-connected groups of habitat cells (:func:`label_patches`); patches smaller than
     ``min_patch_m2`` are dropped. Node attribute ``a_i = sum(h) * cell area`` (m²): the
     quality-weighted habitat area.
   * Edge-to-edge distance ``d_ij`` (m): the Euclidean distance between the centres of the nearest
     boundary cells of the two patches minus one cell size (:func:`patch_edge_distances`). It is the
     exact gap between the cell squares when the gap is along a row or column and overestimates a
     diagonal gap by at most ``(sqrt 2 - 1)`` cell. Pairs farther apart than ``max_distance_m`` get
     no direct link (they may still connect through stepping stones).
   * Direct dispersal probability ``p_ij = exp(-k d_ij)`` with ``k = ln 2 / d50`` (1/m), so that
     ``p = 0.5`` at the profile's median dispersal distance ``d50``.
   * Maximum product probability ``p*_ij = max over paths of prod p`` = ``exp(-k D_ij)`` where
     ``D_ij`` is the shortest-path distance on the graph with edge weights ``d_ij`` (Dijkstra on
     ``-ln p = k d``; :mod:`scipy.sparse.csgraph`); ``p*_ii = 1``.
   * ``PC = sum_i sum_j a_i a_j p*_ij / A_L²`` (dimensionless, 0-1), ``A_L`` = area of the whole
     analysed landscape (m²). ``ECA = sqrt(sum_i sum_j a_i a_j p*_ij)`` (m²): the area of one patch
     that would give the same PC; ``sqrt(sum a_i²) <= ECA <= sum a_i``.
   * ``dPC_k = 100 (PC - PC_k) / PC`` (%), ``PC_k`` = PC after removing patch k (same ``A_L``),
     split (Saura & Rubio 2010) into ``dPCintra_k = 100 a_k² / PCnum`` (the patch's own area),
     ``dPCflux_k = 100 * 2 a_k sum_{j!=k} a_j p*_kj / PCnum`` (flux starting or ending in k) and
     ``dPCconnector_k = dPC_k - dPCintra_k - dPCflux_k`` (its role as a stepping stone for others),
     with ``PCnum = PC A_L²``. The connector part is computed exactly: only sources whose
     shortest-path tree passes through k are re-run on the graph without k
     (:func:`probability_of_connectivity`).

2. Circuit-theory current density (McRae et al. 2008, Ecology 89:2712-2724; Circuitscape)
   ----------------------------------------------------------------------------------------
   * Resistance per cell from the cover fractions and the profile's per-class resistance ``R_c``:
     by default the fraction-weighted arithmetic mean ``R = sum_c f_c R_c / sum_c f_c``
     (:func:`resistance_surface`; ``mix="harmonic"`` and ``"geometric"`` are available). Cells outside
     the area (or with no finite positive resistance) are not nodes: complete barriers, as NODATA
     in Circuitscape.
   * Conductance graph exactly as Circuitscape builds it (``construct_graph`` in Circuitscape.jl; its
     user guide "Average resistance vs conductance"): cells are nodes, joined to their 8 neighbours
     (or 4 with ``four_neighbours=True``). Default, average conductance: ``G_ab = (G_a + G_b) / 2``
     for first-order neighbours and ``(G_a + G_b) / (2 sqrt 2)`` for diagonals (``G = 1/R``).
     ``avg_resistances=True``: ``R_ab = (R_a + R_b) / 2`` and ``sqrt 2 (R_a + R_b) / 2``.
     Resistances are per cell (Circuitscape does not scale by cell size).
   * Graph Laplacian ``L = D - A``; focal regions (habitat patches) are short-circuited into one node.
     ``mode="pairwise"`` follows Circuitscape's pairwise mode: 1 A between every pair of focal nodes
     in the same connected component; focal points (single cells) share one system and are solved
     by superposition (one solve per focal node), focal regions are burned in only for their own
     pair as in Circuitscape (one system per pair). ``mode="all-to-one"`` follows Circuitscape's
     all-to-one mode: in turn each focal node is grounded and every other focal node of its
     component injects 1 A; all focal regions are burned in at once (as Circuitscape does in this
     mode); solved by superposition.
   * Node current per iteration as Circuitscape computes it (``get_node_currents`` in
     Circuitscape.jl ``src/out.jl``): branch currents ``I_ab = G_ab (V_a - V_b)`` (values below
     1e-8 of the largest set to 0), node current = ``max(total inflow, total outflow)``. At a node
     without source or ground this equals half the sum of the magnitudes of its branch currents; at
     a source or ground it is the injected or withdrawn current (where ``sum |I| / 2`` would give
     half of it). The cumulative map is the sum over iterations (amperes, per cell).
   * Solver: algebraic multigrid (``pyamg`` smoothed aggregation with energy-minimising
     prolongation as CG preconditioner, as Circuitscape's ``cg+amg``; relative residual ``tol``,
     1e-6 as in Circuitscape) or a sparse direct solve (SuperLU, small grids). One node per
     connected component is grounded to make the system positive definite; the potentials of the
     other focal nodes are combined by superposition (Circuitscape solves each pair or iteration
     separately; the currents are the same).

Not chunked. Both analyses are global: a patch 20 km away changes ``p*`` through stepping stones and
current flows across the whole grid, so the computation cannot be split into independent tiles
with a halo without changing the result. Dask input is reduced lazily to the few 2-D arrays needed
(habitat share, resistance, ``inside``), which are then computed into memory: about 12 bytes per
cell for the patch graph. The circuit needs about 1.2 kB per cell (edges, Laplacian, multigrid
hierarchy, one potential vector per focal node: 1.2 GB peak for 1 M cells, bench/RESULTS.md) and
about 3-4 s per solve on 2 cores; when the grid has more than ``max_circuit_cells`` cells (default
1 million) the resistance is block-averaged by the smallest integer factor that fits (arithmetic
mean, like the class mixing) and the current map is given at that coarser cell, repeated onto the
analysis grid, with a note. Omniscape's moving window and Circuitscape's one-to-all mode are not
implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import ndimage, sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from ..errors import ConfigError
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult

PROFILES_FILE = "connectivity_profiles.csv"
RESISTANCE_FILE = "connectivity_resistance.csv"
_EV = ("V", "S", "R", "P", "")
_PROFILE_COLUMNS = ["profile", "name_en", "name_nl", "guide_species", "median_dispersal_m", "dispersal_ev",
                    "dispersal_source", "max_distance_m", "habitat_threshold", "min_patch_m2", "current_map", "ev",
                    "source", "note"]
_RESISTANCE_COLUMNS = ["profile", "class", "resistance", "quality", "ev", "source", "note"]

#: scratch arrays of up to this size (bytes) speed up link pruning and the dPC connector look-ups
_DENSE_BYTES = 256 * 2**20
#: p* below this is treated as 0 (Dijkstra search limit ``ln(1/P_MIN) / k``, about 40 median distances).
P_MIN = 1e-12


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """One ecoprofile / guide species: dispersal and habitat parameters and per-class tables."""

    key: str
    name_en: str
    name_nl: str
    guide_species: str
    median_dispersal_m: float  # d50: p = 0.5 at this edge-to-edge distance
    max_distance_m: float  # no direct link beyond this distance
    habitat_threshold: float  # habitat cell: quality-weighted cover share >= this
    min_patch_m2: float  # smaller patches are dropped
    current_map: bool  # this profile drives the current-density map
    resistance: dict[str, float]  # legend class key -> resistance per cell (1 = easiest)
    quality: dict[str, float]  # legend class key -> habitat quality 0-1

    @property
    def k(self) -> float:
        """Decay constant ``k = ln 2 / d50`` (1/m)."""
        return decay_constant(self.median_dispersal_m)


@dataclass(frozen=True)
class ConnectivityParams:
    profiles: tuple[Profile, ...]
    profiles_table: pd.DataFrame  # as read, for the run's record
    resistance_table: pd.DataFrame
    paths: tuple[str, str]

    @property
    def current_profile(self) -> Profile:
        """The profile flagged ``current_map`` (the first profile when none is)."""
        return next((p for p in self.profiles if p.current_map), self.profiles[0])


def _params_path(name: str, params_dir: Path | None) -> Path:
    if params_dir is not None and (Path(params_dir) / name).is_file():
        return Path(params_dir) / name
    return Path(str(resources.files("biostress") / "data" / "params" / name))


def _read_csv(path: Path, need: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, comment=None)
    except Exception as e:  # noqa: BLE001 - any parse failure is a configuration error
        raise ConfigError(f"Cannot read the connectivity parameter table {path}: {e}") from e
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ConfigError(f"The connectivity parameter table {path} lacks the column(s) {missing}.",
                          hint=f"The table needs the columns {need}.")
    return df


def _number(v: str, where: str, *, lo: float = 0.0, lo_open: bool = True, hi: float = math.inf,
            allow_inf: bool = False) -> float:
    try:
        x = float(v)
    except ValueError:
        raise ConfigError(f"{where}: {v!r} is not a number.") from None
    if not math.isfinite(x) and not (allow_inf and x == math.inf):
        raise ConfigError(f"{where}: {v!r} must be a finite number.")
    if (x <= lo if lo_open else x < lo) or x > hi:
        raise ConfigError(f"{where}: {x} must be {'>' if lo_open else '>='} {lo}" + (f" and <= {hi}." if hi < math.inf
                                                                                    else "."))
    return x


def _ev(v: str, where: str) -> None:
    if v not in _EV:
        raise ConfigError(f"{where}: evidence mark {v!r} must be V, S, R or P (or empty).")


def load_params(legend: Legend, params_dir: Path | None = None) -> ConnectivityParams:
    """Read and validate the profile and resistance tables (an area's own copies in ``params_dir``
    replace the built-in ones). Every profile needs a finite resistance (> 0, per cell, 1 = easiest)
    and a habitat quality (0-1) for every class of the legend; an empty ``max_distance_m`` means
    3 x the median dispersal distance. Evidence marks must be V, S, R, P or empty."""
    pp = _params_path(PROFILES_FILE, params_dir)
    rp = _params_path(RESISTANCE_FILE, params_dir)
    prof = _read_csv(pp, _PROFILE_COLUMNS)
    res = _read_csv(rp, _RESISTANCE_COLUMNS)
    if prof.empty:
        raise ConfigError(f"The connectivity profile table {pp} has no rows.")
    keys = legend.keys
    tables: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    for i, r in res.iterrows():
        where = f"{rp} line {i + 2}"
        p, c = r["profile"].strip(), r["class"].strip()
        if c not in keys:
            raise ConfigError(f"{where}: class {c!r} is not in the land-cover legend.",
                              hint=f"Use the legend's keys: {', '.join(keys)}")
        _ev(r["ev"], where)
        rr = _number(r["resistance"], f"{where} resistance")
        qq = _number(r["quality"], f"{where} quality", lo=0.0, lo_open=False, hi=1.0)
        t = tables.setdefault(p, ({}, {}))
        if c in t[0]:
            raise ConfigError(f"{where}: profile {p!r} repeats class {c!r}.")
        t[0][c], t[1][c] = rr, qq
    profiles = []
    for i, r in prof.iterrows():
        where = f"{pp} line {i + 2}"
        key = r["profile"].strip()
        if key in {p.key for p in profiles}:
            raise ConfigError(f"{where}: profile {key!r} appears twice.")
        _ev(r["ev"], where)
        _ev(r["dispersal_ev"], where)
        if key not in tables:
            raise ConfigError(f"{where}: profile {key!r} has no rows in {rp}.")
        lacking = [c for c in keys if c not in tables[key][0]]
        if lacking:
            raise ConfigError(f"{rp}: profile {key!r} has no resistance for the class(es) {lacking}.",
                              hint="Give every class of the legend a row (resistance > 0, quality 0-1).")
        d50 = _number(r["median_dispersal_m"], f"{where} median_dispersal_m", allow_inf=True)  # inf: p = 1
        maxd = (_number(r["max_distance_m"], f"{where} max_distance_m", allow_inf=True)
                if r["max_distance_m"].strip() else 3 * d50)
        flag = r["current_map"].strip()
        if flag not in ("0", "1", ""):
            raise ConfigError(f"{where}: current_map must be 0 or 1, got {flag!r}.")
        profiles.append(Profile(
            key=key, name_en=r["name_en"], name_nl=r["name_nl"], guide_species=r["guide_species"],
            median_dispersal_m=d50, max_distance_m=maxd,
            habitat_threshold=_number(r["habitat_threshold"], f"{where} habitat_threshold", hi=1.0),
            min_patch_m2=_number(r["min_patch_m2"], f"{where} min_patch_m2", lo_open=False),
            current_map=flag == "1", resistance=tables[key][0], quality=tables[key][1]))
    if sum(p.current_map for p in profiles) > 1:
        raise ConfigError(f"{pp}: more than one profile has current_map = 1.",
                          hint="Mark the one profile whose resistance surface drives the current map.")
    unknown = sorted(set(tables) - {p.key for p in profiles})
    if unknown:
        raise ConfigError(f"{rp}: profile(s) {unknown} are not in {pp}.")
    return ConnectivityParams(tuple(profiles), prof, res, (str(pp), str(rp)))


# --------------------------------------------------------------------------------------------------
# 1. Patch graph: PC, ECA, dPC
# --------------------------------------------------------------------------------------------------


def decay_constant(median_dispersal_m: float) -> float:
    """``k = ln 2 / d50`` (1/m): ``exp(-k d50) = 0.5``. An infinite median gives ``k = 0`` (p = 1)."""
    if not median_dispersal_m > 0:
        raise ValueError("the median dispersal distance must be positive")
    return 0.0 if math.isinf(median_dispersal_m) else math.log(2.0) / median_dispersal_m


_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = ndimage.generate_binary_structure(2, 1)


def label_patches(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label 8-connected groups of ``True`` cells 1..n (0 = not habitat). Returns ``(labels, n)``."""
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=_EIGHT)
    return labels.astype(np.int32, copy=False), int(n)


@dataclass
class PatchEdges:
    """Undirected links between patches ``i < j`` (0-based) with edge-to-edge distance ``d`` (m)."""

    i: np.ndarray
    j: np.ndarray
    d: np.ndarray
    n: int


def patch_edge_distances(labels: np.ndarray, n: int, cell: float, max_distance: float) -> PatchEdges:
    """Edge-to-edge distances (m) between all pairs of patches closer than ``max_distance``.

    ``d_ij = (min over boundary cells a of i, b of j of |centre_a - centre_b|) - cell``: exact for
    gaps along rows or columns, at most ``(sqrt 2 - 1) * cell`` too long for diagonal gaps. Only
    boundary cells (a 4-neighbour outside the patch) can be nearest, so only those are compared:
    candidate pairs come from patch bounding boxes (an STR-tree query), and for each pair the
    smaller boundary is queried against a KD-tree of the larger one.
    """
    empty = PatchEdges(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), n)
    if n < 2:
        return empty
    import shapely

    lab = np.asarray(labels)
    hab = lab > 0
    border = hab & ~ndimage.binary_erosion(hab, structure=_FOUR, border_value=0)
    rows, cols = np.nonzero(border)
    bl = lab[rows, cols]
    order = np.argsort(bl, kind="stable")
    pts = np.column_stack([cols[order], rows[order]]).astype(np.float64)  # cell units
    starts = np.searchsorted(bl[order], np.arange(1, n + 2))
    counts = np.diff(starts)
    reach = max_distance / cell + 1.0  # centre-to-centre reach in cells
    slices = ndimage.find_objects(lab, max_label=n)
    # cell squares (not centres): a one-cell patch must not give a degenerate box; the squares are
    # closer than the centres, so the candidates are a superset of the pairs within reach
    boxes = shapely.box([s[1].start - 0.5 for s in slices], [s[0].start - 0.5 for s in slices],
                        [s[1].stop - 0.5 for s in slices], [s[0].stop - 0.5 for s in slices])
    tree = shapely.STRtree(boxes)
    a, b = tree.query(boxes, predicate="dwithin", distance=reach)
    keep = a < b
    a, b = a[keep], b[keep]
    if a.size == 0:
        return empty
    # query the patch with fewer boundary cells against the KD-tree of the other
    big = np.where(counts[a] >= counts[b], a, b)
    small = np.where(counts[a] >= counts[b], b, a)
    srt = np.lexsort((small, big))
    big, small = big[srt], small[srt]
    out_i, out_j, out_d = [], [], []
    grp = np.flatnonzero(np.r_[True, big[1:] != big[:-1], True])
    for g0, g1 in zip(grp[:-1], grp[1:], strict=True):
        t = int(big[g0])
        kd = cKDTree(pts[starts[t]:starts[t + 1]])
        partners = small[g0:g1]
        q = np.concatenate([pts[starts[s]:starts[s + 1]] for s in partners])
        dist, _ = kd.query(q, k=1, distance_upper_bound=reach + 1e-9)
        seg = np.r_[0, np.cumsum(counts[partners])[:-1]]
        dmin = np.minimum.reduceat(dist, seg)
        d = (dmin - 1.0) * cell
        ok = np.isfinite(d) & (d <= max_distance)
        out_i.append(np.minimum(t, partners[ok]))
        out_j.append(np.maximum(t, partners[ok]))
        out_d.append(np.maximum(d[ok], 0.0))
    return PatchEdges(np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64),
                      np.concatenate(out_d), n)


def _graph(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> sparse.csr_matrix:
    # csgraph drops zero weights from sparse input: 1 nm stands for touching (changes p by ~1e-12)
    w = np.maximum(np.asarray(d, dtype=np.float64), 1e-9)
    return sparse.csr_matrix((w, (i, j)), shape=(n, n))


def prune_dominated_links(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Mask of the links to keep: a link ``i-j`` is dropped when at least two different patches m
    give ``d_im + d_mj <= d_ij``.

    Exact for PC and every dPC: by induction on link length (all ``d > 0``), for the intact graph
    and for the graph without any single patch k, the remaining links still give a path no longer
    than every dropped link (one of its two witnesses is not k). Cost ``sum_i deg_i²``.
    """
    keep = np.ones(i.size, dtype=bool)
    if i.size < 3:
        return keep
    w = np.maximum(np.asarray(d, dtype=np.float64), 1e-9)
    eid = np.arange(i.size)
    g = sparse.csr_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    e = sparse.csr_matrix((np.r_[eid, eid] + 1, (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    dense = None
    if n * n * 8 <= _DENSE_BYTES:
        dense = np.full((n, n), np.inf)
        dense[np.r_[i, j], np.r_[j, i]] = np.r_[w, w]
    for a in range(n):
        lo, hi = g.indptr[a], g.indptr[a + 1]
        if hi - lo < 3:
            continue
        nb, da = g.indices[lo:hi], g.data[lo:hi]
        hi_q = np.flatnonzero(nb > a)  # each link once, from its lower end
        if hi_q.size == 0:
            continue
        rows = np.flatnonzero(da < da[hi_q].max())  # a witness m is closer to a than the far end
        if rows.size < 2:
            continue
        if dense is not None:
            sub = dense[np.ix_(nb[rows], nb[hi_q])]
        else:
            sub = g[nb[rows]][:, nb[hi_q]].toarray()
            sub[sub == 0] = np.inf
        witnesses = np.count_nonzero((da[rows, None] + sub) <= da[None, hi_q], axis=0)
        drop = hi_q[witnesses >= 2]
        if drop.size:
            keep[e.data[lo:hi][drop] - 1] = False
    return keep


def max_product_probabilities(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, k: float) -> np.ndarray:
    """Dense ``(n, n)`` matrix of ``p*_ij = exp(-k D_ij)`` (``D`` = shortest path over the links
    ``i-j`` of length ``d`` m); ``p*_ii = 1``, 0 when not connected. For small graphs and checks."""
    dist = csgraph.dijkstra(_graph(n, i, j, d), directed=False)
    with np.errstate(invalid="ignore"):
        p = np.exp(-k * dist)
    p[~np.isfinite(dist)] = 0.0
    np.fill_diagonal(p, 1.0)
    return p


@dataclass
class PCResult:
    """PC, ECA and the dPC fractions of each patch (``%`` of PC)."""

    pc: float  # dimensionless 0-1
    eca: float  # m² (units of a)
    pc_num: float  # sum_i sum_j a_i a_j p*_ij (m^4)
    landscape_area: float  # A_L (m²)
    dpc: np.ndarray | None = None  # (n,) %
    dpc_intra: np.ndarray | None = None
    dpc_flux: np.ndarray | None = None
    dpc_connector: np.ndarray | None = None


def _connector_losses(src: int, dist: np.ndarray, pred: np.ndarray, g: sparse.csr_matrix, a: np.ndarray,
                      k: float, lookup: np.ndarray | None = None) -> np.ndarray:
    """For one source ``i``: ``loss[m] = sum_j a_j (p*_ij - p*_ij without m)`` for every patch m.

    Only targets in the subtree ``S`` of m in the shortest-path tree of i can change. Their new
    distance is ``min over x outside S + {m}, y in S adjacent: D_ix + d_xy + dist_S(y, j)`` (the last
    time a shortest path is outside S its distance is unchanged), i.e. a Dijkstra inside ``S``
    seeded from its outside neighbours. All subtrees of one source are laid out as disjoint blocks
    behind a single super-source, so one Dijkstra call serves every m; the work is the sum of the
    tree depths instead of one full Dijkstra per (i, m). ``lookup``: optional ``(c, c)`` int32
    scratch array filled with -1 (restored on return) that speeds up the (m, j) -> pair look-up.
    """
    c = dist.size
    loss = np.zeros(c)
    j = np.flatnonzero(np.isfinite(dist))
    j = j[j != src]
    anc = pred[j].astype(np.int64)
    pk, pj = [], []
    while j.size:  # (ancestor m, descendant j) pairs, m != src
        keep = (anc != src) & (anc >= 0)
        j, anc = j[keep], anc[keep]
        if not j.size:
            break
        pk.append(anc)
        pj.append(j)
        anc = pred[anc].astype(np.int64)
    if not pk:
        return loss
    pm, pt = np.concatenate(pk), np.concatenate(pj)
    npair = pm.size
    deg = np.diff(g.indptr)[pt].astype(np.int64)  # >= 1: every tree node has its parent link
    starts = np.cumsum(deg) - deg
    total = int(deg.sum())
    nbpos = np.arange(total) + np.repeat(g.indptr[pt] - starts, deg)  # rows: (pair, neighbour of its target)
    x, w = g.indices[nbpos].astype(np.int64), g.data[nbpos]
    mr = np.repeat(pm, deg)
    if lookup is not None:
        lookup[pm, pt] = np.arange(npair, dtype=np.int32)
        partner = lookup[mr, x].astype(np.int64)
        lookup[pm, pt] = -1
    else:
        key = pm * c + pt
        order = np.argsort(key)
        key_sorted = key[order]
        xkey = mr * c + x
        pos = np.minimum(np.searchsorted(key_sorted, xkey), npair - 1)
        partner = np.where(key_sorted[pos] == xkey, order[pos], -1)
    internal = (partner >= 0) & (x != mr)
    entry_val = np.where((partner < 0) & (x != mr), dist[x] + w, np.inf)  # inf also for unreachable x
    init = np.minimum.reduceat(entry_val, starts)
    seeded = np.flatnonzero(np.isfinite(init))
    # CSR of the block graph built directly: rows of internal links are already grouped by pair
    row_counts = np.bincount(np.repeat(np.arange(npair), deg)[internal], minlength=npair)
    indptr = np.r_[0, np.cumsum(row_counts), row_counts.sum() + seeded.size]
    indices = np.r_[partner[internal], seeded]
    data = np.r_[w[internal], init[seeded]]
    bg = sparse.csr_matrix((data, indices, indptr), shape=(npair + 1, npair + 1))
    newd = csgraph.dijkstra(bg, directed=True, indices=npair)[:npair]
    old_p = np.exp(-k * dist[pt])
    new_p = np.exp(-k * np.where(np.isfinite(newd), newd, 0.0))
    new_p[~np.isfinite(newd)] = 0.0
    return np.bincount(pm, a[pt] * (old_p - new_p), minlength=c)


def probability_of_connectivity(areas: np.ndarray, edges: PatchEdges, k: float, landscape_area: float, *,
                                with_dpc: bool = True, prune: bool = True,
                                block_bytes: int = 64 * 2**20) -> PCResult:
    """PC, ECA and (optionally) dPC with its intra/flux/connector fractions.

    ``areas`` = ``a_i`` (m²), ``edges`` = direct links with edge-to-edge distance (m), ``k`` = decay
    constant (1/m, :func:`decay_constant`), ``landscape_area`` = ``A_L`` (m²). Formulas in the module
    docstring. Links dominated by two-hop paths are dropped first (:func:`prune_dominated_links`,
    exact; ``prune=False`` keeps all). Per connected component, sources are processed in blocks
    (memory ``block_bytes``): Dijkstra gives the rows of ``p*`` and the shortest-path trees, and
    :func:`_connector_losses` gives, per source, the exact loss of that row when each other patch
    is removed; the connector part is the sum over sources. Cost: one all-pairs Dijkstra plus, per
    source, a Dijkstra over its subtrees (about N x mean tree depth nodes).
    """
    a = np.asarray(areas, dtype=np.float64)
    n = a.size
    if n == 0 or not np.any(a > 0):
        z = np.zeros(n)
        return PCResult(0.0, 0.0, 0.0, float(landscape_area), z, z.copy(), z.copy(), z.copy())
    limit = math.log(1.0 / P_MIN) / k if k > 0 else np.inf
    if prune and edges.i.size:
        kept = prune_dominated_links(n, edges.i, edges.j, edges.d)
        edges = PatchEdges(edges.i[kept], edges.j[kept], edges.d[kept], n)
    full = _graph(n, edges.i, edges.j, edges.d)
    full = (full + full.T).tocsr()  # symmetric: both directions stored
    rsum = np.zeros(n)  # R'_i = sum_{j != i} a_j p*_ij
    connector = np.zeros(n)
    ncomp, comp = csgraph.connected_components(full, directed=False)
    comp_nodes = np.split(np.argsort(comp, kind="stable"), np.cumsum(np.bincount(comp, minlength=ncomp))[:-1])
    for nodes in comp_nodes:
        c = nodes.size
        if c < 2:
            continue
        g = full[nodes][:, nodes].tocsr()
        ac = a[nodes]
        lookup = np.full((c, c), -1, dtype=np.int32) if with_dpc and c * c * 4 <= _DENSE_BYTES else None
        blk = max(1, min(c, block_bytes // (16 * c)))
        for s0 in range(0, c, blk):
            src = np.arange(s0, min(c, s0 + blk))
            if with_dpc:
                dist, pred = csgraph.dijkstra(g, directed=True, indices=src, return_predecessors=True,
                                              limit=limit)
            else:
                dist = csgraph.dijkstra(g, directed=True, indices=src, limit=limit)
            p = np.exp(-k * dist) if k > 0 else np.isfinite(dist).astype(np.float64)
            p[~np.isfinite(dist)] = 0.0
            rsum[nodes[src]] = p @ ac - ac[src]
            if with_dpc:
                for r, s in enumerate(src):
                    connector[nodes] += ac[s] * _connector_losses(int(s), dist[r], pred[r], g, ac, k, lookup)
    pc_num = float(np.dot(a, a) + np.dot(a, rsum))
    al = float(landscape_area)
    res = PCResult(pc=pc_num / al**2 if al > 0 else math.nan, eca=math.sqrt(pc_num), pc_num=pc_num,
                   landscape_area=al)
    if with_dpc:
        connector = np.maximum(connector, 0.0)  # rounding
        res.dpc_intra = 100.0 * a * a / pc_num
        res.dpc_flux = 100.0 * 2.0 * a * rsum / pc_num
        res.dpc_connector = 100.0 * connector / pc_num
        res.dpc = res.dpc_intra + res.dpc_flux + res.dpc_connector
    return res


# --------------------------------------------------------------------------------------------------
# 2. Circuit theory
# --------------------------------------------------------------------------------------------------


def resistance_surface(fractions: Any, class_resistance: np.ndarray,
                       mix: Literal["arithmetic", "harmonic", "geometric"] = "arithmetic") -> Any:
    """Cell resistance from cover fractions ``(n_classes, H, W)`` and per-class resistance ``R_c``.

    * ``arithmetic`` (default): ``R = sum f_c R_c / sum f_c`` (a cell half building, half grass is
      half as hard to cross as a building: conservative for ground-dwelling species);
    * ``harmonic``: ``1/R = sum f_c (1/R_c) / sum f_c`` (conductances mix: the easiest part dominates);
    * ``geometric``: ``ln R = sum f_c ln R_c / sum f_c``.

    Works on numpy and dask arrays (lazily); NaN where the fractions sum to 0 or are NaN.
    """
    rc = np.asarray(class_resistance, dtype=np.float64)
    if mix == "arithmetic":
        w = rc
    elif mix == "harmonic":
        w = 1.0 / rc
    elif mix == "geometric":
        w = np.log(rc)
    else:
        raise ValueError(f"unknown mix {mix!r}")
    num = _weighted_sum(fractions, w)
    tot = _weighted_sum(fractions, np.ones_like(w))
    has = tot > 0
    m = np.where(has, num, np.nan) / np.where(has, tot, 1.0)  # no 0/0, also when dask evaluates later
    if mix == "harmonic":
        m = 1.0 / m
    elif mix == "geometric":
        m = np.exp(m)
    return m


def _weighted_sum(fractions: Any, weights: np.ndarray) -> Any:
    """``sum_c w_c f_c`` over the first axis, NaN fractions counted as 0 (numpy or dask, lazily)."""
    acc = None
    for c, w in enumerate(weights):
        if w == 0:
            continue
        f = fractions[c]
        term = np.where(np.isnan(f), 0.0, f) * float(w)
        acc = term if acc is None else acc + term
    if acc is None:
        acc = np.where(np.isnan(fractions[0]), 0.0, fractions[0]) * 0.0
    return acc


def build_nodemap(resistance: np.ndarray, regions: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Node index per cell (``-1`` = not a node). Cells with finite positive resistance are nodes;
    the cells of each positive id in ``regions`` are merged into one node (a short-circuited focal
    region). Returns ``(nodemap, n_nodes)``."""
    r = np.asarray(resistance)
    valid = np.isfinite(r) & (r > 0)
    nodemap = np.full(r.shape, -1, dtype=np.int64)
    if regions is None:
        nodemap[valid] = np.arange(int(valid.sum()))
        return nodemap, int(valid.sum())
    reg = np.where(valid, np.asarray(regions), 0)
    plain = valid & (reg <= 0)
    n0 = int(plain.sum())
    nodemap[plain] = np.arange(n0)
    ids, inv = np.unique(reg[reg > 0], return_inverse=True)
    nodemap[reg > 0] = n0 + inv
    return nodemap, n0 + ids.size


_SQRT2 = math.sqrt(2.0)


def conductance_edges(resistance: np.ndarray, nodemap: np.ndarray, *, four_neighbours: bool = False,
                      avg_resistances: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges ``(u, v, g)`` between neighbouring nodes with Circuitscape's conductance rules.

    Average conductance (default): ``g = (G_a + G_b) / 2`` (rook), ``(G_a + G_b) / (2 sqrt 2)``
    (diagonal); average resistance: ``g = 1 / ((R_a + R_b) / 2)`` and ``1 / (sqrt 2 (R_a + R_b) / 2)``.
    Edges inside a merged region are dropped; parallel edges between the same two nodes are summed
    (as Julia's ``sparse`` does in Circuitscape).
    """
    r = np.asarray(resistance, dtype=np.float64)
    h, w = r.shape
    offsets = [(0, 1, False), (1, 0, False)] + ([] if four_neighbours else [(1, 1, True), (1, -1, True)])
    us, vs, gs = [], [], []
    for dr, dc, diag in offsets:
        a_sl = (slice(0, h - dr), slice(max(0, -dc), w - max(0, dc)))  # cell (r, c)
        b_sl = (slice(dr, h), slice(max(0, dc), w - max(0, -dc)))  # its neighbour (r + dr, c + dc)
        na, nb = nodemap[a_sl], nodemap[b_sl]
        ok = (na >= 0) & (nb >= 0) & (na != nb)
        ra, rb = r[a_sl][ok], r[b_sl][ok]
        if avg_resistances:
            g = 1.0 / ((ra + rb) / 2.0 * (_SQRT2 if diag else 1.0))
        else:
            g = (1.0 / ra + 1.0 / rb) / (2.0 * _SQRT2 if diag else 2.0)
        us.append(na[ok])
        vs.append(nb[ok])
        gs.append(g)
    u = np.concatenate(us)
    v = np.concatenate(vs)
    g = np.concatenate(gs)
    del us, vs, gs
    n = int(nodemap.max()) + 1 if nodemap.size else 0
    if n == int(np.count_nonzero(nodemap >= 0)):  # one cell per node: no parallel edges
        return u, v, g
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    m = sparse.coo_matrix((g, (lo, hi)), shape=(n, n)).tocsr().tocoo()  # sums parallel edges
    return m.row.astype(np.int64), m.col.astype(np.int64), m.data


def laplacian(u: np.ndarray, v: np.ndarray, g: np.ndarray, n: int) -> sparse.csr_matrix:
    """Graph Laplacian ``L = D - A`` (``A`` symmetric conductances, ``D`` = row sums)."""
    a = sparse.coo_matrix((g, (u, v)), shape=(n, n)).tocsr()
    a = a + a.T
    return (sparse.diags(np.asarray(a.sum(axis=1)).ravel()) - a).tocsr()


def node_currents(u: np.ndarray, v: np.ndarray, g: np.ndarray, volt: np.ndarray, n: int) -> np.ndarray:
    """Circuitscape's node current: ``max(inflow, outflow)`` over the branch currents
    ``I_uv = g (V_u - V_v)``; branch currents below 1e-8 of the largest are set to 0 (as
    Circuitscape.jl ``_get_branch_currents_posneg``). Amperes per node."""
    i = g * (volt[u] - volt[v])
    mx = float(np.abs(i).max()) if i.size else 0.0
    if mx == 0.0:
        return np.zeros(n)
    i[np.abs(i) < 1e-8 * mx] = 0.0
    pos = np.maximum(i, 0.0)  # u -> v
    neg = np.maximum(-i, 0.0)  # v -> u
    out = np.bincount(u, pos, minlength=n) + np.bincount(v, neg, minlength=n)
    inn = np.bincount(v, pos, minlength=n) + np.bincount(u, neg, minlength=n)
    return np.maximum(out, inn)


class _Solver:
    """Solves ``L_red x = b`` on the Laplacian with one grounded node per component removed."""

    def __init__(self, lap: sparse.csr_matrix, keep: np.ndarray, solver: str, tol: float) -> None:
        self.keep = keep
        self.n = lap.shape[0]
        m = lap[keep][:, keep].tocsr()
        self.tol = tol
        self.solver = solver
        self.idx = np.full(self.n, -1, dtype=np.int64)
        self.idx[keep] = np.arange(keep.size)
        if solver == "amg":
            import pyamg

            # energy-minimising prolongation: about half the CG iterations of the default smoothing on
            # heterogeneous resistance surfaces (26 vs 46 on Dordrecht's hedgehog surface, 1 M nodes)
            self.ml = pyamg.smoothed_aggregation_solver(m, symmetry="symmetric", smooth="energy")
        elif solver == "direct":
            from scipy.sparse.linalg import factorized

            self.lu = factorized(m.tocsc())
        else:
            raise ValueError(f"unknown solver {solver!r}: use 'amg' or 'direct'")

    def unit(self, node: int) -> np.ndarray:
        """Full-length potential for 1 A injected at ``node`` (0 at the grounded nodes)."""
        x = np.zeros(self.n)
        j = self.idx[node]
        if j < 0:  # the grounded reference itself
            return x
        b = np.zeros(self.keep.size)
        b[j] = 1.0
        x[self.keep] = self.ml.solve(b, tol=self.tol, accel="cg", maxiter=2000) if self.solver == "amg" else self.lu(b)
        return x


@dataclass
class CircuitResult:
    """Cumulative current per cell (A; NaN where the cell is not a node) and, in pairwise mode, the
    effective resistance between focal nodes (``inf`` when not connected)."""

    current: np.ndarray  # (H, W)
    focal_ids: np.ndarray  # the focal ids in the order of ``resistances``
    resistances: np.ndarray | None
    n_solves: int
    mode: str


def _focal_nodes(nodemap: np.ndarray, focal: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Node of each focal id (its first valid cell; all cells are one node when the region is merged)."""
    fl = np.asarray(focal).ravel()
    nm = nodemap.ravel()
    ok = (fl > 0) & (nm >= 0)
    order = np.argsort(fl[ok], kind="stable")
    f_sorted = fl[ok][order]
    first = np.searchsorted(f_sorted, ids)
    found = (first < f_sorted.size) & (f_sorted[np.minimum(first, f_sorted.size - 1)] == ids)
    nodes = np.full(ids.size, -1, dtype=np.int64)
    nodes[found] = nm[ok][order][first[found]]
    return nodes


def _cells_to_map(node_values: np.ndarray, nodemap: np.ndarray) -> np.ndarray:
    out = np.full(nodemap.shape, np.nan)
    ok = nodemap >= 0
    out[ok] = node_values[nodemap[ok]]
    return out


def circuit_current(resistance: np.ndarray, focal: np.ndarray, *,
                    mode: Literal["pairwise", "all-to-one"] = "pairwise", four_neighbours: bool = False,
                    avg_resistances: bool = False, solver: Literal["amg", "direct"] = "amg",
                    tol: float = 1e-6) -> CircuitResult:
    """Cumulative current density (A per cell) as Circuitscape's pairwise or all-to-one mode.

    ``resistance``: (H, W) resistance per cell; NaN, inf or <= 0 = not a node (barrier).
    ``focal``: (H, W) integer ids, 0 = none; an id on one cell is a focal point, on several cells a
    focal region (short-circuited). See the module docstring for the modes and definitions.
    """
    r = np.asarray(resistance, dtype=np.float64)
    f = np.asarray(focal)
    valid = np.isfinite(r) & (r > 0)
    ids = np.unique(f[(f > 0) & valid])
    sizes = np.bincount(np.searchsorted(ids, f[(f > 0) & valid]), minlength=ids.size)
    if mode == "pairwise" and np.any(sizes > 1):
        return _pairwise_regions(r, f, ids, four_neighbours, avg_resistances, solver, tol)
    if mode not in ("pairwise", "all-to-one"):
        raise ValueError(f"unknown mode {mode!r}: use 'pairwise' or 'all-to-one'")
    nodemap, n = build_nodemap(r, np.where(valid, f, 0) if mode == "all-to-one" else None)
    current = np.zeros(n)
    m = ids.size
    res = np.full((m, m), np.inf) if mode == "pairwise" else None
    if res is not None:
        np.fill_diagonal(res, 0.0)
    if m < 2:
        return CircuitResult(_cells_to_map(current, nodemap), ids, res, 0, mode)
    u, v, g = conductance_edges(r, nodemap, four_neighbours=four_neighbours, avg_resistances=avg_resistances)
    lap = laplacian(u, v, g, n)
    fnodes = _focal_nodes(nodemap, f, ids)
    ncomp, comp = csgraph.connected_components(lap, directed=False)
    fcomp = comp[fnodes]
    groups = {c: np.flatnonzero(fcomp == c) for c in np.unique(fcomp)}
    groups = {c: gi for c, gi in groups.items() if gi.size >= 2}
    if not groups:
        return CircuitResult(_cells_to_map(current, nodemap), ids, res, 0, mode)
    refs = np.array([fnodes[gi[0]] for gi in groups.values()])
    in_comp = np.isin(comp, np.array(list(groups)))
    in_comp[refs] = False
    sol = _Solver(lap, np.flatnonzero(in_comp), solver, tol)
    del lap, in_comp  # the solver keeps its reduced copy
    x = {int(q): sol.unit(int(fnodes[q])) for gi in groups.values() for q in gi}
    n_solves = sum(gi.size - 1 for gi in groups.values())
    for gi in groups.values():
        if mode == "pairwise":
            for s, p in enumerate(gi):
                for q in gi[s + 1:]:
                    volt = x[int(p)] - x[int(q)]
                    current += node_currents(u, v, g, volt, n)
                    res[p, q] = res[q, p] = volt[fnodes[p]] - volt[fnodes[q]]
        else:
            total = sum(x[int(q)] for q in gi)
            for p in gi:
                volt = total - gi.size * x[int(p)]  # 1 A in at every other focal node, all out at p
                current += node_currents(u, v, g, volt, n)
    return CircuitResult(_cells_to_map(current, nodemap), ids, res, n_solves, mode)


def _pairwise_regions(r: np.ndarray, f: np.ndarray, ids: np.ndarray, four_neighbours: bool,
                      avg_resistances: bool, solver: str, tol: float) -> CircuitResult:
    """Circuitscape pairwise mode with focal regions: for each pair only its two regions are burned
    in, so every pair is its own system (one factorisation and one solve per pair)."""
    valid = np.isfinite(r) & (r > 0)
    m = ids.size
    res = np.full((m, m), np.inf)
    np.fill_diagonal(res, 0.0)
    cum = np.zeros(r.shape)
    nodes_any = np.zeros(r.shape, dtype=bool)
    n_solves = 0
    for s in range(m):
        for t in range(s + 1, m):
            reg = np.where(valid & ((f == ids[s]) | (f == ids[t])), f, 0)
            nodemap, n = build_nodemap(r, reg)
            nodes_any |= nodemap >= 0
            u, v, g = conductance_edges(r, nodemap, four_neighbours=four_neighbours, avg_resistances=avg_resistances)
            lap = laplacian(u, v, g, n)
            a, b = _focal_nodes(nodemap, reg, ids[[s, t]])
            _, comp = csgraph.connected_components(lap, directed=False)
            if comp[a] != comp[b]:
                continue
            keep = np.flatnonzero((comp == comp[a]) & (np.arange(n) != b))
            volt = _Solver(lap, keep, solver, tol).unit(int(a))
            n_solves += 1
            res[s, t] = res[t, s] = volt[a] - volt[b]
            cur = node_currents(u, v, g, volt, n)
            ok = nodemap >= 0
            cum[ok] += cur[nodemap[ok]]
    cum[~valid] = np.nan
    return CircuitResult(cum, ids, res, n_solves, "pairwise")


def coarsen_factor(shape: tuple[int, int], max_cells: int) -> int:
    """Smallest integer block size ``f`` with ``ceil(H/f) * ceil(W/f) <= max_cells``."""
    h, w = shape
    f = 1
    while math.ceil(h / f) * math.ceil(w / f) > max_cells:
        f += 1
    return f


def _block_reduce(a: np.ndarray, f: int, how: str) -> np.ndarray:
    h, w = a.shape
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    fill = np.nan if how == "mean" else 0
    p = np.full((hp, wp), fill, dtype=np.float64 if how == "mean" else a.dtype)
    p[:h, :w] = a
    b = p.reshape(hp // f, f, wp // f, f)
    if how == "mean":
        with np.errstate(invalid="ignore"):
            cnt = np.isfinite(b).sum(axis=(1, 3))
            s = np.nansum(b, axis=(1, 3))
            return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
    return b.max(axis=(1, 3))


# --------------------------------------------------------------------------------------------------
# 3. The indicator
# --------------------------------------------------------------------------------------------------


def _materialise(a: Any) -> np.ndarray:
    if hasattr(a, "compute") and not isinstance(a, np.ndarray):
        a = a.compute()
    return np.asarray(a)


def _patch_polygons(labels: np.ndarray, transform: Any) -> dict[int, Any]:
    import shapely
    from rasterio import features
    from shapely.geometry import shape

    parts: dict[int, list] = {}
    for geom, val in features.shapes(labels, mask=labels > 0, connectivity=8, transform=transform):
        parts.setdefault(int(val), []).append(shape(geom))
    return {k: (v[0] if len(v) == 1 else shapely.union_all(v)) for k, v in parts.items()}


def _profile_patches(ctx: IndicatorContext, profile: Profile, inside: np.ndarray, outside: np.ndarray,
                     max_patches: int, notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patch labels (1..N, largest ``a_i`` first), ``a_i`` (m²) and area (m²) of the kept patches."""
    q = np.array([profile.quality[k] for k in ctx.legend.keys])
    hab = _materialise(_weighted_sum(ctx.fractions, q)).astype(np.float64)
    hab[outside] = 0.0
    mask = (hab > 0) & (hab >= profile.habitat_threshold * inside) & ~outside
    labels, n = label_patches(mask)
    cell_area = ctx.grid.cell_area
    if n == 0:
        return labels, np.zeros(0), np.zeros(0)
    a = np.bincount(labels.ravel(), hab.ravel(), minlength=n + 1)[1:] * cell_area
    area = np.bincount(labels.ravel(), inside.ravel(), minlength=n + 1)[1:] * cell_area
    keep = area >= profile.min_patch_m2
    if (~keep).any():
        notes.append(f"{profile.key}: {int((~keep).sum())} habitat patches smaller than {profile.min_patch_m2:g} m² "
                     f"({area[~keep].sum() / 1e4:.1f} ha) are left out.")
    order = np.flatnonzero(keep)[np.argsort(-a[keep], kind="stable")]
    if order.size > max_patches:
        notes.append(f"{profile.key}: {order.size} patches exceed the limit of {max_patches}; the {order.size - max_patches} "
                     f"with the least habitat area ({a[order[max_patches:]].sum() / 1e4:.1f} ha) are left out.")
        order = order[:max_patches]
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[order + 1] = np.arange(1, order.size + 1, dtype=np.int32)
    return lut[labels], a[order], area[order]


def compute(ctx: IndicatorContext, *, max_patches: int = 2000, max_focal: int = 15,
            max_circuit_cells: int = 1_000_000, solver: Literal["amg", "direct"] = "amg") -> list[IndicatorResult]:
    """Connectivity indicators for every profile of the parameter tables.

    Returns two results:

    * ``connectivity_current``: cumulative current (A per cell; Circuitscape all-to-one mode between
      the ``max_focal`` largest habitat patches of the current-map profile, 8 neighbours, average
      conductance; patches themselves and cells outside the area are NaN). Table
      ``connectivity_current_resistance``: the class resistances used.
    * ``connectivity_patches``: dPC (% of PC) of the patch each cell belongs to, for the current-map
      profile. Layer ``connectivity_patches``: the patches of every profile with ``area_m2``,
      ``habitat_area_m2`` (``a_i``), ``dPC``, ``dPCintra``, ``dPCflux``, ``dPCconnector``. Tables
      ``connectivity_patches_pc_eca`` (PC, ECA per profile) and ``connectivity_patches_profiles``.

    Notes report dropped small patches, the patch limit, profiles without habitat and a coarsened
    circuit. Limits: at most ``max_patches`` patches per profile (those with the most habitat;
    exact dPC costs about N² x tree depth, ~20 s for 1,100 patches), the circuit on at most
    ``max_circuit_cells`` cells (else block-averaged). Dordrecht at 10 m (2.1 M cells, four
    profiles) takes about 2 minutes and 0.8 GB.
    """
    params = load_params(ctx.legend, ctx.params_dir)
    grid = ctx.grid
    dominant = _materialise(ctx.dominant)
    inside = np.nan_to_num(_materialise(ctx.inside).astype(np.float64), nan=0.0)
    outside = (dominant == 255) | ~(inside > 0)
    inside = np.where(outside, 0.0, inside)
    cell_area = grid.cell_area
    landscape = float(inside.sum() * cell_area)
    notes: list[str] = []
    summary, patch_frames = [], []
    cur_profile = params.current_profile
    cur_labels, cur_a = np.zeros(grid.shape, np.int32), np.zeros(0)
    dpc_map = np.full(grid.shape, np.nan, dtype=np.float32)
    for prof in params.profiles:
        labels, a, area = _profile_patches(ctx, prof, inside, outside, max_patches, notes)
        n = a.size
        if n == 0:
            notes.append(f"{prof.key}: no habitat (quality-weighted cover >= {prof.habitat_threshold:g} in patches of "
                         f">= {prof.min_patch_m2:g} m²) in the area: PC = 0, ECA = 0, no patches.")
        edges = patch_edge_distances(labels, n, grid.cell, prof.max_distance_m)
        pcr = probability_of_connectivity(a, edges, prof.k, landscape)
        hab_total = float(a.sum())
        summary.append({
            "profile": prof.key, "guide_species": prof.guide_species, "median_dispersal_m": prof.median_dispersal_m,
            "k_per_m": prof.k, "max_distance_m": prof.max_distance_m, "n_patches": n, "n_links": int(edges.i.size),
            "habitat_area_m2": hab_total, "landscape_area_m2": landscape, "PC": pcr.pc, "ECA_m2": pcr.eca,
            "ECA_ha": pcr.eca / 1e4, "ECA_share_of_habitat": pcr.eca / hab_total if hab_total > 0 else np.nan,
        })
        if n:
            polys = _patch_polygons(labels, grid.transform)
            patch_frames.append(pd.DataFrame({
                "profile": prof.key, "patch_id": np.arange(1, n + 1), "area_m2": area, "habitat_area_m2": a,
                "dPC": pcr.dpc, "dPCintra": pcr.dpc_intra, "dPCflux": pcr.dpc_flux,
                "dPCconnector": pcr.dpc_connector, "geometry": [polys.get(i) for i in range(1, n + 1)]}))
        if prof is cur_profile:
            cur_labels, cur_a = labels, a
            if n:
                lut = np.r_[np.nan, pcr.dpc].astype(np.float32)
                dpc_map = lut[labels]
                dpc_map[labels == 0] = np.nan
    import geopandas as gpd

    cols = ["profile", "patch_id", "area_m2", "habitat_area_m2", "dPC", "dPCintra", "dPCflux", "dPCconnector"]
    patches = (gpd.GeoDataFrame(pd.concat(patch_frames, ignore_index=True), geometry="geometry", crs=grid.crs)
               if patch_frames else gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs))

    # circuit: all-to-one between the largest patches of the current-map profile
    cur_notes: list[str] = []
    current = np.full(grid.shape, np.nan)
    nfocal = min(max_focal, cur_a.size)
    rc = np.array([cur_profile.resistance[k] for k in ctx.legend.keys])
    if nfocal < 2:
        cur_notes.append(f"{cur_profile.key}: fewer than two habitat patches, so no current can flow: the current map "
                         "is empty.")
    else:
        if cur_a.size > nfocal:
            cur_notes.append(f"{cur_profile.key}: current between the {nfocal} largest of {cur_a.size} habitat patches.")
        res = _materialise(resistance_surface(ctx.fractions, rc)).astype(np.float64)
        res[outside] = np.nan
        focal = np.where(cur_labels <= nfocal, cur_labels, 0)
        f = coarsen_factor(grid.shape, max_circuit_cells)
        if f > 1:
            cur_notes.append(f"The grid ({grid.height} x {grid.width}) exceeds {max_circuit_cells:,} cells: the circuit "
                             f"is solved on {f} x {f} blocks ({grid.cell * f:g} m cells; mean resistance) and the "
                             "current is per block.")
            res_c, foc_c = _block_reduce(res, f, "mean"), _block_reduce(focal, f, "max")
        else:
            res_c, foc_c = res, focal
        cr = circuit_current(res_c, foc_c, mode="all-to-one", solver=solver)
        cm = cr.current
        cm[foc_c > 0] = np.nan  # sources and grounds: short-circuited, no current density of their own
        if f > 1:
            cm = np.repeat(np.repeat(cm, f, axis=0), f, axis=1)[:grid.height, :grid.width]
        current = cm
    current[outside] = np.nan
    current = current.astype(np.float32)
    finite = current[np.isfinite(current)]
    vmax = float(np.percentile(finite, 99)) if finite.size else None
    summary_df = pd.DataFrame(summary)
    resist = params.resistance_table[params.resistance_table["profile"] == cur_profile.key]
    return [
        IndicatorResult(
            name="connectivity_current",
            array=current,
            units="A (cumulative current per cell)",
            description=(f"Circuit-theory current density for {cur_profile.guide_species}: Circuitscape all-to-one "
                         f"mode between the {nfocal} largest habitat patches (each patch in turn the ground, 1 A from "
                         "every other), 8 neighbours, average conductance; resistance per cell = fraction-weighted "
                         "mean of the class resistances. High values are corridors and pinch points that carry much "
                         "of the modelled movement; patches themselves (sources/grounds) are empty."),
            title_en="Connectivity: current density", title_nl="Connectiviteit: stroomdichtheid",
            palette="good_high", vmin=0.0, vmax=vmax, summarise=("mean", "max"),
            tables={"connectivity_current_resistance": resist.reset_index(drop=True)},
            notes=cur_notes, proxy=True),
        IndicatorResult(
            name="connectivity_patches",
            array=dpc_map,
            units="% of PC (dPC)",
            description=(f"Importance of each habitat patch of {cur_profile.guide_species} for connected habitat: dPC, "
                         "the % loss of the probability of connectivity PC if the patch were lost (Saura & Rubio "
                         "2010); the layer has dPC and its intra/flux/connector fractions for every profile, the "
                         "table PC and ECA per profile."),
            title_en="Connectivity: patch importance (dPC)", title_nl="Connectiviteit: belang van leefgebieden (dPC)",
            palette="good_high", vmin=0.0, summarise=("max",),
            layers={"connectivity_patches": patches},
            tables={"connectivity_patches_pc_eca": summary_df,
                    "connectivity_patches_profiles": params.profiles_table.copy()},
            notes=notes),
    ]


__all__ = [
    "CircuitResult", "ConnectivityParams", "PCResult", "PatchEdges", "Profile", "build_nodemap", "circuit_current",
    "coarsen_factor", "compute", "conductance_edges", "decay_constant", "label_patches", "laplacian", "load_params",
    "max_product_probabilities", "node_currents", "patch_edge_distances", "probability_of_connectivity",
    "resistance_surface",
]
