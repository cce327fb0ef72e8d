"""Values every domain reads alike: a bad whole number is the same 400 wherever it is sent."""

from __future__ import annotations

import pytest

from geo_service.errors import Invalid
from geo_service.inputs import whole_number

from .conftest import bearer


@pytest.mark.parametrize("raw, expected", [
    (None, 7),  # absent: the default
    ("1", 1),  # the bounds are inclusive
    ("10", 10),
    ("007", 7),  # leading zeros are still plain digits
])
def test_whole_numbers_are_read(raw, expected) -> None:
    args = {} if raw is None else {"n": raw}
    assert whole_number(args, "n", 1, 10, 7) == expected


@pytest.mark.parametrize("raw", [
    "0", "11",  # out of range
    "", "x", "1.5", "-1", "+1", " 1", "1_0",  # not plain digits
    "\uff11",  # a full-width 1: a digit to str.isdigit, not to us
    "9" * 400,  # no overflow, no int() digit limit
])
def test_bad_whole_numbers_are_one_error(raw) -> None:
    with pytest.raises(Invalid) as err:
        whole_number({"n": raw}, "n", 1, 10, 7)
    assert (err.value.code, err.value.field) == ("invalid_number", "n")
    assert "whole number from 1 to 10" in err.value.message


def test_a_required_whole_number_is_missing_without_a_default() -> None:
    with pytest.raises(Invalid) as err:
        whole_number({}, "n", 1, 10)
    assert (err.value.code, err.value.field) == ("missing", "n")


@pytest.mark.parametrize("path", [
    "/api/v1/reports?limit=0",
    "/api/v1/reports?cursor=x",
    "/api/v1/coverage?days=0",
    "/api/v1/callouts?limit=0",
    "/api/v1/areas/900000/households?per_page=0",
    "/open311/v2/requests.json?page_size=0",
])
def test_every_endpoint_refuses_a_bad_whole_number_alike(client, tokens, path) -> None:
    r = client.get(path, headers=bearer(tokens["admin"]))
    assert r.status_code == 400
    body = r.get_json()
    error = body[0] if isinstance(body, list) else body["error"]  # Open311: the spec's shape
    assert "must be a whole number from" in (error.get("message") or error["description"])
    if isinstance(body, dict):
        assert error["code"] == "invalid_number"


@pytest.mark.parametrize("raw, ok", [
    ("2026-11-29T08:30:00+08:00", True),
    ("2026-11-29T08:30:00Z", True),
    ("2026-11-29T08:30:00", False),  # no offset: ambiguous across zones
    ("1969-12-31T23:59:59Z", False),  # before 1970
    (1764376200, False),  # a number is not a time
])
def test_times_are_read_alike_everywhere(raw, ok) -> None:
    from geo_service.inputs import parse_time

    if ok:
        assert parse_time(raw, "t").utcoffset().total_seconds() == 0
    else:
        with pytest.raises(Invalid) as err:
            parse_time(raw, "t")
        assert (err.value.code, err.value.field) == ("invalid_time", "t")


@pytest.mark.parametrize("raw", [True, "1", float("nan"), 10**400])
def test_json_numbers_must_be_finite_numbers(raw) -> None:
    from geo_service.inputs import finite

    with pytest.raises(Invalid) as err:
        finite(raw, "x")
    assert (err.value.code, err.value.field) == ("invalid_number", "x")


def test_a_repeated_key_is_found_behind_a_list_of_scalars() -> None:
    """The member count skips lists that start with a scalar (point lists); a repeat
    hidden after such a start is still named, by the re-read."""
    import json

    from geo_service.web.jsonio import repeated_key

    for text, key in ((b'{"a": [1, {"x": 1, "x": 2}]}', "x"),
                      (b'{"points": [[1, 2], [3, 4]], "crs": "a", "crs": "b"}', "crs"),
                      (b'{"points": [[1, 2], [3, 4]], "crs": "a"}', None)):
        assert repeated_key(text, json.loads(text)) == key
