"""boundaries.edit on a village cut by hand into nine grids near 103°E 35°N.

    35.03 +------+------+------+
          |  G7  |  G8  |  G9  |      village 623001001001 = the 3 x 3 block,
    35.02 +------+------+------+      each grid one 0.01° cell: about 913 m east-west
          |  G4  |  G5  |  G6  |      by 1,109 m north-south, 1.01 km²
    35.01 +------+------+------+
          |  G1  |  G2  |  G3  |      each grid holds two ten-household groups:
    35.00 +------+------+------+      its south half (…001) and north half (…002)
        103.00 103.01 103.02 103.03

Every edit that should keep the tessellation valid is checked with the validation itself
(`validate_areas`): no overlap, no gap, nothing outside the village.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, MultiPolygon, Polygon

from boundaries.crs import distance_m
from boundaries.edit import (
    Edit,
    EditRefused,
    add,
    delete,
    merge,
    move_vertex,
    regroup,
    reshape,
    split,
)
from boundaries.validate import LocalMetres, Report, validate_areas
from tests import tiny

D = 0.01  # one grid cell, in degrees
M = 1 / 91_288.0  # one metre east-west at 35°N, in degrees
M_NS = 1 / 110_941.0  # one metre north-south
CELL_M2 = D / M * D / M_NS  # about 1.0128 km²
VILLAGE = "623001001001"
G = {n: f"{VILLAGE}{n:03d}" for n in range(1, 10)}


def x(col: float) -> float:
    return round(103.0 + col * D, 10)


def y(row: float) -> float:
    return round(35.0 + row * D, 10)


def cell(col: float, row: float, width: float = 1.0, height: float = 1.0) -> Polygon:
    """A rectangle in grid-cell units from the village's south-west corner."""
    return shapely.box(x(col), y(row), x(col + width), y(row + height))


