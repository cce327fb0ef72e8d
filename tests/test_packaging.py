"""A wheel (`pip install .`, not editable) carries everything the service reads from its
package directory: the docs page's static assets and the migrations."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the sources")
def test_wheel_carries_static_assets_and_migrations(tmp_path: Path) -> None:
    # Build from a copy of the tracked files, so the build leaves nothing in the checkout.
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    src = tmp_path / "src"
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", str(src), "-w", str(tmp_path / "dist")], check=True,
                   capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("geo_service-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "geo_service"
    wanted = {p.relative_to(ROOT).as_posix() for sub in ("static", "migrations")
              for p in (package / sub).rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert any(n.endswith("swagger-ui-bundle.js") for n in wanted)
    assert wanted - names == set()
