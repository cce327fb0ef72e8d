"""`python -m geo_service.cli ...`: the same commands as `geo-service`."""

from geo_service.cli import main

main()
