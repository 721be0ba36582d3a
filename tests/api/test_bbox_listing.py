"""Listing with a bbox reads candidates from the volume index; it must answer exactly what
testing every visible notification against the bbox answers."""

from __future__ import annotations

import random

from deconfliction.interop.geojson import view_intersects_bbox

from .conftest import World, circle, corridor, simple, square

CENTRE = (37.0, 36.0)


def _random_area(rng: random.Random) -> dict[str, object]:
    lon = CENTRE[0] + rng.uniform(-1.0, 1.0)
    lat = CENTRE[1] + rng.uniform(-1.0, 1.0)
    shape = rng.choice(["circle", "square", "corridor"])
    if shape == "circle":
        return circle(lon, lat, rng.uniform(500.0, 40_000.0))
    if shape == "square":
        return square(lon, lat, rng.uniform(0.01, 0.4))
    end = [lon + rng.uniform(-0.5, 0.5), lat + rng.uniform(-0.5, 0.5)]
    return corridor([[lon, lat], end], rng.uniform(200.0, 5_000.0))


def _bbox(rng: random.Random) -> list[float]:
    west = CENTRE[0] + rng.uniform(-1.3, 1.1)
    south = CENTRE[1] + rng.uniform(-1.3, 1.1)
    corners = [west, south, west + rng.uniform(0.01, 0.6), south + rng.uniform(0.01, 0.6)]
    return [round(c, 5) for c in corners]


def test_bbox_listing_equals_testing_every_notification(world: World) -> None:
    rng = random.Random(20261201)
    parties = [world.north, world.south, world.aid]
    for i in range(45):
        party = parties[i % len(parties)]
        start = rng.uniform(1, 20)
        body = simple(world.clock, _random_area(rng), hours=(start, start + 3))
        world.notify(party, body)
    url = world.notifications_url()
    for viewer in [world.operator, world.north.headers, world.south.headers]:
        everything = world.client.get(url, params={"limit": 1000}, headers=viewer).json()
        assert len(everything) >= 15
        hits = 0
        for _ in range(25):
            bbox = _bbox(rng)
            expected = {v["id"] for v in everything if view_intersects_bbox(v, bbox)}
            listed = world.client.get(
                url,
                params={"bbox": ",".join(map(str, bbox)), "limit": 1000},
                headers=viewer,
            ).json()
            assert {v["id"] for v in listed} == expected, bbox
            hits += len(expected)
        assert hits > 0  # the boxes found something: the comparison was not of empty sets
