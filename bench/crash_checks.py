"""The crash harness's checks after the load (bench/crash.py): notifications, acknowledgements,
messages, each party's stored event stream, its live stream and its webhooks, and the audit log.
The conflicts have their own (bench/crash_conflicts.py)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from crash_bodies import content_of
from crash_receiver import LiveStream, WebhookReceiver
from crash_setup import CLI, ROOT, Target, server_env
from crash_snapshot import Snapshot
from crash_state import Run, Tracked

CATCH_UP_S = 120.0  # the longest wait for the streams and webhooks to catch up at the end
AUDIT_TIMEOUT_S = 600.0


def check_notifications(run: Run, snap: Snapshot, figures: Counter[str]) -> list[str]:
    """Acknowledged notifications and versions are there as sent; nothing else is."""
    problems = []
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for view in snap.notifications.values():
        by_reference[view["reference"]].append(view)
    tracked = {t.reference: t for t in run.notifications}
    for reference, views in by_reference.items():
        if len(views) > 1:
            problems.append(f"{len(views)} notifications with reference {reference}")
        if reference not in tracked:
            problems.append(f"notification {views[0]['id']} ({reference}) was never sent")
    for t in run.notifications:
        views = by_reference.get(t.reference, [])
        figures[f"notifications {t.created}{' (sent again)' if t.retried else ''}"] += 1
        if t.created in ("refused", "unsent"):
            problems += [f"{t.reference} was {t.created} but exists as {v['id']}" for v in views]
        elif not views:
            if t.created == "acknowledged":
                problems.append(f"LOST: notification {t.id} ({t.reference}) acknowledged 201")
            figures["notifications unknown, absent"] += 1
        else:
            figures["notifications checked"] += 1
            figures[f"notifications {t.created}, present"] += 1
            problems += _check_notification(t, views[0], snap, figures)
    return problems


def _check_notification(
    t: Tracked, view: dict[str, Any], snap: Snapshot, figures: Counter[str]
) -> list[str]:
    problems = []
    name = f"notification {view['id']} ({t.reference})"
    if t.id is not None and view["id"] != t.id:
        problems.append(f"{name}: acknowledged as {t.id}")
    if (view["party"]["id"], view["mechanism_id"]) != (t.party_id, t.mechanism_id):
        problems.append(f"{name}: in the wrong party or mechanism")
    revisions = snap.revisions.get(view["id"], [{**view, "version": 1}])
    if [r["version"] for r in revisions] != list(range(1, view["version"] + 1)):
        problems.append(f"{name}: revisions {[r['version'] for r in revisions]}")
    if content_of(revisions[-1]) != content_of(view):
        problems.append(f"{name}: its last revision is not what it says now")
    for revision in revisions:
        figures["versions checked"] += 1
        attempts = t.attempts.get(revision["version"], [])
        acknowledged = [a.body for a in attempts if a.acknowledged]
        content = content_of(revision)
        if acknowledged and content != content_of(acknowledged[-1]):
            problems.append(f"{name}: version {revision['version']} is not what was acknowledged")
        elif not any(content == content_of(a.body) for a in attempts):
            problems.append(f"{name}: version {revision['version']} is nothing that was sent")
    acknowledged_versions = [v for v, a in t.attempts.items() if any(x.acknowledged for x in a)]
    if max(acknowledged_versions, default=0) > view["version"]:
        problems.append(
            f"LOST: {name} is at version {view['version']}, version "
            f"{max(acknowledged_versions)} was acknowledged"
        )
    cancelled = view["state"] == "cancelled"
    if t.cancel == "acknowledged" and not cancelled:
        problems.append(f"LOST: {name}: its cancel was acknowledged, it is {view['state']}")
    if t.cancel is None and cancelled:
        problems.append(f"{name} is cancelled though no cancel was sent")
    return problems


def check_acknowledgements(run: Run, snap: Snapshot, figures: Counter[str]) -> list[str]:
    """Every acknowledgement answered 2xx is recorded on its conflict or message."""
    problems = []
    for ack in run.acks:
        figures[f"acknowledgements of a {ack.subject_type}"] += 1
        if ack.subject_type == "conflict":
            found = snap.conflicts.get(ack.subject_id, {}).get("acknowledgements", [])
            recorded = any(
                (a["party_id"], a["version"]) == (ack.party_id, ack.version) for a in found
            )
        else:
            view = snap.received.get((ack.party_id, ack.subject_id), {})
            status = view.get("own_status") or {}
            recorded = (
                status.get("acknowledged_at") is not None and status["version"] == ack.version
            )
        if not recorded:
            problems.append(f"LOST: {ack.party_id}'s acknowledgement of {ack.subject_id}")
    return problems


def _message_text(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "to": sorted(view["to"]),
        "type": view["type"],
        "priority": view["priority"],
        "body": view["body"],
    }


def check_messages(run: Run, snap: Snapshot, figures: Counter[str]) -> list[str]:
    """Acknowledged messages are there as sent; unknown ones intact if there; none twice."""
    problems = []
    by_body: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for view in snap.messages.values():
        by_body[view["body"]].append(view)
    for sent in run.messages:
        views = by_body.get(sent.body["body"], [])
        figures[f"messages {sent.outcome}{' (sent again)' if sent.retried else ''}"] += 1
        if len(views) > 1:
            problems.append(f"message {sent.key} exists {len(views)} times")
        if sent.outcome in ("refused", "unsent") and views:
            problems.append(f"message {sent.key} was {sent.outcome} but exists")
        elif not views and sent.outcome == "acknowledged":
            problems.append(f"LOST: message {sent.id} ({sent.key}) acknowledged 201")
        for view in views:
            figures["messages checked"] += 1
            if _message_text(view) != sent.body or view["mechanism_id"] != sent.mechanism_id:
                problems.append(f"message {view['id']} ({sent.key}) is not what was sent")
            if sent.id is not None and view["id"] != sent.id:
                problems.append(f"message {sent.key} acknowledged as {sent.id}, is {view['id']}")
    return problems


Expected = tuple[str, str, int | None]  # event type, subject, version


def expected_events(run: Run, snap: Snapshot) -> dict[str, set[Expected]]:
    """Per party, the events its stream must hold for what was acknowledged or stored."""
    wanted: dict[str, set[Expected]] = defaultdict(set)
    for t in run.notifications:
        for version, attempts in t.attempts.items():
            if t.id and any(a.acknowledged for a in attempts):
                kind = "notification.created" if version == 1 else "notification.revised"
                wanted[t.party_id].add((kind, t.id, version))
        if t.id and t.cancel == "acknowledged":
            wanted[t.party_id].add(("notification.cancelled", t.id, None))
    for sent in run.messages:
        if sent.id:
            for party in (sent.party_id, *sent.body["to"]):
                wanted[party].add(("message.sent", sent.id, None))
    for ack in run.acks:
        wanted[ack.party_id].add((f"{ack.subject_type}.acknowledged", ack.subject_id, ack.version))
    for conflict in snap.conflicts.values():
        for side in ("party_a", "party_b"):
            wanted[conflict[side]["id"]].add(("conflict.detected", conflict["id"], None))
            if conflict["state"] == "resolved":
                wanted[conflict[side]["id"]].add(("conflict.resolved", conflict["id"], None))
    return wanted


def _held(events: list[dict[str, Any]]) -> set[Expected]:
    held: set[Expected] = set()
    for event in events:
        held.add((event["type"], event["subject_id"], None))
        version = event["data"].get("version")
        if isinstance(version, int):
            held.add((event["type"], event["subject_id"], version))
    return held


def check_events(run: Run, snap: Snapshot, figures: Counter[str]) -> list[str]:
    """Each party's stored stream: increasing ids, every expected event, no phantom subject."""
    problems = []
    wanted = expected_events(run, snap)
    ids = [e["id"] for e in snap.operator_events]
    figures["events stored"] = len(ids)
    figures["event id gaps"] = sum(b - a - 1 for a, b in itertools.pairwise(ids) if b > a + 1)
    if any(b <= a for a, b in itertools.pairwise(ids)):
        problems.append("the operator's event ids do not strictly increase")
    for party in run.parties:
        events = snap.events[party.id]
        figures["party events read"] += len(events)
        party_ids = [e["id"] for e in events]
        if any(b <= a for a, b in itertools.pairwise(party_ids)):
            problems.append(f"{party.code}'s event ids do not strictly increase")
        missing = wanted[party.id] - _held(events)
        figures["expected events found"] += len(wanted[party.id]) - len(missing)
        problems += [f"LOST: {party.code}'s event {m}" for m in sorted(missing, key=str)]
        for event in events:
            subject, kind = event["subject_id"], event["type"]
            if kind.startswith("notification.") and subject not in snap.notifications:
                problems.append(f"event {event['id']} {kind} of a notification that is not there")
            if kind.startswith("conflict.") and subject not in snap.conflicts:
                problems.append(f"event {event['id']} {kind} of a conflict that is not there")
    return problems


