"""Notification areas: GeoJSON Polygon, Circle and Corridor, validated and turned into shapes.

Every area becomes a *shape*: a core geometry in lon/lat (a polygon, a point or a line) and a
radius around it (0, the circle's radius, the corridor's half-width). The distance between two
shapes is the distance between their cores less both radii — exact for circles and corridors,
with no polygon approximation of arcs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from deconfliction.domain import geo
from deconfliction.errors import InvalidInput

MAX_VERTICES = 1_000
MAX_EXTENT_M = 500_000.0
MAX_RADIUS_M = 500_000.0
MAX_HALF_WIDTH_M = 100_000.0
QUAD_SEGMENTS = 16
# A buffer's polygon lies inside the true arc; growing its radius by this factor puts it around it.
CIRCUMSCRIBE = 1.0 / math.cos(math.pi / (4 * QUAD_SEGMENTS))
# GeoJSON edges are straight lines in lon/lat (RFC 7946 §3.1.1); densifying keeps them so
# once projected.
DENSIFY_DEG = 0.1
AREA_TYPES = ("Polygon", "Circle", "Corridor")


@dataclass(frozen=True)
class Shape:
    """Where a volume is: a lon/lat core geometry, a radius around it, and its centre."""

    core: BaseGeometry
    radius_m: float
    centre: tuple[float, float]

    def footprint(self, transformer: Transformer) -> BaseGeometry:
        """The shape's area in the transformer's plane."""
        return self.drawn(geo.project(self.core, transformer))

    def drawn(self, projected_core: BaseGeometry) -> BaseGeometry:
        """The shape's area around its core, already projected."""
        return outline(projected_core, self.radius_m) if self.radius_m else projected_core

    def footprint_lonlat(self) -> BaseGeometry:
        """The shape's area as lon/lat polygons (arcs approximated), for GeoJSON output."""
        transformer = geo.projection_near(*self.centre)
        return geo.unproject(self.footprint(transformer), transformer)


def outline(core: BaseGeometry, radius_m: float) -> BaseGeometry:
    """The projected area within `radius_m` of a core, drawn around its arcs, never inside them."""
    return shapely.buffer(core, radius_m * CIRCUMSCRIBE, quad_segs=QUAD_SEGMENTS)


@dataclass(frozen=True)
class Area:
    """A validated notification area: the GeoJSON it was given as, its shape and its size."""

    geojson: dict[str, Any]
    shape: Shape
    area_m2: float


def parse_area(data: Any, field: str, *, max_area_km2: float | None = None) -> Area:
    """Validate a Polygon, Circle or Corridor object; raise InvalidInput naming the field."""
    if not isinstance(data, dict):
        raise InvalidInput.one(field, "must be an object with a 'type'")
    kind = data.get("type")
    if kind == "Polygon":
        area = _polygon(data, field)
    elif kind == "Circle":
        area = _circle(data, field)
    elif kind == "Corridor":
        area = _corridor(data, field)
    else:
        raise InvalidInput.one(f"{field}.type", f"must be one of {', '.join(AREA_TYPES)}")
    if max_area_km2 is not None and area.area_m2 > max_area_km2 * 1e6:
        raise InvalidInput.one(
            field,
            f"covers {area.area_m2 / 1e6:,.1f} km², more than the mechanism's maximum of "
            f"{max_area_km2:,.1f} km²",
        )
    return area


