"""Running the service: migrate the store, load the demo, serve."""

from __future__ import annotations

import click

from geo_service.app import services
from geo_service.auth import create_token
from geo_service.cli.base import app_for_command, main
from geo_service.demo import load_demo
from geo_service.serving import serve
from geo_service.store.uow import unit_of_work


@main.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema to the newest migration (idempotent). `serve` runs it
    before it forks; run it once before starting workers any other way."""
    app_for_command(migrate=True)
    click.echo("database schema is current")


@main.command("demo")
@click.option("--seed", default=623000, show_default=True)
@click.option("--small", is_flag=True, help="Hezuo city only, scaled down (for trying out).")
def demo_cmd(seed: int, small: bool) -> None:
    """Load the synthetic Gannan demo prefecture into the configured database."""
    svc = services(app_for_command())
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
    """Run the service under gunicorn (GEO_WORKERS processes of GEO_THREADS threads:
    open event streams hold a thread each); the workers share the index the master
    builds, and the master rolls them onto each new boundary version."""
    serve(app_for_command(migrate=True), host=host, port=port)


@main.command("sweep")
def sweep_cmd() -> None:
    """Escalate overdue cases one level each, announce workers' status changes, prune old
    fixes and events (cron-able; the server also sweeps every GEO_SWEEP_INTERVAL_S seconds). Safe to
    run while servers sweep too."""
    svc = services(app_for_command(migrate=False))
    try:
        done = svc.sweeper.run()
    finally:
        svc.close()
    click.echo(f"{done['escalated']} overdue case(s) escalated, {done['statuses']} worker "
               f"status change(s), {done['fixes_pruned']} old fix(es) and "
               f"{done['events_pruned']} old event(s) pruned")
