"""Events: small facts about what changed, published through one function.

`publish(conn, event)` writes the event into the outbox in the caller's transaction, so an
event exists exactly when its change does (a rollback takes both). The unit of work
(`db.unit_of_work`) remembers what was published and, after the commit, tells in-process
listeners (`listen`, used by tests to capture events). Readers that need every event
(the live stream, other systems) read the outbox table in id order (`outbox.read_after`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import sqlalchemy as sa

from geo_service.store import outbox


@dataclass(frozen=True)
class Event:
    """Base of every event: `kind` names it on the stream; `area_code` is the area whose
    scope may see it (None: every scope, e.g. a new boundary version)."""

    kind: ClassVar[str] = "event"

    @property
    def area_code(self) -> str | None:
        return None

    def payload(self) -> dict[str, Any]:
        """The fields as a dict (shallow: every field is a plain value or a tuple of them;
        `dataclasses.asdict` deep-copies each, ~7× the time, for every event)."""
        return {name: getattr(self, name) for name in _field_names(type(self))}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


class InArea:
    """Mixin for events whose `area` field is the area whose scope may see them."""

    area: str | None

    @property
    def area_code(self) -> str | None:
        return self.area


@dataclass(frozen=True)
class BoundaryPublished(Event):
    """A boundary version went live; households were moved to their grids in it."""

    kind: ClassVar[str] = "boundary.published"
    version: int
    previous: int | None
    households_moved: int


@dataclass(frozen=True)
class ReportEvent(InArea, Event):
    """A report changed. `area` is its place in the tree (its grid, or the township it was
    routed to), which decides whose scope sees it; nothing personal is carried: a stream
    client with the right may fetch the report itself."""

    kind: ClassVar[str] = "report"
    id: str
    area: str
    status: str
    previous: str | None
    action: str
    version: int
    owner_level: str
    owner_code: str
    report_class: str
    subtype: str
    severity: str
    lon: float
    lat: float
    overdue: bool = False
    note: str = ""
    worker: str | None = None  # the assigned worker's code: its own stream shows the case


@dataclass(frozen=True)
class ReportChanged(ReportEvent):
    kind: ClassVar[str] = "report.changed"


@dataclass(frozen=True)
class ReportCreated(ReportEvent):
    kind: ClassVar[str] = "report.created"


@dataclass(frozen=True)
class ReportEscalated(ReportEvent):
    kind: ClassVar[str] = "report.escalated"


@dataclass(frozen=True)
class ReportOverdue(ReportEvent):
    """The sweep found it overdue (and escalated it, unless the prefecture owns it)."""

    kind: ClassVar[str] = "report.overdue"


@dataclass(frozen=True)
class ReportMerged(ReportEvent):
    kind: ClassVar[str] = "report.merged"


@dataclass(frozen=True)
class WorkerEvent(InArea, Event):
    """Something about a field worker. `area` is the area the worker answers for (its
    first, when several), which decides whose scope sees it; no name or phone is carried."""

    kind: ClassVar[str] = "worker"
    code: str
    area: str | None
    role: str
    status: str
    lon: float | None
    lat: float | None
    grid: str | None
    recorded_at: str | None


@dataclass(frozen=True)
class WorkerMoved(WorkerEvent):
    """A newer good fix became the worker's current position."""

    kind: ClassVar[str] = "worker.moved"


@dataclass(frozen=True)
class WorkerStatusChanged(WorkerEvent):
    """online / stale / offline / off_duty changed (by a fix, a shift, or time)."""

    kind: ClassVar[str] = "worker.status"
    previous: str | None = None


@dataclass(frozen=True)
class WorkerEnteredGrid(WorkerEvent):
    """The dwell rule moved the worker into another grid (or out of every grid: None)."""

    kind: ClassVar[str] = "worker.entered"
    left: str | None = None


@dataclass(frozen=True)
class CalloutCreated(InArea, Event):
    """An emergency call-out went out (for the command centers above it): where, to
    whom by role, and how many workers it reached. `area` is the area called, or the
    grid (township, outside every grid) of a radius call-out's point."""

    kind: ClassVar[str] = "callout.created"
    id: str
    area: str
    lon: float
    lat: float
    radius_m: float | None
    roles: tuple[str, ...]
    message: str
    called: int


@dataclass(frozen=True)
class CalloutCalled(InArea, Event):
    """One called worker's order, on its own stream: `area` is the worker's home area (as
    on every worker event), so a token limited to the worker's grid receives it and one
    outside does not; `worker` says whom it is for. Codes only, no name or phone."""

    kind: ClassVar[str] = "callout.called"
    id: str
    area: str | None
    worker: str
    callout_area: str
    lon: float
    lat: float
    radius_m: float | None
    message: str


@dataclass(frozen=True)
class CalloutAcked(InArea, Event):
    """A called worker acknowledged: how many seconds after the call, how far from the
    point (metres; None without a position). `area` as for `CalloutCalled`."""

    kind: ClassVar[str] = "callout.acked"
    id: str
    area: str | None
    worker: str
    seconds: float
    distance_m: float | None


@dataclass(frozen=True)
class CalloutClosed(InArea, Event):
    kind: ClassVar[str] = "callout.closed"
    id: str
    area: str


@dataclass(frozen=True)
class WorkerVisited(InArea, Event):
    """A worker recorded a household visit. `area` is the household's grid (whose scope
    sees it); the household itself, its people and the note are not carried: a visit
    reveals who needs care."""

    kind: ClassVar[str] = "worker.visited"
    id: int
    code: str
    area: str | None
    group: str | None
    visit_kind: str
    verified: bool
    reason: str | None
    visited_at: str


_PENDING = "geo_events"  # key in Connection.info: (transaction, event) not yet handed off
_listeners: list[Callable[[Event], None]] = []


def publish(conn: sa.Connection, event: Event) -> None:
    """Record `event` in the outbox, in the transaction of `conn`."""
    outbox.append(conn, event.kind, event.area_code, event.payload())
    conn.info.setdefault(_PENDING, []).append((conn.get_transaction(), event))


def publish_all(conn: sa.Connection, events: list[Event]) -> None:
    """`publish` each of `events`, in order, in one statement."""
    outbox.append_many(conn, [(e.kind, e.area_code, e.payload()) for e in events])
    tx = conn.get_transaction()
    conn.info.setdefault(_PENDING, []).extend((tx, e) for e in events)


def take_pending(conn: sa.Connection, tx: sa.RootTransaction) -> list[Event]:
    """The events published in transaction `tx` (the unit of work's hand-off). Whatever
    else is pending on the connection (a transaction not run by a unit of work) is
    dropped: its events are in the outbox, but no listener hears of them."""
    return [e for t, e in conn.info.pop(_PENDING, []) if t is tx]


def notify(events: list[Event]) -> None:
    """Tell in-process listeners about committed events."""
    for event in events:
        for listener in list(_listeners):
            listener(event)


@contextmanager
def listen() -> Iterator[list[Event]]:
    """Collect the events committed while the block runs (for tests and tools)."""
    seen: list[Event] = []
    _listeners.append(seen.append)
    try:
        yield seen
    finally:
        _listeners.remove(seen.append)
