"""Tests for boundaries.crs: CRS names, GCJ-02/BD-09, EPSG paths, geometries, metres.

Reference pairs below are published test vectors of independent implementations of the
public GCJ-02/BD-09 formulas (facts only; no code copied).
"""

import json
import math
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely

import boundaries
from boundaries.crs import (
    UnknownCRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    distance_m,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometry_from_wgs84,
    geometry_to_wgs84,
    metric_crs,
    names,
    normalize_crs,
    proj,
    to_metres,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

Converter = Callable[[Any, Any], tuple[np.ndarray, np.ndarray]]
GEOD = pyproj.Geod(ellps="WGS84")
HEZUO = (102.91, 35.00)
GANNAN_CENTRE = (102.76, 34.35)  # middle of the 100.76-104.76 E, 33.11-35.59 N bounding box
COUNTIES = Path(boundaries.__file__).parent / "data" / "gannan_counties_gcj02.geojson"


def gannan_grid() -> tuple[np.ndarray, np.ndarray]:
    """WGS84 grid over the Gannan bounding box, 0.05 degree spacing."""
    lon, lat = np.meshgrid(np.arange(100.7, 104.8001, 0.05), np.arange(33.1, 35.6001, 0.05))
    return lon.ravel(), lat.ravel()


def round_trip_points() -> tuple[np.ndarray, np.ndarray]:
    """The Gannan grid plus Beijing and Shanghai (well away from Gannan's formula terms)."""
    lon, lat = gannan_grid()
    return np.append(lon, [116.3975, 121.4737]), np.append(lat, [39.9087, 31.2304])


# --------------------------------------------------------------------------- normalize_crs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "EPSG:4326"),  # undeclared means WGS84
        ("EPSG:4326", "EPSG:4326"),  # canonical form unchanged
        ("epsg:4490", "EPSG:4490"),  # authority is case-insensitive
        ("4326", "EPSG:4326"),  # bare code as text
        (4326, "EPSG:4326"),  # bare code as int
        (np.int64(4490), "EPSG:4490"),  # numpy integer, e.g. from a DataFrame column
        ("EPSG:4326 ", "EPSG:4326"),  # surrounding whitespace from a form field is stripped
        ("CGCS2000", "EPSG:4490"),  # China's national datum by name
        ("cgcs2000", "EPSG:4490"),  # alias lower case
        ("WGS84", "EPSG:4326"),  # alias
        ("WGS 84", "EPSG:4326"),  # alias spelled as EPSG names it
        ("gcj02", "gcj02"),  # AMap/Tencent
        ("GCJ-02", "gcj02"),  # usual written form
        ("gcj-02", "gcj02"),  # lower case with hyphen
        ("GCJ02", "gcj02"),  # upper case without hyphen
        ("bd09", "bd09"),  # Baidu
        ("BD-09", "bd09"),  # written form
        ("bd09ll", "bd09"),  # Baidu API's coordtype name for lon/lat
        ("EPSG:4513", "EPSG:4513"),  # CGCS2000 3-degree GK zone 25, first of 4513-4554
        ("EPSG:4554", "EPSG:4554"),  # CGCS2000 3-degree GK CM 135E, last of the range
        ("EPSG:4491", "EPSG:4491"),  # CGCS2000 6-degree GK zone 13, first of 4491-4512
        ("EPSG:4512", "EPSG:4512"),  # CGCS2000 6-degree GK CM 135E, last of the range
        ("EPSG:4522", "EPSG:4522"),  # 3-degree zone 34 (CM 102E), the one over Hezuo
        ("EPSG:3857", "EPSG:3857"),  # web Mercator
        (pyproj.CRS.from_epsg(4490).to_wkt(), "EPSG:4490"),  # WKT2 of CGCS2000
        (pyproj.CRS.from_epsg(4522).to_wkt("WKT1_GDAL"), "EPSG:4522"),  # GDAL WKT1, no AXIS
        (pyproj.CRS.from_epsg(4522).to_wkt("WKT1_ESRI"), "EPSG:4522"),  # an Esri .prj file
        ("+proj=longlat +datum=WGS84 +no_defs", "EPSG:4326"),  # PROJ string
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326"),  # legacy GeoJSON crs member
        ("OGC:CRS84", "EPSG:4326"),  # same, short form
        ("urn:ogc:def:crs:EPSG::4490", "EPSG:4490"),  # OGC URN for an EPSG code
    ],
)
def test_normalize_crs_accepts(given: object, expected: str) -> None:
    assert normalize_crs(given) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "given",
    [
        "EPSG:999999",  # no such EPSG code
        "foo",  # not a CRS at all
        "",  # empty
        "   ",  # only whitespace
        "EPSG:",  # authority without code
        "gcj",  # truncated alias
        "bd09mc",  # Baidu Mercator metres: not supported, must not pass as bd09
        "EPSG:7030",  # an EPSG ellipsoid, not a CRS
        "EPSG:5773",  # vertical CRS (EGM96 height)
        "EPSG:4978",  # geocentric WGS84 (x, y, z in metres)
        "+proj=tmerc +lon_0=102 +ellps=GRS80",  # parsable, but maps to no EPSG code
        # WKT that names EPSG:4522 but has another false easting: must not pass as 4522
        pyproj.CRS.from_epsg(4522).to_wkt("WKT1_GDAL").replace("34500000", "34400000"),
        0,  # no EPSG code 0
        -4326,  # negative code
        True,  # a bool is an int to Python, but never a CRS
        4326.0,  # floats are not codes
        ["EPSG:4326"],  # wrong type
    ],
)
def test_normalize_crs_rejects(given: object) -> None:
    with pytest.raises(UnknownCRS) as info:
        normalize_crs(given)  # type: ignore[arg-type]
    message = str(info.value)
    assert repr(given) in message  # names the bad input
    for accepted in ("EPSG", "gcj02", "bd09"):  # and lists what is accepted
        assert accepted in message


