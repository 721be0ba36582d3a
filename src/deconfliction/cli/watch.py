"""`deconfliction watch`: the live line in a terminal — events as they arrive, and your pending
inbox with a countdown to each deadline (overdue in red).

The stream is read on a thread; when the connection drops it reconnects with `Last-Event-ID`, so
nothing is missed or shown twice, backing off (0.5 s, 1 s, 2 s … 30 s) and giving up after
`--retries` failures in a row. A refused token ends the watch at once.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from deconfliction.cli.http import TokenOption, UrlOption, fail

out = Console()

INBOX_EVERY_S = 10.0  # the inbox is re-read this often, and soon after events arrive
INBOX_AFTER_EVENTS_S = 1.0
MAX_BACKOFF_S = 30.0
READ_TIMEOUT_S = 45.0  # the server sends a keep-alive every 15 s: silence this long is a dead line


class Refused(Exception):
    """The server refused the request (bad token, bad cursor): retrying will not help."""


# ---------------------------------------------------------------- the stream


@dataclass
class Block:
    """One server-sent event block: what its fields said (`data` None for a comment or an id)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None


def sse_blocks(lines: Iterable[str]) -> Iterator[Block]:
    """Parse server-sent event lines (as `httpx.Response.iter_lines` gives them) into blocks."""
    block, seen = Block(), False
    data: list[str] = []
    for line in lines:
        if line == "":
            if seen:
                block.data = "\n".join(data) if data else None
                yield block
            block, data, seen = Block(), [], False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        seen = True
        if name == "data":
            data.append(value)
        elif name == "id":
            block.id = value
        elif name == "event":
            block.event = value
        elif name == "retry" and value.isdigit():
            block.retry = int(value)


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}"
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"


