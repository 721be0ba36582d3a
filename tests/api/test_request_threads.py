"""How many threads serve the blocking part of requests: DECONFLICTION_REQUEST_THREADS, else the
store's own count — 16 on SQLite, whose writer's group commit fills with them, 4 on PostgreSQL."""

from __future__ import annotations

import anyio.to_thread
import pytest

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.services.context import Context
from deconfliction.storage.sqlite.group_commit import MAX_GROUP
from deconfliction.storage.sqlite.store import SqliteStore

from .conftest import CheckedClient, Database


def _serving_threads(ctx: Context, settings: Settings) -> int:
    """The request threads the app sets while it runs (AnyIO's limiter of its event loop)."""
    with CheckedClient(create_app(ctx, settings)) as client:
        limiter = client.portal.call(anyio.to_thread.current_default_thread_limiter)
        return int(limiter.total_tokens)


def test_unset_the_store_says_how_many(ctx: Context, database: Database) -> None:
    expected = 16 if database.url.startswith("sqlite") else 4
    assert ctx.store.request_threads == expected
    assert _serving_threads(ctx, Settings(db=database.url)) == expected


def test_the_setting_overrides_the_store(ctx: Context, database: Database) -> None:
    settings = Settings.from_env(
        {"DECONFLICTION_DB": database.url, "DECONFLICTION_REQUEST_THREADS": "3"}
    )
    assert _serving_threads(ctx, settings) == 3


@pytest.mark.parametrize("raw", ["0", "257", "four", "2.5"])
def test_a_bad_count_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="DECONFLICTION_REQUEST_THREADS must be a whole number"):
        Settings.from_env({"DECONFLICTION_REQUEST_THREADS": raw})


def test_sqlite_has_threads_enough_to_fill_a_group_commit() -> None:
    # A group holds the use cases queued behind the writer, one a thread: fewer threads than a
    # group may hold cap it below MAX_GROUP.
    assert SqliteStore.request_threads >= MAX_GROUP
