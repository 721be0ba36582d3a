"""Client commands: notify, list notifications and conflicts, acknowledge; operator set-up."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from deconfliction.cli.http import TokenOption, UrlOption, call, fail
from deconfliction.interop.geojson import notification_from_geojson

out = Console()
MAX_FILE_BYTES = 1_048_576


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data))


def _conflict_rows(conflicts: list[dict[str, Any]]) -> Table:
    table = Table(title="conflicts", caption="--json shows notification ids, areas and contacts")
    table.add_column("conflict", no_wrap=True)
    table.add_column("state")
    table.add_column("with")
    table.add_column("their overlap (UTC)")
    table.add_column("acked")
    for c in conflicts:
        other = c.get("other_party") or c.get("party_b") or {}
        sides = c["overlaps"][0] if c.get("overlaps") else {}
        part = sides.get("other") or sides.get("b") or {}
        window = f"{part.get('start', '')[5:16]} → {part.get('end', '')[5:16]}" if part else ""
        table.add_row(
            c["id"],
            c["state"],
            other.get("code", ""),
            window,
            "yes" if c.get("acknowledged") else "no",
        )
    return table


def notify(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="GeoJSON Feature/FeatureCollection, or a notification JSON",
    ),
    mechanism: str = typer.Option(..., "--mechanism", "-m", help="mechanism id"),
    kind: str | None = typer.Option(None, help="air, ground, maritime, uas or site"),
    title: str | None = typer.Option(None, help="title (else from the file's properties)"),
    reference: str | None = typer.Option(None, help="your own reference"),
    idempotency_key: str | None = typer.Option(None, help="retry-safe key for this submission"),
    as_json: bool = typer.Option(False, "--json", help="print the full JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Notify planned activity from a file; prints the conflicts found at once."""
    if file.stat().st_size > MAX_FILE_BYTES:
        fail(f"{file} is larger than {MAX_FILE_BYTES} bytes")
    try:
        document = json.loads(file.read_text())
        body = notification_from_geojson(document, kind=kind, title=title, reference=reference)
    except (ValueError, AttributeError) as error:
        fail(f"{file}: {error}")
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    view = call(
        "POST", url, token, f"/v1/mechanisms/{mechanism}/notifications", json=body, headers=headers
    )
    if as_json:
        _print_json(view)
        return
    late = " [bold yellow](LATE: less than the minimum notice)[/]" if view["late"] else ""
    out.print(
        f"notified [bold]{view['id']}[/] version {view['version']}, state {view['state']}{late}"
    )
    conflicts = [c for c in view["conflicts"] if c["state"] == "open"]
    if conflicts:
        out.print(f"[bold red]{len(conflicts)} conflict(s)[/]")
        out.print(_conflict_rows(conflicts))
    else:
        out.print("no conflicts")


