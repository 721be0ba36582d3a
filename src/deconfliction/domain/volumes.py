"""Volumes: area + altitude band + time window, their validation, and their 5-D search boxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from deconfliction.domain import geo
from deconfliction.domain.altitude import GEOID_MARGIN_M, AltitudeBand, parse_altitude
from deconfliction.domain.areas import CIRCUMSCRIBE, Area, parse_area
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import TimeWindow, format_instant, parse_window
from deconfliction.errors import FieldError, InvalidInput

MAX_VOLUMES = 100
VOLUME_FIELDS = {"area", "altitude", "start", "end"}


@dataclass(frozen=True)
class Volume:
    """One 4-D extent of a notification."""

    area: Area
    altitude: AltitudeBand
    window: TimeWindow

    def to_json(self) -> dict[str, Any]:
        return {
            "area": self.area.geojson,
            "altitude": self.altitude.given,
            "start": format_instant(self.window.start),
            "end": format_instant(self.window.end),
        }


@dataclass(frozen=True)
class Box:
    """An axis-aligned box over (x, y, z of the unit sphere, altitude m, time s since epoch)."""

    low: tuple[float, float, float, float, float]
    high: tuple[float, float, float, float, float]

    def widened(self, rules: Rules) -> Box:
        """The box grown by the minima: whatever may conflict with it has a box touching this."""
        space = rules.horizontal_separation_m / geo.SMALLEST_CURVATURE_RADIUS_M
        up = rules.vertical_separation_m + GEOID_MARGIN_M
        later = rules.time_buffer_min * 60.0
        grow = (space, space, space, up, later)
        return Box(
            tuple(a - g for a, g in zip(self.low, grow, strict=True)),  # type: ignore[arg-type]
            tuple(a + g for a, g in zip(self.high, grow, strict=True)),  # type: ignore[arg-type]
        )

    def touches(self, other: Box) -> bool:
        return all(
            a_lo <= b_hi and b_lo <= a_hi
            for a_lo, a_hi, b_lo, b_hi in zip(
                self.low, self.high, other.low, other.high, strict=True
            )
        )


def box_of(volume: Volume) -> Box:
    """The volume's bounding box; sound on the sphere, across the antimeridian and at the poles."""
    shape = volume.area.shape
    coords = shapely.get_coordinates(shape.core)
    vectors = geo.unit_vectors(coords[:, 0], coords[:, 1])
    centre = geo.unit_vectors(np.array([shape.centre[0]]), np.array([shape.centre[1]]))[0]
    spread = float(np.arccos(np.clip(vectors @ centre, -1.0, 1.0)).max())
    # The surface between vertices bulges out of their chords by at most 1 - cos(spread), and
    # the radius adds its own arc (as drawn, around the true arc); both widen the box so that it
    # holds the whole shape.
    reach = shape.radius_m * CIRCUMSCRIBE / geo.SMALLEST_CURVATURE_RADIUS_M
    margin = (1.0 - np.cos(spread + reach)) + reach
    low = vectors.min(axis=0) - margin
    high = vectors.max(axis=0) + margin
    return Box(
        (
            float(low[0]),
            float(low[1]),
            float(low[2]),
            volume.altitude.lower_m,
            volume.window.start.timestamp(),
        ),
        (
            float(high[0]),
            float(high[1]),
            float(high[2]),
            volume.altitude.upper_m,
            volume.window.end.timestamp(),
        ),
    )


# A lon/lat box says nothing of altitude or time: its search box spans every band and moment a
# volume can have (parse_altitude keeps altitudes far inside, instants lie in years 1..9999).
ANY_ALTITUDE_M = (-1e7, 1e7)
ANY_MOMENT_S = (-1e12, 1e12)
ROUNDING = 1e-12


def _range(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


def lonlat_box(west: float, south: float, east: float, north: float) -> Box:
    """The search box of a west,south,east,north rectangle in degrees (west ≤ east, south ≤
    north): it holds the unit vector of every point of the rectangle, so every volume whose area
    meets the rectangle has a box that meets it; the exact test is the caller's."""
    lam, phi = np.radians([west, east]), np.radians([south, north])
    cos_lon = [*np.cos(lam)] + ([1.0] if west <= 0.0 <= east else [])
    cos_lon += [-1.0] if west <= -180.0 or east >= 180.0 else []
    sin_lon = [*np.sin(lam)] + ([1.0] if west <= 90.0 <= east else [])
    sin_lon += [-1.0] if west <= -90.0 <= east else []
    cos_lat = [*np.cos(phi)] + ([1.0] if south <= 0.0 <= north else [])
    lat_lo, lat_hi = _range(cos_lat)
    low, high = [], []
    for factor in (cos_lon, sin_lon):  # x = cos φ cos λ, y = cos φ sin λ: corner products bound
        lon_lo, lon_hi = _range(factor)
        products = [a * b for a in (lat_lo, lat_hi) for b in (lon_lo, lon_hi)]
        low.append(min(products) - ROUNDING)
        high.append(max(products) + ROUNDING)
    low.append(float(np.sin(phi[0])) - ROUNDING)
    high.append(float(np.sin(phi[1])) + ROUNDING)
    return Box(
        (float(low[0]), float(low[1]), low[2], ANY_ALTITUDE_M[0], ANY_MOMENT_S[0]),
        (float(high[0]), float(high[1]), high[2], ANY_ALTITUDE_M[1], ANY_MOMENT_S[1]),
    )


def parse_volume(data: Any, field: str, *, rules: Rules, now: datetime) -> Volume:
    """Validate one volume object against the mechanism's rules."""
    if not isinstance(data, dict):
        raise InvalidInput.one(field, "must be an object with area, altitude, start and end")
    unknown = sorted(set(data) - VOLUME_FIELDS)
    if unknown:
        raise InvalidInput.one(f"{field}.{unknown[0]}", "unknown field")
    missing = sorted(VOLUME_FIELDS - set(data))
    if missing:
        raise InvalidInput([FieldError(f"{field}.{m}", "required") for m in missing])
    errors: list[FieldError] = []
    area = altitude = window = None
    try:
        area = parse_area(data["area"], f"{field}.area", max_area_km2=rules.max_area_km2)
    except InvalidInput as error:
        errors.extend(error.errors)
    try:
        altitude = parse_altitude(data["altitude"], f"{field}.altitude")
    except InvalidInput as error:
        errors.extend(error.errors)
    try:
        window = parse_window(
            data["start"],
            data["end"],
            field,
            now=now,
            max_duration=timedelta(hours=rules.max_volume_duration_h),
        )
    except InvalidInput as error:
        errors.extend(error.errors)
    if errors or area is None or altitude is None or window is None:
        raise InvalidInput(errors)
    return Volume(area=area, altitude=altitude, window=window)


def parse_volumes(
    data: Any, *, rules: Rules, now: datetime, field: str = "volumes"
) -> list[Volume]:
    """Validate a notification's volumes, reporting the errors of every volume at once."""
    if not isinstance(data, list) or not data:
        raise InvalidInput.one(field, "must be a non-empty array of volumes")
    if len(data) > MAX_VOLUMES:
        raise InvalidInput.one(field, f"has {len(data)} volumes; at most {MAX_VOLUMES}")
    volumes: list[Volume] = []
    errors: list[FieldError] = []
    for i, item in enumerate(data):
        try:
            volumes.append(parse_volume(item, f"{field}[{i}]", rules=rules, now=now))
        except InvalidInput as error:
            errors.extend(error.errors)
    if errors:
        raise InvalidInput(errors)
    return volumes
