"""Open311 GeoReport v2 in our terms: a service is a report subtype, a service request is a
report, and the spec's two statuses summarise our workflow (`closed` is closed, everything
else is `open`; our state and the owning level go into `status_notes`).

No Flask here: the blueprint parses and serialises, this module decides. The spec has no
client-chosen id, so a request gets a fresh UUID unless the client sends an idempotency key
(our extension): a retried POST with the same key and content then answers the request it
already created, however late, instead of filing it twice.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from geo_service.auth import Principal
from geo_service.cases.intake import MAX_DESCRIPTION, read_report, submit_report
from geo_service.cases.model import OPEN, SUBTYPES
from geo_service.cases.queries import ReportFilter, find_reports, read_bbox, scoped
from geo_service.cases.records import home_area, report_row, utc_times
from geo_service.errors import Invalid, NotFound
from geo_service.inputs import parse_time, whole_number
from geo_service.lookup import parse_number
from geo_service.scope import Scope
from geo_service.store.tables import reports
from geo_service.versions import VersionIndex

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-01-15T00:00:00Z"  # bump when SERVICES change: clients refresh their cache
MAX_PAGE = 1000  # the spec's default volume: "first 1000 requests"
WINDOW = timedelta(days=90)  # the spec's default and largest date range
MAX_KEY = 200
# Our own namespace for idempotency keys that are not UUIDs themselves.
KEY_NAMESPACE = uuid.UUID("9f1c2f0e-6a4b-5d1e-9a43-0b5e3c7d2a11")


@dataclass(frozen=True)
class Service:
    """One service type as Open311 lists it: one of our subtypes, named in two languages."""

    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    keywords: str


SERVICES: dict[str, Service] = {
    "risk_warning": Service("风险预警", "Risk warning", "可能酿成事件的风险苗头",
                            "Early signs of a risk that could become an incident",
                            "风险, 隐患苗头, risk, warning"),
    "unusual_event": Service("异常情况", "Unusual event", "网格内的异常人员或异常情况",
                             "Unusual people or happenings in the grid",
                             "异常, 可疑, unusual, suspicious"),
    "emergency": Service("突发事件", "Emergency", "需要立即响应的突发事件（火情、险情、事故）",
                         "An emergency that needs an immediate response (fire, leak, "
                         "accident)", "突发, 应急, 险情, emergency, accident"),
    "dispute": Service("矛盾纠纷", "Dispute", "邻里、家庭、土地草场等矛盾纠纷",
                       "Disputes between neighbours, in families, over land or pasture",
                       "纠纷, 调解, dispute, conflict, mediation"),
    "safety_hazard": Service("安全隐患", "Safety hazard", "房屋、道路、用电、用火等安全隐患",
                             "Hazards in buildings, roads, electricity or fire use",
                             "隐患, 安全, hazard, safety"),
    "public_order": Service("治安问题", "Public order", "影响社会治安的问题",
                            "Problems of public order", "治安, 秩序, public order, nuisance"),
    "environment": Service("环境卫生", "Environment", "垃圾、污水、环境卫生问题",
                           "Rubbish, sewage and sanitation",
                           "环境, 卫生, 垃圾, environment, sanitation, rubbish"),
    "help_request": Service("群众求助", "Help request", "群众遇到困难请求帮助",
                            "A resident asks for help", "求助, 帮助, help, assistance"),
    "care_visit": Service("关爱走访", "Care visit", "独居老人、残疾人、孤儿等关爱对象需要走访",
                          "Elderly living alone, disabled people or orphans need a visit",
                          "关爱, 走访, 老人, care, visit, elderly"),
    "policy_inquiry": Service("政策咨询", "Policy inquiry", "政策法规咨询",
                              "Questions about policies and regulations",
                              "咨询, 政策, inquiry, policy"),
}
LEVEL_ZH = {"prefecture": "州（市）级", "county": "县（市）级", "township": "乡镇（街道）级",
            "village": "村（社区）级", "grid": "网格"}
# What a POST may carry: the spec's fields (jurisdiction_id, device_id, account_id and
# attribute[...] are accepted and ignored: one jurisdiction, no service has attributes) and
# our idempotency key. `email` is accepted and not kept (`EMAIL_NOTICE` says why).
POST_FIELDS = frozenset({"api_key", "jurisdiction_id", "service_code", "lat", "long",
                         "address_string", "address_id", "email", "device_id", "account_id",
                         "first_name", "last_name", "phone", "description", "media_url",
                         "idempotency_key"})
GET_PARAMS = frozenset({"api_key", "jurisdiction_id", "service_request_id", "service_code",
                        "start_date", "end_date", "status", "bbox", "page_size", "page",
                        "cursor"})


def require_service(code: Any, field: str = "service_code") -> str:
    """The subtype a service code names; 400 when none is given, 404 for an unknown one
    (the spec's answers)."""
    if code is None or code == "":
        raise Invalid(f"{field} is required; GET services lists them", field, code="missing")
    if not isinstance(code, str) or code not in SERVICES:
        raise NotFound(f"no service {str(code)[:40]!r}; GET services lists them", field,
                       code="unknown_service")
    return code


def service_list(lang: str = "zh") -> list[dict[str, Any]]:
    """GET services: every subtype, none with extra attributes (metadata false), each
    answered at once with its request id (type realtime), grouped by our class."""
    return [{"service_code": code, "service_name": s.name_en if lang == "en" else s.name_zh,
             "description": s.description_en if lang == "en" else s.description_zh,
             "metadata": False, "type": "realtime", "keywords": s.keywords,
             "group": SUBTYPES[code]} for code, s in SERVICES.items()]


def service_definition(code: str) -> dict[str, Any]:
    """GET services/{code}: no service of ours asks for attributes."""
    return {"service_code": require_service(code), "attributes": []}


def discovery(url: str) -> dict[str, Any]:
    """The Service Discovery document for the one endpoint this service runs."""
    return {"changeset": CHANGESET,
            "contact": "The command center (综治中心) that runs this service.",
            "key_service": "Ask the command center's administrator for a token "
                           "(geo-service create-token); send it as api_key.",
            "endpoints": [{"specification": SPEC, "url": url, "changeset": CHANGESET,
                           "type": "production",
                           "formats": ["text/xml", "application/json"]}]}


def request_id(key: str | None) -> str:
    """The report id of a POST: the idempotency key itself when it is a UUID (so the same
    id works at /api/v1/reports), a name-based UUID of any other key, a fresh one without."""
    if key is None:
        return str(uuid.uuid4())
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or not key.isprintable() \
            or not key.isascii():
        raise Invalid(f"the idempotency key must be 1 to {MAX_KEY} printable ASCII "
                      "characters", "idempotency_key", code="invalid_id")
    try:
        return str(uuid.UUID(key)) if len(key) == 36 else str(uuid.uuid5(KEY_NAMESPACE, key))
    except ValueError:
        return str(uuid.uuid5(KEY_NAMESPACE, key))


def _text(fields: Mapping[str, Any], key: str, limit: int) -> str:
    value = fields.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{key} must be text", key, code="invalid_type")
    if len(value) > limit:
        raise Invalid(f"{key} is {len(value)} characters long; the limit is {limit}", key,
                      code="too_long")
    return value.strip()


def _reporter_name(first: str, last: str) -> str:
    """A Chinese name is written family name first (王 + 小明); others given name first."""
    if any("\u4e00" <= c <= "\u9fff" for c in first + last):
        return last + first
    return " ".join(p for p in (first, last) if p)


def read_request(fields: Mapping[str, Any], *, report_id: str, occurred_at: datetime,
                 now: datetime, skew_s: float) -> Any:
    """A POST's fields as a report of channel open311 (400/404 naming what is wrong).

    lat and long are required: the grid is found from the position (an address_string or
    address_id alone cannot be placed); an address_string is kept at the end of the
    description for whoever handles the case. Without a description the service's name
    stands for it (the spec makes it optional; our intake does not)."""
    extra = sorted(k for k in fields if k not in POST_FIELDS and not k.startswith("attribute["))
    if extra:
        raise Invalid(f"unknown field {extra[0][:40]!r}", extra[0][:40], code="unknown_field")
    _text(fields, "email", 254)  # checked, never kept: see `EMAIL_NOTICE`
    subtype = require_service(fields.get("service_code"))
    for key in ("lat", "long"):
        if fields.get(key) in (None, ""):
            raise Invalid("lat and long are required: this service places a request in "
                          "its grid by position (WGS84)", key, code="missing")
    lat, lon = parse_number(fields["lat"], "lat"), parse_number(fields["long"], "long")
    description = _text(fields, "description", MAX_DESCRIPTION)
    address = _text(fields, "address_string", 500)
    if address:
        description = f"{description}\n地址：{address}" if description else f"地址：{address}"
    media = _text(fields, "media_url", 2000)
    body = {"id": report_id, "subtype": subtype, "lon": lon, "lat": lat,
            "description": description or SERVICES[subtype].name_zh,
            "occurred_at": occurred_at.isoformat(), "channel": "open311",
            "reporter": {"name": _reporter_name(_text(fields, "first_name", 50),
                                                _text(fields, "last_name", 50)),
                         "phone": _text(fields, "phone", 32)},
            "media_urls": [media] if media else []}
    return read_report(body, now=now, skew_s=skew_s)


def submit_request(conn: sa.Connection, vi: VersionIndex, fields: Mapping[str, Any], *,
                   key: str | None, actor: Principal, scope: Scope,
                   settings: dict[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
    """File a POST as a report, once per idempotency key: (row, created).

    Open311 carries no time of the event, so a request occurred when it was first received;
    a retry is compared with the stored request under that first time, so only its content
    decides (same: the stored request; other: 409 `id_reused`)."""
    rid = request_id(key)
    existing = report_row(conn, rid)
    first = existing["occurred_at"] if existing else now
    new = read_request(fields, report_id=rid, occurred_at=now, now=now,
                       skew_s=settings["CLOCK_SKEW_S"])
    return submit_report(conn, vi, replace(new, occurred_at=first), actor=actor, scope=scope,
                         settings=settings, now=now)


@dataclass(frozen=True)
class RequestQuery:
    """GET requests: either a list of ids (which overrides every other argument, as the
    spec says) or a filter with its page."""

    ids: tuple[str, ...] = ()
    filter: ReportFilter = ReportFilter()


def _csv(raw: str) -> list[str]:
    return [v.strip() for v in raw.split(",") if v.strip()]


def read_query(args: Mapping[str, str], now: datetime) -> RequestQuery:
    """The spec's filters (service_request_id, service_code, start_date, end_date, status)
    and our extensions (bbox, page_size, and page or cursor)."""
    unknown = sorted(set(args) - GET_PARAMS)
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0][:40]!r}; accepted: "
                      f"{', '.join(sorted(GET_PARAMS))}", unknown[0][:40],
                      code="unknown_parameter")
    size = whole_number(args, "page_size", 1, MAX_PAGE, MAX_PAGE)
    if args.get("service_request_id"):
        ids = tuple(dict.fromkeys(_csv(args["service_request_id"])))
        if len(ids) > MAX_PAGE:
            raise Invalid(f"at most {MAX_PAGE} service_request_id at once",
                          "service_request_id", code="invalid_paging")
        return RequestQuery(ids=ids)
    kw: dict[str, Any] = {"limit": size}
    if args.get("service_code"):
        kw["subtypes"] = tuple(require_service(c) for c in _csv(args["service_code"]))
    if args.get("status"):
        wanted = set(_csv(args["status"]))
        if not wanted <= {"open", "closed"}:
            raise Invalid("status must be open, closed or both (comma separated)", "status",
                          code="invalid_choice")
        if wanted == {"open"}:
            kw["statuses"] = tuple(sorted(OPEN))
        elif wanted == {"closed"}:
            kw["statuses"] = ("closed",)
    start = parse_time(args["start_date"], "start_date") if args.get("start_date") else None
    end = parse_time(args["end_date"], "end_date") if args.get("end_date") else None
    if end is None:
        end = start + WINDOW if start else now
    start = start or end - WINDOW
    if start > end or end - start > WINDOW:
        raise Invalid("start_date must not be after end_date, and they may span 90 days at "
                      "most", "start_date", code="invalid_window")
    kw["since"], kw["until"] = start, end + timedelta(microseconds=1)  # end is included
    if args.get("bbox"):
        kw["bbox"] = read_bbox(args["bbox"])
    if "page" in args and "cursor" in args:
        raise Invalid("give page or cursor, not both", "page", code="invalid_paging")
    if "page" in args:
        kw["offset"] = (whole_number(args, "page", 1, 10**6) - 1) * size
    if "cursor" in args:
        kw["after"] = whole_number(args, "cursor", 1, 2**31)
    return RequestQuery(filter=ReportFilter(**kw))


