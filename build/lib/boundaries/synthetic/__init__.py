"""A seeded, reproducible demo prefecture at Gannan's real scale.

Real (``synthetic=False``): the prefecture 甘南藏族自治州 (623000) and its 8 county-level
units, whose outlines are the shipped AMap (GCJ-02) files converted to WGS84.
Synthetic (``synthetic=True``): every polygon below county level. The 102 township-level
units keep their real names, codes and kinds from the shared list and each gets as many
villages/communities as the list says (697); villages, grids, ten-household groups,
households and workers are invented from a seed. See ``data/SYNTHETIC.md``.

How the polygons are made, per county (details in data/SYNTHETIC.md): households' density is
a mixture of tight clusters at township seats (GeoNames places matched by name, or
generated), hamlets and ribbons along random valley lines, and a sparse pastoral scatter. A
Voronoi tessellation of a sample of that density plus a sparse background, clipped to the
county, gives fine cells joined by edges that cost length × a random terrain field (ridges,
valleys, street lines in towns). Townships grow from their seats (multi-source Dijkstra);
villages, grids and groups are split out of their parent by recursive cuts along
terrain-cost bisectors, balanced on households. Regions are coverage unions of cells, so
neighbours share edges exactly and every level is the exact union of its children; the group
coverage is smoothed and the levels above rebuilt from it. Households end strictly inside
exactly one group.

The modules, in the order a county is made:

- ``gannan``: the shipped real data and the hand-made county tables;
- ``plan``: how many households, grids, groups and people go where;
- ``local_frame``: the metre frame everything is drawn in;
- ``settlements``: seats, valleys, the household density, household points;
- ``terrain``: the cost field borders follow;
- ``cells``: the fine tessellation regions are made of;
- ``regions``: growing and splitting regions on the cells;
- ``smoothing``: rounding the group edges, households kept inside;
- ``county``: one county, drawn from those parts;
- ``names``, ``areas``, ``people``: codes, names, households and workers;
- ``prefecture``: ``build_demo``, putting the counties together.
"""

from .gannan import (
    FULL_GRIDS,
    FULL_GROUPS,
    FULL_HOUSEHOLDS,
    FULL_PEOPLE,
    PREFECTURE_CODE,
    PREFECTURE_NAME,
)
from .prefecture import Demo, build_demo

__all__ = [
    "FULL_GRIDS",
    "FULL_GROUPS",
    "FULL_HOUSEHOLDS",
    "FULL_PEOPLE",
    "PREFECTURE_CODE",
    "PREFECTURE_NAME",
    "Demo",
    "build_demo",
]
