"""Altitude bands: lower/upper in metres, feet or flight levels, AMSL or WGS84 ellipsoid height."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from deconfliction.errors import FieldError, InvalidInput

FOOT_M = 0.3048
UNITS = ("m", "ft", "FL")
REFERENCES = ("AMSL", "W84")
# The geoid lies within ±107 m of the WGS84 ellipsoid (EGM2008). Without a geoid model we
# compare an AMSL band with a W84 band as if either could be this much higher or lower, so a
# conflict is never missed for want of the model.
GEOID_MARGIN_M = 110.0
LOWEST_M = -1_000.0
HIGHEST_M = 100_000.0


@dataclass(frozen=True)
class AltitudeBand:
    """A band in metres in its reference, plus the band as it was given."""

    lower_m: float
    upper_m: float
    reference: str
    given: dict[str, Any]


def _to_metres(value: float, units: str) -> float:
    if units == "m":
        return value
    if units == "ft":
        return value * FOOT_M
    # A flight level is a pressure altitude in hundreds of feet; treated as that altitude in
    # the standard atmosphere (documented: FL is not corrected for the day's pressure).
    return value * 100.0 * FOOT_M


def parse_altitude(data: Any, field: str) -> AltitudeBand:
    """Validate an altitude object; AGL is refused because it needs terrain data."""
    if not isinstance(data, dict):
        raise InvalidInput.one(field, "must be an object with lower, upper, units and reference")
    errors = [
        FieldError(f"{field}.{k}", "unknown field")
        for k in sorted(set(data) - {"lower", "upper", "units", "reference"})
    ]
    units = data.get("units")
    reference = data.get("reference")
    if units not in UNITS:
        errors.append(FieldError(f"{field}.units", f"must be one of {', '.join(UNITS)}"))
    if reference == "AGL":
        errors.append(
            FieldError(
                f"{field}.reference",
                "AGL (above ground level) needs terrain data the service does not have; "
                "give AMSL or W84",
            )
        )
    elif reference not in REFERENCES:
        errors.append(FieldError(f"{field}.reference", f"must be one of {', '.join(REFERENCES)}"))
    bounds = {}
    for key in ("lower", "upper"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(FieldError(f"{field}.{key}", "must be a number"))
        elif not math.isfinite(value):
            errors.append(FieldError(f"{field}.{key}", "must be a finite number"))
        else:
            bounds[key] = float(value)
    if errors:
        raise InvalidInput(errors)
    units, reference = str(units), str(reference)
    lower = _to_metres(bounds["lower"], units)
    upper = _to_metres(bounds["upper"], units)
    if not lower < upper:
        raise InvalidInput.one(f"{field}.upper", "must be greater than lower")
    for key, metres in (("lower", lower), ("upper", upper)):
        if not LOWEST_M <= metres <= HIGHEST_M:
            raise InvalidInput.one(
                f"{field}.{key}", f"must lie between {LOWEST_M:g} m and {HIGHEST_M:g} m"
            )
    given = {"lower": data["lower"], "upper": data["upper"], "units": units, "reference": reference}
    return AltitudeBand(lower_m=lower, upper_m=upper, reference=reference, given=given)
