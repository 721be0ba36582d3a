"""Listing with a bbox reads candidates from the volume index; it must answer exactly what
testing every visible notification against the bbox answers, in the same order, whatever the
page size."""

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
            expected = [v["id"] for v in everything if view_intersects_bbox(v, bbox)]
            for limit in (1000, 3, 1):  # pages of candidates, some of them missing the box
                listed = world.client.get(
                    url,
                    params={"bbox": ",".join(map(str, bbox)), "limit": limit},
                    headers=viewer,
                ).json()
                assert [v["id"] for v in listed] == expected[:limit], (bbox, limit)
            hits += len(expected)
        assert hits > 0  # the boxes found something: the comparison was not of empty sets


def test_a_party_lists_its_own_and_its_conflicts_in_start_order(world: World) -> None:
    """A party's listing is its own notifications and those in conflict with one of them, in
    the operator's order (start, then id), whatever the page size."""
    rng = random.Random(7)
    parties = [world.north, world.south, world.aid]
    for i in range(30):
        start = rng.uniform(1, 30)
        area = circle(CENTRE[0] + rng.uniform(-0.3, 0.3), CENTRE[1], rng.uniform(2_000, 30_000))
        world.notify(parties[i % 3], simple(world.clock, area, hours=(start, start + 4)))
    url = world.notifications_url()
    everything = world.client.get(url, params={"limit": 1000}, headers=world.operator).json()
    order = [v["id"] for v in everything]
    owner = {v["id"]: v["party"]["id"] for v in everything}
    conflicts = world.client.get("/v1/conflicts", params={"limit": 1000}, headers=world.operator)
    for party in parties:
        partners = set()
        for c in conflicts.json():
            ends = {c[f"party_{x}"]["id"]: c[f"notification_{x}"] for x in "ab"}
            if party.id in ends:
                partners |= {n for p, n in ends.items() if p != party.id}
        expected = [n for n in order if owner[n] == party.id or n in partners]
        assert partners, "the scene has conflicts for every party"
        for limit in (1000, 7, 1):
            listed = world.client.get(url, params={"limit": limit}, headers=party.headers).json()
            assert [v["id"] for v in listed] == expected[:limit]
