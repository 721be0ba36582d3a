"""Conflict detection: the exact test between placed volumes, and the overlap each side may see.

Two volumes of different parties conflict when their time windows are closer than the time
buffer, their altitude bands closer than the vertical separation, and their areas closer than the
horizontal separation — tested in that order, cheapest first. "Closer than" is strict: volumes
exactly at a minimum do not conflict; overlapping ones have a negative gap and always do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from deconfliction.domain import geo
from deconfliction.domain.altitude import GEOID_MARGIN_M
from deconfliction.domain.areas import outline
from deconfliction.domain.candidates import Candidates
from deconfliction.domain.placed import Placed
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import format_instant

TOUCH_AREA_M2 = 1.0


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


@dataclass
class Contact:
    """One pair of volumes found closer than the minima, with their projected cores and gap.

    The stored side stays a row of the candidates until the overlap is drawn.
    """

    volume: Placed
    candidates: Candidates
    row: int
    volume_is_a: bool
    gap_m: float
    projection: tuple[float, float]
    core_volume: BaseGeometry
    core_candidate: BaseGeometry

    @cached_property
    def other(self) -> Placed:
        return self.candidates.placed(self.row)

    @property
    def a(self) -> Placed:
        return self.volume if self.volume_is_a else self.other

    @property
    def b(self) -> Placed:
        return self.other if self.volume_is_a else self.volume

    @property
    def core_a(self) -> BaseGeometry:
        return self.core_volume if self.volume_is_a else self.core_candidate

    @property
    def core_b(self) -> BaseGeometry:
        return self.core_candidate if self.volume_is_a else self.core_volume

    @property
    def indexes(self) -> tuple[int, int]:
        own, other = self.volume.index, int(self.candidates.indexes[self.row])
        return (own, other) if self.volume_is_a else (other, own)


@dataclass(frozen=True)
class Finding:
    """A conflict between two notifications: ids ordered (a < b), every conflicting volume pair.

    Detection stops at the contacts; the overlaps each side may see are drawn when first asked
    for, so checking stays cheap and the drawing is done only for conflicts that are recorded.
    """

    notification_a: str
    party_a: str
    notification_b: str
    party_b: str
    contacts: tuple[Contact, ...]
    rules: Rules

    @cached_property
    def overlaps(self) -> tuple[Overlap, ...]:
        return tuple(_describe(contact, self.rules) for contact in self.contacts)


def _near_in_time_and_altitude(volume: Placed, candidates: Candidates, rules: Rules) -> np.ndarray:
    """Rows of the candidates of other parties within the time and vertical minima."""
    start, end = volume.window.start.timestamp(), volume.window.end.timestamp()
    time_gap = np.maximum(candidates.start - end, start - candidates.end)
    vertical_gap = np.maximum(
        candidates.lower - volume.altitude.upper_m, volume.altitude.lower_m - candidates.upper
    )
    vertical_gap -= np.where(
        candidates.references != volume.altitude.reference, GEOID_MARGIN_M, 0.0
    )
    near = (
        (candidates.party_ids != volume.party_id)
        & (time_gap < rules.time_buffer_min * 60.0)
        & (vertical_gap < rules.vertical_separation_m)
    )
    return np.flatnonzero(near)


def _projection_keys(volume: Placed, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per pair, the grid point nearest the midpoint of the two centres (symmetric in the pair)."""
    own = geo.unit_vectors(np.array([volume.shape.centre[0]]), np.array([volume.shape.centre[1]]))
    middle = geo.unit_vectors(lon, lat) + own
    norm = np.linalg.norm(middle, axis=1)
    mid_lat = np.degrees(np.arcsin(np.clip(middle[:, 2] / norm, -1.0, 1.0)))
    mid_lon = np.degrees(np.arctan2(middle[:, 1], middle[:, 0]))
    return geo.grid_keys(mid_lon, mid_lat)


def _gaps(
    volume: Placed, cores: np.ndarray, radii: np.ndarray, transformer: Any, separation: float
) -> tuple[np.ndarray, BaseGeometry, np.ndarray]:
    """Signed horizontal gaps from one volume to others, measured geodesically.

    The nearest points are found in the projection; their distance is measured on the ellipsoid,
    so the projection's scale error does not grow with the radii of large circles.
    """
    projected = geo.project_all(np.concatenate(([volume.shape.core], cores)), transformer)
    own, theirs = projected[0], projected[1:]
    radii = volume.shape.radius_m + radii
    gaps = geo.geodesic_lengths(shapely.shortest_line(own, theirs), transformer) - radii
    if separation > 0.0:
        return np.asarray(gaps, dtype=float), own, theirs
    # With no separation, two polygons (no radius) at distance 0 conflict only if they overlap
    # (negative gap), not if they touch (0). Edges shared in lon/lat may cross by rounding once
    # densified and projected, so an overlap must cover more than TOUCH_AREA_M2 to count.
    for i in np.flatnonzero((gaps == 0.0) & (radii == 0.0)):
        if shapely.area(shapely.intersection(own, theirs[i])) > TOUCH_AREA_M2:
            gaps[i] = -1.0
    return np.asarray(gaps, dtype=float), own, theirs


