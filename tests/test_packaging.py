"""A wheel (`pip install .`, not editable) carries everything the service reads from its
package directory: the docs page's static assets and the migrations."""

from __future__ import annotations

import os
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
    # The isolated build takes setuptools at the locked version too.
    env = {**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", str(src), "-w", str(tmp_path / "dist")], check=True,
                   capture_output=True, env=env)
    (wheel,) = (tmp_path / "dist").glob("geo_service-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = [Path(f) for f in files if "__pycache__" not in f]
    wanted = {("geo_service" / f).as_posix() if f.parts[0] == "static" else f.as_posix()
              for f in tracked
              if f.parts[0] == "static" or f.parts[:3] == ("geo_service", "store", "migrations")
              or (f.parts[0] in ("geo_service", "boundaries") and f.suffix == ".py")}
    assert "geo_service/static/js/docs.js" in wanted
    assert wanted - names == set()  # every module, migration and front-end file


def test_every_package_is_listed_for_the_wheel() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
                 ["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("geo_service", "boundaries") for p in (ROOT / top).rglob("__init__.py")}
    assert found - listed == set()
