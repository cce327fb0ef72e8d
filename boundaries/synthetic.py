"""A seeded, reproducible demo prefecture at Gannan's real scale.

Real (``synthetic=False``): the prefecture 甘南藏族自治州 (623000) and its 8 county-level
units, whose outlines are the shipped AMap (GCJ-02) files converted to WGS84.
Synthetic (``synthetic=True``): every polygon below county level. The 102 township-level
units keep their real names, codes and kinds from the shared list and each gets as many
villages/communities as the list says (697); villages, grids, ten-household groups,
households and workers are invented from a seed. See ``data/SYNTHETIC.md``.

How the polygons are made, per county (details in data/SYNTHETIC.md): households' density is
a mixture of tight clusters at township seats (GeoNames places matched by name, or
generated), hamlets and ribbons along random valley lines, and a sparse pastoral scatter. A
Voronoi tessellation of a sample of that density plus a sparse background, clipped to the
county, gives fine cells joined by edges that cost length × a random terrain field (ridges,
valleys, street lines in towns). Townships grow from their seats (multi-source Dijkstra);
villages, grids and groups are split out of their parent by recursive cuts along
terrain-cost bisectors, balanced on households. Regions are coverage unions of cells, so
neighbours share edges exactly and every level is the exact union of its children; the group
coverage is smoothed and the levels above rebuilt from it. Households end strictly inside
exactly one group.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas
import numpy as np
import pandas
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import Delaunay, cKDTree

from boundaries.crs import geometry_to_wgs84

DATA_DIR = Path(__file__).parent / "data"
PREFECTURE_CODE = "623000"
PREFECTURE_NAME = "甘南藏族自治州"
FULL_HOUSEHOLDS, FULL_GRIDS, FULL_GROUPS, FULL_PEOPLE = 206_400, 959, 8_626, 691_800

# A fixed local frame in metres for the whole prefecture (equirectangular about its middle):
# good enough for shapes and costs; every output coordinate is longitude/latitude.
_LON0, _LAT0 = 102.9, 34.4
_KX = 111_320.0 * math.cos(math.radians(_LAT0))
_KY = 110_950.0

_MARGIN = 3e-6  # degrees (~0.3 m): households keep this far from their group's edge
_SEEDS_PER_HOUSEHOLD = 0.33  # household-density cells per household
_BACKGROUND_PER_KM2 = 0.9  # uniform cells per km², for shape where nobody lives


@dataclass(frozen=True)
class _Profile:
    seat_place: str | None  # the GeoNames place at the county seat
    seat_lonlat: tuple[float, float] | None  # only where GeoNames has no place (碌曲)
    seat_townships: tuple[str, ...]  # the townships seated in the county town
    life: str  # "farming", "mixed", "semi_pastoral", "pastoral"
    tibetan: float  # share of Tibetan personal names (the rest Han/Hui)
    per_village: float  # relative households per village (invented weight)


_PROFILES: dict[str, _Profile] = {
    "623001": _Profile("Hezuo", None, ("当周街道", "伊合昂街道", "坚木克尔街道", "通钦街道"),
                       "semi_pastoral", 0.7, 1.0),
    "623021": _Profile("Lintan Chengguanzhen", None, ("城关镇",), "farming", 0.2, 1.0),
    "623022": _Profile("Liulin", None, ("柳林镇",), "mixed", 0.6, 1.0),
    "623023": _Profile("Zhouqu Chengguanzhen", None, ("城关镇",), "farming", 0.35, 0.75),
    "623024": _Profile("Dianga", None, ("电尕镇",), "mixed", 0.75, 1.05),
    "623025": _Profile("Nyinma", None, ("尼玛镇",), "pastoral", 0.9, 1.5),
    # 碌曲: no GeoNames place; the seat 玛艾镇 is put near the county town's approximate position.
    "623026": _Profile(None, (102.49, 34.59), ("玛艾镇",), "pastoral", 0.9, 1.45),
    "623027": _Profile("Labrang", None, ("拉卜楞镇",), "pastoral", 0.8, 1.35),
}

# GeoNames romanised names read as township names (hand-made table). Unmatched places
# become extra settlements; unmatched townships get a generated seat.
_PLACE_TOWNSHIP: dict[str, dict[str, str]] = {
    "623001": {"Kajiaman": "卡加曼乡", "Lexiu": "勒秀镇", "Zuogaimanma": "佐盖曼玛镇",
               "Kajiadao": "卡加道乡", "Nawu": "那吾镇", "Zuogaiduoma": "佐盖多玛乡"},
    "623021": {"Lintan Chengguanzhen": "城关镇", "Yeliguan": "冶力关镇", "Yangsha": "羊沙镇",
               "Xincheng": "新城镇", "Sancha": "三岔乡", "Dianzi": "店子镇", "Guzhan": "古战镇",
               "Changchuan": "长川乡", "Zhuolu": "卓洛乡", "Shimen": "石门乡",
               "Yangyong": "羊永镇", "Chubu": "术布乡", "Liushun": "流顺镇", "Bajiao": "八角镇"},
    "623022": {"Liulin": "柳林镇", "Mu'er": "木耳镇", "Niba": "尼巴镇", "Qiagai": "恰盖乡",
               "Shencang": "申藏镇", "Zangbawa": "藏巴哇镇", "Shaowa": "杓哇土族乡",
               "Daogao": "刀告乡", "Nalang": "纳浪镇", "Kangduo": "康多乡", "Wanmao": "完冒镇"},
    "623023": {"Zhouqu Chengguanzhen": "城关镇", "Gongba": "拱坝镇", "Fengdie": "峰迭镇",
               "Quwa": "曲瓦乡", "Bazang": "巴藏镇", "Lijie": "立节镇", "Dayu": "大峪镇",
               "Hanban": "憨班镇", "Pingding": "坪定镇", "Jiangpan": "江盘镇",
               "Dachuan": "大川镇", "Nanyu": "南峪乡", "Wuping": "武坪镇", "Chagang": "插岗乡",
               "Baleng": "八楞乡", "Boyu": "博峪镇"},
    "623024": {"Lazi": "腊子口镇", "Luoda": "洛大镇", "Sangba": "桑坝乡", "Dianga": "电尕镇",
               "Yiwa": "益哇镇", "Wangcang": "旺藏镇", "Ni'ao": "尼傲乡", "Kaba": "卡坝乡"},
    "623025": {"Nyinma": "尼玛镇", "Qihama": "齐哈玛镇", "Oula": "欧拉镇", "Maima": "曼日玛镇",
               "Cairima": "采日玛镇", "Awancang": "阿万仓镇", "Oula Xiuma": "欧拉秀玛乡",
               "Muxihe": "木西合乡"},
    "623026": {},
    "623027": {"Sangke": "桑科镇", "Wangge'ertang": "王格尔塘镇", "Labrang": "拉卜楞镇",
               "Ganjia": "甘加镇", "Damai": "达麦乡", "Tangga'an": "唐尕昂乡", "Madang": "麻当镇",
               "Qu'ao": "曲奥乡"},
}


@dataclass
class Demo:
    """The demo prefecture: its area tree, households (points) and field workers."""

    areas: geopandas.GeoDataFrame  # code, name, level, kind, parent_code, synthetic, geometry
    households: pandas.DataFrame  # code, address, lon, lat, head_name, phone, members, care_tags
    workers: pandas.DataFrame  # code, name, role, area_code, phone, on_duty


def build_demo(
    seed: int = 623000,
    *,
    households: int = FULL_HOUSEHOLDS,
    grids: int = FULL_GRIDS,
    groups: int = FULL_GROUPS,
    counties: list[str] | None = None,
) -> Demo:
    """Build the demo prefecture; the same arguments always give the same demo.

    With the default counts, each county gets a fixed share of Gannan's 206,400 households,
    959 grids and 8,626 groups (weighted by the shared list's village counts), so
    `counties=["623001"]` alone builds exactly the 合作市 of the full demo. Any other counts
    are the totals for the counties built, e.g. a small Hezuo for tests:
    `build_demo(counties=["623001"], households=12_000, grids=60, groups=540)`.
    The prefecture row is the union of the counties built. Raises ValueError for unknown
    counties or counts that cannot be met (fewer grids than villages, fewer than two groups per
    grid, fewer than 4 households per group or 40 per village).
    """
    county_rows = _load_counties()
    wanted = list(county_rows) if counties is None else [str(c) for c in counties]
    unknown = sorted(set(wanted) - set(county_rows))
    if unknown or not wanted:
        raise ValueError(f"unknown county adcodes {unknown}; expected some of {list(county_rows)}")
    full = (households, grids, groups) == (FULL_HOUSEHOLDS, FULL_GRIDS, FULL_GROUPS)
    townships = _load_townships()
    plan = _plan(seed, townships, list(county_rows) if full else wanted, households, grids, groups)
    places = _load_places()
    built = [
        _build_county(seed, code, county_rows[code], townships, plan, places)
        for code in county_rows
        if code in wanted
    ]
    return _assemble(seed, built, plan, list(county_rows))


# --------------------------------------------------------------------------- shipped data


def _load_counties() -> dict[str, dict]:
    """County rows by adcode, with the outline converted GCJ-02 → WGS84."""
    with open(DATA_DIR / "gannan_counties_gcj02.geojson", encoding="utf-8") as f:
        features = json.load(f)["features"]
    geoms = shapely.from_geojson([json.dumps(ft["geometry"]) for ft in features])
    wgs = np.asarray(geometry_to_wgs84(geoms, "gcj02"))
    return {
        ft["properties"]["adcode"]: {"name": ft["properties"]["name"], "geometry": g}
        for ft, g in zip(features, wgs, strict=True)
    }


def _load_townships() -> list[dict]:
    with open(DATA_DIR / "gannan_townships_list.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["n_villages"] = int(r.pop("n_villages_or_communities"))
    return rows


def _load_places() -> list[dict]:
    with open(DATA_DIR / "gannan_geonames_places.geojson", encoding="utf-8") as f:
        features = json.load(f)["features"]
    return [
        {
            "name": ft["properties"]["name_geonames"],
            "county": ft["properties"]["county_adcode"],
            "lonlat": tuple(ft["geometry"]["coordinates"]),
        }
        for ft in features
    ]


# --------------------------------------------------------------------------- counts


def _allocate(total: int, weights, lo, hi=None) -> np.ndarray:
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


def _plan(seed: int, townships: list[dict], counties: list[str], households: int, grids: int,
          groups: int) -> dict:
    """Households per township and grids, groups and people per county, shared out over
    `counties` before any geometry exists (so a county does not depend on its neighbours)."""
    rng = np.random.default_rng([seed, 0])
    weights = []
    for t in townships:  # all 102, so a township's weight does not depend on the selection
        prof = _PROFILES[t["county_adcode"]]
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
    hh = _allocate(households, np.array(weights)[mine], 40 * n_villages)
    county_of = np.array([t["county_adcode"] for t in tws])
    codes = sorted(set(county_of))
    h_c = np.array([hh[county_of == c].sum() for c in codes])
    v_c = np.array([n_villages[county_of == c].sum() for c in codes])
    g_c = _allocate(grids, h_c, v_c)
    m_c = _allocate(groups, h_c, 2 * g_c, h_c // 4)
    p_c = _allocate(round(FULL_PEOPLE * households / FULL_HOUSEHOLDS), h_c, h_c)
    return {
        "households": {t["township_code"]: int(h) for t, h in zip(tws, hh, strict=True)},
        "grids": dict(zip(codes, g_c.tolist(), strict=True)),
        "groups": dict(zip(codes, m_c.tolist(), strict=True)),
        "people": dict(zip(codes, p_c.tolist(), strict=True)),
    }


# --------------------------------------------------------------------------- frames


def _to_m(lon, lat):
    return (np.asarray(lon) - _LON0) * _KX, (np.asarray(lat) - _LAT0) * _KY


def _to_deg(x, y):
    return np.asarray(x) / _KX + _LON0, np.asarray(y) / _KY + _LAT0


def _coords_to_deg(c: np.ndarray) -> np.ndarray:
    return np.column_stack(_to_deg(c[:, 0], c[:, 1]))


def _area_km2(geoms) -> np.ndarray:
    lat = shapely.get_y(shapely.centroid(geoms))
    return shapely.area(geoms) * _KY * 111_320.0 * np.cos(np.radians(lat)) / 1e6


# --------------------------------------------------------------------------- terrain


def _waves(rng, n: int, shortest: float, longest: float) -> np.ndarray:
    """Random plane waves (kx, ky, phase, amplitude), scaled so their sum has unit variance."""
    lam = np.exp(rng.uniform(math.log(shortest), math.log(longest), n))
    ang = rng.uniform(0, 2 * math.pi, n)
    k = 2 * math.pi / lam
    amp = lam**0.6 * rng.uniform(0.5, 1.0, n)
    amp /= math.sqrt((amp**2).sum() / 2)
    return np.column_stack([k * np.cos(ang), k * np.sin(ang), rng.uniform(0, 2 * math.pi, n), amp])


def _wave_sum(waves: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x))
    for kx, ky, ph, a in waves:
        out += a * np.sin(kx * x + ky * y + ph)
    return out


class _Terrain:
    """A random cost field: expensive ridges, cheap valleys, street lines in towns."""

    def __init__(self, rng, valleys: np.ndarray, towns: list[tuple[float, float, float]]):
        self.ridges = _waves(rng, 16, 3_000, 30_000)
        self.hills = _waves(rng, 12, 400, 3_000)
        self.valleys = cKDTree(valleys) if len(valleys) else None
        self.towns = [
            (x, y, r, rng.uniform(0, math.pi / 2), rng.uniform(110, 200), rng.uniform(140, 260))
            for x, y, r in towns
        ]

    def cost(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ridge = np.exp(-((_wave_sum(self.ridges, x, y) / 0.25) ** 2))
        hill = np.exp(-((_wave_sum(self.hills, x, y) / 0.3) ** 2))
        c = 1.0 + 3.0 * ridge + 1.0 * hill
        if self.valleys is not None:
            d, _ = self.valleys.query(np.column_stack([x, y]), distance_upper_bound=3_000)
            d = np.minimum(d, 3_000)
            c *= 0.4 + 0.6 * (1 - np.exp(-((d / 700) ** 2)))
        for tx, ty, r, th, a, b in self.towns:
            dx, dy = x - tx, y - ty
            near = np.flatnonzero(dx * dx + dy * dy < (2.5 * r) ** 2)
            dx, dy = dx[near], dy[near]
            u = dx * math.cos(th) + dy * math.sin(th)
            v = -dx * math.sin(th) + dy * math.cos(th)
            u, v = u + 30 * np.sin(v / 450), v + 30 * np.sin(u / 380)
            du = np.abs(u / a - np.round(u / a)) * a
            dv = np.abs(v / b - np.round(v / b)) * b
            street = np.exp(-((np.minimum(du, dv) / 18) ** 2))
            c[near] *= 1 + 5 * street * np.exp(-(dx * dx + dy * dy) / r**2)
        return c


# --------------------------------------------------------------------------- settlements

_STYLE = {  # seat share, seat sigma (m), hamlet share, ribbon share, scatter share, radius (m)
    "urban": (0.85, 450, 0.15, 0.0, 0.0, 1_500),
    "town": (0.55, 900, 0.25, 0.12, 0.08, 8_000),
    "farming": (0.25, 600, 0.50, 0.18, 0.07, 8_000),
    "semi": (0.22, 600, 0.38, 0.15, 0.25, 14_000),
    "pastoral": (0.20, 600, 0.22, 0.13, 0.45, 22_000),
}
_BACKGROUND_HOUSEHOLDS = {"farming": 0.01, "mixed": 0.03, "semi_pastoral": 0.05, "pastoral": 0.08}


def _inside(county, xy: np.ndarray) -> np.ndarray:
    lon, lat = _to_deg(xy[:, 0], xy[:, 1])
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
    x0, y0, x1, y1 = shapely.bounds(county)
    (ax, bx), (ay, by) = _to_m([x0, x1], [y0, y1])
    return _sample(county, lambda m: np.column_stack(
        [rng.uniform(ax, bx, m), rng.uniform(ay, by, m)]), n)


def _seats(rng, adcode: str, county, tws: list[dict], places: list[dict]):
    """Seat (m) per township and the unmatched places (m) as extra settlements."""
    prof = _PROFILES[adcode]
    index = {t["township_name"]: i for i, t in enumerate(tws)}
    seats = np.full((len(tws), 2), np.nan)
    extras = []
    table = _PLACE_TOWNSHIP[adcode]
    seat_xy = None
    for p in places:
        xy = np.array(_to_m(*p["lonlat"]))
        if p["name"] == prof.seat_place:
            seat_xy = xy
        i = index.get(table.get(p["name"], ""))
        if i is not None and np.isnan(seats[i, 0]):
            seats[i] = xy
        elif p["name"] != prof.seat_place:
            extras.append(xy)
    if seat_xy is None:
        seat_xy = np.array(_to_m(*prof.seat_lonlat))
    seat_tws = [index[name] for name in prof.seat_townships]
    if len(seat_tws) == 1:
        seats[seat_tws[0]] = seat_xy
    else:  # streets around the city seat
        turn = rng.uniform(0, 2 * math.pi)
        for j, i in enumerate(seat_tws):
            a = turn + 2 * math.pi * j / len(seat_tws) + rng.uniform(-0.3, 0.3)
            seats[i] = seat_xy + rng.uniform(700, 1_300) * np.array([math.cos(a), math.sin(a)])
    missing = np.flatnonzero(np.isnan(seats[:, 0]))
    if len(missing):
        cand = _random_in(rng, county, 4_000)
        lon, lat = _to_deg(cand[:, 0], cand[:, 1])
        edge = shapely.distance(shapely.boundary(county), shapely.points(lon, lat)) * _KY
        for i in missing:
            have = seats[~np.isnan(seats[:, 0])]
            d = cKDTree(have).query(cand)[0]
            score = np.minimum(d, 2.5 * edge) * rng.uniform(0.8, 1.0, len(cand))
            seats[i] = cand[np.argmax(score)]
    return seats, np.array(extras).reshape(-1, 2), seat_xy


def _valleys(rng, county, seats: np.ndarray, styles: list[str]) -> list[np.ndarray]:
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


def _seed_points(rng, county, seats, extras, valleys, styles, hh_t, life):
    """Cell seeds: a sample of the household density, then a sparse uniform background."""
    owner = cKDTree(seats).query(extras)[1] if len(extras) else np.empty(0, int)
    pts = []
    for t, style in enumerate(styles):
        share_seat, sigma, share_ham, share_rib, share_sc, radius = _STYLE[style]
        n = max(40, int(_SEEDS_PER_HOUSEHOLD * hh_t[t]))
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
    bg = _random_in(rng, county, int(float(_area_km2(county)) * _BACKGROUND_PER_KM2))
    xy = np.concatenate([hh_seeds, bg])
    w = np.concatenate([np.ones(len(hh_seeds)), np.full(len(bg), _BACKGROUND_HOUSEHOLDS[life])])
    pairs = cKDTree(xy).query_pairs(0.5, output_type="ndarray")
    keep = np.ones(len(xy), bool)
    keep[pairs[:, 1]] = False
    return xy[keep], w[keep]


# --------------------------------------------------------------------------- cells


@dataclass
class _Cells:
    """Voronoi cells clipped to a county, split into parts: the nodes regions are grown on."""

    geom: np.ndarray  # polygons (lon/lat)
    xy: np.ndarray  # anchor (m): the seed, or a point on the part without a seed
    seed: np.ndarray  # seed index, or -1 for a part cut off from its seed
    area: np.ndarray  # km²
    u: np.ndarray  # edges, both directions
    v: np.ndarray
    w: np.ndarray  # length (m) × terrain cost


def _polygon_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parts, idx = shapely.get_parts(geoms, return_index=True)
    parts2, idx2 = shapely.get_parts(parts, return_index=True)
    idx = idx[idx2]
    keep = (shapely.get_type_id(parts2) == 3) & (shapely.area(parts2) > 0)
    return parts2[keep], idx[keep]


def _tessellate(seeds: np.ndarray, county, terrain: _Terrain) -> _Cells:
    x0, y0, x1, y1 = shapely.bounds(county)
    (ax, bx), (ay, by) = _to_m([x0, x1], [y0, y1])
    frame = shapely.box(ax - 2_000, ay - 2_000, bx + 2_000, by + 2_000)
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    cells = shapely.transform(shapely.get_parts(vor), _coords_to_deg)
    if len(cells) != len(seeds):
        raise RuntimeError("Voronoi lost cells (duplicate seeds?)")
    whole = shapely.contains_properly(county, cells)
    cut = np.flatnonzero(~whole)
    parts, of = _polygon_parts(shapely.intersection(cells[cut], county))
    cell = np.concatenate([np.flatnonzero(whole), cut[of]])
    geom = np.concatenate([cells[whole], parts])
    lon, lat = _to_deg(seeds[cell, 0], seeds[cell, 1])
    seeded = np.ones(len(geom), bool)
    seeded[whole.sum():] = shapely.contains_xy(parts, lon[whole.sum():], lat[whole.sum():])
    anchor = seeds[cell].copy()
    pos = shapely.point_on_surface(geom[~seeded])
    anchor[~seeded] = np.column_stack(_to_m(shapely.get_x(pos), shapely.get_y(pos)))
    # adjacency: Delaunay neighbours; where a cell was cut, parts that really share an edge
    tri = Delaunay(seeds).simplices
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    node_of = np.full(len(seeds), -1)
    node_of[np.flatnonzero(whole)] = np.arange(whole.sum())
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
    return _Cells(
        geom=geom,
        xy=anchor,
        seed=np.where(seeded, cell, -1),
        area=_area_km2(geom),
        u=np.concatenate([a, b]),
        v=np.concatenate([b, a]),
        w=np.concatenate([w, w]),
    )


# --------------------------------------------------------------------------- growing regions


def _grow(cells: _Cells, parent, sources, targets, size, iters: int) -> np.ndarray:
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
    best = best.copy()
    bad = best < 0
    for p in np.unique(parent[bad]):
        here = parent == p
        have, miss = np.flatnonzero(here & ~bad), np.flatnonzero(here & bad)
        best[miss] = best[have[cKDTree(cells.xy[have]).query(cells.xy[miss])[1]]]
    return best


def _per_part_argmax(part: np.ndarray, score: np.ndarray, nparts: int) -> np.ndarray:
    """Index of the largest `score` in each part (parts without a finite score get -1)."""
    order = np.lexsort([-score, part])
    order = order[np.isfinite(score[order])]
    out = np.full(nparts, -1)
    ps, first = np.unique(part[order], return_index=True)
    out[ps] = order[first]
    return out


def _split(cells: _Cells, parent, counts, targets, size, need: int) -> np.ndarray:
    """Split each parent p into `counts[p]` children whose `size` sums follow `targets`.

    Recursive two-way cuts: a part is cut between two far-apart inhabited cells a and b
    along the level set of (terrain distance to a) - (terrain distance to b) that splits its
    size in the wanted ratio, so both sides stay connected and the cut follows the terrain.
    Every child keeps at least `need` inhabited cells. Returns the child index of each node.
    """
    n = len(cells.xy)
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    lo, hi = first[:-1].copy(), first[1:].copy()
    cum_t = np.concatenate([[0.0], np.cumsum(targets)])
    part = parent.astype(np.int64).copy()
    lived = size > 0
    x, y = cells.xy[:, 0], cells.xy[:, 1]
    while np.any(hi - lo > 1):
        nparts = len(lo)
        act = (hi - lo > 1)[part]
        keep = act[cells.u] & (part[cells.u] == part[cells.v])
        graph = csr_matrix((cells.w[keep], (cells.u[keep], cells.v[keep])), shape=(n, n))
        main = _main_body(graph, part, act, nparts, size)
        mass = np.bincount(part, weights=size * act, minlength=nparts)
        cx = np.bincount(part, weights=size * x, minlength=nparts) / np.maximum(mass, 1e-12)
        cy = np.bincount(part, weights=size * y, minlength=nparts) / np.maximum(mass, 1e-12)
        far = np.where(main & lived, np.hypot(x - cx[part], y - cy[part]), -np.inf)
        a = _per_part_argmax(part, far, nparts)
        a = a[a >= 0]
        da = dijkstra(graph, indices=a, min_only=True)
        far = np.where(act & lived & np.isfinite(da), da, -np.inf)
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
        ci = np.cumsum(lived[order])
        ci -= (ci - lived[order])[start]
        tot_w = np.bincount(p, weights=size[order], minlength=nparts)
        tot_i = np.bincount(p, weights=lived[order], minlength=nparts)
        mid = (lo + hi) // 2
        share = (cum_t[mid] - cum_t[lo]) / np.maximum(cum_t[hi] - cum_t[lo], 1e-12)
        fits = (ci >= need * (mid - lo)[p]) & (tot_i[p] - ci >= need * (hi - mid)[p])
        score = np.where(fits, -np.abs(cw - share[p] * tot_w[p]), -np.inf)
        cut = _per_part_argmax(p, score, nparts)
        active = np.flatnonzero(hi - lo > 1)
        if np.any(cut[active] < 0):
            raise _Unlucky("a region is too sparsely inhabited for its children")
        right = np.arange(len(order)) > cut[p]
        old = part.copy()
        part[order[right]] += nparts
        _mend(cells, part, old, act, nparts, size)
        lo, hi = np.concatenate([lo, np.where(hi - lo > 1, mid, hi)]), np.concatenate([
            np.where(hi - lo > 1, mid, hi), hi])
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


def _mend(cells: _Cells, part, old, act, nparts: int, size) -> None:
    """Give every fragment of a freshly cut part that is cut off from the part's main body
    (ties at the cut, cells out of reach) to the side it is connected to, in place."""
    n = len(part)
    same = act[cells.u] & (part[cells.u] == part[cells.v])
    graph = csr_matrix((np.ones(same.sum()), (cells.u[same], cells.v[same])), shape=(n, n))
    main = _main_body(graph, part, act, 2 * nparts, size)
    stray = np.flatnonzero(act & ~main)
    if not len(stray):
        return
    within = act[cells.u] & (old[cells.u] == old[cells.v])
    graph = csr_matrix((cells.w[within], (cells.u[within], cells.v[within])), shape=(n, n))
    home = np.flatnonzero(main & np.isin(old, old[stray]))
    _, _, src = dijkstra(graph, indices=home, min_only=True, return_predecessors=True)
    reached = stray[src[stray] >= 0]
    part[reached] = part[src[reached]]
    lost = stray[src[stray] < 0]
    for q in np.unique(old[lost]):
        have = np.flatnonzero((old == q) & main)
        miss = lost[old[lost] == q]
        part[miss] = part[have[cKDTree(cells.xy[have]).query(cells.xy[miss])[1]]]


def _smooth(groups: np.ndarray, lon, lat, group_of, passes: int = 3):
    """Round off the cell-edge zigzags of a county's group coverage; returns the new groups
    and the households (lon, lat, group), moved to the group they now lie in.

    Laplacian smoothing of the shared edges' inner vertices (junctions and the county border
    stay put); a vertex moves identically for every polygon that uses it, so the coverage
    stays edge-matched. Polygons that turn invalid, overlap, or lose all their households
    keep their vertices, and the smoothing is redone.
    """
    parts, part_of = shapely.get_parts(groups, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords = shapely.get_coordinates(groups)
    ring_of = np.repeat(np.arange(len(rings)), shapely.get_num_coordinates(rings))
    poly_of = part_of[ring_part][ring_of]
    vertex, vid = np.unique(coords, axis=0, return_inverse=True)
    nv = len(vertex)
    i = np.flatnonzero(ring_of[:-1] == ring_of[1:])
    seg, uses = np.unique(np.sort(np.column_stack([vid[i], vid[i + 1]]), axis=1), axis=0,
                          return_counts=True)
    deg = np.bincount(seg.ravel(), minlength=nv)
    movable = deg == 2
    movable[seg[uses == 1].ravel()] = False
    adj = csr_matrix((np.ones(2 * len(seg)), (np.r_[seg[:, 0], seg[:, 1]],
                                              np.r_[seg[:, 1], seg[:, 0]])), shape=(nv, nv))
    for _ in range(5):
        xy = vertex.copy()
        for _ in range(passes):
            mean = (adj @ xy) / np.maximum(deg, 1)[:, None]
            xy[movable] += 0.5 * (mean[movable] - xy[movable])
        out = groups.copy()
        shapely.set_coordinates(out, xy[vid])
        bad = ~shapely.is_valid(out) | ~shapely.is_empty(shapely.coverage_invalid_edges(out))
        if not bad.any():
            hlon, hlat, hgroup = _settle(out, lon.copy(), lat.copy(), group_of.copy())
            bad = np.bincount(hgroup, minlength=len(out)) == 0
            if not bad.any():
                return out, hlon, hlat, hgroup
        movable[vid[bad[poly_of]]] = False
    return (groups, *_settle(groups, lon, lat, group_of))


def _settle(groups, lon, lat, group_of):
    """Put each household in the group it lies in, at least _MARGIN inside its edge."""
    out = ~shapely.contains_xy(groups[group_of], lon, lat)
    if out.any():
        pts = shapely.points(lon[out], lat[out])
        hit, poly = shapely.STRtree(groups).query(pts, predicate="within")
        moved = np.flatnonzero(out)
        group_of[moved[hit]] = poly
    centre = shapely.point_on_surface(groups)
    cx, cy = shapely.get_x(centre), shapely.get_y(centre)
    for step in range(8):
        home = groups[group_of]
        near = ~shapely.contains_xy(home, lon, lat) | shapely.dwithin(
            shapely.boundary(home), shapely.points(lon, lat), _MARGIN)
        if not near.any():
            return lon, lat, group_of
        g = group_of[near]
        t = 1.0 if step == 6 else 0.25  # towards a point inside; at worst onto it
        lon[near] = np.round(lon[near] + t * (cx[g] - lon[near]), 7)
        lat[near] = np.round(lat[near] + t * (cy[g] - lat[near]), 7)
    raise _Unlucky(f"{near.sum()} households stay on their group's edge")


def _anchors(labels: np.ndarray, k: int, size: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The inhabited node nearest each region's household centroid."""
    mass = np.bincount(labels, weights=size, minlength=k)
    cx = np.bincount(labels, weights=size * xy[:, 0], minlength=k) / mass
    cy = np.bincount(labels, weights=size * xy[:, 1], minlength=k) / mass
    d = np.where(size > 0, -np.hypot(xy[:, 0] - cx[labels], xy[:, 1] - cy[labels]), -np.inf)
    return _per_part_argmax(labels, d, k)


