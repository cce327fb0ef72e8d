"""Where people live, per county: township seats, valley lines, the household density (as a
sample of cell seeds) and the household points themselves. All in the local frame (m)."""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .cells import Cells
from .gannan import PLACE_TOWNSHIP, PROFILES, Profile
from .local_frame import M_PER_DEG_LAT, area_km2, bounds_m, to_deg, to_m

SEEDS_PER_HOUSEHOLD = 0.33  # household-density cells per household
BACKGROUND_PER_KM2 = 0.9  # uniform cells per km², for shape where nobody lives

STYLES = {  # seat share, seat sigma (m), hamlet share, ribbon share, scatter share, radius (m)
    "urban": (0.85, 450, 0.15, 0.0, 0.0, 1_500),
    "town": (0.55, 900, 0.25, 0.12, 0.08, 8_000),
    "farming": (0.25, 600, 0.50, 0.18, 0.07, 8_000),
    "semi": (0.22, 600, 0.38, 0.15, 0.25, 14_000),
    "pastoral": (0.20, 600, 0.22, 0.13, 0.45, 22_000),
}
# households per background cell, by the county's way of life
BACKGROUND_HOUSEHOLDS = {"farming": 0.01, "mixed": 0.03, "semi_pastoral": 0.05, "pastoral": 0.08}


def township_style(rng, township: dict, prof: Profile) -> str:
    """How a township's households are spread: a key of STYLES."""
    if township["kind"] == "街道":
        return "urban"
    if township["township_name"] in prof.seat_townships:
        return "town"
    if prof.life == "mixed":
        return "farming" if rng.random() < 0.5 else "semi"
    return {"farming": "farming", "semi_pastoral": "semi", "pastoral": "pastoral"}[prof.life]


def _inside(county, xy: np.ndarray) -> np.ndarray:
    lon, lat = to_deg(xy[:, 0], xy[:, 1])
    return shapely.contains_xy(county, lon, lat)


def _sample(county, make, n: int) -> np.ndarray:
    """`n` points from `make(m)` that fall inside the county (fewer if it keeps missing)."""
    got, need = [], n
    for _ in range(8):
        if need <= 0:
            break
        xy = make(max(2 * need, 16))
        xy = xy[_inside(county, xy)][:need]
        got.append(xy)
        need -= len(xy)
    return np.concatenate(got) if got else np.empty((0, 2))


def _random_in(rng, county, n: int) -> np.ndarray:
    (ax, bx), (ay, by) = bounds_m(county)
    return _sample(county, lambda m: np.column_stack(
        [rng.uniform(ax, bx, m), rng.uniform(ay, by, m)]), n)


def township_seats(rng, adcode: str, county, tws: list[dict], places: list[dict]):
    """Seat (m) per township, the unmatched places (m) as extra settlements, and the county
    seat (m)."""
    prof = PROFILES[adcode]
    index = {t["township_name"]: i for i, t in enumerate(tws)}
    out = np.full((len(tws), 2), np.nan)
    extras = []
    table = PLACE_TOWNSHIP[adcode]
    seat_xy = None
    for p in places:
        xy = np.array(to_m(*p["lonlat"]))
        if p["name"] == prof.seat_place:
            seat_xy = xy
        i = index.get(table.get(p["name"], ""))
        if i is not None and np.isnan(out[i, 0]):
            out[i] = xy
        elif p["name"] != prof.seat_place:
            extras.append(xy)
    if seat_xy is None:
        seat_xy = np.array(to_m(*prof.seat_lonlat))
    seat_tws = [index[name] for name in prof.seat_townships]
    if len(seat_tws) == 1:
        out[seat_tws[0]] = seat_xy
    else:  # streets around the city seat
        turn = rng.uniform(0, 2 * math.pi)
        for j, i in enumerate(seat_tws):
            a = turn + 2 * math.pi * j / len(seat_tws) + rng.uniform(-0.3, 0.3)
            out[i] = seat_xy + rng.uniform(700, 1_300) * np.array([math.cos(a), math.sin(a)])
    missing = np.flatnonzero(np.isnan(out[:, 0]))
    if len(missing):
        cand = _random_in(rng, county, 4_000)
        lon, lat = to_deg(cand[:, 0], cand[:, 1])
        edge = shapely.distance(shapely.boundary(county), shapely.points(lon, lat))
        edge *= M_PER_DEG_LAT
        for i in missing:
            have = out[~np.isnan(out[:, 0])]
            d = cKDTree(have).query(cand)[0]
            score = np.minimum(d, 2.5 * edge) * rng.uniform(0.8, 1.0, len(cand))
            out[i] = cand[np.argmax(score)]
    return out, np.array(extras).reshape(-1, 2), seat_xy


