"""`geo-service simulate` against a served small demo: it drives the service through the
public API only (what it did is read back through the API), stops on its duration and
on Ctrl-C with exit code 0, and puts back what it changed (duty, its tokens)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest
import shapely
import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import create_token
from geo_service.demo import load_demo
from geo_service.simulator.walk import Walk
from geo_service.store.tables import api_tokens, users
from geo_service.store.uow import unit_of_work

from .serving import served
from .tiny import GRIDS, HOLE

G3_SHAPE = GRIDS["900002001001001"][2]


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The small demo (Hezuo) in a SQLite file, served by `geo-service serve`; yields
    (API base, store URL, an admin token). The sweep runs every second."""
    tmp = tmp_path_factory.mktemp("sim")
    url = f"sqlite:///{tmp / 'geo.sqlite3'}"
    app = create_app({"DATABASE_URL": url}, migrate=True)
    engine = services(app).engine
    with unit_of_work(engine) as uow:
        load_demo(uow.conn, small=True)
        admin = create_token(uow.conn, name="test-admin", role="admin")
    services(app).close()
    with served(tmp, url, SWEEP_INTERVAL_S="1", ACCESS_LOG="false") as base:
        yield base, url, admin


def get(base: str, path: str, token: str) -> dict:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def simulate(base: str, url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "GEO_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "geo_service.cli", "simulate", "--url", base.rsplit("/api", 1)[0],
         "--workers", "8", "--rate", "300", "--fix-every", "0.3", "--step-s", "0.3",
         "--every", "1", "--callout-every", "2", "--shift-min", "0.1", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def duty_of(base: str, admin: str) -> dict[str, bool]:
    return {w["code"]: w["on_duty"] for w in get(base, "/workers", admin)["workers"]}


def run_tokens_revoked(url: str) -> tuple[int, int]:
    """(tokens of simulator runs, of those not revoked) in the store."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens.c.revoked_at).join(
            users, users.c.id == api_tokens.c.user_id).where(
            users.c.name.like("simulator-%"))).all()
    engine.dispose()
    return len(rows), sum(r.revoked_at is None for r in rows)


def test_a_timed_run_drives_the_service_and_exits_cleanly(demo_service):
    base, url, admin = demo_service
    before = get(base, "/reports?limit=500", admin)["reports"]
    duty_before = duty_of(base, admin)
    proc = simulate(base, url, "--duration", "8", "--seed", "7")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert sum(ln.startswith("[") for ln in lines) >= 5, out  # a line every second
    assert all("fixes/s" in ln for ln in lines if ln.startswith("[") and "total:" not in ln)
    final = next(ln for ln in lines if "total:" in ln)
    assert "errors 0 " in final, out + err

    reports = get(base, "/reports?limit=500", admin)["reports"]
    new = [r for r in reports if r["id"] not in {b["id"] for b in before}]
    assert len(new) >= 10
    assert {r["channel"] for r in new} == {"app", "hotline"}
    moved = [r for r in new if r["status"] != "reported"]
    assert len(moved) >= len(new) // 2
    assert any(r["status"] == "closed" for r in new)
    one = get(base, f"/reports/{moved[0]['id']}", admin)
    assert [s["action"] for s in one["history"]][:2] == ["report", "accept"]

    workers = get(base, "/workers", admin)["workers"]
    walked = [w for w in workers if w["position"] is not None]
    assert len(walked) >= 8
    trail = get(base, f"/workers/{walked[0]['code']}/trail?simplify=0", admin)
    assert len(trail["geometry"]["coordinates"]) >= 2
    # Put back as found: every worker's duty, and the run's tokens revoked.
    assert duty_of(base, admin) == duty_before
    made, live = run_tokens_revoked(url)
    assert made > 8 and live == 0


def test_ctrl_c_stops_the_run_cleanly(demo_service):
    base, url, admin = demo_service
    duty_before = duty_of(base, admin)
    proc = simulate(base, url, "--duration", "0", "--seed", "8")
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("["):  # running: the first summary line
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "stopping after" in out and "total:" in out, out + err
    assert "Traceback" not in err, err
    assert duty_of(base, admin) == duty_before
    assert run_tokens_revoked(url)[1] == 0


def test_an_unreachable_service_is_one_line_and_exit_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "geo_service.cli", "simulate", "--url",
                           "http://127.0.0.1:9", "--duration", "1"], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "GEO_DATABASE_URL": f"sqlite:///{tmp_path}/x"})
    assert proc.returncode == 1
    assert "is `geo-service serve` running there?" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("speed", [1.3, 40.0])  # walking; a stride longer than a grid
def test_a_walk_never_leaves_its_area_and_reaches_its_target(speed):
    walk = Walk(G3_SHAPE, (103.022, 35.001), speed, random.Random(1))
    for _ in range(2000):
        x, y = walk.step(30)
        assert shapely.contains_xy(G3_SHAPE, x, y), (x, y)  # never into the enclave G4
        assert not HOLE.contains(shapely.Point(x, y))
    walk.target = (103.038, 35.018)
    for _ in range(500):
        walk.step(30)
    assert walk.metres_to(*walk.target) < 50


# The simulator's parts on their own: no service, no timing.

class _Answers:
    """A one-shot HTTP server on 127.0.0.1: answers each connection with the next raw
    reply of `replies` (None: close without answering), after reading the request."""

    def __init__(self, replies: list[bytes | None]) -> None:
        import socket
        import threading

        self.replies, self.requests = list(replies), []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for reply in self.replies:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(dict(
                    (k.strip().lower(), v.strip()) for k, _, v in
                    (ln.partition(b":") for ln in head.split(b"\r\n")[1:])
                ).get(b"content-length", 0))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append((head.decode(), body))
                if reply is not None:
                    conn.sendall(reply)
        self.sock.close()


def test_the_client_reads_answers_however_they_are_framed():
    import gzip

    from geo_service.simulator.client import Api, Tally

    body = json.dumps({"ok": "好"}).encode()
    packed = gzip.compress(body)
    server = _Answers([
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
            len(body), body),
        b"HTTP/1.1 201 CREATED\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n" + body[:4]
        + b"\r\n%x\r\n" % (len(body) - 4) + body[4:] + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 404 NOT FOUND\r\nContent-Type: application/json\r\n\r\n" + body,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
            len(packed), packed),
        None,  # the connection is dropped: the same request again
        b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n" + body,  # cut short: again
        b"HTTP/1.1 503 SERVICE UNAVAILABLE\r\nContent-Length: 2\r\n\r\n{}",
    ])
    tally = Tally()
    api = Api(server.url, tally, retries=3)
    got = [api.call("GET", "/health", "t") for _ in range(4)]
    assert [(a.status, a.body) for a in got] == [(200, {"ok": "好"}), (201, {"ok": "好"}),
                                                 (404, {"ok": "好"}), (200, {"ok": "好"})]
    again = api.call("POST", "/workers/W1/positions", "tok", {"fixes": [1]})
    assert (again.status, again.body) == (503, {})  # a 5xx is the service's answer
    assert tally.counts["retries"] == 2 and not tally.errors
    server.thread.join(10)
    posted = server.requests[-3:]
    assert len({b for _, b in posted}) == 1 and json.loads(posted[0][1]) == {"fixes": [1]}
    head = posted[0][0]
    assert head.startswith("POST /api/v1/workers/W1/positions HTTP/1.1\r\n")
    assert "Authorization: Bearer tok" in head and "Connection: close" in head


def test_an_areas_households_are_fetched_once_however_many_phones_ask():
    import threading

    from geo_service.simulator.client import Answer
    from geo_service.simulator.world import Area, homes, households

    calls = []

    class Api:
        def call(self, method, path, token, body=None):
            calls.append(path)
            return Answer(200, {"households": [
                {"code": "h1", "lon": 103.022, "lat": 35.001},  # inside G3
                {"code": "h2", "lon": 103.5, "lat": 35.5},     # outside its outline
                {"code": "h3"}]}, 1.0)                         # no position shown

    area = Area("900002001001001", "grid", "rural", None, G3_SHAPE)
    threads = [threading.Thread(target=homes, args=(Api(), "t", area)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["/areas/900002001001001/households?per_page=1000"]
    assert [h["code"] for h in households(Api(), "t", area)] == ["h1", "h2"]
    assert [h["code"] for h in homes(Api(), "t", area)] == ["h1"]
    assert len(calls) == 1


def test_the_starter_runs_a_few_at_a_time_in_order_and_drops_the_rest_on_stop():
    import threading

    from geo_service.simulator.schedule import Starter

    running, most, order, lock = [0], [0], [], threading.Lock()
    gate = threading.Event()

    def job(i):
        def run():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                order.append(i)
            gate.wait(10)
            with lock:
                running[0] -= 1
        return run

    starter = Starter(3)
    for i in range(12):
        starter.submit(job(i))
    gate.set()
    done = threading.Event()
    starter.submit(done.set)
    assert done.wait(10)
    assert most[0] <= 3 and sorted(order) == list(range(12)) and order[:3] == sorted(order[:3])
    gate.clear()
    for i in range(12, 20):
        starter.submit(job(i))
    threading.Timer(0.2, gate.set).start()
    starter.stop()
    assert len(order) < 20  # the waiting ones never ran


def _offline_simulation(workers: int, **opts):
    """A Simulation with a made-up world and a fake API that records what is asked."""
    from geo_service.simulator import Options, Simulation
    from geo_service.simulator.client import Answer
    from geo_service.simulator.world import Area, Tokens, World

    calls = []

    class Api:
        def call(self, method, path, token, body=None):
            calls.append((method, path, body))
            return Answer(200, {}, 1.0)

    sim = Simulation(Options(workers=workers, **opts))
    sim.api = Api()
    area = Area("900002001001001", "grid", "rural", None, G3_SHAPE)
    roster = [{"code": f"W{i}", "on_duty": i % 2 == 0, "areas": [area.code],
               "role": "grid_worker"} for i in range(workers)]
    sim.world = World(roster, {area.code: area}, {area.code: area})
    sim.tokens = Tokens("center")
    sim.pool.extend(roster)
    sim.duty_now = {w["code"]: w["on_duty"] for w in roster}
    return sim, calls


def test_phones_are_put_on_shift_evenly_over_the_ramp():
    sim, _ = _offline_simulation(40, ramp_s=20.0)
    delays = []
    sim.scheduler.at = lambda delay, task: delays.append(delay)
    assert sim.start_phones() == 40
    assert all(0 <= d < 20 for d in delays)
    counts = [sum(lo <= d < lo + 2 for d in delays) for lo in range(0, 20, 2)]
    assert counts == [4] * 10  # every 2 s of the ramp, a tenth of the phones
    sim2, _ = _offline_simulation(40, fix_every=7.0)
    delays.clear()
    sim2.scheduler.at = lambda delay, task: delays.append(delay)
    sim2.start_phones()
    assert max(delays) < 7.0 and min(delays) < 0.2  # by default: one fix interval


def test_duty_is_posted_only_when_it_changes_and_put_back_only_where_changed():
    sim, calls = _offline_simulation(4)
    sim.started = {w["code"]: w["on_duty"] for w in sim.world.workers}
    assert sim.duty("W0", True) and sim.duty("W1", True)  # W0 was on duty already
    assert sim.duty("W2", False)  # a shift ended
    assert [(p, b) for _, p, b in calls] == [("/workers/W1/duty", {"on_duty": True}),
                                            ("/workers/W2/duty", {"on_duty": False})]
    calls.clear()
    sim.scheduler.start()
    sim.shutdown()
    assert sorted((p, b["on_duty"]) for _, p, b in calls) == [("/workers/W1/duty", False),
                                                             ("/workers/W2/duty", True)]
