"""Benchmark the event stream's fan-out to the field (#10): a county-wide call-out to
1,000 phones, and a fix's way to a wall while the simulator drives the demo.

    python bench/fanout.py [--small] [--streams 1000] [--threads 1024] [--rounds 3]
                           [--sim-workers 12668] [--sim-seconds 60] [--sim-threads 32]
                           [--no-sim] [--no-callout] [--no-postgis] [--no-sqlite]

Data: the synthetic Gannan demo (`--small`: Hezuo only) in a temporary SQLite file and
(when Debian's postgresql + postgis are installed) a throwaway PostGIS cluster
(`tests/pgcluster.py`); each served by `geo-service serve` (2 lane workers,
`GEO_THREADS` threads each) on 127.0.0.1 only; every server and simulator started is
stopped again, also on errors.

1. Call-out: the county with the most field workers; `--streams` of them (one area each)
   are the county's on-duty workers (every other worker is put off duty), each sends one
   fix and opens GET /api/v1/events with its own worker token, as the phone would: all
   streams in this one process on asyncio raw sockets (a 503 "streams full" is retried
   after a second, and counted). A dispatcher then POSTs /api/v1/callouts for the county;
   the time of each stream is from writing the POST until its own `callout.called`
   arrives. Every stream must get its own order exactly once. The alternative for
   comparison: the same phones polling GET /api/v1/callouts instead of holding a stream
   (how long one poll round of all of them takes, i.e. the poll interval it would need).
2. Fix → wall: an extra probe worker (role `team_141`, which the simulator never drives)
   POSTs single fixes 5 times a second; an admin's stream narrowed to the probe's county
   (`area=`) records each `worker.moved`; idle, then while `geo-service simulate` drives
   `--sim-workers` workers at one fix per 30 s (as many as it sustains: its own summary
   lines say how many fixes it sent): measured once every phone is on shift (or
   `--ramp-s` passed: the phones start as fast as the server puts them on duty) and the
   simulator keeps up (lag < 5 s, or 150 s passed). `--no-callout`: part 2 only.

Prints one Markdown table per part, with the load average at the start and end of each
measurement (other work on the machine inflates every time here).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams import Server, log  # noqa: E402

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.serving import stream_slots  # noqa: E402
from geo_service.store.tables import worker_areas, workers  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402
from geo_service.workers.callouts import CALLOUT_ROLES  # noqa: E402

PROBE = "BENCHPROBE141"
SIM_SUMMARY = re.compile(r"\[\s*(\d+) s\].* fixes ([\d,]+) in ([\d,]+) batches.*on shift "
                         r"([\d,]+).*errors ([\d,]+).*lag ([\d.]+) s")


def load_text() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ============================================================================ the store
@dataclass
class Store:
    url: str
    dispatcher: str
    admin: str
    county: str
    phones: dict[str, str]  # worker code -> its own token
    probe_token: str
    probe_point: tuple[float, float]


def prepare(url: str, demo: Any, n: int) -> Store:
    """Load the demo; pick the county with the most call-out workers, put `n` of them
    (one area each) on duty and everyone else off; tokens; the probe worker."""
    app = create_app({"DATABASE_URL": url}, migrate=True)
    engine = services(app).engine
    t0 = time.perf_counter()
    with unit_of_work(engine) as uow:
        load_demo(uow.conn, demo=demo)
    log(f"demo loaded in {time.perf_counter() - t0:.0f} s: {url.split(':')[0]}")
    with unit_of_work(engine) as uow:
        conn = uow.conn
        rows = conn.execute(sa.select(workers.c.id, workers.c.code, worker_areas.c.area_code)
                            .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
                            .where(workers.c.role.in_(CALLOUT_ROLES))).all()
        areas_of: dict[str, list[str]] = {}
        for _, code, area in rows:
            areas_of.setdefault(code, []).append(area)
        single = sorted(c for c, a in areas_of.items() if len(a) == 1)
        by_county: dict[str, list[str]] = {}
        for c in single:
            by_county.setdefault(areas_of[c][0][:6], []).append(c)
        county = max(by_county, key=lambda k: len(by_county[k]))
        chosen = random.Random(10).sample(by_county[county], min(n, len(by_county[county])))
        conn.execute(workers.update().values(on_duty=False))
        conn.execute(workers.update().where(workers.c.code.in_(chosen)).values(on_duty=True))
        phones = {c: create_token(conn, name=f"phone-{c}", role="worker", worker_code=c,
                                  actor="bench") for c in chosen}
        grid = next(a[0] for c, a in sorted(areas_of.items())
                    if a[0].startswith(county) and len(a[0]) == 15)
        wid = conn.execute(workers.insert().values(code=PROBE, name="探针", role="team_141",
                                                   phone="", on_duty=True)).inserted_primary_key[0]
        conn.execute(worker_areas.insert().values(worker_id=wid, area_code=grid))
        probe = create_token(conn, name="probe", role="worker", worker_code=PROBE,
                             actor="bench")
        dispatcher = create_token(conn, name="bench-dispatcher", role="dispatcher",
                                  actor="bench")
        admin = create_token(conn, name="bench-admin", role="admin", actor="bench")
    services(app).close()
    points = household_points(demo)
    xy = points.get(grid) or points[grid[:9]]
    return Store(url, dispatcher, admin, county, phones, probe, xy)


def household_points(demo: Any) -> dict[str, tuple[float, float]]:
    """A household's point for every area that has households (a household's code starts
    with its group's, grid's, village's... codes), the first household of each."""
    out: dict[str, tuple[float, float]] = {}
    hh = demo.households
    for code, x, y in zip(hh["code"], hh["lon"], hh["lat"], strict=True):
        for n in (18, 15, 12, 9):
            out.setdefault(code[:n], (float(x), float(y)))
    return out


