"""A mechanism's rules: separation minima, notice, limits and disclosure policy, with defaults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from deconfliction.errors import FieldError, InvalidInput

DISCLOSURE_POLICIES = ("need-to-know", "full")


@dataclass(frozen=True)
class Rules:
    """The rules of one mechanism; every field has a default suited to an air/ground line."""

    horizontal_separation_m: float = 1_000.0
    vertical_separation_m: float = 300.0
    time_buffer_min: float = 15.0
    minimum_notice_min: float = 60.0
    max_volume_duration_h: float = 720.0
    max_area_km2: float = 50_000.0
    disclosure: str = "need-to-know"
    ack_deadline_min: float = 30.0
    urgent_ack_deadline_min: float = 10.0
    escalation_after_min: float = 15.0
    silence_alarm_min: float = 60.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# (lowest, highest, whether the lowest is allowed) for each numeric rule.
LIMITS: dict[str, tuple[float, float, bool]] = {
    "horizontal_separation_m": (0.0, 100_000.0, True),
    "vertical_separation_m": (0.0, 10_000.0, True),
    "time_buffer_min": (0.0, 1_440.0, True),
    "minimum_notice_min": (0.0, 43_200.0, True),
    "max_volume_duration_h": (0.0, 8_784.0, False),
    "max_area_km2": (0.0, 1_000_000.0, False),
    "ack_deadline_min": (0.0, 10_080.0, False),
    "urgent_ack_deadline_min": (0.0, 10_080.0, False),
    "escalation_after_min": (0.0, 10_080.0, False),
    "silence_alarm_min": (0.0, 10_080.0, False),
}

DESCRIPTIONS = {
    "horizontal_separation_m": "areas of two parties closer than this (metres) conflict",
    "vertical_separation_m": "altitude bands closer than this (metres) conflict",
    "time_buffer_min": "time windows closer than this (minutes) conflict",
    "minimum_notice_min": "a notification given later than this before its start is flagged late",
    "max_volume_duration_h": "longest time window of one volume (hours)",
    "max_area_km2": "largest area of one volume (km²)",
    "disclosure": "need-to-know: others see only conflict overlaps; full: members see all",
    "ack_deadline_min": "a routine message or a notification must be acknowledged within this",
    "urgent_ack_deadline_min": "an urgent message or a conflict must be acknowledged within this",
    "escalation_after_min": "after a missed deadline's reminder, escalate when this has passed",
    "silence_alarm_min": "a member not heard from for this long is reported silent to the others",
}


def parse_rules(data: Any, field: str = "rules") -> Rules:
    """Rules from a partial object: missing fields take their defaults; bad ones are named."""
    if data is None:
        return Rules()
    if not isinstance(data, dict):
        raise InvalidInput.one(field, "must be an object")
    known = {f.name for f in fields(Rules)}
    errors = [FieldError(f"{field}.{k}", "unknown rule") for k in sorted(set(data) - known)]
    values: dict[str, Any] = {}
    for name, (low, high, low_ok) in LIMITS.items():
        if name not in data:
            continue
        value = data[name]
        where = f"{field}.{name}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(FieldError(where, "must be a number"))
        elif not math.isfinite(value):
            errors.append(FieldError(where, "must be a finite number"))
        elif value < low or (value == low and not low_ok) or value > high:
            bound = "≥" if low_ok else ">"
            errors.append(FieldError(where, f"must be {bound} {low:g} and ≤ {high:g}"))
        else:
            values[name] = float(value)
    if "disclosure" in data:
        if data["disclosure"] in DISCLOSURE_POLICIES:
            values["disclosure"] = data["disclosure"]
        else:
            errors.append(
                FieldError(
                    f"{field}.disclosure", f"must be one of {', '.join(DISCLOSURE_POLICIES)}"
                )
            )
    if errors:
        raise InvalidInput(errors)
    return Rules(**values)
