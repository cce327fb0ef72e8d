"""What the editor's API answers after an edit, an undo or a redo, and a draft in full."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from geo_service.editing.apply import Outcome
from geo_service.editing.drafts import Draft, describe, log_state
from geo_service.editing.files import collection
from geo_service.editing.problems import draft_problems
from geo_service.editing.states import frame


def edit_answer(conn: sa.Connection, draft: Draft, outcome: Outcome) -> dict[str, Any]:
    """{edit, changed: the touched areas as they are now, removed, problems, can_undo,
    can_redo}."""
    present = {c for c, s in outcome.after.items() if s is not None}
    rows = frame(conn, draft.id, draft.base, codes=present)
    _, can_undo, can_redo = log_state(conn, draft.id)
    return {"edit": outcome.seq, "changed": collection(rows),
            "removed": sorted(c for c, s in outcome.after.items() if s is None),
            "problems": outcome.problems, "can_undo": can_undo, "can_redo": can_redo}


def draft_answer(conn: sa.Connection, draft: Draft, tolerance_m: float) -> dict[str, Any]:
    """The draft with its problems."""
    return {**describe(conn, draft),
            "problems": draft_problems(conn, draft.id, draft.base, tolerance_m)}
