"""Candidates: the stored volumes a store offers for a check, held as columns.

A check looks at tens of candidates and keeps few; columns let the time, altitude and distance
tests run over all of them at once, and a `Placed` is made only for a volume that conflicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import shapely

from deconfliction.domain.altitude import AltitudeBand
from deconfliction.domain.areas import Shape
from deconfliction.domain.placed import Placed
from deconfliction.domain.times import TimeWindow, from_epoch


@dataclass(frozen=True)
class Candidates:
    """Stored volumes as parallel columns (times in seconds since the epoch, heights in m)."""

    notification_ids: np.ndarray
    party_ids: np.ndarray
    indexes: np.ndarray
    cores: np.ndarray
    radii: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    references: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.notification_ids)

    def placed(self, i: int) -> Placed:
        """The candidate at row i as a domain volume."""
        return Placed(
            notification_id=str(self.notification_ids[i]),
            party_id=str(self.party_ids[i]),
            index=int(self.indexes[i]),
            shape=Shape(
                core=self.cores[i],
                radius_m=float(self.radii[i]),
                centre=(float(self.lon[i]), float(self.lat[i])),
            ),
            altitude=AltitudeBand(
                float(self.lower[i]), float(self.upper[i]), str(self.references[i]), {}
            ),
            window=TimeWindow(from_epoch(float(self.start[i])), from_epoch(float(self.end[i]))),
        )

    @classmethod
    def from_columns(cls, columns: Sequence[Sequence[Any]], cores: Sequence[Any]) -> Candidates:
        """From columns in field order (notification id … end), cores already as geometries."""
        (ids, parties, indexes, radii, lon, lat, lower, upper, references, start, end) = columns
        return cls(
            notification_ids=np.asarray(ids, dtype=object),
            party_ids=np.asarray(parties, dtype=object),
            indexes=np.asarray(indexes, dtype=int),
            cores=np.asarray(cores, dtype=object),
            radii=np.asarray(radii, dtype=float),
            lon=np.asarray(lon, dtype=float),
            lat=np.asarray(lat, dtype=float),
            lower=np.asarray(lower, dtype=float),
            upper=np.asarray(upper, dtype=float),
            references=np.asarray(references, dtype=object),
            start=np.asarray(start, dtype=float),
            end=np.asarray(end, dtype=float),
        )

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> Candidates:
        """From rows of the fields in order (notification id … end) and the core as WKB."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * (len(COLUMNS) + 1)
        return cls.from_columns(columns[:-1], shapely.from_wkb(list(columns[-1])))

    @classmethod
    def union(cls, parts: Sequence[Candidates]) -> Candidates:
        """The rows of several candidate sets, each stored volume once."""
        if len(parts) == 1:
            return parts[0]
        seen: set[tuple[str, int]] = set()
        keep: list[tuple[int, int]] = []
        for p, part in enumerate(parts):
            for i, key in enumerate(zip(part.notification_ids, part.indexes.tolist(), strict=True)):
                if key not in seen:
                    seen.add(key)
                    keep.append((p, i))
        names = [f.name for f in fields(cls)]
        columns = {n: [getattr(parts[p], n)[i] for p, i in keep] for n in names}
        return cls.from_columns([columns[n] for n in names if n != "cores"], columns["cores"])

    @classmethod
    def of(cls, volumes: Sequence[Placed]) -> Candidates:
        """Columns from domain volumes (tests and brute-force scans)."""
        rows = [columns_of(v) for v in volumes]
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
        return cls.from_columns(columns, [v.shape.core for v in volumes])


# The columns of `from_columns`, in order: what a store keeps of a volume besides its core.
COLUMNS = (
    "notification_id",
    "party_id",
    "idx",
    "radius_m",
    "centre_lon",
    "centre_lat",
    "lower_m",
    "upper_m",
    "reference",
    "start_ts",
    "end_ts",
)


def columns_of(volume: Placed) -> tuple[Any, ...]:
    """A volume's values for COLUMNS."""
    return (
        volume.notification_id,
        volume.party_id,
        volume.index,
        volume.shape.radius_m,
        volume.shape.centre[0],
        volume.shape.centre[1],
        volume.altitude.lower_m,
        volume.altitude.upper_m,
        volume.altitude.reference,
        volume.window.start.timestamp(),
        volume.window.end.timestamp(),
    )
