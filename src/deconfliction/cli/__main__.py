"""`python -m deconfliction.cli` is the `deconfliction` command."""

from deconfliction.cli.main import app

app()
