"""The live event stream `/api/v1/events` (Server-Sent Events), on SQLite and PostGIS:
scope, replay with Last-Event-ID, heartbeats, fan-out across app instances, and a served
gunicorn that keeps answering lookups while it holds many open streams."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from geo_service.app import create_app, services
from geo_service.auth import create_token, revoke_tokens
from geo_service.live import Hub
from geo_service.live.stream import visible_to
from geo_service.scope import Scope
from geo_service.serving import stream_slots
from geo_service.store import outbox as events_kept
from geo_service.store.tables import outbox

from .conftest import bearer, load_tiny
from .serving import served
from .test_reports import IN_G1, IN_G4, OUTSIDE, post, report
from .tiny import G1, G2, G4


def messages(text: str) -> list[dict[str, str]]:
    """The SSE messages of a stream's text (comments and the preamble left out)."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if line and not line.startswith(":"))
        if "event" in fields:
            out.append(fields)
    return out


def ids(text: str) -> list[int]:
    return [int(m["id"]) for m in messages(text)]


def stream(client, token: str, *, max_s: float = 0.5, last: str | None = None,
           after: str | None = None) -> str:
    """A whole stream, read until its lifetime (`max_s`) ends it."""
    headers = bearer(token) | ({"Last-Event-ID": last} if last is not None else {})
    q = {"max_s": max_s} | ({"after": after} if after is not None else {})
    r = client.get("/api/v1/events", query_string=q, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "text/event-stream" and r.headers["Cache-Control"] == "no-store"
    return r.get_data(as_text=True)


def outbox_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars())


@pytest.fixture
def scoped(engine, tiny) -> dict[str, str]:
    """Viewers of county 900001 (G1, G2), of township 900002001 (G3, G4), and of all."""
    with engine.begin() as conn:
        return {area: create_token(conn, name=f"v{area}", role="viewer",
                                   area_code=None if area == "all" else area)
                for area in ("900001", "900002001", "all")}


def test_a_scoped_token_never_sees_another_countys_events(client, tokens, scoped):
    mine = post(client, tokens["dispatcher"], report()).get_json()["id"]  # G1: county 900001
    theirs = post(client, tokens["dispatcher"], report(lon=IN_G4[0], lat=IN_G4[1]))
    routed = post(client, tokens["dispatcher"], report(lon=OUTSIDE[0], lat=OUTSIDE[1]))
    theirs, routed = theirs.get_json()["id"], routed.get_json()["id"]  # 900002's township
    seen = {area: messages(stream(client, t, after="0")) for area, t in scoped.items()}
    about = {area: [json.loads(m["data"]).get("id") for m in ms] for area, ms in seen.items()}
    assert about["900001"] == [None, mine]  # the boundary version (no area), then its own
    assert about["900002001"] == [None, theirs, routed]
    assert about["all"] == [None, mine, theirs, routed]
    assert [m["event"] for m in seen["all"]] == ["boundary.published"] + ["report.created"] * 3


def test_payloads_carry_no_personal_data(client, tokens):
    post(client, tokens["dispatcher"], report(reporter={"name": "王小明",
                                                        "phone": "13912345678"}))
    text = stream(client, tokens["admin"], after="0")
    assert "report.created" in text
    assert "王小明" not in text and "13912345678" not in text and "邻里纠纷" not in text


def test_a_new_stream_starts_at_the_end_and_a_reconnect_replays_each_missed_event_once(
        client, tokens, engine):
    post(client, tokens["dispatcher"], report())
    first = stream(client, tokens["viewer"])
    assert messages(first) == []  # no history without Last-Event-ID
    start = first.split("\n\n")[0]
    assert start.startswith("retry: ") and f"id: {outbox_ids(engine)[-1]}" in start
    end = outbox_ids(engine)[-1]
    missed = [post(client, tokens["dispatcher"], report()).get_json()["id"] for _ in range(3)]
    replay = stream(client, tokens["viewer"], last=str(end))
    assert [json.loads(m["data"])["id"] for m in messages(replay)] == missed
    assert ids(replay) == outbox_ids(engine)[-3:]
    # the header wins over ?after= (a browser keeps the URL it first opened)
    assert ids(stream(client, tokens["viewer"], last=str(ids(replay)[1]), after="0")
               ) == ids(replay)[2:]


