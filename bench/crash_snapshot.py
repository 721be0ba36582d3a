"""What the server holds once the crash harness's load has stopped (bench/crash.py), read over
its API as the operator and as each party: what the checks compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from crash_setup import LIST_LIMIT, OPERATOR, api_client, read_events
from crash_state import Run

from deconfliction.domain.rules import Rules, parse_rules


@dataclass
class Snapshot:
    """The server's state after the load, read over the API."""

    rules: dict[str, Rules] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # GET /v1/conflicts?state=open per mechanism; None when it holds more than one page
    open_listed: dict[str, set[str] | None] = field(default_factory=dict)
    revisions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # the senders' views
    received: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # acked ones
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per party
    operator_events: list[dict[str, Any]] = field(default_factory=list)


async def _page(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[Any] | None:
    """A listing, or None if it may hold more than the one page the API gives."""
    response = await client.get(path, params={**params, "limit": LIST_LIMIT})
    response.raise_for_status()
    items: list[Any] = response.json()
    return items if len(items) < LIST_LIMIT else None


async def _listing(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[Any]:
    """A listing that must fit one page (the load is capped so that it does)."""
    items = await _page(client, path, params)
    if items is None:
        raise SystemExit(f"{path} {params} has {LIST_LIMIT}+ items: lower the load")
    return items


async def take_snapshot(run: Run) -> Snapshot:
    """Everything the checks compare, read as the operator and as each party."""
    snap = Snapshot()
    url = run.crasher.url
    async with api_client(url, OPERATOR) as op:
        for mechanism in run.mechanisms:
            response = await op.get(f"/v1/mechanisms/{mechanism}")
            response.raise_for_status()
            snap.rules[mechanism] = parse_rules(response.json()["rules"])
            path = f"/v1/mechanisms/{mechanism}/notifications"
            for view in await _listing(op, path, {}):
                snap.notifications[view["id"]] = view
                snap.conflicts.update((c["id"], c) for c in view["conflicts"])
            params = {"mechanism": mechanism, "state": "open"}
            listed = await _page(op, "/v1/conflicts", params)
            snap.open_listed[mechanism] = None if listed is None else {c["id"] for c in listed}
        for view in snap.notifications.values():
            if view["version"] > 1:
                response = await op.get(f"/v1/notifications/{view['id']}/revisions")
                response.raise_for_status()
                snap.revisions[view["id"]] = response.json()
        snap.operator_events = await read_events(op)
    for party in run.parties:
        async with api_client(url, party.token) as client:
            snap.events[party.id] = await read_events(client)
            for mechanism in run.mechanisms:
                params = {"folder": "sent", "mechanism_id": mechanism}
                for message in await _listing(client, "/v1/messages", params):
                    snap.messages[message["id"]] = message
            acked = {
                a.subject_id
                for a in run.acks
                if a.party_id == party.id and a.subject_type == "message"
            }
            for message_id in sorted(acked):
                response = await client.get(f"/v1/messages/{message_id}")
                if response.status_code != 404:
                    response.raise_for_status()
                    snap.received[(party.id, message_id)] = response.json()
    return snap
