"""How many of everything: households per township, and grids, groups and people per county,
shared out before any geometry exists (so a county does not depend on its neighbours)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gannan import FULL_HOUSEHOLDS, FULL_PEOPLE, PROFILES


@dataclass(frozen=True)
class Plan:
    households: dict[str, int]  # by township code
    grids: dict[str, int]  # by county adcode
    groups: dict[str, int]  # by county adcode
    people: dict[str, int]  # by county adcode


def allocate(total: int, weights, lo, hi=None) -> np.ndarray:
    """Integers ≥ lo (≤ hi) summing to `total`, proportional to `weights` (largest remainder)."""
    w = np.asarray(weights, float)
    lo = np.broadcast_to(np.asarray(lo, np.int64), w.shape).copy()
    hi = np.full(w.shape, total) if hi is None else np.asarray(hi, np.int64)
    if lo.sum() > total or hi.sum() < total or np.any(lo > hi):
        raise ValueError(f"cannot split {total} into {len(w)} parts between {lo.sum()} and "
                         f"{hi.sum()} in all")
    out = lo.copy()
    free = np.ones(w.shape, bool)
    while out.sum() < total:
        rest = total - out.sum()
        ww = np.where(free, np.maximum(w, 1e-12), 0.0)
        quota = out + rest * ww / ww.sum()
        quota = np.maximum(quota, out)
        add = np.floor(quota).astype(np.int64) - out
        short = rest - add.sum()
        if short > 0:
            frac = np.where(free, quota - np.floor(quota), -1.0)
            add[np.argsort(-frac, kind="stable")[:short]] += 1
        out = np.minimum(out + add, hi)
        free = out < hi
    return out


def plan_counts(seed: int, townships: list[dict], counties: list[str], households: int,
                grids: int, groups: int) -> Plan:
    """Share the totals out over `counties`; ValueError if they cannot be met."""
    rng = np.random.default_rng([seed, 0])
    weights = []
    for t in townships:  # all 102, so a township's weight does not depend on the selection
        prof = PROFILES[t["county_adcode"]]
        w = t["n_villages"] * prof.per_village
        if t["kind"] == "街道":
            w *= 6.0
        elif t["township_name"] in prof.seat_townships:
            w *= 1.6
        weights.append(w * rng.uniform(0.85, 1.2))
    mine = [i for i, t in enumerate(townships) if t["county_adcode"] in counties]
    tws = [townships[i] for i in mine]
    n_villages = np.array([t["n_villages"] for t in tws])
    need = {"households": 40 * n_villages.sum(), "grids": n_villages.sum(),
            "groups": 2 * grids}
    for what, given in (("households", households), ("grids", grids), ("groups", groups)):
        if given < need[what]:
            raise ValueError(f"{what}={given} is too few for these counties: need at least "
                             f"{need[what]}")
    if groups * 4 > households:
        raise ValueError(f"groups={groups} needs at least {4 * groups} households")
    hh = allocate(households, np.array(weights)[mine], 40 * n_villages)
    county_of = np.array([t["county_adcode"] for t in tws])
    codes = sorted(set(county_of))
    h_c = np.array([hh[county_of == c].sum() for c in codes])
    v_c = np.array([n_villages[county_of == c].sum() for c in codes])
    g_c = allocate(grids, h_c, v_c)
    m_c = allocate(groups, h_c, 2 * g_c, h_c // 4)
    p_c = allocate(round(FULL_PEOPLE * households / FULL_HOUSEHOLDS), h_c, h_c)
    return Plan(
        households={t["township_code"]: int(h) for t, h in zip(tws, hh, strict=True)},
        grids=dict(zip(codes, g_c.tolist(), strict=True)),
        groups=dict(zip(codes, m_c.tolist(), strict=True)),
        people=dict(zip(codes, p_c.tolist(), strict=True)),
    )