def test_events_written_during_the_replay_arrive_once_and_in_order(client, tokens, engine):
    """Replay and live meet without a gap or a double: writers keep committing while the
    stream replays and goes live."""
    for _ in range(5):
        post(client, tokens["dispatcher"], report())
    writer_client = client.application.test_client()

    def write() -> None:
        for _ in range(10):
            post(writer_client, tokens["dispatcher"], report())

    writer = threading.Thread(target=write)
    r = client.get("/api/v1/events", query_string={"after": 0, "max_s": 30},
                   headers=bearer(tokens["viewer"]), buffered=False)
    got: list[int] = []
    writer.start()
    try:
        for chunk in r.response:
            got += ids(chunk.decode())
            if len(got) == 16:  # the version, 5 before, 10 during
                break
    finally:
        r.close()
        writer.join()
    assert got == outbox_ids(engine)


BAD_IDS = ["abc", "-1", "１", "1.0", " 7", "+7", "007", "0x10", "99999999999999999999",
           "2147483648"]


def test_a_malformed_last_event_id_is_a_400_before_the_stream(client, tokens):
    for bad in BAD_IDS:
        r = client.get("/api/v1/events",
                       headers=bearer(tokens["viewer"]) | {"Last-Event-ID": bad})
        assert r.status_code == 400 and r.mimetype == "application/json", bad
        assert r.get_json()["error"]["field"] == "Last-Event-ID"
        q = client.get("/api/v1/events", query_string={"after": bad},
                       headers=bearer(tokens["viewer"]))
        assert q.status_code == 400 and q.get_json()["error"]["field"] == "after", bad


def test_bad_parameters_are_a_400(client, tokens):
    for query, field in (({"after": ""}, "after"), ({"max_s": "0"}, "max_s"),
                         ({"max_s": "nan"}, "max_s"), ({"since": "1"}, "since")):
        r = client.get("/api/v1/events", query_string=query, headers=bearer(tokens["viewer"]))
        assert r.status_code == 400 and r.get_json()["error"]["field"] == field, query


@pytest.fixture
def quick_app(db_url):
    """An app whose idle streams send a heartbeat every second."""
    app = create_app({"DATABASE_URL": db_url, "STREAM_HEARTBEAT_S": 1.0,
                      "STREAM_POLL_S": 0.05, "TOKEN_CACHE_S": 0.0}, migrate=True)
    load_tiny(services(app).engine)
    yield app
    services(app).close()


def test_an_idle_stream_gets_heartbeats_and_a_revoked_token_loses_its_stream(quick_app):
    engine = services(quick_app).engine
    with engine.begin() as conn:
        token = create_token(conn, name="wall", role="viewer")
    r = quick_app.test_client().get("/api/v1/events", query_string={"max_s": 20},
                                    headers=bearer(token), buffered=False)
    chunks = iter(r.response)
    try:
        assert next(chunks).startswith(b"retry: ")
        t0 = time.monotonic()
        assert next(chunks) == b": keepalive\n\n"
        assert 0.5 < time.monotonic() - t0 < 5
        with engine.begin() as conn:
            revoke_tokens(conn, name="wall")
        t0 = time.monotonic()
        assert list(chunks) == []  # ends at the next heartbeat
        assert time.monotonic() - t0 < 5
    finally:
        r.close()


def test_a_busy_stream_also_ends_soon_after_its_token_is_revoked(quick_app, tokens):
    """A prefecture wall never goes quiet: the token is checked on a clock, not only at
    heartbeats (found by probing: events kept flowing 43 s after the revocation)."""
    engine = services(quick_app).engine
    with engine.begin() as conn:
        token = create_token(conn, name="busy-wall", role="viewer")
    client = quick_app.test_client()
    r = client.get("/api/v1/events", query_string={"max_s": 30}, headers=bearer(token),
                   buffered=False)
    chunks = iter(r.response)
    stop = threading.Event()

    def feed() -> None:  # an event every 0.2 s, before and after the revocation
        while not stop.is_set():
            post(client, tokens["dispatcher"], report())
            time.sleep(0.2)

    feeder = threading.Thread(target=feed)
    try:
        assert next(chunks).startswith(b"retry: ")
        feeder.start()
        assert b"report.created" in next(chunks)
        with engine.begin() as conn:
            revoke_tokens(conn, name="busy-wall")
        t0 = time.monotonic()
        rest = list(chunks)  # the stream ends by itself
        assert time.monotonic() - t0 < 6 and len(rest) < 40
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join()
        r.close()


