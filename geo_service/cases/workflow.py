"""Moving a case through its lifecycle (`model.TRANSITIONS`), and up and down the tree.

Every action names the version of the case the client saw: a stale one is refused (409
`stale_version`) rather than overwriting what someone else just did. An action that the
table does not allow from the case's state, or not to the caller's role, is refused with
the actions that are allowed (409 `illegal_transition`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from boundaries.levels import LEVELS
from geo_service.auth import Principal
from geo_service.cases.model import TRANSITIONS, allowed_actions, rank
from geo_service.cases.records import (
    home_area,
    record_step,
    require_report,
    update_report,
)
from geo_service.cases.sla import due_at, local_day
from geo_service.errors import Conflict, Forbidden, Invalid, NotFound
from geo_service.events import ReportChanged, ReportEscalated, ReportMerged
from geo_service.scope import Scope
from geo_service.store.tables import reports, worker_areas, worker_state, workers
from geo_service.versions import VersionIndex
from geo_service.workers.status import status_of

MAX_NOTE = 2000
# What the worker a case was sent to may do with it, whatever level owns it now.
ASSIGNEE_ACTIONS = frozenset({"start", "resolve", "follow_up"})


def _illegal(row: dict[str, Any], action: str, role: str, why: str) -> Conflict:
    allowed = allowed_actions(row["status"], role)
    return Conflict(f"cannot {action} report {row['id']}: {why}; allowed now: "
                    f"{', '.join(allowed) or 'nothing'}", "action", code="illegal_transition",
                    detail={"status": row["status"], "allowed": allowed})


def _home_rank(row: dict[str, Any]) -> int:
    """The lowest level a case can be owned at: its grid, or its township when it lies
    in no grid."""
    return rank("township") if row["outside"] else rank("grid")


def _move(row: dict[str, Any], steps: int) -> dict[str, Any]:
    """Owner level and code `steps` levels up (negative: down) the case's own chain,
    skipping a level its chain does not have."""
    i = rank(row["owner_level"])
    while True:
        i -= steps
        if not 0 <= i < len(LEVELS):
            raise Conflict(f"report {row['id']} has no level to move to", "action",
                           code="illegal_transition")
        if code := row[f"{LEVELS[i]}_code"]:
            return {"owner_level": LEVELS[i], "owner_code": code}


def _worker_for(conn: sa.Connection, vi: VersionIndex, code: Any, row: dict[str, Any], *,
                scope: Scope, settings: dict[str, Any], now: datetime) -> str:
    """An existing worker who answers for an area under the level that owns the case (and
    inside the caller's scope), and who is on duty with a recent fix (`online`): a case
    sent to a phone that is off, silent or elsewhere waits unseen."""
    if not isinstance(code, str) or not code:
        raise Invalid("assign needs `worker`: the code of the worker to send", "worker",
                      code="missing")
    found = conn.execute(
        sa.select(workers.c.id, workers.c.on_duty, worker_state.c.recorded_at)
        .outerjoin(worker_state, worker_state.c.worker_code == workers.c.code)
        .where(workers.c.code == code)).first()
    theirs = [] if found is None else conn.execute(sa.select(worker_areas.c.area_code).where(
        worker_areas.c.worker_id == found.id)).scalars().all()
    if found is None or not any(scope.covers(vi, a) for a in theirs):
        raise NotFound(f"no worker {code[:40]!r}", "worker", code="unknown_worker")
    owner = Scope(row["owner_code"])
    if not any(owner.covers(vi, a) for a in theirs):
        raise Conflict(f"worker {code} answers for no area under {row['owner_code']}, the "
                       "level that owns this case", "worker", code="worker_out_of_area")
    status = status_of(found.on_duty, found.recorded_at, now, settings)
    if status != "online":
        why = {"off_duty": "is off duty", "stale": "has sent no fix for "
               f"{settings['STALE_MIN']:g} minutes or more", "offline": "is offline"}[status]
        raise Conflict(f"worker {code} {why}: send someone who is online", "worker",
                       code="worker_unavailable", detail={"status": status})
    return code


def act(conn: sa.Connection, vi: VersionIndex, report_id: str, action: str, *,
        actor: Principal, scope: Scope, version: Any, settings: dict[str, Any],
        now: datetime, note: str = "", worker: Any = None, into: Any = None
        ) -> dict[str, Any]:
    """Take `action` on a case at the version the caller saw; returns the new row."""
    if action not in TRANSITIONS:
        raise Invalid(f"unknown action {action[:40]!r}; actions: {', '.join(TRANSITIONS)}",
                      "action", code="invalid_action")
    if version is None:
        raise Invalid("version is required: the report's version you acted on", "version",
                      code="missing")
    if type(version) is not int:
        raise Invalid("version must be the report's version number (an integer)", "version",
                      code="invalid_version")
    if not isinstance(note, str) or len(note) > MAX_NOTE or "\x00" in note:
        raise Invalid(f"note must be text of at most {MAX_NOTE} characters, without NUL", "note",
                      code="invalid_note")
    if action == "merge" and isinstance(into, str):
        lock_reports(conn, report_id, into)
    row = require_report(conn, report_id)
    if not scope.covers(vi, home_area(row)):
        raise NotFound(f"no report {report_id[:40]!r}", "id", code="unknown_report")
    rule = TRANSITIONS[action]
    if actor.role not in rule.roles:
        raise Forbidden(f"role {actor.role} may not {action} a report", "action")
    mine = scope.own_case(row["assigned_worker"])
    if not (scope.covers(vi, row["owner_code"])  # each level acts on what it owns (分级负责)
            or mine and action in ASSIGNEE_ACTIONS):  # and a worker on what it was sent to
        raise Forbidden(f"report {report_id} is owned by {row['owner_level']} "
                        f"{row['owner_code']}; this token acts for area {scope.area} only",
                        "action", code="out_of_scope")
    if version != row["version"]:
        raise Conflict(f"report {report_id} is at version {row['version']}, you sent "
                       f"{version}: reload it and decide again", "version",
                       code="stale_version", detail={"current_version": row["version"]})
    if row["status"] not in rule.sources:
        raise _illegal(row, action, actor.role, f"it is {row['status']}")
    if actor.role == "worker" and row["assigned_worker"] and not mine:
        raise Forbidden(f"report {report_id} is assigned to another worker", "action")
    changes: dict[str, Any] = {"status": rule.target, "updated_at": now}
    event = ReportChanged
    if action == "accept" and row["accepted_at"] is None:
        changes |= {"accepted_at": now,
                    "accept_s": int((now - row["received_at"]).total_seconds())}
    elif action == "assign":
        changes["assigned_worker"] = _worker_for(conn, vi, worker, row, scope=scope,
                                                 settings=settings, now=now)
    elif action == "close":
        changes |= closing(row, settings, now)
    elif action == "reopen":
        changes |= {"closed_at": None, "closed_day": None, "close_s": None}
    elif action == "escalate":
        if rank(row["owner_level"]) == 0:
            raise _illegal(row, action, actor.role, "the prefecture owns it already")
        changes |= escalation(row, settings, now)
        event = ReportEscalated
    elif action == "return":
        if rank(row["owner_level"]) >= _home_rank(row):
            raise _illegal(row, action, actor.role, "it is at its own level already")
        if not note.strip():
            raise Invalid("return needs a reason in `note`", "note", code="missing")
        changes |= _move(row, -1) | {"assigned_worker": None, "due_at": due_at(
            settings, row["class"], row["severity"], now)}
    elif action == "merge":
        target = _merge_target(conn, vi, scope, row, into)
        changes |= closing(row, settings, now) | {"merged_into": target["id"]}
        event = ReportMerged
        target = update_report(conn, target, {"updated_at": now})  # a merge moves both
        record_step(conn, target, ReportMerged, actor=actor.name, action="absorb",
                    previous=target["status"], now=now, note=f"absorbed {row['id']}")
    new = update_report(conn, row, changes)
    record_step(conn, new, event, actor=actor.name, action=action, previous=row["status"],
                now=now, note=note)
    return new


def lock_reports(conn: sa.Connection, *ids: str) -> None:
    """Lock rows of reports in one order (PostgreSQL; SQLite's writer lock is held already),
    so two merges of the same pair at once run one after the other and the second sees the
    first's result instead of both succeeding."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(reports.c.seq).where(reports.c.id.in_(ids))
                     .order_by(reports.c.seq).with_for_update())


def closing(row: dict[str, Any], settings: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"closed_at": now, "closed_day": local_day(now, settings["TIMEZONE"]),
            "close_s": int((now - row["received_at"]).total_seconds())}


def escalation(row: dict[str, Any], settings: dict[str, Any], now: datetime
               ) -> dict[str, Any]:
    """What escalating a case one level changes: owner, deadline, how far it climbed."""
    up = _move(row, 1)
    return up | {"assigned_worker": None, "escalations": row["escalations"] + 1,
                 "peak_rank": min(row["peak_rank"], rank(up["owner_level"])),
                 "due_at": due_at(settings, row["class"], row["severity"], now)}


def _merge_target(conn: sa.Connection, vi: VersionIndex, scope: Scope, row: dict[str, Any],
                  into: Any) -> dict[str, Any]:
    if not isinstance(into, str) or not into:
        raise Invalid("merge needs `into`: the id of the original report", "into",
                      code="missing")
    if into == row["id"]:
        raise Invalid("a report cannot be merged into itself", "into", code="invalid_into")
    target = require_report(conn, into)
    if not scope.covers(vi, home_area(target)):
        raise NotFound(f"no report {into[:40]!r}", "into", code="unknown_report")
    if target["merged_into"] or target["status"] == "closed":
        raise Conflict(f"report {into} is closed; merge into an open one", "into",
                       code="illegal_transition")
    return target
