"""The area tree: its levels, in order from the top, and who may be whose parent."""

from boundaries.errors import Invalid

LEVELS: tuple[str, ...] = ("prefecture", "county", "township", "village", "grid", "group")


def parent_level(level: str) -> str | None:
    """The level directly above `level` (None for the prefecture)."""
    i = LEVELS.index(check_level(level))
    return LEVELS[i - 1] if i else None


def check_level(level: str) -> str:
    """Return `level` if it is a known level, else `Invalid` naming the choices."""
    if level not in LEVELS:
        raise Invalid(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}",
                      "level", code="invalid_level")
    return level
