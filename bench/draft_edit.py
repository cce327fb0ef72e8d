"""How long one edit of a draft takes, and its validation, in a township of ~30 grids.

    python bench/draft_edit.py [--runs 5]

Builds 合作市 (623001) of the synthetic demo with 170 grids (its largest township: 27) and
~9 groups per grid into a throwaway SQLite file, picks the township whose grid count is
closest to 30, opens a draft on it and moves one vertex shared by two of its grids (each
run moves it back and forth). Reports, best of `--runs`: the whole edit (read, compute,
regroup, write, log, validate) and the validation after it alone (grids of the parent
village(s) and groups of the changed grids), as `geo_service.editing` runs them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.auth import Principal  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.editing import apply, drafts, problems  # noqa: E402
from geo_service.editing.ops import Op  # noqa: E402
from geo_service.editing.states import frame  # noqa: E402
from geo_service.scope import EVERYTHING  # noqa: E402
from geo_service.store.engine import make_engine, upgrade  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402
from geo_service.versions import build_indexes, live_version  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        upgrade(engine)
        demo = build_demo(623000, counties=["623001"], grids=170, groups=1_530,
                          households=20_000)
        with unit_of_work(engine) as uow:
            load_demo(uow.conn, demo=demo)
        with engine.connect() as conn:
            vi = build_indexes(conn, live_version(conn), raster=False)
        grids = [a for a in vi.areas.values() if a.level == "grid"]
        village_of = {a.code: a.parent_code for a in vi.areas.values()}
        per_township = Counter(village_of[g.parent_code] for g in grids)
        township, n = min(per_township.items(), key=lambda kv: abs(kv[1] - 30))
        actor = Principal("bench", "planner")
        with unit_of_work(engine) as uow:
            draft = drafts.open_draft(uow.conn, actor, EVERYTHING, vi, area=township)
        with engine.connect() as conn:
            layer = frame(conn, draft.id, draft.base, level="grid")
        mine = layer[layer["parent_code"].map(village_of) == township]
        a, b = _shared_vertex(mine)
        edit_s, check_s = [], []
        for i in range(args.runs):
            at, to = (a, b) if i % 2 == 0 else (b, a)
            op = Op("move_vertex", level="grid", at=at, to=to)
            t0 = time.perf_counter()
            with unit_of_work(engine) as uow:
                out = apply.apply_edit(uow.conn, draft, op, actor, snap_m=2.0,
                                       tolerance_m=5.0)
            edit_s.append(time.perf_counter() - t0)
            moved = sorted(c for c, st in out.after.items() if st and
                           st["row"]["level"] == "grid")
            assert len(moved) >= 2, moved  # a shared vertex: both grids follow
            with engine.connect() as conn:
                parents = set(frame(conn, draft.id, draft.base, level="grid",
                                    codes=set(out.after))["parent_code"])
                t0 = time.perf_counter()
                problems.validate_parents(conn, draft.id, draft.base, "grid", parents, 5.0)
                problems.validate_parents(conn, draft.id, draft.base, "group",
                                          {c for c, s in out.after.items()
                                           if s and s["row"]["level"] == "grid"}, 5.0)
                check_s.append(time.perf_counter() - t0)
        print(f"township {township}: {n} grids; one edit (move a vertex shared by "
              f"{len(moved)} grids; {len(out.after)} areas written with their groups)")
        print(f"| step | best of {args.runs} |")
        print("| --- | --- |")
        print(f"| whole edit, SQLite | {min(edit_s) * 1000:.0f} ms |")
        print(f"| validation after it | {min(check_s) * 1000:.0f} ms |")


def _shared_vertex(layer) -> tuple[tuple[float, float], tuple[float, float]]:
    """A vertex two grids share, and a point 20 m (about) inside one of them."""
    seen: dict[tuple[float, float], int] = {}
    for geom in layer.geometry:
        for xy in {tuple(c) for c in shapely.get_coordinates(geom).tolist()}:
            seen[xy] = seen.get(xy, 0) + 1
    shared = sorted(xy for xy, k in seen.items() if k == 2)
    at = shared[len(shared) // 2]
    return at, (at[0] + 0.0002, at[1] + 0.0001)


if __name__ == "__main__":
    main()
