"""People commands: the household roster and API tokens (who may call, with which rights)."""

from __future__ import annotations

import os
import time

import click

from geo_service.app import services
from geo_service.auth import ROLES, create_token, revoke_tokens
from geo_service.cli.base import app_for_command, echo_report, main
from geo_service.errors import ServiceError
from geo_service.households import import_households
from geo_service.store.uow import unit_of_work


@main.command("import-households")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--crs", help="CRS of the coordinates (default EPSG:4326): EPSG:n, gcj02, bd09.")
@click.option("--dry-run", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def import_households_cmd(path: str, crs: str | None, dry_run: bool, as_json: bool) -> None:
    """Import a household roster (CSV with lon/lat, or a point file), assigning grids."""
    svc = services(app_for_command())
    vi = svc.indexes.live()
    if vi is None:
        raise click.ClickException("no boundary version is live: import grids first")
    t0 = time.perf_counter()
    with unit_of_work(svc.engine) as uow:  # a dry run writes nothing (import_households)
        result = import_households(uow.conn, path, vi.grids, vi.groups, crs=crs, dry_run=dry_run,
                                   actor=os.environ.get("USER", "cli"))
    echo_report(result.to_dict(), as_json)
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
    try:
        with unit_of_work(services(app_for_command()).engine) as uow:
            click.echo(create_token(uow.conn, name=name, role=role, area_code=area_code,
                                    worker_code=worker_code, actor=actor))
    except ServiceError as err:
        raise click.UsageError(err.message) from None


@main.command("revoke-token")
@click.option("--name", help="Revoke all tokens of this user.")
@click.option("--prefix", help="Revoke the token starting with these characters.")
@click.option("--actor", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
def revoke_token_cmd(name: str | None, prefix: str | None, actor: str) -> None:
    """Revoke tokens by user name or by token prefix."""
    if not (name or prefix):
        raise click.UsageError("give --name or --prefix")
    with unit_of_work(services(app_for_command()).engine) as uow:
        n = revoke_tokens(uow.conn, name=name, prefix=prefix, actor=actor)
    click.echo(f"revoked {n} token(s)")
