"""The search box of a lon/lat rectangle holds every point of it (the bbox listing's index query
must never miss a match), including rectangles at the antimeridian, the poles and the equator."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.domain import geo
from deconfliction.domain.volumes import lonlat_box

LON = st.floats(-180.0, 180.0, allow_nan=False)
LAT = st.floats(-90.0, 90.0, allow_nan=False)
EDGES = [-180.0, -90.0, 0.0, 90.0, 180.0]


@st.composite
def rectangles(draw: st.DrawFn) -> tuple[float, float, float, float]:
    west, east = sorted((draw(LON | st.sampled_from(EDGES)), draw(LON | st.sampled_from(EDGES))))
    south, north = sorted((draw(LAT | st.sampled_from(EDGES[1:4])), draw(LAT)))
    return west, south, east, north


@settings(max_examples=300, deadline=None)
@given(rectangles(), st.integers(0, 2**32 - 1))
def test_every_point_of_the_rectangle_is_in_its_box(
    rectangle: tuple[float, float, float, float], seed: int
) -> None:
    west, south, east, north = rectangle
    rng = np.random.default_rng(seed)
    # Drawn as low + span × [0, 1): numpy's uniform() refuses a span of -0.0 (west 0.0, east -0.0).
    lon = np.concatenate([west + (east - west) * rng.random(200), [west, east, west, east]])
    lat = np.concatenate([south + (north - south) * rng.random(200), [south, north, north, south]])
    vectors = geo.unit_vectors(lon, lat)
    box = lonlat_box(west, south, east, north)
    assert (vectors >= np.array(box.low[:3])).all()
    assert (vectors <= np.array(box.high[:3])).all()


def test_the_box_is_tight_for_a_small_rectangle() -> None:
    """Not a box of the whole sphere: a 0.1° rectangle's box is about 0.1° across."""
    box = lonlat_box(38.0, 36.0, 38.1, 36.1)
    spans = [high - low for low, high in zip(box.low[:3], box.high[:3], strict=True)]
    assert max(spans) < np.radians(0.11)
    assert box.low[3] < -10_000 and box.high[3] > 100_000  # any altitude
