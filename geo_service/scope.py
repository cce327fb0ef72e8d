"""The one area-scope policy: what a token limited to one area may see.

A token may be limited to one area of the tree (a county's, a township's or a village's
center: `create-token --area CODE`). Every endpoint, stream and export applies this policy
through a `Scope`; the web layer refuses to answer a scoped token from a view that never
consulted it (see `web.scope`), so a new endpoint is scoped by default.

- **Areas.** The scope area and everything below it are visible: geometry, children,
  households, workers, cases. Its ancestors are visible only as codes and names in a chain
  (a township center may know its county's name), never their geometry or their other
  children. Anything else is `403 out_of_scope`.
- **Points.** A point in a grid inside the scope is answered in full. A point in a grid
  outside it is refused: `403 out_of_scope` for a single lookup, a per-point error in a
  batch (the grid is not named). A point in no grid is answered as usual, but the nearest
  grid is named only when it is inside the scope.
- **Households and workers** follow the area they belong to (a household its grid, a
  worker the areas it answers for).
- **A worker's own.** A field worker's token also reaches what is the worker's own
  wherever it lies: its positions (stored wherever it walks) and the cases sent to it
  (worked on after they are escalated above its area).
- Unscoped tokens see the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geo_service.errors import Forbidden, NotFound

if TYPE_CHECKING:  # the versions import households, which apply this policy
    from geo_service.versions import VersionIndex


@dataclass(frozen=True)
class Scope:
    """The area a caller is limited to (None: the whole tree) and, for a field worker's
    token, the worker whose own positions and cases it reaches wherever they lie."""

    area: str | None = None
    worker: str | None = None

    def own_case(self, assigned_worker: str | None) -> bool:
        """True when a case was sent to this token's own worker: it may go on working it
        (what the workflow lets an assignee do) whichever level owns it now."""
        return self.worker is not None and assigned_worker == self.worker

    def own_positions(self, worker_code: str) -> bool:
        """True when the fixes are this token's own worker's: stored wherever it walks (a
        trail crosses grid edges); anyone else's only for a worker inside the scope."""
        return self.worker is not None and worker_code == self.worker

    def covers(self, vi: VersionIndex, code: str | None) -> bool:
        """True when `code` is the scope area or lies below it."""
        if self.area is None:
            return True
        return code is not None and self.area in covering(vi, code)

    def require(self, vi: VersionIndex, code: str, field: str) -> None:
        """403 `out_of_scope`, naming `field`, unless `code` is inside the scope."""
        if not self.covers(vi, code):
            raise self.refusal(field)

    def narrow(self, vi: VersionIndex, code: str, field: str) -> Scope:
        """The scope of one area inside this one (a county center's wall on a prefecture
        token): 404 for an area the version lacks, 403 outside; never wider than `self`."""
        if code not in vi.areas:
            raise NotFound(f"no area {code[:40]!r} in the live boundary version", field,
                           code="unknown_area")
        self.require(vi, code, field)
        return Scope(code, self.worker)

    def refusal(self, field: str) -> Forbidden:
        return Forbidden(f"this token is limited to area {self.area}", field, code="out_of_scope")

    def _grids_inside(self, vi: VersionIndex) -> np.ndarray:
        """Which grids (a bool per position in `vi.grids`) lie inside; once per version
        and scope area."""
        allowed = vi.memo.get(("scope", self.area))
        if allowed is None:
            allowed = vi.memo["scope", self.area] = np.fromiter(
                (self.covers(vi, str(c)) for c in vi.grids.codes), dtype=bool,
                count=len(vi.grids))
        return allowed

    def grid_mask(self, vi: VersionIndex) -> np.ndarray | None:
        """Which grids (a bool per position in `vi.grids`) lie inside; None: every grid."""
        return None if self.area is None else self._grids_inside(vi)

    def grid_codes(self, vi: VersionIndex) -> list[str] | None:
        """The codes of the grids inside the scope (None: every grid). Rows that belong
        to a grid (households, later cases and positions) are filtered by these, never by
        a code the caller sent: a group redrawn under another grid stays its own."""
        if self.area is None:
            return None
        return vi.grids.codes[self._grids_inside(vi)].astype(str).tolist()

    def grids_outside(self, vi: VersionIndex, positions: np.ndarray) -> np.ndarray:
        """Indices of the points whose grid (by position in `vi.grids`) lies outside the
        scope; points in no grid are not among them."""
        if self.area is None:
            return np.empty(0, dtype=np.int64)
        allowed = self._grids_inside(vi)
        inside = np.ones(len(positions), dtype=bool)
        found = positions >= 0
        inside[found] = allowed[positions[found]]
        return np.flatnonzero(~inside)


EVERYTHING = Scope()


def covering(vi: VersionIndex, code: str) -> list[str]:
    """The scope areas under which `code` is visible: the area itself and its ancestors
    (none for a code this version lacks). `Scope.covers` is this; the event hub uses it
    to sort a batch of events by scope once instead of testing every stream."""
    return [a.code for a in vi.chain(code)]
