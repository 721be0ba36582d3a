"""Webhooks against a real local receiver: signed, in order, retried, isolated, never lost.

The app runs without its lifespan here, so the tests drive the dispatcher themselves
(`webhook_delivery.step`) and move the clock instead of waiting; one test runs the server's own
background worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from backends import Database
from standardwebhooks.webhooks import WebhookVerificationError

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.domain.times import format_instant
from deconfliction.services import inbox, webhook_delivery, webhooks
from deconfliction.services.context import Context
from deconfliction.services.events import record_event
from deconfliction.services.webhooks import new_secret

from .conftest import CheckedClient, Party, World, circle, simple
from .webhook_receiver import Receiver, new_receiver, verify

BASE_S = 5.0
MAX_S = 600.0
GIVE_UP_H = 24.0
_lon = itertools.count()


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(
        db=database.url,
        webhook_allow_private=True,  # the receivers listen on 127.0.0.1
        webhook_retry_base_s=BASE_S,
        webhook_retry_max_s=MAX_S,
        webhook_give_up_h=GIVE_UP_H,
    )


@pytest.fixture
def app(ctx: Context, settings: Settings) -> Any:
    return create_app(ctx, settings)


@pytest.fixture
def client(app: Any) -> CheckedClient:
    # Not entered: without the lifespan no background worker races the test's own steps.
    return CheckedClient(app)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """The test's receivers, stopped after it."""
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


# ---------------------------------------------------------------- helpers


