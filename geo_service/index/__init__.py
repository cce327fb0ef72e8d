"""GridIndex: which polygon of one layer (grids, or ten-household groups) holds each point.

The rule for a point, documented in the README and pinned by tests:

1. A point in the interior of a polygon belongs to it.
2. A point exactly on a boundary (a shared edge or vertex) belongs to the polygon with the
   lowest code among those whose boundary it lies on ("covers, lowest code wins").
3. A point covered by no polygon belongs to none (-1 / None).
4. If polygons overlapped (imports refuse that), the lowest-coded containing one wins.

`near_boundary` marks points within N metres of a polygon other than their own, so a
caller knows a GPS error of that size could change the answer.

The implementation is private (callers see codes and arrays only) and has three tiers:

- a raster of cells over the layer's extent, each cell either owned by one polygon (no
  boundary passes through it), outside every polygon, or "mixed". Most points are
  answered by arithmetic on their cell, with no geometry at all;
- a mixed cell is split into F×F fine cells (F grows with the edges it holds, so dense
  towns get small cells). Each fine cell lists the boundary segments that may meet it and
  knows the owner of its centre. A point's owner is the centre's owner, changed by the
  polygons whose boundary the segment point→centre crosses an odd number of times:
  a vectorized crossing test on a handful of segments, in plain numpy;
- the crossing test uses floating-point orientations with a proven error bound. A point
  it cannot decide for certain (on or within rounding of a boundary line, or a segment
  through a vertex) goes to shapely: an STRtree `intersects` query (= covers), the exact
  rule. So answers equal shapely's, boundaries included.

`GridIndex.tiers` tells which tier answers each point.

A single point (`assign_one`, the GET lookup) reads the same cells in plain Python; only
when its fine cell lists segments does it ask shapely, among that cell's few candidates.

An index is immutable once built, so threads share it without locks.

Modules: `grid_index` (the `GridIndex` class: build, assignment, the exact rule by
shapely), `raster_build` and `raster_fine` (building the cell raster: cells and segments;
fine cells), `raster` (its lookups: the crossing test, batch and single), `proximity`
(distances in metres: near-boundary, the polygon cores, nearest) and `parallel` (the
build's heaviest shapely calls on two cores). This package never imports Flask.
"""

from geo_service.index.grid_index import GridIndex

__all__ = ["GridIndex"]