def find_requests(conn: sa.Connection, vi: VersionIndex, q: RequestQuery, *, scope: Scope,
                  now: datetime) -> tuple[list[dict[str, Any]], int | None]:
    """The reports a query names, in the caller's scope, newest first, and the cursor of
    the next page (None: the last). Ids outside the scope are left out like unknown ones."""
    if not q.ids:
        return find_reports(conn, vi, q.filter, scope=scope, now=now)
    rows = conn.execute(sa.select(reports).where(reports.c.id.in_(q.ids),
                                                 *scoped(vi, scope, None))
                        .order_by(reports.c.seq.desc()))
    return [utc_times(dict(r._mapping)) for r in rows], None


def _iso(t: datetime | None) -> str | None:
    """W3C date-time in UTC, whole seconds (what strict Open311 clients parse)."""
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z") \
        if t else None


def _area_name(vi: VersionIndex, code: str | None) -> str | None:
    info = vi.areas.get(code) if code else None
    return info.name if info else None


def service_notice(vi: VersionIndex, row: dict[str, Any], tz: str) -> str:
    """Who handles the request and by when (in the command center's time zone `tz`)."""
    agency = _area_name(vi, row["owner_code"]) or row["owner_code"]
    if row["status"] == "closed":
        return f"已办结（{agency}）"
    due = row["due_at"].astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return (f"由{agency}（{LEVEL_ZH.get(row['owner_level'], row['owner_level'])}）办理，"
            f"{due} 前处理；逾期自动上报上一级。")