def grids() -> gpd.GeoDataFrame:
    rows = [{"code": G[n], "name": f"第{n}网格", "level": "grid", "parent_code": VILLAGE,
             "geometry": MultiPolygon([cell((n - 1) % 3, (n - 1) // 3)])} for n in G]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def village() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [VILLAGE], "parent_code": ["623001001"]},
                            geometry=[cell(0, 0, 3, 3)], crs="EPSG:4326")


def groups() -> gpd.GeoDataFrame:
    rows = []
    for n, code in G.items():
        col, row = (n - 1) % 3, (n - 1) // 3
        for k, dy in ((1, 0.0), (2, 0.5)):
            rows.append({"code": f"{code}{k:03d}", "name": f"第{n}网格第{k}组",
                         "level": "group", "parent_code": code,
                         "geometry": MultiPolygon([cell(col, row + dy, 1, 0.5)])})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def validate(layer: gpd.GeoDataFrame) -> Report:
    return validate_areas(layer, level="grid", parents=village())[1]


def cells(geom) -> float:
    """Area in grid cells, measured in metres."""
    return float(LocalMetres(np.array([geom])).area(np.array([geom]))[0]) / CELL_M2


def area_of(layer: gpd.GeoDataFrame, code: str) -> float:
    return cells(layer.set_index("code").geometry[code])


# --------------------------------------------------------------------------- the frame


def test_the_flat_frame_keeps_edges_straight_and_lengths_in_metres():
    measure = LocalMetres(np.array([cell(0, 0, 3, 3)]))
    edge = LineString([(x(0), y(0)), (x(3), y(3))])
    middle = shapely.Point(x(1.2), y(1.2))  # on the edge in degrees
    assert shapely.distance(measure.flat(edge), measure.flat(middle)) < 1e-9
    # while the transverse Mercator bends it: the reason the editor does not use it
    assert shapely.distance(*measure.project(np.array([edge, middle]), 1.0)) > 1e-3
    back = measure.flat(measure.flat(edge), inverse=True)
    assert np.abs(shapely.get_coordinates(back) - shapely.get_coordinates(edge)).max() < 1e-12
    flat_m = measure.flat(edge).length
    assert flat_m == pytest.approx(float(distance_m(x(0), y(0), x(3), y(3))), rel=1e-3)


# --------------------------------------------------------------------------- stays valid


def test_the_hand_made_village_is_clean():
    assert validate(grids()).problems == []


# Each edit on the valid village must leave it valid: no overlap, no gap, no outside_parent.
KEEPS_VALID = [
    # G5 drawn 0.3 cell wider, into G6
    pytest.param(lambda g: reshape(g, G[5], cell(1, 1, 1.3)), id="reshape-grow"),
    # G5 drawn as its west third: the rest goes to the neighbour sharing most border
    pytest.param(lambda g: reshape(g, G[5], cell(1, 1, 0.3)), id="reshape-shrink"),
    # G5 as a diamond through its edges' midpoints and beyond: four neighbours lose a
    # corner, four of its own corners go to neighbours
    pytest.param(lambda g: reshape(g, G[5], Polygon(
        [(x(1.5), y(0.7)), (x(2.3), y(1.5)), (x(1.5), y(2.3)), (x(0.7), y(1.5))])),
        id="reshape-diamond"),
    # G5's corners drawn a metre off (freehand): they snap back on the neighbours
    pytest.param(lambda g: reshape(g, G[5], Polygon(
        [(x(1) + M, y(1) - M_NS), (x(2.2), y(1) + M_NS), (x(2.2), y(2)),
         (x(1) - M, y(2) + M_NS)])), id="reshape-freehand"),
    # the corner G1/G2/G4/G5 moved north-east
    pytest.param(lambda g: move_vertex(g, (x(1), y(1)), (x(1.2), y(1.3))),
                 id="move-shared-corner"),
    # the village's outer corner stays where it is; an inner one slides along an edge
    pytest.param(lambda g: move_vertex(g, (x(2), y(2)), (x(2), y(2.4))),
                 id="move-along-edge"),
    pytest.param(lambda g: split(g, G[5], LineString([(x(0.9), y(1.2)), (x(2.1), y(1.7))]),
                                 new_code=G[5][:-3] + "010", new_name="新网格"), id="split"),
    pytest.param(lambda g: merge(g, [G[5], G[6]], G[5]), id="merge-two"),
    pytest.param(lambda g: merge(g, [G[1], G[2], G[3]], G[2]), id="merge-a-row"),
]


@pytest.mark.parametrize("edit", KEEPS_VALID)
def test_an_edit_keeps_the_village_valid(edit):
    layer = grids()
    result = edit(layer)
    assert isinstance(result, Edit) and result.changed
    after = result.apply(layer)
    report = validate(after)
    assert report.problems == [], report.summary()
    for geom in result.changed.values():
        assert geom.geom_type == "MultiPolygon" and geom.is_valid


def test_edits_in_a_row_keep_it_valid_and_a_t_junction_moves_too():
    layer = reshape(grids(), G[5], cell(1, 1, 1.3)).apply(grids())
    # G5's new south-east corner lies on G3's north edge: G3 got that vertex too
    corner = (x(1.3 + 1), y(1))
    g3 = layer.set_index("code").geometry[G[3]]
    assert corner in {tuple(c) for c in shapely.get_coordinates(g3)}
    moved = move_vertex(layer, corner, (x(2.3), y(0.8)))
    assert set(moved.changed) == {G[3], G[5], G[6]}
    layer = moved.apply(layer)
    assert validate(layer).problems == []
    layer = split(layer, G[5], LineString([(x(1.5), y(0.9)), (x(1.5), y(2.1))]),
                  new_code=G[5][:-3] + "010", new_name="新网格").apply(layer)
    layer = merge(layer, [G[5], G[6]], G[6]).apply(layer)
    report = validate(layer)
    assert report.problems == [], report.summary()


@pytest.mark.parametrize("outline", [
    shapely.box(103.023, 35.003, 103.037, 35.017),  # grows 200 m into its host all round
    shapely.box(103.027, 35.007, 103.033, 35.013),  # shrinks: the ring it frees goes back
])
def test_an_enclave_reshaped_inside_its_host(outline):
    """tests/tiny.py: grid G4 is an enclave in a hole of G3."""
    areas = tiny.tiny_areas()
    grid_layer = areas[areas["level"] == "grid"].reset_index(drop=True)
    villages = areas[areas["level"] == "village"]
    edit = reshape(grid_layer, tiny.G4, outline)
    assert set(edit.changed) == {tiny.G3, tiny.G4}
    assert edit.changed[tiny.G4].equals(outline)
    assert len(edit.changed[tiny.G3].geoms[0].interiors) == 1  # still one hole, G4's shape
    _, report = validate_areas(edit.apply(grid_layer), level="grid", parents=villages)
    assert report.problems == [], report.summary()


# --------------------------------------------------------------------------- reshape


def test_reshape_takes_from_the_neighbour_exactly_what_it_now_covers():
    layer = grids()
    edit = reshape(layer, G[5], cell(1, 1, 1.3))
    assert set(edit.changed) == {G[5], G[6], G[3], G[9]}  # G3, G9: the new corners welded
    after = edit.apply(layer)
    assert area_of(after, G[5]) == pytest.approx(1.3, rel=1e-3)
    assert area_of(after, G[6]) == pytest.approx(0.7, rel=1e-3)
    assert after.set_index("code").geometry[G[3]].equals(cell(2, 0))  # a vertex more only
    assert edit.removed == [] and edit.added == {}


def test_a_freed_piece_goes_to_the_neighbour_sharing_the_longest_border():
    # G5's east 0.7 borders G6 along a whole cell, G2 and G8 along 0.7 of one
    edit = reshape(grids(), G[5], cell(1, 1, 0.3))
    after = edit.apply(grids())
    assert area_of(after, G[6]) == pytest.approx(1.7, rel=1e-3)
    assert after.set_index("code").geometry[G[2]].equals(cell(1, 0))
    assert after.set_index("code").geometry[G[8]].equals(cell(1, 2))


def test_a_redraw_within_the_snap_tolerance_changes_nothing():
    drawn = Polygon([(x(1) + M, y(1) - M_NS), (x(2) - M, y(1) + M_NS), (x(2), y(2) - M_NS),
                     (x(1) + M / 2, y(2))])
    assert reshape(grids(), G[5], drawn, snap_m=2.0).changed == {}
    # without snapping the same drawing moves four edges by a metre, still without a gap
    loose = reshape(grids(), G[5], drawn, snap_m=0.0)
    assert G[5] in loose.changed and len(loose.changed) > 1
    assert validate(loose.apply(grids())).problems == []


def test_along_the_village_edge_it_snaps_to_its_own_old_outline():
    # G1's outer corner drawn a metre outside the village, where it has no neighbour
    drawn = Polygon([(x(0) - M, y(0) - M_NS), (x(1), y(0)), (x(1), y(1)), (x(0), y(1))])
    assert reshape(grids(), G[1], drawn).changed == {}


def test_with_its_parent_given_a_slip_outside_the_village_is_clipped():
    # G1's outer corner drawn 10 m outside the village: beyond the snap tolerance
    drawn = Polygon([(x(0) - 10 * M, y(0) - 10 * M_NS), (x(1), y(0)), (x(1), y(1)),
                     (x(0), y(1))])
    loose = reshape(grids(), G[1], drawn)
    assert "outside_parent" in {p.code for p in validate(loose.apply(grids())).problems}
    kept = reshape(grids(), G[1], drawn, parent=village().geometry[0])
    assert all(geom.equals(cell(0, 0)) for geom in kept.changed.values())
    assert validate(kept.apply(grids())).problems == []
    with pytest.raises(EditRefused, match="outside its parent") as refused:
        add(grids(), "623001001001010", cell(3, 0), name="新网格", parent_code=VILLAGE,
            parent=village().geometry[0])
    assert refused.value.field == "geometry"


def test_a_speck_drawn_inside_a_neighbour_goes_back_to_it():
    speck = shapely.box(x(2.5), y(1.5), x(2.5) + 2 * M, y(1.5) + 2 * M_NS)  # 4 m² in G6
    edit = reshape(grids(), G[5], MultiPolygon([cell(1, 1), speck]))
    assert edit.changed == {} and edit.removed == []


def test_a_thin_wedge_cut_off_a_neighbour_is_handed_on():
    # G5 takes a band across G6 whose lower edge runs from G6's south-west corner to 3 m
    # above its south-east corner (beyond the snap): G6 keeps its north half and a wedge
    # 0-3 m wide, a sliver, which goes to a sibling instead of staying a second part
    band = Polygon([(x(2), y(1)), (x(3), y(1) + 3 * M_NS), (x(3), y(1.5)), (x(2), y(1.5))])
    edit = reshape(grids(), G[5], shapely.union(cell(1, 1), band))
    g6 = edit.changed[G[6]]
    assert len(g6.geoms) == 1 and g6.equals(cell(2, 1.5, 1, 0.5))
    assert validate(edit.apply(grids())).problems == []


def test_a_neighbour_covered_entirely_is_removed():
    edit = reshape(grids(), G[5], cell(1, 1, 2))
    assert edit.removed == [G[6]]
    after = edit.apply(grids())
    assert G[6] not in set(after["code"])
    assert validate(after).problems == []


def test_a_freed_piece_no_sibling_touches_is_left_as_a_gap():
    # G5 belongs to another village here: its neighbours are cousins, who may not take it
    layer = grids()
    layer.loc[layer["code"] == G[5], "parent_code"] = "623001001002"
    edit = reshape(layer, G[5], cell(1, 1, 0.5))
    before = layer.set_index("code").geometry
    for code, geom in edit.changed.items():  # G2 and G8 gained G5's new corners, no more
        assert code == G[5] or geom.equals(before[code])
    assert edit.changed[G[5]].equals(cell(1, 1, 0.5))


REFUSED = [
    pytest.param(lambda g: reshape(g, "623001001001099", cell(1, 1)), "code", id="unknown"),
    pytest.param(lambda g: reshape(g, G[5], LineString([(x(1), y(1)), (x(2), y(2))])),
                 "geometry", id="a-line"),
    pytest.param(lambda g: reshape(g, G[5], Polygon()), "geometry", id="empty"),
    pytest.param(lambda g: add(g, G[5], cell(1, 1), name="x", parent_code=VILLAGE), "code",
                 id="add-existing"),
    pytest.param(lambda g: move_vertex(g, (x(1.5), y(1.5)), (x(1.6), y(1.6))), "at",
                 id="move-no-vertex"),
    pytest.param(lambda g: split(g, G[5], LineString([(x(0.9), y(1.5)), (x(1.5), y(1.5))]),
                                 new_code="623001001001010", new_name="x"), "line",
                 id="split-ends-inside"),
    pytest.param(lambda g: split(g, G[5], LineString([(x(3.5), y(0.5)), (x(4.5), y(0.5))]),
                                 new_code="623001001001010", new_name="x"), "line",
                 id="split-elsewhere"),
    pytest.param(lambda g: split(g, G[5], LineString(
        [(x(0.9), y(1.2)), (x(2.1), y(1.2)), (x(2.1), y(1.4)), (x(0.9), y(1.4))]),
        new_code="623001001001010", new_name="x"), "line", id="split-in-three"),
    pytest.param(lambda g: split(g, G[5], LineString([(x(0.9), y(1.2)), (x(2.1), y(1.7))]),
                                 new_code=G[6], new_name="x"), "new_code",
                 id="split-existing-code"),
    pytest.param(lambda g: merge(g, [G[1], G[5]], G[5]), "codes", id="merge-corner-only"),
    pytest.param(lambda g: merge(g, [G[1], G[3]], G[1]), "codes", id="merge-apart"),
    pytest.param(lambda g: merge(g, [G[5]], G[5]), "codes", id="merge-one"),
    pytest.param(lambda g: delete(g, "623001001001099"), "code", id="delete-unknown"),
    pytest.param(lambda g: reshape(g, G[5], shapely.box(35.01, 103.01, 35.02, 103.02)),
                 "geometry", id="lat-lon-swapped"),  # |lat| > 90
    pytest.param(lambda g: move_vertex(g, (x(1), y(1)), (float("nan"), y(1))), "to",
                 id="move-to-nan"),
    pytest.param(lambda g: split(g, G[5], LineString([(x(0.9), y(1.2)), (x(2.1), 1e9)]),
                                 new_code="623001001001010", new_name="x"), "line",
                 id="split-off-the-earth"),
]


@pytest.mark.parametrize(("edit", "field"), REFUSED)
def test_an_impossible_edit_is_refused_naming_the_input(edit, field):
    with pytest.raises(EditRefused) as refused:
        edit(grids())
    assert refused.value.field == field
    assert refused.value.status == 422 and refused.value.code == "edit_refused"


def test_merge_refuses_areas_of_different_parents():
    layer = grids()
    layer.loc[layer["code"] == G[6], "parent_code"] = "623001001002"
    with pytest.raises(EditRefused, match="different parents"):
        merge(layer, [G[5], G[6]], G[5])


def test_a_split_line_that_makes_three_pieces_says_so():
    with pytest.raises(EditRefused, match="cuts it into 3 pieces"):
        split(grids(), G[5], LineString(
            [(x(0.9), y(1.2)), (x(2.1), y(1.2)), (x(2.1), y(1.4)), (x(0.9), y(1.4))]),
            new_code="623001001001010", new_name="x")


# --------------------------------------------------------------------------- the others


def test_add_snaps_into_a_hole_and_fills_it_exactly():
    layer = delete(grids(), G[5]).apply(grids())
    assert [p.code for p in validate(layer).problems] == ["gap"]
    drawn = Polygon([(x(1) - M, y(1) + M_NS), (x(2) + M, y(1)), (x(2), y(2) + M_NS),
                     (x(1), y(2) - M_NS)])
    edit = add(layer, "623001001001010", drawn, name="新网格", parent_code=VILLAGE)
    assert edit.added == {"623001001001010": {"name": "新网格", "parent_code": VILLAGE}}
    assert edit.changed["623001001001010"].equals(cell(1, 1))
    assert validate(edit.apply(layer)).problems == []


def test_add_does_not_cut_its_neighbours():
    edit = add(delete(grids(), G[5]).apply(grids()), "623001001001010", cell(1, 1, 1.5),
               name="新网格", parent_code=VILLAGE)
    assert edit.changed[G[6]].equals(cell(2, 1))  # it only gained the new grid's corners
    after = edit.apply(delete(grids(), G[5]).apply(grids()))
    overlap = [p for p in validate(after).problems if p.code == "overlap"]
    assert len(overlap) == 1 and overlap[0].detail["area_m2"] == pytest.approx(
        0.5 * CELL_M2, rel=1e-3)


def test_move_vertex_moves_a_shared_corner_for_every_grid_that_has_it():
    edit = move_vertex(grids(), (x(1) + M, y(1)), (x(1.2), y(1.3)))  # 1 m off: found
    assert set(edit.changed) == {G[1], G[2], G[4], G[5]}
    for geom in edit.changed.values():
        assert (x(1.2), y(1.3)) in {tuple(c) for c in shapely.get_coordinates(geom)}
    after = edit.apply(grids())
    four = [G[1], G[2], G[4], G[5]]
    assert area_of(after, G[1]) > area_of(grids(), G[1])
    assert sum(area_of(after, c) for c in four) == pytest.approx(
        sum(area_of(grids(), c) for c in four), rel=1e-9)


def test_move_vertex_snaps_the_new_place_onto_a_neighbour():
    # G5 stops 0.1 cell short of G6; its corner dragged to a metre from G6's closes it
    layer = grids()
    layer.loc[layer["code"] == G[5], "geometry"] = MultiPolygon([cell(1, 1, 0.9)])
    edit = move_vertex(layer, (x(1.9), y(1)), (x(2) - M, y(1) + M_NS))
    assert (x(2), y(1)) in {tuple(c) for c in shapely.get_coordinates(edit.changed[G[5]])}
    before = layer.set_index("code").geometry
    for code, geom in edit.changed.items():  # G2 and G8 had G5's corners on their edges
        assert code == G[5] or geom.equals(before[code])
    # the gap (0.1 x 1 cell) is now a triangle, half of it, until the north corner follows
    gap, = validate(edit.apply(layer)).problems
    assert gap.code == "gap" and gap.detail["area_m2"] == pytest.approx(0.05 * CELL_M2,
                                                                         rel=1e-2)


def test_move_vertex_refuses_a_move_that_makes_a_grid_cross_itself():
    with pytest.raises(EditRefused) as refused:
        move_vertex(grids(), (x(1), y(1)), (x(2.5), y(1.5)))
    assert refused.value.field == "to" and "cross itself" in refused.value.message


def test_split_keeps_the_code_on_the_larger_part():
    line = LineString([(x(0.9), y(1.2)), (x(2.1), y(1.2))])
    edit = split(grids(), G[5], line, new_code="623001001001010", new_name="新网格")
    assert set(edit.changed) >= {G[5], "623001001001010"}
    assert cells(edit.changed[G[5]]) == pytest.approx(0.8, rel=1e-3)
    assert cells(edit.changed["623001001001010"]) == pytest.approx(0.2, rel=1e-3)
    assert edit.added["623001001001010"]["parent_code"] == VILLAGE


def test_split_of_a_two_part_grid_keeps_the_untouched_part_with_the_code():
    layer = grids()
    layer.loc[layer["code"] == G[5], "geometry"] = MultiPolygon([cell(1, 1), cell(2.5, 1, 0.5)])
    layer.loc[layer["code"] == G[6], "geometry"] = MultiPolygon([cell(2, 1, 0.5)])
    assert validate(layer).problems == []
    edit = split(layer, G[5], LineString([(x(1.3), y(0.9)), (x(1.3), y(2.1))]),
                 new_code="623001001001010", new_name="新网格")
    assert edit.changed[G[5]].equals(MultiPolygon([cell(1.3, 1, 0.7), cell(2.5, 1, 0.5)]))
    assert edit.changed["623001001001010"].equals(cell(1, 1, 0.3))
    assert validate(edit.apply(layer)).problems == []


def test_merge_is_the_union_and_removes_the_others():
    edit = merge(grids(), [G[4], G[5], G[6]], G[5])
    assert list(edit.changed) == [G[5]] and edit.removed == [G[4], G[6]]
    assert edit.changed[G[5]].equals(cell(0, 1, 3))
    assert len(edit.changed[G[5]].geoms) == 1 and not edit.changed[G[5]].geoms[0].interiors


def test_delete_leaves_a_gap_for_the_validation_to_warn_of():
    edit = delete(grids(), G[5])
    assert edit == Edit(removed=[G[5]])
    gap = validate(edit.apply(grids())).problems[0]
    assert gap.code == "gap" and not gap.fatal
    assert gap.detail["area_m2"] == pytest.approx(CELL_M2, rel=1e-3)


def test_regroup_reparents_groups_to_the_grid_covering_most_and_clips_them():
    # G5 takes 0.6 of G6: G6's groups now lie mostly in G5
    new_grids = reshape(grids(), G[5], cell(1, 1, 1.6)).apply(grids())
    moved = regroup(groups(), new_grids)
    assert sorted(moved["code"]) == [G[6] + "001", G[6] + "002"]
    assert set(moved["parent_code"]) == {G[5]}
    for geom, half in zip(moved.geometry, (0.0, 0.5), strict=True):
        assert geom.equals(cell(2, 1 + half, 0.6, 0.5))
    # the groups are valid children of the new grids (G6's remaining strip has none)
    after = groups().set_index("code")
    after.loc[moved["code"], "parent_code"] = moved["parent_code"].to_numpy()
    after.loc[moved["code"], "geometry"] = moved.geometry.to_numpy()
    _, report = validate_areas(after.reset_index(), level="group", parents=new_grids)
    assert report.problems == [], report.summary()


def test_regroup_clips_a_group_that_stays_with_its_grid_and_fills_the_grown_one():
    new_grids = reshape(grids(), G[5], cell(1, 1, 1.2)).apply(grids())
    moved = regroup(groups(), new_grids).set_index("code")
    assert sorted(moved.index) == [G[5] + "001", G[5] + "002", G[6] + "001", G[6] + "002"]
    assert list(moved["parent_code"]) == [G[5], G[5], G[6], G[6]]
    assert moved.geometry[G[6] + "001"].equals(cell(2.2, 1, 0.8, 0.5))
    # the strip G5 took from G6 went to G5's groups, each the half beside it
    assert moved.geometry[G[5] + "001"].equals(cell(1, 1, 1.2, 0.5))
    assert moved.geometry[G[5] + "002"].equals(cell(1, 1.5, 1.2, 0.5))
    after = groups().set_index("code")
    after.loc[moved.index, "geometry"] = moved.geometry.to_numpy()
    _, report = validate_areas(after.reset_index(), level="group", parents=new_grids)
    assert report.problems == [], report.summary()


def test_regroup_after_a_merge_gives_the_removed_grid_s_groups_to_the_merged_one():
    new_grids = merge(grids(), [G[5], G[6]], G[5]).apply(grids())
    moved = regroup(groups(), new_grids)
    assert sorted(moved["code"]) == [G[6] + "001", G[6] + "002"]
    assert set(moved["parent_code"]) == {G[5]}
    assert list(moved.geometry) == list(groups().set_index("code").geometry[moved["code"]])


def test_regroup_returns_nothing_when_nothing_moved():
    assert regroup(groups(), grids()).empty
