"""Line commands: send messages (optionally signed), the inbox, line status, signing keys, and
offline verification of a signed message.

"Acknowledged" means received and read — never approved, never safe.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from nacl.signing import SigningKey
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deconfliction.cli.http import TokenOption, UrlOption, call, fail
from deconfliction.domain.areas import parse_area
from deconfliction.errors import InvalidInput
from deconfliction.interop.geojson import _area_from_feature
from deconfliction.services import signing

out = Console()
MAX_FILE_BYTES = 1_048_576
AREA_TYPES = ("Polygon", "Circle", "Corridor")


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data))


def _read_file(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            fail(f"{path}: the {what} is larger than {MAX_FILE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read the {what} {path}: {error}")


# Keys.


def _load_seed(path: Path) -> SigningKey:
    """The signing key from a file holding the base64 of a 32-byte Ed25519 private seed."""
    text = _read_file(path, "private key file").strip()
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fail(f"{path}: not base64 (expected the base64 of a 32-byte Ed25519 private seed)")
    if len(seed) != 32:
        fail(f"{path}: holds {len(seed)} bytes, not a 32-byte Ed25519 private seed")
    return SigningKey(seed)


def _public_key(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode("ascii")


def keygen(
    file: Path = typer.Argument(..., dir_okay=False, help="where to write the new private seed"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
) -> None:
    """Make a new Ed25519 signing key: private seed to FILE, public key printed.

    FILE gets the base64 of the 32-byte private seed, mode 0600. Register the public key with
    `deconfliction register-key FILE`.
    """
    if file.exists() and not force:
        fail(f"{file} exists; choose another file or pass --force")
    key = SigningKey.generate()
    seed = base64.b64encode(bytes(key)).decode("ascii") + "\n"
    try:
        if force and file.exists():
            file.unlink()
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(seed)
        os.chmod(file, 0o600)
    except OSError as error:
        fail(f"cannot write {file}: {error}")
    typer.echo(f"private seed written to {file} (mode 0600): keep it secret", err=True)
    out.print(_public_key(key), highlight=False, soft_wrap=True)


def register_key(
    file: Path = typer.Argument(..., dir_okay=False, help="the private seed file from keygen"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Register (or replace) your party's public key for signed messages.

    The public key is derived from the private seed in FILE; only the public key is sent.
    """
    public = _public_key(_load_seed(file))
    result = call("PUT", url, token, "/v1/keys/me", json={"public_key": public})
    if as_json:
        _print_json(result)
        return
    out.print(
        f"registered {result['algorithm']} public key {result['public_key']} for party "
        f"{result['party_id']} at {result['registered_at']}",
        highlight=False,
    )


# Sending.


def _attachment(path: Path) -> dict[str, Any]:
    """An area object (Polygon, Circle, Corridor) from a file: the object itself, a GeoJSON
    Feature (a Point with a `radius` property is a circle; a LineString with `half_width` a
    corridor) or a FeatureCollection of exactly one Feature."""
    try:
        document = json.loads(_read_file(path, "attachment"))
    except ValueError as error:
        fail(f"{path}: not JSON: {error}")
    if not isinstance(document, dict):
        fail(f"{path}: must hold a JSON object")
    kind = document.get("type")
    if kind in AREA_TYPES:
        return document
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or len(features) != 1:
            fail(f"{path}: an attachment is one area: give a FeatureCollection of one Feature")
        document = features[0]
        kind = document.get("type") if isinstance(document, dict) else None
    if kind != "Feature":
        fail(f"{path}: must be a Polygon, Circle or Corridor object, or a GeoJSON Feature")
    try:
        return _area_from_feature(document, str(path))
    except (ValueError, AttributeError) as error:
        fail(str(error))


