"""Vendor front-end libraries from the npm registry at pinned versions into
static/vendor/NAME-VERSION/, with their licenses, and record what was taken.

Command centers run offline: no page may load anything from the internet, so every
library a page uses is a local copy. `npm pack` checks the tarball against the registry's
integrity hash; the manifest (static/vendor/VENDORED.json) records each file's SHA-256, and
a test checks the copies still match it. Run `python tools/vendor.py` after changing a pin.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
MANIFEST = VENDOR / "VENDORED.json"

# npm package, version, directory name, files to take (paths inside the package)
PINS: list[tuple[str, str, str, list[str]]] = [
    ("leaflet", "1.9.4", "leaflet", [
        "dist/leaflet.js", "dist/leaflet.css", "dist/images/layers.png",
        "dist/images/layers-2x.png", "dist/images/marker-icon.png",
        "dist/images/marker-icon-2x.png", "dist/images/marker-shadow.png", "LICENSE"]),
    ("leaflet.markercluster", "1.5.3", "leaflet.markercluster", [
        "dist/leaflet.markercluster.js", "dist/MarkerCluster.css",
        "dist/MarkerCluster.Default.css", "MIT-LICENCE.txt"]),
    ("@geoman-io/leaflet-geoman-free", "2.18.3", "leaflet-geoman-free", [
        "dist/leaflet-geoman.js", "dist/leaflet-geoman.css", "LICENSE"]),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor() -> dict[str, dict]:
    manifest: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, name, files in PINS:
            out = subprocess.run(["npm", "pack", "--json", f"{package}@{version}"], cwd=tmp,
                                 check=True, capture_output=True, text=True)
            info = json.loads(out.stdout)[0]
            target = VENDOR / f"{name}-{version}"
            shutil.rmtree(target, ignore_errors=True)
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                for f in files:
                    member = tar.extractfile(f"package/{f}")
                    assert member is not None, f
                    dest = target / Path(f).relative_to("dist") if f.startswith("dist/") \
                        else target / f
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(member.read())
            manifest[f"{name}-{version}"] = {
                "package": package, "version": version, "integrity": info["integrity"],
                "files": {str(p.relative_to(target)): sha256(p)
                          for p in sorted(target.rglob("*")) if p.is_file()}}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


if __name__ == "__main__":
    for key, entry in vendor().items():
        print(f"{key}: {len(entry['files'])} files")
