"""The CRS names the service accepts: spellings, canonical names, and where coordinates in
each can lie.

Why: every input declares its CRS, and a wrong or unknown declaration must fail loudly
(`UnknownCRS`, naming what is accepted) instead of silently putting points a few hundred
metres off. Names are normalised once, to "EPSG:n", "gcj02" or "bd09"; `canonical_name`
does it without PROJ for the cheap request path, `normalize_crs` asks PROJ for WKT and
PROJ strings, and `valid_bounds` says what range a coordinate in a CRS can have.
"""

import math
import re
from functools import lru_cache
from numbers import Integral

import numpy as np
import pyproj
from pyproj.exceptions import CRSError

from boundaries.errors import Invalid

from .proj import proj_crs, proj_transformer

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"
GCJ02 = "gcj02"
BD09 = "bd09"

# Spellings seen in the wild, compared after upper-casing and dropping spaces, '-' and '_'.
_ALIASES: dict[str, str] = {
    "WGS84": WGS84,
    "CRS84": WGS84,
    "CGCS2000": CGCS2000,
    "GCJ02": GCJ02,
    "BD09": BD09,
    "BD09LL": BD09,  # Baidu's API name for BD-09 lon/lat (not bd09mc, its Mercator metres)
}
_EPSG_RE = re.compile(r"(?:EPSG:)?(\d+)", re.IGNORECASE)
_ACCEPTED = (
    "accepted: EPSG codes known to PROJ (e.g. 'EPSG:4326', 4490, 'EPSG:4522'), "
    "'gcj02' (AMap/Tencent), 'bd09' (Baidu), the aliases 'WGS84' and 'CGCS2000', "
    "or WKT/PROJ text that maps to an EPSG code"
)


class UnknownCRS(Invalid):
    """A CRS the service cannot convert; the message names it and lists what is accepted."""

    default_code = "unknown_crs"

    def __init__(self, name: object, reason: str = "not recognised") -> None:
        super().__init__(f"unknown CRS {name!r} ({reason}); {_ACCEPTED}", "crs")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple:  # pickles as what it was made from
        return (type(self), (self.name, self.reason))


def normalize_crs(name: str | int | None) -> str:
    """Canonical name for a CRS: "EPSG:n", "gcj02" or "bd09"; None means WGS84.

    Raises UnknownCRS for anything else, so a wrong declaration fails loudly instead of
    silently putting points a few hundred metres off.
    """
    if name is None:
        return WGS84
    if isinstance(name, bool) or not isinstance(name, str | Integral):
        raise UnknownCRS(name, f"expected a string or an integer, not {type(name).__name__}")
    return _normalize_cached(name if isinstance(name, str) else int(name))


_EPSG_ASCII_RE = re.compile(r"(?:EPSG:)?([0-9]{1,6})", re.IGNORECASE)


def canonical_name(name: object) -> str | None:
    """"EPSG:n", "gcj02" or "bd09" for an alias or a spelled-out EPSG code; None otherwise.

    Unlike normalize_crs it never asks PROJ (a WKT or PROJ string costs 0.2-0.4 s there),
    so it is cheap for any input; whether PROJ knows the code is not checked.
    """
    if isinstance(name, bool) or not isinstance(name, str | Integral):
        return None
    if not isinstance(name, str):
        return f"EPSG:{int(name)}"
    return _canonical_text(name) if len(name) <= 64 else None


@lru_cache(maxsize=1024)
def _canonical_text(name: str) -> str | None:
    text = name.strip()
    alias = _ALIASES.get(re.sub(r"[\s_\-]", "", text).upper())
    if alias is not None:
        return alias
    m = _EPSG_ASCII_RE.fullmatch(text)
    return f"EPSG:{int(m.group(1))}" if m else None


@lru_cache(maxsize=1024)
def _normalize_cached(name: str | int) -> str:
    """Cached body of normalize_crs: parsing WKT or asking PROJ is too slow per request."""
    if isinstance(name, int):
        return _check_epsg(name, name)
    text = name.strip()
    alias = _ALIASES.get(re.sub(r"[\s_\-]", "", text).upper())
    if alias is not None:
        return alias
    m = _EPSG_RE.fullmatch(text)
    if m:
        return _check_epsg(int(m.group(1)), name)
    if not text:
        raise UnknownCRS(name, "empty")
    try:
        crs = pyproj.CRS.from_user_input(text)
    except CRSError:
        raise UnknownCRS(name, "PROJ cannot parse it") from None
    _check_horizontal(crs, name)
    if crs.to_authority() == ("OGC", "CRS84"):
        return WGS84  # same datum as EPSG:4326; only the axis order differs, and we use lon/lat
    code = _identify_epsg(crs)
    if code is None:
        raise UnknownCRS(name, "PROJ parses it but it matches no EPSG code")
    return f"EPSG:{code}"


