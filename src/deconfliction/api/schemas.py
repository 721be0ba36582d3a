"""Request bodies as Pydantic models: the OpenAPI contract and the first, structural check.

Strict (no coercion of "5000" into 5000), no unknown fields, no NaN or infinity. The domain then
checks meaning (geometry validity, limits, rules) and names the field of any problem.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from deconfliction.domain.areas import MAX_VERTICES
from deconfliction.domain.rules import DESCRIPTIONS

# What a write answers with: a JSON object the service built (its view and receipt). Routes that
# return one as a JSONResponse declare it as their response model, so the OpenAPI document says
# "an object" while FastAPI does not validate and re-encode, value by value, what is already JSON.
View = dict[str, Any]

Position = Annotated[
    list[float],
    Field(min_length=2, max_length=3, description="[longitude, latitude] in degrees, WGS84"),
]


def _at_most_vertices(closed: bool) -> BeforeValidator:
    """The domain's vertex limit, checked before a single position is: 60,000 positions are
    refused at once, not after each was validated (the domain words it the same way)."""

    def check(value: Any) -> Any:
        vertices = len(value) - closed if isinstance(value, list) else 0
        if vertices > MAX_VERTICES:
            raise PydanticCustomError(
                "too_many_vertices",
                "has {vertices} vertices; at most {maximum}",
                {"vertices": vertices, "maximum": MAX_VERTICES},
            )
        return value

    return BeforeValidator(check)


Ring = Annotated[list[Position], _at_most_vertices(closed=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class PolygonIn(Strict):
    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(
        # Every ring has 3 vertices or more: more rings than this cannot be within the limit.
        max_length=MAX_VERTICES // 3,
        description="GeoJSON rings: exterior first, closed, at most 1,000 vertices in all",
    )


class CircleIn(Strict):
    type: Literal["Circle"]
    center: Position
    radius: float = Field(description="metres, > 0 and ≤ 500,000")


class LineStringIn(Strict):
    type: Literal["LineString"]
    coordinates: Annotated[list[Position], _at_most_vertices(closed=False)]


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
    shard: str | None = Field(
        None,
        max_length=31,
        description="the database (shard) that will hold the mechanism, by its name in the "
        "deployment's routing table; the home database if left out",
    )


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
