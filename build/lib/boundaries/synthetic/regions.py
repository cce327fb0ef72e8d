"""Regions as labels on the cells: townships grown from their seats, every lower level split
out of its parent by recursive cuts along terrain-cost bisectors, balanced on households.
A region's polygon is the coverage union of its cells, so neighbours share edges exactly."""

from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from .cells import Cells


class Unlucky(RuntimeError):
    """A random draw that cannot carry the requested counts; try another."""


def grow(cells: Cells, parent, sources, targets, size, iters: int) -> np.ndarray:
    """Label every node with a source in its parent: geodesic (terrain-cost) nearest source,
    with per-source offsets nudged so the regions' `size` sums approach `targets`."""
    n, k = len(cells.xy), len(sources)
    keep = parent[cells.u] == parent[cells.v]
    rows = np.concatenate([cells.u[keep], n + np.arange(k)])
    cols = np.concatenate([cells.v[keep], sources])
    src_parent = parent[sources]
    offsets = np.zeros(k)
    best, best_err = None, np.inf
    for it in range(iters + 1):
        data = np.concatenate([cells.w[keep], offsets + 1e-6])
        graph = csr_matrix((data, (rows, cols)), shape=(n + k, n + k))
        dist, _, src = dijkstra(graph, indices=n + np.arange(k), min_only=True,
                                return_predecessors=True)
        lab = np.where(src[:n] >= n, src[:n] - n, -1)
        ok = lab >= 0
        got = np.bincount(lab[ok], weights=size[ok], minlength=k)
        ratio = np.maximum(got, 1e-9) / targets
        err = np.abs(np.log(ratio)).mean()
        if err < best_err and np.all(lab[sources] == np.arange(k)):
            best, best_err = lab, err
        if it == iters:
            break
        reach = dist[:n][ok] - offsets[lab[ok]]
        wsum = np.bincount(lab[ok], weights=size[ok], minlength=k)
        rad = np.bincount(lab[ok], weights=reach * size[ok], minlength=k) / np.maximum(wsum, 1e-9)
        rad = np.maximum(rad, np.median(rad[wsum > 0]) * 0.2)
        offsets += 0.15 * rad * np.clip(np.log(ratio), -0.5, 0.5)
        offsets[lab[sources] != np.arange(k)] = 0.0
        low = np.full(src_parent.max() + 1, np.inf)
        np.minimum.at(low, src_parent, offsets)
        offsets -= low[src_parent]
    bad = best < 0
    for p in np.unique(parent[bad]):
        here = parent == p
        have, miss = np.flatnonzero(here & ~bad), np.flatnonzero(here & bad)
        best[miss] = best[have[cKDTree(cells.xy[have]).query(cells.xy[miss])[1]]]
    return best


def split_children(cells: Cells, parent_label, counts, targets, size, need: int,
                   parent_anchor: np.ndarray):
    """Split each parent p into `counts[p]` children (see `_split`), numbered inside each
    parent from the one nearest the parent's anchor (m). Returns each node's child, each
    child's anchor node and each child's parent."""
    parent_of = np.repeat(np.arange(len(counts)), counts)
    labels = _split(cells, parent_label, counts, targets, size, need)
    sources = _anchors(labels, len(parent_of), size, cells.xy)
    return _renumber(labels, sources, parent_of, parent_anchor, cells.xy)


def lived(cells: Cells, labels: np.ndarray, k: int, size: np.ndarray) -> np.ndarray:
    """Inhabited cells in the main connected body of each region (what a split can use)."""
    n = len(labels)
    main = _main_body(cells.graph(labels[cells.u] == labels[cells.v]), labels,
                      np.ones(n, bool), k, size)
    return np.bincount(labels, weights=main & (size > 0), minlength=k).astype(np.int64)