def test_unknown_crs_is_a_400_of_the_error_family_and_pickles() -> None:
    from boundaries.errors import Invalid

    err = UnknownCRS("foo", "not recognised")
    assert isinstance(err, Invalid)  # the one handler answers it: 400 unknown_crs
    assert (err.status, err.code, err.field) == (400, "unknown_crs", "crs")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_crs_objects_are_cached() -> None:
    """The lookup API calls these per request: they must not rebuild PROJ objects."""
    normalize_crs("EPSG:4522")
    hits = names._normalize_cached.cache_info().hits
    normalize_crs("EPSG:4522")
    assert names._normalize_cached.cache_info().hits == hits + 1
    assert proj.proj_transformer("EPSG:4522", "EPSG:4326") is proj.proj_transformer(
        "EPSG:4522", "EPSG:4326"
    )
    assert metric_crs(*HEZUO) is metric_crs(*HEZUO)


def test_module_does_not_import_flask() -> None:
    code = "import sys, boundaries.crs; sys.exit('flask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------- GCJ-02 / BD-09


@pytest.mark.parametrize(
    ("wgs", "gcj", "tol_deg"),
    [
        # wandergis/coordtransform test/app.js, Beijing (Tiananmen)
        ((116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-9),
        # googollee/eviltransform tests, Shanghai
        ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), 1e-9),
        # googollee/eviltransform tests, Shenzhen
        ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), 1e-9),
        # googollee/eviltransform tests, Beijing
        ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), 1e-9),
        # a Rust CLI's (geotool) test constants, Jiaxing; agrees to ~1 cm, not to the bit
        ((121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705), 2e-7),
    ],
)
def test_wgs84_to_gcj02_matches_published_pairs(
    wgs: tuple[float, float], gcj: tuple[float, float], tol_deg: float
) -> None:
    np.testing.assert_allclose(wgs84_to_gcj02(*wgs), gcj, rtol=0, atol=tol_deg)