@dataclass
class Follower:
    """Follows `GET /v1/events`, reconnecting with the last id seen; events go to `deliver`."""

    url: str
    token: str
    last_id: str | None  # as the server gave it: an event id, or a cursor over shards
    deliver: Callable[[dict[str, Any]], None]
    retries: int = 8
    status: Callable[[str], None] = lambda message: None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Until stopped; raises Refused, or httpx.HTTPError after too many failures."""
        failures = 0
        while not self.stop.is_set():
            try:
                self._follow()
                failures = 0  # the server ended a stream it had opened: reconnect at once
                self.status("the stream ended; reconnecting")
                continue
            except Refused:
                raise
            except (httpx.HTTPError, _Busy) as error:
                failures += 1
                if failures > self.retries:
                    raise httpx.TransportError(
                        f"gave up after {self.retries} reconnection attempts: {error}"
                    ) from error
                wait = getattr(error, "retry_after", None) or min(
                    MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1)
                )
                wait *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
                self.status(
                    f"disconnected ({error}); retry {failures}/{self.retries} in {wait:.1f} s"
                )
                self.stop.wait(wait)

    def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        timeout = httpx.Timeout(10.0, read=READ_TIMEOUT_S)
        endpoint = self.url.rstrip("/") + "/v1/events"
        with httpx.stream("GET", endpoint, headers=headers, timeout=timeout) as response:
            if response.status_code == 503:
                response.read()
                raise _Busy(_problem(response), response.headers.get("retry-after"))
            if response.status_code != 200:
                response.read()
                raise Refused(_problem(response))
            self.status("connected")
            for block in sse_blocks(response.iter_lines()):
                if block.id:
                    self.last_id = block.id
                if block.data is not None:
                    self.deliver(json.loads(block.data))
                if self.stop.is_set():
                    return


class _Busy(Exception):
    def __init__(self, message: str, retry_after: str | None) -> None:
        super().__init__(message)
        self.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None


# ---------------------------------------------------------------- what is shown


def _parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def countdown(deadline: str, now: datetime) -> tuple[str, bool]:
    """How long until the deadline ("14m 05s"), or how long overdue; and whether it is overdue."""
    seconds = int((_parse(deadline) - now).total_seconds())
    left = abs(seconds)
    days, rest = divmod(left, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours:02d}h"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    else:
        text = f"{minutes}m {secs:02d}s"
    return (f"overdue {text}", True) if seconds < 0 else (f"in {text}", False)


def inbox_table(items: list[dict[str, Any]] | None, note: str, now: datetime) -> Table:
    table = Table(title="to acknowledge (received and read)", caption=note or None)
    table.add_column("deadline", no_wrap=True)
    table.add_column("state")
    table.add_column("subject", no_wrap=True)
    table.add_column("version", justify="right")
    table.add_column("mechanism", no_wrap=True)
    for item in sorted(items or [], key=lambda i: i["deadline"]):
        text, late = countdown(item["deadline"], now)
        late = late or item["state"] == "overdue"
        style = "bold red" if late else ""
        table.add_row(
            Text(text, style=style),
            Text(item["state"], style=style),
            f"{item['subject_type']} {item['subject_id']}",
            str(item["version"]),
            item["mechanism_id"],
        )
    return table


def event_line(event: dict[str, Any]) -> str:
    return (
        f"#{event['id']}  {event['created_at']}  {event['type']}  {event['subject_id']}  "
        f"{event['mechanism_id']}"
    )


def events_table(events: Iterable[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("id", justify="right")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event")
    table.add_column("subject", no_wrap=True)
    table.add_column("mechanism", no_wrap=True)
    for e in events:
        style = "bold" if e["type"].endswith(("detected", "escalated", "reminder")) else ""
        table.add_row(
            str(e["id"]),
            e["created_at"][:19].replace("T", " "),
            Text(e["type"], style=style),
            e["subject_id"],
            e["mechanism_id"],
        )
    return table


# ---------------------------------------------------------------- the inbox


def fetch_inbox(
    url: str, token: str, mechanism: str | None
) -> tuple[list[dict[str, Any]] | None, str]:
    """The pending items (None and a note when they cannot be read; the watch goes on)."""
    params: dict[str, str | int] = {"state": "pending", "limit": 1000}
    if mechanism:
        params["mechanism_id"] = mechanism
    try:
        response = httpx.get(
            url.rstrip("/") + "/v1/inbox",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
    except httpx.HTTPError as error:
        return None, f"inbox not read: {error}"
    if response.status_code != 200:
        return None, f"inbox not read: {_problem(response)}"
    items = response.json()
    return items, f"{len(items)} pending"


def _page(url: str, token: str, after: str, limit: int) -> dict[str, Any]:
    try:
        response = httpx.get(
            url.rstrip("/") + "/v1/events",
            params={"after": after, "limit": limit},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30.0,
        )
    except httpx.HTTPError as error:
        fail(f"cannot reach {url}: {error}")
    if response.status_code != 200:
        fail(_problem(response))
    page: dict[str, Any] = response.json()
    return page


# ---------------------------------------------------------------- the command


def watch(
    mechanism: str | None = typer.Option(
        None, "--mechanism", "-m", help="only this mechanism's events and inbox items"
    ),
    after: str | None = typer.Option(
        None,
        "--after",
        help="start after this event id (0: every stored event; over several databases, the "
        "cursor a page gave, e.g. home:12,east:5)",
    ),
    once: bool = typer.Option(False, "--once", help="print one snapshot and exit"),
    limit: int = typer.Option(
        20, "--limit", min=1, max=1000, help="events shown (with --once: fetched after --after)"
    ),
    plain: bool = typer.Option(
        False, "--plain", help="a line per event instead of a live board (always so when piped)"
    ),
    retries: int = typer.Option(8, "--retries", min=0, help="reconnection attempts in a row"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Watch the line live: new events, and your pending items with countdowns (overdue in red).

    Acknowledge an item with `deconfliction ack`: it means received and read, never approved.
    """
    wanted: Callable[[dict[str, Any]], bool] = lambda e: (  # noqa: E731
        mechanism is None or e["mechanism_id"] == mechanism
    )
    if once:
        _snapshot(url, token, mechanism, after or "0", limit, wanted)
        return
    _live(url, token, mechanism, after, limit, wanted, plain or not out.is_terminal, retries)