def valley_lines(rng, county, seats: np.ndarray, styles: list[str]) -> list[np.ndarray]:
    """Meandering valley lines (points every 200 m) leaving each township seat."""
    out = []
    for (sx, sy), style in zip(seats, styles, strict=True):
        lines = []
        n = int(rng.integers(2, 5))
        start = rng.uniform(0, 2 * math.pi)
        for j in range(n):
            steps = int(rng.uniform(4_000, 22_000 if style != "urban" else 5_000) / 200)
            turn = np.zeros(steps)
            for s in range(1, steps):
                turn[s] = 0.85 * turn[s - 1] + rng.normal(0, 0.06)
            head = start + 2 * math.pi * j / n + rng.uniform(-0.4, 0.4) + np.cumsum(turn)
            xy = np.column_stack([sx + np.cumsum(200 * np.cos(head)),
                                  sy + np.cumsum(200 * np.sin(head))])
            ok = _inside(county, xy)
            stop = np.argmin(ok) if not ok.all() else len(ok)
            lines.append(xy[:stop])
        out.append(np.concatenate(lines) if lines else np.empty((0, 2)))
    return out


def density_seeds(rng, county, seats, extras, valleys, styles, hh_t, life):
    """Cell seeds (m) and the households each stands for: a sample of the household density
    (clusters at the seats, hamlets, ribbons along valleys, herders' camps), then a sparse
    uniform background."""
    owner = cKDTree(seats).query(extras)[1] if len(extras) else np.empty(0, int)
    pts = []
    for t, style in enumerate(styles):
        share_seat, sigma, share_ham, share_rib, share_sc, radius = STYLES[style]
        n = max(40, int(SEEDS_PER_HOUSEHOLD * hh_t[t]))
        seat, line = seats[t], valleys[t]

        def around(c, s, m):
            return c + rng.normal(0, 1, (m, 2)) * np.asarray(s).reshape(-1, 1)

        pts.append(_sample(county, lambda m, c=seat, s=sigma: around(c, s, m), int(n * share_seat)))
        # hamlets: on the valleys, near the seat, and at unmatched GeoNames places
        k = max(2, int(rng.uniform(2, 3.5) * hh_t[t] / 300))
        on_line = len(line) > 3
        centres = np.where(
            (rng.random(k) < 0.7)[:, None] & on_line,
            line[rng.integers(0, max(len(line), 1), k)] if on_line else seat,
            seat + rng.normal(0, radius / 3, (k, 2)),
        )
        mine = extras[owner == t]
        centres = np.concatenate([centres, mine])
        mass = rng.gamma(1.2, 1.0, len(centres))
        mass[k:] *= 3
        size = rng.multinomial(int(n * share_ham), mass / mass.sum())
        spread = rng.uniform(120, 350, len(centres))
        for c, m, s in zip(centres, size, spread, strict=True):
            if m:
                pts.append(_sample(county, lambda q, c=c, s=s: around(c, s, q), int(m)))
        if on_line and share_rib:
            def ribbon(q, line=line):
                return line[rng.integers(0, len(line), q)] + rng.normal(0, 150, (q, 2))

            pts.append(_sample(county, ribbon, int(n * share_rib)))
        if share_sc:
            camps = max(1, int(n * share_sc / 3))

            def scatter(q, seat=seat, radius=radius, camps=camps):
                r = radius * np.sqrt(rng.random(camps))
                a = rng.uniform(0, 2 * math.pi, camps)
                c = seat + np.column_stack([r * np.cos(a), r * np.sin(a)])
                return c[rng.integers(0, camps, q)] + rng.normal(0, 80, (q, 2))

            pts.append(_sample(county, scatter, int(n * share_sc)))
    hh_seeds = np.concatenate(pts)
    bg = _random_in(rng, county, int(float(area_km2(county)) * BACKGROUND_PER_KM2))
    xy = np.concatenate([hh_seeds, bg])
    w = np.concatenate([np.ones(len(hh_seeds)), np.full(len(bg), BACKGROUND_HOUSEHOLDS[life])])
    pairs = cKDTree(xy).query_pairs(0.5, output_type="ndarray")
    keep = np.ones(len(xy), bool)
    keep[pairs[:, 1]] = False
    return xy[keep], w[keep]


def place_households(rng, cells: Cells, seeds, hh_node) -> tuple[np.ndarray, ...]:
    """Households scattered around their cell's seed (well inside the cell); returns lon,
    lat and the node of each."""
    node = np.repeat(np.arange(len(hh_node)), hh_node)
    nn = cKDTree(seeds).query(seeds, k=2)[0][:, 1]
    s = cells.seed[node]
    r = 0.35 * nn[s] * np.sqrt(rng.random(len(node)))
    a = rng.uniform(0, 2 * math.pi, len(node))
    lon, lat = to_deg(seeds[s, 0] + r * np.cos(a), seeds[s, 1] + r * np.sin(a))
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    off = ~shapely.contains_xy(cells.geom[node], lon, lat)  # cells cut by the county border
    slon, slat = to_deg(seeds[s[off], 0], seeds[s[off], 1])
    lon[off], lat[off] = np.round(slon, 7), np.round(slat, 7)
    return lon, lat, node
