"""The layout keeps its promises: domain modules never import Flask, and `boundaries`
never imports `geo_service`."""

from __future__ import annotations

import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import geo_service

ROOT = Path(__file__).resolve().parent.parent
WEB = ("geo_service.app", "geo_service.web", "geo_service.serving", "geo_service.cli")


def _domain_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(geo_service.__path__, "geo_service.")
             if not m.name.startswith(WEB) and ".migrations" not in m.name]
    assert {"geo_service.index", "geo_service.versions.drafts", "geo_service.lookup"} <= set(names)
    return names


def test_domain_modules_do_not_import_flask() -> None:
    """The index, the versions, the lookup... are used by the CLI, workers and benchmarks
    without a web stack (each checked in a fresh interpreter)."""
    code = ("import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    importlib.import_module(name)\n"
            "    web = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug'))\n"
            "    assert not web, (name, web)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *_domain_modules()], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_boundaries_never_imports_geo_service() -> None:
    imports = re.compile(r"^\s*(?:from|import)\s+geo_service\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.glob("boundaries/**/*.py")
                 if imports.search(p.read_text("utf-8"))]
    assert offenders == []
