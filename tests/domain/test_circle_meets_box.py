"""A circle's centre and radius settle whether its drawn footprint meets a lon/lat box only when
drawing it would answer the same: boxes are put right at the circle's edge (where the drawing's
own error lies), at every size of circle and box, anywhere below the latitude limit."""

from __future__ import annotations

import math

import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deconfliction.domain.areas import MAX_RADIUS_M, stored_shape
from deconfliction.domain.circle_meets_box import MAX_LATITUDE, circle_meets_box

METRES_PER_DEGREE = 111_000.0


def _drawn_meets(centre: tuple[float, float], radius_m: float, box: list[float]) -> bool:
    area = {"type": "Circle", "center": list(centre), "radius": radius_m}
    return bool(stored_shape(area).footprint_lonlat().intersects(shapely.box(*box)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[float, float], float, list[float]]:
    """A circle and a box whose nearest corner or side lies near the circle's edge."""
    lat = draw(st.floats(-MAX_LATITUDE - 2.0, MAX_LATITUDE + 2.0))
    lon = draw(st.floats(-179.9, 179.9))
    radius = math.exp(draw(st.floats(math.log(30.0), math.log(MAX_RADIUS_M))))
    radius_deg = radius / METRES_PER_DEGREE
    bearing = draw(st.floats(0.0, 2.0 * math.pi))
    # From the centre to the box's nearest point: about a radius, often within the 0.3 % where
    # the drawing and the true circle part.
    at = draw(st.floats(0.9, 1.1) | st.floats(0.995, 1.005)) * radius_deg
    near_lon = lon + at * math.sin(bearing) / max(math.cos(math.radians(lat)), 0.2)
    near_lat = lat + at * math.cos(bearing)
    width = draw(st.floats(0.001, 3.0)) * max(radius_deg, 0.01)
    height = draw(st.floats(0.001, 3.0)) * max(radius_deg, 0.01)
    west = near_lon - (width if math.sin(bearing) < 0.0 else 0.0)
    south = near_lat - (height if math.cos(bearing) < 0.0 else 0.0)
    box = [
        max(-180.0, west),
        max(-90.0, south),
        min(180.0, west + width),
        min(90.0, south + height),
    ]
    return (lon, lat), radius, box


@settings(max_examples=1_500, deadline=None)
@given(cases())
def test_a_settled_answer_is_the_drawings(
    case: tuple[tuple[float, float], float, list[float]],
) -> None:
    centre, radius, box = case
    assume(box[0] <= box[2] and box[1] <= box[3])  # not clipped away at the edge of the world
    settled = circle_meets_box(centre, radius, box)
    if settled is not None:
        assert settled == _drawn_meets(centre, radius, box), (centre, radius, box)


def test_most_circles_near_the_box_are_settled_without_drawing() -> None:
    """Not a test that passes by settling nothing: on a listing's scale (0.1° boxes, circles of
    0.5–10 km around them) most answers, yes and no, come from the centre and radius."""
    settled = []
    for i in range(400):
        lon = 37.0 + 0.15 * math.sin(i * 1.7)
        lat = 36.0 + 0.15 * math.cos(i * 2.3)
        radius = 500.0 + 9_500.0 * ((i * 0.618) % 1.0)
        box = [36.95, 35.95, 37.05, 36.05]
        answer = circle_meets_box((lon, lat), radius, box)
        if answer is not None:
            assert answer == _drawn_meets((lon, lat), radius, box)
        settled.append(answer)
    assert settled.count(None) < 0.1 * len(settled)
    assert settled.count(True) > 20 and settled.count(False) > 20


def test_near_a_pole_or_the_antimeridian_the_circle_is_always_drawn() -> None:
    assert circle_meets_box((10.0, 59.99), 5_000.0, [9.0, 59.0, 11.0, 61.0]) is None
    assert circle_meets_box((10.0, -70.0), 5_000.0, [9.0, -71.0, 11.0, -69.0]) is None
    assert circle_meets_box((179.99, 0.0), 5_000.0, [179.0, -1.0, 180.0, 1.0]) is None
    assert circle_meets_box((-179.99, 0.0), 5_000.0, [-180.0, -1.0, -179.0, 1.0]) is None
