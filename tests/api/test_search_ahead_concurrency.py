"""Notifies that work ahead of their writes while another process holds the SQLite file's
writer (services/conflict_search.py), many at once: each conflict is recorded once, and every
one a whole search finds is recorded. The store decides when to work ahead, as in service."""

from __future__ import annotations

import fcntl
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import parse_volumes
from deconfliction.services import conflict_search, notifications, tokens
from deconfliction.services.context import Context
from deconfliction.storage.sqlite.store import SqliteStore
from deconfliction.storage.sqlite.writer_lock import lock_path_for

from .conftest import World, circle, simple

CLIENTS = 4
NOTIFIES_EACH = 12


@pytest.mark.sqlite_only("holds the SQLite file's cross-process writer lock as another process")
def test_notifies_working_ahead_while_another_process_writes_record_each_conflict_once(
    world: World, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads notify at once, close together, while "another process" takes the file's
    writer lock again and again (so this process's writes wait for it, and work ahead); then
    every pair of notifications that conflicts — a whole search of the index for each — is
    one open conflict, and every open conflict such a pair."""
    assert isinstance(ctx.store, SqliteStore)
    ahead: list[int] = []
    real_search = conflict_search.search_ahead

    def counted(*args: Any, **kwargs: Any) -> Any:
        ahead.append(1)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(conflict_search, "search_ahead", counted)
    world.notify(world.south, simple(world.clock, circle(30.0, 10.0)))  # its rules are read
    actors = [tokens.authenticate(ctx, p.token) for p in (world.north, world.south, world.aid)]
    done = threading.Event()

    def other_process() -> None:
        lock = os.open(lock_path_for(ctx.store.path), os.O_RDWR)
        try:
            while not done.is_set():
                fcntl.flock(lock, fcntl.LOCK_EX)
                time.sleep(0.004)
                fcntl.flock(lock, fcntl.LOCK_UN)
                time.sleep(0.001)
        finally:
            os.close(lock)

    def client(number: int) -> None:
        rng = random.Random(number)
        for _ in range(NOTIFIES_EACH):
            where = (30.0 + rng.uniform(0, 0.06), 10.0 + rng.uniform(0, 0.06))
            notifications.notify(
                ctx,
                actors[number % 3],
                mechanism_id=world.mechanism_id,
                body=simple(world.clock, circle(*where)),
            )

    holder = threading.Thread(target=other_process)
    holder.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, range(CLIENTS)))
    finally:
        done.set()
        holder.join(10)
    assert ahead, "no notify worked ahead"
    with ctx.store.read() as tx:
        stored = tx.notifications(
            world.mechanism_id,
            visible_to=None,
            state=None,
            now=world.clock.now.timestamp(),
            start=None,
            end=None,
            limit=1_000,
        )
        whole: set[tuple[str, str]] = set()
        for row in stored:
            volumes = parse_volumes(
                json.loads(row["volumes_json"]), rules=Rules(), now=world.clock.now
            )
            placed = notifications.placed_volumes(row["id"], row["party_id"], volumes)
            found = conflict_search.found_in_turn(
                tx,
                mechanism_id=world.mechanism_id,
                party_id=row["party_id"],
                placed=placed,
                rules=Rules(),
            )
            whole.update(f.pair for f in found)
        recorded = [
            (c["notification_a"], c["notification_b"])
            for c in tx.conflicts(
                party=None, mechanism_id=world.mechanism_id, state="open", limit=1_000
            )
        ]
    assert len(stored) == 1 + CLIENTS * NOTIFIES_EACH
    assert len(recorded) == len(set(recorded)) and set(recorded) == whole and whole
