"""Boundary commands: import a level, list versions, publish a draft, export."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from boundaries.levels import LEVELS
from geo_service.app import services
from geo_service.cli.base import (
    InputError,
    app_for_command,
    check_boundary_file,
    echo_report,
    main,
)
from geo_service.errors import ServiceError
from geo_service.exports import export_level
from geo_service.store.uow import unit_of_work
from geo_service.versions import ImportRefused, import_areas, publish, versions


@main.command("import-areas")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice(LEVELS), required=True)
@click.option("--crs", help="CRS of the file if it has none or it is wrong: EPSG:n, gcj02, bd09.")
@click.option("--code-field", default="code", show_default=True)
@click.option("--name-field", default="name", show_default=True)
@click.option("--parent-field", default="parent_code", show_default=True)
@click.option("--kind-field", default="kind", show_default=True)
@click.option("--repair", is_flag=True, help="Fix invalid geometries with make_valid.")
@click.option("--dry-run", is_flag=True, help="Report only; write nothing.")
@click.option("--draft", is_flag=True, help="Write as a draft version; do not publish.")
@click.option("--author", default=lambda: os.environ.get("USER", "cli"))
@click.option("--note", default="")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def import_areas_cmd(path: str, level: str, crs: str | None, code_field: str,
                     name_field: str, parent_field: str, kind_field: str, repair: bool,
                     dry_run: bool, draft: bool, author: str, note: str,
                     as_json: bool) -> None:
    """Import one level of areas from GeoJSON, GeoPackage or Shapefile, all or nothing."""
    check_boundary_file(path, "import")
    app = app_for_command()
    svc = services(app)
    fields = {"code_field": code_field, "name_field": name_field,
              "parent_field": parent_field, "kind_field": kind_field}
    try:
        with unit_of_work(svc.engine, commit=not dry_run) as uow:
            result = import_areas(uow.conn, path, level, author=author, crs=crs,
                                  repair=repair, publish_now=not draft, note=note,
                                  tolerance_m=svc.settings["IMPORT_TOLERANCE_M"],
                                  fields=fields)
        if dry_run:
            result.written, result.version = False, None
    except ImportRefused as refused:
        result = refused.result
    echo_report(result.to_dict(), as_json)
    if not as_json:
        click.echo(result.report.summary() or "no problems found")
    verb = ("would import" if dry_run else "imported") if result.report.ok else "refused"
    click.echo(f"{verb} {result.features} {level} areas"
               + (f" as version {result.version}" if result.written else "")
               + ("" if result.written or not result.report.ok else " (dry run)"))
    if not result.report.ok:
        sys.exit(1)


@main.command("versions")
def versions_cmd() -> None:
    """List boundary versions (draft, live, retired)."""
    with services(app_for_command(migrate=False)).engine.connect() as conn:
        for v in versions(conn):
            click.echo(f"{v['id']:>4}  {v['state']:<8} {v['created_at']:%Y-%m-%d %H:%M}  "
                       f"{v['author']}: {v['note']}")


@main.command("publish")
@click.argument("version", type=int)
@click.option("--author", default=lambda: os.environ.get("USER", "cli"))
def publish_cmd(version: int, author: str) -> None:
    """Make a draft boundary version live (households follow their new grids)."""
    try:
        with unit_of_work(services(app_for_command()).engine) as uow:
            done = publish(uow.conn, version, author)
    except ServiceError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"version {version} is live; {done.households_moved} households changed grid "
               f"or group, {done.cases_moved} open cases and {done.workers_moved} workers' "
               "areas moved")


@main.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice([*LEVELS, "household"]), required=True)
@click.option("--version", "version", type=int, help="An earlier boundary version.")
@click.option("--with-pii", is_flag=True, help="Include household heads' names and phones.")
def export_cmd(out: str, level: str, version: int | None, with_pii: bool) -> None:
    """Export one level (or households as points) to .gpkg, .geojson or .shp."""
    check_boundary_file(out, "export to")
    if level == "household" and version is not None:
        raise InputError("--version applies to area levels: households are not versioned "
                         "(they follow the live boundaries)")
    svc = services(app_for_command(migrate=False))
    try:
        with unit_of_work(svc.engine) as uow:
            n = export_level(uow.conn, level, Path(out), version=version, with_pii=with_pii)
    except ServiceError as err:
        raise InputError(err.message) from None
    click.echo(f"wrote {n} {level} features to {out}")
