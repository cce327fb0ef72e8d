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

from geo_service.audit import audit
from geo_service.errors import Forbidden, Invalid, NotFound, Unauthorized
from geo_service.store.tables import api_tokens, areas, audit_log, users, worker_areas, workers
from geo_service.versions import live_version, valid_in

ROLES = ("admin", "planner", "dispatcher", "worker", "viewer")
ANY_ROLE = ROLES
DRAFT_ROLES = ("admin", "planner")  # who may see unpublished boundary versions
PUBLIC = "public"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's user, role, (optional) area scope and, for a field
    worker's token, the worker's code."""

    name: str
    role: str
    area_code: str | None = None
    worker_code: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: sa.Connection, *, name: str, role: str,
                 area_code: str | None = None, worker_code: str | None = None,
                 actor: str = "cli") -> str:
    """A new token for user `name` (created if new) with its own `role` and area scope;
    returned once. Earlier tokens of the same user keep the rights they were issued with.
    `area_code` must name an area of the live boundary version; `worker_code` (role
    `worker` only) an existing field worker. A worker's token is always limited to an area
    (the worker's own when it has one): workers see households' doors and care needs."""
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; expected one of {', '.join(ROLES)}", "role",
                      code="invalid_role")
    if worker_code is not None:
        if role != "worker":
            raise Invalid("only a token of role worker names a worker", "worker")
        worker_id = conn.execute(sa.select(workers.c.id).where(workers.c.code == worker_code)
                                 ).scalar()
        if worker_id is None:
            raise NotFound(f"no worker {worker_code!r}", "worker", code="unknown_worker")
        theirs = conn.execute(sa.select(worker_areas.c.area_code).where(
            worker_areas.c.worker_id == worker_id)).scalars().all()
        if area_code is None:  # the one area the worker answers for, if there is one
            area_code = theirs[0] if len(theirs) == 1 else None
        elif not _within(conn, area_code, set(theirs)):
            raise Forbidden(f"worker {worker_code} answers for {', '.join(theirs) or 'no area'}"
                            f"; its token cannot be limited to {area_code}, which is not one "
                            "of them or inside one", "area", code="out_of_scope")
    if role == "worker" and area_code is None:
        raise Invalid("a worker's token is limited to the area the worker answers for: "
                      "give --area (or --worker of a worker with one area)", "area",
                      code="missing")
    if area_code is not None:
        live = live_version(conn)
        found = live is not None and conn.execute(sa.select(areas.c.id).where(
            valid_in(live), areas.c.code == area_code).limit(1)).first()
        if not found:
            raise _unknown_area(area_code)
    now = datetime.now(UTC)
    user_id = _user_id(conn, name, now)
    token = "gs_" + secrets.token_urlsafe(32)
    conn.execute(api_tokens.insert().values(
        user_id=user_id, token_hash=_hash(token), prefix=token[:10], role=role,
        area_code=area_code, worker_code=worker_code, created_at=now))
    audit(conn, actor, "create_token", name, prefix=token[:10], role=role, area=area_code,
          **({"worker": worker_code} if worker_code else {}))
    return token


def _unknown_area(code: str) -> NotFound:
    return NotFound(f"no area {code!r} in the live boundary version: a token can only be "
                    "limited to an existing area", "area", code="unknown_area")


def _user_id(conn: sa.Connection, name: str, now: datetime) -> int:
    """The id of user `name`, made now if new."""
    user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
    if user_id is None:
        user_id = conn.execute(users.insert().values(
            name=name, created_at=now)).inserted_primary_key[0]
    return user_id


def create_worker_tokens(conn: sa.Connection, *, name: str, worker_codes: list[str],
                         actor: str = "cli") -> dict[str, str]:
    """A phone token for each of `worker_codes`, all for user `name`: what `create_token`
    makes for `role="worker", worker_code=code` (limited to the worker's one area, which
    must exist in the live version; the same errors), one audit line each, but in a few
    statements for thousands of workers (one `create_token` per worker is ~6 statements:
    seconds for a roster). Returns worker code -> token, each shown once."""
    codes = list(dict.fromkeys(worker_codes))
    theirs: dict[str, list[str]] = {c: [] for c in codes}
    known: set[str] = set()
    for i in range(0, len(codes), 500):  # IN lists the drivers take
        chunk = codes[i:i + 500]
        for code, area in conn.execute(
                sa.select(workers.c.code, worker_areas.c.area_code)
                .outerjoin(worker_areas, worker_areas.c.worker_id == workers.c.id)
                .where(workers.c.code.in_(chunk))):
            known.add(code)
            if area is not None:
                theirs[code].append(area)
    area_of: dict[str, str] = {}
    for code in codes:
        if code not in known:
            raise NotFound(f"no worker {code!r}", "worker", code="unknown_worker")
        if len(theirs[code]) != 1:
            raise Invalid("a worker's token is limited to the area the worker answers for: "
                          "give --area (or --worker of a worker with one area)", "area",
                          code="missing")
        area_of[code] = theirs[code][0]
    live = live_version(conn)
    wanted = sorted(set(area_of.values()))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        if live is not None:
            found.update(conn.execute(sa.select(areas.c.code).where(
                valid_in(live), areas.c.code.in_(wanted[i:i + 500]))).scalars())
    for area in wanted:
        if area not in found:
            raise _unknown_area(area)
    now = datetime.now(UTC)
    user_id = _user_id(conn, name, now)
    out = {c: "gs_" + secrets.token_urlsafe(32) for c in codes}
    if out:
        conn.execute(api_tokens.insert(), [
            {"user_id": user_id, "token_hash": _hash(t), "prefix": t[:10], "role": "worker",
             "area_code": area_of[c], "worker_code": c, "created_at": now}
            for c, t in out.items()])
        conn.execute(audit_log.insert(), [
            {"at": now, "actor": actor, "action": "create_token", "target": name,
             "detail": {"prefix": t[:10], "role": "worker", "area": area_of[c], "worker": c}}
            for c, t in out.items()])
    return out


def _within(conn: sa.Connection, code: str, ancestors: set[str]) -> bool:
    """Whether area `code` is one of `ancestors` or lies below one (live version)."""
    live = live_version(conn)
    for _ in range(8):  # the tree is six levels deep
        if code in ancestors:
            return True
        code = conn.execute(sa.select(areas.c.parent_code).where(
            valid_in(live), areas.c.code == code).limit(1)).scalar()
        if code is None:
            return False
    return False


def revoke_tokens(conn: sa.Connection, *, name: str | None = None,
                  prefix: str | None = None, actor: str = "cli") -> int:
    """Revoke a user's tokens, or the one token starting with `prefix`; returns how many."""
    q = api_tokens.update().where(api_tokens.c.revoked_at.is_(None))
    if prefix:
        q = q.where(api_tokens.c.prefix == prefix[:10])
    elif name:
        q = q.where(api_tokens.c.user_id.in_(
            sa.select(users.c.id).where(users.c.name == name).scalar_subquery()))
    else:
        raise Invalid("name or prefix is required", "name", code="missing")
    n = conn.execute(q.values(revoked_at=datetime.now(UTC))).rowcount
    audit(conn, actor, "revoke_tokens", name or "", prefix=prefix and prefix[:10], revoked=n)
    return n


class TokenCache:
    """Verified tokens, remembered for `ttl` seconds so a lookup costs no query.

    A revoked token stops working within `ttl` seconds in every process.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Principal | None]] = {}

    def verify(self, conn_factory, token: str) -> Principal | None:
        key = _hash(token)
        hit = self._seen.get(key)
        now = time.monotonic()
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with conn_factory() as conn:
            row = conn.execute(
                sa.select(users.c.name, api_tokens.c.role, api_tokens.c.area_code,
                          api_tokens.c.worker_code)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == key, api_tokens.c.revoked_at.is_(None))
            ).first()
        principal = Principal(*row) if row else None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, principal)
        return principal


def authorize(principal: Principal | None, allowed: tuple[str, ...] | None) -> None:
    """Raise 401/403 unless `principal` may call an endpoint that allows `allowed`."""
    if allowed is not None and PUBLIC in allowed:
        return
    if principal is None:
        raise Unauthorized("a valid bearer token is required (Authorization: Bearer <token>)")
    if not allowed or principal.role not in allowed:
        raise Forbidden(f"role {principal.role!r} may not use this endpoint")
