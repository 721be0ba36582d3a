"""Moving one mechanism whole from one shard of a deployment to another.

Holding the mechanism's lock on its shard (the source) — so no write to it can slip in — the
move reads its rows (mechanism, members, notifications with their revisions, conflicts,
messages, acknowledgements, inbox deadlines, escalation contacts, silence alarms, incidents),
writes them into the target in one transaction, indexes the notifications' volumes there, and
logs `mechanism.moved` in the target's log (naming the source's log and its newest head);
then, in the source's transaction, logs `mechanism.moved` there (naming the target's log) and
deletes the rows. Both entries are seen by the mechanism's members.

What stays on the source: the mechanism's events (a reader's stream has them, or will page
them, in the source's numbering; their webhook deliveries go on from there) and its log entries
(every receipt a party holds still verifies against the source's log, which keeps growing). If
the move stops between the two commits both shards hold the mechanism: moving it again from the
same source (name it in the routing table) replaces the target's copy and finishes the move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deconfliction.domain.times import format_instant
from deconfliction.errors import InvalidInput, NotFound, StateConflict
from deconfliction.services import ledger, volume_index
from deconfliction.services.context import Context
from deconfliction.services.ports import Row, Transaction
from deconfliction.storage.sqlite.mechanism_rows import OF_MECHANISM


@dataclass(frozen=True)
class Moved:
    """What was moved: rows per table, volumes indexed, and the receipts of both entries."""

    rows: dict[str, int]
    volumes: int
    source_receipt: dict[str, Any]
    target_receipt: dict[str, Any]


def _members(tx: Transaction, mechanism_id: str) -> list[str]:
    return sorted(row["id"] for row in tx.members(mechanism_id))


def move(
    mechanism_id: str, *, source: Context, source_name: str, target: Context, target_name: str
) -> Moved:
    """Move the mechanism from `source` to `target`. An operator's command on the databases
    themselves: its log entries name no token (`by` null)."""
    with source.store.write() as from_tx:
        if from_tx.mechanism(mechanism_id) is None:  # in a write: takes its lock
            raise NotFound(f"no mechanism {mechanism_id} on shard {source_name}")
        if source is target:
            raise InvalidInput.one("to", f"the mechanism is already on shard {target_name}")
        rows = {table: from_tx.mechanism_rows(table, mechanism_id) for table in OF_MECHANISM}
        audience = _members(from_tx, mechanism_id)
        moment = source.now()
        with target.store.write() as to_tx:
            if to_tx.mechanism(mechanism_id) is not None:  # a move cut short: copy afresh
                _delete(to_tx, mechanism_id, to_tx.mechanism_rows("notifications", mechanism_id))
            volumes = _copy(to_tx, rows)
            source_head = ledger.latest_head(from_tx)
            target_index = _logged(
                to_tx,
                mechanism_id,
                moment,
                audience,
                {
                    "from_shard": source_name,
                    "from_log": from_tx.log_id(),
                    "from_head": None if source_head is None else source_head.to_json(),
                    "to_shard": target_name,
                    "rows": {table: len(found) for table, found in rows.items()},
                },
            )
            target_receipt = ledger.receipt_now(to_tx, target.keys.current, target_index, moment)
        source_index = _logged(
            from_tx,
            mechanism_id,
            moment,
            audience,
            {
                "from_shard": source_name,
                "to_shard": target_name,
                "to_log": target_receipt["tree_head"]["log_id"],
            },
        )
        _delete(from_tx, mechanism_id, rows["notifications"])
        source_receipt = ledger.receipt_now(from_tx, source.keys.current, source_index, moment)
    return Moved(
        {table: len(found) for table, found in rows.items()},
        volumes,
        source_receipt,
        target_receipt,
    )


def _logged(
    tx: Transaction,
    mechanism_id: str,
    moment: datetime,
    audience: list[str],
    data: dict[str, Any],
) -> int:
    """The `mechanism.moved` entry of one side; its index."""
    return ledger.record(
        tx,
        "mechanism.moved",
        at=format_instant(moment),
        mechanism_id=mechanism_id,
        subject_id=mechanism_id,
        audience=audience,
        by=None,
        data=data,
    )


def _copy(tx: Transaction, rows: dict[str, list[Row]]) -> int:
    for table in OF_MECHANISM:
        tx.insert_mechanism_rows(table, rows[table])
    return sum(volume_index.index(tx, row) for row in rows["notifications"])


def _delete(tx: Transaction, mechanism_id: str, notifications: list[Row]) -> None:
    for row in notifications:
        tx.remove_volumes(row)
    for table in reversed(OF_MECHANISM):
        tx.delete_mechanism_rows(table, mechanism_id)
    if tx.mechanism(mechanism_id) is not None:
        raise StateConflict(f"mechanism {mechanism_id} could not be removed from its old shard")
