"""Request bodies as Pydantic models: the OpenAPI contract and the first, structural check.

Strict (no coercion of "5000" into 5000), no unknown fields, no NaN or infinity. The domain then
checks meaning (geometry validity, limits, rules) and names the field of any problem.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from deconfliction.domain.rules import DESCRIPTIONS

Position = Annotated[
    list[float],
    Field(min_length=2, max_length=3, description="[longitude, latitude] in degrees, WGS84"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class PolygonIn(Strict):
    type: Literal["Polygon"]
    coordinates: list[list[Position]] = Field(
        description="GeoJSON rings: exterior first, closed, at most 1,000 vertices in all"
    )


class CircleIn(Strict):
    type: Literal["Circle"]
    center: Position
    radius: float = Field(description="metres, > 0 and ≤ 500,000")


class LineStringIn(Strict):
    type: Literal["LineString"]
    coordinates: list[Position]


class CorridorIn(Strict):
    type: Literal["Corridor"]
    line: LineStringIn
    half_width: float = Field(description="metres either side of the line, > 0 and ≤ 100,000")


Area = Annotated[PolygonIn | CircleIn | CorridorIn, Field(discriminator="type")]


class AltitudeIn(Strict):
    lower: float
    upper: float
    units: Literal["m", "ft", "FL"]
    reference: str = Field(description="AMSL or W84 (AGL needs terrain data and is refused)")


class VolumeIn(Strict):
    area: Area
    altitude: AltitudeIn
    start: str = Field(
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 with an offset, e.g. 2026-05-01T06:00:00Z",
    )
    end: str = Field(json_schema_extra={"format": "date-time"})


class NotificationIn(Strict):
    kind: Literal["air", "ground", "maritime", "uas", "site"]
    title: str = Field(max_length=200)
    reference: str = Field(
        default="", max_length=200, description="the party's own reference, e.g. an order number"
    )
    volumes: list[VolumeIn] = Field(min_length=1, max_length=100)


class RulesIn(Strict):
    horizontal_separation_m: float | None = Field(
        None, description=DESCRIPTIONS["horizontal_separation_m"]
    )
    vertical_separation_m: float | None = Field(
        None, description=DESCRIPTIONS["vertical_separation_m"]
    )
    time_buffer_min: float | None = Field(None, description=DESCRIPTIONS["time_buffer_min"])
    minimum_notice_min: float | None = Field(None, description=DESCRIPTIONS["minimum_notice_min"])
    max_volume_duration_h: float | None = Field(
        None, description=DESCRIPTIONS["max_volume_duration_h"]
    )
    max_area_km2: float | None = Field(None, description=DESCRIPTIONS["max_area_km2"])
    disclosure: Literal["need-to-know", "full"] | None = Field(
        None, description=DESCRIPTIONS["disclosure"]
    )
    ack_deadline_min: float | None = Field(None, description=DESCRIPTIONS["ack_deadline_min"])
    urgent_ack_deadline_min: float | None = Field(
        None, description=DESCRIPTIONS["urgent_ack_deadline_min"]
    )
    escalation_after_min: float | None = Field(
        None, description=DESCRIPTIONS["escalation_after_min"]
    )
    silence_alarm_min: float | None = Field(None, description=DESCRIPTIONS["silence_alarm_min"])


class MechanismIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    area: PolygonIn | None = Field(None, description="area of interest, for orientation")
    rules: RulesIn | None = None


class PartyIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    code: str = Field(description="2–32 upper-case letters, digits, '-' or '_'; unique")
    contact: str = Field(
        "",
        max_length=500,
        description="how the other side reaches this "
        "party's liaison cell; shown to the parties it conflicts with",
    )


class MemberIn(Strict):
    party_id: str = Field(max_length=64)


class TokenIn(Strict):
    label: str = Field("", max_length=200, description="whose token this is, e.g. 'duty desk'")


class CancelIn(Strict):
    reason: str | None = Field(None, max_length=200)