def _dissolve(geoms: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(k + 1))
    return np.array([shapely.coverage_union_all(geoms[order[starts[i]:starts[i + 1]]])
                     for i in range(k)])


def _renumber(labels, sources, parent_of_child, anchor_of_parent, xy):
    """Relabel children so that, inside each parent, the one nearest the parent's anchor is 0."""
    d = np.hypot(*(xy[sources] - anchor_of_parent[parent_of_child]).T)
    order = np.lexsort([d, parent_of_child])
    new = np.empty(len(order), np.int64)
    new[order] = np.arange(len(order))
    return new[labels], sources[order], parent_of_child[order]


# --------------------------------------------------------------------------- one county


def _style(rng, township: dict, prof: _Profile) -> str:
    if township["kind"] == "街道":
        return "urban"
    if township["township_name"] in prof.seat_townships:
        return "town"
    if prof.life == "mixed":
        return "farming" if rng.random() < 0.5 else "semi"
    return {"farming": "farming", "semi_pastoral": "semi", "pastoral": "pastoral"}[prof.life]


def _lived(cells: _Cells, labels: np.ndarray, k: int, size: np.ndarray) -> np.ndarray:
    """Inhabited cells in the main connected body of each region (what a split can use)."""
    n = len(labels)
    same = labels[cells.u] == labels[cells.v]
    graph = csr_matrix((np.ones(same.sum()), (cells.u[same], cells.v[same])), shape=(n, n))
    main = _main_body(graph, labels, np.ones(n, bool), k, size)
    return np.bincount(labels, weights=main & (size > 0), minlength=k).astype(np.int64)


