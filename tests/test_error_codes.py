"""One error family and one vocabulary: every code the source raises is in the README's
table under its status, and the table lists nothing the code cannot raise."""

from __future__ import annotations

import re
from pathlib import Path

from geo_service.errors import BY_STATUS, ServiceError

ROOT = Path(__file__).resolve().parent.parent
WERKZEUG = {"not_found": 404, "method_not_allowed": 405}  # routing, in the same shape


def _readme_codes() -> dict[str, int]:
    text = ROOT.joinpath("README.md").read_text("utf-8")
    rows = re.findall(r"^\| (\d{3}) \| (.+) \|$", text, re.M)
    return {code: int(status) for status, codes in rows for code in re.findall(r"`(\w+)`", codes)}


def _source_codes() -> set[str]:
    codes: set[str] = set()
    for path in [*ROOT.glob("geo_service/**/*.py"), *ROOT.glob("boundaries/**/*.py")]:
        text = path.read_text("utf-8")
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', text))
        codes |= set(re.findall(r'default_code = (?:\d+, )?"([a-z_]+)"', text))
    # per-point problems in a batch: ("code", field, reason) tuples in the lookup
    for path in ROOT.glob("geo_service/lookup/*.py"):
        codes |= set(re.findall(r'(?:return|=)\s*\(\s*"([a-z_]+)",\s*(?:field|"[a-z]+"),',
                                path.read_text("utf-8")))
    return codes - {"error"}  # the family's root, never raised itself


def test_every_code_is_documented_under_its_status() -> None:
    readme, source = _readme_codes(), _source_codes()
    assert source - set(readme) == set()
    assert set(readme) - source - set(WERKZEUG) == set()
    for kind in BY_STATUS.values():
        assert readme[kind.default_code] == kind.status, kind


def test_every_kind_answers_in_the_one_shape_with_its_status(app) -> None:
    """Raise each kind from a view: the one handler answers with its status and shape."""
    from geo_service.web import allow

    kinds = list(BY_STATUS.values())

    @app.get("/api/v1/raise/<int:i>")
    @allow("public")
    def raiser(i: int):
        raise kinds[i]("it went wrong", "here", headers={"X-Why": "test"})

    client = app.test_client()
    for i, kind in enumerate(kinds):
        resp = client.get(f"/api/v1/raise/{i}")
        assert resp.status_code == kind.status
        assert resp.get_json() == {"error": {"code": kind.default_code,
                                             "message": "it went wrong", "field": "here"}}
        assert resp.headers["X-Why"] == "test"
        assert issubclass(kind, ServiceError)
