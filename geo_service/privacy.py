"""Who may see what of a household, and the masks everyone else sees.

The decision, per role (the README's "Personal data" table says the same):

| role | head's name and phone | address | position | care tags |
| --- | --- | --- | --- | --- |
| admin, dispatcher | in full | in full | exact | all |
| worker | masked | in full | exact | all |
| planner | masked | the village or community only | to 0.001° (~100 m) | none |
| viewer | no household list at all | | | |

Workers visit the households of their own grids (their token is scoped to them) and care
households most often, so they need the door and the circumstances, not the phone number.
Planners redraw boundaries: they need where households are, roughly, and how many, never
who needs care (disabled, low-income, orphan are sensitive). A list of the care households
overdue for a visit says who needs care as much as their tags do: only the roles that see
care tags get it (`CARE_ROLES`); planners and viewers get counts.
"""

from __future__ import annotations

from typing import Any

PII_ROLES = frozenset({"admin", "dispatcher"})
DOOR_ROLES = frozenset({"admin", "dispatcher", "worker"})  # exact address and position
CARE_ROLES = DOOR_ROLES  # care tags, and which households need a visit


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***, 张 -> *: the surname's first character stays only
    when something else is hidden."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[:1] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678; numbers of 6 to 10 digits keep their last two, shorter
    ones nothing. Only the digits are shown at all: text written into the field (a name,
    a note) never is."""
    digits = phone if phone.isascii() and phone.isdigit() else "".join(
        c for c in phone if c.isascii() and c.isdigit())  # (most are digits only: at once)
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) >= 6:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_address(village: str | None) -> str:
    """What a planner sees of an address: the village or community it is in (from the
    area tree, never cut out of the address text, which may spell the door in words)."""
    return f"{village}…" if village else "…"


def person_view(name: str, phone: str, role: str) -> dict[str, str]:
    """Name and phone as the given role may see them."""
    if role in PII_ROLES:
        return {"name": name, "phone": phone}
    return {"name": mask_name(name), "phone": mask_phone(phone)}


def household_view(address: str, lon: float, lat: float, care_tags: str, role: str, *,
                   village: str | None = None) -> dict[str, Any]:
    """Address, position and care tags of a household as `role` may see them (`village`:
    the name of the village or community its grid lies in)."""
    if role in DOOR_ROLES:
        return {"address": address, "lon": lon, "lat": lat,
                "care_tags": [t for t in care_tags.split(";") if t]}
    return {"address": mask_address(village), "lon": round(lon, 3), "lat": round(lat, 3),
            "care_tags": []}