@pytest.mark.parametrize(
    ("gcj", "bd", "tol_deg"),
    [
        # wandergis/coordtransform test/app.js
        ((116.404, 39.915), (116.41036949371029, 39.92133699351021), 1e-9),
        # geotool test constants (GCJ-02 output of the Jiaxing row above)
        ((121.09626935575027, 30.608604331756705), (121.10271732371203, 30.61484572185035), 1e-9),
        # hujiulong/gcoord unit test, checked there to 5 decimals
        ((123.0, 45.0), (123.00636499, 45.00636899), 5e-6),
    ],
)
def test_gcj02_to_bd09_matches_published_pairs(
    gcj: tuple[float, float], bd: tuple[float, float], tol_deg: float
) -> None:
    np.testing.assert_allclose(gcj02_to_bd09(*gcj), bd, rtol=0, atol=tol_deg)


def test_gcj02_to_wgs84_matches_gcoord() -> None:
    # hujiulong/gcoord unit test, checked there to 5 decimals
    np.testing.assert_allclose(gcj02_to_wgs84(123.0, 45.0), (122.99395597, 44.99804071), atol=5e-6)


def test_bd09_to_gcj02_close_to_published_closed_form() -> None:
    """We refine the closed form to invert gcj02_to_bd09 exactly; it stays within 10 cm."""
    # wandergis/coordtransform test/app.js: bd09togcj02(116.404, 39.915)
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert distance_m(lon, lat, 116.39762729119315, 39.90865673957631) < 0.1


def test_gcj02_round_trip_below_half_a_metre() -> None:
    lon, lat = round_trip_points()
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    error = distance_m(lon, lat, back_lon, back_lat)
    assert error.max() < 0.5  # the requirement
    assert error.max() < 0.001  # what the iteration actually delivers (measured ~1e-6 m)


def test_gcj02_inverse_is_exact_inverse_of_forward() -> None:
    glon, glat = round_trip_points()  # read as GCJ-02 this time
    lon, lat = wgs84_to_gcj02(*gcj02_to_wgs84(glon, glat))
    np.testing.assert_allclose(lon, glon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lat, glat, rtol=0, atol=1e-9)


