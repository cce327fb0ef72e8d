"""Workers in the field: their fixes and trails, current positions, status, and patrol.

`fixes` reads a batch as a phone sends it, `positions` records it (trail, current
position, dwell rule, patrol per day), `status` computes online / stale / offline /
off_duty from time and announces changes, `queries` finds workers per role and scope.
"""

from geo_service.workers.fixes import read_batch
from geo_service.workers.positions import record_fixes
from geo_service.workers.queries import find_workers, get_worker, patrol_report, trail
from geo_service.workers.status import set_duty, status_of, sweep_statuses

__all__ = ["find_workers", "get_worker", "patrol_report", "read_batch", "record_fixes",
           "set_duty", "status_of", "sweep_statuses", "trail"]