def dissolve(geoms: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The coverage union of `geoms` per label 0 … k-1."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(k + 1))
    return np.array([shapely.coverage_union_all(geoms[order[starts[i]:starts[i + 1]]])
                     for i in range(k)])


def _per_part_argmax(part: np.ndarray, score: np.ndarray, nparts: int) -> np.ndarray:
    """Index of the largest `score` in each part (parts without a finite score get -1)."""
    order = np.lexsort([-score, part])
    order = order[np.isfinite(score[order])]
    out = np.full(nparts, -1)
    ps, first = np.unique(part[order], return_index=True)
    out[ps] = order[first]
    return out


def _split(cells: Cells, parent, counts, targets, size, need: int) -> np.ndarray:
    """Split each parent p into `counts[p]` children whose `size` sums follow `targets`.

    Recursive two-way cuts: a part is cut between two far-apart inhabited cells a and b
    along the level set of (terrain distance to a) - (terrain distance to b) that splits its
    size in the wanted ratio, so both sides stay connected and the cut follows the terrain.
    Every child keeps at least `need` inhabited cells. Returns the child index of each node.
    """
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    lo, hi = first[:-1].copy(), first[1:].copy()
    cum_t = np.concatenate([[0.0], np.cumsum(targets)])
    part = parent.astype(np.int64).copy()
    inhabited = size > 0
    x, y = cells.xy[:, 0], cells.xy[:, 1]
    while np.any(hi - lo > 1):
        nparts = len(lo)
        act = (hi - lo > 1)[part]
        graph = cells.graph(act[cells.u] & (part[cells.u] == part[cells.v]))
        main = _main_body(graph, part, act, nparts, size)
        mass = np.bincount(part, weights=size * act, minlength=nparts)
        cx = np.bincount(part, weights=size * x, minlength=nparts) / np.maximum(mass, 1e-12)
        cy = np.bincount(part, weights=size * y, minlength=nparts) / np.maximum(mass, 1e-12)
        far = np.where(main & inhabited, np.hypot(x - cx[part], y - cy[part]), -np.inf)
        a = _per_part_argmax(part, far, nparts)
        a = a[a >= 0]
        da = dijkstra(graph, indices=a, min_only=True)
        far = np.where(act & inhabited & np.isfinite(da), da, -np.inf)
        b = _per_part_argmax(part, far, nparts)
        b = b[b >= 0]
        db = dijkstra(graph, indices=b, min_only=True)
        reach = act & np.isfinite(da) & np.isfinite(db)
        idx = np.flatnonzero(reach)
        # ties (cells "behind" a or b) are broken towards a, keeping the a side connected
        order = idx[np.lexsort([da[idx], np.round(da[idx] - db[idx], 3), part[idx]])]
        p = part[order]
        start = np.searchsorted(p, p)
        cw = np.cumsum(size[order])
        cw -= (cw - size[order])[start]
        ci = np.cumsum(inhabited[order])
        ci -= (ci - inhabited[order])[start]
        tot_w = np.bincount(p, weights=size[order], minlength=nparts)
        tot_i = np.bincount(p, weights=inhabited[order], minlength=nparts)
        mid = (lo + hi) // 2
        share = (cum_t[mid] - cum_t[lo]) / np.maximum(cum_t[hi] - cum_t[lo], 1e-12)
        fits = (ci >= need * (mid - lo)[p]) & (tot_i[p] - ci >= need * (hi - mid)[p])
        score = np.where(fits, -np.abs(cw - share[p] * tot_w[p]), -np.inf)
        cut = _per_part_argmax(p, score, nparts)
        active = np.flatnonzero(hi - lo > 1)
        if np.any(cut[active] < 0):
            raise Unlucky("a region is too sparsely inhabited for its children")
        right = np.arange(len(order)) > cut[p]
        old = part.copy()
        part[order[right]] += nparts
        _mend(cells, part, old, act, nparts, size)
        mid = np.where(hi - lo > 1, mid, hi)
        lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
    return lo[part]


def _main_body(graph, part, act, nparts: int, size) -> np.ndarray:
    """Whether each node lies in the main connected piece of its (active) part: the one with
    the most households (then the most cells)."""
    comp = connected_components(graph, directed=False)[1]
    pairs, inverse, count = np.unique(np.column_stack([part, comp])[act], axis=0,
                                      return_inverse=True, return_counts=True)
    mass = np.bincount(inverse.ravel(), weights=size[act], minlength=len(pairs))
    big = _per_part_argmax(pairs[:, 0], mass * 1e6 + count, nparts)
    main_comp = np.full(nparts, -1)
    main_comp[pairs[big[big >= 0], 0]] = pairs[big[big >= 0], 1]
    return act & (comp == main_comp[part])


def _mend(cells: Cells, part, old, act, nparts: int, size) -> None:
    """Give every fragment of a freshly cut part that is cut off from the part's main body
    (ties at the cut, cells out of reach) to the side it is connected to, in place."""
    same = act[cells.u] & (part[cells.u] == part[cells.v])
    main = _main_body(cells.graph(same), part, act, 2 * nparts, size)
    stray = np.flatnonzero(act & ~main)
    if not len(stray):
        return
    graph = cells.graph(act[cells.u] & (old[cells.u] == old[cells.v]))
    home = np.flatnonzero(main & np.isin(old, old[stray]))
    _, _, src = dijkstra(graph, indices=home, min_only=True, return_predecessors=True)
    reached = stray[src[stray] >= 0]
    part[reached] = part[src[reached]]
    lost = stray[src[stray] < 0]
    for q in np.unique(old[lost]):
        have = np.flatnonzero((old == q) & main)
        miss = lost[old[lost] == q]
        part[miss] = part[have[cKDTree(cells.xy[have]).query(cells.xy[miss])[1]]]


def _anchors(labels: np.ndarray, k: int, size: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The inhabited node nearest each region's household centroid."""
    mass = np.bincount(labels, weights=size, minlength=k)
    cx = np.bincount(labels, weights=size * xy[:, 0], minlength=k) / mass
    cy = np.bincount(labels, weights=size * xy[:, 1], minlength=k) / mass
    d = np.where(size > 0, -np.hypot(xy[:, 0] - cx[labels], xy[:, 1] - cy[labels]), -np.inf)
    return _per_part_argmax(labels, d, k)


def _renumber(labels, sources, parent_of_child, anchor_of_parent, xy):
    """Relabel children so that, inside each parent, the one nearest the parent's anchor is 0."""
    d = np.hypot(*(xy[sources] - anchor_of_parent[parent_of_child]).T)
    order = np.lexsort([d, parent_of_child])
    new = np.empty(len(order), np.int64)
    new[order] = np.arange(len(order))
    return new[labels], sources[order], parent_of_child[order]
