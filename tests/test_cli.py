"""The operator's commands, run in-process against a real SQLite file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from geo_service.cli import main

from .tiny import G1, G2, G3, G4, tiny_areas


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> CliRunner:
    monkeypatch.setenv("GEO_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    return CliRunner()


def test_import_levels_then_households_then_export(cli_env, tmp_path) -> None:
    areas = tiny_areas()
    for level in ("prefecture", "county", "township", "village", "grid", "group"):
        path = tmp_path / f"{level}.geojson"
        areas[areas.level == level].drop(columns="level").to_file(path)
        res = cli_env.invoke(main, ["import-areas", str(path), "--level", level])
        assert res.exit_code == 0, res.output
    roster = tmp_path / "hh.csv"
    roster.write_text("code,address,lon,lat,head_name,phone,members\n"
                      "H1,甲村1号,103.005,35.01,王五,13900001111,3\n"
                      "H2,乙村2号,35.01,103.03,赵六,13900002222,2\n"
                      "H3,乙村3号,abc,35.01,钱七,13900003333,1\n"
                      "H4,乙村4号,103.03,35.01,孙八,13900004444,4\n", encoding="utf-8")
    res = cli_env.invoke(main, ["import-households", str(roster), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[:res.output.rindex("}") + 1])
    assert report["accepted"] == 2
    assert {r["row"]: r["field"] for r in report["rejected"]} == {2: "lon", 3: "lon"}
    assert "swapped" in report["rejected"][0]["reason"]
    out = tmp_path / "hh.geojson"
    res = cli_env.invoke(main, ["export", str(out), "--level", "household"])
    assert res.exit_code == 0 and "wrote 2 household" in res.output
    props = [f["properties"] for f in json.loads(out.read_text("utf-8"))["features"]]
    assert {p["grid_code"] for p in props} == {"900001001001001", "900002001001002"}
    assert {p["head_name"] for p in props} == {"王*", "孙*"}  # masked unless --with-pii


def test_bad_file_exits_nonzero_with_the_report(cli_env, tmp_path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    res = cli_env.invoke(main, ["import-areas", str(bad), "--level", "grid"])
    assert res.exit_code == 1 and "unreadable_file" in res.output


def test_a_refused_import_names_each_feature_by_its_own_code(cli_env, tmp_path) -> None:
    """Every line of the report starts with the feature's own index and code (read from
    the file's own code field), an overlap names the other party too; --json says the same
    in `index` and `feature_code`."""
    areas = tiny_areas()
    for level in ("prefecture", "county", "township", "village"):
        path = tmp_path / f"{level}.geojson"
        areas[areas.level == level].drop(columns="level").to_file(path)
        assert cli_env.invoke(main, ["import-areas", str(path), "--level", level]
                              ).exit_code == 0

    def square(x0, y0, x1, y1):
        return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]

    shapes = {  # code -> (parent, ring); G1 reaches 0.002° into G2
        G1: ("900001001001", square(103.0, 35.0, 103.012, 35.02)),
        G2: ("900001001001", square(103.01, 35.0, 103.02, 35.02)),
        G3: ("900002001001", [[[y, x] for x, y in square(103.02, 35.0, 103.04, 35.02)[0]]]),
        G4: ("900002001001", [[[103.025, 35.005], [103.035, 35.015], [103.035, 35.005],
                               [103.025, 35.015], [103.025, 35.005]]]),
    }
    features = [{"type": "Feature", "properties": {"GRIDCODE": code, "parent_code": parent},
                 "geometry": {"type": "Polygon", "coordinates": ring}}
                for code, (parent, ring) in shapes.items()]
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    args = ["import-areas", str(path), "--level", "grid", "--code-field", "GRIDCODE"]
    res = cli_env.invoke(main, args)
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith(f"#0 ({G1}) overlap: overlaps #1 ({G2}) by "), lines
    assert lines[1].startswith(f"#2 ({G3}) swapped_axes: "), lines
    assert lines[2] == f"#3 ({G4}) invalid_geometry: Self-intersection[103.03 35.01]"
    assert lines[-1] == "refused 4 grid areas"
    res = cli_env.invoke(main, [*args, "--json"])
    report = json.loads(res.output[:res.output.rindex("}") + 1])
    named = [(p["code"], p["index"], p["feature_code"]) for p in report["problems"]
             if p["fatal"]]
    assert named == [("overlap", 0, G1), ("swapped_axes", 2, G3),
                     ("invalid_geometry", 3, G4)]
    assert report["problems"][0]["detail"]["other_code"] == G2


def test_create_and_revoke_token(cli_env) -> None:
    res = cli_env.invoke(main, ["create-token", "--role", "viewer", "--name", "wall"])
    token = res.output.strip()
    assert res.exit_code == 0 and token.startswith("gs_") and len(token) > 30
    res = cli_env.invoke(main, ["revoke-token", "--prefix", token[:10]])
    assert res.output.strip() == "revoked 1 token(s)"


def test_draft_then_publish(cli_env, tmp_path) -> None:
    areas = tiny_areas()
    for level in ("prefecture", "county"):
        path = tmp_path / f"{level}.geojson"
        areas[areas.level == level].drop(columns="level").to_file(path)
        flags = ["--draft"] if level == "county" else []
        res = cli_env.invoke(main, ["import-areas", str(path), "--level", level, *flags])
        assert res.exit_code == 0, res.output
    listing = cli_env.invoke(main, ["versions"]).output.splitlines()
    assert [line.split()[1] for line in listing] == ["live", "draft"]
    res = cli_env.invoke(main, ["publish", "2"])
    assert res.exit_code == 0 and "version 2 is live" in res.output
    listing = cli_env.invoke(main, ["versions"]).output.splitlines()
    assert [line.split()[1] for line in listing] == ["retired", "live"]
    again = cli_env.invoke(main, ["publish", "2"])
    assert again.exit_code == 1 and "not a draft" in again.output
    for version, n in ((1, 0), (2, 2)):  # export as each version saw it
        out = tmp_path / f"counties_v{version}.gpkg"
        res = cli_env.invoke(main, ["export", str(out), "--level", "county",
                                    "--version", str(version)])
        assert res.exit_code == 0 and f"wrote {n} county" in res.output, res.output


def test_personal_data_leaving_is_audited(cli_env, tmp_path, monkeypatch) -> None:
    """Roster imports and PII exports leave an audit line naming who and where."""
    import sqlalchemy as sa

    from geo_service.store.tables import audit_log

    monkeypatch.setenv("USER", "ops-li")
    test_import_levels_then_households_then_export(cli_env, tmp_path)
    out = tmp_path / "pii.gpkg"
    res = cli_env.invoke(main, ["export", str(out), "--level", "household", "--with-pii"])
    assert res.exit_code == 0, res.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.action.in_(
            ["import_households", "export_pii"])).order_by(audit_log.c.id)).all()
    engine.dispose()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("ops-li", "import_households", "hh.csv"), ("ops-li", "export_pii", str(out))]
    assert rows[0].detail == {"rows": 4, "accepted": 2, "rejected": 2}
    assert rows[1].detail == {"households": 2}


def test_workers_do_not_migrate_but_say_how(cli_env) -> None:
    """An app on an unmigrated store refuses to start and names the command; after
    `geo-service migrate` it starts."""
    from geo_service.app import create_app, services
    from geo_service.store.engine import SchemaNotCurrent

    with pytest.raises(SchemaNotCurrent, match="geo-service migrate"):
        create_app()
    res = cli_env.invoke(main, ["migrate"])
    assert res.exit_code == 0, res.output
    services(create_app()).close()


def test_a_mistyped_setting_is_one_line_not_a_traceback(cli_env, monkeypatch) -> None:
    monkeypatch.setenv("GEO_WORKER", "4")
    res = cli_env.invoke(main, ["versions"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "unknown setting 'GEO_WORKER'; did you mean 'GEO_WORKERS'?" in res.output


@pytest.mark.parametrize(("args", "says"), [
    (["export", "--level", "grid", "--version", "999", "out.gpkg"], "version 999"),
    (["export", "--level", "grid", "out.csv"], "out.csv"),
    (["export", "out.csv"], "--level"),
    (["import-areas", "file.csv", "--level", "grid"], "file.csv"),
    (["export", "--level", "household", "--version", "999", "out.gpkg"], "not versioned"),
])
def test_wrong_arguments_get_one_line_and_exit_2(cli_env, tmp_path, args, says) -> None:
    areas = tiny_areas()
    path = tmp_path / "grid.geojson"
    areas[areas.level == "prefecture"].drop(columns="level").to_file(path)
    assert cli_env.invoke(main, ["import-areas", str(path), "--level", "prefecture"]
                          ).exit_code == 0
    (tmp_path / "file.csv").write_text("code,name\n1,a\n", encoding="utf-8")
    args = [str(tmp_path / a) if a.endswith((".csv", ".gpkg")) else a for a in args]
    res = cli_env.invoke(main, args)
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and says in res.stderr
    if "--level" in args:  # ours: one line; click's own usage error also prints the usage
        assert res.stderr.strip().count("\n") == 0, res.stderr
    assert not (tmp_path / "out.gpkg").exists()


@pytest.mark.parametrize(("env", "says"), [
    ({"GEO_WORKERS": "-1"}, "WORKERS must be a finite number from 0 to 64"),
    ({"GEO_NEAR_BOUNDARY_M": "nan"}, "NEAR_BOUNDARY_M must be a finite number"),
    ({"GEO_DATABASE_URL": "bogus://x"}, "GEO_DATABASE_URL: cannot open the store"),
])
def test_serve_refuses_bad_settings_in_one_line(cli_env, monkeypatch, env, says) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    res = cli_env.invoke(main, ["serve", "--port", "1"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert says in res.output and res.output.count("\n") == 1
