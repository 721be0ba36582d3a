"""Whether a circle's drawn footprint meets a lon/lat box, settled without drawing it wherever
its centre and radius settle it.

A listing with a bbox tests each candidate's areas against the box as they are drawn
(`Shape.footprint_lonlat`: a polygon around the circle in a local projection, its vertices back
in lon/lat). Drawing a circle costs two projections and a buffer. Most circles are far from the
box's edges compared with how far the drawing strays from the true geodesic circle: their
answer is certain from the centre and radius alone.

The drawing strays little. Its polygon is drawn around the circle (`CIRCUMSCRIBE`) in a Lambert
azimuthal equal-area projection centred within ~160 km of the circle, whose distances are true
to 0.2 % within the 500 km an area reaches. Its edges are straight in lon/lat, between vertices
a tenth of the radius apart. A spherical distance is true to 0.6 % of the ellipsoid's geodesic.
So the footprint holds every point within 0.98 of the radius of the centre, and lies within
1.02 of the circumscribed radius of it: `MARGIN` covers each of those errors several times over.
Between the two the circle is drawn. Near a pole or the antimeridian, where lon/lat distort, it
is always drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from deconfliction.domain.areas import CIRCUMSCRIBE
from deconfliction.domain.geo import SMALLEST_CURVATURE_RADIUS_M

MARGIN = 0.02  # of the radius: answers within it of the drawn edge are left to the drawing
MAX_LATITUDE = 60.0  # beyond it (the circle's reach included) the circle is always drawn
MEAN_RADIUS_M = 6_371_008.8


def circle_meets_box(centre: Sequence[float], radius_m: float, box: Sequence[float]) -> bool | None:
    """Whether the circle around a lon/lat centre, as drawn, meets the west, south, east, north
    box (west ≤ east), or None where only drawing it can tell."""
    lon, lat = centre
    west, south, east, north = box
    reach = radius_m * CIRCUMSCRIBE * (1.0 + MARGIN)
    angle = reach / SMALLEST_CURVATURE_RADIUS_M  # never too small, anywhere on the ellipsoid
    reach_lat = math.degrees(angle)
    widest = math.radians(abs(lat) + reach_lat)
    if math.degrees(widest) > MAX_LATITUDE:
        return None
    reach_lon = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(widest))))
    if lon - reach_lon < -180.0 or lon + reach_lon > 180.0:
        return None
    if lon + reach_lon < west or lon - reach_lon > east:
        return False
    if lat + reach_lat < south or lat - reach_lat > north:
        return False
    nearest = (min(max(lon, west), east), min(max(lat, south), north))
    if _spherical_distance_m((lon, lat), nearest) <= radius_m * (1.0 - MARGIN):
        return True
    return None


def _spherical_distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2.0) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2.0) ** 2
    )
    return 2.0 * MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
