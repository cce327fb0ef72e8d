"""Who may see household heads' names and phones, and the masks everyone else sees."""

from __future__ import annotations

PII_ROLES = frozenset({"admin", "dispatcher"})


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the surname's first character stays."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678; short numbers keep only their last two digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:] if digits else ""


def person_view(name: str, phone: str, role: str) -> dict[str, str]:
    """Name and phone as the given role may see them."""
    if role in PII_ROLES:
        return {"name": name, "phone": phone}
    return {"name": mask_name(name), "phone": mask_phone(phone)}