def test_gcj02_offset_in_gannan_is_hundreds_of_metres() -> None:
    """The shift a GCJ-02 point carries over Gannan: ~140-350 m, east and south.

    (Not 200-400 m throughout: around Xiahe and the north-west corner it drops below 200.)
    """
    lon, lat = gannan_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = distance_m(lon, lat, glon, glat)
    assert offset.min() > 130
    assert offset.max() < 360
    assert np.median(offset) > 200
    assert np.all(glon > lon)  # east
    assert np.all(glat < lat)  # and south, everywhere in the prefecture


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (139.7, 35.7),  # Tokyo: east of the box
        (2.3522, 48.8566),  # Paris
        (-74.006, 40.7128),  # New York: negative longitude
        (151.21, -33.87),  # Sydney: southern hemisphere
        (105.0, 60.0),  # Siberia: north of the box at China's longitudes
        (0.0, 0.0),  # null island
    ],
)
def test_gcj02_leaves_points_outside_china_unchanged(lon: float, lat: float) -> None:
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_bd09_round_trips() -> None:
    lon, lat = round_trip_points()
    lon, lat = np.append(lon, 139.7), np.append(lat, 35.7)  # BD-09 applies outside China too
    glon, glat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    np.testing.assert_allclose(glon, lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(glat, lat, rtol=0, atol=1e-9)
    back_lon, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert distance_m(lon, lat, back_lon, back_lat).max() < 0.001


def test_bd09_offset_adds_to_gcj02() -> None:
    """BD-09 sits a further ~0.0065 E / 0.006 N beyond GCJ-02 (hundreds of metres more)."""
    lon, lat = gannan_grid()
    blon, blat = wgs84_to_bd09(lon, lat)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.all(np.abs(blon - glon - 0.0065) < 0.0005)
    assert np.all(np.abs(blat - glat - 0.006) < 0.0005)


MIXED_LON = [102.91, 100.76, 104.76, 116.404, 139.7, 2.3522, np.nan, 103.0]
MIXED_LAT = [35.00, 33.11, 35.59, 39.915, 35.7, 48.8566, 35.0, np.nan]


@pytest.mark.parametrize(
    "fn",
    [
        wgs84_to_gcj02,  # forward, masked outside China
        gcj02_to_wgs84,  # iterative, stopping rule depends on the batch
        gcj02_to_bd09,  # closed form everywhere
        bd09_to_gcj02,  # iterative refinement
        wgs84_to_bd09,  # composed
        bd09_to_wgs84,  # composed, both iterations
    ],
)
def test_vectorised_equals_scalar(fn: Converter) -> None:
    lon, lat = fn(np.array(MIXED_LON), np.array(MIXED_LAT))
    assert lon.dtype == np.float64 and lat.dtype == np.float64
    for i, (x, y) in enumerate(zip(MIXED_LON, MIXED_LAT, strict=True)):
        sx, sy = fn(x, y)
        assert isinstance(sx, np.ndarray) and sx.shape == () and sx.dtype == np.float64
        np.testing.assert_allclose([lon[i], lat[i]], [sx, sy], rtol=0, atol=1e-9)
    # NaN in, NaN out, and shape is kept for 2-D input and a scalar broadcast against an array
    assert np.isnan(lon[6]) and np.isnan(lat[7])
    grid_lon, grid_lat = fn(np.full((3, 4), 102.91), 35.0)
    assert grid_lon.shape == grid_lat.shape == (3, 4)


# --------------------------------------------------------------------------- EPSG paths


def test_cgcs2000_equals_wgs84_in_gannan() -> None:
    lon, lat = gannan_grid()
    for x, y in (to_wgs84(lon, lat, "CGCS2000"), from_wgs84(lon, lat, 4490)):
        np.testing.assert_allclose(x, lon, rtol=0, atol=1e-6)
        np.testing.assert_allclose(y, lat, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("code", "central_meridian", "false_easting"),
    [
        (4522, 102, 34_500_000),  # 3-degree zone 34 (100.5-103.5 E): Hezuo, Xiahe, Maqu
        (4523, 105, 35_500_000),  # 3-degree zone 35 (103.5-106.5 E): Zhouqu, Diebu east
        (4543, 102, 500_000),  # 3-degree CM 102E, without the zone prefix
        (4544, 105, 500_000),  # 3-degree CM 105E, without the zone prefix
        (4496, 105, 18_500_000),  # 6-degree zone 18 (102-108 E)
        (4495, 99, 17_500_000),  # 6-degree zone 17 (96-102 E): Maqu, Luqu west
    ],
)
def test_gauss_kruger_zone(code: int, central_meridian: float, false_easting: float) -> None:
    # The table itself: is this really the zone we think it is?
    params = {p.name: p.value for p in pyproj.CRS.from_epsg(code).coordinate_operation.params}
    assert params["Longitude of natural origin"] == central_meridian
    assert params["False easting"] == false_easting
    # On the central meridian: easting is the false easting, northing the meridian arc (GRS80).
    x, y = from_wgs84(central_meridian, 35.0, f"EPSG:{code}")
    arc = pyproj.Geod(ellps="GRS80").inv(central_meridian, 0.0, central_meridian, 35.0)[2]
    assert abs(x - false_easting) < 0.001
    assert abs(y - arc) < 0.001
    # Round trip over Gannan.
    lon, lat = gannan_grid()
    back_lon, back_lat = to_wgs84(*from_wgs84(lon, lat, code), code)
    np.testing.assert_allclose(back_lon, lon, rtol=0, atol=1e-6)
    np.testing.assert_allclose(back_lat, lat, rtol=0, atol=1e-6)


def test_web_mercator() -> None:
    lon, lat = gannan_grid()
    x, y = from_wgs84(lon, lat, "EPSG:3857")
    r = 6378137.0  # spherical formula of EPSG:3857
    np.testing.assert_allclose(x, r * np.radians(lon), rtol=0, atol=0.001)
    np.testing.assert_allclose(y, r * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)), atol=0.001)
    back_lon, back_lat = to_wgs84(x, y, 3857)
    np.testing.assert_allclose(back_lon, lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_lat, lat, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "name",
    [
        "EPSG:4326",  # fast path
        "EPSG:4490",  # pyproj, geographic
        "EPSG:4522",  # pyproj, projected
        "EPSG:3857",  # pyproj, projected
        "gcj02",  # formula
        "bd09",  # formula
    ],
)
def test_nan_in_nan_out(name: str) -> None:
    """A NaN coordinate comes back NaN in every CRS; the valid point beside it is unharmed."""
    lon = np.array([np.nan, 102.91, np.nan, 102.91])
    lat = np.array([35.0, np.nan, np.nan, 35.0])
    x, y = from_wgs84(lon, lat, name)
    back_lon, back_lat = to_wgs84(x, y, name)
    for u, v in ((x, y), (back_lon, back_lat)):
        assert np.isnan(u[0]) and np.isnan(v[1]) and np.isnan(u[2]) and np.isnan(v[2])
        assert np.isfinite(u[3]) and np.isfinite(v[3])
    np.testing.assert_allclose([back_lon[3], back_lat[3]], [102.91, 35.0], rtol=0, atol=1e-8)


