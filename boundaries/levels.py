"""The area tree: its levels, in order from the top, and who may be whose parent."""

LEVELS: tuple[str, ...] = ("prefecture", "county", "township", "village", "grid", "group")

LEVEL_NAMES_ZH: dict[str, str] = {
    "prefecture": "州/市",
    "county": "县/市",
    "township": "乡镇/街道",
    "village": "村/社区",
    "grid": "网格",
    "group": "十户联防组",
}


def parent_level(level: str) -> str | None:
    """The level directly above `level` (None for the prefecture)."""
    i = LEVELS.index(check_level(level))
    return LEVELS[i - 1] if i else None


def check_level(level: str) -> str:
    """Return `level` if it is a known level, else raise ValueError naming the choices."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return level
