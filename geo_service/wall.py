"""The command center's wall display: the page skeleton as a folium map.

The server builds the map once per page load with folium (panes, empty layers, marker
clustering, the layer switch, all on the vendored copies of `maps.offline_map`); the live
behaviour is `static/js/wall.js` and its modules, which fill those layers from the JSON API
and the event stream. What the browser needs to know (API base, area, role, colours, the
page's language strings, the JavaScript names folium gave the map and its layers) is handed
over as one JSON document in the page. Flask-free: the web layer passes the translated
labels and the rendered side panel in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import folium
from branca.element import Element
from folium.plugins import MarkerCluster

from boundaries.levels import LEVELS
from geo_service.cases.model import CLASSES, OPEN
from geo_service.maps import offline, offline_map
from geo_service.versions.snapshot import AreaInfo

# Panes, bottom to top: caseload fill, the unvisited hatch, heavier township and county
# outlines, their labels; case markers stay in Leaflet's own marker pane (600) above all of
# them; the workers' canvas lies above the case markers (below tooltips and popups) and
# lets pointer events through to them (static/js/wall/workers.js shows its tooltips).
PANES: tuple[tuple[str, int, bool], ...] = (
    ("grids", 405, True), ("unvisited", 410, False), ("boundaries", 420, False),
    ("labels", 450, True), ("workers", 620, False))

# Layers the JS fills: key -> shown when the page opens. `offline` (workers without a fix
# for GEO_OFFLINE_H) stays behind the layer switch: a wall shows who is out there now.
LAYERS: tuple[tuple[str, bool], ...] = (
    ("grids", True), ("unvisited", True), ("boundaries", True), ("workers", True),
    ("offline", False))

# Open cases per area -> fill colour (lower bounds); dark to hot, readable on a dark wall.
# Each level has its own scale: a township holds tens of grids, a county hundreds (DOMAIN.md:
# Gannan's 2,000 open cases are ~2 a grid, ~20 a township, ~250 a county).
CASELOAD_BINS: dict[str, tuple[int, ...]] = {
    "grid": (0, 1, 2, 3, 5, 10),
    "township": (0, 1, 5, 10, 20, 40),
    "county": (0, 5, 25, 50, 100, 200),
}
CASELOAD_COLOURS: tuple[str, ...] = ("#1c2635", "#2f4b7c", "#665191", "#a05195", "#d45087",
                                     "#ff7c43")
CLASS_COLOURS: dict[str, str] = {"attention": "#ffc233", "management": "#ff4d4f",
                                 "service": "#36cfc9"}
assert set(CLASS_COLOURS) == set(CLASSES)
# Zoomed out, the wall shades the finest level whose areas are still this many CSS pixels
# across (the median of sqrt(width x height) of their outlines); below the grids' size it
# aggregates to townships, then counties. The demo's grids (median ~4.4 km) stay grids on a
# 4K wall showing all of Gannan (zoom 9, ~17 px); one step out, or on a 1080p screen, the
# wall shows its ~100 townships (~25 km) instead of specks.
AGGREGATE_PX = 14
# The geometry drawn: zoom below -> simplification tolerance in metres (fetched once per
# tier). A wall opens on its whole area, below zoom 12: its first geometry is at 300 or 50
# m, which the server prepares before it answers anyone (`web.wall.warm`).
TIERS: tuple[tuple[int, int], ...] = ((9, 300), (12, 50), (99, 5))
OPENING_TOLERANCES: tuple[int, ...] = tuple(m for below, m in TIERS if below <= 12)
CYCLE_S = (5, 3600)  # `?cycle=N`: seconds per child area, within these bounds


def caseload_legend(level: str = "grid") -> list[dict[str, Any]]:
    """One level's choropleth classes as the legend and the JS both read them."""
    bins = CASELOAD_BINS[level]
    out = []
    for i, (lo, colour) in enumerate(zip(bins, CASELOAD_COLOURS, strict=True)):
        hi = bins[i + 1] - 1 if i + 1 < len(bins) else None
        label = str(lo) if hi == lo else f"{lo}+" if hi is None else f"{lo}–{hi}"
        out.append({"min": lo, "colour": colour, "label": label})
    return out


