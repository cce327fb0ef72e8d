"""The area rows below county level: codes, names and kinds of townships, villages, grids and
ten-household groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .county import County
from .names import community_names, village_names


@dataclass
class CountyAreas:
    rows: list[tuple]  # code, name, level, kind, parent_code, synthetic, geometry
    village_code: list[str]
    village_name: list[str]
    is_community: list[bool]
    grid_code: list[str]
    group_code: list[str]


def ordinals(parent: np.ndarray) -> np.ndarray:
    """1, 2, 3, … along each run of equal values in `parent`."""
    i = np.arange(len(parent))
    start = np.r_[True, parent[1:] != parent[:-1]]
    return i - np.maximum.accumulate(np.where(start, i, 0)) + 1


def grid_kind(life: str, style: str, community: bool, density: float) -> str:
    """A grid's kind from its county's way of life, its township's settlement style, whether
    its village is a community, and its households per km²."""
    if community or (style in ("urban", "town") and density >= 300):
        return "urban"
    if life == "farming":
        return "farming"
    if life == "mixed":
        return "farming" if density >= 8 else "semi_pastoral"
    if life == "semi_pastoral":
        return "semi_pastoral" if density >= 4 else "pastoral"
    return "semi_pastoral" if density >= 25 else "pastoral"


def county_areas(rng, c: County) -> CountyAreas:
    """Rows for the county's townships, villages, grids and groups, in that order. Urban
    townships have only communities (numbered from 001), towns up to two, and villages are
    numbered from 201; grids and groups are numbered within their parent."""
    tws = c.townships
    geo_t, geo_v, geo_g, geo_m = c.geoms
    par_v, par_g, par_m = c.parents
    rows = []

    def add(code, name, level, kind, parent, geom):
        rows.append((code, name, level, kind, parent, True, geom))

    for t, g in zip(tws, geo_t, strict=True):
        add(t["township_code"], t["township_name"], "township", t["kind"], c.adcode, g)
    v_code, v_name, v_comm = [], [], []
    taken: set[str] = set()
    for ti, t in enumerate(tws):
        nv = int((par_v == ti).sum())
        style = c.styles[ti]
        n_comm = nv if style == "urban" else (min(2, nv // 3) if style == "town" else 0)
        names = (community_names(rng, n_comm)
                 + village_names(rng, nv - n_comm, c.profile.tibetan, taken))
        for j, name in enumerate(names):
            num = j + 1 if j < n_comm else 200 + j - n_comm + 1
            v_code.append(t["township_code"] + f"{num:03d}")
            v_name.append(name)
            v_comm.append(j < n_comm)
    for i, g in enumerate(geo_v):
        add(v_code[i], v_name[i], "village", "community" if v_comm[i] else "village",
            tws[par_v[i]]["township_code"], g)
    g_seq = ordinals(par_g)
    g_code = [v_code[v] + f"{s:03d}" for v, s in zip(par_g, g_seq, strict=True)]
    density = c.grid_households / np.maximum(c.grid_km2, 1e-9)
    for i, g in enumerate(geo_g):
        v = par_g[i]
        kind = grid_kind(c.profile.life, c.styles[par_v[v]], v_comm[v], density[i])
        add(g_code[i], f"{v_name[v]}第{g_seq[i]}网格", "grid", kind, v_code[v], g)
    m_seq = ordinals(par_m)
    m_code = [g_code[g] + f"{s:03d}" for g, s in zip(par_m, m_seq, strict=True)]
    for i, g in enumerate(geo_m):
        add(m_code[i], f"第{m_seq[i]}联防组", "group", "ten_household", g_code[par_m[i]], g)
    return CountyAreas(rows, v_code, v_name, v_comm, g_code, m_code)
