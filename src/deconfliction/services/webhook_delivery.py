"""Webhook delivery from the outbox: signed, in order per endpoint, retried with backoff.

Each endpoint is a queue: only its oldest pending event is sent, and the next one waits until
that one is delivered or given up. Endpoints are independent: each send runs on a small thread
pool, so a receiver that is down or slow delays only its own queue. Every attempt is logged, in
a write transaction opened after the HTTP call — never during it. Where several processes serve
one database, each claims the entries it sends, so one process sends each. A claim is short and
renewed while its send lasts, so an entry whose process died is sent again soon after.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
from standardwebhooks.webhooks import Webhook

from deconfliction import __version__
from deconfliction.config import Settings
from deconfliction.domain.times import format_instant, parse_instant
from deconfliction.services import inbox
from deconfliction.services.context import Context
from deconfliction.services.ports import Row, Store, Transaction
from deconfliction.services.stored_json import dumps
from deconfliction.services.webhooks import (
    DELETED,
    RefusedAddress,
    address_to_call,
    message_id,
)

SEND_TIMEOUT_S = 10.0
PATIENCE_S = 1.0  # how long a step waits for its sends; a slower one finishes on its own
THREADS = 8
BATCH = 100
CLAIM_S = 15.0  # a claimed entry is left to its process this long, then due again
RENEW_S = 10.0  # a send still running when its claim has less than this left renews it
MAX_ERROR = 500
USER_AGENT = f"deconfliction-webhooks/{__version__}"

_jitter = random.Random()
log = logging.getLogger("deconfliction.webhooks")


def body_of(head: Row, shard: str | None = None) -> str:
    """The JSON document sent for an outbox entry (its event; its shard's name, if any)."""
    named = {} if shard is None else {"shard": shard}
    return dumps(
        {
            "id": message_id(head["event_id"], shard),
            **named,
            "event_id": head["event_id"],
            "type": head["type"],
            "mechanism_id": head["mechanism_id"],
            "subject_id": head["subject_id"],
            "created_at": head["created_at"],
            "data": json.loads(head["payload_json"]),
        }
    )


def signed_headers(secret: str, msg_id: str, body: str, sent: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: id, timestamp (Unix seconds) and the v1 HMAC signature."""
    sent = sent.replace(microsecond=0)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling, capped, jittered."""
    exponent = min(max(attempts - 1, 0), 60)
    ceiling = min(settings.webhook_retry_max_s, settings.webhook_retry_base_s * 2.0**exponent)
    return ceiling * _jitter.uniform(0.5, 1.0)


class _PinnedBackend(httpcore.SyncBackend):
    """Opens every connection to one address, whatever the URL's host name resolves to by then
    (TLS still checks the certificate against the host name)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self.address, port, timeout, local_address, socket_options)


def _post(url: str, address: str, body: str, headers: dict[str, str]) -> int:
    # A pool per send, so a receiver that restarted never meets a stale connection; httpcore
    # reads no proxy settings and follows no redirects, so the address checked is the one called.
    timeouts = dict.fromkeys(("connect", "read", "write", "pool"), SEND_TIMEOUT_S)
    with (
        httpcore.ConnectionPool(network_backend=_PinnedBackend(address)) as pool,
        pool.stream(
            "POST",
            url,
            content=body.encode(),
            headers=list(headers.items()),
            extensions={"timeout": timeouts},
        ) as response,
    ):
        return response.status  # the receiver's answer body is never read


def _error_of(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed; register the final URL"
    return f"HTTP {status}"


def _send(head: Row, settings: Settings, shard: str | None) -> tuple[int | None, str | None]:
    """Send one entry; (HTTP status or None, error or None)."""
    try:
        # Resolved and checked again at each send: what a name resolves to can change.
        address = address_to_call(head["url"], allow_private=settings.webhook_allow_private)
        body = body_of(head, shard)
        # The receiver checks this timestamp against its own clock to refuse replays, so it is
        # the real time of sending, whatever clock the service runs on.
        headers = signed_headers(
            head["secret"], message_id(head["event_id"], shard), body, datetime.now(UTC)
        )
        status = _post(head["url"], address, body, headers)
        return status, _error_of(status)
    except RefusedAddress as error:
        return None, f"refused: {error}"[:MAX_ERROR]
    except httpcore.TimeoutException:
        return None, f"no answer within {SEND_TIMEOUT_S:g} s"
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        return None, f"{type(error).__name__}: {error}"[:MAX_ERROR]
    except Exception as error:  # noqa: BLE001 - a failed attempt, logged; never a stuck queue
        return None, f"could not send: {type(error).__name__}: {error}"[:MAX_ERROR]


def deliver(ctx: Context, settings: Settings, head: Row) -> bool:
    """Try one outbox entry now and record the attempt; True when it was delivered."""
    attempted = ctx.now()
    started = time.monotonic()
    status, error = _send(head, settings, ctx.shard)
    duration_ms = (time.monotonic() - started) * 1_000
    moment = ctx.now()
    at = format_instant(moment)
    attempts = head["attempts"] + 1
    attempt = {
        "outbox_id": head["outbox_id"],
        "webhook_id": head["webhook_id"],
        "event_id": head["event_id"],
        "attempted_at": format_instant(attempted),
        "status": status,
        "error": error,
        "duration_ms": duration_ms,
    }
    with ctx.store.write() as tx:
        if error is None:
            state, next_ts = "delivered", 0.0
        else:
            first = tx.first_attempt_at(head["webhook_id"], head["outbox_id"], head["attempts"])
            since = parse_instant(first, "attempted_at") if first else attempted
            if moment - since >= timedelta(hours=settings.webhook_give_up_h):
                state, next_ts = "failed", 0.0
            else:
                state = "pending"
                next_ts = moment.timestamp() + retry_delay(settings, attempts)
        tx.record_attempt(attempt, state=state, next_attempt_ts=next_ts, at=at)
    if error is None:
        inbox.mark_delivered(ctx, head["party_id"], [head["subject_id"]], "webhook")
    return error is None


def _log_failure(future: Future[bool]) -> None:
    error = future.exception()
    if error is not None:
        log.error("webhook delivery failed", exc_info=error)


def claim(store: Store, now: float, *, busy: set[str]) -> list[Row]:
    """The due heads of the endpoints not `busy`, each claimed for CLAIM_S seconds, so that of
    several processes on one database one sends it. The outbox is read first, and written only
    when something is due."""

    def due(tx: Transaction) -> list[Row]:
        return [h for h in tx.due_deliveries(now, BATCH) if h["webhook_id"] not in busy]

    with store.read() as tx:
        if not due(tx):
            return []
    with store.write() as tx:
        heads = due(tx)
        claimed = tx.claim_deliveries([h["outbox_id"] for h in heads], now, now + CLAIM_S)
    return [h for h in heads if h["outbox_id"] in claimed]


@dataclass
class _Send:
    """One entry being sent, and until when this process's claim on it holds."""

    future: Future[bool]
    outbox_id: int
    attempts: int
    claimed_until: float


def _renew(store: Store, sends: list[_Send], now: float) -> None:
    """Extend the claims of the sends that are running out of time; an entry whose attempt is
    already recorded is left as that attempt set it."""
    running_out = [s for s in sends if s.claimed_until - now < RENEW_S]
    if not running_out:
        return
    until = now + CLAIM_S
    with store.write() as tx:
        tx.extend_claims([(s.outbox_id, s.attempts) for s in running_out], until)
    for send in running_out:
        send.claimed_until = until


class Dispatcher:
    """Sends the due entries of one store's outbox, one in flight per endpoint at most."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="webhook")
        self._lock = threading.Lock()
        self._sending: dict[str, _Send] = {}

    def step(self, ctx: Context, settings: Settings, patience_s: float) -> bool:
        with self._lock:
            # Forget finished sends before reading the outbox: their attempts are committed,
            # so the read sees them and no entry is sent twice.
            self._sending = {k: s for k, s in self._sending.items() if not s.future.done()}
            now = ctx.now().timestamp()
            _renew(ctx.store, list(self._sending.values()), now)
            heads = claim(ctx.store, now, busy=set(self._sending))
            gone = {h["webhook_id"] for h in heads if h["deleted_at"] is not None}
            if gone:
                with ctx.store.write() as tx:
                    for webhook_id in sorted(gone):
                        tx.fail_pending_deliveries(webhook_id, DELETED)
            started = []
            for head in heads:
                webhook_id = head["webhook_id"]
                if webhook_id in gone:
                    continue
                future = self._pool.submit(deliver, ctx, settings, head)
                future.add_done_callback(_log_failure)
                self._sending[webhook_id] = _Send(
                    future, head["outbox_id"], head["attempts"], now + CLAIM_S
                )
                started.append(future)
        wait(started, timeout=patience_s)
        return bool(started or gone)

    def finish(self, timeout_s: float) -> bool:
        """Wait for the sends in flight; True when none is left."""
        with self._lock:
            sending = [s.future for s in self._sending.values()]
        _, left = wait(sending, timeout=timeout_s)
        return not left


_dispatchers: weakref.WeakKeyDictionary[Store, Dispatcher] = weakref.WeakKeyDictionary()
_dispatchers_lock = threading.Lock()


def _dispatcher(store: Store) -> Dispatcher:
    with _dispatchers_lock:
        dispatcher = _dispatchers.get(store)
        if dispatcher is None:
            dispatcher = _dispatchers[store] = Dispatcher()
        return dispatcher


def step(ctx: Context, settings: Settings, *, patience_s: float = PATIENCE_S) -> bool:
    """Send every endpoint's oldest pending event that is due; True if anything was sent.

    Waits up to `patience_s` for the sends; one still running then finishes on its own and its
    endpoint is skipped until it has.
    """
    return _dispatcher(ctx.store).step(ctx, settings, patience_s)


def finish(ctx: Context, timeout_s: float = SEND_TIMEOUT_S + 1) -> bool:
    """Wait for the sends still in flight (a slow receiver's); True when none is left."""
    return _dispatcher(ctx.store).finish(timeout_s)