def shaded_levels(area_level: str | None) -> list[str]:
    """The levels a wall of an area at `area_level` (None: the whole tree) shades, finest
    first: grids always, townships and counties only when they lie below its area."""
    below = LEVELS[LEVELS.index(area_level) + 1:] if area_level else LEVELS
    return [lv for lv in ("grid", "township", "county") if lv == "grid" or lv in below]


def cycle_children(areas: Mapping[str, AreaInfo], area: str | None
                   ) -> dict[str, Any] | None:
    """What `?cycle=` visits: the children of the wall's area (of the one top area when
    the wall shows the whole tree; the top areas themselves when there are several), as
    the `level` and `parent` of an /areas query; None when there is nothing below."""
    if area is None:
        roots = [a for a in areas.values() if a.parent_code is None]
        if len(roots) != 1:
            return {"level": roots[0].level, "parent": None} if roots else None
        area = roots[0].code
    level = areas[area].level
    if level == LEVELS[-1] or not any(a.parent_code == area for a in areas.values()):
        return None
    return {"level": LEVELS[LEVELS.index(level) + 1], "parent": area}


def open_statuses() -> list[str]:
    return sorted(OPEN)


def page_json(data: Mapping[str, Any]) -> str:
    """JSON safe inside a <script> element (no `</script>` or `<!--` can end it)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def wall_page(static_url: Callable[[str], str], *, config: dict[str, Any], labels:
              Mapping[str, str], panel: str, title: str, tiles: str = "",
              attribution: str = "", bounds: list[list[float]] | None = None) -> str:
    """The whole page: folium's map with its panes and layers, the side panel (`panel`,
    already rendered), the configuration as JSON and the module that brings it to life.

    `labels` names the layers in the switch (the page's language); `config` is completed
    with the JavaScript names of the map and its layers."""
    # SVG, not canvas, for the areas, call-outs and lines: Chromium rasters SVG in tiles
    # off the page's main thread, while each canvas as large as a 4K map costs that thread
    # ~27 ms of copying after a change and ~4 ms every frame even unchanged (its trace of
    # the demo's wall). The workers' dots are the one canvas (static/js/wall/workers.js).
    m = offline_map(static_url, tiles=tiles, attribution=attribution, prefer_canvas=False,
                    location=[35.0, 103.0], zoom_start=8, zoom_control=False,
                    control_scale=True, **{"minZoom": 5, "maxZoom": 19})  # the map's own
    if bounds:  # opened on its area: the first geometry fetched is the right tier's
        m.fit_bounds(bounds, padding=(20, 20))
    for name, z, clickable in PANES:
        folium.map.CustomPane(name, z_index=z, pointer_events=clickable).add_to(m)
    layers = {key: folium.FeatureGroup(name=labels[key], show=show).add_to(m)
              for key, show in LAYERS}
    cases = offline(MarkerCluster(name=labels["cases"], max_cluster_radius=45,
                                  disable_clustering_at_zoom=15, chunked_loading=True,
                                  spiderfy_on_max_zoom=False, show_coverage_on_hover=False),
                    static_url).add_to(m)
    folium.LayerControl(position="bottomleft", collapsed=False).add_to(m)
    root = m.get_root()
    root.title = title
    root.header.add_child(Element(
        f'<link rel="stylesheet" href="{static_url("css/wall.css")}">'
        '<meta name="referrer" content="no-referrer">'))
    root.html.add_child(Element(panel))
    config = {**config, "map": m.get_name(), "cases_layer": cases.get_name(),
              "layers": {k: g.get_name() for k, g in layers.items()}}
    root.html.add_child(Element(
        f'<script type="application/json" id="wall-config">{page_json(config)}</script>'
        f'<script type="module" src="{static_url("js/wall.js")}"></script>'))
    return root.render()
