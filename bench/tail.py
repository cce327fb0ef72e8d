"""Tail latency of the single lookup over HTTP: bench/lookup.py's single-lookup part, in
longer rounds (so the roster reload, every GEO_ROSTER_REFRESH_S = 30 s, and the
collector's full passes fall inside them), with the percentiles wrk reports.

    python bench/tail.py [--db sqlite:////tmp/x.sqlite3] [--seconds 40] [--rounds 3]

Without --db the full demo is generated and loaded into a temporary SQLite file (~40 s);
with --db an already loaded store is reused (a viewer token is created in it). The
server is `geo-service serve` with the GEO_* environment passed through (set PYTHONPATH to
measure another checkout). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import sqlalchemy as sa
from lookup import AUTH_LUA, LOOKUP_LUA, Server, log, run_wrk

from boundaries.synthetic import build_demo
from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.demo import load_demo
from geo_service.store.tables import households
from geo_service.store.uow import unit_of_work


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="SQLAlchemy URL of a store with the demo loaded")
    ap.add_argument("--seconds", type=int, default=40, help="seconds per wrk round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="geo-tail-") as tmp:
        tmpd = Path(tmp)
        url = args.db or f"sqlite:///{tmpd / 'tail.sqlite3'}"
        app = create_app({"DATABASE_URL": url}, migrate=True)
        engine = services(app).engine
        if not args.db:
            with unit_of_work(engine) as uow:
                load_demo(uow.conn, demo=build_demo())
            log("demo loaded")
        with engine.begin() as conn:
            token = create_token(conn, name="tail", role="viewer")
        with engine.connect() as conn:
            geoms = conn.execute(sa.select(households.c.geom)
                                 .order_by(sa.func.random()).limit(50_000)).scalars().all()
        pts = [(g.x, g.y) for g in geoms]
        engine.dispose()
        paths = tmpd / "paths.txt"
        paths.write_text("".join(f"/api/v1/lookup?lon={x:.7f}&lat={y:.7f}\n" for x, y in pts))
        ping_lua, lookup_lua = tmpd / "ping.lua", tmpd / "lookup.lua"
        ping_lua.write_text(AUTH_LUA.format(token=token))
        lookup_lua.write_text(LOOKUP_LUA.format(token=token, paths=paths))
        rows = []
        with Server(url, tmpd / "server.log") as server:
            server.wait_ready()
            run_wrk(server, lookup_lua, "/api/v1/lookup", 5, args.connections)  # warm-up
            for k in range(args.rounds):
                for name, lua, path in (("ping", ping_lua, "/api/v1/ping"),
                                        ("lookup", lookup_lua, "/api/v1/lookup")):
                    r = run_wrk(server, lua, path, args.seconds, args.connections)
                    if r["non2xx"]:
                        raise RuntimeError(f"{name}: {r['non2xx']} non-2xx responses")
                    rows.append((k + 1, name, r))
                    log(f"round {k + 1} {name}: {r['rps']:,.0f}/s p50 {r['p50']:.1f} ms "
                        f"p99 {r['p99']:.1f} ms")
    print(f"wrk -t1 -c{args.connections}, {args.rounds} rounds × {args.seconds} s per "
          "endpoint, alternating\n")
    print("| round | endpoint | requests/s | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |")
    for k, name, r in rows:
        print(f"| {k} | {name} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} |")


if __name__ == "__main__":
    main()
