"""What the commands that open the database themselves share: the --db option and the settings."""

from __future__ import annotations

import typer
from rich.markup import escape

from deconfliction.cli.http import fail
from deconfliction.config import Settings

DbOption = typer.Option(
    None, "--db", help="database URL (default: $DECONFLICTION_DB or sqlite:///deconfliction.db)"
)


def settings_or_fail() -> Settings:
    """The settings from the environment; a bad one is a clear error and exit status 1."""
    try:
        return Settings.from_env()
    except ValueError as error:
        fail(escape(str(error)))
