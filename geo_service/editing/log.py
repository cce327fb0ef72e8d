"""A draft's edit log: every edit with the states it replaced and wrote, for undo/redo.

Why states and not inverse operations: an inverse of "snap, cut the neighbours, remove the
slivers" does not exist, but putting back what was there does, to the last bit. A new
edit after some undos drops the undone ones (the usual linear history).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from geo_service.editing.drafts import Draft
from geo_service.editing.states import State, restore, snapshot
from geo_service.errors import Conflict
from geo_service.store.tables import draft_edits


def record(conn: sa.Connection, draft: Draft, op: dict[str, Any], before: dict[str, State],
           after: dict[str, State], author: str) -> int:
    """Write `after` into the draft and log it; returns the edit's number."""
    restore(conn, draft.id, draft.base, after)
    return append(conn, draft, op, before, snapshot(conn, draft.id, draft.base, set(after)),
                  author)


def append(conn: sa.Connection, draft: Draft, op: dict[str, Any], before: dict[str, State],
           after: dict[str, State], author: str) -> int:
    """Log an edit already written (`after`: the states it left); drops undone edits."""
    conn.execute(draft_edits.delete().where(draft_edits.c.draft_id == draft.id,
                                            draft_edits.c.undone.is_(True)))
    seq = (conn.execute(sa.select(sa.func.max(draft_edits.c.seq)).where(
        draft_edits.c.draft_id == draft.id)).scalar() or 0) + 1
    conn.execute(draft_edits.insert().values(
        draft_id=draft.id, seq=seq, op=op, before=before, after=after, undone=False,
        author=author, at=datetime.now(UTC)))
    return seq


def _step(conn: sa.Connection, draft: Draft, undone: bool
          ) -> tuple[int, dict[str, State], dict[str, State]]:
    """Undo (`undone` False: the last edit in effect) or redo (True: the first undone):
    (its number, the states now written, those they replace); 409 when there is none."""
    seq = draft_edits.c.seq
    row = conn.execute(sa.select(draft_edits).where(
        draft_edits.c.draft_id == draft.id, draft_edits.c.undone.is_(undone))
        .order_by(seq if undone else seq.desc()).limit(1)).first()
    if row is None and undone:
        raise Conflict(f"draft {draft.id} has no undone edit to redo", "draft_id",
                       code="nothing_to_redo")
    if row is None:
        raise Conflict(f"draft {draft.id} has no edit to undo", "draft_id",
                       code="nothing_to_undo")
    now, then = (row.after, row.before) if undone else (row.before, row.after)
    restore(conn, draft.id, draft.base, now)
    conn.execute(draft_edits.update().where(draft_edits.c.draft_id == draft.id,
                                            seq == row.seq).values(undone=not undone))
    return row.seq, now, then


def undo(conn: sa.Connection, draft: Draft) -> tuple[int, dict[str, State], dict[str, State]]:
    """Put back what the last edit in effect replaced."""
    return _step(conn, draft, undone=False)


def redo(conn: sa.Connection, draft: Draft) -> tuple[int, dict[str, State], dict[str, State]]:
    """Make the first undone edit again."""
    return _step(conn, draft, undone=True)
