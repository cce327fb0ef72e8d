"""Users, roles and API bearer tokens. Every endpoint is denied unless it says who may call.

Tokens are random, shown once, and stored only as SHA-256 hashes. A token may be limited
to one subtree of the area tree (a county's or a township's center).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from .errors import ApiError
from .models import api_tokens, users

ROLES = ("admin", "planner", "dispatcher", "worker", "viewer")
ANY_ROLE = ROLES
PUBLIC = "public"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's user, role and (optional) area scope."""

    name: str
    role: str
    area_code: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: sa.Connection, *, name: str, role: str,
                 area_code: str | None = None) -> str:
    """Create (or update) user `name` with `role` and return a new token for it, once."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    now = datetime.now(UTC)
    user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
    if user_id is None:
        user_id = conn.execute(users.insert().values(
            name=name, role=role, area_code=area_code, created_at=now)).inserted_primary_key[0]
    else:
        conn.execute(users.update().where(users.c.id == user_id)
                     .values(role=role, area_code=area_code))
    token = "gs_" + secrets.token_urlsafe(32)
    conn.execute(api_tokens.insert().values(
        user_id=user_id, token_hash=_hash(token), prefix=token[:10], created_at=now))
    return token


def revoke_tokens(conn: sa.Connection, *, name: str | None = None,
                  prefix: str | None = None) -> int:
    """Revoke a user's tokens, or the one token starting with `prefix`; returns how many."""
    q = api_tokens.update().where(api_tokens.c.revoked_at.is_(None))
    if prefix:
        q = q.where(api_tokens.c.prefix == prefix[:10])
    elif name:
        q = q.where(api_tokens.c.user_id.in_(
            sa.select(users.c.id).where(users.c.name == name).scalar_subquery()))
    else:
        raise ValueError("name or prefix is required")
    return conn.execute(q.values(revoked_at=datetime.now(UTC))).rowcount


class TokenCache:
    """Verified tokens, remembered for `ttl` seconds so a lookup costs no query.

    A revoked token stops working within `ttl` seconds in every process.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Principal | None]] = {}

    def verify(self, conn_factory, token: str) -> Principal | None:  # noqa: ANN001
        key = _hash(token)
        hit = self._seen.get(key)
        now = time.monotonic()
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with conn_factory() as conn:
            row = conn.execute(
                sa.select(users.c.name, users.c.role, users.c.area_code)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == key, api_tokens.c.revoked_at.is_(None))
            ).first()
        principal = Principal(row.name, row.role, row.area_code) if row else None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, principal)
        return principal


def authorize(principal: Principal | None, allowed: tuple[str, ...] | None) -> None:
    """Raise 401/403 unless `principal` may call an endpoint that allows `allowed`."""
    if allowed is not None and PUBLIC in allowed:
        return
    if principal is None:
        raise ApiError(401, "unauthorized",
                       "a valid bearer token is required (Authorization: Bearer <token>)")
    if not allowed or principal.role not in allowed:
        raise ApiError(403, "forbidden",
                       f"role {principal.role!r} may not use this endpoint")
