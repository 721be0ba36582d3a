"""Conflict detection: the exact test between placed volumes, and the overlap each side may see.

Two volumes of different parties conflict when their time windows are closer than the time
buffer, their altitude bands closer than the vertical separation, and their areas closer than the
horizontal separation — tested in that order, cheapest first. "Closer than" is strict: volumes
exactly at a minimum do not conflict; overlapping ones have a negative gap and always do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from deconfliction.domain import geo
from deconfliction.domain.altitude import GEOID_MARGIN_M, AltitudeBand
from deconfliction.domain.areas import Shape, outline
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import TimeWindow, format_instant


@dataclass(frozen=True)
class Placed:
    """A volume placed in a mechanism: whose notification it belongs to and where it is."""

    notification_id: str
    party_id: str
    index: int
    shape: Shape
    altitude: AltitudeBand
    window: TimeWindow


@dataclass(frozen=True)
class Side:
    """The part of one side's volume that lies within the minima of the other side's volume."""

    volume_index: int
    area: dict[str, Any] | None
    start: datetime
    end: datetime
    lower_m: float
    upper_m: float
    reference: str

    def to_json(self) -> dict[str, Any]:
        return {
            "volume": self.volume_index,
            "area": self.area,
            "start": format_instant(self.start),
            "end": format_instant(self.end),
            "altitude": {
                "lower": round(self.lower_m, 1),
                "upper": round(self.upper_m, 1),
                "units": "m",
                "reference": self.reference,
            },
        }


@dataclass(frozen=True)
class Overlap:
    """One conflicting pair of volumes: what each side may see of its own part, and the gap."""

    a: Side
    b: Side
    horizontal_gap_m: float


@dataclass(frozen=True)
class Finding:
    """A conflict between two notifications: ids ordered (a < b), every conflicting volume pair."""

    notification_a: str
    party_a: str
    notification_b: str
    party_b: str
    overlaps: tuple[Overlap, ...]


def prefilter(new: Placed, candidate: Placed, rules: Rules) -> bool:
    """The cheap tests: different party, time and altitude within the minima."""
    return (
        new.party_id != candidate.party_id
        and new.window.gap_seconds(candidate.window) < rules.time_buffer_min * 60.0
        and new.altitude.gap_m(candidate.altitude) < rules.vertical_separation_m
    )


def _projection_for(a: Placed, b: Placed) -> tuple[float, float]:
    vectors = geo.unit_vectors(
        np.array([a.shape.centre[0], b.shape.centre[0]]),
        np.array([a.shape.centre[1], b.shape.centre[1]]),
    )
    return geo.grid_key(*geo.lonlat_of(vectors.sum(axis=0)))


def _horizontal_gaps(pairs: list[tuple[Placed, Placed]], transformer: Any) -> np.ndarray:
    """Signed gaps in metres: the geodesic distance between the cores' nearest points less radii.

    The nearest points are found in the projection; their distance is measured on the ellipsoid,
    so the projection's scale error does not grow with the radii of large circles.
    """
    cores_a = geo.project_all(np.array([a.shape.core for a, _ in pairs], dtype=object), transformer)
    cores_b = geo.project_all(np.array([b.shape.core for _, b in pairs], dtype=object), transformer)
    radii = np.array([a.shape.radius_m + b.shape.radius_m for a, b in pairs])
    gaps = geo.geodesic_lengths(shapely.shortest_line(cores_a, cores_b), transformer) - radii
    # Two polygons (no radius) at distance 0 either overlap (negative gap) or only touch (0).
    for i in np.flatnonzero((gaps == 0.0) & (radii == 0.0)):
        if shapely.intersects(cores_a[i], cores_b[i]) and not shapely.touches(
            cores_a[i], cores_b[i]
        ):
            gaps[i] = -1.0
    return np.asarray(gaps, dtype=float)


def _side(own: Placed, other: Placed, transformer: Any, rules: Rules) -> Side:
    footprint = own.shape.footprint(transformer)
    reach = outline(
        geo.project(other.shape.core, transformer),
        other.shape.radius_m + rules.horizontal_separation_m,
    )
    part: BaseGeometry = shapely.intersection(footprint, reach)
    if part.is_empty:
        # Within the 0.5 % tolerance the drawn shapes may just miss each other: show the stretch
        # of the own area nearest the other side rather than nothing.
        near = shapely.shortest_line(footprint, reach)
        part = shapely.intersection(footprint, shapely.buffer(near, near.length + 1.0))
    area = None if part.is_empty else mapping(geo.unproject(part, transformer))
    buffer = timedelta(minutes=rules.time_buffer_min)
    vertical = rules.vertical_separation_m + (
        GEOID_MARGIN_M if own.altitude.reference != other.altitude.reference else 0.0
    )
    return Side(
        volume_index=own.index,
        area=area,
        start=max(own.window.start, other.window.start - buffer),
        end=min(own.window.end, other.window.end + buffer),
        lower_m=max(own.altitude.lower_m, other.altitude.lower_m - vertical),
        upper_m=min(own.altitude.upper_m, other.altitude.upper_m + vertical),
        reference=own.altitude.reference,
    )


def find_conflicts(new: list[Placed], candidates: list[Placed], rules: Rules) -> list[Finding]:
    """Every notification among the candidates that conflicts with the new volumes, exactly."""
    groups: dict[tuple[float, float], list[tuple[Placed, Placed]]] = defaultdict(list)
    for volume in new:
        for candidate in candidates:
            if prefilter(volume, candidate, rules):
                groups[_projection_for(volume, candidate)].append((volume, candidate))
    found: dict[tuple[str, str], list[Overlap]] = defaultdict(list)
    parties: dict[str, str] = {}
    for key, pairs in groups.items():
        transformer = geo.projection(*key)
        gaps = _horizontal_gaps(pairs, transformer)
        for (volume, candidate), gap in zip(pairs, gaps, strict=True):
            if not gap < rules.horizontal_separation_m:
                continue
            a, b = sorted((volume, candidate), key=lambda p: (p.notification_id, p.index))
            parties[a.notification_id] = a.party_id
            parties[b.notification_id] = b.party_id
            found[(a.notification_id, b.notification_id)].append(
                Overlap(
                    a=_side(a, b, transformer, rules),
                    b=_side(b, a, transformer, rules),
                    horizontal_gap_m=max(float(gap), 0.0),
                )
            )
    return [
        Finding(
            notification_a=na,
            party_a=parties[na],
            notification_b=nb,
            party_b=parties[nb],
            overlaps=tuple(sorted(overlaps, key=lambda o: (o.a.volume_index, o.b.volume_index))),
        )
        for (na, nb), overlaps in sorted(found.items())
    ]
