"""Benchmark the wall display (issue #11) in Debian's headless Chromium, on the demo.

    python bench/wall.py [--cases 2000] [--workers 1000] [--rate 20] [--latency-s 30]
                         [--minutes 3] [--loads 3]

1. Store: the full demo (959 grids) in a temporary SQLite file; ~2,000 open cases (at
   random households' points, mixed subtypes) and ~1,000 on-duty workers with a fresh fix
   each, written before the server starts, in process through the API's own code (the
   Flask test client: placed by the index, with their events, as intake would).
2. `geo-service serve` (gunicorn, default workers). A viewer's kiosk token opens the wall.
3. Time to a fully drawn map: a fresh browser context (cold cache) loads `/wall`; the time
   from navigation start until the page says it is drawn (`data-ready`: every grid,
   outline, case marker, worker marker, the KPIs and the trend), and the bytes transferred
   (Chromium's encoded lengths of every finished response; the open event stream never
   finishes and is not counted). Median of `--loads`.
4. Update latency: reports POSTed at `--rate` per second for `--latency-s`; for each, the
   wall-clock time from just before the POST until the page has its marker (the page
   records when `cases.upsert` first sees it; same machine, same clock).
5. JS heap: events at `--rate`/s (new reports and worker fixes, half each) for `--minutes`
   minutes, with `GEO_WALL_MAX_CASES` at `--cases` (each new report replaces the oldest
   marker, as on a wall that has run for hours); the heap 3 s after each minute's events
   stop and a forced GC (CDP `HeapProfiler.collectGarbage`, `Runtime.getHeapUsage`).

Prints one Markdown table (paste it into BENCHMARKS.md under "## The wall").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lookup import Server, log  # noqa: E402

from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.store.tables import households, worker_areas, workers  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SUBTYPES = ("dispute", "safety_hazard", "help_request", "risk_warning", "environment",
            "care_visit")
# The page records when it first sees each case (for the latency) and when it is drawn.
PROBE = """
window.__seen = new Map();
new MutationObserver(() => {
  if (document.body && document.body.dataset.ready === "1" && !window.__drawn) {
    window.__drawn = performance.now();
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-ready"]});
const hook = setInterval(() => {
  const cases = window.wall && window.wall.cases;
  if (!cases) return;
  clearInterval(hook);
  const upsert = cases.upsert.bind(cases);
  cases.upsert = (r, ...rest) => {
    if (!window.__seen.has(r.id)) window.__seen.set(r.id, Date.now());
    return upsert(r, ...rest);
  };
}, 5);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def report_body(rng: random.Random, points: list[tuple[float, float]]) -> dict:
    x, y = rng.choice(points)
    return {"id": str(uuid.uuid4()), "subtype": rng.choice(SUBTYPES),
            "severity": "urgent" if rng.random() < 0.05 else "normal",
            "description": "基准测试事件", "lon": x + rng.uniform(-2e-4, 2e-4),
            "lat": y + rng.uniform(-2e-4, 2e-4), "occurred_at": now_iso()}


def build_store(url: str, n_cases: int, n_workers: int) -> tuple[dict[str, str], list, list]:
    """The demo, open cases and on-duty workers with a fresh fix; the tokens, household
    points and (code, lon, lat) of the workers placed."""
    app = create_app({"DATABASE_URL": url, "ACCESS_LOG": False}, migrate=True)
    engine = services(app).engine
    t0 = time.perf_counter()
    with unit_of_work(engine) as uow:
        load_demo(uow.conn)
        tokens = {role: create_token(uow.conn, name=f"bench-{role}", role=role)
                  for role in ("admin", "viewer")}
    log(f"demo loaded in {time.perf_counter() - t0:.0f} s")
    rng = random.Random(11)
    with engine.connect() as conn:
        homes: dict[str, tuple[float, float]] = {}
        points = []
        for grid, geom in conn.execute(sa.select(households.c.grid_code, households.c.geom)
                                       .order_by(households.c.code)):
            homes.setdefault(grid, (geom.x, geom.y))
            points.append((geom.x, geom.y))
        rows = conn.execute(sa.select(workers.c.code, worker_areas.c.area_code).join(
            worker_areas, worker_areas.c.worker_id == workers.c.id)
            .order_by(workers.c.code)).all()
    chosen = {}
    for code, area in rng.sample(rows, min(len(rows) * 2, len(rows))):
        if code not in chosen and area[:15] in homes:
            chosen[code] = homes[area[:15]]
        if len(chosen) == n_workers:
            break
    with engine.begin() as conn:
        conn.execute(workers.update().where(workers.c.code.in_(list(chosen)))
                     .values(on_duty=True))
    h = {"Authorization": f"Bearer {tokens['admin']}"}
    client = app.test_client()
    t0 = time.perf_counter()
    placed = []
    for code, (x, y) in chosen.items():
        x, y = x + rng.uniform(-3e-4, 3e-4), y + rng.uniform(-3e-4, 3e-4)
        r = client.post(f"/api/v1/workers/{code}/positions", headers=h, json={
            "fixes": [{"lon": x, "lat": y, "recorded_at": now_iso()}]})
        assert r.status_code in (200, 201), r.get_json()
        placed.append((code, x, y))
    for _ in range(n_cases):
        r = client.post("/api/v1/reports", headers=h, json=report_body(rng, points))
        assert r.status_code == 201, r.get_json()
    log(f"{len(placed)} workers and {n_cases} cases written in "
        f"{time.perf_counter() - t0:.0f} s")
    services(app).close()
    return tokens, points, placed


def post(base: str, token: str, path: str, body: dict) -> None:
    req = urllib.request.Request(f"{base}/api/v1{path}", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


class Events:
    """New reports (and worker fixes) at a steady rate from a small pool of threads."""

    def __init__(self, base: str, token: str, points: list, placed: list, rate: float,
                 fixes: bool) -> None:
        self.base, self.token, self.points, self.placed = base, token, points, placed
        self.rate, self.fixes = rate, fixes
        self.sent: dict[str, float] = {}  # report id -> ms since the epoch, before the POST
        self.errors = 0
        self.rng = random.Random(5)
        self.lock = threading.Lock()

    def one(self, k: int) -> None:
        try:
            if self.fixes and k % 2:
                code, x, y = self.placed[self.rng.randrange(len(self.placed))]
                post(self.base, self.token, f"/workers/{code}/positions", {"fixes": [{
                    "lon": x + self.rng.uniform(-1e-4, 1e-4),
                    "lat": y + self.rng.uniform(-1e-4, 1e-4), "recorded_at": now_iso()}]})
                return
            body = report_body(self.rng, self.points)
            with self.lock:
                self.sent[body["id"]] = time.time() * 1000
            post(self.base, self.token, "/reports", body)
        except OSError:
            self.errors += 1

    def run(self, seconds: float) -> None:
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            k = 0
            while (due := start + k / self.rate) < start + seconds:
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(self.one, k)
                k += 1


def heap_mb(cdp) -> float:
    """The JS heap in use once the events in flight are applied and collected."""
    time.sleep(3)
    for _ in range(3):
        cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20


def open_wall(browser, base: str, token: str):
    """A fresh context (cold cache) on the wall; (context, page, cdp, bytes, seconds)."""
    # bypass_csp: Playwright's waits evaluate strings; the page itself never needs eval
    context = browser.new_context(viewport={"width": 3840, "height": 2160}, bypass_csp=True)
    context.add_init_script(PROBE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}  # path -> bytes, for the breakdown
    cdp.on("Network.responseReceived",
           lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))

    def finished(e: dict) -> None:
        path = urllib.parse.urlsplit(urls.get(e["requestId"], "?")).path
        sizes[path] = sizes.get(path, 0) + e["encodedDataLength"]

    cdp.on("Network.loadingFinished", finished)
    page.goto(f"{base}/wall?token={token}")
    page.wait_for_function("window.__drawn !== undefined", timeout=120_000)
    drawn = page.evaluate("window.__drawn") / 1000
    page.wait_for_timeout(500)  # responses finishing just after the drawing
    return context, page, cdp, sizes, drawn


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--latency-s", type=float, default=30.0)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--loads", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'geo.sqlite3'}"
        tokens, points, placed = build_store(url, args.cases, args.workers)
        # The wall keeps at most this many case markers (the newest): with the cap at the
        # number of open cases, every new report replaces a marker, so the heap measures
        # reuse, not a growing map.
        os.environ["GEO_WALL_MAX_CASES"] = str(args.cases)
        with Server(url, Path(tmp) / "serve.log") as server, sync_playwright() as p:
            server.wait_ready()
            server.warm()
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            loads = []
            for _ in range(args.loads):
                context, page, _cdp, sizes, drawn = open_wall(browser, server.base,
                                                              tokens["viewer"])
                size = sum(sizes.values())
                counts = page.evaluate("[document.body.dataset.grids, "
                                       "window.wall.cases.markers.size, "
                                       "window.wall.workers.known.size]")
                loads.append((drawn, size, counts))
                context.close()
            drawn = statistics.median(x[0] for x in loads)
            size = statistics.median(x[1] for x in loads)
            grids, n_cases, n_workers = loads[-1][2]
            log(f"drawn {[round(x[0], 2) for x in loads]} s, {size / 2**20:.2f} MB")
            rows.append(("time to a fully drawn map, s",
                         f"{drawn:.2f} (of {', '.join(f'{x[0]:.2f}' for x in loads)})",
                         f"cold cache, 3840×2160; {grids} grids, {n_cases:,} case markers, "
                         f"{n_workers:,} worker markers drawn; goal < 3 s"))
            top = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
            rows.append(("bytes transferred, MB", f"{size / 2**20:.2f}",
                         "as sent (encoded), every finished response; the event stream not "
                         "counted; goal < 3 MB; largest: " + ", ".join(
                             f"`{k}` {v / 2**20:.2f}" for k, v in top)))

            context, page, cdp, _size, _drawn = open_wall(browser, server.base,
                                                          tokens["viewer"])
            ev = Events(server.base, tokens["admin"], points, placed, args.rate, fixes=False)
            ev.run(args.latency_s)
            time.sleep(3)
            seen = page.evaluate("Object.fromEntries(window.__seen)")
            lat = [seen[i] - t for i, t in ev.sent.items() if i in seen]
            missing = len(ev.sent) - len(lat)
            log(f"latency: {len(lat)} of {len(ev.sent)} seen")
            rows.append((f"update latency at {args.rate:g} reports/s, p50 / p95 / max, ms",
                         f"{pct(lat, .5):.0f} / {pct(lat, .95):.0f} / {max(lat):.0f}",
                         f"{len(ev.sent):,} reports over {args.latency_s:g} s, from just "
                         f"before the POST to the marker on the page; {missing} not seen, "
                         f"{ev.errors} failed POSTs; goal p95 < 1 s"))

            before = heap_mb(cdp)
            samples = [before]
            ev = Events(server.base, tokens["admin"], points, placed, args.rate, fixes=True)
            for _ in range(max(1, round(args.minutes))):
                ev.run(60 * args.minutes / max(1, round(args.minutes)))
                samples.append(heap_mb(cdp))
            after = samples[-1]
            markers = page.evaluate("[window.wall.cases.markers.size, "
                                    "window.wall.workers.known.size, window.wall.events]")
            log(f"heap {[round(s, 1) for s in samples]} MB")
            rows.append((f"JS heap after {args.minutes:g} min of events, MB",
                         f"{before:.1f} → {after:.1f} ({(after / before - 1) * 100:+.1f} %)",
                         f"after a forced GC; {args.rate:g} events/s (reports and fixes, "
                         f"half each); per minute: {' / '.join(f'{s:.1f}' for s in samples)};"
                         f" at the end {markers[0]:,} case and {markers[1]:,} worker markers "
                         f"(cases capped at GEO_WALL_MAX_CASES={args.cases}), {markers[2]:,} "
                         "events applied; goal < 10 % growth over 10 min"
                         + (" (scaled down here)" if args.minutes < 10 else "")))
            context.close()
            browser.close()
    print(f"\nMachine: {platform.machine()}, Python {platform.python_version()}, "
          f"Chromium headless; server, browser and load generator share the machine "
          f"({os.cpu_count()} cores); load average (1 / 5 / 15 min) at the end "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}.\n")
    print("| measure | value | notes |\n| --- | --- | --- |")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")


if __name__ == "__main__":
    main()