def _snapshot(
    url: str,
    token: str,
    mechanism: str | None,
    after: str,
    limit: int,
    wanted: Callable[[dict[str, Any]], bool],
) -> None:
    page = _page(url, token, after, limit)
    items, note = fetch_inbox(url, token, mechanism)
    now = datetime.now(UTC)
    shown = [e for e in page["events"] if wanted(e)]
    out.print(events_table(shown, f"events after {after}"))
    more = len(page["events"]) == limit
    out.print(
        f"last event id {page['last_event_id']}"
        + (f" — more after it: --after {page['last_event_id']}" if more else ""),
        highlight=False,
    )
    out.print(inbox_table(items, note, now))


def _live(
    url: str,
    token: str,
    mechanism: str | None,
    after: str | None,
    limit: int,
    wanted: Callable[[dict[str, Any]], bool],
    plain: bool,
    retries: int,
) -> None:
    inbound: queue.Queue[tuple[str, Any]] = queue.Queue()
    follower = Follower(
        url,
        token,
        after,
        deliver=lambda event: inbound.put(("event", event)),
        retries=retries,
        status=lambda message: inbound.put(("status", message)),
    )

    def follow() -> None:
        try:
            follower.run()
        except Exception as error:  # noqa: BLE001 - handed to the main thread, which reports it
            inbound.put(("error", error))

    threading.Thread(target=follow, name="event-stream", daemon=True).start()
    recent: deque[dict[str, Any]] = deque(maxlen=limit)
    items, note = fetch_inbox(url, token, mechanism)
    next_inbox = time.monotonic() + INBOX_EVERY_S
    status = "connecting"
    shown_inbox: Any = None

    def board() -> Group:
        last = "…" if follower.last_id is None else follower.last_id
        header = Text(f"{url} — {status} — last event id {last} — Ctrl-C to stop", style="dim")
        return Group(
            header, inbox_table(items, note, datetime.now(UTC)), events_table(recent, "events")
        )

    def print_inbox() -> None:
        nonlocal shown_inbox
        summary = [(i["subject_id"], i["state"], i["deadline"]) for i in items or []]
        if summary == shown_inbox:
            return
        shown_inbox = summary
        if items is None:
            out.print(note, highlight=False)
        for item in sorted(items or [], key=lambda i: i["deadline"]):
            text, late = countdown(item["deadline"], datetime.now(UTC))
            line = (
                f"inbox  {item['subject_type']} {item['subject_id']}  {item['state']}  "
                f"due {item['deadline']} ({text})"
            )
            out.print(line, style="bold red" if late else None, highlight=False)

    live = None if plain else Live(board(), console=out, refresh_per_second=2)
    try:
        if live is not None:
            live.start()
        else:
            out.print(f"watching {url} (Ctrl-C to stop)", highlight=False)
            print_inbox()
        while True:
            try:
                kind, value = inbound.get(timeout=1.0)
            except queue.Empty:
                kind, value = "tick", None
            if kind == "error":
                message = str(value)
                if live is not None:
                    live.stop()
                    live = None
                fail(message)
            if kind == "status":
                status = value
                if plain and value != "connected":
                    out.print(value, highlight=False, style="dim")
            if kind == "event" and wanted(value):
                recent.append(value)
                if plain:
                    out.print(event_line(value), highlight=False)
                next_inbox = min(next_inbox, time.monotonic() + INBOX_AFTER_EVENTS_S)
            if time.monotonic() >= next_inbox:
                items, note = fetch_inbox(url, token, mechanism)
                next_inbox = time.monotonic() + INBOX_EVERY_S
                if plain:
                    print_inbox()
            if live is not None:
                live.update(board())
    except KeyboardInterrupt:
        pass
    finally:
        follower.stop.set()
        if live is not None:
            live.stop()
