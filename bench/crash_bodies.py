"""What the crash harness's clients send (bench/crash.py): random notifications over one small
area, so that they overlap often, and what a version of a notification says."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

CENTRE = (38.0, 36.0)  # lon, lat: northern Syria


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_area(rng: random.Random) -> dict[str, Any]:
    """A circle, a corridor or a square within ~15 km of the centre: they overlap often."""
    lon = CENTRE[0] + rng.uniform(-0.15, 0.15)
    lat = CENTRE[1] + rng.uniform(-0.12, 0.12)
    shape = rng.random()
    if shape < 0.6:
        return {"type": "Circle", "center": [lon, lat], "radius": float(rng.randrange(500, 4000))}
    if shape < 0.8:
        end = [lon + rng.uniform(-0.06, 0.06), lat + rng.uniform(-0.06, 0.06)]
        return {
            "type": "Corridor",
            "line": {"type": "LineString", "coordinates": [[lon, lat], end]},
            "half_width": float(rng.randrange(200, 1500)),
        }
    half = rng.uniform(0.005, 0.03)
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def random_altitude(rng: random.Random) -> dict[str, Any]:
    lower = float(rng.randrange(0, 5000, 100))
    upper = lower + float(rng.randrange(300, 3000, 100))
    if rng.random() < 0.1:
        return {"lower": lower * 3, "upper": upper * 3, "units": "ft", "reference": "AMSL"}
    reference = "W84" if rng.random() < 0.1 else "AMSL"
    return {"lower": lower, "upper": upper, "units": "m", "reference": reference}


def random_volume(rng: random.Random, day: datetime) -> dict[str, Any]:
    """One volume tomorrow: 30 min to 4 h between 00:00 and 24:00."""
    start = day + timedelta(minutes=15 * rng.randrange(0, 4 * 22))
    end = start + timedelta(minutes=15 * rng.randrange(2, 17))
    return {
        "area": random_area(rng),
        "altitude": random_altitude(rng),
        "start": _instant(start),
        "end": _instant(end),
    }


def random_notification(
    rng: random.Random, day: datetime, reference: str, title: str
) -> dict[str, Any]:
    volumes = [random_volume(rng, day) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    kind = rng.choice(("air", "ground", "uas", "maritime"))
    return {"kind": kind, "title": title, "reference": reference, "volumes": volumes}


def content_of(document: dict[str, Any]) -> dict[str, Any]:
    """What a version of a notification says: a body sent, a revision, a notification view."""
    return {k: document.get(k) for k in ("kind", "title", "reference", "volumes")}
