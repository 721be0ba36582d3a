"""`deconfliction incident …`: report an incident, list and show them, review and close them,
and save an incident's verifiable report as JSON with a readable HTML page beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from deconfliction.cli.http import TokenOption, UrlOption, call, fail
from deconfliction.cli.incident_html import render, utc
from deconfliction.cli.line import _attachment, _print_json, _read_file

app = typer.Typer(
    help="Incidents: report one, follow it through review to its finding, save its report.",
    no_args_is_help=True,
)
out = Console()

KINDS = "strike, near-miss, airspace-infringement, interference, convoy-incident or other"
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
JsonOption = typer.Option(False, "--json", help="print the JSON response")


def _text(value: str | None, file: Path | None, what: str) -> str:
    """Text from exactly one of an option and a file."""
    if (value is None) == (file is None):
        fail(f"give the {what} with exactly one of --{what} or --{what}-file")
    return _read_file(file, f"{what} file") if file is not None else str(value)


def _codes(parties: list[dict[str, Any]]) -> str:
    return ", ".join(p.get("code", p.get("id", "?")) for p in parties)


def _summary(view: dict[str, Any]) -> str:
    return (
        f"[bold]{view['id']}[/] {view['kind']} at {utc(view['occurred_at'])}, {view['state']}; "
        f"parties involved: {_codes(view['involved_parties'])}"
    )


@app.command("new")
def new(
    mechanism: str = typer.Argument(..., help="mechanism id"),
    kind: str = typer.Option(..., "--kind", help=KINDS),
    occurred_at: str = typer.Option(
        ..., "--occurred-at", help="when it happened, RFC 3339 with an offset"
    ),
    place: Path = typer.Option(
        ...,
        "--place",
        dir_okay=False,
        help="where: a GeoJSON Feature (Polygon; Point + radius; LineString + half_width) or a "
        "Polygon/Circle/Corridor object",
    ),
    description: str | None = typer.Option(None, "--description", help="what happened"),
    description_file: Path | None = typer.Option(
        None, "--description-file", dir_okay=False, help="read the description from this file"
    ),
    notification: list[str] = typer.Option(
        [], "--notification", help="a notification involved (repeatable)"
    ),
    conflict: list[str] = typer.Option([], "--conflict", help="a conflict involved (repeatable)"),
    message: list[str] = typer.Option([], "--message", help="a message involved (repeatable)"),
    idempotency_key: str | None = typer.Option(None, help="retry-safe key for this report"),
    as_json: bool = JsonOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Report an incident; the other parties involved are told on the line."""
    body = {
        "kind": kind,
        "occurred_at": occurred_at,
        "place": _attachment(place),
        "description": _text(description, description_file, "description"),
        "notification_ids": list(notification),
        "conflict_ids": list(conflict),
        "message_ids": list(message),
    }
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    view = call(
        "POST", url, token, f"/v1/mechanisms/{mechanism}/incidents", json=body, headers=headers
    )
    if as_json:
        _print_json(view)
        return
    out.print(f"reported {_summary(view)}", highlight=False)


@app.command("list")
def list_(
    mechanism: str = typer.Argument(..., help="mechanism id"),
    state: str | None = typer.Option(None, help="reported, under_review or closed"),
    limit: int = typer.Option(100, help="at most this many incidents"),
    as_json: bool = JsonOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """The incidents your party is involved in (all for the operator), newest first."""
    views = call(
        "GET",
        url,
        token,
        f"/v1/mechanisms/{mechanism}/incidents",
        params={"state": state, "limit": limit},
    )
    if as_json:
        _print_json(views)
        return
    table = Table(title="incidents")
    for column in ("incident", "kind", "occurred (UTC)", "state", "reporter", "involved"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view["id"],
            view["kind"],
            utc(view["occurred_at"]),
            view["state"],
            view["reporter"]["code"],
            _codes(view["involved_parties"]),
        )
    out.print(table)


@app.command()
def show(
    incident: str = typer.Argument(..., help="incident id"),
    as_json: bool = JsonOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """One incident, with its description and links."""
    view = call("GET", url, token, f"/v1/incidents/{incident}")
    if as_json:
        _print_json(view)
        return
    out.print(_summary(view), highlight=False)
    out.print(f"reported by {view['reporter']['code']} at {utc(view['reported_at'])}")
    for name in ("notification_ids", "conflict_ids", "message_ids"):
        out.print(f"{name}: {', '.join(view[name]) or '—'}", highlight=False)
    out.print(view["description"], markup=False, highlight=False)
    if view["finding"] is not None:
        out.print(f"finding ({utc(view['closed_at'])}):", highlight=False)
        out.print(view["finding"], markup=False, highlight=False)


@app.command()
def review(
    incident: str = typer.Argument(..., help="incident id"),
    as_json: bool = JsonOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Take a reported incident under review (the operator or any party involved)."""
    view = call("POST", url, token, f"/v1/incidents/{incident}/review")
    if as_json:
        _print_json(view)
        return
    out.print(f"under review: {_summary(view)}", highlight=False)


@app.command()
def close(
    incident: str = typer.Argument(..., help="incident id"),
    finding: str | None = typer.Option(None, "--finding", help="the outcome of the review"),
    finding_file: Path | None = typer.Option(
        None, "--finding-file", dir_okay=False, help="read the finding from this file"
    ),
    as_json: bool = JsonOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Close an incident under review with its finding (the operator or the reporting party)."""
    text = _text(finding, finding_file, "finding")
    view = call("POST", url, token, f"/v1/incidents/{incident}/close", json={"finding": text})
    if as_json:
        _print_json(view)
        return
    out.print(f"closed: {_summary(view)}", highlight=False)


@app.command()
def report(
    incident: str = typer.Argument(..., help="incident id"),
    out_dir: Path = typer.Option(
        Path("."), "--out", file_okay=False, help="directory for the two files"
    ),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Save the incident's report: incident-ID.json to verify offline, incident-ID.html to read.

    Verify the JSON with `deconfliction receipt verify FILE --key KEY`.
    """
    bundle = call("GET", url, token, f"/v1/incidents/{incident}/report")
    name = str(bundle["incident"]["id"])
    if not SAFE_NAME.fullmatch(name):
        fail(f"the service answered with an incident id unfit for a file name: {name!r}")
    json_path = out_dir / f"incident-{name}.json"
    html_path = out_dir / f"incident-{name}.html"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False), encoding="utf-8")
        html_path.write_text(render(bundle, json_path.name), encoding="utf-8")
    except OSError as error:
        fail(f"cannot write the report to {out_dir}: {error}")
    out.print(
        f"{len(bundle['timeline'])} log entries with receipts against the head of size "
        f"{bundle['tree_heads'][0]['tree_size']}:\n  {json_path}\n  {html_path}",
        highlight=False,
    )
