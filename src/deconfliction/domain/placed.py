"""A volume placed in a mechanism: whose notification it belongs to, and where and when it is."""

from __future__ import annotations

from dataclasses import dataclass

from deconfliction.domain.altitude import AltitudeBand
from deconfliction.domain.areas import Shape
from deconfliction.domain.times import TimeWindow


@dataclass(frozen=True)
class Placed:
    """A volume placed in a mechanism: whose notification it belongs to and where it is."""

    notification_id: str
    party_id: str
    index: int
    shape: Shape
    altitude: AltitudeBand
    window: TimeWindow