def status_notes(row: dict[str, Any]) -> str:
    """Our detailed state and the owning level (the spec's status is only open/closed)."""
    note = f"{row['status']}; owned at {row['owner_level']} level"
    if row.get("merged_into"):
        note += f"; merged into {row['merged_into']}"
    return note


def request_view(vi: VersionIndex, row: dict[str, Any], tz: str) -> dict[str, Any]:
    """A report as a GeoReport v2 service request, fields in the spec's order. No reporter
    data at all (the spec returns none), so the answer is the same for every caller.

    `address` is the area chain from the grid up ("most specific to most general", as the
    spec asks); `address_id` is the grid's code (the township's for a request in no grid)."""
    chain = [_area_name(vi, row[f"{lv}_code"]) for lv in
             ("grid", "village", "township", "county", "prefecture") if row[f"{lv}_code"]]
    media = row["media_urls"] or []
    return {
        "service_request_id": row["id"],
        "status": "closed" if row["status"] == "closed" else "open",
        "status_notes": status_notes(row),
        "service_name": SERVICES[row["subtype"]].name_zh if row["subtype"] in SERVICES
        else row["subtype"],
        "service_code": row["subtype"],
        "description": row["description"],
        "agency_responsible": _area_name(vi, row["owner_code"]) or row["owner_code"],
        "service_notice": service_notice(vi, row, tz),
        "requested_datetime": _iso(row["received_at"]),
        "updated_datetime": _iso(row["closed_at"] if row["status"] == "closed"
                                 and row["closed_at"] else row["updated_at"]),
        "expected_datetime": _iso(row["due_at"]),
        "address": ", ".join(n for n in chain if n) or None,
        "address_id": home_area(row),
        "zipcode": None,
        "lat": row["lat"] if math.isfinite(row["lat"]) else None,
        "long": row["lon"] if math.isfinite(row["lon"]) else None,
        "media_url": media[0] if media else None,
    }


