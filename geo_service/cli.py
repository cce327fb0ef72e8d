"""`geo-service`: the operator's commands. Each is a thin wrapper over a domain function."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click
from flask import Flask

from boundaries.files import DRIVERS
from boundaries.levels import LEVELS

from . import create_app, services
from .auth import ROLES
from .db import SchemaNotCurrent
from .errors import ServiceError
from .settings import SettingsError


class InputError(click.ClickException):
    """A wrong argument or option: one line on stderr ("Error: ..."), exit code 2, like
    click's own usage errors, and never a traceback."""

    exit_code = 2


def _app(migrate: bool = True) -> Flask:
    """The app for one command; commands that write bring the schema to head first (one
    process: no race), the read-only ones only check it."""
    try:
        return create_app(migrate=migrate)
    except (SettingsError, SchemaNotCurrent) as err:
        raise click.ClickException(str(err)) from None


def _boundary_file(path: str, verb: str) -> None:
    """Refuse a file the boundary reader/writer does not handle, by its suffix."""
    if Path(path).suffix.lower() not in DRIVERS:
        raise InputError(f"cannot {verb} {Path(path).name}: expected a file ending in "
                         f"{', '.join(DRIVERS)}")


def _echo_report(data: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(help="Grid-governance GIS service: registry, lookup, maps.")
def main() -> None:
    pass


@main.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema to the newest migration (idempotent). `serve` runs it
    before it forks; run it once before starting workers any other way."""
    _app(migrate=True)
    click.echo("database schema is current")


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
    from .db import unit_of_work
    from .registry import ImportRefused, import_areas

    _boundary_file(path, "import")
    app = _app()
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
    _echo_report(result.to_dict(), as_json)
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
    from .registry import versions

    with services(_app(migrate=False)).engine.connect() as conn:
        for v in versions(conn):
            click.echo(f"{v['id']:>4}  {v['state']:<8} {v['created_at']:%Y-%m-%d %H:%M}  "
                       f"{v['author']}: {v['note']}")


@main.command("publish")
@click.argument("version", type=int)
@click.option("--author", default=lambda: os.environ.get("USER", "cli"))
def publish_cmd(version: int, author: str) -> None:
    """Make a draft boundary version live (households follow their new grids)."""
    from .db import unit_of_work
    from .registry import publish

    try:
        with unit_of_work(services(_app()).engine) as uow:
            moved = publish(uow.conn, version, author)
    except ServiceError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"version {version} is live; {moved} households changed grid or group")


@main.command("import-households")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--crs", help="CRS of the coordinates (default EPSG:4326): EPSG:n, gcj02, bd09.")
@click.option("--dry-run", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def import_households_cmd(path: str, crs: str | None, dry_run: bool, as_json: bool) -> None:
    """Import a household roster (CSV with lon/lat, or a point file), assigning grids."""
    from .households import import_households

    svc = services(_app())
    vi = svc.indexes.live()
    if vi is None:
        raise click.ClickException("no boundary version is live: import grids first")
    t0 = time.perf_counter()
    with svc.engine.begin() as conn:
        result = import_households(conn, path, vi.grids, vi.groups, crs=crs, dry_run=dry_run,
                                   actor=os.environ.get("USER", "cli"))
    _echo_report(result.to_dict(), as_json)
    if result.error:
        raise click.ClickException(result.error)
    if not as_json:
        for p in result.rejected[:50]:
            click.echo(f"row {p.row} {p.field}={p.value!r}: {p.reason}")
        if len(result.rejected) > 50:
            click.echo(f"... and {len(result.rejected) - 50} more rejected rows (--json)")
    click.echo(f"{result.rows} rows, {result.accepted} accepted, {len(result.rejected)} "
               f"rejected, {'written' if result.written else 'not written'} in "
               f"{time.perf_counter() - t0:.1f} s")


@main.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice([*LEVELS, "household"]), required=True)
@click.option("--version", "version", type=int, help="An earlier boundary version.")
@click.option("--with-pii", is_flag=True, help="Include household heads' names and phones.")
def export_cmd(out: str, level: str, version: int | None, with_pii: bool) -> None:
    """Export one level (or households as points) to .gpkg, .geojson or .shp."""
    from .exports import export_level

    _boundary_file(out, "export to")
    if level == "household" and version is not None:
        raise InputError("--version applies to area levels: households are not versioned "
                         "(they follow the live boundaries)")
    svc = services(_app(migrate=False))
    try:
        n = export_level(svc.engine, level, Path(out), version=version, with_pii=with_pii)
    except ServiceError as err:
        raise InputError(err.message) from None
    click.echo(f"wrote {n} {level} features to {out}")


@main.command("create-token")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", required=True)
@click.option("--area", "area_code", help="Limit the token to this area's subtree.")
@click.option("--worker", "worker_code", help="The field worker this token belongs to "
              "(role worker).")
@click.option("--actor", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
def create_token_cmd(role: str, name: str, area_code: str | None, worker_code: str | None,
                     actor: str) -> None:
    """Create an API token with its own role and scope; printed once, stored hashed."""
    from .auth import create_token

    try:
        with services(_app()).engine.begin() as conn:
            click.echo(create_token(conn, name=name, role=role, area_code=area_code,
                                    worker_code=worker_code, actor=actor))
    except ServiceError as err:
        raise click.UsageError(err.message) from None


@main.command("revoke-token")
@click.option("--name", help="Revoke all tokens of this user.")
@click.option("--prefix", help="Revoke the token starting with these characters.")
@click.option("--actor", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
def revoke_token_cmd(name: str | None, prefix: str | None, actor: str) -> None:
    """Revoke tokens by user name or by token prefix."""
    from .auth import revoke_tokens

    if not (name or prefix):
        raise click.UsageError("give --name or --prefix")
    with services(_app()).engine.begin() as conn:
        n = revoke_tokens(conn, name=name, prefix=prefix, actor=actor)
    click.echo(f"revoked {n} token(s)")


@main.command("demo")
@click.option("--seed", default=623000, show_default=True)
@click.option("--small", is_flag=True, help="Hezuo city only, scaled down (for trying out).")
def demo_cmd(seed: int, small: bool) -> None:
    """Load the synthetic Gannan demo prefecture into the configured database."""
    from .auth import create_token
    from .db import unit_of_work
    from .demo import load_demo

    svc = services(_app())
    with unit_of_work(svc.engine) as uow:
        summary = load_demo(uow.conn, seed=seed, small=small, progress=True)
        tokens = {role: create_token(uow.conn, name=f"demo-{role}", role=role, actor="demo")
                  for role in ("admin", "viewer")}
    for k, v in summary.items():
        click.echo(f"{k}: {v}")
    for role, token in tokens.items():
        click.echo(f"demo {role} token: {token}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve_cmd(host: str, port: int) -> None:
    """Run the service under gunicorn (GEO_WORKERS, GEO_THREADS); each worker holds its
    own grid index and follows boundary versions by itself."""
    from .serving import serve

    serve(host=host, port=port)


if __name__ == "__main__":
    main()
