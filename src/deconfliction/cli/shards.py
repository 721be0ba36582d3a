"""Operator commands on a deployment over several databases (DECONFLICTION_SHARDS): which shard
holds which mechanism, and moving one mechanism to another shard (services/mechanism_move.py;
docs/deployment.md says when and how)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deconfliction.cli.http import fail
from deconfliction.cli.local import settings_or_fail
from deconfliction.errors import DeconflictionError
from deconfliction.keyfile import KeyFileError
from deconfliction.services import mechanism_move
from deconfliction.sharding import routing_table
from deconfliction.sharding.deployment import Deployment, open_deployment
from deconfliction.storage import DatabaseUnavailable, UnsupportedDatabase

app = typer.Typer(
    help="A deployment over several databases: its shards; moving a mechanism between them.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)


@contextmanager
def _deployment() -> Iterator[Deployment]:
    """Every shard of DECONFLICTION_SHARDS, opened; refusals as a clear error, exit status 1."""
    settings = settings_or_fail()
    if not settings.shards:
        fail("DECONFLICTION_SHARDS is not set: this deployment has one database")
    try:
        deployment, _ = open_deployment(
            routing_table.load(settings.shards), settings.signing_key_file
        )
    except (
        routing_table.RoutingTableError,
        KeyFileError,
        UnsupportedDatabase,
        DatabaseUnavailable,
    ) as error:
        fail(escape(str(error)))
    try:
        yield deployment
    except DeconflictionError as error:
        fail(escape(error.message))
    finally:
        deployment.close()


@app.command("list")
def list_shards() -> None:
    """Each shard: its log's id and size, and the mechanisms it holds."""
    with _deployment() as deployment:
        table = Table(title="shards (the first is the home shard: parties, tokens, webhooks)")
        for column in ("shard", "log id", "log size", "mechanisms"):
            table.add_column(column)
        for name, ctx in deployment.contexts.items():
            with ctx.store.read() as tx:
                held = [row["id"] for row in tx.mechanisms(None)]
                table.add_row(name, tx.log_id() or "—", str(tx.log_size()), "\n".join(held) or "—")
        out.print(table)


@app.command()
def move(
    mechanism_id: str = typer.Argument(..., help="the mechanism to move"),
    to: str = typer.Option(..., "--to", help="the shard to move it to, by its name"),
) -> None:
    """Move a mechanism whole to another shard, logged in both shards' logs.

    Stop the API processes first (or expect 404 for the mechanism until they restart); start
    them again afterwards. Its events and log entries stay on the old shard, where every
    receipt its parties hold still verifies.
    """
    with _deployment() as deployment:
        target = deployment.shard(to, "--to")
        source = deployment.of_mechanism(mechanism_id)
        names = {id(ctx): name for name, ctx in deployment.contexts.items()}
        moved = mechanism_move.move(
            mechanism_id,
            source=source,
            source_name=names[id(source)],
            target=target,
            target_name=to,
        )
    shown = ", ".join(f"{table} {count}" for table, count in moved.rows.items() if count)
    out.print(
        f"moved {mechanism_id} from {names[id(source)]} to {to}: {shown}; volumes indexed "
        f"{moved.volumes}",
        highlight=False,
    )
    for side, receipt in (("old", moved.source_receipt), ("new", moved.target_receipt)):
        head = receipt["tree_head"]
        out.print(
            f"logged on the {side} shard: entry {receipt['leaf_index']} of {head['log_id']} "
            f"(head size {head['tree_size']})",
            highlight=False,
        )
    out.print(
        f'next: add `{mechanism_id} = "{to}"` under [mechanisms] in the routing table, and '
        "restart every API process",
        highlight=False,
    )
