"""The boundary library: the area tree's levels (`levels`), CRSs and conversion to WGS84
(`crs`), metres per degree (`units`), reading and writing boundary files (`files`),
validation of a set of areas (`validate`), diffs between sets of areas (`diff`),
the boundary editor's edits of one level that keep it a tessellation (`edit`),
simplification for display (`simplify`) and the seeded demo prefecture (`synthetic`).

Boundary versions (drafts, publishing, the live generation) are not here: they live in
`geo_service`, which builds on this library. Never imports Flask or `geo_service`; the
service builds on it, not the other way round.
"""
