"""`geo-service`: the operator's commands, one module per group, each a thin wrapper over
domain functions run in one unit of work."""

from geo_service.cli import boundaries, people, service, simulate  # noqa: F401 - registers
from geo_service.cli.base import main

__all__ = ["main"]
