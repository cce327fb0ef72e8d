"""The geometry column type: native PostGIS on PostgreSQL, WKB in a BLOB on SQLite.

PostGIS columns are GeoAlchemy2 `geometry(TYPE, 4326)` so QGIS and ogr2ogr open the tables
directly. The embedded SQLite default needs no SpatiaLite: the service does its spatial work
in memory (the grid index), so SQLite only has to store and return the shapes. Either way
the application sees shapely geometries.
"""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from sqlalchemy.types import LargeBinary, TypeDecorator

SRID = 4326


class Geom(TypeDecorator):
    """A WGS84 geometry column of one type (e.g. MULTIPOLYGON, POINT)."""

    impl = LargeBinary
    cache_ok = True
    srid = SRID
    spatial_index = False  # GiST indexes are created by the migrations, not by DDL events
    use_N_D_index = False

    def __init__(self, geometry_type: str) -> None:
        super().__init__()
        self.geometry_type = geometry_type

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect is None or dialect.name == "postgresql":  # GeoAlchemy2 asks with None
            gis = Geometry(self.geometry_type, srid=SRID, spatial_index=False)
            return dialect.type_descriptor(gis) if dialect else gis
        return dialect.type_descriptor(LargeBinary())

    def bind_expression(self, bindvalue: Any) -> Any:
        return bindvalue

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        wkb = value if isinstance(value, bytes) else shapely.to_wkb(value)
        if dialect.name == "postgresql":
            return WKBElement(wkb, srid=SRID)
        return wkb

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, WKBElement):
            value = value.data
        return shapely.from_wkb(bytes(value) if isinstance(value, memoryview) else value)
