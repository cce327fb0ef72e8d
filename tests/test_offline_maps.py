"""Maps load nothing from the internet: every script, stylesheet and image a folium map
asks for is a vendored local copy that matches its manifest."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from folium.plugins import GeoMan, MarkerCluster

from geo_service.maps import MissingAsset, offline, offline_map

VENDOR = Path(__file__).resolve().parent.parent / "static" / "vendor"


def local(path: str) -> str:
    return f"/static/{path}"


def test_a_map_with_plugins_references_only_local_files():
    m = offline_map(local, location=[35.0, 103.0], zoom_start=9)
    offline(MarkerCluster(), local).add_to(m)
    offline(GeoMan(), local).add_to(m)
    html = m.get_root().render()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith(("/static/vendor/", "data:")) for r in refs), refs
    assert "http://" not in html and "https://" not in html.replace("https://leafletjs", "")
    for ref in refs:
        if ref.startswith("/static/"):
            assert (VENDOR.parent / ref.removeprefix("/static/")).is_file(), ref


def test_a_basemap_is_configuration():
    html = offline_map(local, tiles="http://tiles.local/{z}/{x}/{y}.png",
                       attribution="local").get_root().render()
    assert "http://tiles.local/{z}/{x}/{y}.png" in html
    assert "tile.openstreetmap" not in offline_map(local).get_root().render()


def test_a_plugin_that_is_not_vendored_is_refused():
    from folium.plugins import Fullscreen

    with pytest.raises(MissingAsset, match="not vendored"):
        offline(Fullscreen(), local)


def test_vendored_copies_match_their_manifest_and_carry_licenses():
    manifest = json.loads((VENDOR / "VENDORED.json").read_text("utf-8"))
    assert {"leaflet-1.9.4", "leaflet.markercluster-1.5.3", "leaflet-geoman-free-2.18.3"} <= set(
        manifest)
    for name, entry in manifest.items():
        files = entry["files"]
        assert any("LICEN" in f for f in files), name
        for rel, digest in files.items():
            assert hashlib.sha256((VENDOR / name / rel).read_bytes()).hexdigest() == digest