def find_conflicts(
    new: list[Placed], candidates: Candidates | Sequence[Placed], rules: Rules
) -> list[Finding]:
    """Every notification among the candidates that conflicts with the new volumes, exactly.

    Time and altitude are tested first, over all candidates at once; the horizontal test runs on
    the survivors, one projection call per group of pairs that share a projection.
    """
    if not isinstance(candidates, Candidates):
        candidates = Candidates.of(candidates)
    if not new or not len(candidates):
        return []
    found: dict[tuple[str, str], list[Contact]] = defaultdict(list)
    parties: dict[str, str] = {}
    for volume in new:
        near = _near_in_time_and_altitude(volume, candidates, rules)
        if near.size == 0:
            continue
        keys = _projection_keys(volume, candidates.lon[near], candidates.lat[near])
        for key in {tuple(k) for k in keys.tolist()}:
            rows = near[(keys == key).all(axis=1)]
            gaps, own, theirs = _gaps(
                volume,
                candidates.cores[rows],
                candidates.radii[rows],
                geo.projection(*key),
                rules.horizontal_separation_m,
            )
            close = gaps < rules.horizontal_separation_m
            for row, gap, core in zip(
                rows[close].tolist(), gaps[close].tolist(), theirs[close], strict=True
            ):
                other_id = str(candidates.notification_ids[row])
                volume_is_a = (volume.notification_id, volume.index) < (
                    other_id,
                    int(candidates.indexes[row]),
                )
                parties[other_id] = str(candidates.party_ids[row])
                pair = (
                    (volume.notification_id, other_id)
                    if volume_is_a
                    else (other_id, volume.notification_id)
                )
                found[pair].append(
                    Contact(volume, candidates, row, volume_is_a, max(gap, 0.0), key, own, core)
                )
        parties[volume.notification_id] = volume.party_id
    return [
        Finding(
            notification_a=na,
            party_a=parties[na],
            notification_b=nb,
            party_b=parties[nb],
            contacts=tuple(contacts if len(contacts) == 1 else sorted(contacts, key=_by_indexes)),
            rules=rules,
        )
        for (na, nb), contacts in sorted(found.items())
    ]


def _by_indexes(contact: Contact) -> tuple[int, int]:
    return contact.indexes


def _lonlat_json(geometry: BaseGeometry, transformer: Any) -> dict[str, Any]:
    """The geometry in lon/lat as a GeoJSON mapping (its coordinates in tuples, written as JSON
    arrays): the same numbers as shapely.to_geojson's, without writing text and reading it."""
    result: dict[str, Any] = mapping(geo.unproject(geometry, transformer))
    return result


def _part(footprint: BaseGeometry, reach: BaseGeometry) -> BaseGeometry:
    part: BaseGeometry = shapely.intersection(footprint, reach)
    if part.is_empty:
        # Within the 0.5 % tolerance the drawn shapes may just miss each other: show the stretch
        # of the own area nearest the other side rather than nothing.
        near = shapely.shortest_line(footprint, reach)
        part = shapely.intersection(footprint, shapely.buffer(near, near.length + 1.0))
    return part


def _describe(contact: Contact, rules: Rules) -> Overlap:
    """What each side may see of its own volume: the part within the minima of the other's."""
    transformer = geo.projection(*contact.projection)
    a, b = contact.a, contact.b
    footprint_a = outline(contact.core_a, a.shape.radius_m) if a.shape.radius_m else contact.core_a
    footprint_b = outline(contact.core_b, b.shape.radius_m) if b.shape.radius_m else contact.core_b
    sep = rules.horizontal_separation_m
    part_a = _part(footprint_a, outline(contact.core_b, b.shape.radius_m + sep))
    part_b = _part(footprint_b, outline(contact.core_a, a.shape.radius_m + sep))
    return Overlap(
        a=_side(a, b, None if part_a.is_empty else _lonlat_json(part_a, transformer), rules),
        b=_side(b, a, None if part_b.is_empty else _lonlat_json(part_b, transformer), rules),
        horizontal_gap_m=contact.gap_m,
    )


def _side(own: Placed, other: Placed, area: dict[str, Any] | None, rules: Rules) -> Side:
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
