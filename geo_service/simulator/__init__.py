"""`geo-service simulate`: live activity for a running service, through its public API
only: workers on shift walking their grids and sending fixes, reports and their cases
worked through the workflow, household visits and call-outs where the server has them.
It makes the wall come alive and is the load generator of the benchmarks."""

from geo_service.simulator.runner import Options, Simulation
from geo_service.simulator.world import WorldError

__all__ = ["Options", "Simulation", "WorldError"]
