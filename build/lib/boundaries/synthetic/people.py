"""The people of a county: households (address, head, phone, members, care tags) and field
workers (grid leaders and workers, grid guides, militia, and a liaison head per group)."""

from __future__ import annotations

import numpy as np
import pandas

from .areas import CountyAreas, ordinals
from .county import County
from .names import ROADS, person_names, phones

CARE_TAGS = (("elderly", 0.09), ("orphan", 0.004), ("disabled", 0.025), ("low_income", 0.05))
WORKER_TAG = {"grid_leader": "GL", "grid_worker": "GW", "grid_guide": "GG", "militia": "MB"}


def _join(*parts) -> np.ndarray:
    """Element-wise string concatenation of arrays (and scalars)."""
    out = np.asarray(parts[0]).astype(str)
    for p in parts[1:]:
        out = np.char.add(out, np.asarray(p).astype(str))
    return out


def household_frame(rng, c: County, county_index: int, people: int,
                    areas: CountyAreas) -> tuple[pandas.DataFrame, np.ndarray]:
    """The county's households, in group order, and the group index of each; `people` is the
    county's total of members."""
    tws = c.townships
    par_v, par_g, par_m = c.parents
    lon, lat, group = c.households
    n = len(lon)
    order = np.lexsort([rng.random(n), group])
    lon, lat, group = lon[order], lat[order], group[order]
    seq = ordinals(group)
    if seq.max() > 999:
        raise RuntimeError("a group has more than 999 households")
    code = np.char.add(np.array(areas.group_code)[group], np.char.zfill(seq.astype(str), 3))
    village = par_g[par_m[group]]
    she = group - np.searchsorted(par_g[par_m], village) + 1  # group ordinal in the village
    town = np.array([c.name + t["township_name"] for t in tws])[par_v[village]]
    vname = np.array(areas.village_name)[village]
    comm = np.array(areas.is_community)[village]
    road = ROADS[rng.integers(0, len(ROADS), n)]
    road = np.char.add(road, np.array(["路", "街", "巷"])[rng.integers(0, 3, n)])
    # communities: road, number, building, unit, room; villages: 社 (the group) and number
    flat = _join(road, rng.integers(1, 120, n), "号", rng.integers(1, 30, n), "栋",
                 rng.integers(1, 5, n), "单元", rng.integers(1, 8, n), "0",
                 rng.integers(1, 5, n), "室")
    rural = _join(she, "社", seq, "号")
    address = _join(town, vname, np.where(comm, flat, rural)).astype(object)
    members = 1 + rng.poisson(max(people / n - 1, 0.1), n)
    members = np.minimum(members, 10)
    while (diff := people - int(members.sum())) != 0:  # hit the people total exactly
        pick = np.unique(rng.integers(0, n, abs(diff)))
        if diff > 0:
            members[pick[members[pick] < 10]] += 1
        else:
            members[pick[members[pick] > 1]] -= 1
    tags = np.full(n, "", dtype=object)
    for tag, p in CARE_TAGS:
        hit = rng.random(n) < p
        tags[hit] = np.where(tags[hit] == "", tag, tags[hit] + ";" + tag)
    return pandas.DataFrame({
        "code": code, "address": address, "lon": lon, "lat": lat,
        "head_name": person_names(rng, n, c.profile.tibetan, c.profile.hui),
        "phone": phones(rng, n, county_index), "members": members, "care_tags": tags,
    }), group


def worker_frame(rng, c: County, county_index: int, heads: pandas.DataFrame,
                 areas: CountyAreas) -> pandas.DataFrame:
    """1 leader and 1–3 workers per grid, a guide per village, 3–6 militia per township, and
    per group a liaison head: `heads`' household head of that group (same name and phone)."""
    v_code, g_code, m_code = areas.village_code, areas.grid_code, areas.group_code
    per_grid = rng.integers(1, 4, len(g_code))
    militia = rng.integers(3, 7, len(c.townships))
    t_code = [t["township_code"] for t in c.townships]
    role = (["grid_leader"] * len(g_code) + ["grid_worker"] * int(per_grid.sum())
            + ["grid_guide"] * len(v_code) + ["militia"] * int(militia.sum()))
    area = (g_code + list(np.repeat(g_code, per_grid)) + v_code + list(np.repeat(t_code, militia)))
    seq = [1] * len(g_code) + [j + 1 for k in per_grid for j in range(k)] + [1] * len(v_code)
    seq += [j + 1 for k in militia for j in range(k)]
    n = len(role)
    staff = pandas.DataFrame({
        "code": [f"{a}{WORKER_TAG[r]}{s:02d}" for a, r, s in zip(area, role, seq, strict=True)],
        "name": person_names(rng, n, c.profile.tibetan, 0.1),
        "role": role, "area_code": area,
        "phone": phones(rng, n, county_index + 8),  # blocks apart from households'
    })
    liaison = pandas.DataFrame({
        "code": [f"{m}LH01" for m in m_code],
        "name": heads["head_name"].to_numpy(), "role": "liaison_head",
        "area_code": m_code, "phone": heads["phone"].to_numpy(),
    })
    out = pandas.concat([staff, liaison], ignore_index=True)
    out["on_duty"] = rng.random(len(out)) < 0.8
    return out
