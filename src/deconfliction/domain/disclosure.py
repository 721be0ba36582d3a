"""Need-to-know: what a party may see of another party's notification and of a conflict."""

from __future__ import annotations

from typing import Any


def sees_whole(*, viewer_party: str | None, owner_party: str, policy: str) -> bool:
    """The operator (no party) and the owner see everything; others only under a `full` policy."""
    return viewer_party is None or viewer_party == owner_party or policy == "full"


def visible_sides(overlaps: list[dict[str, Any]], *, viewer_is_a: bool) -> list[dict[str, Any]]:
    """For each conflicting volume pair, the viewer's own side and the other side's overlap.

    The other side's part is what the viewer needs to know: the piece of the other's area, time
    and altitude that lies within the minima of the viewer's own volume — never more of it.
    """
    own_key, other_key = ("a", "b") if viewer_is_a else ("b", "a")
    return [
        {
            "own": overlap[own_key],
            "other": {k: v for k, v in overlap[other_key].items() if k != "volume"},
            "horizontal_gap_m": overlap["horizontal_gap_m"],
        }
        for overlap in overlaps
    ]
