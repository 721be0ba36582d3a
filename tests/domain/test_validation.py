"""Validation of volumes: every rule names the offending field path and says why."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deconfliction.domain.altitude import FOOT_M
from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import parse_volumes
from deconfliction.errors import FieldError, InvalidInput

from ._support import NOW, circle, corridor, polygon, volume_json

NAN = float("nan")
INF = float("inf")
SQUARE = [(10.0, 20.0), (10.1, 20.0), (10.1, 20.1), (10.0, 20.1), (10.0, 20.0)]


def _ring(n: int, lon: float = 10.0, lat: float = 20.0, r: float = 0.1) -> list[list[float]]:
    """A closed ring of n distinct vertices (n + 1 positions) on a small lon/lat circle."""
    points = [
        [lon + r * math.cos(2 * math.pi * i / n), lat + r * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    return [*points, points[0]]


def _vol(**changes: Any) -> dict[str, Any]:
    """A valid volume JSON with some top-level members replaced (None removes one)."""
    data = volume_json(circle(10.0, 20.0, 1_000.0))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


def _alt(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"lower": 0, "upper": 1000, "units": "m", "reference": "AMSL"}
    data.update(changes)
    return data


def _errors(items: list[Any], rules: Rules | None = None) -> list[FieldError]:
    with pytest.raises(InvalidInput) as caught:
        parse_volumes(items, rules=rules or Rules(), now=NOW)
    assert caught.value.code == "invalid-input"
    assert caught.value.errors, "InvalidInput must name at least one field"
    return caught.value.errors


# (id, volume JSON, expected field path, phrases that must all appear in the reason)
INVALID: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    # Coordinates: finite numbers, in range, exactly [lon, lat].
    ("circle-lon-nan", _vol(area=circle(NAN, 20, 1000)), "volumes[0].area.center[0]", ("finite",)),
    ("circle-lat-inf", _vol(area=circle(10, INF, 1000)), "volumes[0].area.center[1]", ("finite",)),
    (
        "circle-lat-minus-inf",
        _vol(area=circle(10, -INF, 1000)),
        "volumes[0].area.center[1]",
        ("finite",),
    ),
    (
        "polygon-vertex-nan",
        _vol(area=polygon([(0, 0), (1, 0), (1, NAN), (0, 1)])),
        "volumes[0].area.coordinates[0][2][1]",
        ("finite",),
    ),
    (
        "polygon-vertex-inf",
        _vol(area=polygon([(0, 0), (INF, 0), (1, 1), (0, 1)])),
        "volumes[0].area.coordinates[0][1][0]",
        ("finite",),
    ),
    (
        "corridor-vertex-nan",
        _vol(area=corridor([(0, 0), (NAN, 0.1)], 100)),
        "volumes[0].area.line.coordinates[1][0]",
        ("finite",),
    ),
    (
        "circle-lon-181",
        _vol(area=circle(181, 20, 1000)),
        "volumes[0].area.center[0]",
        ("181", "-180..180"),
    ),
    (
        "circle-lon-minus-181",
        _vol(area=circle(-181, 20, 1000)),
        "volumes[0].area.center[0]",
        ("-180..180",),
    ),
    (
        "circle-lat-minus-91",
        _vol(area=circle(10, -91, 1000)),
        "volumes[0].area.center[1]",
        ("-91", "-90..90"),
    ),
    (
        "polygon-lon-181",
        _vol(area=polygon([(180, 0), (181, 0), (181, 1), (180, 1)])),
        "volumes[0].area.coordinates[0][1][0]",
        ("-180..180",),
    ),
    (
        "polygon-lat-minus-91",
        _vol(area=polygon([(0, -89), (1, -91), (1, -89), (0, -89)])),
        "volumes[0].area.coordinates[0][1][1]",
        ("-90..90",),
    ),
    (
        "corridor-lat-91",
        _vol(area=corridor([(0, 89), (0, 91)], 100)),
        "volumes[0].area.line.coordinates[1][1]",
        ("-90..90",),
    ),
    (
        "coordinate-string",
        _vol(area=circle("10", 20, 1000)),  # type: ignore[arg-type]
        "volumes[0].area.center[0]",
        ("number",),
    ),
    (
        "coordinate-bool",
        _vol(area={"type": "Circle", "center": [True, 20], "radius": 1000}),
        "volumes[0].area.center[0]",
        ("number",),
    ),
    (
        "circle-3-number-position",
        _vol(area={"type": "Circle", "center": [10, 20, 300], "radius": 1000}),
        "volumes[0].area.center",
        ("[longitude, latitude]", "altitude"),
    ),
    (
        "polygon-3-number-position",
        _vol(area={"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0], [1, 1], [0, 0, 5]]]}),
        "volumes[0].area.coordinates[0][0]",
        ("[longitude, latitude]", "altitude"),
    ),
    (
        "corridor-3-number-position",
        _vol(area=corridor([(0, 0), (0, 0.1, 50)], 100)),  # type: ignore[list-item]
        "volumes[0].area.line.coordinates[1]",
        ("[longitude, latitude]", "altitude"),
    ),
    (
        "circle-1-number-position",
        _vol(area={"type": "Circle", "center": [10], "radius": 1000}),
        "volumes[0].area.center",
        ("[longitude, latitude]",),
    ),
    # Polygons: closed, enough positions, valid, ≤ 1000 vertices.
    (
        "unclosed-ring",
        _vol(area={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
        "volumes[0].area.coordinates[0]",
        ("not closed",),
    ),
    (
        "too-few-positions",
        _vol(area={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
        "volumes[0].area.coordinates[0]",
        ("at least 4",),
    ),
    (
        "no-rings",
        _vol(area={"type": "Polygon", "coordinates": []}),
        "volumes[0].area.coordinates",
        ("non-empty",),
    ),
    (
        "bow-tie-self-intersection",
        _vol(area=polygon([(0, 0), (1, 1), (1, 0), (0, 1)])),
        "volumes[0].area.coordinates",
        ("self-intersection", "longitude 0.5", "latitude 0.5"),
    ),
    (
        "bow-tie-elsewhere",
        _vol(area=polygon([(30, 10), (32, 12), (32, 10), (30, 12)])),
        "volumes[0].area.coordinates",
        ("self-intersection", "longitude 31", "latitude 11"),
    ),
    (
        "collinear-ring-has-no-area",
        _vol(area=polygon([(0, 0), (1, 0), (2, 0)])),
        "volumes[0].area.coordinates",
        ("not valid",),
    ),
    (
        "1001-vertices",
        _vol(area={"type": "Polygon", "coordinates": [_ring(1001)]}),
        "volumes[0].area.coordinates[0]",
        ("has 1001 vertices", "at most 1000"),
    ),
    (
        "1001-vertices-over-outer-and-hole",
        _vol(
            area={
                "type": "Polygon",
                "coordinates": [[[9, 19], [11, 19], [11, 21], [9, 21], [9, 19]], _ring(998)],
            }
        ),
        "volumes[0].area.coordinates",
        ("more than 1000 vertices",),
    ),
    # The antimeridian: an edge may not jump across it.
    (
        "polygon-edge-crosses-antimeridian",
        _vol(area=polygon([(179.5, 0), (-179.5, 0), (-179.5, 1), (179.5, 1)])),
        "volumes[0].area.coordinates[0][1]",
        ("antimeridian", "179.5", "-179.5", "split"),
    ),
    (
        "polygon-later-edge-crosses-antimeridian",
        _vol(area=polygon([(-179.5, 0), (-179.0, 0), (-179.0, 1), (179.8, 1)])),
        "volumes[0].area.coordinates[0][3]",
        ("antimeridian", "-179.0", "179.8"),
    ),
    (
        "corridor-crosses-antimeridian",
        _vol(area=corridor([(179.9, 0), (-179.9, 0.1)], 100)),
        "volumes[0].area.line.coordinates[1]",
        ("antimeridian",),
    ),
    # Poles.
    ("circle-around-north-pole", _vol(area=circle(0, 89.9, 20_000)), "volumes[0].area", ("pole",)),
    (
        "circle-centred-on-north-pole",
        _vol(area=circle(45, 90, 1_000)),
        "volumes[0].area",
        ("pole",),
    ),
    (
        "circle-around-south-pole",
        _vol(area=circle(120, -89.5, 60_000)),
        "volumes[0].area",
        ("pole",),
    ),
    (
        "corridor-over-south-pole",
        _vol(area=corridor([(0, -89.9), (0, -89.95)], 20_000)),
        "volumes[0].area",
        ("pole",),
    ),
    # Size: the mechanism's maximum area and the 500 km reach.
    (
        "circle-larger-than-max-area",
        _vol(area=circle(10, 20, 200_000)),
        "volumes[0].area",
        ("mechanism's maximum", "50,000"),
    ),
    (
        "polygon-larger-than-max-area",
        _vol(area=polygon([(0, 0), (3, 0), (3, 3), (0, 3)])),
        "volumes[0].area",
        ("mechanism's maximum",),
    ),
    (
        "corridor-reaches-too-far",
        _vol(area=corridor([(0, 0), (10, 0)], 1_000)),
        "volumes[0].area",
        ("500 km",),
    ),
    # Radius and half-width: > 0, finite and bounded.
    ("radius-zero", _vol(area=circle(10, 20, 0)), "volumes[0].area.radius", ("> 0",)),
    ("radius-negative", _vol(area=circle(10, 20, -5)), "volumes[0].area.radius", ("> 0",)),
    ("radius-huge", _vol(area=circle(10, 20, 500_001)), "volumes[0].area.radius", ("500,000",)),
    ("radius-absurd", _vol(area=circle(10, 20, 1e12)), "volumes[0].area.radius", ("500,000",)),
    ("radius-nan", _vol(area=circle(10, 20, NAN)), "volumes[0].area.radius", ("finite",)),
    ("radius-inf", _vol(area=circle(10, 20, INF)), "volumes[0].area.radius", ("finite",)),
    (
        "radius-missing",
        _vol(area={"type": "Circle", "center": [10, 20]}),
        "volumes[0].area.radius",
        ("number",),
    ),
    (
        "half-width-zero",
        _vol(area=corridor([(0, 0), (0, 0.1)], 0)),
        "volumes[0].area.half_width",
        ("> 0",),
    ),
    (
        "half-width-negative",
        _vol(area=corridor([(0, 0), (0, 0.1)], -1)),
        "volumes[0].area.half_width",
        ("> 0",),
    ),
    (
        "half-width-huge",
        _vol(area=corridor([(0, 0), (0, 0.1)], 100_001)),
        "volumes[0].area.half_width",
        ("100,000",),
    ),
    (
        "corridor-one-distinct-position",
        _vol(area=corridor([(0, 0), (0, 0)], 100)),
        "volumes[0].area.line.coordinates",
        ("two distinct",),
    ),
    (
        "corridor-line-not-linestring",
        _vol(
            area={
                "type": "Corridor",
                "line": {"type": "Point", "coordinates": [0, 0]},
                "half_width": 100,
            }
        ),
        "volumes[0].area.line",
        ("LineString",),
    ),
    # Area types and unknown members.
    (
        "unknown-area-type",
        _vol(area={"type": "MultiPolygon", "coordinates": []}),
        "volumes[0].area.type",
        ("Polygon", "Circle", "Corridor"),
    ),
    ("area-not-object", _vol(area=[10, 20]), "volumes[0].area", ("object",)),
    ("unknown-volume-field", _vol(colour="red"), "volumes[0].colour", ("unknown field",)),
    (
        "unknown-polygon-field",
        _vol(area={**polygon(SQUARE), "bbox": [10, 20, 10.1, 20.1]}),
        "volumes[0].area.bbox",
        ("unknown field",),
    ),
    (
        "unknown-circle-field",
        _vol(area={**circle(10, 20, 100), "units": "km"}),
        "volumes[0].area.units",
        ("unknown field",),
    ),
    (
        "unknown-corridor-field",
        _vol(area={**corridor([(0, 0), (0, 0.1)], 100), "width": 3}),
        "volumes[0].area.width",
        ("unknown field",),
    ),
    (
        "unknown-line-field",
        _vol(
            area={
                "type": "Corridor",
                "half_width": 100,
                "line": {"type": "LineString", "coordinates": [[0, 0], [0, 0.1]], "crs": 1},
            }
        ),
        "volumes[0].area.line.crs",
        ("unknown field",),
    ),
    (
        "unknown-altitude-field",
        _vol(altitude=_alt(datum="EGM96")),
        "volumes[0].altitude.datum",
        ("unknown field",),
    ),
    ("missing-end", _vol(end=None), "volumes[0].end", ("required",)),
    ("missing-area", _vol(area=None), "volumes[0].area", ("required",)),
    # Altitude.
    (
        "altitude-agl",
        _vol(altitude=_alt(reference="AGL")),
        "volumes[0].altitude.reference",
        ("AGL", "terrain data"),
    ),
    (
        "altitude-unknown-reference",
        _vol(altitude=_alt(reference="MSL")),
        "volumes[0].altitude.reference",
        ("AMSL", "W84"),
    ),
    (
        "altitude-unknown-units",
        _vol(altitude=_alt(units="km")),
        "volumes[0].altitude.units",
        ("m", "ft", "FL"),
    ),
    (
        "altitude-upper-equals-lower",
        _vol(altitude=_alt(lower=500, upper=500)),
        "volumes[0].altitude.upper",
        ("greater than lower",),
    ),
    (
        "altitude-upper-below-lower",
        _vol(altitude=_alt(lower=500, upper=400)),
        "volumes[0].altitude.upper",
        ("greater than lower",),
    ),
    ("altitude-nan", _vol(altitude=_alt(lower=NAN)), "volumes[0].altitude.lower", ("finite",)),
    (
        "altitude-not-number",
        _vol(altitude=_alt(upper="high")),
        "volumes[0].altitude.upper",
        ("number",),
    ),
    (
        "altitude-too-high",
        _vol(altitude=_alt(upper=200_000)),
        "volumes[0].altitude.upper",
        ("between",),
    ),
    (
        "altitude-too-low-in-ft",
        _vol(altitude=_alt(lower=-4_000, units="ft")),
        "volumes[0].altitude.lower",
        ("between",),
    ),
    ("altitude-not-object", _vol(altitude=1000), "volumes[0].altitude", ("object",)),
    # Time window.
    ("start-without-offset", _vol(start="2026-11-26T10:00:00"), "volumes[0].start", ("offset",)),
    ("end-without-offset", _vol(end="2026-11-26T11:00:00"), "volumes[0].end", ("offset",)),
    ("start-without-seconds", _vol(start="2026-11-26T10:00Z"), "volumes[0].start", ("RFC 3339",)),
    ("start-date-only", _vol(start="2026-11-26"), "volumes[0].start", ("RFC 3339",)),
    (
        "start-not-a-real-date",
        _vol(start="2026-02-30T10:00:00Z"),
        "volumes[0].start",
        ("not a real date",),
    ),
    (
        "start-nanoseconds",
        _vol(start="2026-11-26T10:00:00.123456789Z"),
        "volumes[0].start",
        ("fractional digits",),
    ),
    ("start-date-only", _vol(start="2026-11-26"), "volumes[0].start", ("RFC 3339",)),
    ("start-not-a-date", _vol(start="tomorrow morning"), "volumes[0].start", ("RFC 3339",)),
    ("start-not-a-string", _vol(start=1_790_000_000), "volumes[0].start", ("RFC 3339",)),
    ("end-before-start", _vol(end="2026-11-26T09:00:00Z"), "volumes[0].end", ("later than start",)),
    ("end-equals-start", _vol(end="2026-11-26T10:00:00Z"), "volumes[0].end", ("later than start",)),
    (
        "end-before-start-across-offsets",
        _vol(start="2026-11-26T10:00:00Z", end="2026-11-26T11:30:00+02:00"),
        "volumes[0].end",
        ("later than start",),
    ),
    (
        "window-in-the-past",
        _vol(start="2026-10-01T10:00:00Z", end="2026-10-01T11:00:00Z"),
        "volumes[0].end",
        ("in the past",),
    ),
    (
        "window-ending-exactly-now",
        _vol(start="2026-10-31T23:00:00Z", end="2026-11-01T00:00:00Z"),
        "volumes[0].end",
        ("in the past",),
    ),
    (
        "window-too-long",
        _vol(end="2026-12-26T10:00:01Z"),
        "volumes[0].end",
        ("longer than", "720 h"),
    ),
    (
        "start-too-far-ahead",
        _vol(start="2028-01-01T10:00:00Z", end="2028-01-01T11:00:00Z"),
        "volumes[0].start",
        ("days ahead",),
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "phrases"),
    [pytest.param(data, field, phrases, id=name) for name, data, field, phrases in INVALID],
)
def test_invalid_volume_names_field_and_reason(
    data: dict[str, Any], field: str, phrases: tuple[str, ...]
) -> None:
    errors = _errors([data])
    fields = [e.field for e in errors]
    assert field in fields, f"expected an error on {field}, got {errors}"
    reason = next(e.reason for e in errors if e.field == field)
    for phrase in phrases:
        assert phrase in reason, f"{phrase!r} not in {reason!r}"


def test_errors_are_field_errors_and_summarised_in_the_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_volumes([_vol(area=circle(181, 20, 1000))], rules=Rules(), now=NOW)
    error = caught.value
    assert all(isinstance(e, FieldError) for e in error.errors)
    assert "volumes[0].area.center[0]" in str(error)


def test_errors_of_area_altitude_and_time_reported_together() -> None:
    data = _vol(
        area=circle(10, 20, -1), altitude=_alt(reference="AGL"), start="2026-11-26T10:00:00"
    )
    fields = {e.field for e in _errors([data])}
    assert {"volumes[0].area.radius", "volumes[0].altitude.reference", "volumes[0].start"} <= fields


def test_errors_of_every_volume_reported_with_its_index() -> None:
    good = _vol()
    bad_area, bad_units = _vol(area=circle(10, -91, 1000)), _vol(altitude=_alt(units="yd"))
    errors = _errors([good, bad_area, good, bad_units])
    assert [e.field for e in errors] == ["volumes[1].area.center[1]", "volumes[3].altitude.units"]


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        pytest.param(None, "non-empty", id="missing"),
        pytest.param([], "non-empty", id="empty"),
        pytest.param({"area": {}}, "non-empty", id="object-not-array"),
        pytest.param([_vol()] * 101, "at most 100", id="101-volumes"),
    ],
)
def test_volumes_array_itself(data: Any, phrase: str) -> None:
    errors = _errors(data)
    assert errors[0].field == "volumes"
    assert phrase in errors[0].reason


def test_area_maximum_is_the_mechanisms() -> None:
    small = Rules(max_area_km2=100.0)
    # ~314 km²: fine by default, too large for this mechanism.
    data = _vol(area=circle(10, 20, 10_000))
    parse_volumes([data], rules=Rules(), now=NOW)
    errors = _errors([data], small)
    assert errors[0].field == "volumes[0].area"
    assert "maximum of 100.0 km²" in errors[0].reason


def test_duration_maximum_is_the_mechanisms() -> None:
    rules = Rules(max_volume_duration_h=2.0)
    parse_volumes([_vol(end="2026-11-26T12:00:00Z")], rules=rules, now=NOW)
    errors = _errors([_vol(end="2026-11-26T12:00:01Z")], rules)
    assert errors[0].field == "volumes[0].end"
    assert "2 h" in errors[0].reason


# Accepted at the edge of each rule.
VALID: list[tuple[str, dict[str, Any], Rules]] = [
    (
        "polygon-1000-vertices",
        _vol(area={"type": "Polygon", "coordinates": [_ring(1000)]}),
        Rules(),
    ),
    ("circle-near-but-not-around-pole", _vol(area=circle(0, 89.9, 5_000)), Rules()),
    ("circle-at-lon-180", _vol(area=circle(180, 0, 1_000)), Rules()),
    ("circle-at-lon-minus-180", _vol(area=circle(-180, 0, 1_000)), Rules()),
    ("circle-straddling-antimeridian", _vol(area=circle(179.999, -30, 5_000)), Rules()),
    (
        "polygon-edge-on-antimeridian",
        _vol(area=polygon([(179, 0), (180, 0), (180, 1), (179, 1)])),
        Rules(),
    ),
    (
        "polygon-west-of-antimeridian",
        _vol(area=polygon([(-180, 0), (-179, 0), (-179, 1), (-180, 1)])),
        Rules(),
    ),
    ("radius-at-maximum", _vol(area=circle(10, 20, 500_000)), Rules(max_area_km2=1_000_000)),
    ("half-width-at-maximum", _vol(area=corridor([(0, 0), (0, 0.1)], 100_000)), Rules()),
    ("window-exactly-max-duration", _vol(end="2026-12-26T10:00:00Z"), Rules()),
    (
        "window-already-started",
        _vol(start="2026-10-31T10:00:00Z", end="2026-11-01T00:00:01Z"),
        Rules(),
    ),
    (
        "altitude-in-ft-w84",
        _vol(altitude=_alt(lower=0, upper=5000, units="ft", reference="W84")),
        Rules(),
    ),
    ("altitude-in-flight-levels", _vol(altitude=_alt(lower=100, upper=200, units="FL")), Rules()),
    ("altitude-below-sea-level", _vol(altitude=_alt(lower=-400, upper=-10)), Rules()),
]


@pytest.mark.parametrize(("data", "rules"), [pytest.param(d, r, id=name) for name, d, r in VALID])
def test_valid_volume_at_the_edge_of_a_rule(data: dict[str, Any], rules: Rules) -> None:
    (vol,) = parse_volumes([data], rules=rules, now=NOW)
    assert vol.area.area_m2 > 0.0
    assert vol.window.start < vol.window.end
    assert vol.altitude.lower_m < vol.altitude.upper_m


def test_times_are_stored_in_utc() -> None:
    (vol,) = parse_volumes(
        [_vol(start="2026-11-26T12:00:00+02:00", end="2026-11-26T06:30:00-05:00")],
        rules=Rules(),
        now=NOW,
    )
    assert vol.window.start == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert vol.window.end == datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    assert vol.window.start.utcoffset() == timedelta(0)
    assert vol.window.end.utcoffset() == timedelta(0)
    assert vol.to_json()["start"] == "2026-11-26T10:00:00Z"
    assert vol.to_json()["end"] == "2026-11-26T11:30:00Z"


@pytest.mark.parametrize(
    ("altitude", "lower_m", "upper_m"),
    [
        pytest.param(_alt(lower=100, upper=200), 100.0, 200.0, id="metres"),
        pytest.param(
            _alt(lower=1000, upper=2000, units="ft"), 1000 * FOOT_M, 2000 * FOOT_M, id="feet"
        ),
        pytest.param(
            _alt(lower=100, upper=245, units="FL"), 3048.0, 245 * 100 * FOOT_M, id="flight-levels"
        ),
    ],
)
def test_altitude_converted_to_metres_and_given_kept(
    altitude: dict[str, Any], lower_m: float, upper_m: float
) -> None:
    (vol,) = parse_volumes([_vol(altitude=altitude)], rules=Rules(), now=NOW)
    assert vol.altitude.lower_m == pytest.approx(lower_m)
    assert vol.altitude.upper_m == pytest.approx(upper_m)
    assert vol.altitude.reference == altitude["reference"]
    assert vol.to_json()["altitude"] == altitude


def test_valid_geojson_round_trips() -> None:
    data = [
        _vol(area=polygon(SQUARE)),
        _vol(area=circle(10, 20, 1_500)),
        _vol(area=corridor([(10, 20), (10.2, 20.1), (10.3, 20.3)], 250)),
    ]
    volumes = parse_volumes(data, rules=Rules(), now=NOW)
    assert [v.to_json()["area"] for v in volumes] == [d["area"] for d in data]
    assert volumes[1].area.area_m2 == pytest.approx(math.pi * 1_500**2)
