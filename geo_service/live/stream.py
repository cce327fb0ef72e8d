"""One client's event stream as Server-Sent Events: replay from the outbox, then live.

Each message is `id: <outbox id>`, `event: <kind>`, `data: <the event's payload as JSON>`.
The first lines are a `retry:` hint and an `id:` without data, which sets the client's
Last-Event-ID to where the stream starts, so a reconnect before any event still loses
nothing. A stream that names a Last-Event-ID (or `after`) first replays every event after
it from the outbox, in order, then goes on live; one that names none starts at the
current end (a wall wants what happens now, not the outbox's history). One that names an
id older than the oldest kept event (the sweep prunes after `EVENT_DAYS`) first gets an
`event: reset` (`data: {"last_event_id", "oldest"}`): it missed events and should reload what it
shows; it then goes on live from the current end. Comments
(`: keepalive`) keep idle connections open through proxies.

Nothing twice, nothing lost: the subscription is taken before the replay reads, so every
event is either read by the replay or queued (or both: those are skipped by id, as ids
commit in order). A stream ends after its lifetime or when the hub drops it; the client
reconnects with the last id it saw.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from geo_service.errors import Invalid
from geo_service.live.hub import Hub, Row
from geo_service.scope import Scope, covering
from geo_service.store import outbox

if TYPE_CHECKING:
    from geo_service.versions import VersionIndex

MAX_EVENT_ID = 2**31 - 1  # outbox ids are 32-bit integers in the store
RETRY_MS = 2_000  # how long a client waits before reconnecting
CHECK_S = 1.0  # how often an idle stream checks that its client is still there


def parse_event_id(raw: str, field: str) -> int:
    """An outbox id as a client sends it back: ASCII digits, no sign, no leading zero;
    anything else is a 400 naming `field` (before any byte of the stream is sent)."""
    if raw.isascii() and raw.isdigit() and (raw == "0" or raw[0] != "0"):
        if len(raw) <= 10 and int(raw) <= MAX_EVENT_ID:
            return int(raw)
        raise Invalid(f"{field} is larger than any event id ({MAX_EVENT_ID})", field)
    shown = repr(raw) if len(raw) <= 40 else repr(raw[:37]) + "..."
    raise Invalid(f"{field} must be an event id (the digits of a stream message's id), "
                  f"got {shown}", field)


def _own(scope: Scope, row: Row) -> bool:
    """Whether an event is about the scope's own worker: its position and status (worker
    events name it as `code`), its call-out orders and answers and the cases sent to it
    (`worker`). Such an event carries the worker's first area, which for a worker
    answering for several need not be the one its token is limited to."""
    if scope.worker is None or not isinstance(payload := row["payload"], dict):
        return False
    if row["kind"].startswith("worker.") and scope.own_positions(str(payload.get("code"))):
        return True
    return scope.own_case(payload.get("worker"))


def _workers_named(row: Row) -> set[str]:
    """The workers an event may be `_own` to (a superset: `_own` decides)."""
    payload = row["payload"]
    if not isinstance(payload, dict):
        return set()
    out = {str(payload["worker"])} if payload.get("worker") is not None else set()
    if row["kind"].startswith("worker.") and payload.get("code") is not None:
        out.add(str(payload["code"]))
    return out


class Visible:
    """Which events a stream under `scope` may see: those of areas inside it (the one
    policy, against the live version at the time), those of no area, and a worker's own
    (`_own`) wherever they lie. Payloads carry nothing personal (see `events`), so the
    role changes nothing here.

    Called on one row (a replay), or `pick` on a batch: the hub hands every stream of a
    process the same batch and one `shared` dict, and the first stream sorts the batch's
    rows by the scope areas that may see them (`scope.covering`) and by the workers they
    name; each stream then takes its own lists in a lookup or two. A call-out of 1,000
    events to 1,000 phones is then ~6,000 appends, not a million scope tests."""

    def __init__(self, scope: Scope, live: Callable[[], VersionIndex | None]) -> None:
        self.scope, self.area, self.live = scope, scope.area, live

    def __call__(self, row: Row) -> bool:
        if self.area is None or _own(self.scope, row):
            return True
        code = row["area_code"]
        if code is None:
            return True
        vi = self.live()
        return vi is not None and self.area in covering(vi, code)

    def pick(self, rows: list[Row], shared: dict[Any, Any]) -> list[Row]:
        """The rows of `rows` this stream may see, in order."""
        if self.area is None:
            return list(rows)
        vi = self.live()
        key = (Visible, None if vi is None else vi.version, id(rows))
        batch = shared.get(key)
        if batch is None:
            batch = shared[key] = _by_scope(rows, vi)
        by_area, by_worker = batch
        lists = [by_area.get(self.area, []), by_area[None]]
        if self.scope.worker is not None:
            lists.append([r for r in by_worker.get(self.scope.worker, [])
                          if _own(self.scope, r)])
        lists = [x for x in lists if x]
        if len(lists) <= 1:
            return list(lists[0]) if lists else []
        out: list[Row] = []
        for row in heapq.merge(*lists, key=lambda r: r["id"]):
            if not out or out[-1]["id"] != row["id"]:  # one row may be in two lists
                out.append(row)
        return out


def _by_scope(rows: list[Row], vi: VersionIndex | None
              ) -> tuple[dict[str | None, list[Row]], dict[str, list[Row]]]:
    """Rows by each scope area that may see them, in order, with under None the rows of
    no area (every stream sees those); and rows by the workers they name. Without a live
    version no area row is visible by its area."""
    by_area: dict[str | None, list[Row]] = {None: []}
    by_worker: dict[str, list[Row]] = {}
    seen: dict[str, list[str]] = {}
    for row in rows:
        for worker in _workers_named(row):
            by_worker.setdefault(worker, []).append(row)
        code = row["area_code"]
        if code is None:
            by_area[None].append(row)
            continue
        if vi is None:
            continue
        scopes = seen.get(code)
        if scopes is None:
            scopes = seen[code] = covering(vi, code)
        for area in scopes:
            by_area.setdefault(area, []).append(row)
    return by_area, by_worker


def visible_to(scope: Scope, live: Callable[[], VersionIndex | None]) -> Visible:
    """The filter of a stream under `scope` (see `Visible`)."""
    return Visible(scope, live)


def _oldest(engine: sa.Engine) -> int | None:
    with engine.connect() as conn:
        return outbox.first_id(conn)


def message(row: Row) -> str:
    data = json.dumps(row["payload"], ensure_ascii=False, separators=(",", ":"))
    return f"id: {row['id']}\nevent: {row['kind']}\ndata: {data}\n\n"


def event_stream(engine: sa.Engine, hub: Hub, wants: Callable[[Row], bool],
                 after: int | None, *, heartbeat_s: float, lifetime_s: float,
                 allowed: Callable[[], bool] = lambda: True,
                 gone: Callable[[], bool] = lambda: False, page: int = 500
                 ) -> Iterator[str]:
    """The stream's text, message by message. It ends after `lifetime_s` seconds, when the
    hub drops the subscription, within `CHECK_S` once `allowed()` is false (a token revoked
    while its stream is open: checked on a clock, busy or idle, so a wall that never goes
    quiet cannot keep a revoked token), or within `CHECK_S` once `gone()` says the client closed
    the connection (else only the next write would notice, and a worker's stream slots
    would stay taken by walls that went away)."""
    sub = hub.subscribe(wants)
    try:
        deadline = time.monotonic() + lifetime_s
        cursor = sub.start if after is None else after
        if after is not None and (oldest := _oldest(engine)) is not None and oldest > after + 1:
            # Pruned since the client's last id: a replay would leave a silent hole. Say so
            # (the client reloads what it shows) and go on live from the current end.
            gap = json.dumps({"last_event_id": after, "oldest": oldest})
            cursor, after = sub.start, None
            yield f"retry: {RETRY_MS}\nid: {cursor}\nevent: reset\ndata: {gap}\n\n"
        else:
            yield f"retry: {RETRY_MS}\nid: {cursor}\n\n"
        if after is not None:
            while True:
                with engine.connect() as conn:
                    rows = outbox.read_after(conn, cursor, page)
                for row in rows:
                    if wants(row):
                        yield message(row)
                if rows:
                    cursor = rows[-1]["id"]
                if len(rows) < page:
                    break
        sent = checked = time.monotonic()
        while (now := time.monotonic()) < deadline:
            rows = sub.take(min(deadline - now, CHECK_S, max(sent + heartbeat_s - now, 0)))
            if sub.dropped:
                return
            if now - checked >= CHECK_S:
                if not allowed():
                    return
                checked = now
            fresh = [r for r in rows if r["id"] > cursor]
            if fresh:
                for row in fresh:
                    yield message(row)
                cursor, sent = fresh[-1]["id"], time.monotonic()
            elif sent + heartbeat_s <= (now := time.monotonic()) < deadline:
                yield ": keepalive\n\n"
                sent = now
            elif gone():
                return
    finally:
        hub.unsubscribe(sub)
