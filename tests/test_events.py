"""Events go into the outbox in the transaction of their change: an event exists exactly
when its change does, and listeners hear of it only after the commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from geo_service import events
from geo_service.events import BoundaryPublished
from geo_service.store import outbox
from geo_service.store.tables import boundary_versions
from geo_service.store.uow import unit_of_work
from geo_service.versions import import_areas, live_version

from .conftest import import_now
from .test_index_cache import _moved_grids


def _outbox(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return outbox.read_after(conn, 0)


def test_a_publish_is_one_event_in_the_outbox(engine, tiny) -> None:
    with events.listen() as heard:
        version = import_now(engine, _moved_grids(103.015), "grid").version
    assert heard == [BoundaryPublished(version=version, previous=tiny, households_moved=0)]
    rows = _outbox(engine)
    assert [(r["kind"], r["area_code"], r["payload"]) for r in rows][-1] == (
        "boundary.published", None,
        {"version": version, "previous": tiny, "households_moved": 0})
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_a_rolled_back_change_leaves_no_event(engine, tiny) -> None:
    before = _outbox(engine)
    with (events.listen() as heard,
          pytest.raises(RuntimeError, match="after the publish"),
          unit_of_work(engine) as uow):
        import_areas(uow.conn, _moved_grids(103.015), "grid", author="t")
        assert len(_pending(uow.conn)) == 1
        raise RuntimeError("failed after the publish")
    assert heard == [] and _outbox(engine) == before
    with engine.connect() as conn:
        assert live_version(conn) == tiny
    # The connection goes back to the pool with nothing pending for the next unit of work.
    with unit_of_work(engine) as uow:
        assert not uow.conn.info.get("geo_events")


def test_a_dry_run_announces_nothing(engine, tiny) -> None:
    with events.listen() as heard:
        result = import_now(engine, _moved_grids(103.015), "grid", dry_run=True)
    assert result.report.ok and not result.written
    assert heard == [] and [r["kind"] for r in _outbox(engine)] == ["boundary.published"]
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(boundary_versions)).scalar()
    assert n == 1


def test_read_after_and_prune(engine, tiny) -> None:
    import_now(engine, _moved_grids(103.015), "grid")
    first, second = _outbox(engine)
    with engine.connect() as conn:
        assert [r["id"] for r in outbox.read_after(conn, first["id"])] == [second["id"]]
    with engine.begin() as conn:
        assert outbox.prune(conn, timedelta(days=1)) == 0
        assert outbox.prune(conn, timedelta(seconds=-1)) == 2
    assert _outbox(engine) == []


def _pending(conn: sa.Connection) -> list:
    return [e for t, e in conn.info.get("geo_events", []) if t is conn.get_transaction()]


def test_publish_all_is_each_event_in_order_in_one_statement(engine, tiny) -> None:
    """A call-out's orders go in as one executemany: the same rows, in the same order, as
    one `publish` each, heard after the commit; nothing on rollback."""
    orders = [events.CalloutCalled(id="c1", area=f"62300100{k}", worker=f"W{k}",
                                   callout_area="623001", lon=102.9, lat=35.0, radius_m=None,
                                   message="集结") for k in range(5)]
    last = _outbox(engine)[-1]["id"] if _outbox(engine) else 0
    with events.listen() as heard, unit_of_work(engine) as uow:
        events.publish_all(uow.conn, orders)
        events.publish_all(uow.conn, [])
    assert heard == orders
    rows = [r for r in _outbox(engine) if r["id"] > last]
    assert [(r["kind"], r["area_code"], r["payload"]["worker"]) for r in rows] == [
        ("callout.called", o.area, o.worker) for o in orders]
    before = len(_outbox(engine))
    with pytest.raises(RuntimeError), events.listen() as heard, unit_of_work(engine) as uow:
        events.publish_all(uow.conn, orders)
        raise RuntimeError("the change failed")
    assert heard == [] and len(_outbox(engine)) == before
