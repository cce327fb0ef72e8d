"""Benchmark the live event stream and what open streams cost the lookups, in one run, on
SQLite and PostGIS side by side.

    python bench/streams.py [--rounds 3] [--duration 5] [--reports 100] [--no-postgis]

Data: the full synthetic Gannan demo (959 grids, 206,400 households), loaded into a
temporary SQLite file and (when Debian's postgresql + postgis are installed) a throwaway
PostGIS cluster (`tests/pgcluster.py`). Each store is served by `geo-service serve`
(gunicorn, 2 workers, the default serving model: lane workers, `GEO_THREADS` lane threads each) on
127.0.0.1; only loopback is used and every server started is stopped again.

1. Lookups and open streams: `wrk -t1 -c16` drives single `GET /api/v1/lookup` at random
   household points in alternating rounds of a fixed time with 0 and with 20 open event
   streams (idle walls: heartbeats only), then one round with 200 open streams; the best
   round of each counts, every round is shown. On SQLite the same rounds without streams
   run with a lane of one (`GEO_THREADS=1`: no streams; the sync worker's model) too.
2. Event latency: with 20 streams open, reports are POSTed one at a time (10 per second)
   at random household points; the latency of each is from sending its POST to its
   `report.created` arriving on each of the 20 streams (p50 / p99 over all arrivals).

Prints one Markdown table (paste it into BENCHMARKS.md). Runs in about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.settings import load  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402

T0 = time.perf_counter()
LOOKUP_LUA = """wrk.headers["Authorization"] = "Bearer {token}"
function init(args)
  paths = {{}}
  for line in io.lines("{paths}") do paths[#paths + 1] = line end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
"""


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`geo-service serve` in its own process group; always stopped on exit."""

    def __init__(self, db_url: str, workdir: Path, **settings: str) -> None:
        self.port = free_port()
        env = {**os.environ, "GEO_DATABASE_URL": db_url, "GEO_ACCESS_LOG": "false",
               "GEO_WORKERS": "2", **{f"GEO_{k}": v for k, v in settings.items()}}
        self.log = open(workdir / f"serve-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "geo_service.cli", "serve", "--port", str(self.port)],
            env=env, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while self.get("/api/v1/health")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start: {self.log.name}")
            time.sleep(0.2)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"}
                         if token else {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        except OSError:
            return 0, b""
        finally:
            conn.close()

    def cpu_s(self) -> float:
        """CPU seconds used so far by the master and its workers."""
        pids = [self.proc.pid]
        with contextlib.suppress(OSError):
            pids += [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}"
                                          "/children").read_text().split()]
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def idle_cpu(self, seconds: float = 5.0) -> float:
        """Share of one core the server uses while nobody sends a request."""
        time.sleep(1.0)  # requests still queued when wrk stopped
        c0 = self.cpu_s()
        time.sleep(seconds)
        return (self.cpu_s() - c0) / seconds

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


class Wall:
    """One open event stream, read by its own thread; records when each report arrives."""

    def __init__(self, port: int, token: str) -> None:
        self.arrived: dict[str, float] = {}
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: bench\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        status = self.file.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self.file:  # chunk-size lines and SSE lines; only data matters
                if line.startswith(b"data: "):
                    rid = json.loads(line[6:]).get("id")
                    if rid:
                        self.arrived[rid] = time.perf_counter()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@contextlib.contextmanager
def walls(server: Server, token: str, n: int):
    opened = [Wall(server.port, token) for _ in range(n)]
    time.sleep(0.5)
    try:
        yield opened
    finally:
        for w in opened:
            w.close()


def run_wrk(server: Server, script: Path, seconds: int) -> dict:
    """One wrk round: req/s, p50/p99 ms, non-2xx, and the server's CPU ms per request
    (steadier than req/s on a machine shared with other work)."""
    cpu0 = server.cpu_s()
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "--timeout", "10s",
                          "--latency", "-s", str(script),
                          f"http://127.0.0.1:{server.port}/api/v1/lookup"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed:\n{out}")
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    lat = {p: float(v) * units[u] for p, v, u in
           re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    if set(lat) != {"50", "99"}:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    return {"cpu_ms": (server.cpu_s() - cpu0) * 1e3 / max(done, 1),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": lat["50"], "p99": lat["99"], "bad": int(bad.group(1)) if bad else 0}


def latency(server: Server, token: str, points: np.ndarray, n: int) -> dict:
    """POST n reports at 10/s with 20 streams open; latencies (ms) from each POST's send
    to its arrival on each stream."""
    sent: dict[str, float] = {}
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    with walls(server, token, 20) as ws:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for k in range(n):
            lon, lat = points[k % len(points)]
            rid = str(uuid.uuid4())
            body = json.dumps({"id": rid, "subtype": "dispute", "description": "bench",
                               "lon": float(lon), "lat": float(lat), "occurred_at": when})
            sent[rid] = time.perf_counter()
            conn.request("POST", "/api/v1/reports", body, {
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                raise RuntimeError(f"POST /reports: {resp.status}")
            time.sleep(max(0.0, sent[rid] + 0.1 - time.perf_counter()))
        conn.close()
        time.sleep(2.0)
        got = [(w.arrived[r] - t) * 1e3 for w in ws for r, t in sent.items() if r in w.arrived]
    lost = 20 * n - len(got)
    return {"p50": float(np.percentile(got, 50)), "p99": float(np.percentile(got, 99)),
            "max": max(got), "arrivals": len(got), "lost": lost}


def measure(label: str, url: str, workdir: Path, points: np.ndarray, token: str,
            args: argparse.Namespace, table: dict[str, dict[str, str]]) -> None:
    script = workdir / "lookup.lua"
    paths = workdir / "paths.txt"
    paths.write_text("".join(f"/api/v1/lookup?lon={x:.6f}&lat={y:.6f}\n"
                             for x, y in points[:20_000]))
    script.write_text(LOOKUP_LUA.format(token=token, paths=paths))
    col = table.setdefault(label, {})

    def fmt(r: dict) -> str:
        return f"{r['rps']:,.0f}"

    def cpu(rounds: list[dict]) -> float:
        return float(np.median([r["cpu_ms"] for r in rounds]))

    if label == "SQLite" and not args.no_sync:
        with Server(url, workdir, THREADS="1") as sync:
            run_wrk(sync, script, 2)  # warm
            rounds = [run_wrk(sync, script, args.duration) for _ in range(args.rounds)]
            best = max(rounds, key=lambda r: r["rps"])
            status = sync.get("/api/v1/events", token)[0]
        col["cpu_sync"] = f"{cpu(rounds):.2f}"
        col["sync"] = (f"{fmt(best)} (p50 {best['p50']:.1f} / p99 {best['p99']:.1f} ms; "
                       f"rounds {' / '.join(fmt(r) for r in rounds)}); /events: {status}")
        log(f"{label}: a lane of one {fmt(best)} req/s")
    with Server(url, workdir) as server:
        run_wrk(server, script, 2)  # warm
        zero, twenty = [], []
        for _ in range(args.rounds):
            zero.append(run_wrk(server, script, args.duration))
            with walls(server, token, 20):
                twenty.append(run_wrk(server, script, args.duration))
        idle0 = server.idle_cpu()
        with walls(server, token, 200):
            two_hundred = run_wrk(server, script, args.duration)
            idle200 = server.idle_cpu()
        col["idle"] = f"{idle0:.1%} / {idle200:.1%}"
        b0, b20 = max(zero, key=lambda r: r["rps"]), max(twenty, key=lambda r: r["rps"])
        col["0"] = (f"{fmt(b0)} (p50 {b0['p50']:.1f} / p99 {b0['p99']:.1f} ms; rounds "
                    f"{' / '.join(fmt(r) for r in zero)})")
        col["20"] = (f"{fmt(b20)} (p50 {b20['p50']:.1f} / p99 {b20['p99']:.1f} ms; rounds "
                     f"{' / '.join(fmt(r) for r in twenty)})")
        col["cost"] = f"{(1 - b20['rps'] / b0['rps']) * 100:+.1f} %"
        col["cpu"] = (f"{cpu(zero):.2f} / {cpu(twenty):.2f} / {cpu([two_hundred]):.2f}")
        col["cpu_cost"] = f"{(cpu(twenty) / cpu(zero) - 1) * 100:+.1f} %"
        col["200"] = (f"{fmt(two_hundred)} (p50 {two_hundred['p50']:.1f} / p99 "
                      f"{two_hundred['p99']:.1f} ms); {1 - two_hundred['rps'] / b0['rps']:+.1%}")
        col["non2xx"] = str(sum(r["bad"] for r in [*zero, *twenty, two_hundred]))
        log(f"{label}: lookups {fmt(b0)} / {fmt(b20)} / {fmt(two_hundred)} req/s")
        lat = latency(server, token, points[20_000:], args.reports)
        col["latency"] = f"{lat['p50']:.0f} / {lat['p99']:.0f}"
        col["latency_note"] = (f"max {lat['max']:.0f} ms; {lat['arrivals']:,} arrivals, "
                               f"{lat['lost']} lost")
        log(f"{label}: latency p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms")


def prepare(url: str, demo) -> str:
    app = create_app({"DATABASE_URL": url}, migrate=True)
    engine = services(app).engine
    t0 = time.perf_counter()
    with unit_of_work(engine) as uow:
        load_demo(uow.conn, demo=demo)
        token = create_token(uow.conn, name="bench", role="dispatcher", actor="bench")
    log(f"demo loaded in {time.perf_counter() - t0:.0f} s: {url.split(':')[0]}")
    services(app).close()
    return token


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="wrk rounds per case")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk round")
    ap.add_argument("--reports", type=int, default=100, help="reports for the latency")
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--no-sync", action="store_true", help="skip the sync-worker baseline")
    args = ap.parse_args()
    demo = build_demo()
    hh = demo.households
    rng = np.random.default_rng(9)
    points = np.column_stack([hh["lon"], hh["lat"]])[rng.permutation(len(hh))]
    table: dict[str, dict[str, str]] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stores = [("SQLite", f"sqlite:///{tmp}/bench.sqlite3")]
        if not args.no_postgis:
            from tests import pgcluster

            why = pgcluster.available()
            if why:
                log(f"PostGIS skipped: {why}; {pgcluster.HOW_TO}")
            else:
                stores.append(("PostGIS", stack.enter_context(pgcluster.cluster())))
        for label, url in stores:
            token = prepare(url, demo)
            measure(label, url, tmp, points, token, args, table)
    settings = load()
    load_avg = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: `python bench/streams.py`, "
          f"{time.perf_counter() - T0:.0f} s in all.\n")
    print(f"Machine: {os.cpu_count()} cores; Python {platform.python_version()}. "
          f"gunicorn: 2 lane workers with {settings['THREADS']} lane threads each "
          f"(the default); streams poll every {settings['STREAM_POLL_S']} s "
          "(SQLite; PostGIS wakes on NOTIFY); server, wrk and the stream clients share the "
          f"machine's cores. Load average at the end: {load_avg} (other work on the "
          "machine; wrk rounds vary accordingly).\n")
    labels = list(table)
    rows = [
        ("single GET /lookup, requests/s, 0 open streams", "0",
         "wrk -t1 -c16, random household points; the best of the rounds"),
        ("single GET /lookup, requests/s, 20 open streams", "20",
         "the same, alternating with the rounds above; idle streams (heartbeats only)"),
        ("what 20 open streams cost the lookups (best rounds' requests/s)", "cost",
         "goal < 10 %; positive: fewer lookups/s with the streams open"),
        ("server CPU per lookup, ms: 0 / 20 / 200 open streams", "cpu",
         "server CPU seconds over requests answered, median of the rounds: does not "
         "depend on what else the machine runs"),
        ("what 20 open streams cost the lookups (CPU per lookup)", "cpu_cost",
         "goal < 10 %"),
        ("a lane of one (GEO_THREADS=1): server CPU per lookup, ms", "cpu_sync", "for comparison"),
        ("single GET /lookup, requests/s, 200 open streams", "200",
         "one round; against the best round without streams"),
        ("non-2xx lookup answers", "non2xx", "in every round above"),
        ("server CPU while idle, share of one core: 0 / 200 open streams", "idle",
         "5 s each, no requests: what holding idle streams costs (hub polls, heartbeats)"),
        ("a lane of one (GEO_THREADS=1): GET /lookup, requests/s, 0 streams", "sync",
         "no streams there (/events answers 503), for comparison"),
        ("event latency POST /reports → SSE client, p50 / p99, ms", "latency",
         "20 streams open, 10 reports/s, every arrival on every stream; goal p99 < 500 ms"),
        ("event latency: worst, arrivals", "latency_note", ""),
    ]
    print("| measurement | " + " | ".join(labels) + " | notes |")
    print("| --- | " + " | ".join("---" for _ in labels) + " | --- |")
    for name, key, note in rows:
        cells = [table[label].get(key, "—") for label in labels]
        print(f"| {name} | " + " | ".join(cells) + f" | {note} |")


if __name__ == "__main__":
    main()
