"""Open311 GeoReport v2 at /open311/v2: the spec's names, formats, errors and keys over our
reports, on SQLite and PostGIS. An Open311 app posts form-encoded fields; a command center
sees the same report at /api/v1/reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from geo_service.auth import create_token
from geo_service.cases.model import SUBTYPES
from geo_service.store.tables import reports

from .conftest import bearer
from .tiny import G1, G4

IN_G1 = {"lat": "35.01", "long": "103.005"}
IN_G4 = {"lat": "35.01", "long": "103.03"}
V2 = "/open311/v2"
# The spec's request fields, in its order (GET Service Requests, Response).
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name",
                  "service_code", "description", "agency_responsible", "service_notice",
                  "requested_datetime", "updated_datetime", "expected_datetime", "address",
                  "address_id", "zipcode", "lat", "long", "media_url"]
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type",
                  "keywords", "group"]


def file(client, key, headers=None, fmt="json", **fields):
    """POST requests as an Open311 app does: form-encoded, the key as a field."""
    data = {"api_key": key, "service_code": "dispute", "description": "院墙纠纷", **IN_G1,
            **fields}
    return client.post(f"{V2}/requests.{fmt}", data={k: v for k, v in data.items()
                                                      if v is not None}, headers=headers)


def filed(client, key, **fields) -> str:
    r = file(client, key, **fields)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()[0]["service_request_id"]


def listing(client, key, **args):
    return client.get(f"{V2}/requests.json", query_string={"api_key": key, **args})


def xml(resp) -> ElementTree.Element:
    assert resp.mimetype == "text/xml" and resp.mimetype_params["charset"] == "utf-8"
    assert resp.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ElementTree.fromstring(resp.data)  # raises on anything not well-formed


def spec_error(resp, status: int) -> str:
    """The spec's error format, in whichever format the path asked for; its description."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    if resp.request.path.endswith(".xml"):
        root = xml(resp)
        assert root.tag == "errors" and [e.tag for e in root] == ["error"]
        assert [e.tag for e in root[0]] == ["code", "description"]
        assert root[0].findtext("code") == str(status)
        return root[0].findtext("description")
    body = resp.get_json()
    assert isinstance(body, list) and len(body) == 1 and body[0]["code"] == status, body
    assert set(body[0]) == {"code", "description"} and body[0]["description"]
    return body[0]["description"]


