"""Settings are declared once and documented: the README table must match SETTINGS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from geo_service.settings import SETTINGS, SettingsError, load


def test_readme_documents_every_setting() -> None:
    readme = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `(GEO_[A-Z0-9_]+)` \| `([^`]*)` \|", readme, re.M))
    assert rows == {s.env: repr(s.default) for s in SETTINGS}


def test_environment_overrides_defaults_and_config_overrides_both() -> None:
    values = load({"THREADS": 9}, environ={"GEO_NEAR_BOUNDARY_M": "12.5", "GEO_THREADS": "2"})
    assert values["NEAR_BOUNDARY_M"] == 12.5 and values["THREADS"] == 9


@pytest.mark.parametrize(("overrides", "environ", "message"), [
    ({"INDEX_REFRESH": 0}, {}, "unknown setting 'INDEX_REFRESH'; did you mean 'INDEX_REFRESH_S'"),
    ({}, {"GEO_INDEX_REFRESH": "0"}, "did you mean 'GEO_INDEX_REFRESH_S'"),
    ({}, {"GEO_WORKERS": "two"}, "GEO_WORKERS='two' is not a whole number"),
    ({}, {"GEO_ACCESS_LOG": "maybe"}, "is not true or false"),
    ({"NEAR_BOUNDARY_M": -1.0}, {}, "must be a finite number from 0 to 10000, got -1.0"),
    ({}, {"GEO_NEAR_BOUNDARY_M": "nan"}, "NEAR_BOUNDARY_M must be a finite number"),
    ({}, {"GEO_TOKEN_CACHE_S": "1e400"}, "TOKEN_CACHE_S must be a finite number"),
    ({}, {"GEO_WORKERS": "100000"}, "WORKERS must be a finite number from 0 to 64"),
    ({}, {"GEO_MAX_BODY_BYTES": "１０"}, "must be written in ASCII"),
    ({}, {"GEO_VERSIONS_KEPT": "0"}, "VERSIONS_KEPT must be a finite number from 1"),
    ({"WORKERS": 1.5}, {}, "WORKERS must be a whole number"),
    ({"ACCESS_LOG": 1}, {}, "ACCESS_LOG must be true or false"),
    ({"DATABASE_URL": None}, {}, "DATABASE_URL must be text"),
])
def test_unknown_or_unreadable_settings_stop_the_start(overrides, environ, message) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load(overrides, environ=environ)


def test_the_test_suites_own_variables_are_not_settings() -> None:
    assert load(environ={"GEO_TEST_POSTGRES_URL": "x", "GEO_THREADS": "3"})["THREADS"] == 3


def test_an_app_with_a_typo_in_its_settings_does_not_start(tmp_path) -> None:
    from geo_service.app import create_app

    with pytest.raises(SettingsError, match="TOKEN_CACHE"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "TOKEN_CACHE": 1})
