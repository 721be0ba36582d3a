"""A page of views is read at once (its conflicts, parties and acknowledgements in a few
queries, services/views.py): each view must be the one fetched on its own."""

from __future__ import annotations

import random

from .conftest import World, circle, simple

CENTRE = (37.0, 36.0)


def test_a_listings_views_are_the_views_fetched_one_by_one(world: World) -> None:
    rng = random.Random(20261207)
    parties = [world.north, world.south, world.aid]
    for i in range(24):
        start = rng.uniform(1, 12)
        area = circle(CENTRE[0] + rng.uniform(-0.2, 0.2), CENTRE[1], rng.uniform(3_000, 20_000))
        world.notify(parties[i % 3], simple(world.clock, area, hours=(start, start + 4)))
    conflicts = world.client.get("/v1/conflicts", params={"limit": 1000}, headers=world.operator)
    for number, conflict in enumerate(conflicts.json()):
        side = "ab"[number % 2]
        if number % 3:  # some acknowledged by one side, some by neither
            by = next(p for p in parties if p.id == conflict[f"party_{side}"]["id"])
            acked = world.client.post(
                f"/v1/conflicts/{conflict['id']}/acknowledge", headers=by.headers
            )
            assert acked.status_code == 200, acked.text
    url = world.notifications_url()
    for viewer in [world.operator, *(p.headers for p in parties)]:
        listed = world.client.get(url, params={"limit": 1000}, headers=viewer).json()
        kinds = {v["disclosure"] for v in listed}
        shown = [c for v in listed for c in v["conflicts"]]
        assert len(listed) >= 8 and shown, "the views show conflicts"
        assert any(c["acknowledgements"] for c in shown) and not all(
            c["acknowledgements"] for c in shown
        ), "some of the shown conflicts are acknowledged, some not"
        if viewer is not world.operator:
            assert kinds == {"whole", "overlap"}, kinds
        for view in listed:
            alone = world.client.get(f"/v1/notifications/{view['id']}", headers=viewer)
            assert alone.json() == view
