"""Entry point: `deconfliction init | serve | demo | settings`, client and operator commands."""

from __future__ import annotations

import typer
from rich.console import Console

from deconfliction.cli import client, incidents, line, proof, serve_workers, shards, transfer, watch
from deconfliction.cli.http import fail
from deconfliction.cli.local import DbOption, settings_or_fail
from deconfliction.config import DESCRIPTIONS, ENV_NAMES, Settings
from deconfliction.errors import InvalidInput
from deconfliction.keyfile import KeyFileError
from deconfliction.services import tokens
from deconfliction.sharding import routing_table
from deconfliction.sharding.deployment import Deployment, open_configured
from deconfliction.storage import DatabaseUnavailable, UnsupportedDatabase

app = typer.Typer(
    help="deconfliction: the coordination line of a deconfliction mechanism.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def open_deployment(db: str | None) -> tuple[Deployment, Settings]:
    """Open (creating and migrating if need be) the database — or every database the routing
    table in DECONFLICTION_SHARDS names — and the signing key; makes sure an operator can log
    in."""
    settings = settings_or_fail()
    if settings.shards and db:
        fail("--db names one database, but DECONFLICTION_SHARDS names the deployment's shards")
    try:
        deployment, created = open_configured(settings, db)
    except (
        UnsupportedDatabase,
        DatabaseUnavailable,
        KeyFileError,
        routing_table.RoutingTableError,
    ) as error:
        fail(str(error))
    ctx = deployment.home
    if deployment.sharded:
        err.print(f"opened {len(deployment.contexts)} shards: {', '.join(deployment.contexts)}")
    if created:
        err.print(f"log signing key created: {ctx.keys.path} (readable by its owner only)")
    if settings.operator_token:
        try:
            tokens.ensure_operator_token(ctx, settings.operator_token)
        except InvalidInput as error:
            fail(error.message)
        err.print("operator token: the one in DECONFLICTION_OPERATOR_TOKEN")
    elif not tokens.has_operator_token(ctx):
        token = tokens.create_operator_token(ctx)
        err.print("[bold]operator token[/] (shown once; keep it safe):")
        out.print(token, highlight=False, soft_wrap=True)
    deployment.copy_directory()
    return deployment, settings


@app.command()
def init(db: str | None = DbOption) -> None:
    """Create the database (every shard's), the log's signing key and the operator token
    (printed once)."""
    deployment, settings = open_deployment(db)
    names = ", ".join(deployment.contexts) if deployment.sharded else db or settings.db
    err.print(f"database ready: {names}")
    deployment.close()


@app.command()
def serve(
    db: str | None = DbOption,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    workers: int = typer.Option(
        1,
        min=1,
        max=serve_workers.MAX_WORKERS,
        help="processes answering on the address, sharing the database (one per core is "
        "sensible; each keeps its own event streams and rate-limit counts)",
    ),
) -> None:
    """Serve the API (and create the database and operator token if they do not exist)."""
    import uvicorn

    from deconfliction.api.app import serving_app

    deployment, settings = open_deployment(db)
    err.print(
        f"serving on http://{host}:{port}  (web console: http://{host}:{port}/, "
        f"API docs: http://{host}:{port}/docs)"
        + (f" with {workers} processes" if workers > 1 else "")
    )
    if workers > 1:
        deployment.close()  # each worker opens its own
        serve_workers.serve(db, host, port, workers)
        return
    uvicorn.run(serving_app(deployment, settings), host=host, port=port, log_level="info")


@app.command()
def demo(
    directory: str = typer.Option("demo", "--dir", help="where the demo database is made afresh"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    no_serve: bool = typer.Option(False, "--no-serve", help="build the database and stop"),
) -> None:
    """A fresh demo: two armed forces and an aid agency over northern Syria, then serve it."""
    import uvicorn

    from deconfliction.api.app import serving_app
    from deconfliction.cli.demo import build_demo, print_guide

    scenario = build_demo(directory)
    print_guide(scenario, f"http://{host}:{port}")
    if not no_serve:
        uvicorn.run(
            serving_app(scenario.ctx, Settings(db=scenario.url)),
            host=host,
            port=port,
            log_level="warning",
        )


@app.command()
def settings() -> None:
    """The settings, their environment variables, values and meaning (tokens hidden)."""
    current = settings_or_fail()
    for name, env in ENV_NAMES.items():
        value = getattr(current, name)
        if value is None:
            shown: object = "(unset)"
        else:
            shown = "(set)" if name == "operator_token" and value else value
        out.print(f"[bold]{env}[/] = {shown}\n    {DESCRIPTIONS[name]}", highlight=False)


app.command()(client.notify)
app.command()(client.notifications)
app.command()(client.conflicts)
app.command()(client.ack)
app.command()(line.send)
app.command()(line.inbox)
app.command()(line.status)
app.command()(line.keygen)
app.command("register-key")(line.register_key)
app.command("verify-message")(line.verify_message)
app.command()(watch.watch)
app.add_typer(incidents.app, name="incident")
app.add_typer(client.operator, name="operator")
app.add_typer(proof.receipt, name="receipt")
app.add_typer(proof.audit, name="audit")
app.add_typer(proof.log, name="log")
app.add_typer(shards.app, name="shards")
app.command()(transfer.migrate)
app.command()(transfer.export)
app.command("import")(transfer.import_deployment)