# ================================================================= asyncio HTTP client
async def request(port: int, method: str, path: str, token: str, body: Any = None
                  ) -> tuple[int, Any, float]:
    """One request on its own connection: (status, parsed JSON, perf_counter when the
    request was written)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n"
                + ("Content-Type: application/json\r\n" if body is not None else "") + "\r\n")
        writer.write(head.encode() + data)
        sent = time.perf_counter()
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head_raw, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head_raw.split(b" ", 2)[1])
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = payload[:200]
    return status, parsed, sent


@dataclass
class Phone:
    """One worker's open event stream: when each call-out's order for it arrived."""

    code: str
    token: str
    got: dict[str, list[float]] = field(default_factory=dict)  # call-out id -> arrivals
    others: int = 0  # call-out orders for other workers its scope also shows
    refused: int = 0  # 503 answers before the stream opened
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False
    writer: asyncio.StreamWriter | None = None

    async def open(self, port: int, path: str = "/api/v1/events") -> None:
        for _ in range(60):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream"
                         f"\r\nAuthorization: Bearer {self.token}\r\n\r\n".encode())
            status = await reader.readline()
            if b" 200 " in status:
                self.writer = writer
                asyncio.get_running_loop().create_task(self._listen(reader))
                return
            self.refused += 1
            writer.close()
            await asyncio.sleep(1.0)
        raise RuntimeError(f"stream of {self.code} refused 60 times: {status!r}")

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        kind = b""
        try:
            while line := await reader.readline():
                if line.startswith(b"event: "):
                    kind = line[7:].strip()
                elif line.startswith(b"data: ") and kind == b"callout.called":
                    t = time.perf_counter()
                    d = json.loads(line[6:])
                    if d["worker"] == self.code:
                        self.got.setdefault(d["id"], []).append(t)
                    else:
                        self.others += 1
                elif line.startswith(b"retry:"):
                    self.ready.set()
        except (OSError, ValueError):
            pass
        self.ended = True

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def fix_all(port: int, token: str, codes: list[str], point: dict[str, tuple]) -> None:
    """One fresh fix per worker (so it is online), 16 requests at a time."""
    sem = asyncio.Semaphore(16)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")

    async def one(code: str) -> None:
        lon, lat = point[code]
        async with sem:
            status, body, _ = await request(port, "POST", f"/api/v1/workers/{code}/positions",
                                            token, {"fixes": [{"lon": lon, "lat": lat,
                                                              "accuracy_m": 8,
                                                              "recorded_at": now}]})
        if status != 200:
            raise RuntimeError(f"fix for {code}: {status} {body}")

    await asyncio.gather(*(one(c) for c in codes))


async def callout_rounds(server: Server, store: Store, rounds: int, homes: dict[str, tuple]
                         ) -> dict[str, Any]:
    port = server.port
    codes = sorted(store.phones)
    t = time.perf_counter()
    await fix_all(port, store.admin, codes, homes)
    log(f"{len(codes)} fixes sent in {time.perf_counter() - t:.1f} s")
    phones = [Phone(c, store.phones[c]) for c in codes]
    sem = asyncio.Semaphore(50)

    async def open_one(p: Phone) -> None:
        async with sem:
            await p.open(port)

    t = time.perf_counter()
    await asyncio.gather(*(open_one(p) for p in phones))
    await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in phones)), 120)
    opened_s = time.perf_counter() - t
    log(f"{len(phones)} streams open in {opened_s:.1f} s "
        f"({sum(p.refused for p in phones)} refusals retried)")
    out: dict[str, Any] = {"streams": len(phones), "opened_s": opened_s,
                           "refused": sum(p.refused for p in phones), "rounds": []}
    try:
        await asyncio.sleep(2.0)
        for k in range(rounds):
            load0, cpu0, me0 = load_text(), server.cpu_s(), time.process_time()
            others0 = sum(p.others for p in phones)
            status, body, sent = await request(
                port, "POST", "/api/v1/callouts", store.dispatcher,
                {"area": store.county, "roles": list(CALLOUT_ROLES),
                 "message": f"草场火情，请立即向集合点集结 (bench {k + 1})"})
            answered = time.perf_counter()
            if status != 201:
                raise RuntimeError(f"POST /callouts: {status} {body}")
            cid, called = body["id"], body["counts"]["called"]
            deadline = time.perf_counter() + 30
            while (time.perf_counter() < deadline
                   and any(cid not in p.got for p in phones)):
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)  # room for a doubled delivery to show
            lat = [(p.got[cid][0] - sent) * 1e3 for p in phones if cid in p.got]
            r = {"called": called, "answer_ms": (answered - sent) * 1e3,
                 "received": len(lat), "twice": sum(len(p.got.get(cid, ())) > 1
                                                    for p in phones),
                 "ended": sum(p.ended for p in phones),
                 "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat, default=0),
                 "others": sum(p.others for p in phones) - others0,
                 "server_cpu": server.cpu_s() - cpu0, "client_cpu": time.process_time() - me0,
                 "load": (load0, load_text())}
            out["rounds"].append(r)
            log(f"call-out {k + 1}: {r['received']}/{len(phones)} in {r['max']:.0f} ms "
                f"(p50 {r['p50']:.0f}), POST answered in {r['answer_ms']:.0f} ms")
            await asyncio.sleep(2.0)
    finally:
        for p in phones:
            p.close()
    # The alternative: no streams, every phone asks GET /callouts once (a poll round).
    await asyncio.sleep(1.0)
    sem16 = asyncio.Semaphore(16)

    async def poll(p: Phone) -> int:
        async with sem16:
            return (await request(port, "GET", "/api/v1/callouts?limit=5", p.token))[0]

    load0, t = load_text(), time.perf_counter()
    statuses = await asyncio.gather(*(poll(p) for p in phones))
    out["poll_s"], out["poll_load"] = time.perf_counter() - t, (load0, load_text())
    out["poll_bad"] = sum(s != 200 for s in statuses)
    return out


# ================================================================== fix → wall latency
class WallStream(threading.Thread):
    """An admin's stream narrowed to one area: when each `worker.moved` of `code`
    arrived, by the fix's recorded_at; and how many events it carried in all."""

    def __init__(self, port: int, token: str, area: str, code: str) -> None:
        super().__init__(daemon=True)
        import socket

        self.code, self.arrived, self.events = code, {}, 0
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.sendall(f"GET /api/v1/events?area={area} HTTP/1.1\r\nHost: bench\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        if b" 200 " not in (status := self.file.readline()):
            raise RuntimeError(f"wall stream refused: {status!r}")
        self.start()

    def run(self) -> None:
        kind = b""
        with contextlib.suppress(OSError, ValueError):
            for line in self.file:
                if line.startswith(b"event: "):
                    kind = line[7:].strip()
                    self.events += 1
                elif line.startswith(b"data: ") and kind == b"worker.moved":
                    t = time.perf_counter()
                    d = json.loads(line[6:])
                    if d["code"] == self.code:
                        self.arrived[d["recorded_at"]] = t

    def close(self) -> None:
        import socket

        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def fix_latency(server: Server, store: Store, county: str, seconds: float) -> dict[str, Any]:
    """Single fixes of the probe 5 times a second for `seconds`; ms from each POST's
    writing to its `worker.moved` on the wall's stream."""
    import http.client

    wall = WallStream(server.port, store.admin, county, PROBE)
    time.sleep(1.0)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sent: dict[str, float] = {}
    x, y = store.probe_point
    events0, load0, k = wall.events, load_text(), 0
    t_end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < t_end:
            at = dt.datetime.now(dt.UTC)
            # Back and forth, 2e-6° (0.15 m) a step: a jump back to the start would be
            # 8 m in 0.2 s, which the service flags as too fast and does not announce.
            step = k % 100 if k % 100 < 50 else 100 - k % 100
            body = json.dumps({"fixes": [{"lon": x + step * 2e-6, "lat": y,
                                          "accuracy_m": 5,
                                          "recorded_at": at.isoformat()}]})
            t = time.perf_counter()
            conn.request("POST", f"/api/v1/workers/{PROBE}/positions", body, {
                "Authorization": f"Bearer {store.probe_token}",
                "Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 200 or json.loads(answer).get("flagged"):
                raise RuntimeError(f"probe fix: {resp.status} {answer[:200]!r}")
            sent[at.isoformat()] = t
            k += 1
            time.sleep(max(0.0, t + 0.2 - time.perf_counter()))
        time.sleep(2.0)
    finally:
        conn.close()
        wall.close()
    lat = [(wall.arrived[a] - t) * 1e3 for a, t in sent.items() if a in wall.arrived]
    return {"n": len(sent), "got": len(lat), "p50": pct(lat, 50), "p99": pct(lat, 99),
            "max": max(lat, default=0), "events_s": (wall.events - events0) / seconds,
            "load": (load0, load_text())}


class Simulator:
    """`geo-service simulate` against the server, in its own process group; its summary
    lines parsed as they come; always stopped."""

    def __init__(self, server: Server, url: str, workers_n: int, workdir: Path,
                 threads: int = 32) -> None:
        env = {**os.environ, "GEO_DATABASE_URL": url}
        self.lines: list[tuple[float, dict[str, float]]] = []
        self.text: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "geo_service.cli", "simulate", "--url",
             f"http://127.0.0.1:{server.port}", "--workers", str(workers_n),
             "--fix-every", "30", "--callout-every", "0", "--threads", str(threads),
             "--every", "2"], env=env, cwd=workdir, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.text.append(line.rstrip())
            m = SIM_SUMMARY.search(line)
            if m:
                n = [float(g.replace(",", "")) for g in m.groups()]
                self.lines.append((time.perf_counter(), dict(zip(
                    ("t", "fixes", "batches", "on_shift", "errors", "lag"), n, strict=True))))

    def last(self) -> dict[str, float]:
        return self.lines[-1][1] if self.lines else {}

    def cpu_s(self) -> float:
        """CPU seconds the simulator's process has used so far."""
        with contextlib.suppress(OSError):
            f = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def rate_since(self, mark: int) -> tuple[float, float]:
        """(fixes/s, batches/s) between summary line `mark` and the last one."""
        if len(self.lines) <= mark + 1:
            return 0.0, 0.0
        (t0, a), (t1, b) = self.lines[mark], self.lines[-1]
        return (b["fixes"] - a["fixes"]) / (t1 - t0), (b["batches"] - a["batches"]) / (t1 - t0)

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=300)  # it puts thousands of duties back
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.reader.join(5)


def under_simulation(server: Server, store: Store, args: argparse.Namespace,
                     workdir: Path) -> dict[str, Any]:
    idle = fix_latency(server, store, store.county, args.latency_s)
    log(f"fix → wall idle: p50 {idle['p50']:.0f} ms, p99 {idle['p99']:.0f} ms")
    out: dict[str, Any] = {"idle": idle}
    if args.no_sim:
        return out
    sim = Simulator(server, store.url, args.sim_workers, workdir, args.sim_threads)
    try:
        t0 = time.perf_counter()  # ramp: every phone on shift (or the ramp's time is up)
        said = t0
        while time.perf_counter() - t0 < args.ramp_s and sim.proc.poll() is None:
            time.sleep(2.0)
            if sim.last().get("on_shift", 0) >= args.sim_workers * 0.99:
                break
            if time.perf_counter() - said >= 60 and sim.text:
                said = time.perf_counter()
                log(f"simulator: {sim.text[-1]} (load {load_text()})")
        ramp = time.perf_counter() - t0
        log(f"simulator: {sim.last()} after {ramp:.0f} s")
        t1 = time.perf_counter()  # then one fix interval, and until it keeps up
        while sim.proc.poll() is None and time.perf_counter() - t1 < 150:
            time.sleep(2.0)
            if time.perf_counter() - t1 > 35 and sim.last().get("lag", 99) < 5:
                break
        mark, load0 = len(sim.lines) - 1, load_text()
        cpu0, sim0, t2 = server.cpu_s(), sim.cpu_s(), time.perf_counter()
        busy = fix_latency(server, store, store.county, args.sim_seconds)
        took = time.perf_counter() - t2
        fixes_s, batches_s = sim.rate_since(mark)
        busy.update(sim_fixes_s=fixes_s, sim_batches_s=batches_s, ramp_s=ramp,
                    sim=sim.last(), load_sim=(load0, load_text()),
                    server_cores=(server.cpu_s() - cpu0) / took,
                    sim_cores=(sim.cpu_s() - sim0) / took)
        log(f"fix → wall under {fixes_s:.0f} fixes/s: p50 {busy['p50']:.0f} ms, "
            f"p99 {busy['p99']:.0f} ms")
        out["busy"] = busy
    finally:
        sim.stop()
        out["sim_tail"] = sim.text[-6:]
    return out


# ================================================================================ main
def run_store(label: str, url: str, demo: Any, args: argparse.Namespace, workdir: Path
              ) -> dict[str, Any]:
    store = prepare(url, demo, args.streams)
    homes = home_points(demo, store)
    res: dict[str, Any] = {"county": store.county, "n": len(store.phones)}
    with Server(url, workdir, THREADS=str(args.threads)) as server:
        if not args.no_callout:
            res["callout"] = asyncio.run(callout_rounds(server, store, args.rounds, homes))
        res["latency"] = under_simulation(server, store, args, workdir)
    return res


def home_points(demo: Any, store: Store) -> dict[str, tuple[float, float]]:
    """A household point inside each phone's area."""
    engine = sa.create_engine(store.url)
    with engine.connect() as conn:
        area = dict(conn.execute(sa.select(workers.c.code, worker_areas.c.area_code)
                                 .join(worker_areas, worker_areas.c.worker_id == workers.c.id)
                                 .where(workers.c.code.in_(list(store.phones)))).all())
    engine.dispose()
    points = household_points(demo)
    return {code: points.get(a) or points[a[:9]] for code, a in area.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="the small demo (Hezuo only)")
    ap.add_argument("--streams", type=int, default=1000, help="phones holding a stream")
    ap.add_argument("--threads", type=int, default=1024, help="GEO_THREADS (≤ 1024)")
    ap.add_argument("--rounds", type=int, default=3, help="call-outs in a row")
    ap.add_argument("--sim-workers", type=int, default=12_668)
    ap.add_argument("--sim-seconds", type=float, default=30.0, help="latency under load")
    ap.add_argument("--latency-s", type=float, default=20.0, help="latency idle")
    ap.add_argument("--sim-threads", type=int, default=32, help="the simulator's --threads")
    ap.add_argument("--ramp-s", type=float, default=900.0,
                    help="longest wait for the simulator's phones to be on shift")
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--no-callout", action="store_true", help="the fix → wall part only")
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    t_start, load_start = time.perf_counter(), load_text()
    demo = (build_demo(counties=["623001"], households=12_000, grids=60, groups=540)
            if args.small else build_demo())
    log("demo built")
    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="geo-fanout-")))
        stores = [] if args.no_sqlite else [("SQLite", f"sqlite:///{tmp}/bench.sqlite3")]
        if not args.no_postgis:
            from tests import pgcluster

            why = pgcluster.available()
            if why:
                log(f"PostGIS skipped: {why}")
            else:
                stores.append(("PostGIS", ""))
        for label, url in stores:
            if label == "PostGIS":
                from tests import pgcluster

                url = stack.enter_context(pgcluster.cluster())
            results[label] = run_store(label, url, demo, args, tmp)
    report(results, args, t_start, load_start)


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, t_start: float,
           load_start: str) -> None:
    slots = stream_slots(args.threads)
    print(f"Run ended {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: `python bench/fanout.py "
          f"{' '.join(sys.argv[1:])}`, {time.perf_counter() - t_start:.0f} s in all; "
          f"{'small' if args.small else 'full'} demo. Machine: {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load average at the start {load_start}, at "
          f"the end {load_text()} (1 / 5 / 15 min; other sessions' work on the same cores). "
          f"Server: `geo-service serve`, 2 lane workers, GEO_THREADS={args.threads} "
          f"(stream_slots = {slots} streams per worker, {2 * slots} in all).\n")
    if not args.no_callout:
        report_callouts(results, args)
    report_latency(results, args)


