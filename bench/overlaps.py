"""Benchmark: drawing the overlap of one conflicting pair of volumes (what the service records).

Detection (`find_conflicts`) stops at the contacts; `Finding.overlaps` then draws, for each side,
the part of its area within the minima of the other's and brings it back to lon/lat. The service
does that for every conflict it records, in the write transaction. This script times it for
seeded pairs of conflicting circles and polygons 1–20 km across, like bench/conflicts.py's.

    .venv/bin/python bench/overlaps.py [--pairs 500] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from deconfliction.domain.conflicts import Placed, find_conflicts
from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import Volume, parse_volume

NOW = datetime(2030, 1, 1, tzinfo=UTC)
START = (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
END = (NOW + timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def area(rng: random.Random, lon: float, lat: float) -> dict[str, object]:
    size_km = rng.uniform(1.0, 20.0)
    if rng.random() < 0.5:
        return {"type": "Circle", "center": [lon, lat], "radius": size_km * 500.0}
    corners = rng.randint(5, 12)
    ring = []
    for k in range(corners):
        angle = 2 * math.pi * k / corners
        reach = size_km / 2 * rng.uniform(0.6, 1.0) / 111.0
        ring.append(
            [
                lon + reach * math.cos(angle) / math.cos(math.radians(lat)),
                lat + reach * math.sin(angle),
            ]
        )
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def volume(rng: random.Random, lon: float, lat: float, rules: Rules) -> Volume:
    data = {
        "area": area(rng, lon, lat),
        "start": START,
        "end": END,
        "altitude": {"lower": 0, "upper": 3000, "units": "m", "reference": "AMSL"},
    }
    return parse_volume(data, "volume", rules=rules, now=NOW)


def placed(name: str, v: Volume) -> Placed:
    return Placed(name, name, 0, v.area.shape, v.altitude, v.window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=500, help="conflicting pairs to draw")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rules = Rules()
    detect, draw = [], []
    while len(draw) < args.pairs:
        lon, lat = rng.uniform(35.0, 41.0), rng.uniform(33.0, 39.0)
        a = placed("A", volume(rng, lon, lat, rules))
        b = placed(
            "B", volume(rng, lon + rng.uniform(-0.1, 0.1), lat + rng.uniform(-0.1, 0.1), rules)
        )
        t0 = time.perf_counter()
        found = find_conflicts([a], [b], rules)
        t1 = time.perf_counter()
        if not found:
            continue
        found[0].overlaps  # noqa: B018 - drawing the overlaps is what is measured
        t2 = time.perf_counter()
        detect.append(t1 - t0)
        draw.append(t2 - t1)

    def ms(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    print(f"{args.pairs} conflicting pairs (seed {args.seed}), ms per pair:")
    print("| step | p50 ms | p99 ms |\n| --- | ---: | ---: |")
    for step, values in (
        ("detect (find_conflicts, one candidate)", detect),
        ("draw the overlaps (Finding.overlaps)", draw),
    ):
        print(f"| {step} | {ms(values, 50):.3f} | {ms(values, 99):.3f} |")


if __name__ == "__main__":
    main()
