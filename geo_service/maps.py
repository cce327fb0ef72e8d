"""Folium maps that load nothing from the internet.

Command centers run on isolated networks: folium's defaults (Leaflet, jQuery, Bootstrap,
icon fonts from CDNs) would leave a blank page there. `offline_map` builds a folium Map
whose every script and stylesheet is one of the local copies in `static/vendor/` (see
tools/vendor.py and VENDORED.json), and `offline` does the same for a plugin. The basemap
is configuration: none by default (a plain background), or an XYZ URL with its
attribution for a local tile server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import folium
from branca.element import Element

LEAFLET = "vendor/leaflet-1.9.4"
MARKERCLUSTER = "vendor/leaflet.markercluster-1.5.3"
GEOMAN = "vendor/leaflet-geoman-free-2.18.3"

# folium resource name -> path under static/ (every name folium or a plugin we use asks for)
ASSETS: dict[str, str] = {
    "leaflet": f"{LEAFLET}/leaflet.js",
    "leaflet_css": f"{LEAFLET}/leaflet.css",
    "markerclusterjs": f"{MARKERCLUSTER}/leaflet.markercluster.js",
    "markerclustercss": f"{MARKERCLUSTER}/MarkerCluster.css",
    "markerclusterdefaultcss": f"{MARKERCLUSTER}/MarkerCluster.Default.css",
    "leaflet_geoman_js": f"{GEOMAN}/leaflet-geoman.js",
    "leaflet_geoman_css": f"{GEOMAN}/leaflet-geoman.css",
}


class MissingAsset(LookupError):
    """A folium element asks for a library that is not vendored: it would load from a CDN."""


def offline(element: Any, static_url: Callable[[str], str]) -> Any:
    """Point `element`'s scripts and stylesheets at the local copies; the ones a map needs
    only for folium's own extras (jQuery, Bootstrap, icon fonts) are dropped."""
    for attr in ("default_js", "default_css"):
        kept = []
        for name, _url in getattr(element, attr, []):
            if name in ASSETS:
                kept.append((name, static_url(ASSETS[name])))
            elif not isinstance(element, folium.Map):
                raise MissingAsset(f"{type(element).__name__} needs {name!r}, which is not "
                                   "vendored under static/vendor (tools/vendor.py)")
        setattr(element, attr, kept)
    return element


def offline_map(static_url: Callable[[str], str], *, tiles: str = "",
                attribution: str = "", prefer_canvas: bool = True,
                **kwargs: Any) -> folium.Map:
    """A folium Map on local assets only; `tiles` an XYZ URL (or "" for no basemap).
    Vector layers go on canvases unless `prefer_canvas` is False (then SVG)."""
    m = folium.Map(tiles=None, prefer_canvas=prefer_canvas, **kwargs)
    offline(m, static_url)
    if tiles:
        folium.TileLayer(tiles=tiles, attr=attribution or " ", name="basemap",
                         max_zoom=19).add_to(m)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'))
    return m
