"""Importing boundary files: every bad file gives the full report and changes nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from geo_service.store.tables import areas, audit_log, boundary_versions

from .conftest import import_now
from .tiny import G1, G2, G3, G4


def _snapshot(engine: sa.Engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                     for t in (areas, boundary_versions, audit_log)) + (
            tuple(conn.execute(sa.select(areas.c.id, areas.c.version_to)
                               .order_by(areas.c.id)).all()),)


def _square(x0: float, y0: float, x1: float, y1: float) -> list:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def _feature(code: str, coords, parent: str = "900001001001", kind: str = "Polygon",
             **props) -> dict:
    return {"type": "Feature", "properties": {"code": code, "name": f"网格{code[-3:]}",
                                              "parent_code": parent, **props},
            "geometry": {"type": kind, "coordinates": coords} if coords is not None else None}


def _write(tmp_path, features: list[dict], text: str | None = None) -> str:
    path = tmp_path / "grids.geojson"
    path.write_text(text if text is not None else json.dumps(
        {"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8")
    return str(path)


GOOD_G1 = _feature(G1, _square(103.0, 35.0, 103.01, 35.02))
GOOD_G2 = _feature(G2, _square(103.01, 35.0, 103.02, 35.02))

BAD_FILES = [
    # (name, features or raw text, expected problem codes)
    ("self-intersecting polygon", [
        _feature(G1, [[[103.0, 35.0], [103.01, 35.02], [103.01, 35.0], [103.0, 35.02],
                       [103.0, 35.0]]]), GOOD_G2], {"invalid_geometry"}),
    ("overlapping siblings", [
        _feature(G1, _square(103.0, 35.0, 103.012, 35.02)), GOOD_G2], {"overlap"}),
    ("child outside its parent", [
        GOOD_G1, _feature(G2, _square(103.01, 35.0, 103.03, 35.02))], {"outside_parent"}),
    ("missing parent", [GOOD_G1, _feature(G2, _square(103.01, 35.0, 103.02, 35.02),
                                          parent="999")], {"missing_parent"}),
    ("swapped axes", [GOOD_G1, _feature(G2, [[[y, x] for x, y in _square(
        103.01, 35.0, 103.02, 35.02)[0]]])], {"swapped_axes"}),
    ("point geometry", [GOOD_G1, _feature(G2, [103.015, 35.01], kind="Point")],
     {"not_polygon"}),
    ("empty geometry", [GOOD_G1, _feature(G2, None)], {"empty_geometry"}),
    ("duplicate codes", [GOOD_G1, _feature(G1, _square(103.01, 35.0, 103.02, 35.02))],
     {"duplicate_code"}),
    ("truncated file", '{"type": "FeatureCollection", "features": [{"type": "Feat',
     {"unreadable_file"}),
    ("several problems at once", [
        _feature(G1, [[[103.0, 35.0], [103.01, 35.02], [103.01, 35.0], [103.0, 35.02],
                       [103.0, 35.0]]]),
        _feature(G2, [103.015, 35.01], kind="Point"),
        _feature(G3, _square(103.02, 35.0, 103.04, 35.02), parent="nope"),
        _feature(G3, _square(103.02, 35.0, 103.04, 35.02), parent="900002001001")],
     {"invalid_geometry", "not_polygon", "missing_parent", "duplicate_code"}),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_FILES,
                         ids=[b[0] for b in BAD_FILES])
def test_bad_file_reports_everything_and_changes_nothing(engine, tiny, tmp_path, name,
                                                         content, expected) -> None:
    before = _snapshot(engine)
    path = (_write(tmp_path, [], text=content) if isinstance(content, str)
            else _write(tmp_path, content))
    result = import_now(engine, path, "grid", author="t")
    found = {p.code for p in result.report.errors}
    assert expected <= found, result.report.summary()
    assert not result.written and not result.report.ok
    assert _snapshot(engine) == before, name
    for p in result.report.errors:
        if p.code != "unreadable_file":  # each problem names its own feature: index, code
            assert p.index is not None
            assert p.feature_code == content[p.index]["properties"]["code"], p
            assert result.report.summary().count(f"#{p.index} ({p.feature_code}) {p.code}: ")


def test_unknown_crs_is_reported(engine, tiny, tmp_path) -> None:
    before = _snapshot(engine)
    result = import_now(engine, _write(tmp_path, [GOOD_G1, GOOD_G2]), "grid", author="t",
                          crs="EPSG:999999")
    assert {p.code for p in result.report.errors} == {"unknown_crs"}
    assert _snapshot(engine) == before


def test_dry_run_reports_but_writes_nothing(engine, tiny, tmp_path) -> None:
    before = _snapshot(engine)
    result = import_now(engine, _write(tmp_path, [GOOD_G1, GOOD_G2]), "grid", author="t",
                        dry_run=True)
    assert result.report.ok and not result.written
    assert _snapshot(engine) == before


def test_good_file_publishes_a_new_version_and_keeps_the_old(engine, tiny, tmp_path) -> None:
    moved = [_feature(G1, _square(103.0, 35.0, 103.015, 35.02)),
             _feature(G2, _square(103.015, 35.0, 103.02, 35.02))]
    result = import_now(engine, _write(tmp_path, moved), "grid", author="planner-1")
    assert result.written and sorted(result.replaced) == [G1, G2]
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(boundary_versions.c.id,
                                             boundary_versions.c.state)).all())
        live_g3 = conn.execute(sa.select(areas.c.version_from).where(
            areas.c.code == G3, areas.c.version_to.is_(None))).scalar()
        g1_rows = conn.execute(sa.select(areas.c.version_from, areas.c.version_to)
                               .where(areas.c.code == G1).order_by(areas.c.id)).all()
    assert states == {tiny: "retired", result.version: "live"}
    assert live_g3 == tiny  # untouched grids carry over without a copy
    assert [tuple(r) for r in g1_rows] == [(tiny, result.version), (result.version, None)]
    assert G4  # the enclave is untouched too


def test_gap_in_parent_is_a_warning_not_fatal(engine, tiny, tmp_path) -> None:
    result = import_now(engine, _write(tmp_path, [
        _feature(G1, _square(103.0, 35.0, 103.01, 35.02)),
        _feature(G2, _square(103.01, 35.0, 103.019, 35.02))]), "grid", author="t",
        dry_run=True)
    assert result.report.ok
    assert [p.code for p in result.report.warnings] == ["gap"]