def signed_content(mechanism: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the server signs over for this request body (services.messages.send): recipients
    sorted, reference ids sorted and unique (incidents only when cited), the attachment as the
    server normalises it."""
    references = body.get("references") or {}
    attachment = body.get("attachment")
    if attachment is not None:
        try:
            attachment = parse_area(attachment, "attachment").geojson
        except InvalidInput as error:
            fail(
                "the attachment is not valid: "
                + "; ".join(f"{e.field}: {e.reason}" for e in error.errors)
            )
    return {
        "mechanism_id": mechanism,
        "to": sorted(body["to"]),
        "type": body["type"],
        "priority": body.get("priority", "routine"),
        "body": body["body"],
        "references": {
            kind: sorted(set(references.get(kind, [])))
            for kind in ("notifications", "conflicts", "incidents")
            if kind != "incidents" or "incidents" in references
        },
        "attachment": attachment,
        "in_reply_to": body.get("in_reply_to"),
    }


def sign(key: SigningKey, content: dict[str, Any]) -> str:
    """The base64 detached Ed25519 signature over the content's RFC 8785 canonical JSON."""
    return base64.b64encode(key.sign(signing.canonical(content)).signature).decode("ascii")


def send(
    mechanism: str = typer.Argument(..., help="mechanism id"),
    to: list[str] = typer.Option(..., "--to", help="a recipient party id (repeat for more)"),
    kind: str = typer.Option(
        ..., "--type", help="notice, query, request-change, answer, incident or text"
    ),
    body: str | None = typer.Option(None, "--body", help="the message text"),
    body_file: Path | None = typer.Option(
        None, "--body-file", dir_okay=False, help="read the message text from this file"
    ),
    urgent: bool = typer.Option(False, "--urgent", help="priority urgent (shorter deadline)"),
    ref_notification: list[str] = typer.Option(
        [], "--ref-notification", help="a notification id it refers to (repeatable)"
    ),
    ref_conflict: list[str] = typer.Option(
        [], "--ref-conflict", help="a conflict id it refers to (repeatable)"
    ),
    ref_incident: list[str] = typer.Option(
        [], "--ref-incident", help="an incident id it answers about (repeatable)"
    ),
    reply_to: str | None = typer.Option(None, "--reply-to", help="the message this answers"),
    deadline: str | None = typer.Option(
        None, "--deadline", help="acknowledge by (RFC 3339); default from the mechanism's rules"
    ),
    attachment: Path | None = typer.Option(
        None,
        "--attachment",
        dir_okay=False,
        help="an area: GeoJSON Feature (Polygon; Point + radius; LineString + half_width) "
        "or a Polygon/Circle/Corridor object",
    ),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", dir_okay=False, help="sign with the private seed in this file"
    ),
    idempotency_key: str | None = typer.Option(None, help="retry-safe key for this message"),
    as_json: bool = typer.Option(False, "--json", help="print the full JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Send a message on the line; each recipient must acknowledge it (received and read)."""
    if (body is None) == (body_file is None):
        fail("give the text with exactly one of --body or --body-file")
    text = _read_file(body_file, "body file") if body_file is not None else str(body)
    request: dict[str, Any] = {
        "to": list(to),
        "type": kind,
        "body": text,
        "priority": "urgent" if urgent else "routine",
    }
    if ref_notification or ref_conflict or ref_incident:
        request["references"] = {
            "notifications": list(ref_notification),
            "conflicts": list(ref_conflict),
            **({"incidents": list(ref_incident)} if ref_incident else {}),
        }
    if attachment is not None:
        request["attachment"] = _attachment(attachment)
    if reply_to is not None:
        request["in_reply_to"] = reply_to
    if deadline is not None:
        request["ack_deadline"] = deadline
    if sign_key is not None:
        key = _load_seed(sign_key)
        request["signature"] = sign(key, signed_content(mechanism, request))
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    view = call(
        "POST", url, token, f"/v1/mechanisms/{mechanism}/messages", json=request, headers=headers
    )
    if as_json:
        _print_json(view)
        return
    deadlines = sorted({r["deadline"] for r in view.get("recipients", [])})
    due = f"; acknowledge by {', '.join(deadlines)}" if deadlines else ""
    signed = " (signed)" if view.get("signature") else ""
    out.print(
        f"sent [bold]{view['id']}[/]{signed} {view['priority']} {view['type']} to "
        f"{', '.join(view['to'])}{due}",
        highlight=False,
    )


# The inbox and the line's status.


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def countdown(seconds: float) -> str:
    """A short duration: 45s, 12m 05s, 3h 07m, 2d 04h."""
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def time_left(item: dict[str, Any], now: datetime) -> Text:
    """Time to the deadline; overdue in red; nothing once acknowledged or closed."""
    due = _instant(item.get("deadline"))
    if due is None or item["state"] in ("acknowledged", "closed"):
        return Text("—")
    left = (due - now).total_seconds()
    if item["state"] == "overdue" or left < 0:
        return Text(f"overdue by {countdown(left)}", style="bold red")
    return Text(countdown(left), style="yellow" if left < 300 else "")


STATE_STYLES = {"overdue": "bold red", "acknowledged": "green", "pending": "yellow"}


def inbox(
    mechanism: str | None = typer.Option(None, "--mechanism", "-m", help="mechanism id"),
    state: str = typer.Option("pending", help="pending, overdue or all"),
    limit: int = typer.Option(100, help="at most this many items"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """What your party must acknowledge — messages, conflicts, notifications — by deadline."""
    items = call(
        "GET",
        url,
        token,
        "/v1/inbox",
        params={"state": state, "mechanism_id": mechanism, "limit": limit},
    )
    if as_json:
        _print_json(items)
        return
    now = datetime.now(UTC)
    table = Table(
        title=f"inbox ({state})",
        caption="acknowledge with `deconfliction ack ID`: received and read, never approval",
    )
    table.add_column("subject", no_wrap=True)
    table.add_column("type")
    table.add_column("deadline (UTC)", no_wrap=True)
    table.add_column("time left", no_wrap=True)
    table.add_column("state")
    for item in items:
        due = _instant(item.get("deadline"))
        table.add_row(
            item["subject_id"],
            item["subject_type"],
            due.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if due else "—",
            time_left(item, now),
            Text(item["state"], style=STATE_STYLES.get(item["state"], "")),
        )
    out.print(table)
    if not items:
        out.print("nothing to acknowledge")


def _ago(text: str | None, now: datetime) -> str:
    at = _instant(text)
    if at is None:
        return "never"
    return f"{at.strftime('%Y-%m-%d %H:%M:%S')} ({countdown((now - at).total_seconds())} ago)"


def status(
    mechanism: str = typer.Argument(..., help="mechanism id"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """The line's status: each member's last contact, silence, overdue items, webhook."""
    result = call("GET", url, token, f"/v1/mechanisms/{mechanism}/status")
    if as_json:
        _print_json(result)
        return
    now = _instant(result.get("at")) or datetime.now(UTC)
    table = Table(
        title=f"line status of {result['mechanism_id']} at {result['at']}",
        caption=f"silent: not heard from for over {result['silence_alarm_min']} min",
    )
    table.add_column("member")
    table.add_column("last contact (UTC)", no_wrap=True)
    table.add_column("silent")
    table.add_column("overdue items", justify="right")
    table.add_column("webhook reachable")
    for member in result["members"]:
        party = member["party"]
        hook = member.get("webhook")
        reachable = (
            Text("no webhook", style="dim")
            if hook is None
            else Text("yes", style="green")
            if hook.get("reachable")
            else Text("no", style="bold red")
        )
        overdue = int(member.get("overdue_items", 0))
        table.add_row(
            f"{party.get('code', '')} {party.get('name', '')}".strip() or party.get("id", ""),
            _ago(member.get("last_contact_at"), now),
            Text("SILENT", style="bold red") if member["silent"] else Text("no", style="green"),
            Text(str(overdue), style="bold red" if overdue else ""),
            reachable,
        )
    out.print(table)


# Offline verification.


def verify_message(
    file: Path = typer.Argument(
        ..., dir_okay=False, help="a message as JSON, from GET /v1/messages/{id}"
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        help="the sender's base64 public key, from a channel you trust (default: the key the "
        "service recorded with the message)",
    ),
) -> None:
    """Verify a signed message offline: exit 0 if it verifies, else 1 with the problems."""
    try:
        message = json.loads(_read_file(file, "message file"))
    except ValueError as error:
        fail(f"{file}: not JSON: {error}")
    if not isinstance(message, dict):
        fail(f"{file}: must hold a message object")
    problems = signing.verify_offline(message, key)
    if problems:
        typer.echo(f"NOT verified: {file}", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1)
    used = key or message["signature"]["public_key"]
    source = "the given key" if key else "the key the service recorded (pass --key to pin it)"
    out.print(
        f"verified: message {message.get('id', '?')} from {message.get('from', '?')} is signed "
        f"by {used} ({source})",
        highlight=False,
    )