def test_discovery_names_this_endpoint_in_both_formats(client, tiny):
    doc = client.get(f"{V2}/discovery.json").get_json()
    (endpoint,) = doc["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://localhost/open311/v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert {"changeset", "contact", "key_service"} <= set(doc)
    root = xml(client.get(f"{V2}/discovery.xml"))
    assert root.tag == "discovery" and root.findtext("key_service") == doc["key_service"]
    assert [f.text for f in root.find("endpoints/endpoint/formats")] == endpoint["formats"]


def test_services_are_our_subtypes_grouped_by_class(client, tokens):
    key = tokens["viewer"]
    services = client.get(f"{V2}/services.json", query_string={"api_key": key}).get_json()
    assert [s["service_code"] for s in services] == list(SUBTYPES)
    assert all(list(s) == SERVICE_FIELDS for s in services)
    assert all(s["group"] == SUBTYPES[s["service_code"]] and s["metadata"] is False
               and s["type"] == "realtime" for s in services)
    assert services[3]["service_name"] == "矛盾纠纷"
    english = client.get(f"{V2}/services.json?lang=en", headers=bearer(key)).get_json()
    assert english[3]["service_name"] == "Dispute"
    root = xml(client.get(f"{V2}/services.xml", query_string={"api_key": key}))
    assert root.tag == "services" and len(root) == len(SUBTYPES)
    assert [e.tag for e in root[0]] == SERVICE_FIELDS and root[0].findtext("metadata") == "false"
    definition = client.get(f"{V2}/services/dispute.json", headers=bearer(key)).get_json()
    assert definition == {"service_code": "dispute", "attributes": []}
    root = xml(client.get(f"{V2}/services/dispute.xml", headers=bearer(key)))
    assert root.tag == "service_definition" and root.findtext("service_code") == "dispute"
    for fmt in ("json", "xml"):
        assert "riot" in spec_error(client.get(f"{V2}/services/riot.{fmt}",
                                               headers=bearer(key)), 404)


def test_a_form_post_files_a_report_the_command_center_sees(client, tokens):
    r = file(client, tokens["worker"], first_name="小明", last_name="王",
             phone="13912345678", email="", device_id="d1",
             address_string="一号院东墙", media_url="https://img.example/1.jpg",
             **{"attribute[WHISPAWN]": "1", "jurisdiction_id": "gannan.gov.cn"})
    assert r.status_code == 200, r.get_data(as_text=True)
    (answer,) = r.get_json()
    assert list(answer) == ["service_request_id", "service_notice", "account_id"]
    assert answer["account_id"] is None and "第一网格" in answer["service_notice"]
    rid = answer["service_request_id"]
    seen = client.get(f"/api/v1/reports/{rid}", headers=bearer(tokens["dispatcher"])).get_json()
    assert seen["channel"] == "open311" and seen["grid"]["code"] == G1
    assert seen["subtype"] == "dispute" and seen["reporter"]["worker"] is None
    assert seen["reporter"]["name"] == "王小明" and seen["reporter"]["phone"] == "13912345678"
    assert seen["description"] == "院墙纠纷\n地址：一号院东墙"
    assert seen["media_urls"] == ["https://img.example/1.jpg"]
    viewer = client.get(f"/api/v1/reports/{rid}", headers=bearer(tokens["viewer"])).get_json()
    assert viewer["reporter"]["name"] == "王**" and viewer["reporter"]["phone"] == "139****5678"
    for fmt in ("json", "xml"):  # no Open311 answer carries the reporter, to anyone
        text = client.get(f"{V2}/requests/{rid}.{fmt}",
                          headers=bearer(tokens["admin"])).get_data(as_text=True)
        assert "小明" not in text and "5678" not in text and "wang@" not in text


def test_an_email_is_accepted_not_kept_and_the_answer_says_so(client, tokens, engine):
    """Nothing writes to a reporter (the follow-up is by phone): keeping an email would be
    personal data without a use; the notice tells the citizen not to wait for mail."""
    for fmt in ("json", "xml"):
        r = file(client, tokens["dispatcher"], fmt=fmt, phone="13912345678",
                 email="wang@example.com")
        assert r.status_code == 200, r.get_data(as_text=True)
        assert "email not kept" in r.get_data(as_text=True)
    plain = file(client, tokens["dispatcher"], phone="13912345678")
    assert "email not kept" not in plain.get_data(as_text=True)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(reports)).mappings().all()
    assert len(rows) == 3
    assert not any("wang@" in str(v) for row in rows for v in row.values())


def test_a_json_post_with_the_key_in_the_body_works_too(client, tokens):
    r = client.post(f"{V2}/requests.xml", json={
        "api_key": tokens["dispatcher"], "service_code": "care_visit", "lat": 35.01,
        "long": 103.03})
    root = xml(r)
    assert r.status_code == 200 and root.tag == "service_requests"
    assert [e.tag for e in root[0]] == ["service_request_id", "service_notice", "account_id"]
    rid = root[0].findtext("service_request_id")
    seen = client.get(f"/api/v1/reports/{rid}", headers=bearer(tokens["admin"])).get_json()
    assert seen["grid"]["code"] == G4 and seen["description"] == "关爱走访"  # the service's name


