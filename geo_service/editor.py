"""The boundary editor for grid planners: the page skeleton as a folium map.

The server builds one township's or village's map with folium on the vendored assets only
(`maps.offline_map`): panes, empty layers and Leaflet-Geoman's toolbar through
`folium.plugins.GeoMan` (its CDN default replaced by `maps.offline`). The live behaviour
is `static/js/editor.js` and its modules: they read the draft API (`/api/v1/drafts/…`),
send every change as one edit and redraw what the server answers (neighbours that followed,
the problems of the draft). What the browser needs (API base, area, strings in the page's
language, the JavaScript names of the map and its layers) is one JSON document in the page.
Flask-free: the web layer passes the translated labels and the rendered side panel in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Element
from folium.plugins import GeoMan

from geo_service.maps import offline, offline_map
from geo_service.scope import Scope
from geo_service.versions import VersionIndex
from geo_service.wall import page_json

# The levels a planner opens the editor on: one township's or one village's grids.
EDITABLE_LEVELS: tuple[str, ...] = ("township", "village")

# Panes, bottom to top: the area's outline and its villages, the ten-household groups
# (thin, not clickable), the draft's problems in red, a diff of two versions (History:
# outlines only, clicks go through to the grids), what would move (the impact).
# The grids stay in Leaflet's own overlay pane (400), where Geoman edits them.
PANES: tuple[tuple[str, int, bool], ...] = (
    ("context", 390, False), ("groups", 410, False), ("problems", 420, False),
    ("history", 425, False), ("impact", 430, True))

# Layers the JS fills: key -> shown when the page opens.
LAYERS: tuple[tuple[str, bool], ...] = (
    ("context", True), ("groups", True), ("problems", True), ("history", True),
    ("impact", True))

COLOURS: dict[str, str] = {
    "grid": "#1d4ed8", "grid_changed": "#b45309", "group": "#475569",
    "context": "#0f172a", "problem": "#dc2626", "selected": "#7c3aed",
    "household": "#0891b2", "case": "#db2777", "worker": "#16a34a", "group_point": "#ca8a04",
    # a diff of two versions (History)
    "added": "#16a34a", "removed": "#dc2626", "reshaped": "#ea580c",
}

# Geoman's toolbar: draw a polygon (a new grid), edit vertices, delete; the editor adds its
# own split (a line across a grid) and merge buttons. Snapping to neighbours stays on.
TOOLBAR: dict[str, Any] = {
    "position": "topleft", "drawMarker": False, "drawCircleMarker": False,
    "drawPolyline": False, "drawRectangle": False, "drawCircle": False, "drawText": False,
    "drawPolygon": True, "editMode": True, "dragMode": False, "cutPolygon": False,
    "removalMode": True, "rotateMode": False,
}
SNAP_PX = 15  # Geoman snaps a dragged vertex to a neighbour's vertex or edge this close


@dataclass(frozen=True)
class Choice:
    """An area the editor may be opened on (offered when the page is opened without one)."""

    code: str
    name: str
    level: str
    parent_name: str


def choices(vi: VersionIndex, allowed: Scope, limit: int = 2000) -> list[Choice]:
    """The townships and villages inside `allowed`, by code: what a planner may open."""
    out = []
    for info in sorted(vi.areas.values(), key=lambda a: a.code):
        if info.level in EDITABLE_LEVELS and allowed.covers(vi, info.code):
            parent = vi.areas.get(info.parent_code or "")
            out.append(Choice(info.code, info.name, info.level, parent.name if parent else ""))
            if len(out) >= limit:
                break
    return out


def editor_page(static_url: Callable[[str], str], *, config: dict[str, Any],
                labels: Mapping[str, str], panel: str, title: str, tiles: str = "",
                attribution: str = "") -> str:
    """The whole page: folium's map with its panes, layers and Geoman toolbar, the side
    panel (`panel`, already rendered), the configuration as JSON and the module that
    brings it to life. `labels` names the layers in the switch (the page's language);
    `config` is completed with the JavaScript names of the map, its layers and Geoman's
    editable group (the grids)."""
    m = offline_map(static_url, tiles=tiles, attribution=attribution,
                    location=[35.0, 103.0], zoom_start=12, zoom_control=True,
                    control_scale=True, **{"minZoom": 5, "maxZoom": 21})
    for name, z, clickable in PANES:
        folium.map.CustomPane(name, z_index=z, pointer_events=clickable).add_to(m)
    grids = folium.FeatureGroup(name=labels["grids"], show=True).add_to(m)
    layers = {key: folium.FeatureGroup(name=labels[key], show=show).add_to(m)
              for key, show in LAYERS}
    offline(GeoMan(feature_group=grids, **TOOLBAR), static_url).add_to(m)
    folium.LayerControl(position="bottomleft", collapsed=True).add_to(m)
    root = m.get_root()
    root.title = title
    root.header.add_child(Element(
        f'<link rel="stylesheet" href="{static_url("css/editor.css")}">'
        '<meta name="referrer" content="no-referrer">'))
    root.html.add_child(Element(panel))
    config = {**config, "map": m.get_name(), "grids_layer": grids.get_name(),
              "layers": {k: g.get_name() for k, g in layers.items()},
              "colours": COLOURS, "snap_px": SNAP_PX}
    root.html.add_child(Element(
        f'<script type="application/json" id="editor-config">{page_json(config)}</script>'
        f'<script type="module" src="{static_url("js/editor.js")}"></script>'))
    return root.render()
