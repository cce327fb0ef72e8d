"""The whole demo prefecture: the real prefecture and county rows, each county's generated
tree, households and workers, put together."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas
import numpy as np
import pandas
import shapely

from .areas import county_areas
from .county import County, build_county
from .gannan import (
    FULL_GRIDS,
    FULL_GROUPS,
    FULL_HOUSEHOLDS,
    PREFECTURE_CODE,
    PREFECTURE_NAME,
    load_counties,
    load_places,
    load_townships,
)
from .people import household_frame, worker_frame
from .plan import Plan, plan_counts

AREA_COLUMNS = ["code", "name", "level", "kind", "parent_code", "synthetic", "geometry"]


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
    county_rows = load_counties()
    wanted = list(county_rows) if counties is None else [str(c) for c in counties]
    unknown = sorted(set(wanted) - set(county_rows))
    if unknown or not wanted:
        raise ValueError(f"unknown county adcodes {unknown}; expected some of {list(county_rows)}")
    full = (households, grids, groups) == (FULL_HOUSEHOLDS, FULL_GRIDS, FULL_GROUPS)
    townships = load_townships()
    plan = plan_counts(seed, townships, list(county_rows) if full else wanted, households,
                       grids, groups)
    places = load_places()
    built = [
        build_county(seed, code, county_rows[code], townships, plan, places)
        for code in county_rows
        if code in wanted
    ]
    return _assemble(seed, built, plan, list(county_rows))


def _county_records(seed: int, c: County, county_index: int, people: int):
    """The county's area rows, households and workers (one random stream, in that order)."""
    rng = np.random.default_rng([seed, int(c.adcode), 1])
    areas = county_areas(rng, c)
    households, group = household_frame(rng, c, county_index, people, areas)
    heads = households.iloc[np.searchsorted(group, np.arange(len(areas.group_code)))]
    workers = worker_frame(rng, c, county_index, heads, areas)
    return areas.rows, households, workers


def _as_multipolygons(geoms) -> np.ndarray:
    parts, idx = shapely.get_parts(np.asarray(geoms), return_index=True)
    return shapely.multipolygons(parts, indices=idx)


def _assemble(seed: int, built: list[County], plan: Plan, all_codes: list[str]) -> Demo:
    rows = [(PREFECTURE_CODE, PREFECTURE_NAME, "prefecture", "自治州", None, False,
             shapely.coverage_union_all([c.geometry for c in built]))]
    for c in built:
        kind = "县级市" if c.name.endswith("市") else "县"
        rows.append((c.adcode, c.name, "county", kind, PREFECTURE_CODE, False, c.geometry))
    households, workers = [], []
    for c in built:
        r, h, w = _county_records(seed, c, all_codes.index(c.adcode), plan.people[c.adcode])
        rows += r
        households.append(h)
        workers.append(w)
    frame = pandas.DataFrame(rows, columns=AREA_COLUMNS)
    frame["geometry"] = _as_multipolygons(frame["geometry"].to_numpy())
    areas = geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return Demo(
        areas=areas,
        households=pandas.concat(households, ignore_index=True),
        workers=pandas.concat(workers, ignore_index=True),
    )