@pytest.mark.parametrize(("change", "status", "says"), [
    ({"service_code": None}, 400, "service_code is required"),
    ({"service_code": "riot"}, 404, "no service 'riot'"),
    ({"lat": None}, 400, "lat and long are required"),
    ({"long": "103,005"}, 400, "long must be a decimal number"),
    ({"lat": "NaN"}, 400, "lat must be"),
    ({"lat": "95.0"}, 400, "within ±90"),  # our 422: the spec's 400
    ({"lat": "103.005", "long": "35.01"}, 400, "swapped"),
    ({"description": "x" * 4001}, 400, "limit is 4000"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_urls"),
    ({"colour": "red"}, 400, "unknown field 'colour'"),
])
def test_bad_requests_get_the_spec_error_and_store_nothing(client, tokens, engine, change,
                                                            status, says):
    for fmt in ("json", "xml"):
        assert says in spec_error(file(client, tokens["dispatcher"], fmt=fmt, **change),
                                  status)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() == 0


def test_keys_are_checked_and_refusals_are_403(app, client, tokens):
    for fmt in ("json", "xml"):
        assert "api_key" in spec_error(file(client, None, fmt=fmt), 403)
        spec_error(file(client, "gs_not_a_token", fmt=fmt), 403)
        spec_error(file(client, tokens["viewer"], fmt=fmt), 403)  # may not file reports
        spec_error(client.get(f"{V2}/requests.{fmt}"), 403)
        spec_error(client.get(f"{V2}/services.{fmt}?api_key=gs_nope"), 403)
    assert "WWW-Authenticate" not in client.get(f"{V2}/requests.json").headers
    both = file(client, tokens["dispatcher"], headers=bearer(tokens["admin"]))
    assert "given twice" in spec_error(both, 400)
    agree = file(client, tokens["dispatcher"], headers=bearer(tokens["dispatcher"]))
    assert agree.status_code == 200
    header_only = file(client, None, headers=bearer(tokens["dispatcher"]))
    assert header_only.status_code == 200


def test_every_error_under_the_prefix_is_in_the_spec_format(client, tokens):
    spec_error(client.get(f"{V2}/nothing.xml"), 404)
    spec_error(client.get(f"{V2}/nothing.json"), 404)
    spec_error(client.delete(f"{V2}/requests.json", headers=bearer(tokens["admin"])), 405)
    spec_error(client.get(f"{V2}/requests.json?status=open&status=closed",
                          headers=bearer(tokens["admin"])), 400)  # repeated
    text = client.post(f"{V2}/requests.json", data=b'{"service_code": "\\ud800"}',
                       content_type="application/json", headers=bearer(tokens["admin"]))
    assert "surrogate" in spec_error(text, 400)
    plain = client.post(f"{V2}/requests.json", data="x", content_type="text/plain",
                        headers=bearer(tokens["admin"]))
    spec_error(plain, 415)
    # and the rest of the API keeps its own shape
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"


def test_xml_answers_are_well_formed_with_the_spec_element_names(client, tokens):
    rid = filed(client, tokens["dispatcher"], description="控制字符\x01\x0b<b>&amp;</b>",
                media_url="https://img.example/a.jpg?x=1&y=2")
    root = xml(client.get(f"{V2}/requests/{rid}.xml", headers=bearer(tokens["admin"])))
    assert root.tag == "service_requests" and [e.tag for e in root] == ["request"]
    assert [e.tag for e in root[0]] == REQUEST_FIELDS
    assert root[0].findtext("description") == "控制字符<b>&amp;</b>"  # escaped, not markup
    assert root[0].findtext("media_url") == "https://img.example/a.jpg?x=1&y=2"
    assert root[0].findtext("zipcode") == "" and root[0].findtext("status") == "open"
    (as_json,) = client.get(f"{V2}/requests/{rid}.json", headers=bearer(tokens["admin"])
                            ).get_json()
    assert list(as_json) == REQUEST_FIELDS and as_json["zipcode"] is None
    assert as_json["lat"] == 35.01 and as_json["long"] == 103.005
    assert as_json["address"] == "第一网格, 甲村, 甲镇, 甲县, 测试州"
    assert as_json["address_id"] == G1 and as_json["agency_responsible"] == "第一网格"
    assert as_json["requested_datetime"].endswith("Z")
    assert datetime.fromisoformat(as_json["expected_datetime"]) > datetime.now(UTC)


def act(client, token, rid, action, version, **kw):
    r = client.post(f"/api/v1/reports/{rid}/actions",
                    json={"action": action, "version": version, **kw}, headers=bearer(token))
    assert r.status_code == 200, r.get_json()


def test_status_maps_closed_to_closed_and_everything_else_to_open(client, tokens):
    d = tokens["dispatcher"]
    done, up, fresh = (filed(client, d) for _ in range(3))
    for version, action in enumerate(("accept", "resolve", "follow_up", "close"), 1):
        act(client, d, done, action, version)
    act(client, d, up, "escalate", 1, note="需要村里协调")
    seen = {r["service_request_id"]: r for r in listing(client, d).get_json()}
    assert seen[done]["status"] == "closed" and seen[done]["status_notes"].startswith("closed")
    assert seen[up]["status"] == "open"
    assert seen[up]["status_notes"] == "escalated; owned at village level"
    assert seen[up]["agency_responsible"] == "甲村"
    assert seen[fresh]["status"] == "open" and seen[fresh]["status_notes"].startswith("reported")
    assert [r["service_request_id"] for r in listing(client, d, status="closed").get_json()] \
        == [done]
    assert {r["service_request_id"] for r in listing(client, d, status="open").get_json()} \
        == {up, fresh}
    assert len(listing(client, d, status="open,closed").get_json()) == 3
    spec_error(listing(client, d, status="pending"), 400)


def test_get_requests_filters_as_the_spec_says(client, tokens, engine):
    d = tokens["dispatcher"]
    old, care, new = (filed(client, d), filed(client, d, service_code="care_visit"),
                      filed(client, d))
    with engine.begin() as conn:
        conn.execute(reports.update().where(reports.c.id == old).values(
            received_at=datetime.now(UTC) - timedelta(days=30)))

    def ids(**args):
        r = listing(client, d, **args)
        assert r.status_code == 200, r.get_data(as_text=True)
        return [x["service_request_id"] for x in r.get_json()]

    assert ids() == [new, care, old]  # newest first, the last 90 days
    assert ids(service_request_id=f"{old},{new},{uuid.uuid4()}") == [new, old]
    assert ids(service_request_id=old, service_code="care_visit") == [old]  # overrides
    assert ids(service_code="care_visit") == [care]
    assert ids(service_code="care_visit,dispute") == [new, care, old]
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    assert ids(start_date=week_ago) == [new, care]
    assert ids(end_date=week_ago) == [old]
    month = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    assert ids(start_date=month, end_date=week_ago) == [old]
    year = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    assert "90 days" in spec_error(listing(client, d, start_date=year,
                                           end_date=week_ago), 400)
    spec_error(listing(client, d, start_date="2026-11-29 08:00"), 400)  # no offset
    spec_error(listing(client, d, service_code="riot"), 404)
    spec_error(listing(client, d, radius="50"), 400)  # not a filter of ours: refused


def test_extensions_bbox_and_paging(client, tokens):
    d = tokens["dispatcher"]
    first, second, east = filed(client, d), filed(client, d), filed(client, d, **IN_G4)

    def ids(resp):
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [x["service_request_id"] for x in resp.get_json()]

    assert ids(listing(client, d, bbox="103.0,35.0,103.01,35.02")) == [second, first]
    assert ids(listing(client, d, bbox="103.02,35.0,103.04,35.02")) == [east]
    spec_error(listing(client, d, bbox="1,2,3"), 400)
    page = listing(client, d, page_size="2")
    assert ids(page) == [east, second]
    link = page.headers["Link"]
    assert link.endswith('>; rel="next"') and "cursor=" in link and "page_size=2" in link
    assert f"api_key={d}" in link  # the query the client used: followed as it is
    rest = client.get(link[1:link.index(">")])
    assert ids(rest) == [first] and "Link" not in rest.headers
    by_header = client.get(f"{V2}/requests.json?page_size=2", headers=bearer(d))
    assert "api_key" not in by_header.headers["Link"]  # a key sent in a header stays there
    assert ids(listing(client, d, page_size="2", page="2")) == [first]
    assert ids(listing(client, d, page_size="1", page="2")) == [second]
    assert "page=3" in listing(client, d, page_size="1", page="2").headers["Link"]
    spec_error(listing(client, d, page_size="0"), 400)
    spec_error(listing(client, d, page_size="1001"), 400)
    spec_error(listing(client, d, page="1", cursor="5"), 400)


def test_a_retried_post_with_its_key_files_one_request(client, tokens, engine):
    d = tokens["dispatcher"]
    once = file(client, d, headers={"Idempotency-Key": "app-42"}).get_json()
    again = file(client, d, headers={"Idempotency-Key": "app-42"}).get_json()
    assert once[0]["service_request_id"] == again[0]["service_request_id"]
    other = file(client, d, headers={"Idempotency-Key": "app-42"}, description="另一件事")
    assert "other content" in spec_error(other, 409)
    as_field = file(client, d, idempotency_key="app-42")
    assert as_field.get_json()[0]["service_request_id"] == once[0]["service_request_id"]
    mine = str(uuid.uuid4())
    assert filed(client, d, idempotency_key=mine) == mine  # a UUID key is the id
    unkeyed = {filed(client, d), filed(client, d)}
    assert len(unkeyed) == 2  # without a key each POST is a new request
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() == 4
    token = client.get(f"{V2}/tokens/app-42.json", headers=bearer(d)).get_json()
    assert token == [{"service_request_id": once[0]["service_request_id"], "token": "app-42"}]
    root = xml(client.get(f"{V2}/tokens/{mine}.xml", headers=bearer(d)))
    assert [e.tag for e in root[0]] == ["service_request_id", "token"]
    spec_error(client.get(f"{V2}/tokens/never-sent.json", headers=bearer(d)), 404)
    spec_error(file(client, d, idempotency_key="x" * 201), 400)


def test_public_read_is_decided_per_request_and_shows_no_personal_data(app, client, tokens):
    rid = filed(client, tokens["dispatcher"], first_name="小明", last_name="王",
                phone="13912345678")
    spec_error(client.get(f"{V2}/requests.json"), 403)  # off by default
    app.config["OPEN311_PUBLIC_READ"] = True
    for url in (f"{V2}/services.json", f"{V2}/services/dispute.xml", f"{V2}/requests.json",
                f"{V2}/requests/{rid}.xml", f"{V2}/tokens/{rid}.json"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert "小明" not in resp.get_data(as_text=True)
    assert client.get(f"{V2}/requests.json").get_json()[0]["service_request_id"] == rid
    spec_error(client.get(f"{V2}/requests.json?api_key=gs_wrong"), 403)  # never downgraded
    spec_error(client.get(f"{V2}/requests.json", headers={"Authorization": "Basic x"}), 403)
    spec_error(file(client, None), 403)  # writes always need a key
    assert client.get("/api/v1/reports").status_code == 401  # only Open311's reads
    app.config["OPEN311_PUBLIC_READ"] = False
    spec_error(client.get(f"{V2}/requests.json"), 403)


def test_a_county_token_sees_and_files_only_in_its_county(client, tokens, engine):
    with engine.begin() as conn:
        county = create_token(conn, name="c1", role="dispatcher", area_code="900001")
    mine = filed(client, county)
    theirs = filed(client, tokens["admin"], **IN_G4)
    assert [r["service_request_id"] for r in listing(client, county).get_json()] == [mine]
    assert listing(client, county, service_request_id=f"{mine},{theirs}").get_json()[0][
        "service_request_id"] == mine
    assert len(listing(client, county, service_request_id=theirs).get_json()) == 0
    spec_error(client.get(f"{V2}/requests/{theirs}.json", headers=bearer(county)), 404)
    spec_error(client.get(f"{V2}/tokens/{theirs}.json", headers=bearer(county)), 404)
    assert "limited to area 900001" in spec_error(file(client, county, **IN_G4), 403)
    both = {r["service_request_id"] for r in listing(client, tokens["admin"]).get_json()}
    assert both == {mine, theirs}


def test_an_empty_api_key_is_no_key(app, client, tokens):
    spec_error(client.get(f"{V2}/requests.json?api_key="), 403)
    app.config["OPEN311_PUBLIC_READ"] = True
    assert client.get(f"{V2}/requests.json?api_key=").status_code == 200
    spec_error(file(client, ""), 403)


def test_the_access_log_names_an_api_key_by_its_prefix_only(client, tokens):
    import logging

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("geo_service.access")
    log.addHandler(handler)
    try:
        key = tokens["viewer"]
        client.get(f"{V2}/services.json", query_string={"api_key": key})
    finally:
        log.removeHandler(handler)
    assert seen[0].split()[1:3] == [f"{V2}/services.json", "200"]
    assert seen[0].endswith(" " + key[:10]) and key not in seen[0]