def test_untransformable_point_becomes_nan() -> None:
    """PROJ marks failures with inf; callers get NaN like any missing point."""
    x, y = from_wgs84([0.0, 0.0], [91.0, 0.0], "EPSG:3857")
    assert np.isnan(x[0]) and np.isnan(y[0])
    assert x[1] == 0.0


def test_wgs84_fast_path_does_not_copy() -> None:
    lon, lat = gannan_grid()
    out_lon, out_lat = to_wgs84(lon, lat, None)
    assert np.shares_memory(out_lon, lon) and np.shares_memory(out_lat, lat)
    out_lon, out_lat = from_wgs84(lon, lat, "WGS84")
    assert np.shares_memory(out_lon, lon) and np.shares_memory(out_lat, lat)
    listed = to_wgs84([102, 103], [35, 34], 4326)  # ints in a list: converted to float64
    assert all(a.dtype == np.float64 for a in listed)


# --------------------------------------------------------------------------- geometries


def hezuo_polygon() -> shapely.Polygon:
    """A 0.1-degree square with a hole near Hezuo, read as GCJ-02."""
    shell = [(102.85, 34.95), (102.95, 34.95), (102.95, 35.05), (102.85, 35.05)]
    hole = [(102.89, 34.99), (102.91, 34.99), (102.91, 35.01), (102.89, 35.01)]
    return shapely.Polygon(shell, [hole])


@pytest.mark.parametrize(
    ("name", "point_fn"),
    [
        ("gcj02", gcj02_to_wgs84),  # phone SDK data (AMap)
        ("bd09", bd09_to_wgs84),  # Baidu
    ],
)
def test_geometry_to_wgs84_moves_every_vertex_like_points(name: str, point_fn: Converter) -> None:
    poly = hezuo_polygon()
    out = geometry_to_wgs84(poly, name)
    assert isinstance(out, shapely.Polygon) and len(out.interiors) == 1
    before = shapely.get_coordinates(poly)
    expected = np.column_stack(point_fn(before[:, 0], before[:, 1]))
    np.testing.assert_allclose(shapely.get_coordinates(out), expected, rtol=0, atol=1e-9)
    assert distance_m(*before.T, *expected.T).min() > 100  # it really moved


def test_geometry_arrays_none_z_and_round_trip() -> None:
    geoms = np.array(
        [hezuo_polygon(), None, shapely.Point(102.91, 35.0, 2900.0), shapely.Polygon()],
        dtype=object,
    )
    wgs = geometry_to_wgs84(geoms, "GCJ-02")
    assert wgs.shape == (4,) and wgs[1] is None and wgs[3].is_empty
    assert wgs[2].has_z and wgs[2].z == 2900.0  # height carried through
    back = geometry_from_wgs84(wgs, "gcj02")
    np.testing.assert_allclose(
        shapely.get_coordinates(back, include_z=True),
        shapely.get_coordinates(geoms, include_z=True),
        rtol=0,
        atol=1e-9,
    )


def test_geometry_projected_round_trip() -> None:
    wgs = hezuo_polygon()
    gk = geometry_from_wgs84(wgs, "EPSG:4522")
    assert gk.bounds[0] > 34_500_000  # east of CM 102 in zone 34
    back = geometry_to_wgs84(gk, 4522)
    np.testing.assert_allclose(
        shapely.get_coordinates(back), shapely.get_coordinates(wgs), rtol=0, atol=1e-9
    )