async def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition()` every 0.1 s until it holds or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return bool(condition())


def _caught_up(stream: LiveStream, last: int) -> bool:
    return stream.last_id >= last


async def check_live(
    run: Run, snap: Snapshot, streams: dict[str, LiveStream], figures: Counter[str]
) -> list[str]:
    """Each live stream, kept through every crash, saw exactly the stored stream: once each,
    in order — so nothing streamed live was lost either."""
    problems = []
    for party in run.parties:
        stream, stored = streams[party.id], snap.events[party.id]
        last = stored[-1]["id"] if stored else 0
        if not await wait_for(functools.partial(_caught_up, stream, last), CATCH_UP_S):
            problems.append(f"{party.code}'s live stream stopped at {stream.last_id} < {last}")
        seen = [e for e in stream.events if e["id"] <= last]
        figures["live events"] += len(seen)
        figures["live connections"] += stream.connects
        figures["live stream transport errors"] += stream.broken
        if seen != stored:
            lost = {e["id"] for e in seen} - {e["id"] for e in stored}
            problems.append(
                f"{party.code}'s live stream differs from its stored stream "
                f"({len(seen)} vs {len(stored)} events; seen live, not stored: {sorted(lost)[:10]})"
            )
        if stream.repeats or stream.malformed:
            problems.append(
                f"{party.code}'s live stream: repeated {stream.repeats[:10]}, "
                f"malformed frames {stream.malformed[:5]}"
            )
        bad = {s: n for s, n in stream.statuses.items() if s >= 500}
        if bad:
            problems.append(f"{party.code}'s live stream got {bad}")
    return problems


def _as_event(delivery: dict[str, Any]) -> dict[str, Any]:
    """A webhook body in the shape of a stored event."""
    return {
        "id": delivery["event_id"],
        **{k: delivery[k] for k in ("type", "mechanism_id", "subject_id", "created_at", "data")},
    }


async def check_webhooks(
    run: Run,
    snap: Snapshot,
    receiver: WebhookReceiver,
    cursors: dict[str, int],
    figures: Counter[str],
) -> list[str]:
    """Each party's receiver got its stream since the webhook was registered: once, in order."""
    problems = []
    for party in run.parties:
        stored = [e for e in snap.events[party.id] if e["id"] > cursors[party.id]]
        last = stored[-1]["id"] if stored else 0

        def arrived(code: str = party.code, n: int = last) -> bool:
            return any(e["event_id"] >= n for e in receiver.events(code)) or n == 0

        if not await wait_for(arrived, CATCH_UP_S):
            problems.append(f"{party.code}'s webhook did not catch up with event {last}")
        got = [_as_event(e) for e in receiver.events(party.code) if e["event_id"] <= last]
        endpoint = receiver.endpoints[party.code]
        figures["webhook events"] += len(got)
        figures["webhook requests"] += endpoint.requests
        figures["webhook repeats dropped"] += endpoint.repeats
        figures["webhook requests cut off by a kill"] += endpoint.cut_off
        figures["webhook requests before the secret was known"] += endpoint.early
        if got != stored:
            got_ids = [e["id"] for e in got]
            missing = sorted({e["id"] for e in stored} - set(got_ids))
            problems.append(
                f"{party.code}'s webhook got {len(got)} events, its stream has {len(stored)} "
                f"(missing {missing[:10]}; in order: {got_ids == sorted(got_ids)})"
            )
        if endpoint.rejected:
            problems.append(f"{party.code}'s webhook signatures failed: {endpoint.rejected[:5]}")
    return problems


def audit(target: Target, when: str, run: Run) -> list[str]:
    """`deconfliction audit verify` on the database (the server stopped): its summary goes to
    `run.audits`; a violation if it does not exit 0."""
    try:
        done = subprocess.run(
            [*CLI, "audit", "verify", "--db", target.url],
            env=server_env(target),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=AUDIT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return [f"audit verify {when} took more than {AUDIT_TIMEOUT_S:g} s"]
    lines = [" ".join(line.replace("│", " ").split()) for line in done.stdout.splitlines()]
    entries = next((line for line in lines if line.startswith("entries checked")), "")
    verdict = next((line for line in reversed(lines) if line), "")
    run.audits.append(f"{when}: exit {done.returncode}; {entries}; {verdict}")
    if done.returncode == 0:
        return []
    return [f"audit verify {when} exited {done.returncode}:\n{done.stdout}{done.stderr}"]
