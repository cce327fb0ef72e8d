"""Who may see what of a household, and the masks everyone else sees.

The decision, per role (the README's "Personal data" table says the same):

| role | head's name and phone | address | position | care tags |
| --- | --- | --- | --- | --- |
| admin, dispatcher | in full | in full | exact | all |
| worker | masked | in full | exact | all |
| planner | masked | up to the village | to 0.001° (~100 m) | none |
| viewer | no household list at all | | | |

Workers visit the households of their own grids (their token is scoped to them) and care
households most often, so they need the door and the circumstances, not the phone number.
Planners redraw boundaries: they need where households are, roughly, and how many, never
who needs care (disabled, low-income, orphan are sensitive).
"""

from __future__ import annotations

import re
from typing import Any

PII_ROLES = frozenset({"admin", "dispatcher"})
DOOR_ROLES = frozenset({"admin", "dispatcher", "worker"})  # exact address and position
_NUMBER = re.compile(r"\d")


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***, 张 -> *: the surname's first character stays only
    when something else is hidden."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[:1] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678; short numbers keep only their last two digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:] if digits else ""


def mask_address(address: str) -> str:
    """合作市当周街道甲村3社12号 -> 合作市当周街道甲村…: the part before the first number
    (the township and village), never the door."""
    m = _NUMBER.search(address)
    return address if m is None else address[:m.start()] + "…"


def person_view(name: str, phone: str, role: str) -> dict[str, str]:
    """Name and phone as the given role may see them."""
    if role in PII_ROLES:
        return {"name": name, "phone": phone}
    return {"name": mask_name(name), "phone": mask_phone(phone)}


def household_view(address: str, lon: float, lat: float, care_tags: str, role: str
                   ) -> dict[str, Any]:
    """Address, position and care tags of a household as `role` may see them."""
    if role in DOOR_ROLES:
        return {"address": address, "lon": lon, "lat": lat,
                "care_tags": [t for t in care_tags.split(";") if t]}
    return {"address": mask_address(address), "lon": round(lon, 3), "lat": round(lat, 3),
            "care_tags": []}
