"""Shared builders for the domain tests: volumes from JSON, placed volumes, geodesic placement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pyproj import Geod

from deconfliction.domain.conflicts import Placed
from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import Volume, parse_volume

GEOD = Geod(ellps="WGS84")
NOW = datetime(2026, 11, 1, tzinfo=UTC)
START = "2026-11-26T10:00:00Z"
END = "2026-11-26T11:00:00Z"


def volume_json(
    area: dict[str, Any],
    *,
    lower: float = 0,
    upper: float = 1000,
    units: str = "m",
    reference: str = "AMSL",
    start: str = START,
    end: str = END,
) -> dict[str, Any]:
    return {
        "area": area,
        "altitude": {"lower": lower, "upper": upper, "units": units, "reference": reference},
        "start": start,
        "end": end,
    }


def volume(area: dict[str, Any], *, rules: Rules | None = None, **kwargs: Any) -> Volume:
    """A validated volume (raises InvalidInput like the service would)."""
    return parse_volume(volume_json(area, **kwargs), "volumes[0]", rules=rules or Rules(), now=NOW)


def placed(notification_id: str, party_id: str, vol: Volume, index: int = 0) -> Placed:
    return Placed(
        notification_id=notification_id,
        party_id=party_id,
        index=index,
        shape=vol.area.shape,
        altitude=vol.altitude,
        window=vol.window,
    )


def fwd(lon: float, lat: float, azimuth: float, distance: float) -> tuple[float, float, float]:
    """The point at a geodesic distance and azimuth, and the azimuth from it back to the start."""
    lon2, lat2, back = GEOD.fwd(lon, lat, azimuth, distance)
    return float(lon2), float(lat2), float(back)


def geodesic_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def circle(lon: float, lat: float, radius: float) -> dict[str, Any]:
    return {"type": "Circle", "center": [lon, lat], "radius": radius}


def polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    coords = [list(p) for p in ring]
    if coords[0] != coords[-1]:
        coords.append(list(coords[0]))
    return {"type": "Polygon", "coordinates": [coords]}


def corridor(points: list[tuple[float, float]], half_width: float) -> dict[str, Any]:
    return {
        "type": "Corridor",
        "line": {"type": "LineString", "coordinates": [list(p) for p in points]},
        "half_width": half_width,
    }


def diamond(lon: float, lat: float, pointing: float, size: float) -> dict[str, Any]:
    """A square polygon with one corner at lon/lat, that corner pointing along `pointing`.

    Its edges leave the corner at 135° from `pointing`, so the corner is the polygon's nearest
    point to anything placed beyond it along `pointing`.
    """
    back = pointing + 180.0
    left = fwd(lon, lat, back - 45.0, size)
    far = fwd(lon, lat, back, size * 2**0.5)
    right = fwd(lon, lat, back + 45.0, size)
    return polygon([(lon, lat), left[:2], far[:2], right[:2]])


def corridor_ending(
    lon: float, lat: float, pointing: float, length: float, half_width: float
) -> dict[str, Any]:
    """A straight corridor whose line ends at lon/lat, arriving along azimuth `pointing`."""
    start = fwd(lon, lat, pointing + 180.0, length)
    return corridor([start[:2], (lon, lat)], half_width)
