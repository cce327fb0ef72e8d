"""Every endpoint is denied by default: 401 without a valid token, 403 for a wrong role.

Open311 says 403 for a missing or wrong api_key too, in its own error format
(`[{"code": 403, "description": ...}]`): its routes are held to that.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from geo_service.auth import PUBLIC, ROLES, create_token, revoke_tokens
from geo_service.store.tables import api_tokens

from .conftest import bearer
from .tiny import G1


def _endpoints(app) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        url = re.sub(r"<int:[^>]+>", "1", rule.rule.replace("<code>", G1))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, url, getattr(view, "allowed_roles", ())))
    return out


def refusal(resp) -> tuple[int, str | int]:
    """(status, the error's code) in either error format: ours, or Open311's."""
    path = resp.request.path
    if path.startswith("/open311/") and path.endswith(".xml"):
        error = ElementTree.fromstring(resp.data).find("error")
        assert [e.tag for e in error] == ["code", "description"]
        return resp.status_code, int(error.findtext("code"))
    body = resp.get_json()
    if path.startswith("/open311/"):
        assert isinstance(body, list) and set(body[0]) == {"code", "description"}, body
        return resp.status_code, body[0]["code"]
    return resp.status_code, body["error"]["code"]


def test_every_endpoint_declares_its_roles(app) -> None:
    undeclared = [(m, u) for m, u, roles in _endpoints(app) if not roles]
    assert undeclared == []


@pytest.mark.parametrize("header", [
    None,                                  # no Authorization at all
    {"Authorization": "Bearer gs_wrong"},  # a token that was never issued
    {"Authorization": "Basic abc"},        # not a bearer token
])
def test_missing_or_wrong_token_is_401(app, client, tiny, header) -> None:
    checked = 0
    for method, url, roles in _endpoints(app):
        if PUBLIC in roles:
            continue
        resp = client.open(url, method=method, headers=header or {})
        expected = (403, 403) if url.startswith("/open311/") else (401, "unauthorized")
        assert refusal(resp) == expected, (method, url)
        checked += 1
    assert checked >= 5


def test_wrong_role_is_403(app, client, tiny, tokens) -> None:
    refused = 0
    for method, url, roles in _endpoints(app):
        for role in ROLES:
            if role in roles or PUBLIC in roles:
                continue
            resp = client.open(url, method=method, headers=bearer(tokens[role]))
            expected = (403, 403) if url.startswith("/open311/") else (403, "forbidden")
            assert refusal(resp) == expected, (method, url, role)
            refused += 1
    assert refused >= 1  # the viewer (wall display) may not list households


def test_revoked_token_stops_working(client, engine, tiny) -> None:
    with engine.begin() as conn:
        token = create_token(conn, name="hotline", role="viewer")
    assert client.get("/api/v1/ping", headers=bearer(token)).status_code == 200
    with engine.begin() as conn:
        assert revoke_tokens(conn, name="hotline") == 1
    # TOKEN_CACHE_S is 0 in tests, so the token cache forgets at once.
    assert client.get("/api/v1/ping", headers=bearer(token)).status_code == 401


def test_tokens_are_stored_hashed(engine, tokens) -> None:
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalars().all()
    assert len(stored) == len(ROLES)
    assert not set(stored) & set(tokens.values())


def test_area_scoped_token_sees_only_its_subtree(client, engine, tiny) -> None:
    with engine.begin() as conn:
        token = create_token(conn, name="county-1", role="dispatcher", area_code="900001")
    assert client.get(f"/api/v1/areas/{G1}", headers=bearer(token)).status_code == 200
    resp = client.get("/api/v1/areas/900002001001001", headers=bearer(token))
    assert resp.status_code == 403 and resp.get_json()["error"]["field"] == "code"
    grids = client.get("/api/v1/areas?level=grid", headers=bearer(token)).get_json()
    assert {f["id"][:6] for f in grids["features"]} == {"900001"}


def test_rights_belong_to_each_token(client, engine, tiny) -> None:
    """A second token under the same name never changes what the first may do."""
    with engine.begin() as conn:
        wall = create_token(conn, name="x", role="viewer", area_code="900001")
        desk = create_token(conn, name="x", role="dispatcher")
    far = f"/api/v1/areas/{G1.replace('900001', '900002')}"
    assert client.get(far, headers=bearer(wall)).status_code == 403
    assert client.get(f"/api/v1/areas/{G1}/households",
                      headers=bearer(wall)).status_code == 403  # still a viewer
    assert client.get(far, headers=bearer(desk)).status_code == 200
    assert client.get(f"/api/v1/areas/{G1}/households",
                      headers=bearer(desk)).status_code == 200


@pytest.mark.parametrize("area", ["62300I", "900003", ""])
def test_token_scope_must_name_an_existing_area(engine, tiny, area) -> None:
    from geo_service.errors import NotFound

    with pytest.raises(NotFound, match="no area") as err, engine.begin() as conn:
        create_token(conn, name="typo", role="viewer", area_code=area)
    assert err.value.field == "area"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar() == 0


def test_token_changes_are_audited(engine, tiny) -> None:
    from geo_service.store.tables import audit_log

    with engine.begin() as conn:
        token = create_token(conn, name="hotline", role="viewer", area_code="900001",
                             actor="ops")
        revoke_tokens(conn, prefix=token[:10], actor="ops")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(
            audit_log.c.action.in_(["create_token", "revoke_tokens"]))
            .order_by(audit_log.c.id)).all()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("ops", "create_token", "hotline"), ("ops", "revoke_tokens", "")]
    assert rows[0].detail == {"prefix": token[:10], "role": "viewer", "area": "900001"}
    assert token not in str([r.detail for r in rows])


def test_a_field_workers_token_knows_its_worker(app, engine, tiny) -> None:
    from geo_service.app import services
    from geo_service.errors import ServiceError
    from geo_service.store.tables import worker_areas, workers

    with engine.begin() as conn:
        wid = conn.execute(workers.insert().values(code="GW1", name="卓玛", role="grid_worker")
                           ).inserted_primary_key[0]
        conn.execute(worker_areas.insert().values(worker_id=wid, area_code=G1))
        token = create_token(conn, name="zhuoma", role="worker", area_code=G1,
                             worker_code="GW1")
    me = services(app).tokens.verify(engine.connect, token)
    assert (me.role, me.area_code, me.worker_code) == ("worker", G1, "GW1")
    for role, worker, field in (("worker", "GW9", "worker"), ("viewer", "GW1", "worker")):
        with pytest.raises(ServiceError) as err, engine.begin() as conn:
            create_token(conn, name="x", role=role, worker_code=worker)
        assert err.value.field == field


def test_phone_tokens_in_bulk_are_what_create_token_makes(app, engine, tiny) -> None:
    """`create_worker_tokens` (the simulator's thousands of phones): each token is a
    worker's, limited to the worker's one area, audited alone; and the same refusals."""
    from geo_service.app import services
    from geo_service.auth import create_worker_tokens
    from geo_service.errors import Invalid, NotFound
    from geo_service.store.tables import audit_log, worker_areas, workers

    with engine.begin() as conn:
        for code, areas_ in (("GW1", [G1]), ("GW2", [G1 + "001"]), ("GW3", [G1, "900001"]),
                             ("GW4", [])):
            wid = conn.execute(workers.insert().values(code=code, name="x", role="grid_worker")
                               ).inserted_primary_key[0]
            for a in areas_:
                conn.execute(worker_areas.insert().values(worker_id=wid, area_code=a))
        made = create_worker_tokens(conn, name="phones", worker_codes=["GW1", "GW2", "GW1"],
                                    actor="sim")
    assert set(made) == {"GW1", "GW2"}
    for code, area in (("GW1", G1), ("GW2", G1 + "001")):
        me = services(app).tokens.verify(engine.connect, made[code])
        assert (me.name, me.role, me.area_code, me.worker_code) == ("phones", "worker", area,
                                                                    code)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.action == "create_token")
                            .order_by(audit_log.c.id)).all()
    assert [(r.actor, r.target, r.detail) for r in rows] == [
        ("sim", "phones", {"prefix": made[c][:10], "role": "worker", "area": a, "worker": c})
        for c, a in (("GW1", G1), ("GW2", G1 + "001"))]
    for codes, error in ((["GW1", "GW9"], NotFound), (["GW3"], Invalid), (["GW4"], Invalid)):
        with pytest.raises(error), engine.begin() as conn:
            create_worker_tokens(conn, name="more", worker_codes=codes)
    with engine.connect() as conn:  # a refusal makes none of them
        assert conn.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar() == 2


def test_a_workers_token_is_always_limited_to_an_area(engine, tiny) -> None:
    """Workers see households' doors and care needs: never for the whole tree."""
    from geo_service.errors import Invalid
    from geo_service.store.tables import worker_areas, workers

    with pytest.raises(Invalid, match="limited to the area") as err, engine.begin() as conn:
        create_token(conn, name="w", role="worker")
    assert err.value.field == "area"
    with engine.begin() as conn:
        wid = conn.execute(workers.insert().values(code="GW2", name="卓玛", role="grid_worker")
                           ).inserted_primary_key[0]
        conn.execute(worker_areas.insert().values(worker_id=wid, area_code=G1))
        create_token(conn, name="zhuoma2", role="worker", worker_code="GW2")
        scope = conn.execute(sa.select(api_tokens.c.area_code).where(
            api_tokens.c.worker_code == "GW2")).scalar()
    assert scope == G1  # the worker's own grid
