"""One county's tree below county level, and its households, drawn from the seed.

Settlements give the household density, whose sample seeds the cells; townships grow from
their seats; villages, grids and groups are split out of their parents, balanced on
households; the group coverage is smoothed and the levels above rebuilt from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .cells import tessellate
from .gannan import PROFILES, Profile
from .local_frame import area_km2
from .plan import Plan, allocate
from .regions import Unlucky, dissolve, grow, lived, split_children
from .settlements import (
    density_seeds,
    place_households,
    township_seats,
    township_style,
    valley_lines,
)
from .smoothing import smooth_groups
from .terrain import Terrain


@dataclass
class County:
    """A drawn county: polygons per level, each child's parent index, the households."""

    adcode: str
    name: str
    geometry: shapely.Geometry  # the real outline
    profile: Profile
    townships: list[dict]  # rows of the shared list
    styles: list[str]  # settlement style per township
    geoms: tuple[np.ndarray, ...]  # township, village, grid, group polygons
    parents: tuple[np.ndarray, ...]  # parent index of each village, grid, group
    households: tuple[np.ndarray, ...]  # lon, lat, group index
    grid_km2: np.ndarray
    grid_households: np.ndarray


def build_county(seed: int, adcode: str, row: dict, townships: list[dict], plan: Plan,
                 places: list[dict]) -> County:
    """One county's tree and households; if an unlucky draw leaves a region too sparsely
    inhabited for its children, the county is drawn again from a derived seed."""
    for attempt in range(4):
        try:
            return _draw_county(seed, attempt, adcode, row, townships, plan, places)
        except Unlucky:
            continue
    raise RuntimeError(f"could not build county {adcode} with seed {seed}")


def _share(total: int, weights, lo, hi) -> np.ndarray:
    """`allocate`, where counts that do not fit mean an unlucky draw (so: draw again)."""
    try:
        return allocate(total, weights, lo, hi)
    except ValueError as e:
        raise Unlucky(str(e)) from e


def _draw_county(seed, attempt, adcode, row, townships, plan: Plan, places) -> County:
    rng = np.random.default_rng([seed, int(adcode)] + [attempt] * (attempt > 0))
    prof = PROFILES[adcode]
    county = row["geometry"]
    shapely.prepare(county)
    tws = [t for t in townships if t["county_adcode"] == adcode]
    mine = [p for p in places if p["county"] == adcode]
    seats, extras, town = township_seats(rng, adcode, county, tws, mine)
    styles = [township_style(rng, t, prof) for t in tws]
    valleys = valley_lines(rng, county, seats, styles)
    towns = [(town[0], town[1], 2_200.0 if len(prof.seat_townships) > 1 else 1_300.0)]
    towns += [(x, y, 500.0) for (x, y), s in zip(seats, styles, strict=True) if s != "urban"]
    terrain = Terrain(rng, np.concatenate(valleys), towns)
    hh_t = np.array([plan.households[t["township_code"]] for t in tws])
    seeds, seed_w = density_seeds(rng, county, seats, extras, valleys, styles, hh_t, prof.life)
    cells = tessellate(seeds, county, terrain)
    n = len(cells.xy)
    seeded = cells.seed >= 0
    node_of_seed = np.full(len(seeds), -1)
    node_of_seed[cells.seed[seeded]] = np.flatnonzero(seeded)

    # townships grow from their seats towards target areas (streets small)
    src_t: list[int] = []
    for near in cKDTree(seeds).query(seats, k=16)[1]:  # the cell holding each seat
        src_t.append(next(node_of_seed[s] for s in near
                          if node_of_seed[s] >= 0 and node_of_seed[s] not in src_t))
    src_t = np.array(src_t)
    urban = np.array([s == "urban" for s in styles])
    want = np.where(urban, rng.uniform(3, 7, len(tws)), 0.0)  # km²
    other = rng.uniform(0.6, 1.4, len(tws)) * np.array([max(t["n_villages"], 3) ** 0.3
                                                         for t in tws])
    want = np.where(urban, want, (cells.area.sum() - want.sum()) * other / other[~urban].sum())
    lab_t = grow(cells, np.zeros(n, np.int64), src_t, want, cells.area, 12)

    # households into cells, by the density each cell's seed was drawn from
    node_w = np.where(seeded, seed_w[np.maximum(cells.seed, 0)], 0.0)
    hh_node = np.zeros(n, np.int64)
    for t in range(len(tws)):
        members = np.flatnonzero(lab_t == t)
        p = node_w[members]
        hh_node[members] = rng.multinomial(hh_t[t], p / p.sum())
    hh_w = hh_node.astype(float)

    # villages, grids, groups: each split out of its parent, balanced on households
    n_v = np.array([t["n_villages"] for t in tws])
    share = rng.lognormal(0, 0.35, n_v.sum())
    lab_v, src_v, par_v = split_children(cells, lab_t, n_v, share, hh_w, 2, seats)
    hh_v = np.bincount(lab_v, weights=hh_w, minlength=len(src_v))
    n_g = _share(plan.grids[adcode], hh_v, 1, lived(cells, lab_v, len(src_v), hh_w) // 2)
    lab_g, src_g, par_g = split_children(cells, lab_v, n_g, np.ones(n_g.sum()), hh_w, 2,
                                         cells.xy[src_v])
    hh_g = np.bincount(lab_g, weights=hh_w, minlength=len(src_g))
    n_m = _share(plan.groups[adcode], hh_g, 2, lived(cells, lab_g, len(src_g), hh_w))
    lab_m, src_m, par_m = split_children(cells, lab_g, n_m, np.ones(n_m.sum()), hh_w, 1,
                                         cells.xy[src_g])

    # polygons: groups from cells, smoothed; every level above from its children
    geo_m = dissolve(cells.geom, lab_m, len(src_m))
    hh_lon, hh_lat, hh_node_of = place_households(rng, cells, seeds, hh_node)
    geo_m, hh_lon, hh_lat, hh_m = smooth_groups(geo_m, hh_lon, hh_lat, lab_m[hh_node_of])
    if np.bincount(hh_m, minlength=len(src_m)).min() == 0:
        raise Unlucky("a group without households")
    geo_g = dissolve(geo_m, par_m, len(src_g))
    geo_v = dissolve(geo_g, par_g, len(src_v))
    geo_t = dissolve(geo_v, par_v, len(tws))
    return County(
        adcode=adcode, name=row["name"], geometry=county, profile=prof, townships=tws,
        styles=styles,
        geoms=(geo_t, geo_v, geo_g, geo_m),
        parents=(par_v, par_g, par_m),
        households=(hh_lon, hh_lat, hh_m),
        grid_km2=area_km2(geo_g),
        grid_households=np.bincount(par_m[hh_m], minlength=len(src_g)),
    )
