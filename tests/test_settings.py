"""Settings are declared once and documented: the README table must match SETTINGS."""

from __future__ import annotations

import re
from pathlib import Path

from geo_service.settings import SETTINGS, load


def test_readme_documents_every_setting() -> None:
    readme = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `(GEO_[A-Z_]+)` \| `([^`]*)` \|", readme, re.M))
    assert rows == {s.env: repr(s.default) for s in SETTINGS}


def test_environment_overrides_defaults_and_config_overrides_both() -> None:
    values = load({"THREADS": 9}, environ={"GEO_NEAR_BOUNDARY_M": "12.5", "GEO_THREADS": "2"})
    assert values["NEAR_BOUNDARY_M"] == 12.5 and values["THREADS"] == 9
