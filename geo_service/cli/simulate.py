"""`geo-service simulate`: drive a running service with live activity."""

from __future__ import annotations

import signal

import click

from geo_service.cli.base import main
from geo_service.settings import SettingsError
from geo_service.simulator import Options, Simulation, WorldError


@main.command("simulate")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="The running service (`geo-service serve`).")
@click.option("--rate", default=6.0, show_default=True, type=click.FloatRange(0, 100_000),
              help="Reports per minute.")
@click.option("--workers", default=100, show_default=True, type=click.IntRange(1),
              help="Workers on shift at once, each with a phone.")
@click.option("--duration", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to run; 0: until Ctrl-C.")
@click.option("--seed", default=623000, show_default=True)
@click.option("--fix-every", default=30.0, show_default=True,
              type=click.FloatRange(0.05, 3600), help="Seconds between two fixes of a phone.")
@click.option("--step-s", default=20.0, show_default=True, type=click.FloatRange(0.01),
              help="Mean seconds between two workflow steps of a case.")
@click.option("--shift-min", default=240.0, show_default=True, type=click.FloatRange(0.01),
              help="Mean shift length in minutes; then the next worker takes over.")
@click.option("--callout-every", default=600.0, show_default=True, type=click.FloatRange(0),
              help="Mean seconds between emergency call-outs (0: none).")
@click.option("--every", default=5.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds between summary lines.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Concurrent requests at most.")
@click.option("--ramp-s", type=click.FloatRange(0), default=None,
              help="Seconds over which the phones start, evenly (default: one fix "
              "interval); a few at a time, so a big roster takes as long as the server needs.")
@click.option("--token", help="An admin token to act for everyone. Without it the run makes "
              "its own tokens in the store GEO_DATABASE_URL names (the service's): a "
              "dispatcher's and one per worker's phone, revoked when it stops.")
def simulate_cmd(url: str, rate: float, workers: int, duration: float, seed: int,
                 fix_every: float, step_s: float, shift_min: float, callout_every: float,
                 every: float, threads: int, ramp_s: float | None, token: str | None
                 ) -> None:
    """Live activity through the public API: workers on shift walking their areas and
    sending fixes (some late, some twice, some phones going silent), reports near
    households and in town seats and their cases worked through the workflow (about 85 %
    closed inside the grid, the rest escalated, a few left to go overdue), household
    visits and call-outs where the server has them. Ctrl-C stops it cleanly."""
    sim = Simulation(Options(url=url, rate=rate, workers=workers, duration=duration,
                             seed=seed, fix_every=fix_every, step_s=step_s,
                             shift_s=shift_min * 60, callout_every=callout_every,
                             every=every, threads=threads, token=token, ramp_s=ramp_s))
    try:
        sim.setup()
    except (WorldError, SettingsError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    previous = signal.signal(signal.SIGINT, lambda *_: sim.stop())
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    try:
        code = sim.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    raise SystemExit(code)
