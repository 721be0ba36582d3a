"""Geodesy helpers: local equal-area projections, unit vectors, geodesic lengths, lon/lat output.

Shapes are compared in a Lambert azimuthal equal-area projection on the WGS84 ellipsoid, centred
on the place being examined (rounded to a 2° grid so that projections are cached and most pairs
of a check share one): it has no seam near its centre, so the poles and the antimeridian need no
special case. The projection finds the nearest points of two shapes; their distance is then
measured along the ellipsoid's geodesic, so it stays correct to well within 0.5 % whatever the
size of the shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely import affinity
from shapely.geometry.base import BaseGeometry

# The smallest radius of curvature of the WGS84 ellipsoid (the meridian's, at the equator):
# turning metres into angles with it never gives too small an angle, anywhere.
SMALLEST_CURVATURE_RADIUS_M = 6_335_439.0
GEOD = Geod(ellps="WGS84")
GRID_DEG = 2.0


def unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Earth-centred unit vectors (n × 3) for arrays of lon/lat in degrees."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def lonlat_of(vector: np.ndarray) -> tuple[float, float]:
    """The lon/lat in degrees of a (not necessarily unit) Earth-centred vector."""
    x, y, z = (float(v) for v in vector)
    norm = math.sqrt(x * x + y * y + z * z)
    if norm == 0.0:
        return 0.0, 0.0
    lat = math.degrees(math.asin(max(-1.0, min(1.0, z / norm))))
    lon = math.degrees(math.atan2(y, x)) if abs(lat) < 90.0 else 0.0
    return lon, lat


def centre_of(coords: np.ndarray) -> tuple[float, float]:
    """The centre of lon/lat positions, taken on the sphere so the antimeridian does not matter."""
    return lonlat_of(unit_vectors(coords[:, 0], coords[:, 1]).mean(axis=0))


def grid_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The projection centre for each position: the nearest grid point, as an (n × 2) array."""
    glat = np.round(lat / GRID_DEG) * GRID_DEG
    glon = np.round(lon / GRID_DEG) * GRID_DEG
    glon = np.where(glon <= -180.0, glon + 360.0, glon)
    glon = np.where(glon > 180.0, glon - 360.0, glon)
    return np.column_stack((glon, glat))


@lru_cache(maxsize=1024)
def projection(lon: float, lat: float) -> Transformer:
    """A WGS84 lon/lat → local Lambert azimuthal equal-area transformer centred at lon/lat."""
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=laea +lat_0={lat!r} +lon_0={lon!r} +ellps=WGS84"
    )


def projection_near(lon: float, lat: float) -> Transformer:
    """The cached projection whose centre is the grid point nearest lon/lat."""
    glon, glat = grid_keys(np.array([lon]), np.array([lat]))[0].tolist()
    return projection(glon, glat)


def _forward(transformer: Transformer) -> Callable[[np.ndarray], np.ndarray]:
    def forward(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    return forward


def project(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """Project a lon/lat geometry into the transformer's plane."""
    projected: BaseGeometry = shapely.transform(geometry, _forward(transformer))
    return projected


def project_all(geometries: np.ndarray, transformer: Transformer) -> np.ndarray:
    """Project an array of lon/lat geometries in one call."""
    return np.asarray(shapely.transform(geometries, _forward(transformer)))


def geodesic_lengths(lines: np.ndarray, transformer: Transformer) -> np.ndarray:
    """The WGS84 geodesic length between the two ends of each projected two-point line."""
    ends = shapely.get_coordinates(lines)
    lon, lat = transformer.transform(ends[:, 0], ends[:, 1], direction="INVERSE")
    _, _, lengths = GEOD.inv(lon[0::2], lat[0::2], lon[1::2], lat[1::2])
    return np.asarray(lengths, dtype=float)


def unproject(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """Bring a projected geometry back to lon/lat, split at the antimeridian as RFC 7946 asks."""

    def inverse(xy: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        return np.column_stack((lon, lat))

    lonlat = shapely.transform(geometry, inverse)
    return _split_at_antimeridian(lonlat, transformer)


def _split_at_antimeridian(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    coords = shapely.get_coordinates(geometry)
    if coords.size == 0 or np.ptp(coords[:, 0]) <= 180.0:
        return geometry
    centre_lon = _centre_longitude(transformer)
    shift = 360.0 if centre_lon > 0 else -360.0

    def unwrap(xy: np.ndarray) -> np.ndarray:
        lon = xy[:, 0].copy()
        far = np.abs(lon - centre_lon) > 180.0
        lon[far] += shift
        return np.column_stack((lon, xy[:, 1]))

    continuous = shapely.transform(geometry, unwrap)
    inside = shapely.box(-180.0, -90.0, 180.0, 90.0)
    beyond = (
        shapely.box(-540.0, -90.0, -180.0, 90.0)
        if shift < 0
        else shapely.box(180.0, -90.0, 540.0, 90.0)
    )
    home = shapely.intersection(continuous, inside)
    wrapped = affinity.translate(shapely.intersection(continuous, beyond), xoff=-shift)
    return shapely.union(home, wrapped)


def _centre_longitude(transformer: Transformer) -> float:
    lon, _ = transformer.transform(0.0, 0.0, direction="INVERSE")
    return float(lon)
