"""`deconfliction serve --workers N`: N processes answering on one address.

uvicorn's supervisor binds the address once and starts N worker processes that accept its
connections between them (the kernel shares them out), restarting any that dies. Each worker is a
fresh interpreter that builds its app with `app()` from the environment the command was given:
the command itself has already created the database, the signing key and the operator token, so
a worker only opens them.

The processes share the database: on PostgreSQL as several servers do (postgresql.md); on a
SQLite file each process's writer takes the writer's turn from the others
(storage/sqlite/writer_lock.py), webhook deliveries are claimed so one process sends each, and
the event hub of each process reads what every process stored. What each process keeps to
itself: its open streams and their limit, and the rate limits' counts.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from deconfliction.config import ENV_NAMES, Settings
from deconfliction.sharding.deployment import open_configured

FACTORY = f"{__name__}:app"
MAX_WORKERS = 32


def serve(db: str | None, host: str, port: int, workers: int) -> None:
    """Run `workers` processes on host:port until stopped, over `db` (else the settings')."""
    import uvicorn

    if db:
        os.environ[ENV_NAMES["db"]] = db  # the workers read their settings from the environment
    uvicorn.run(FACTORY, factory=True, workers=workers, host=host, port=port, log_level="info")


def app() -> FastAPI:
    """One worker's app, over the deployment its environment names."""
    from deconfliction.api.app import serving_app

    settings = Settings.from_env()
    deployment, _ = open_configured(settings)
    return serving_app(deployment, settings)