def test_a_second_instance_reaches_the_first_ones_streams(quick_app, db_url):
    """Two apps (two servers) on one store: an event written through B reaches a stream
    on A. On PostgreSQL A polls only once a minute here, so only NOTIFY is fast enough."""
    pg = db_url.startswith("postgresql")
    a = create_app({"DATABASE_URL": db_url, "STREAM_POLL_S": 60.0 if pg else 0.05})
    try:
        with services(a).engine.begin() as conn:
            token = create_token(conn, name="both", role="dispatcher")
        r = a.test_client().get("/api/v1/events", query_string={"max_s": 30},
                                headers=bearer(token), buffered=False)
        chunks = iter(r.response)
        assert next(chunks).startswith(b"retry: ")
        time.sleep(0.3)  # the hub is listening
        t0 = time.monotonic()
        rid = post(quick_app.test_client(), token, report()).get_json()["id"]
        got = messages(next(chunks).decode())
        r.close()
        assert [json.loads(m["data"])["id"] for m in got] == [rid]
        assert time.monotonic() - t0 < 5
    finally:
        services(a).close()


def test_a_subscriber_that_falls_behind_is_dropped(engine, tiny):
    hub = Hub(engine, poll_s=0.05, max_behind=2)
    sub = hub.subscribe(lambda row: True)
    try:
        assert sub.offer([{"id": 1}, {"id": 2}]) and not sub.dropped
        assert not sub.offer([{"id": 3}]) and sub.dropped
        assert sub.take(0.1) == []
    finally:
        hub.close()
        hub.join(5)
    assert not hub.running


def test_a_full_worker_refuses_streams_with_a_503(client, app, tokens):
    assert stream_slots(1) == 0 and stream_slots(256) == 224 and stream_slots(8) == 4
    app.config["STREAM_SLOTS"] = 0
    r = client.get("/api/v1/events", headers=bearer(tokens["viewer"]))
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "unavailable"
    assert r.headers["Retry-After"]