def report_callouts(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    labels = list(results)
    print("### Call-out to every on-duty worker of a county\n")
    print("| measurement | " + " | ".join(labels) + " | notes |")
    print("| --- |" + " --- |" * len(labels) + " --- |")

    def row(name: str, cells: list[str], note: str = "") -> None:
        print(f"| {name} | " + " | ".join(cells) + f" | {note} |")

    co = {k: v["callout"] for k, v in results.items()}
    row("county; phones holding a stream", [f"{results[k]['county']}; {co[k]['streams']:,}"
                                            for k in labels],
        "each its own worker token, GET /api/v1/events on asyncio raw sockets, one process")
    row("streams opened in, s; 503 refusals retried", [
        f"{co[k]['opened_s']:.1f}; {co[k]['refused']}" for k in labels],
        "50 opening at a time; a refused phone retries after 1 s")
    for i in range(args.rounds):
        rs = {k: co[k]["rounds"][i] for k in labels if i < len(co[k]["rounds"])}
        row(f"call-out {i + 1}: POST → own order on every stream: p50 / p99 / max (all), ms",
            [f"{r['p50']:.0f} / {r['p99']:.0f} / **{r['max']:.0f}**" for r in rs.values()],
            "goal: all < 2,000 ms; from writing the POST to the stream's own "
            "`callout.called`")
        row(f"call-out {i + 1}: called; received; twice; streams ended", [
            f"{r['called']:,}; {r['received']:,}; {r['twice']}; {r['ended']}"
            for r in rs.values()], "every stream must receive its own order exactly once")
        row(f"call-out {i + 1}: POST answered in, ms", [f"{r['answer_ms']:.0f}"
                                                        for r in rs.values()],
            "1 call-out row, 1,000 targets, 1,001 outbox rows, then the call-out's view")
        row(f"call-out {i + 1}: other workers' orders the streams also carried", [
            f"{r['others']:,}" for r in rs.values()],
            "a grid worker's token sees its grid, so its team's orders too")
        row(f"call-out {i + 1}: CPU s, server / this client", [
            f"{r['server_cpu']:.2f} / {r['client_cpu']:.2f}" for r in rs.values()],
            "from the POST until every order arrived + 1 s")
        row(f"call-out {i + 1}: load average before / after", [
            f"{r['load'][0]} → {r['load'][1]}" for r in rs.values()], "1 / 5 / 15 min")
    row("alternative: every phone polls GET /callouts once, s", [
        f"{co[k]['poll_s']:.1f} ({co[k]['poll_bad']} non-200; load {co[k]['poll_load'][0]}"
        f" → {co[k]['poll_load'][1]})" for k in labels],
        "16 at a time, no streams: the shortest poll interval 1,000 phones could keep")


def report_latency(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    labels = list(results)

    def row(name: str, cells: list[str], note: str = "") -> None:
        print(f"| {name} | " + " | ".join(cells) + f" | {note} |")

    print("\n### Fix → `worker.moved` on a wall's stream\n")
    print("| measurement | " + " | ".join(labels) + " | notes |")
    print("| --- |" + " --- |" * len(labels) + " --- |")
    lat = {k: v["latency"] for k, v in results.items()}

    def lat_cells(key: str) -> list[str]:
        out = []
        for k in labels:
            r = lat[k].get(key)
            out.append("—" if r is None else
                       f"{r['p50']:.0f} / {r['p99']:.0f} / {r['max']:.0f} ({r['got']} of "
                       f"{r['n']}); load {r['load'][0]} → {r['load'][1]}")
        return out

    row("idle: POST fix → worker.moved on the stream, p50 / p99 / max ms", lat_cells("idle"),
        "a probe worker's single fixes, 5/s; an admin's stream with area=<county>")
    row("under the simulator: p50 / p99 / max ms", lat_cells("busy"),
        f"`geo-service simulate --workers {args.sim_workers} --fix-every 30 --threads "
        f"{args.sim_threads}`")
    cells = []
    for k in labels:
        b = lat[k].get("busy")
        cells.append("—" if b is None else
                     f"{b['sim_fixes_s']:.0f} fixes/s in {b['sim_batches_s']:.0f} POSTs/s; "
                     f"{b['sim'].get('on_shift', 0):,.0f} on shift after "
                     f"{b['ramp_s']:.0f} s; lag {b['sim'].get('lag', 0):.1f} s; "
                     f"errors {b['sim'].get('errors', 0):,.0f}; wall stream "
                     f"{b['events_s']:.0f} events/s; cores used: server "
                     f"{b['server_cores']:.2f}, simulator {b['sim_cores']:.2f}")
    row("what the simulator sustained during the measurement", cells,
        f"goal {args.sim_workers / 30:.0f} fixes/s (one per 30 s each); lag: how late its "
        "last task started")
    for k in labels:
        tail = lat[k].get("sim_tail")
        if tail:
            print(f"\n{k} simulator's last lines:\n\n```\n" + "\n".join(tail) + "\n```")


if __name__ == "__main__":
    main()