def notifications(
    mechanism: str = typer.Option(..., "--mechanism", "-m", help="mechanism id"),
    state: str | None = typer.Option(None, help="notified, active, ended or cancelled"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """List the notifications you may see in a mechanism."""
    views = call(
        "GET",
        url,
        token,
        f"/v1/mechanisms/{mechanism}/notifications",
        params={"state": state, "limit": 1000},
    )
    if as_json:
        _print_json(views)
        return
    table = Table(
        title="notifications",
        caption="others' notifications show only what the "
        "mechanism's disclosure policy lets you see",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("party")
    table.add_column("kind")
    table.add_column("title")
    table.add_column("state")
    table.add_column("window (UTC)", no_wrap=True)
    for v in views:
        whole = v["disclosure"] == "whole"
        window = f"{v['start'][5:16]}→{v['end'][5:16]}" if whole else "see conflicts"
        state = v["state"] + (" LATE" if v.get("late") else "")
        table.add_row(
            v["id"],
            v["party"]["code"],
            v.get("kind", "—"),
            v["title"] if whole else "(overlap only)",
            state,
            window,
        )
    out.print(table)


def conflicts(
    mechanism: str | None = typer.Option(None, "--mechanism", "-m", help="mechanism id"),
    state: str | None = typer.Option(None, help="open or resolved"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """List the conflicts that involve you."""
    views = call(
        "GET",
        url,
        token,
        "/v1/conflicts",
        params={"mechanism": mechanism, "state": state, "limit": 1000},
    )
    if as_json:
        _print_json(views)
        return
    out.print(_conflict_rows(views))


class Subject(StrEnum):
    notification = "notification"
    conflict = "conflict"
    message = "message"


PREFIXES = {"ntf": Subject.notification, "cfl": Subject.conflict, "msg": Subject.message}


def ack(
    first: str = typer.Argument(
        ...,
        metavar="ID|KIND",
        help="the id (ntf_…, cfl_… or msg_…), or its kind (notification, conflict, message)",
    ),
    second: str | None = typer.Argument(
        None, metavar="ID", help="the id, when the first argument is its kind"
    ),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Acknowledge a notification, conflict or message: you received and read it.

    It never means approved or safe. `ack ID` tells the kind by the id's prefix (ntf_, cfl_,
    msg_); `ack conflict ID` also works.
    """
    if second is None:
        subject_id = first
        subject = PREFIXES.get(first.split("_", 1)[0])
        if subject is None:
            fail(
                f"{first}: not an id of a notification (ntf_…), conflict (cfl_…) or message (msg_…)"
            )
    else:
        subject_id = second
        try:
            subject = Subject(first)
        except ValueError:
            fail(f"{first}: the kind is notification, conflict or message")
    result = call("POST", url, token, f"/v1/{subject.value}s/{subject_id}/acknowledge")
    out.print(
        f"acknowledged {subject.value} {subject_id} (version {result['version']}) at "
        f"{result['acknowledged_at']}: received and read"
    )


operator = typer.Typer(
    help="Operator set-up over HTTP: mechanisms, parties, members, tokens.", no_args_is_help=True
)


@operator.command("mechanism")
def create_mechanism(
    name: str = typer.Argument(..., help="the mechanism's name"),
    rules: str | None = typer.Option(None, help="rules as JSON, e.g. '{\"time_buffer_min\": 30}'"),
    shard: str | None = typer.Option(
        None, help="over several databases: the shard to hold it (default: the home shard)"
    ),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Create a mechanism."""
    try:
        parsed = json.loads(rules) if rules else None
    except ValueError as error:
        fail(f"--rules is not JSON: {error}")
    body = {"name": name, "rules": parsed, **({} if shard is None else {"shard": shard})}
    _print_json(call("POST", url, token, "/v1/mechanisms", json=body))


@operator.command("party")
def create_party(
    name: str = typer.Argument(...),
    code: str = typer.Argument(..., help="short upper-case code, e.g. NORTH"),
    contact: str = typer.Option("", help="how the other side reaches this party"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Create a party."""
    _print_json(
        call(
            "POST", url, token, "/v1/parties", json={"name": name, "code": code, "contact": contact}
        )
    )


@operator.command("member")
def add_member(
    mechanism: str = typer.Argument(..., help="mechanism id"),
    party: str = typer.Argument(..., help="party id"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Add a party to a mechanism."""
    _print_json(
        call("POST", url, token, f"/v1/mechanisms/{mechanism}/members", json={"party_id": party})
    )


@operator.command("token")
def create_token(
    party: str = typer.Argument(..., help="party id"),
    label: str = typer.Option("", help="whose token this is"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Create a token for a party; it is printed once."""
    _print_json(call("POST", url, token, f"/v1/parties/{party}/tokens", json={"label": label}))


@operator.command("revoke")
def revoke_token(
    token_id: str = typer.Argument(..., help="token id (tok_…), not the token itself"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Revoke a token."""
    _print_json(call("DELETE", url, token, f"/v1/tokens/{token_id}"))


@operator.command("mechanisms")
def list_mechanisms(url: str = UrlOption, token: str = TokenOption) -> None:
    """List mechanisms."""
    _print_json(call("GET", url, token, "/v1/mechanisms"))


@operator.command("parties")
def list_parties(url: str = UrlOption, token: str = TokenOption) -> None:
    """List parties."""
    _print_json(call("GET", url, token, "/v1/parties"))