# --------------------------------------------------------------------- real gunicorn
class SseClient:
    """One open stream over a real socket."""

    def __init__(self, base: str, token: str, last: int | None = None) -> None:
        u = urlsplit(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        headers = bearer(token) | ({"Last-Event-ID": str(last)} if last is not None else {})
        self.conn.request("GET", "/api/v1/events", headers=headers)
        self.resp = self.conn.getresponse()

    def blocks(self) -> Iterator[str]:
        block: list[str] = []
        while line := self.resp.readline().decode():
            if line == "\n":
                yield "".join(block)
                block = []
            else:
                block.append(line)

    def close(self) -> None:
        """Close the connection: the response too, which holds the socket on its own once
        the server announced `Connection: close`."""
        self.resp.close()
        self.conn.close()


def http_get(base: str, path: str, token: str, timeout: float = 20) -> int:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", f"/api/v1{path}", headers=bearer(token))
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_served_gunicorn_holds_fifty_streams_and_still_answers_lookups(
        tmp_path, db_url, engine, tokens):
    with served(tmp_path, db_url, WORKERS="2", STREAM_HEARTBEAT_S="2") as base:
        walls = [SseClient(base, tokens["viewer"]) for _ in range(50)]
        try:
            assert all(w.resp.status == 200 for w in walls)
            starts = [next(w.blocks()) for w in walls]
            assert all(s.startswith("retry: ") for s in starts)
            for _ in range(40):  # every lookup answers while the 50 streams are open
                status = http_get(base, f"/lookup?lon={IN_G1[0]}&lat={IN_G1[1]}",
                                  tokens["viewer"], timeout=10)
                assert status == 200
            rid = post_http(base, tokens["dispatcher"], report())
            for w in walls:  # ... and each stream gets the new report, through either worker
                got = next(b for b in w.blocks() if "event: " in b)
                assert json.loads(messages(got)[0]["data"])["id"] == rid
        finally:
            t0 = time.monotonic()
    # `served` stopped the server (SIGTERM): the workers ended their streams at once
    # rather than waiting out the 30 s graceful timeout.
    assert time.monotonic() - t0 < 15
    for w in walls:
        assert list(w.blocks()) == []  # the server closed the stream
        w.close()


def post_http(base: str, token: str, body: dict) -> str:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        conn.request("POST", "/api/v1/reports", json.dumps(body).encode(),
                     bearer(token) | {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
        assert resp.status == 201, data
        return data["id"]
    finally:
        conn.close()


def test_a_full_worker_refuses_more_streams_and_frees_the_slots_of_walls_that_left(
        tmp_path, db_url, engine, tokens):
    """One worker with 8 threads holds 4 streams; the fifth gets a 503 while lookups still
    answer; walls that close their connection free their slots within seconds (not at
    the next heartbeat, a minute here)."""
    with served(tmp_path, db_url, WORKERS="1", THREADS="8", STREAM_HEARTBEAT_S="60") as base:
        walls = [SseClient(base, tokens["viewer"]) for _ in range(4)]
        assert [w.resp.status for w in walls] == [200] * 4
        extra = SseClient(base, tokens["viewer"])
        assert extra.resp.status == 503
        assert json.loads(extra.resp.read())["error"]["code"] == "unavailable"
        assert http_get(base, f"/lookup?lon={IN_G1[0]}&lat={IN_G1[1]}", tokens["viewer"]) == 200
        for w in [*walls, extra]:
            w.close()
        deadline = time.monotonic() + 10
        while (again := SseClient(base, tokens["viewer"])).resp.status != 200:
            again.close()
            assert time.monotonic() < deadline, "the slots of closed streams stay taken"
            time.sleep(0.5)
        again.close()


def test_a_worker_answering_for_several_areas_gets_its_own_events_in_each(app, client,
                                                                         tokens):
    """Worker events carry the worker's first area; W answers for G1 and G2 and its token
    is limited to G2: its own orders and moves reach it, another worker's in G1 do not."""
    assert client.get("/api/v1/lookup?lon=103.005&lat=35.01",
                      headers=bearer(tokens["viewer"])).status_code == 200  # a live index
    wants = visible_to(Scope(G2, "W"), services(app).indexes.live)

    def row(kind: str, area: str, **payload: str) -> dict:
        return {"id": 1, "kind": kind, "area_code": area, "payload": {"area": area, **payload}}

    assert wants(row("callout.called", G1, worker="W"))  # its order, under its first area
    assert wants(row("callout.acked", G1, worker="W"))
    assert wants(row("worker.moved", G1, code="W"))
    assert wants(row("report.changed", G4, worker="W"))  # a case sent to it, elsewhere
    assert wants(row("report.created", G2))  # its token's own area, as before
    assert not wants(row("callout.called", G1, worker="V"))  # another worker's order
    assert not wants(row("worker.moved", G1, code="V"))
    assert not wants(row("report.created", G1))
    assert not visible_to(Scope(G2), services(app).indexes.live)(
        row("callout.called", G1, worker="W"))  # a center's token has no worker of its own


def test_a_client_resuming_before_the_oldest_kept_event_is_told_to_reload(
        app, client, tokens, engine):
    """The sweep prunes events after EVENT_DAYS (always keeping the newest, whose id a new
    row would otherwise reuse on SQLite); a stream resuming from a pruned id would leave a
    silent hole, so it gets `event: reset` and goes on from the current end."""
    for _ in range(3):
        post(client, tokens["dispatcher"], report())
    before = outbox_ids(engine)
    later = datetime.now(UTC) + timedelta(days=app.config["EVENT_DAYS"] + 1)
    with engine.begin() as conn:
        assert events_kept.prune_events(conn, app.config, later) == len(before) - 1
    assert outbox_ids(engine) == before[-1:]  # the newest is kept
    text = stream(client, tokens["viewer"], last=str(before[0]))
    first = text.split("\n\n")[0].split("\n")
    assert first[:3] == ["retry: 2000", f"id: {before[-1]}", "event: reset"]
    assert json.loads(first[3].removeprefix("data: ")) == {"last_event_id": before[0],
                                                           "oldest": before[-1]}
    assert [m["event"] for m in messages(text)] == ["reset"]  # no replay across the hole
    # a client whose last id is just before the oldest kept one missed nothing
    assert "event: reset" not in stream(client, tokens["viewer"], last=str(before[-1] - 1))
    assert services(app).sweeper.run()["events_pruned"] == 0  # fresh events stay


def test_the_sweep_prunes_old_events(app, client, tokens, engine):
    post(client, tokens["dispatcher"], report())
    with engine.begin() as conn:
        conn.execute(outbox.update().values(at=datetime.now(UTC) - timedelta(days=40)))
    post(client, tokens["dispatcher"], report())
    *old, kept = outbox_ids(engine)
    assert services(app).sweeper.run()["events_pruned"] == len(old)
    assert outbox_ids(engine) == [kept]
