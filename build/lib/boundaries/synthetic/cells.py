"""The fine tessellation of a county: Voronoi cells of the density seeds, clipped to the
county and joined by edges that cost length × terrain. Every region is a set of cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas
import shapely
from scipy.sparse import csr_matrix
from scipy.spatial import Delaunay

from .local_frame import area_km2, bounds_m, coords_to_deg, to_deg, to_m
from .terrain import Terrain


@dataclass
class Cells:
    """Voronoi cells clipped to a county, split into parts: the nodes regions are grown on."""

    geom: np.ndarray  # polygons (lon/lat)
    xy: np.ndarray  # anchor (m): the seed, or a point on the part without a seed
    seed: np.ndarray  # seed index, or -1 for a part cut off from its seed
    area: np.ndarray  # km²
    u: np.ndarray  # edges, both directions
    v: np.ndarray
    w: np.ndarray  # length (m) × terrain cost

    def graph(self, keep: np.ndarray) -> csr_matrix:
        """The sparse graph of the edges where `keep`, weighted by cost."""
        n = len(self.xy)
        return csr_matrix((self.w[keep], (self.u[keep], self.v[keep])), shape=(n, n))


def _polygon_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-empty polygons in `geoms` and the index of the geometry each came from."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    parts2, idx2 = shapely.get_parts(parts, return_index=True)
    idx = idx[idx2]
    keep = (shapely.get_type_id(parts2) == 3) & (shapely.area(parts2) > 0)
    return parts2[keep], idx[keep]


def tessellate(seeds: np.ndarray, county, terrain: Terrain) -> Cells:
    """The Voronoi cells of `seeds` (m) clipped to the county, and their neighbours."""
    (ax, bx), (ay, by) = bounds_m(county)
    frame = shapely.box(ax - 2_000, ay - 2_000, bx + 2_000, by + 2_000)
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    cells = shapely.transform(shapely.get_parts(vor), coords_to_deg)
    if len(cells) != len(seeds):
        raise RuntimeError("Voronoi lost cells (duplicate seeds?)")
    whole = shapely.contains_properly(county, cells)
    n_whole = whole.sum()
    cut = np.flatnonzero(~whole)
    parts, of = _polygon_parts(shapely.intersection(cells[cut], county))
    cell = np.concatenate([np.flatnonzero(whole), cut[of]])
    geom = np.concatenate([cells[whole], parts])
    # a part of a cut cell keeps the seed only if the seed lies in it
    lon, lat = to_deg(seeds[cell[n_whole:], 0], seeds[cell[n_whole:], 1])
    seeded = np.ones(len(geom), bool)
    seeded[n_whole:] = shapely.contains_xy(parts, lon, lat)
    anchor = seeds[cell].copy()
    pos = shapely.point_on_surface(geom[~seeded])
    anchor[~seeded] = np.column_stack(to_m(shapely.get_x(pos), shapely.get_y(pos)))
    # adjacency: Delaunay neighbours; where a cell was cut, parts that really share an edge
    tri = Delaunay(seeds).simplices
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    node_of = np.full(len(seeds), -1)
    node_of[np.flatnonzero(whole)] = np.arange(n_whole)
    plain = (node_of[e[:, 0]] >= 0) & (node_of[e[:, 1]] >= 0)
    a, b = node_of[e[plain, 0]], node_of[e[plain, 1]]
    table = pandas.DataFrame({"cell": cell, "node": np.arange(len(cell))})
    cand = pandas.DataFrame({"ca": e[~plain, 0], "cb": e[~plain, 1]})
    cand = cand.merge(table.rename(columns={"cell": "ca", "node": "na"}), on="ca")
    cand = cand.merge(table.rename(columns={"cell": "cb", "node": "nb"}), on="cb")
    na, nb = cand["na"].to_numpy(), cand["nb"].to_numpy()
    touch = shapely.relate_pattern(geom[na], geom[nb], "****1****")
    a, b = np.concatenate([a, na[touch]]), np.concatenate([b, nb[touch]])
    mid = (anchor[a] + anchor[b]) / 2
    length = np.maximum(np.hypot(*(anchor[a] - anchor[b]).T), 1.0)
    w = length * terrain.cost(mid[:, 0], mid[:, 1])
    return Cells(
        geom=geom,
        xy=anchor,
        seed=np.where(seeded, cell, -1),
        area=area_km2(geom),
        u=np.concatenate([a, b]),
        v=np.concatenate([b, a]),
        w=np.concatenate([w, w]),
    )
