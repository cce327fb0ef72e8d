"""Editing one level's areas the way a grid planner draws: reshape, add, move a vertex,
split, merge, delete, and re-parenting the ten-household groups after their grids changed.

Why: a browser editor (Leaflet-Geoman) draws freehand, so an outline meant to follow a
neighbour's edge misses it by a metre, and moving a shared corner moves it for one grid
only. Each function here takes `layer` (a GeoDataFrame of ONE level with code, name, level,
parent_code, geometry in EPSG:4326: the areas in the editing scope and their neighbours)
and returns an `Edit` (what changed, what is gone, what is new) that keeps a valid
tessellation valid: drawn vertices snap to neighbours' vertices and edges within `snap_m`,
neighbours lose what a reshaped area now covers and take what it gave up, slivers narrower
than the snap tolerance are handed to a neighbour, and every vertex that lies on another
area's edge is put into that edge as well ("welding"), so shared edges stay shared. The
metric work happens in `boundaries.validate.LocalMetres.flat`, a plane in metres where
edges straight in degrees stay straight; vertices that were in the input come back bit for
bit, so untouched edges stay exactly what the lookup and the validation saw. Nothing here
writes anything.

One job per module: `result` (Edit, EditRefused), `frame` (the metric frame, snapping,
welding, who takes a freed piece), `edits` (the edits of one level), `groups` (regroup).
Callers import from `boundaries.edit`.
"""

from .edits import add, delete, merge, move_vertex, reshape, split
from .frame import EDGE_M, SLIVER_M2, TOUCH_M, WELD_M
from .groups import regroup
from .result import Edit, EditRefused

__all__ = [
    "EDGE_M",
    "SLIVER_M2",
    "TOUCH_M",
    "WELD_M",
    "Edit",
    "EditRefused",
    "add",
    "delete",
    "merge",
    "move_vertex",
    "regroup",
    "reshape",
    "split",
]