# Nothing here ever writes to a reporter (the follow-up, 回访, is a call or a visit), so an
# email would be personal data kept without a use. It is accepted (clients of the spec send
# it) and not kept, and the answer's notice says so, so no citizen waits for mail.
EMAIL_NOTICE = "未保存电子邮箱：回访以电话进行（email not kept: follow-up is by phone）。"


def created_view(vi: VersionIndex, row: dict[str, Any], tz: str, *,
                 email_given: bool = False) -> dict[str, Any]:
    """The answer to a POST: the request id at once (we are realtime: no token)."""
    notice = service_notice(vi, row, tz)
    return {"service_request_id": row["id"],
            "service_notice": f"{notice}{EMAIL_NOTICE}" if email_given else notice,
            "account_id": None}


def resolve_token(conn: sa.Connection, vi: VersionIndex, token: str, *, scope: Scope
                  ) -> dict[str, Any]:
    """GET tokens/{token}: our requests get their id at once, so a token is either a
    service_request_id or the idempotency key a POST carried (which finds the request that
    key created). 404 for anything else, and for a request outside the caller's scope."""
    try:
        rid = request_id(token)
    except Invalid:
        rid = None
    row = report_row(conn, rid) if rid else None
    if row is None or not scope.covers(vi, home_area(row)):
        raise NotFound(f"no token {token[:40]!r}", "token", code="unknown_report")
    return {"service_request_id": row["id"], "token": token}