def _only_keys(data: dict[str, Any], field: str, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput.one(f"{field}.{unknown[0]}", "unknown field")


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput.one(field, "must be a number")
    if not math.isfinite(value):
        raise InvalidInput.one(field, "must be a finite number")
    return float(value)


def _position(value: Any, field: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidInput.one(
            field, "must be [longitude, latitude]; altitude belongs in the volume's 'altitude'"
        )
    lon = _number(value[0], f"{field}[0]")
    lat = _number(value[1], f"{field}[1]")
    if not -180.0 <= lon <= 180.0:
        raise InvalidInput.one(f"{field}[0]", f"longitude {lon} is outside -180..180")
    if not -90.0 <= lat <= 90.0:
        raise InvalidInput.one(f"{field}[1]", f"latitude {lat} is outside -90..90")
    return lon, lat


def _positions(value: Any, field: str, minimum: int, *, closed: bool) -> list[tuple[float, float]]:
    if not isinstance(value, list | tuple):
        raise InvalidInput.one(field, "must be an array of positions")
    vertices = len(value) - 1 if closed else len(value)
    if vertices > MAX_VERTICES:
        raise InvalidInput.one(field, f"has {vertices} vertices; at most {MAX_VERTICES}")
    if len(value) < minimum:
        raise InvalidInput.one(field, f"needs at least {minimum} positions")
    points = [_position(p, f"{field}[{i}]") for i, p in enumerate(value)]
    for i in range(1, len(points)):
        if abs(points[i][0] - points[i - 1][0]) > 180.0:
            raise InvalidInput.one(
                f"{field}[{i}]",
                f"the edge from longitude {points[i - 1][0]} to {points[i][0]} crosses the "
                "antimeridian; GeoJSON edges are straight in lon/lat, so split the area at "
                "longitude ±180 into two volumes (RFC 7946 §3.1.9)",
            )
    return points


_LOCATION = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")


def _validity_reason(geometry: BaseGeometry) -> str | None:
    if shapely.is_valid(geometry):
        return None
    reason = shapely.is_valid_reason(geometry)
    match = _LOCATION.search(reason)
    what = reason.split("[")[0].strip().lower()
    if match:
        return f"polygon is not valid: {what} at longitude {match[1]}, latitude {match[2]}"
    return f"polygon is not valid: {what}"


def parse_polygon(data: Any, field: str) -> tuple[dict[str, Any], shapely.Polygon]:
    """A valid GeoJSON Polygon of any size (e.g. a mechanism's area) and its lon/lat geometry."""
    if not isinstance(data, dict) or data.get("type") != "Polygon":
        raise InvalidInput.one(f"{field}.type", "must be a GeoJSON Polygon")
    _only_keys(data, field, {"type", "coordinates"})
    rings_in = data.get("coordinates")
    if not isinstance(rings_in, list) or not rings_in:
        raise InvalidInput.one(f"{field}.coordinates", "must be a non-empty array of rings")
    rings = []
    total = 0
    for r, ring_in in enumerate(rings_in):
        ring_field = f"{field}.coordinates[{r}]"
        ring = _positions(ring_in, ring_field, 4, closed=True)
        if ring[0] != ring[-1]:
            raise InvalidInput.one(ring_field, "ring is not closed: last position must equal first")
        total += len(ring) - 1
        if total > MAX_VERTICES:
            raise InvalidInput.one(f"{field}.coordinates", f"more than {MAX_VERTICES} vertices")
        rings.append(ring)
    polygon = shapely.Polygon(rings[0], rings[1:])
    reason = _validity_reason(polygon)
    if reason:
        raise InvalidInput.one(f"{field}.coordinates", reason)
    if polygon.area == 0.0:
        raise InvalidInput.one(f"{field}.coordinates", "polygon has no area")
    geojson = {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in rings]}
    return geojson, polygon


def _polygon(data: dict[str, Any], field: str) -> Area:
    geojson, polygon = parse_polygon(data, field)
    return _area(geojson, shapely.segmentize(polygon, DENSIFY_DEG), 0.0, field)


def _circle(data: dict[str, Any], field: str) -> Area:
    _only_keys(data, field, {"type", "center", "radius"})
    lon, lat = _position(data.get("center"), f"{field}.center")
    radius = _number(data.get("radius"), f"{field}.radius")
    if not 0.0 < radius <= MAX_RADIUS_M:
        raise InvalidInput.one(f"{field}.radius", f"must be > 0 and ≤ {MAX_RADIUS_M:,.0f} m")
    geojson = {"type": "Circle", "center": [lon, lat], "radius": radius}
    return _area(geojson, shapely.Point(lon, lat), radius, field)


def _corridor(data: dict[str, Any], field: str) -> Area:
    _only_keys(data, field, {"type", "line", "half_width"})
    line_in = data.get("line")
    line_field = f"{field}.line"
    if not isinstance(line_in, dict) or line_in.get("type") != "LineString":
        raise InvalidInput.one(line_field, "must be a GeoJSON LineString")
    _only_keys(line_in, line_field, {"type", "coordinates"})
    points = _positions(line_in.get("coordinates"), f"{line_field}.coordinates", 2, closed=False)
    if len(set(points)) < 2:
        raise InvalidInput.one(f"{line_field}.coordinates", "needs two distinct positions")
    half_width = _number(data.get("half_width"), f"{field}.half_width")
    if not 0.0 < half_width <= MAX_HALF_WIDTH_M:
        raise InvalidInput.one(
            f"{field}.half_width", f"must be > 0 and ≤ {MAX_HALF_WIDTH_M:,.0f} m"
        )
    geojson = {
        "type": "Corridor",
        "line": {"type": "LineString", "coordinates": [list(p) for p in points]},
        "half_width": half_width,
    }
    core = shapely.segmentize(shapely.LineString(points), DENSIFY_DEG)
    return _area(geojson, core, half_width, field)


def stored_shape(area: dict[str, Any]) -> Shape:
    """The shape of a Circle or Corridor that was validated when it was stored (an `Area`'s
    `geojson`), made as `parse_area` makes it but without checking it again: drawing an
    accepted area needs its footprint, not its size, extent and poles measured once more."""
    if area["type"] == "Circle":
        lon, lat = area["center"]
        return _shape(shapely.Point(lon, lat), area["radius"])
    if area["type"] == "Corridor":
        line = shapely.LineString(area["line"]["coordinates"])
        return _shape(shapely.segmentize(line, DENSIFY_DEG), area["half_width"])
    raise ValueError(f"a stored Circle or Corridor, not {area['type']!r}")


def _shape(core: BaseGeometry, radius: float) -> Shape:
    return Shape(core=core, radius_m=radius, centre=geo.centre_of(shapely.get_coordinates(core)))


def _area(geojson: dict[str, Any], core: BaseGeometry, radius: float, field: str) -> Area:
    shape = _shape(core, radius)
    centre = shape.centre
    transformer = geo.projection_near(*centre)
    projected_core = geo.project(core, transformer)
    projected_centre = geo.project(shapely.Point(centre), transformer)
    extent = shapely.hausdorff_distance(projected_centre, projected_core) + radius
    if extent > MAX_EXTENT_M:
        raise InvalidInput.one(
            field,
            f"reaches {extent / 1000:,.0f} km from its centre; an area may reach at most "
            f"{MAX_EXTENT_M / 1000:,.0f} km (split it into several volumes)",
        )
    footprint = shape.drawn(projected_core)
    for pole_lat in (90.0, -90.0):
        if abs(pole_lat - centre[1]) >= 20.0:
            continue  # farther than any area can reach
        pole = geo.project(shapely.Point(0.0, pole_lat), transformer)
        if footprint.contains(pole):
            raise InvalidInput.one(
                field, "contains a geographic pole; areas around a pole are not supported"
            )
    return Area(geojson=geojson, shape=shape, area_m2=_area_m2(shape, footprint))


def _area_m2(shape: Shape, footprint: BaseGeometry) -> float:
    if isinstance(shape.core, shapely.Point):
        return math.pi * shape.radius_m**2
    return float(footprint.area)