def test_geometry_wgs84_is_identity() -> None:
    poly = hezuo_polygon()
    assert geometry_to_wgs84(poly, None) is poly
    assert geometry_from_wgs84(poly, "EPSG:4326") is poly
    arr = np.array([poly], dtype=object)
    assert geometry_to_wgs84(arr, 4326) is arr


# --------------------------------------------------------------------------- metres


def test_metric_crs_is_local_tm_on_cgcs2000() -> None:
    m = metric_crs(*GANNAN_CENTRE)
    assert isinstance(m, pyproj.CRS) and m.is_projected
    assert m.ellipsoid.semi_major_metre == 6378137.0  # GRS80 / CGCS2000
    assert m.ellipsoid.inverse_flattening == pytest.approx(298.257222101, abs=1e-9)
    params = {p.name: p.value for p in m.coordinate_operation.params}
    assert params["Longitude of natural origin"] == GANNAN_CENTRE[0]
    assert params["Scale factor at natural origin"] == 1.0
    assert all(axis.unit_name == "metre" for axis in m.axis_info)


@pytest.mark.parametrize(
    ("lon", "lat", "tol_m"),
    [
        (*HEZUO, 0.01),  # prefecture seat, 0.15 degree from the centre: ~2 mm off
        (GANNAN_CENTRE[0], 34.35, 0.01),  # on the central meridian: exact scale
        (100.80, 34.0, 0.5),  # western edge, 2 degrees out: scale error ~0.04 %
        (104.70, 33.2, 0.5),  # south-eastern edge
    ],
)
def test_metric_crs_one_km_east_west(lon: float, lat: float, tol_m: float) -> None:
    end_lon, end_lat, _ = GEOD.fwd(lon, lat, 90.0, 1000.0)
    line = to_metres(shapely.LineString([(lon, lat), (end_lon, end_lat)]), *GANNAN_CENTRE)
    assert float(distance_m(lon, lat, end_lon, end_lat)) == pytest.approx(1000.0, abs=1e-6)
    assert abs(line.length - 1000.0) < tol_m


def test_metric_crs_area_of_small_square() -> None:
    square = shapely.box(102.86, 34.95, 102.96, 35.05)  # ~0.1 degree around Hezuo
    geodesic = abs(GEOD.geometry_area_perimeter(square)[0])
    assert to_metres(square, *GANNAN_CENTRE).area == pytest.approx(geodesic, rel=1e-4)


def test_metric_crs_area_of_gannan() -> None:
    """Shipped GCJ-02 counties -> WGS84 -> metres: ~36,660 km2, agreeing with geodesic area."""
    features = json.loads(COUNTIES.read_text(encoding="utf-8"))["features"]
    counties = np.array([shapely.geometry.shape(f["geometry"]) for f in features])
    wgs = geometry_to_wgs84(counties, "gcj02")
    tm_km2 = shapely.area(to_metres(wgs, *GANNAN_CENTRE)).sum() / 1e6
    geodesic_km2 = sum(abs(GEOD.geometry_area_perimeter(g)[0]) for g in wgs) / 1e6
    assert tm_km2 == pytest.approx(geodesic_km2, rel=5e-4)
    assert tm_km2 == pytest.approx(36_660, rel=0.005)


@pytest.mark.parametrize(
    ("lon0", "lat0"),
    [
        (math.nan, 35.0),  # NaN centre
        (102.0, 90.0),  # pole
        (math.inf, 0.0),  # infinite
    ],
)
def test_metric_crs_rejects_bad_centre(lon0: float, lat0: float) -> None:
    with pytest.raises(ValueError, match="metric_crs"):
        metric_crs(lon0, lat0)


def test_distance_m() -> None:
    # One degree of longitude on the WGS84 equator is a*pi/180.
    assert float(distance_m(0, 0, 1, 0)) == pytest.approx(6378137.0 * math.pi / 180, abs=1e-6)
    d = distance_m(102.91, 35.0, [102.91, 102.92, np.nan], 35.0)  # broadcasts the scalars
    assert d.shape == (3,) and d[0] == 0.0 and 900 < d[1] < 920 and np.isnan(d[2])
