"""The crash harness's conflict check (bench/crash.py): every conflict recomputed from scratch
with the domain's own `find_conflicts` over the stored notifications equals the service's open
conflicts."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from crash_snapshot import Snapshot
from crash_state import Run

from deconfliction.domain.altitude import parse_altitude
from deconfliction.domain.areas import parse_area
from deconfliction.domain.candidates import Candidates
from deconfliction.domain.conflicts import Finding, find_conflicts
from deconfliction.domain.placed import Placed
from deconfliction.domain.rules import Rules
from deconfliction.domain.times import TimeWindow, parse_instant
from deconfliction.services.conflict_search import overlaps_json


def placed_of(view: dict[str, Any]) -> list[Placed]:
    """A stored notification's volumes placed for the domain, exactly as it reads them."""
    return [
        Placed(
            notification_id=view["id"],
            party_id=view["party"]["id"],
            index=index,
            shape=parse_area(volume["area"], f"volumes[{index}].area").shape,
            altitude=parse_altitude(volume["altitude"], f"volumes[{index}].altitude"),
            window=TimeWindow(
                parse_instant(volume["start"], "start"), parse_instant(volume["end"], "end")
            ),
        )
        for index, volume in enumerate(view["volumes"])
    ]


def _overlaps(finding: Finding) -> list[dict[str, Any]]:
    """A finding's overlaps in the form the service stores them (its own serialisation)."""
    overlaps: list[dict[str, Any]] = json.loads(overlaps_json(finding))
    return overlaps


Pair = tuple[str, str]


def recompute(views: Iterable[dict[str, Any]], rules: Rules) -> tuple[dict[Pair, Any], list[str]]:
    """Every conflict among the live notifications, found from each side with the domain's
    `find_conflicts`: pair → the overlaps found from either side; and any asymmetry."""
    placed = {v["id"]: placed_of(v) for v in views if v["state"] != "cancelled"}
    everything = Candidates.of([p for volumes in placed.values() for p in volumes])
    sides: dict[Pair, list[list[dict[str, Any]]]] = defaultdict(list)
    for volumes in placed.values():
        for finding in find_conflicts(volumes, everything, rules):
            sides[(finding.notification_a, finding.notification_b)].append(_overlaps(finding))
    asymmetric = [
        f"conflict {pair} found from one side only" for pair, s in sides.items() if len(s) != 2
    ]
    return dict(sides), asymmetric


def check_conflicts(run: Run, snap: Snapshot, figures: Counter[str]) -> list[str]:
    """The service's open conflicts are exactly those recomputed from scratch."""
    problems = []
    for mechanism in run.mechanisms:
        views = [v for v in snap.notifications.values() if v["mechanism_id"] == mechanism]
        expected, asymmetric = recompute(views, snap.rules[mechanism])
        problems += asymmetric
        conflicts = [c for c in snap.conflicts.values() if c["mechanism_id"] == mechanism]
        listed = snap.open_listed[mechanism]
        if listed is None:
            figures["conflict listings too long to compare"] += 1
        elif {c["id"] for c in conflicts if c["state"] == "open"} != listed:
            problems.append(f"{mechanism}: GET /v1/conflicts and the notifications disagree")
        stored: dict[Pair, dict[str, Any]] = {}
        for conflict in conflicts:
            figures[f"conflicts stored, {conflict['state']}"] += 1
            pair = (conflict["notification_a"], conflict["notification_b"])
            if conflict["state"] != "open":
                continue
            if pair in stored:
                problems.append(f"two open conflicts for {pair}")
            stored[pair] = conflict
        figures["conflicts recomputed"] += len(expected)
        for pair in sorted(expected.keys() - stored.keys()):
            problems.append(f"LOST: conflict {pair} recomputed, not stored open")
        for pair in sorted(stored.keys() - expected.keys()):
            problems.append(f"extra: open conflict {stored[pair]['id']} {pair} not recomputed")
        for pair in sorted(expected.keys() & stored.keys()):
            figures["conflicts equal"] += stored[pair]["overlaps"] in expected[pair]
            if stored[pair]["overlaps"] not in expected[pair]:
                problems.append(f"conflict {stored[pair]['id']}: stored overlaps differ")
    return problems
