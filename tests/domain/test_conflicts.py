"""The exact conflict test: boundaries in time, altitude and space, and what each side sees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape as geojson_shape

from deconfliction.domain.altitude import FOOT_M, GEOID_MARGIN_M
from deconfliction.domain.conflicts import Finding, Placed, find_conflicts
from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import Volume

from ._support import (
    circle,
    corridor,
    corridor_ending,
    diamond,
    fwd,
    geodesic_m,
    placed,
    polygon,
    volume,
)

TOLERANCE = 0.005
HERE = circle(30.0, 10.0, 2_000.0)


def _conflicts(a: Volume, b: Volume, rules: Rules) -> list[Finding]:
    return find_conflicts([placed("ntf-a", "A", a)], [placed("ntf-b", "B", b)], rules)


def _measured_gap(a: Volume, b: Volume) -> float:
    """The horizontal gap find_conflicts measures, whatever the separation."""
    (finding,) = _conflicts(a, b, Rules(horizontal_separation_m=1e7, max_area_km2=1e6))
    return finding.overlaps[0].horizontal_gap_m


# --- time -------------------------------------------------------------------------------------

TIME_CASES = [
    # (id, window a, window b, buffer minutes, conflict?)
    ("gap-equals-buffer", ("10:00:00", "11:00:00"), ("11:15:00", "12:00:00"), 15, False),
    ("gap-one-second-under-buffer", ("10:00:00", "11:00:00"), ("11:14:59", "12:00:00"), 15, True),
    ("gap-equals-buffer-b-first", ("10:00:00", "11:00:00"), ("08:00:00", "09:45:00"), 15, False),
    ("gap-under-buffer-b-first", ("10:00:00", "11:00:00"), ("08:00:00", "09:45:01"), 15, True),
    ("adjacent-buffer-zero", ("10:00:00", "11:00:00"), ("11:00:00", "12:00:00"), 0, False),
    ("adjacent-buffer-zero-b-first", ("10:00:00", "11:00:00"), ("09:00:00", "10:00:00"), 0, False),
    ("overlap-one-second-buffer-zero", ("10:00:00", "11:00:00"), ("10:59:59", "12:00:00"), 0, True),
    ("contained-buffer-zero", ("10:00:00", "11:00:00"), ("10:20:00", "10:40:00"), 0, True),
    ("far-apart", ("10:00:00", "11:00:00"), ("13:00:00", "14:00:00"), 15, False),
]


@pytest.mark.parametrize(
    ("window_a", "window_b", "buffer", "expected"),
    [pytest.param(a, b, buf, exp, id=name) for name, a, b, buf, exp in TIME_CASES],
)
def test_time_boundary(
    window_a: tuple[str, str], window_b: tuple[str, str], buffer: float, expected: bool
) -> None:
    def window(w: tuple[str, str]) -> dict[str, str]:
        return {"start": f"2026-11-26T{w[0]}Z", "end": f"2026-11-26T{w[1]}Z"}

    rules = Rules(time_buffer_min=buffer)
    a = volume(HERE, **window(window_a))
    b = volume(HERE, **window(window_b))
    assert bool(_conflicts(a, b, rules)) is expected
    assert bool(_conflicts(b, a, rules)) is expected


# --- altitude ---------------------------------------------------------------------------------


def _ft(metres: float) -> float:
    return metres / FOOT_M


ALTITUDE_CASES = [
    # (id, band a, band b, vertical separation, conflict?); a band is (lower, upper, units, ref)
    ("gap-equals-separation", (0, 1000, "m", "AMSL"), (1300, 2000, "m", "AMSL"), 300, False),
    ("gap-1cm-under-separation", (0, 1000, "m", "AMSL"), (1299.99, 2000, "m", "AMSL"), 300, True),
    ("gap-equals-separation-b-below", (1000, 2000, "m", "W84"), (0, 700, "m", "W84"), 300, False),
    ("gap-1cm-under-b-below", (1000, 2000, "m", "W84"), (0, 700.01, "m", "W84"), 300, True),
    ("touching-separation-zero", (0, 1000, "m", "AMSL"), (1000, 2000, "m", "AMSL"), 0, False),
    ("overlap-1cm-separation-zero", (0, 1000, "m", "AMSL"), (999.99, 2000, "m", "AMSL"), 0, True),
    (
        "feet-gap-1cm-over",
        (0, 1000, "ft", "AMSL"),
        (_ft(304.8 + 300.01), 9000, "ft", "AMSL"),
        300,
        False,
    ),
    (
        "feet-gap-1cm-under",
        (0, 1000, "ft", "AMSL"),
        (_ft(304.8 + 299.99), 9000, "ft", "AMSL"),
        300,
        True,
    ),
    # FL100–FL200 is 3048–6096 m; FL210 starts at 6400.8 m: a gap of 304.8 m.
    (
        "flight-levels-1000ft-apart-sep-304.79",
        (100, 200, "FL", "AMSL"),
        (210, 300, "FL", "AMSL"),
        304.79,
        False,
    ),
    (
        "flight-levels-1000ft-apart-sep-304.81",
        (100, 200, "FL", "AMSL"),
        (210, 300, "FL", "AMSL"),
        304.81,
        True,
    ),
    (
        "flight-level-vs-metres-1cm-over",
        (100, 200, "FL", "AMSL"),
        (6096 + 300.01, 8000, "m", "AMSL"),
        300,
        False,
    ),
    (
        "flight-level-vs-metres-1cm-under",
        (100, 200, "FL", "AMSL"),
        (6096 + 299.99, 8000, "m", "AMSL"),
        300,
        True,
    ),
    # Across references the gap must exceed separation + the 110 m geoid margin.
    (
        "amsl-w84-gap-equals-sep-plus-margin",
        (0, 1000, "m", "AMSL"),
        (1410, 2000, "m", "W84"),
        300,
        False,
    ),
    ("amsl-w84-gap-1cm-under", (0, 1000, "m", "AMSL"), (1409.99, 2000, "m", "W84"), 300, True),
    ("amsl-w84-gap-equals-sep-only", (0, 1000, "m", "AMSL"), (1300, 2000, "m", "W84"), 300, True),
    ("w84-amsl-b-below", (1000, 2000, "m", "W84"), (0, 590, "m", "AMSL"), 300, False),
    ("w84-amsl-b-below-1cm-under", (1000, 2000, "m", "W84"), (0, 590.01, "m", "AMSL"), 300, True),
    ("amsl-w84-sep-zero-margin-only", (0, 1000, "m", "AMSL"), (1109.99, 2000, "m", "W84"), 0, True),
    ("amsl-w84-sep-zero-margin-exact", (0, 1000, "m", "AMSL"), (1110, 2000, "m", "W84"), 0, False),
]


@pytest.mark.parametrize(
    ("band_a", "band_b", "separation", "expected"),
    [pytest.param(a, b, s, exp, id=name) for name, a, b, s, exp in ALTITUDE_CASES],
)
def test_altitude_boundary(
    band_a: tuple[float, float, str, str],
    band_b: tuple[float, float, str, str],
    separation: float,
    expected: bool,
) -> None:
    def band(b: tuple[float, float, str, str]) -> dict[str, Any]:
        return {"lower": b[0], "upper": b[1], "units": b[2], "reference": b[3]}

    rules = Rules(vertical_separation_m=separation)
    a = volume(HERE, **band(band_a))
    b = volume(HERE, **band(band_b))
    assert bool(_conflicts(a, b, rules)) is expected
    assert bool(_conflicts(b, a, rules)) is expected


def test_geoid_margin_value() -> None:
    # The geoid is within ±107 m of the ellipsoid; the margin must cover that.
    assert GEOID_MARGIN_M >= 107.0


# --- horizontal -------------------------------------------------------------------------------

Builder = Callable[[float, float, float, float], tuple[dict[str, Any], dict[str, Any]]]

R1, R2 = 2_000.0, 1_500.0
SIDE = 3_000.0
LENGTH, HALF_WIDTH = 5_000.0, 500.0


def circle_circle(lon: float, lat: float, az: float, gap: float) -> tuple[dict, dict]:
    lon2, lat2, _ = fwd(lon, lat, az, R1 + gap + R2)
    return circle(lon, lat, R1), circle(lon2, lat2, R2)


def circle_polygon(lon: float, lat: float, az: float, gap: float) -> tuple[dict, dict]:
    lon2, lat2, back = fwd(lon, lat, az, R1 + gap)
    return circle(lon, lat, R1), diamond(lon2, lat2, back, SIDE)


def polygon_polygon(lon: float, lat: float, az: float, gap: float) -> tuple[dict, dict]:
    lon2, lat2, back = fwd(lon, lat, az, gap)
    return diamond(lon, lat, az, SIDE), diamond(lon2, lat2, back, SIDE)


def corridor_circle(lon: float, lat: float, az: float, gap: float) -> tuple[dict, dict]:
    lon2, lat2, _ = fwd(lon, lat, az, HALF_WIDTH + gap + R2)
    return corridor_ending(lon, lat, az, LENGTH, HALF_WIDTH), circle(lon2, lat2, R2)


def corridor_polygon(lon: float, lat: float, az: float, gap: float) -> tuple[dict, dict]:
    lon2, lat2, back = fwd(lon, lat, az, HALF_WIDTH + gap)
    return corridor_ending(lon, lat, az, LENGTH, HALF_WIDTH), diamond(lon2, lat2, back, SIDE)


PAIRS: dict[str, Builder] = {
    "circle-circle": circle_circle,
    "circle-polygon": circle_polygon,
    "polygon-polygon": polygon_polygon,
    "corridor-circle": corridor_circle,
    "corridor-polygon": corridor_polygon,
}

# (id, lon, lat, azimuth from the first shape to the second)
PLACES = [
    ("equator", 0.0, 0.0, 60.0),
    ("45N", 10.0, 45.0, 120.0),
    ("60S", -70.0, -60.0, 300.0),
    ("85N", 120.0, 85.0, 20.0),
    ("antimeridian-eastward", 179.999, 0.0, 90.0),
    ("antimeridian-westward-60S", -179.999, -60.0, 270.0),
]

SEPARATIONS = [1_000.0, 10_000.0]


def _boundary_cases() -> list[Any]:
    cases = []
    for pair, build in PAIRS.items():
        for place, lon, lat, az in PLACES:
            for sep in SEPARATIONS:
                for factor, expected in ((1 - TOLERANCE, True), (1 + TOLERANCE, False)):
                    cases.append(
                        pytest.param(
                            build,
                            lon,
                            lat,
                            az,
                            sep,
                            factor,
                            expected,
                            id=f"{pair}-{place}-sep{sep:g}-gap{factor:g}",
                        )
                    )
    return cases


@pytest.mark.parametrize(
    ("build", "lon", "lat", "az", "separation", "factor", "expected"), _boundary_cases()
)
def test_horizontal_boundary(
    build: Builder,
    lon: float,
    lat: float,
    az: float,
    separation: float,
    factor: float,
    expected: bool,
) -> None:
    gap = separation * factor
    area_a, area_b = build(lon, lat, az, gap)
    rules = Rules(horizontal_separation_m=separation)
    a, b = volume(area_a), volume(area_b)
    found = _conflicts(a, b, rules)
    assert bool(found) is expected
    assert bool(_conflicts(b, a, rules)) is expected
    if found:
        (overlap,) = found[0].overlaps
        assert overlap.horizontal_gap_m == pytest.approx(gap, rel=TOLERANCE)


def test_horizontal_boundary_exact_gap_reported() -> None:
    # With a separation far larger than the gap the reported gap is the true geodesic one.
    for pair, build in PAIRS.items():
        for _, lon, lat, az in PLACES:
            area_a, area_b = build(lon, lat, az, 1_234.0)
            found = _conflicts(volume(area_a), volume(area_b), Rules(horizontal_separation_m=5e4))
            assert found, pair
            assert found[0].overlaps[0].horizontal_gap_m == pytest.approx(1_234.0, rel=1e-3), (
                pair,
                lon,
                lat,
            )


@pytest.mark.parametrize(
    ("lon_a", "lon_b", "lat"),
    [
        pytest.param(179.99, -179.99, 0.0, id="equator"),
        pytest.param(-179.99, 179.99, 0.0, id="equator-reversed"),
        pytest.param(179.99, -179.99, 45.0, id="45N"),
        pytest.param(180.0, -179.98, -60.0, id="60S-from-180"),
    ],
)
@pytest.mark.parametrize("factor", [1 - TOLERANCE, 1 + TOLERANCE])
def test_circles_straddling_antimeridian(
    lon_a: float, lon_b: float, lat: float, factor: float
) -> None:
    radius = 300.0
    gap = geodesic_m(lon_a, lat, lon_b, lat) - 2 * radius
    assert 0 < gap < 2_500  # a short hop across ±180, not around the world
    rules = Rules(horizontal_separation_m=gap / factor)
    a, b = volume(circle(lon_a, lat, radius)), volume(circle(lon_b, lat, radius))
    assert bool(_conflicts(a, b, rules)) is (factor < 1)


def test_corridor_beside_circle_on_the_equator() -> None:
    # The equator is both straight in lon/lat and a geodesic; the meridian through (0, 0) meets
    # it at a right angle, so the circle's nearest corridor point is (0, 0).
    line = corridor([(-0.1, 0.0), (0.1, 0.0)], 400.0)
    for factor, expected in ((1 - TOLERANCE, True), (1 + TOLERANCE, False)):
        lon, lat, _ = fwd(0.0, 0.0, 0.0, 400.0 + 1_000.0 * factor + 700.0)
        found = _conflicts(
            volume(line), volume(circle(lon, lat, 700.0)), Rules(horizontal_separation_m=1_000.0)
        )
        assert bool(found) is expected


@pytest.mark.parametrize(
    ("area_a", "area_b", "separation", "expected"),
    [
        pytest.param(
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            polygon([(1, 0), (2, 0), (2, 1), (1, 1)]),
            0.0,
            False,
            id="polygons-sharing-an-edge-sep-0",
        ),
        pytest.param(
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            polygon([(1, 1), (2, 1), (2, 2), (1, 2)]),
            0.0,
            False,
            id="polygons-sharing-a-corner-sep-0",
        ),
        pytest.param(
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            polygon([(0.999, 0), (2, 0), (2, 1), (0.999, 1)]),
            0.0,
            True,
            id="polygons-overlapping-sep-0",
        ),
        pytest.param(
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            polygon([(0.2, 0.2), (0.4, 0.2), (0.4, 0.4), (0.2, 0.4)]),
            0.0,
            True,
            id="polygon-inside-polygon-sep-0",
        ),
        pytest.param(
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            polygon([(1, 0), (2, 0), (2, 1), (1, 1)]),
            1.0,
            True,
            id="polygons-sharing-an-edge-sep-1m",
        ),
        pytest.param(circle(0, 0, 1000), circle(0, 0, 10), 0.0, True, id="concentric-sep-0"),
        pytest.param(
            circle(0.5, 0.5, 10),
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            0.0,
            True,
            id="circle-inside-polygon-sep-0",
        ),
        pytest.param(
            corridor([(0.2, 0.5), (0.8, 0.5)], 10),
            polygon([(0, 0), (1, 0), (1, 1), (0, 1)]),
            0.0,
            True,
            id="corridor-inside-polygon-sep-0",
        ),
        pytest.param(
            corridor([(-1, 0.5), (2, 0.5)], 10),
            corridor([(0.5, -1), (0.5, 2)], 10),
            0.0,
            True,
            id="crossing-corridors-sep-0",
        ),
    ],
)
def test_overlap_always_conflicts_touching_does_not_at_zero(
    area_a: dict[str, Any], area_b: dict[str, Any], separation: float, expected: bool
) -> None:
    rules = Rules(
        horizontal_separation_m=separation,
        vertical_separation_m=0,
        time_buffer_min=0,
        max_area_km2=1e6,
    )
    a, b = volume(area_a, rules=rules), volume(area_b, rules=rules)
    found = _conflicts(a, b, rules)
    assert bool(found) is expected
    if found:
        assert found[0].overlaps[0].horizontal_gap_m == 0.0


@pytest.mark.parametrize("radius_m", [5_000.0, 50_000.0, 120_000.0])
@pytest.mark.parametrize("factor", [1 - TOLERANCE, 1 + TOLERANCE])
def test_horizontal_accuracy_large_circle_and_long_polygon(radius_m: float, factor: float) -> None:
    """A large circle (within the default 50,000 km² maximum) beside a long, thin polygon.

    The polygon's nearest point N lies due north of the circle's centre C; the polygon reaches
    8° west of N, so the midpoint of the two centres — where the projection is centred — is far
    off to the side of the segment C–N. The gap must still be right to 0.5 %.
    """
    separation = 1_000.0
    gap = separation * factor
    lon_n, lat_n, _ = fwd(0.0, 0.0, 0.0, radius_m + gap)
    strip = polygon([(-8.0, lat_n), (lon_n, lat_n), (lon_n, lat_n + 0.1), (-8.0, lat_n + 0.1)])
    a, b = volume(circle(0.0, 0.0, radius_m)), volume(strip)
    # N really is the polygon's nearest point: the true gap is `gap`.
    coords = shapely.get_coordinates(
        shapely.segmentize(shapely.Polygon(strip["coordinates"][0]), 0.001)
    )
    nearest = min(geodesic_m(0.0, 0.0, x, y) for x, y in coords) - radius_m
    assert nearest == pytest.approx(gap, abs=0.01)
    found = _conflicts(a, b, Rules(horizontal_separation_m=separation))
    assert bool(found) is (factor < 1), (
        f"true gap {gap:.1f} m, separation {separation:.0f} m, "
        f"measured gap {_measured_gap(a, b):.1f} m"
    )


@pytest.mark.parametrize("radius_m", [5_000.0, 120_000.0])
@pytest.mark.parametrize("factor", [1 - TOLERANCE, 1 + TOLERANCE])
def test_horizontal_accuracy_two_large_circles(radius_m: float, factor: float) -> None:
    separation = 500.0
    gap = separation * factor
    lon2, lat2, _ = fwd(20.0, 30.0, 45.0, 2 * radius_m + gap)
    a, b = volume(circle(20.0, 30.0, radius_m)), volume(circle(lon2, lat2, radius_m))
    found = _conflicts(a, b, Rules(horizontal_separation_m=separation))
    assert bool(found) is (factor < 1), (
        f"true gap {gap:.1f} m, separation {separation:.0f} m, "
        f"measured gap {_measured_gap(a, b):.1f} m"
    )


# --- parties, pairing, ordering ---------------------------------------------------------------


def test_same_party_never_conflicts() -> None:
    v = volume(HERE)
    own = [placed("ntf-1", "A", v), placed("ntf-1", "A", v, index=1)]
    others_of_same_party = [placed("ntf-2", "A", v), placed("ntf-3", "A", v)]
    assert find_conflicts(own, others_of_same_party, Rules()) == []
    assert find_conflicts(own, [*others_of_same_party, placed("ntf-4", "B", v)], Rules())


def test_one_finding_per_notification_pair_with_every_volume_pair() -> None:
    here, there = volume(HERE), volume(circle(31.0, 10.0, 2_000.0))
    new = [
        placed("ntf-z", "B", here, 0),
        placed("ntf-z", "B", there, 1),
        placed("ntf-z", "B", here, 2),
    ]
    others = [
        placed("ntf-a", "A", here, 0),
        placed("ntf-a", "A", there, 1),
        placed("ntf-m", "C", there, 0),
    ]
    found = find_conflicts(new, others, Rules())
    assert [(f.notification_a, f.party_a, f.notification_b, f.party_b) for f in found] == [
        ("ntf-a", "A", "ntf-z", "B"),
        ("ntf-m", "C", "ntf-z", "B"),
    ]
    assert [(o.a.volume_index, o.b.volume_index) for o in found[0].overlaps] == [
        (0, 0),
        (0, 2),
        (1, 1),
    ]
    assert [(o.a.volume_index, o.b.volume_index) for o in found[1].overlaps] == [(0, 1)]


def test_far_apart_volumes_do_not_conflict() -> None:
    found = _conflicts(volume(circle(0, 0, 1000)), volume(circle(0, 1, 1000)), Rules())
    assert found == []


# --- what each side sees ----------------------------------------------------------------------


def _lonlat_area(side_area: dict[str, Any] | None) -> Any:
    assert side_area is not None, "a conflicting side must have a non-empty area part"
    geometry = geojson_shape(side_area)
    assert not geometry.is_empty
    assert geometry.area > 0.0
    return geometry


def _check_side(side: Any, own: Placed, other: Placed, rules: Rules) -> None:
    buffer = timedelta(minutes=rules.time_buffer_min)
    assert side.volume_index == own.index
    assert side.reference == own.altitude.reference
    assert own.window.start <= side.start <= side.end <= own.window.end
    assert other.window.start - buffer <= side.start
    assert side.end <= other.window.end + buffer
    vertical = rules.vertical_separation_m + (
        GEOID_MARGIN_M if own.altitude.reference != other.altitude.reference else 0.0
    )
    assert own.altitude.lower_m <= side.lower_m <= side.upper_m <= own.altitude.upper_m
    assert other.altitude.lower_m - vertical <= side.lower_m
    assert side.upper_m <= other.altitude.upper_m + vertical
    json = side.to_json()
    assert json["volume"] == own.index
    assert json["start"].endswith("Z") and json["end"].endswith("Z")
    assert json["altitude"]["units"] == "m"


SIDE_CASES = [
    # (id, lon, lat, az, radius, gap as a fraction of the separation)
    ("overlapping-equator", 0.0, 0.0, 90.0, 2_000.0, -0.5),
    ("overlapping-85N", 120.0, 85.0, 10.0, 2_000.0, -0.5),
    ("within-sep-45N", 10.0, 45.0, 30.0, 2_000.0, 0.5),
    ("within-sep-antimeridian", 179.995, 0.0, 90.0, 500.0, 0.5),
    ("near-sep-small-circles-az-90", 0.0, 0.0, 90.0, 500.0, 1 - TOLERANCE),
    ("near-sep-5km-circles-az-2.8", 0.0, 0.0, 2.8125, 5_000.0, 1 - TOLERANCE),
    ("near-sep-50km-circles-45N-az-90", 10.0, 45.0, 90.0, 50_000.0, 1 - TOLERANCE),
]


@pytest.mark.parametrize(
    ("lon", "lat", "az", "radius", "fraction"),
    [pytest.param(*case[1:], id=case[0]) for case in SIDE_CASES],
)
def test_sides_of_circle_conflict(
    lon: float, lat: float, az: float, radius: float, fraction: float
) -> None:
    """Each side sees a non-empty part of its own area that lies within the other's minima."""
    rules = Rules(horizontal_separation_m=1_000.0)
    gap = rules.horizontal_separation_m * fraction
    lon2, lat2, _ = fwd(lon, lat, az, 2 * radius + gap)
    a = placed(
        "ntf-a",
        "A",
        volume(
            circle(lon, lat, radius),
            lower=0,
            upper=1000,
            start="2026-11-26T10:00:00Z",
            end="2026-11-26T11:00:00Z",
        ),
    )
    b = placed(
        "ntf-b",
        "B",
        volume(
            circle(lon2, lat2, radius),
            lower=1200,
            upper=3000,
            reference="W84",
            start="2026-11-26T11:10:00Z",
            end="2026-11-26T13:00:00Z",
        ),
    )
    (finding,) = find_conflicts([b], [a], rules)
    (overlap,) = finding.overlaps
    assert (finding.notification_a, finding.notification_b) == ("ntf-a", "ntf-b")
    _check_side(overlap.a, a, b, rules)
    _check_side(overlap.b, b, a, rules)
    reach = radius + rules.horizontal_separation_m
    for side, own_centre, other_centre in (
        (overlap.a, (lon, lat), (lon2, lat2)),
        (overlap.b, (lon2, lat2), (lon, lat)),
    ):
        part = _lonlat_area(side.area)
        coords = shapely.get_coordinates(part)
        from_own = np.array([geodesic_m(*own_centre, x, y) for x, y in coords])
        from_other = np.array([geodesic_m(*other_centre, x, y) for x, y in coords])
        # Within the own circle and within the other's circle grown by the separation.
        assert from_own.max() <= radius * (1 + TOLERANCE) + 1.0
        assert from_other.max() <= reach * (1 + TOLERANCE) + 1.0
    # Time: a 10:00–11:00 and b 11:10–13:00 with a 15 min buffer.
    assert (overlap.a.start.hour, overlap.a.start.minute) == (10, 55)
    assert (overlap.a.end.hour, overlap.a.end.minute) == (11, 0)
    assert (overlap.b.start.hour, overlap.b.start.minute) == (11, 10)
    assert (overlap.b.end.hour, overlap.b.end.minute) == (11, 15)
    # Altitude: 0–1000 AMSL vs 1200–3000 W84, 300 m + 110 m margin.
    assert (overlap.a.lower_m, overlap.a.upper_m) == (790.0, 1000.0)
    assert (overlap.b.lower_m, overlap.b.upper_m) == (1200.0, 1410.0)


@pytest.mark.parametrize(("pair", "build"), list(PAIRS.items()))
@pytest.mark.parametrize(("place", "lon", "lat", "az"), [p[:4] for p in PLACES])
def test_sides_of_every_shape_pair(
    pair: str, build: Builder, place: str, lon: float, lat: float, az: float
) -> None:
    rules = Rules()
    area_a, area_b = build(lon, lat, az, 500.0)
    a, b = placed("ntf-a", "A", volume(area_a)), placed("ntf-b", "B", volume(area_b))
    (finding,) = find_conflicts([a], [b], rules)
    (overlap,) = finding.overlaps
    _check_side(overlap.a, a, b, rules)
    _check_side(overlap.b, b, a, rules)
    for side, own in ((overlap.a, a), (overlap.b, b)):
        part = _lonlat_area(side.area)
        footprint = own.shape.footprint_lonlat()
        # The visible part is a part of the own area (up to the arc approximation).
        outside = shapely.difference(part, footprint.buffer(1e-4)).area
        assert outside <= 1e-3 * part.area, (place, pair)
        assert part.area < footprint.area