def _identify_epsg(crs: pyproj.CRS) -> int | None:
    """The EPSG code of a parsed CRS, or None.

    A GDAL-style WKT1 has no AXIS for northing-first EPSG CRSs such as the CGCS2000
    Gauss-Krüger zones, so PROJ scores the match below its default confidence. We use lon/lat
    (x/easting first) throughout, so accept such a weaker match when it puts the same
    coordinates at the same place.
    """
    code = crs.to_epsg()
    if code is not None:
        return code
    code = crs.to_epsg(min_confidence=20)
    if code is None or not _same_coordinates(crs, proj_crs(f"EPSG:{code}")):
        return None
    return code


def _same_coordinates(crs: pyproj.CRS, candidate: pyproj.CRS) -> bool:
    """Whether x/y in `crs` and in `candidate` mean the same place, over its area of use."""
    area = candidate.area_of_use
    if area is None:
        return False
    lon, lat = np.meshgrid(
        np.linspace(area.west, area.east, 7)[1:-1], np.linspace(area.south, area.north, 7)[1:-1]
    )
    wgs84 = proj_crs(WGS84)
    x, y = pyproj.Transformer.from_crs(wgs84, candidate, always_xy=True).transform(lon, lat)
    back_lon, back_lat = pyproj.Transformer.from_crs(crs, wgs84, always_xy=True).transform(x, y)
    return bool(
        np.all(np.abs(back_lon - lon) < 1e-9) and np.all(np.abs(back_lat - lat) < 1e-9)
    )  # comparisons with NaN/inf fail, as they should


def _check_epsg(code: int, name: object) -> str:
    """Return "EPSG:code" if PROJ knows `code` as a horizontal CRS."""
    try:
        crs = proj_crs(f"EPSG:{code}")
    except CRSError:
        raise UnknownCRS(name, f"PROJ has no CRS EPSG:{code}") from None
    _check_horizontal(crs, name)
    return f"EPSG:{code}"


def _check_horizontal(crs: pyproj.CRS, name: object) -> None:
    """Reject vertical, geocentric and engineering CRSs: lon/lat cannot go into or out of them."""
    if not (crs.is_geographic or crs.is_projected):
        raise UnknownCRS(name, f"{crs.type_name} is not a horizontal CRS")


# --------------------------------------------------------------------------- valid bounds

# Web Mercator's square: x = ±pi*R, and y the same (latitude ±85.0511°).
_MERCATOR_HALF = math.pi * 6378137.0
_AREA_MARGIN_DEG = 3.0  # around a projected CRS's area of use: data spills over zone edges


@lru_cache(maxsize=256)
def valid_bounds(crs: str) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) in `crs`'s own units outside which a coordinate cannot be a
    real position in it, for a canonical name; computed once per CRS.

    Geographic: ±180, ±90. EPSG:3857: ±20,037,508.34 m on both axes (beyond that x wraps
    round the globe). Other projected CRSs: their area of use widened by 3° on every side,
    projected; for a Gauss-Krüger zone a band a few degrees either side of its central
    meridian, so an easting with the wrong zone prefix (or without one) falls outside.
    """
    if crs in (GCJ02, BD09):
        return (-180.0, -90.0, 180.0, 90.0)
    if crs == "EPSG:3857":
        return (-_MERCATOR_HALF, -_MERCATOR_HALF, _MERCATOR_HALF, _MERCATOR_HALF)
    proj = proj_crs(normalize_crs(crs))
    if proj.is_geographic:
        return (-180.0, -90.0, 180.0, 90.0)
    area = proj.area_of_use
    west, south, east, north = area.bounds if area else (-180.0, -90.0, 180.0, 90.0)
    m = _AREA_MARGIN_DEG
    box = (max(west - m, -180.0), max(south - m, -90.0), min(east + m, 180.0),
           min(north + m, 90.0))
    xmin, ymin, xmax, ymax = proj_transformer(WGS84, crs).transform_bounds(*box, densify_pts=21)
    return (float(xmin), float(ymin), float(xmax), float(ymax))
