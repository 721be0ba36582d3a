"""A prefilled store for the benchmarks that go through the service: N notifications of
bench/conflicts.py's seeded distribution in its mechanism, written through the store's own writes
as the notify use case writes them (the notification, its first revision, its volume's index
rows and its `notification.created` event, which also appends its entry to the transparency log
where the code has one), 10,000 per write transaction. Party P's bearer token is P's id: the
store holds its SHA-256 as the token hash, as the service stores tokens.

It runs in whichever revision's `src` is on the path (bench/notify.py fills a baseline from
before the log with it), so it looks for the log before using it. With `with_conflicts` each
notification's conflicts with those before it are found and recorded as a notify records them,
and both parties acknowledge each conflict and the message that told them (bench/load.py's fill);
without, none are stored (bench/notify.py's, for revisions before that code).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import time
from pathlib import Path
from typing import Any

import conflicts as gen

BATCH = 10_000
PROGRESS_EVERY = 50_000


def rules() -> Any:
    """bench/conflicts.py's rules; every other rule at its default."""
    from deconfliction.domain.rules import Rules

    return Rules(horizontal_separation_m=1_000.0, vertical_separation_m=300.0, time_buffer_min=10.0)


def token_id(party: str) -> str:
    return f"tok-{party}"


def has_log() -> bool:
    return importlib.util.find_spec("deconfliction.services.ledger") is not None


def add_tokens(store: Any, parties: int) -> None:
    """One token per party whose bearer value is the party's id."""
    with store.write() as tx:
        for p in range(parties):
            party = gen.party_id(p)
            tx.insert_token(
                {
                    "id": token_id(party),
                    "token_hash": hashlib.sha256(party.encode()).hexdigest(),
                    "party_id": party,
                    "label": "bench",
                    "created_at": gen.NOW_TEXT,
                }
            )


def open_service_keys(store: Any, key_file: Path) -> Any:
    """The service's first start: its signing key made in `key_file` and registered; None for
    code from before the log."""
    if not has_log():
        return None
    import inspect

    from deconfliction.services.service_keys import open_keys

    # Since key rotation over shards open_keys takes a list of stores; before, one store.
    several = "stores" in inspect.signature(open_keys).parameters
    keys, _ = open_keys([store] if several else store, key_file, gen.NOW)
    return keys


def store_notifications(
    store: Any, data: Any, n: int, label: str, *, with_conflicts: bool = False
) -> str:
    """Write data's first n notifications; the SHA-256 of their volumes' JSON, in order."""
    from deconfliction.services import notifications
    from deconfliction.services.context import Actor
    from deconfliction.services.events import record_event

    the_rules = rules()
    logged = "content" in inspect.signature(record_event).parameters
    digest = hashlib.sha256()
    started = time.perf_counter()
    found = 0
    for first in range(0, n, BATCH):
        with store.write() as tx:
            for i in range(first, min(first + BATCH, n)):
                row = data.rows[i]
                digest.update(row["volumes_json"].encode())
                actor = Actor(token_id(row["party_id"]), row["party_id"])
                tx.insert_notification(row)
                tx.insert_revision(
                    {
                        "notification_id": row["id"],
                        "version": 1,
                        "kind": row["kind"],
                        "title": row["title"],
                        "reference": row["reference"],
                        "volumes_json": row["volumes_json"],
                        "late": row["late"],
                        "received_at": row["created_at"],
                        "token_id": actor.token_id,
                    }
                )
                tx.replace_volumes(row, [(data.placed[i], data.boxes[i])])
                extra = {"by": actor, "content": notifications.content_of(row)} if logged else {}
                record_event(
                    tx,
                    gen.MECHANISM,
                    "notification.created",
                    row["id"],
                    notifications._audience(tx, row, the_rules),
                    {"notification_id": row["id"], "version": 1, "late": False},
                    gen.NOW_TEXT,
                    **extra,
                )
                if with_conflicts:
                    found += _detect_conflicts(
                        tx, row, [(data.placed[i], data.boxes[i])], the_rules
                    )
        done = min(first + BATCH, n)
        if done % PROGRESS_EVERY == 0 or done == n:
            rate = done / (time.perf_counter() - started)
            among = f", {found:,} conflicts among them" if with_conflicts else ""
            gen.log(f"  [{label}] stored {done:,} ({rate:,.0f}/s){among}")
    if with_conflicts:
        _require_all_acknowledged(store)
    _prune_journal(store)
    return digest.hexdigest()


def _require_all_acknowledged(store: Any) -> None:
    with store.read() as tx:
        left = tx.inbox_items(
            party_id=None, mechanism_id=gen.MECHANISM, pending_only=True, overdue_at=None, limit=1
        )
    if left:
        raise SystemExit(f"the fill left {left[0]['subject_id']} unacknowledged")


def _detect_conflicts(tx: Any, row: dict[str, Any], placed: list[Any], the_rules: Any) -> int:
    """How many conflicts the new notification has, recorded as a notify records them (each with
    the system message that tells both parties), then acknowledged by both: a mechanism's
    history whose parties read what they were told, and whose deadlines have nothing left to
    escalate."""
    from deconfliction.services import acknowledgements, conflicts
    from deconfliction.services.context import Actor

    conflicts.recompute(tx, notification=row, placed=placed, rules=the_rules, now=gen.NOW, new=True)
    found = {conflict["id"]: conflict for conflict in tx.open_conflicts_of(row["id"])}
    # Everything told before was acknowledged, so what is pending is what these just told.
    for party in sorted({c[side] for c in found.values() for side in ("party_a", "party_b")}):
        pending = tx.inbox_items(
            party_id=party,
            mechanism_id=gen.MECHANISM,
            pending_only=True,
            overdue_at=None,
            limit=len(found) * 2,
        )
        for item in pending:
            # as acknowledging the conflict, or its system message, over the API tells
            conflict = found.get(item["subject_id"])
            audience = [party] if conflict is None else [conflict["party_a"], conflict["party_b"]]
            acknowledgements.record(
                tx,
                Actor(token_id(party), party),
                subject_type=item["subject_type"],
                subject_id=item["subject_id"],
                version=item["version"],
                mechanism_id=gen.MECHANISM,
                audience=audience,
                at=gen.NOW_TEXT,
            )
    return len(found)


def _prune_journal(store: Any) -> None:
    """Keep the volume index's journal of changes to its newest ids, as a server's background
    step would (services/conflict_search.py): the fill's changes are all long committed."""
    try:
        from deconfliction.services.conflict_search import JOURNAL_KEEP, PRUNE_BATCH
    except ImportError:  # a revision before the journal
        return
    more = True
    while more:
        with store.write() as tx:
            more = tx.prune_index_changes(JOURNAL_KEEP, PRUNE_BATCH)


def sign_head(store: Any, keys: Any) -> int:
    """A signed tree head over the filled log; the log's size (0 without a log)."""
    if keys is None:
        return 0
    from deconfliction.services import ledger

    with store.write() as tx:
        ledger.sign_if_grown(tx, keys.current, gen.NOW)
        return int(tx.log_size())


def notify_body(d: gen.Draws, i: int, title: str) -> tuple[str, dict[str, Any]]:
    """(party, notify body) for draw i: one volume, as a client would send it."""
    volume = json.loads(json.dumps(gen.make_volume(d, i).to_json()))
    body = {"kind": "air", "title": title, "reference": "", "volumes": [volume]}
    return gen.party_id(int(d.party[i])), body