def _build_county(seed, adcode, row, townships, plan, places) -> dict:
    """One county's tree and households; if an unlucky draw leaves a region too sparsely
    inhabited for its children, the county is drawn again from a derived seed."""
    for attempt in range(4):
        try:
            return _draw_county(seed, attempt, adcode, row, townships, plan, places)
        except _Unlucky:
            continue
    raise RuntimeError(f"could not build county {adcode} with seed {seed}")


class _Unlucky(RuntimeError):
    """A random draw that cannot carry the requested counts; try another."""


def _share(total: int, weights, lo, hi) -> np.ndarray:
    try:
        return _allocate(total, weights, lo, hi)
    except ValueError as e:
        raise _Unlucky(str(e)) from e


def _draw_county(seed, attempt, adcode, row, townships, plan, places) -> dict:
    rng = np.random.default_rng([seed, int(adcode)] + [attempt] * (attempt > 0))
    prof = _PROFILES[adcode]
    county = row["geometry"]
    shapely.prepare(county)
    tws = [t for t in townships if t["county_adcode"] == adcode]
    mine = [p for p in places if p["county"] == adcode]
    seats, extras, town = _seats(rng, adcode, county, tws, mine)
    styles = [_style(rng, t, prof) for t in tws]
    valleys = _valleys(rng, county, seats, styles)
    towns = [(town[0], town[1], 2_200.0 if len(prof.seat_townships) > 1 else 1_300.0)]
    towns += [(x, y, 500.0) for (x, y), s in zip(seats, styles, strict=True) if s != "urban"]
    terrain = _Terrain(rng, np.concatenate(valleys), towns)
    hh_t = np.array([plan["households"][t["township_code"]] for t in tws])
    seeds, seed_w = _seed_points(rng, county, seats, extras, valleys, styles, hh_t, prof.life)
    cells = _tessellate(seeds, county, terrain)
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
    lab_t = _grow(cells, np.zeros(n, np.int64), src_t, want, cells.area, 12)

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
    par_v = np.repeat(np.arange(len(tws)), n_v)
    share = rng.lognormal(0, 0.35, len(par_v))
    lab_v = _split(cells, lab_t, n_v, share, hh_w, 2)
    lab_v, src_v, par_v = _renumber(lab_v, _anchors(lab_v, len(par_v), hh_w, cells.xy), par_v,
                                    seats, cells.xy)
    hh_v = np.bincount(lab_v, weights=hh_w, minlength=len(src_v))
    lived_v = _lived(cells, lab_v, len(src_v), hh_w)

    n_g = _share(plan["grids"][adcode], hh_v, 1, lived_v // 2)
    par_g = np.repeat(np.arange(len(src_v)), n_g)
    lab_g = _split(cells, lab_v, n_g, np.ones(len(par_g)), hh_w, 2)
    lab_g, src_g, par_g = _renumber(lab_g, _anchors(lab_g, len(par_g), hh_w, cells.xy), par_g,
                                    cells.xy[src_v], cells.xy)
    hh_g = np.bincount(lab_g, weights=hh_w, minlength=len(src_g))
    lived_g = _lived(cells, lab_g, len(src_g), hh_w)

    n_m = _share(plan["groups"][adcode], hh_g, 2, lived_g)
    par_m = np.repeat(np.arange(len(src_g)), n_m)
    lab_m = _split(cells, lab_g, n_m, np.ones(len(par_m)), hh_w, 1)
    lab_m, src_m, par_m = _renumber(lab_m, _anchors(lab_m, len(par_m), hh_w, cells.xy), par_m,
                                    cells.xy[src_g], cells.xy)

    geo_m = _dissolve(cells.geom, lab_m, len(src_m))
    hh_lon, hh_lat, hh_node_of = _place_households(rng, cells, seeds, hh_node)
    geo_m, hh_lon, hh_lat, hh_m = _smooth(geo_m, hh_lon, hh_lat, lab_m[hh_node_of])
    if np.bincount(hh_m, minlength=len(src_m)).min() == 0:
        raise _Unlucky("a group without households")
    geo_g = _dissolve(geo_m, par_m, len(src_g))
    geo_v = _dissolve(geo_g, par_g, len(src_v))
    geo_t = _dissolve(geo_v, par_v, len(tws))
    return {
        "adcode": adcode, "name": row["name"], "geometry": county, "profile": prof,
        "townships": tws, "styles": styles,
        "geom": (geo_t, geo_v, geo_g, geo_m),
        "parent": (par_v, par_g, par_m),
        "households": (hh_lon, hh_lat, hh_m),
        "area_g": _area_km2(geo_g),
        "hh_g": np.bincount(par_m[hh_m], minlength=len(src_g)),
    }


def _place_households(rng, cells: _Cells, seeds, hh_node) -> tuple[np.ndarray, ...]:
    """Households scattered around their cell's seed (well inside the cell); returns lon,
    lat and the node of each."""
    node = np.repeat(np.arange(len(hh_node)), hh_node)
    nn = cKDTree(seeds).query(seeds, k=2)[0][:, 1]
    s = cells.seed[node]
    r = 0.35 * nn[s] * np.sqrt(rng.random(len(node)))
    a = rng.uniform(0, 2 * math.pi, len(node))
    lon, lat = _to_deg(seeds[s, 0] + r * np.cos(a), seeds[s, 1] + r * np.sin(a))
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    off = ~shapely.contains_xy(cells.geom[node], lon, lat)  # cells cut by the county border
    slon, slat = _to_deg(seeds[s[off], 0], seeds[s[off], 1])
    lon[off], lat[off] = np.round(slon, 7), np.round(slat, 7)
    return lon, lat, node


# --------------------------------------------------------------------------- names and people


def _words(text: str) -> list[str]:
    return text.split()


_TIBETAN = _words(
    "扎西 卓玛 才让 多杰 拉毛 德吉 旦增 索南 尼玛 次仁 桑杰 更登 贡保 完玛 道吉 措毛 拉姆 吉毛 "
    "加措 仁青 东珠 切吉 卓嘎 华旦 才旦 周毛 当周 罗藏 班玛 杨本 达瓦 格桑 久美 昂青 嘉措 卓尕 "
    "才吉 万德 尕藏 丹正 南杰 李毛 曲珍 拉加 公保 角巴 道智 宗吉 娘吉 完德 闹日 夏吾 旦知 卓科 "
    "多拉 斗改 草毛 仁增"
)
_SURNAMES = list(
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董袁潘蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万严武戴莫孔汤敏包"
)
_GIVEN = _words(
    "建国 建军 国庆 志强 志明 海涛 海燕 玉兰 秀英 桂英 春梅 丽 敏 静 军 伟 勇 强 磊 洋 艳 娟 "
    "霞 芳 红 明 平 刚 杰 涛 斌 辉 鹏 华 英 文 兰 永福 永强 成龙 德明 学军 小军 小红 晓东 晓燕 "
    "福林 有才 生华 文斌 忠 义 俊 梅 花 燕 金花 玉梅 占林 保平 维新 尚文 进财 海龙 小平 永红 "
    "雪梅 旭东 佳 悦 浩 宇 欣怡 子豪 梓涵"
)
_TIB_SYLL = list(
    "尕秀扎油加拉卡德合茂当周勒吉仓克莫多尔香告那吾格达久唐昂麻玛曲阿木赛贡巴洛日完冒措琼桑科智藏"
    "哇隆沙尼傲旦知亥西卓杂娘让宁卜塔坎则江囊热"
)
_HAN_POS = list("上下中东西南北新大小前后沙石杨李王马张刘红白黑古高阳柳杏水")
_HAN_MID = list("河石沙阳柳杏桦松泉水草峡家堡山湾")
_HAN_END = list("庄沟坪湾坡山川坝岔寨滩河峪台岭堡门")
_COMMUNITY = _words(
    "格桑 香巴拉 金色 团结 幸福 和谐 当周 东风 民主 人民 雪域 安多 吉祥 德吉 扎西 玛尼 红星 新城 "
    "东城 西城 南城 北城 建设 和平 阳光 滨河 广场 胜利 光明 友谊"
)
_ROADS = _words(
    "人民 团结 当周 格桑 卡加 香巴拉 民主 解放 新华 建设 滨河 迎宾 环城 东环 西环 南滨 北山 体育 "
    "文化 商贸"
)
_PHONE_PREFIX = np.array(_words(
    "138 139 135 136 137 150 151 152 157 158 159 187 188 130 131 132 155 156 185 186 133 153 "
    "180 189 177 199"
))


def _join(*parts) -> np.ndarray:
    """Element-wise string concatenation of arrays (and scalars)."""
    out = np.asarray(parts[0]).astype(str)
    for p in parts[1:]:
        out = np.char.add(out, np.asarray(p).astype(str))
    return out


def _village_names(rng, n: int, tibetan: float, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        if rng.random() < tibetan:
            k = int(rng.integers(2, 4))
            name = "".join(rng.choice(_TIB_SYLL, k))
        elif rng.random() < 0.4:
            name = rng.choice(_SURNAMES) + "家" + rng.choice(_HAN_END)
        else:
            name = rng.choice(_HAN_POS) + rng.choice(_HAN_MID) + rng.choice(_HAN_END)
        if name not in taken:
            taken.add(name)
            out.append(name + "村")
    return out


def _person_names(rng, n: int, tibetan: float, hui: float) -> np.ndarray:
    tib = rng.random(n) < tibetan
    first = np.array(_TIBETAN)[rng.integers(0, len(_TIBETAN), n)]
    second = np.array(_TIBETAN)[rng.integers(0, len(_TIBETAN), n)]
    two = (rng.random(n) < 0.55) & (first != second)
    tib_name = np.where(two, np.char.add(first, second), first)
    sur = np.array(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)]
    sur = np.where(rng.random(n) < hui, "马", sur)
    han = np.char.add(sur, np.array(_GIVEN)[rng.integers(0, len(_GIVEN), n)])
    return np.where(tib, tib_name, han)


def _phones(rng, n: int, county_index: int) -> np.ndarray:
    """Unique synthetic mobile numbers; the 4-digit block keeps counties apart."""
    got = np.empty(0, np.int64)
    while len(got) < n:
        more = rng.integers(0, len(_PHONE_PREFIX) * 40 * 10_000, 2 * n - len(got) + 16)
        got = np.concatenate([got, more])
        _, first = np.unique(got, return_index=True)
        got = got[np.sort(first)]
    got = got[:n]
    prefix = _PHONE_PREFIX[got // 400_000]
    block = 6_000 + county_index * 40 + (got // 10_000) % 40
    serial = got % 10_000
    return np.char.add(np.char.add(prefix, block.astype(str)), np.char.zfill(serial.astype(str), 4))


def _grid_kind(life: str, style: str, community: bool, density: float) -> str:
    if community or (style in ("urban", "town") and density >= 300):
        return "urban"
    if life == "farming":
        return "farming"
    if life == "mixed":
        return "farming" if density >= 8 else "semi_pastoral"
    if life == "semi_pastoral":
        return "semi_pastoral" if density >= 4 else "pastoral"
    return "semi_pastoral" if density >= 25 else "pastoral"


def _county_frames(seed: int, c: dict, county_index: int, people: int):
    rng = np.random.default_rng([seed, int(c["adcode"]), 1])
    prof, tws = c["profile"], c["townships"]
    geo_t, geo_v, geo_g, geo_m = c["geom"]
    par_v, par_g, par_m = c["parent"]
    rows = []

    def add(code, name, level, kind, parent, geom):
        rows.append((code, name, level, kind, parent, True, geom))

    for t, g in zip(tws, geo_t, strict=True):
        add(t["township_code"], t["township_name"], "township", t["kind"], c["adcode"], g)
    v_code, v_name, v_comm = [], [], []
    taken: set[str] = set()
    for ti, t in enumerate(tws):
        nv = int((par_v == ti).sum())
        style = c["styles"][ti]
        n_comm = nv if style == "urban" else (min(2, nv // 3) if style == "town" else 0)
        comm = list(rng.choice(_COMMUNITY, n_comm, replace=False))
        names = [x + "社区" for x in comm] + _village_names(rng, nv - n_comm, prof.tibetan, taken)
        for j, name in enumerate(names):
            num = j + 1 if j < n_comm else 200 + j - n_comm + 1
            v_code.append(t["township_code"] + f"{num:03d}")
            v_name.append(name)
            v_comm.append(j < n_comm)
    for i, g in enumerate(geo_v):
        add(v_code[i], v_name[i], "village", "community" if v_comm[i] else "village",
            tws[par_v[i]]["township_code"], g)
    g_code, g_seq = [], np.zeros(len(par_g), np.int64)
    for i in range(len(par_g)):
        g_seq[i] = 1 if i == 0 or par_g[i] != par_g[i - 1] else g_seq[i - 1] + 1
        g_code.append(v_code[par_g[i]] + f"{g_seq[i]:03d}")
    density = c["hh_g"] / np.maximum(c["area_g"], 1e-9)
    for i, g in enumerate(geo_g):
        v = par_g[i]
        kind = _grid_kind(prof.life, c["styles"][par_v[v]], v_comm[v], density[i])
        add(g_code[i], f"{v_name[v]}第{g_seq[i]}网格", "grid", kind, v_code[v], g)
    m_seq = np.zeros(len(par_m), np.int64)
    m_code = []
    for i in range(len(par_m)):
        m_seq[i] = 1 if i == 0 or par_m[i] != par_m[i - 1] else m_seq[i - 1] + 1
        m_code.append(g_code[par_m[i]] + f"{m_seq[i]:03d}")
    for i, g in enumerate(geo_m):
        add(m_code[i], f"第{m_seq[i]}联防组", "group", "ten_household", g_code[par_m[i]], g)

    households, group = _household_frame(rng, c, county_index, people, v_name, v_comm, m_code)
    heads = households.iloc[np.searchsorted(group, np.arange(len(m_code)))]
    workers = _worker_frame(rng, c, county_index, heads, v_code, g_code, m_code)
    return rows, households, workers


def _household_frame(rng, c, county_index, people, v_name, v_comm, m_code):
    prof, tws = c["profile"], c["townships"]
    par_v, par_g, par_m = c["parent"]
    lon, lat, group = c["households"]
    n = len(lon)
    order = np.lexsort([rng.random(n), group])
    lon, lat, group = lon[order], lat[order], group[order]
    first = np.searchsorted(group, group)
    seq = np.arange(n) - first + 1
    if seq.max() > 999:
        raise RuntimeError("a group has more than 999 households")
    code = np.char.add(np.array(m_code)[group], np.char.zfill(seq.astype(str), 3))
    village = par_g[par_m[group]]
    she = group - np.searchsorted(par_g[par_m], village) + 1  # group ordinal in the village
    town = np.array([c["name"] + t["township_name"] for t in tws])[par_v[village]]
    vname = np.array(v_name)[village]
    comm = np.array(v_comm)[village]
    road = np.array(_ROADS)[rng.integers(0, len(_ROADS), n)]
    road = np.char.add(road, np.array(["路", "街", "巷"])[rng.integers(0, 3, n)])
    # communities: road, number, building, unit, room; villages: 社 (the group) and number
    flat = _join(road, rng.integers(1, 120, n), "号", rng.integers(1, 30, n), "栋",
                 rng.integers(1, 5, n), "单元", rng.integers(1, 8, n), "0",
                 rng.integers(1, 5, n), "室")
    rural = _join(she, "社", seq, "号")
    address = _join(town, vname, np.where(comm, flat, rural)).astype(object)
    hui = 0.25 if c["adcode"] in ("623021", "623022", "623001") else 0.05
    members = 1 + rng.poisson(max(people / n - 1, 0.1), n)
    members = np.minimum(members, 10)
    while (diff := people - int(members.sum())) != 0:  # hit the people total exactly
        pick = np.unique(rng.integers(0, n, abs(diff)))
        if diff > 0:
            members[pick[members[pick] < 10]] += 1
        else:
            members[pick[members[pick] > 1]] -= 1
    tags = np.full(n, "", dtype=object)
    for tag, p in (("elderly", 0.09), ("orphan", 0.004), ("disabled", 0.025),
                   ("low_income", 0.05)):
        hit = rng.random(n) < p
        tags[hit] = np.where(tags[hit] == "", tag, tags[hit] + ";" + tag)
    return pandas.DataFrame({
        "code": code, "address": address, "lon": lon, "lat": lat,
        "head_name": _person_names(rng, n, prof.tibetan, hui),
        "phone": _phones(rng, n, county_index), "members": members, "care_tags": tags,
    }), group


def _worker_frame(rng, c, county_index, heads, v_code, g_code, m_code) -> pandas.DataFrame:
    prof = c["profile"]
    per_grid = rng.integers(1, 4, len(g_code))
    militia = rng.integers(3, 7, len(c["townships"]))
    t_code = [t["township_code"] for t in c["townships"]]
    role = (["grid_leader"] * len(g_code) + ["grid_worker"] * int(per_grid.sum())
            + ["grid_guide"] * len(v_code) + ["militia"] * int(militia.sum()))
    area = (g_code + list(np.repeat(g_code, per_grid)) + v_code + list(np.repeat(t_code, militia)))
    seq = [1] * len(g_code) + [j + 1 for k in per_grid for j in range(k)] + [1] * len(v_code)
    seq += [j + 1 for k in militia for j in range(k)]
    tag = {"grid_leader": "GL", "grid_worker": "GW", "grid_guide": "GG", "militia": "MB"}
    n = len(role)
    staff = pandas.DataFrame({
        "code": [f"{a}{tag[r]}{s:02d}" for a, r, s in zip(area, role, seq, strict=True)],
        "name": _person_names(rng, n, prof.tibetan, 0.1),
        "role": role, "area_code": area,
        "phone": _phones(rng, n, county_index + 8),  # blocks apart from households'
    })
    # one liaison head per group: a household head of that group
    liaison = pandas.DataFrame({
        "code": [f"{m}LH01" for m in m_code],
        "name": heads["head_name"].to_numpy(), "role": "liaison_head",
        "area_code": m_code, "phone": heads["phone"].to_numpy(),
    })
    out = pandas.concat([staff, liaison], ignore_index=True)
    out["on_duty"] = rng.random(len(out)) < 0.8
    return out


# --------------------------------------------------------------------------- the whole demo


def _as_multipolygons(geoms) -> np.ndarray:
    parts, idx = shapely.get_parts(np.asarray(geoms), return_index=True)
    return shapely.multipolygons(parts, indices=idx)


def _assemble(seed: int, built: list[dict], plan: dict, all_codes: list[str]) -> Demo:
    rows = [(PREFECTURE_CODE, PREFECTURE_NAME, "prefecture", "自治州", None, False,
             shapely.coverage_union_all([c["geometry"] for c in built]))]
    for c in built:
        kind = "县级市" if c["name"].endswith("市") else "县"
        rows.append((c["adcode"], c["name"], "county", kind, PREFECTURE_CODE, False, c["geometry"]))
    households, workers = [], []
    for c in built:
        r, h, w = _county_frames(seed, c, all_codes.index(c["adcode"]), plan["people"][c["adcode"]])
        rows += r
        households.append(h)
        workers.append(w)
    cols = ["code", "name", "level", "kind", "parent_code", "synthetic", "geometry"]
    frame = pandas.DataFrame(rows, columns=cols)
    frame["geometry"] = _as_multipolygons(frame["geometry"].to_numpy())
    areas = geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return Demo(
        areas=areas,
        households=pandas.concat(households, ignore_index=True),
        workers=pandas.concat(workers, ignore_index=True),
    )
