"""The candidate index of stored notifications, rebuilt from their rows: what a database derives
and does not copy when a deployment (services/transfer.py) or a mechanism
(services/mechanism_move.py) moves to another."""

from __future__ import annotations

import json

from deconfliction.domain.altitude import parse_altitude
from deconfliction.domain.areas import parse_area
from deconfliction.domain.times import TimeWindow, parse_instant
from deconfliction.domain.volumes import Volume
from deconfliction.errors import InvalidInput, StateConflict
from deconfliction.services.notifications import placed_volumes
from deconfliction.services.ports import Row, Transaction


def stored_volumes(row: Row) -> list[Volume]:
    """A notification's volumes as stored (already checked when it was notified)."""
    try:
        return [
            Volume(
                area=parse_area(data["area"], f"volumes[{i}].area"),
                altitude=parse_altitude(data["altitude"], f"volumes[{i}].altitude"),
                window=TimeWindow(
                    parse_instant(data["start"], f"volumes[{i}].start"),
                    parse_instant(data["end"], f"volumes[{i}].end"),
                ),
            )
            for i, data in enumerate(json.loads(row["volumes_json"]))
        ]
    except (InvalidInput, KeyError, TypeError, ValueError) as error:
        raise StateConflict(
            f"notification {row['id']}'s stored volumes cannot be indexed ({error}); nothing "
            "was changed"
        ) from error


def index(tx: Transaction, row: Row) -> int:
    """Index a notification's volumes as notifying does (none once it is cancelled); how many."""
    if row["cancelled_at"] is not None:
        return 0
    volumes = stored_volumes(row)
    tx.replace_volumes(row, placed_volumes(row["id"], row["party_id"], volumes))
    return len(volumes)
