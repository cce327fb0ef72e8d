"""What a report is: its vocabularies, its states, and the one table of transitions.

The lifecycle is DOMAIN.md's: reported → accepted → assigned → in_progress → resolved →
followed_up → closed, plus escalated (to the parent level), returned (sent back down with
a reason) and reopened. Every step is a row of `TRANSITIONS` (action: from which states,
to which state, by which roles); anything else is refused with the actions that are
allowed, so a client can always say what it may do next.
"""

from __future__ import annotations

from dataclasses import dataclass

from boundaries.levels import LEVELS

# subtype -> class; a subtype belongs to exactly one class (DOMAIN.md's three classes).
SUBTYPES: dict[str, str] = {
    "risk_warning": "attention",
    "unusual_event": "attention",
    "emergency": "attention",
    "dispute": "management",
    "safety_hazard": "management",
    "public_order": "management",
    "environment": "management",
    "help_request": "service",
    "care_visit": "service",
    "policy_inquiry": "service",
}
CLASSES = ("attention", "management", "service")
SEVERITIES = ("normal", "urgent")
CHANNELS = ("app", "hotline", "open311", "web")

STATES = ("reported", "accepted", "assigned", "in_progress", "resolved", "followed_up",
          "closed", "escalated", "returned", "reopened")
# Work is due (an SLA runs, the sweep may escalate) in these; resolved cases wait only for
# their follow-up visit.
ACTIVE = frozenset({"reported", "accepted", "assigned", "in_progress", "escalated",
                    "returned", "reopened"})
OPEN = ACTIVE | {"resolved", "followed_up"}  # everything not closed

HANDLERS = ("admin", "dispatcher")
FIELD = ("admin", "dispatcher", "worker")


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    roles: tuple[str, ...]
    why: str


TRANSITIONS: dict[str, Transition] = {
    "accept": Transition(frozenset({"reported", "escalated", "returned", "reopened"}),
                         "accepted", FIELD, "the owning level takes the case on"),
    "assign": Transition(frozenset({"accepted", "assigned", "in_progress"}), "assigned",
                         HANDLERS, "sent (or re-sent) to a worker; names `worker`"),
    "start": Transition(frozenset({"assigned"}), "in_progress", FIELD,
                        "the assigned worker is on it"),
    "resolve": Transition(frozenset({"accepted", "assigned", "in_progress"}), "resolved",
                          FIELD, "the matter is dealt with"),
    "follow_up": Transition(frozenset({"resolved"}), "followed_up", FIELD,
                            "the reporter was visited or called back (回访)"),
    "close": Transition(frozenset({"followed_up"}), "closed", HANDLERS, "done"),
    "escalate": Transition(frozenset({"reported", "accepted", "assigned", "in_progress",
                                      "returned", "reopened"}), "escalated", FIELD,
                           "the owning level cannot close it: its parent level owns it"),
    "return": Transition(frozenset({"escalated", "accepted"}), "returned", HANDLERS,
                         "sent back down one level, with a reason (`note`)"),
    "reopen": Transition(frozenset({"resolved", "followed_up", "closed"}), "reopened",
                         HANDLERS, "not done after all"),
    "merge": Transition(ACTIVE, "closed", HANDLERS,
                        "a duplicate closes into its original (`into`); both histories kept"),
}


def allowed_actions(status: str, role: str) -> list[str]:
    """The actions `role` may take on a case in `status`."""
    return [a for a, t in TRANSITIONS.items() if status in t.sources and role in t.roles]


def rank(level: str) -> int:
    """A level's depth in the tree (prefecture 0 … grid 4)."""
    return LEVELS.index(level)


LEVEL_COLUMN = {level: f"{level}_code" for level in LEVELS}
