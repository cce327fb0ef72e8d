"""The registry on both backends: versions, the index per version, households."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geo_service.app import services
from geo_service.store.tables import areas, boundary_versions
from geo_service.versions import area_frame, live_version

from .tiny import G1, G3, tiny_areas


def test_tiny_prefecture_is_stored_and_live(engine: sa.Engine, tiny: int) -> None:
    with engine.connect() as conn:
        assert live_version(conn) == tiny
        frame = area_frame(conn, tiny)
    expected = tiny_areas()
    assert sorted(frame["code"]) == sorted(expected["code"])
    g3 = frame.set_index("code").loc[G3]
    assert g3["name"] == "第三网格"  # UTF-8 round trip
    assert g3.geometry.equals(expected.set_index("code").loc[G3].geometry)


def test_index_follows_live_version(app, tiny: int) -> None:
    vi = services(app).indexes.live()
    assert vi.version == tiny
    assert len(vi.grids) == 4 and len(vi.groups) == 4
    assert [a.level for a in vi.chain(G1)] == ["grid", "village", "township", "county",
                                               "prefecture"]


def test_postgis_columns_are_native_geometry(engine: sa.Engine, tiny: int) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostGIS only: SQLite stores geometry as WKB")
    with engine.connect() as conn:
        kinds = dict(conn.execute(sa.text(
            "SELECT f_table_name, type FROM geometry_columns WHERE srid = 4326")).all())
        gist = conn.execute(sa.text(
            "SELECT count(*) FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'")).scalar()
        inside = conn.execute(sa.text(
            "SELECT code FROM areas WHERE level = 'grid' AND "
            "ST_Covers(geom, ST_SetSRID(ST_Point(103.005, 35.01), 4326))")).scalars().all()
    assert kinds == {"areas": "MULTIPOLYGON", "households": "POINT"}
    assert gist == 2
    assert inside == [G1]


def test_versions_table_records_the_publish(engine: sa.Engine, tiny: int) -> None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(boundary_versions)).one()
        n = conn.execute(sa.select(sa.func.count()).select_from(areas)).scalar()
    assert row.state == "live" and row.published_at is not None
    assert n == len(tiny_areas())


def test_sqlite_runs_in_wal_mode(engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_are_idempotent_and_versioned(engine: sa.Engine) -> None:
    from alembic.script import ScriptDirectory

    from geo_service.store.engine import MIGRATIONS, upgrade

    upgrade(engine)  # a second run changes nothing
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
            == head == "0012"


def test_migrations_and_table_definitions_agree(engine: sa.Engine) -> None:
    """The migrations repeat the models on purpose; autogenerate finds no difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from geo_service.store.tables import metadata

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # PostGIS keeps tables of its own (spatial_ref_sys), and the GiST indexes on geometry
    # are PostgreSQL-only DDL in the migration: neither is in the table definitions.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in
                                    metadata.tables)
            and not (d[0] == "remove_index" and d[1].name in ("ix_areas_geom",
                                                               "ix_households_geom"))]
    assert diff == []


def test_upgrade_keeps_token_rights_and_moves_draft_removals_aside(tmp_path) -> None:
    """A store made by migration 0001, with a live version, an unpublished draft that
    closed a live row, and a scoped token, upgraded to head."""
    from alembic import command
    from alembic.config import Config

    from geo_service.store.engine import MIGRATIONS, make_engine, upgrade
    from geo_service.store.tables import api_tokens, version_removals

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(sa.text(
            "INSERT INTO boundary_versions (id, state, author, note, created_at) VALUES "
            "(1, 'live', 't', '', '2026-01-01'), (2, 'draft', 't', '', '2026-01-02')"))
        conn.execute(sa.text(
            "INSERT INTO areas (id, code, name, level, version_from, version_to, geom) "
            "VALUES (1, 'G', 'g', 'grid', 1, 2, x'00'), (2, 'G', 'g2', 'grid', 2, NULL, x'00')"))
        conn.execute(sa.text("INSERT INTO users (id, name, role, area_code, created_at) "
                             "VALUES (1, 'wall', 'viewer', '623001', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO api_tokens (user_id, token_hash, prefix, "
                             "created_at) VALUES (1, 'h', 'gs_x', '2026-01-01')"))
    upgrade(engine)
    with engine.connect() as conn:
        token = conn.execute(sa.select(api_tokens.c.role, api_tokens.c.area_code)).one()
        removals = conn.execute(sa.select(version_removals)).all()
        closed = conn.execute(sa.text("SELECT version_to FROM areas WHERE id = 1")).scalar()
        bases = conn.execute(sa.select(boundary_versions.c.id, boundary_versions.c.base_version)
                             .order_by(boundary_versions.c.id)).all()
    engine.dispose()
    assert tuple(token) == ("viewer", "623001")
    assert [tuple(r) for r in removals] == [(2, 1)] and closed is None
    assert [tuple(b) for b in bases] == [(1, None), (2, 1)]
