"""The command group and what every command shares: the app, one-line errors, reports."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask

from boundaries.files import DRIVERS
from geo_service.app import create_app
from geo_service.settings import SettingsError
from geo_service.store.engine import SchemaNotCurrent


class InputError(click.ClickException):
    """A wrong argument or option: one line on stderr ("Error: ..."), exit code 2, like
    click's own usage errors, and never a traceback."""
    exit_code = 2


def app_for_command(migrate: bool = True) -> Flask:
    """The app for one command; commands that write bring the schema to head first (one
    process: no race), the read-only ones only check it."""
    try:
        return create_app(migrate=migrate)
    except (SettingsError, SchemaNotCurrent) as err:
        raise click.ClickException(str(err)) from None


def check_boundary_file(path: str, verb: str) -> None:
    """Refuse a file the boundary reader/writer does not handle, by its suffix."""
    if Path(path).suffix.lower() not in DRIVERS:
        raise InputError(f"cannot {verb} {Path(path).name}: expected a file ending in "
                         f"{', '.join(DRIVERS)}")


def echo_report(data: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(help="Grid-governance GIS service: registry, lookup, maps.")
def main() -> None:
    pass