def register(world: World, party: Party, url: str, **extra: Any) -> dict[str, Any]:
    response = world.client.post("/v1/webhooks", json={"url": url, **extra}, headers=party.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def hooked(
    world: World, party: Party, receivers: list[Receiver], **extra: Any
) -> tuple[Receiver, dict[str, Any]]:
    """A started receiver and the party's webhook to it."""
    receiver = new_receiver(receivers)
    hook = register(world, party, receiver.url, **extra)
    receiver.secret = hook["secret"]
    return receiver, hook


def activity(world: World, party: Party) -> dict[str, Any]:
    """A notification far from every other one: events for its party only."""
    lon = 20.0 + next(_lon) * 0.3
    return world.notify(party, simple(world.clock, circle(lon, 30.0)))


def drain(ctx: Context, settings: Settings, *, await_sends: bool = True) -> int:
    """Step until nothing more is due now; how many steps sent something.

    The app's own background worker steps too, on the same dispatcher: a step of ours finds an
    endpoint it is sending to busy and skips it, so before calling the outbox drained, the sends
    in flight are waited for and the outbox is looked at once more (unless `await_sends` is
    False: a test holding a receiver's answer back).
    """
    for busy in itertools.count():
        if not webhook_delivery.step(ctx, settings):
            if not await_sends:
                return busy
            assert webhook_delivery.finish(ctx), "a send is still in flight"
            if not webhook_delivery.step(ctx, settings):
                return busy
        assert busy < 1_000, "the dispatcher never settles"
    raise AssertionError


def release(ctx: Context, settings: Settings, receiver: Receiver) -> None:
    """Let a receiver that holds its answers answer, wait for the sends in flight, then send
    whatever is due."""
    receiver.hold.set()
    assert webhook_delivery.finish(ctx)
    drain(ctx, settings)


def delivered_in_order(
    world: World, party: Party, webhook_id: str, receiver: Receiver
) -> list[dict[str, Any]]:
    """The endpoint's outbox, checked delivered, each event once and in order."""
    entries = outbox(world, party, webhook_id)
    assert {e["state"] for e in entries} == {"delivered"}
    assert receiver.event_ids == [e["event_id"] for e in entries]
    return entries


def log(world: World, party: Party, webhook_id: str) -> dict[str, Any]:
    """The endpoint's delivery log as its party reads it."""
    response = world.client.get(
        f"/v1/webhooks/{webhook_id}/deliveries", params={"limit": 1000}, headers=party.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def outbox(world: World, party: Party, webhook_id: str) -> list[dict[str, Any]]:
    """The endpoint's outbox entries, oldest event first."""
    return sorted(log(world, party, webhook_id)["events"], key=lambda e: e["event_id"])


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- 1. nothing lost


def test_a_receiver_that_was_down_gets_every_event_once_in_order(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    activity(world, world.north)
    activity(world, world.north)
    assert drain(ctx, settings) >= 2
    before = receiver.event_ids
    assert before and before == sorted(before)

    receiver.stop()  # down for over an hour while events keep coming
    for _ in range(4):
        activity(world, world.north)
        drain(ctx, settings)
        world.clock.advance(minutes=20)
        drain(ctx, settings)
    entries = outbox(world, world.north, hook["id"])
    waiting = [e for e in entries if e["state"] == "pending"]
    assert len(waiting) >= 4
    # Only the oldest waiting event was tried; the later ones wait their turn.
    assert waiting[0]["attempt_count"] >= 2
    assert all(e["attempt_count"] == 0 for e in waiting[1:])
    failures = [a for a in log(world, world.north, hook["id"])["attempts"] if a["error"]]
    assert failures and all(a["status"] is None for a in failures)
    assert all(a["event_id"] == waiting[0]["event_id"] for a in failures)
    assert all("Connect" in a["error"] for a in failures), failures[0]

    port = receiver.port
    receiver.start()  # back, on the same address
    assert receiver.port == port
    receiver.status = 503  # and not quite ready at first: answers, but refuses
    activity(world, world.north)
    world.clock.advance(seconds=MAX_S)
    drain(ctx, settings)
    assert receiver.event_ids == before  # refused, so not received
    receiver.status = 200
    for _ in range(20):
        if all(e["state"] == "delivered" for e in outbox(world, world.north, hook["id"])):
            break
        world.clock.advance(seconds=MAX_S)
        drain(ctx, settings)

    entries = outbox(world, world.north, hook["id"])
    assert {e["state"] for e in entries} == {"delivered"}
    expected = [e["event_id"] for e in entries]
    assert receiver.event_ids == expected  # every event exactly once, in order
    arrived = [int(a.removeprefix("evt_")) for a in receiver.arrivals]
    assert arrived == sorted(arrived)  # retries repeat an event, never overtake it
    assert len(arrived) > len(expected)  # the 503 answers were retried with the same id
    assert not receiver.rejected
    attempts = log(world, world.north, hook["id"])["attempts"]
    assert any(a["status"] == 503 and a["error"] == "HTTP 503" for a in attempts)
    view = world.client.get(f"/v1/webhooks/{hook['id']}", headers=world.north.headers).json()
    assert view["pending"] == 0 and view["last_success_at"] and view["last_failure_at"]


# ---------------------------------------------------------------- 2. signatures


def test_deliveries_are_signed_by_the_standard_webhooks_scheme(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    created = activity(world, world.north)
    drain(ctx, settings)
    assert receiver.events and not receiver.rejected
    request = receiver.requests[0]
    body = verify(secret, request)

    # The headers, exactly per the scheme.
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == f"evt_{body['event_id']}" == body["id"]
    timestamp = headers["webhook-timestamp"]
    assert timestamp.isdigit() and abs(int(timestamp) - time.time()) < 300
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{timestamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"

    fields = {"id", "event_id", "type", "mechanism_id", "subject_id", "created_at", "data"}
    assert set(body) == fields
    assert body["type"] == "notification.created" and body["subject_id"] == created["id"]
    assert body["mechanism_id"] == world.mechanism_id
    assert body["data"]["notification_id"] == created["id"]

    # Anything changed, or another secret, and a receiver refuses it.
    tampered = request.body.replace(created["id"].encode(), b"ntf_0000000000000000")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        verify(secret, type(request)(headers, tampered))
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), request)
    with pytest.raises(WebhookVerificationError):
        verify(secret, type(request)({**headers, "webhook-id": "evt_999999"}, request.body))
    with pytest.raises(WebhookVerificationError):
        stale = str(int(timestamp) - 3_600)
        verify(secret, type(request)({**headers, "webhook-timestamp": stale}, request.body))

    # A receiver holding the wrong secret refuses every delivery; the log says so.
    wrong = new_receiver(receivers)
    wrong_hook = register(world, world.north, wrong.url)
    wrong.secret = new_secret()
    activity(world, world.north)
    drain(ctx, settings)
    assert wrong.requests and not wrong.events
    assert wrong.rejected == ["No matching signature found"] * len(wrong.requests)
    attempts = log(world, world.north, wrong_hook["id"])["attempts"]
    assert attempts and all(a["status"] == 400 for a in attempts)


# ---------------------------------------------------------------- 3. backoff and giving up


def test_retries_back_off_exponentially_with_jitter_up_to_a_cap_then_give_up(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    receiver.status = 500
    activity(world, world.north)
    activity(world, world.north)
    first, second = outbox(world, world.north, hook["id"])[:2]
    assert webhook_delivery.step(ctx, settings)
    started = world.clock.now

    ratios = []
    for attempt in range(1, 13):
        entry = outbox(world, world.north, hook["id"])[0]
        assert entry["event_id"] == first["event_id"] and entry["state"] == "pending"
        assert entry["attempt_count"] == attempt and entry["last_status"] == 500
        due = instant(entry["next_attempt_at"])
        delay = (due - world.clock.now).total_seconds()
        ceiling = min(MAX_S, BASE_S * 2 ** (attempt - 1))
        assert ceiling * 0.5 - 1e-3 <= delay <= ceiling + 1e-3, (attempt, delay, ceiling)
        ratios.append(delay / ceiling)
        world.clock.now = due - timedelta(seconds=0.5)
        assert not webhook_delivery.step(ctx, settings)  # not due yet: nothing sent
        world.clock.now = due + timedelta(milliseconds=1)  # the view shows whole microseconds
        assert webhook_delivery.step(ctx, settings)
    assert len({round(r, 6) for r in ratios}) > 1  # jittered, not a fixed schedule
    assert max(r for r in ratios) <= 1.0
    assert len(receiver.requests) == 13 and not receiver.events

    # Still failing just before give_up_h after the first attempt: retried again.
    world.clock.now = started + timedelta(hours=GIVE_UP_H, minutes=-1)
    assert webhook_delivery.step(ctx, settings)
    entry = outbox(world, world.north, hook["id"])[0]
    assert entry["state"] == "pending"
    # The next attempt, past give_up_h, fails too: the event is given up…
    world.clock.now = instant(entry["next_attempt_at"]) + timedelta(milliseconds=1)
    receiver.status = 502
    assert webhook_delivery.step(ctx, settings)
    entries = outbox(world, world.north, hook["id"])
    assert entries[0]["state"] == "failed" and entries[0]["last_error"] == "HTTP 502"
    assert entries[0]["next_attempt_at"] is None
    # …and the next one goes at once.
    receiver.status = 200
    drain(ctx, settings)
    entries = outbox(world, world.north, hook["id"])
    assert entries[1]["event_id"] == second["event_id"] and entries[1]["state"] == "delivered"
    assert entries[1]["attempt_count"] == 1
    assert receiver.event_ids == [e["event_id"] for e in entries[1:]]


# ---------------------------------------------------------------- 4. endpoints are independent


def test_an_endpoint_that_is_down_or_slow_does_not_delay_another(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    down, down_hook = hooked(world, world.north, receivers)
    up, up_hook = hooked(world, world.north, receivers)
    south, _ = hooked(world, world.south, receivers)
    down.stop()
    for count in range(1, 4):
        activity(world, world.north)
        activity(world, world.south)
        drain(ctx, settings)  # the clock stands still: no retry is due
        assert len(up.events) == len(outbox(world, world.north, up_hook["id"])) >= count
        assert len(south.events) >= count
    waiting = outbox(world, world.north, down_hook["id"])
    assert [e["attempt_count"] for e in waiting] == [1] + [0] * (len(waiting) - 1)

    # A receiver that takes its time holds only its own queue.
    slow, slow_hook = hooked(world, world.south, receivers)
    slow.hold.clear()
    activity(world, world.south)
    began = time.monotonic()
    assert webhook_delivery.step(ctx, settings, patience_s=0.2)
    activity(world, world.north)
    activity(world, world.south)
    drain(ctx, settings, await_sends=False)
    assert time.monotonic() - began < webhook_delivery.SEND_TIMEOUT_S / 2
    assert {e["state"] for e in outbox(world, world.north, up_hook["id"])} == {"delivered"}
    assert slow.requests and not slow.events  # still answering its first
    release(ctx, settings, slow)
    delivered_in_order(world, world.south, slow_hook["id"], slow)


def test_an_entry_claimed_by_a_process_that_died_is_sent_once_its_claim_runs_out(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    drain(ctx, settings)
    activity(world, world.north)
    # Another process claims the entry and dies before sending it.
    claimed = webhook_delivery.claim(ctx.store, world.clock.now.timestamp(), busy=set())
    assert [h["webhook_id"] for h in claimed] == [hook["id"]]
    sent = len(receiver.requests)
    world.clock.now += timedelta(seconds=webhook_delivery.CLAIM_S - 0.5)
    assert not webhook_delivery.step(ctx, settings)  # still claimed: left to its process
    world.clock.now += timedelta(seconds=1)
    drain(ctx, settings)
    assert len(receiver.requests) == sent + 1
    assert {e["state"] for e in outbox(world, world.north, hook["id"])} == {"delivered"}


def test_a_send_that_outlasts_its_claim_keeps_it(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    slow, hook = hooked(world, world.north, receivers)
    drain(ctx, settings)
    slow.hold.clear()
    activity(world, world.north)
    assert webhook_delivery.step(ctx, settings, patience_s=0.2)
    began = world.clock.now
    # The send is still running when the claim has less than RENEW_S left: a step renews it.
    world.clock.now = began + timedelta(seconds=webhook_delivery.CLAIM_S - 1)
    webhook_delivery.step(ctx, settings, patience_s=0.0)
    # Past the first claim, another process finds the entry still claimed.
    world.clock.now = began + timedelta(seconds=webhook_delivery.CLAIM_S + 1)
    assert webhook_delivery.claim(ctx.store, world.clock.now.timestamp(), busy=set()) == []
    release(ctx, settings, slow)
    entries = delivered_in_order(world, world.north, hook["id"], slow)
    assert [e["attempt_count"] for e in entries] == [1] * len(entries)


def test_a_renewed_claim_leaves_an_attempt_recorded_meanwhile_as_it_was(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    drain(ctx, settings)
    receiver.status = 500
    activity(world, world.north)
    now = world.clock.now.timestamp()
    (head,) = webhook_delivery.claim(ctx.store, now, busy=set())
    assert not webhook_delivery.deliver(ctx, settings, head)  # failed: its retry is set
    retry_at = outbox(world, world.north, hook["id"])[-1]["next_attempt_at"]
    with ctx.store.write() as tx:
        tx.extend_claims([(head["outbox_id"], head["attempts"])], now + 3_600)
    assert outbox(world, world.north, hook["id"])[-1]["next_attempt_at"] == retry_at
    with ctx.store.write() as tx:  # the same renewal with the attempt counted does apply
        tx.extend_claims([(head["outbox_id"], head["attempts"] + 1)], now + 3_600)
    renewed = instant(outbox(world, world.north, hook["id"])[-1]["next_attempt_at"])
    assert renewed.timestamp() == pytest.approx(now + 3_600, abs=1e-3)


# ---------------------------------------------------------------- 5. isolation and the API


def _audience_events(db: Database, party_id: str) -> set[int]:
    rows = db.rows(
        "SELECT a.event_id FROM event_audience a JOIN events e ON e.id = a.event_id "
        "WHERE a.party_id = ? AND e.token_id IS NULL",
        (party_id,),
    )
    return {row[0] for row in rows}


def test_a_party_gets_webhooks_only_of_events_it_may_see(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    hooks = {code: hooked(world, world.parties[code], receivers) for code in world.parties}
    n1 = world.notify(world.north, simple(world.clock, circle(37.0, 36.5, 5_000)))
    s1 = world.notify(world.south, simple(world.clock, circle(37.02, 36.5)))
    assert len(s1["conflicts"]) == 1
    a1 = activity(world, world.aid)
    cancelled = world.client.post(
        f"/v1/notifications/{s1['id']}/cancel", headers=world.south.headers
    )
    assert cancelled.status_code == 200
    drain(ctx, settings)

    for code, (receiver, _) in hooks.items():
        party = world.parties[code]
        assert not receiver.rejected
        assert receiver.event_ids == sorted(_audience_events(world.db, party.id)), code
    north, south, aid, outsider = (hooks[c][0] for c in ("NORTH", "SOUTH", "AID", "OUTSIDER"))
    conflict = s1["conflicts"][0]["id"]
    assert {conflict, s1["id"]} <= {e["subject_id"] for e in south.events}
    assert conflict in {e["subject_id"] for e in north.events}
    assert n1["id"] not in {e["subject_id"] for e in south.events}
    assert {e["subject_id"] for e in aid.events} & {n1["id"], s1["id"], conflict} == set()
    assert a1["id"] in {e["subject_id"] for e in aid.events}
    assert not outsider.events and not outsider.requests


def test_a_party_never_sees_another_partys_webhooks_nor_any_secret_again(world: World) -> None:
    hook = register(world, world.north, "http://127.0.0.1:9/north")
    path = f"/v1/webhooks/{hook['id']}"
    missing = "/v1/webhooks/whk_0000000000000000"
    for url in (path, f"{path}/deliveries"):
        for who in (world.south, world.outsider):
            hidden = world.client.get(url, headers=who.headers)
            assert hidden.status_code == 404 and hidden.json()["code"] == "not-found"
            unknown = world.client.get(url.replace(path, missing), headers=who.headers)
            assert unknown.status_code == 404
            detail = hidden.json()["detail"].replace(hook["id"], "whk_0000000000000000")
            assert detail == unknown.json()["detail"]
    assert world.client.delete(path, headers=world.south.headers).status_code == 404
    assert world.client.get("/v1/webhooks", headers=world.south.headers).json() == []

    seen = [
        world.client.get("/v1/webhooks", headers=world.north.headers).json(),
        world.client.get(path, headers=world.north.headers).json(),
        world.client.get("/v1/webhooks", headers=world.operator).json(),
        world.client.get(path, headers=world.operator).json(),
    ]
    text = str(seen)
    assert "secret" not in text and hook["secret"] not in text
    assert [w["id"] for w in seen[0]] == [hook["id"]] and seen[1]["url"] == hook["url"]
    assert hook["id"] in {w["id"] for w in seen[2]}

    # The operator is not a party: it may not register one.
    refused = world.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/op"}, headers=world.operator
    )
    assert refused.status_code == 403


def test_deleting_a_webhook_fails_what_waited_and_sends_nothing_more(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    activity(world, world.north)
    deleted = world.client.delete(f"/v1/webhooks/{hook['id']}", headers=world.north.headers)
    assert deleted.status_code == 200 and deleted.json()["deleted_at"]
    again = world.client.delete(f"/v1/webhooks/{hook['id']}", headers=world.north.headers)
    assert again.status_code == 200 and again.json()["deleted_at"] == deleted.json()["deleted_at"]
    activity(world, world.north)
    assert not webhook_delivery.step(ctx, settings)
    assert not receiver.requests
    entries = outbox(world, world.north, hook["id"])
    assert [(e["state"], e["last_error"]) for e in entries] == [
        ("failed", "the webhook was deleted")
    ] * len(entries)
    assert world.client.get("/v1/webhooks", headers=world.north.headers).json() == []


def test_escalation_webhooks_carry_only_what_is_addressed_to_them(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers, purpose="escalation")
    assert hook["purpose"] == "escalation"
    activity(world, world.north)
    drain(ctx, settings)
    assert not receiver.requests  # no ordinary events

    now = format_instant(world.clock.now)
    with ctx.store.write() as tx:
        event_id = record_event(
            tx,
            world.mechanism_id,
            "escalation",
            "msg_0000000000000001",
            [world.north.id],
            {"reason": "overdue"},
            now,
            token_id=world.north.token_id,
            webhooks=(hook["id"],),
        ).event_id
    drain(ctx, settings)
    assert receiver.event_ids == [event_id]

    # An escalation still naming a deleted webhook is given up without a send.
    world.client.delete(f"/v1/webhooks/{hook['id']}", headers=world.north.headers)
    with ctx.store.write() as tx:
        later = record_event(
            tx,
            world.mechanism_id,
            "escalation",
            "msg_0000000000000002",
            [world.north.id],
            {},
            now,
            token_id=world.north.token_id,
            webhooks=(hook["id"],),
        ).event_id
    drain(ctx, settings)
    assert len(receiver.requests) == 1
    entry = outbox(world, world.north, hook["id"])[-1]
    assert entry["event_id"] == later and entry["state"] == "failed"


def test_a_webhook_delivery_counts_as_delivered_in_the_inbox(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, _ = hooked(world, world.north, receivers)
    subject = "msg_00000000000000aa"
    moment = world.clock.now
    with ctx.store.write() as tx:
        now = format_instant(moment)
        inbox.require_ack(
            tx,
            mechanism_id=world.mechanism_id,
            party_id=world.north.id,
            subject_id=subject,
            version=1,
            sender_party=world.south.id,
            due=moment + timedelta(hours=1),
            at=now,
        )
        record_event(tx, world.mechanism_id, "message.sent", subject, [world.north.id], {}, now)
    with ctx.store.read() as tx:
        assert tx.inbox_item(world.north.id, subject)["delivered_at"] is None  # type: ignore[index]
    drain(ctx, settings)
    assert receiver.events[-1]["subject_id"] == subject
    with ctx.store.read() as tx:
        item = tx.inbox_item(world.north.id, subject)
    assert item is not None and item["delivered_via"] == "webhook" and item["delivered_at"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": "ftp://hooks.example.org/x"}, "url"),
        ({"url": "hooks.example.org/x"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "https://user:pw@hooks.example.org/x"}, "url"),
        ({"url": "https://hooks.example.org:99999/x"}, "url"),
        ({"url": "https://hooks.example.org/x y"}, "url"),
        ({"url": "https://hooks.example.org/#frag"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://hooks.example.org/" + "a" * 2_000}, "url"),
        ({"url": "https://hooks.example.org/x", "purpose": "audit"}, "purpose"),
        ({"url": "https://hooks.example.org/x", "secret": "mine"}, "secret"),
    ],
)
def test_bad_webhooks_are_refused_naming_the_field(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = world.client.post("/v1/webhooks", json=body, headers=world.north.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_registration_is_not_repeated_and_a_party_has_at_most_20(world: World) -> None:
    headers = {**world.north.headers, "Idempotency-Key": "hook-1"}
    body = {"url": "http://127.0.0.1:9/a"}
    first = world.client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == 201
    again = world.client.post("/v1/webhooks", json=body, headers=headers)
    assert again.status_code == 409 and "shown only once" in again.json()["detail"]
    other = world.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/b"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    for n in range(19):
        register(world, world.north, f"http://127.0.0.1:9/{n}")
    full = world.client.post("/v1/webhooks", json=body, headers=world.north.headers)
    assert full.status_code == 409 and "at most 20" in full.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://0x7f000001/hook",
        "http://100.64.0.1/hook",
        "http://" + "a" * 64 + ".example.org/hook",  # no such name: nothing to check it against
    ],
)
def test_private_addresses_are_refused_by_default(
    ctx: Context, database: Database, operator_token: str, url: str
) -> None:
    client = CheckedClient(create_app(ctx, Settings(db=database.url)))
    party = client.post(
        "/v1/parties",
        json={"name": "party P", "code": "PRIV"},
        headers={"Authorization": f"Bearer {operator_token}"},
    ).json()
    token = client.post(
        f"/v1/parties/{party['id']}/tokens",
        json={"label": "desk"},
        headers={"Authorization": f"Bearer {operator_token}"},
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/v1/webhooks", json={"url": url}, headers=headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "url"
    assert "not a public address" in error["reason"] or "could not be resolved" in error["reason"]
    # A public address is accepted without a name lookup.
    public = client.post("/v1/webhooks", json={"url": "https://93.184.215.14/x"}, headers=headers)
    assert public.status_code == 201


def test_a_send_to_a_private_address_is_refused_when_they_are_not_allowed(
    world: World, ctx: Context, settings: Settings, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)  # registered while allowed
    activity(world, world.north)
    strict = Settings(db=world.db.url)
    assert webhook_delivery.step(ctx, strict)
    assert not receiver.requests
    (attempt,) = log(world, world.north, hook["id"])["attempts"]
    assert attempt["status"] is None and attempt["error"].startswith("refused: the host 127.0.0.1")
    assert "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE" in attempt["error"]


def test_a_name_resolving_elsewhere_at_send_time_cannot_redirect_the_call(
    world: World, ctx: Context, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolves to an allowed address when the send is checked and to a
    forbidden one a moment later; the delivery connects to the address it checked, once."""
    allowed = new_receiver(receivers)  # stands for a public address in this test
    forbidden = Receiver(host="127.0.0.2")
    forbidden.port = allowed.port
    receivers.append(forbidden.start())
    name = "hooks.rebinding.test"
    lookups: list[str] = []
    resolve_for_real = socket.getaddrinfo

    def rebinding_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return resolve_for_real(host, port, *args, **kwargs)
        lookups.append("127.0.0.1" if not lookups else "127.0.0.2")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (lookups[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    monkeypatch.setattr(webhooks, "_refused", lambda address: str(address) == "127.0.0.2")
    hook = register(world, world.north, f"http://{name}:{allowed.port}/hook")  # no lookup yet
    allowed.secret = forbidden.secret = hook["secret"]
    activity(world, world.north)
    assert webhook_delivery.step(ctx, Settings(db=world.db.url))  # private addresses refused
    assert lookups == ["127.0.0.1"]
    assert len(allowed.events) == 1 and allowed.requests[0].headers["host"].startswith(name)
    assert not forbidden.requests


# ---------------------------------------------------------------- the server's own worker


def test_the_running_server_delivers_in_the_background(
    app: Any, world: World, receivers: list[Receiver]
) -> None:
    receiver, hook = hooked(world, world.north, receivers)
    with CheckedClient(app) as live:  # the lifespan runs the webhook worker
        live.post(
            world.notifications_url(),
            json=simple(world.clock, circle(21.0, 31.0)),
            headers=world.north.headers,
        ).raise_for_status()
        assert receiver.wait_for_events(1)
    assert receiver.events[0]["type"] == "notification.created"
    assert outbox(world, world.north, hook["id"])[0]["state"] == "delivered"
