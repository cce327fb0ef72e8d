"""Dispatch: who is nearest and available for a case, sending them, and their caseload.

`nearby` is our nearest-neighbour index of current positions, `live` keeps each process's
copy current from the store, `candidates` ranks and chooses by the rule (own grid team
first, then the nearest inside the owning level), `assigned` lists a worker's open cases.
"""

from geo_service.dispatch.assigned import open_cases
from geo_service.dispatch.candidates import Pick, choose, describe, rank
from geo_service.dispatch.live import LivePositions
from geo_service.dispatch.nearby import NearbyWorkers

__all__ = ["LivePositions", "NearbyWorkers", "Pick", "choose", "describe", "open_cases",
           "rank"]
