"""The boundary lifecycle as a library: files, CRS, validation, versions, diffs.

Never imports Flask or `geo_service`; the service builds on it, not the other way round.
"""
