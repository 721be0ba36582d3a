"""The crash harness's load (bench/crash.py): clients of each party that notify, revise and
cancel activity, send messages and acknowledge, each request classified by its answer."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
from crash_bodies import random_notification
from crash_setup import REQUEST_TIMEOUT, Party
from crash_state import Ack, Attempt, Run, SentMessage, Tracked

THINK_S = 0.03  # the most a worker waits between two requests
RETRY_SHARE = 0.5  # of the unknown notifications and messages, sent again with the same key
RETRY_TRIES = 3


@dataclass
class Answer:
    outcome: str  # ok | refused | unknown | unsent
    response: httpx.Response | None = None

    def json(self) -> Any:
        assert self.response is not None
        return self.response.json()


class Worker:
    """One client of one party: sends requests one after another, remembers what it sent."""

    def __init__(self, run: Run, party: Party, index: int, rng: random.Random) -> None:
        self.run = run
        self.party = party
        self.index = index
        self.rng = rng
        self.own: list[Tracked] = []
        self.sent: list[SentMessage] = []
        self.numbers = itertools.count(1)
        self._client: httpx.AsyncClient | None = None
        self._generation = -1

    async def client(self) -> httpx.AsyncClient:
        """A client for the server's current life: no connection survives a kill."""
        if self._client is None or self._generation != self.run.crasher.generation:
            if self._client is not None:
                await self._client.aclose()
            self._generation = self.run.crasher.generation
            self._client = httpx.AsyncClient(
                base_url=self.run.crasher.url,
                headers={"Authorization": f"Bearer {self.party.token}"},
                timeout=REQUEST_TIMEOUT,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(self, op: str, method: str, path: str, **kwargs: Any) -> Answer:
        """Send one request and classify its answer (a 5xx is a violation)."""
        client = await self.client()
        self.run.counts["sent"] += 1
        try:
            response = await client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            self.run.counts["unsent"] += 1
            return Answer("unsent")
        except httpx.TransportError:
            self.run.counts["unknown"] += 1
            return Answer("unknown")
        self.run.statuses[f"{op} {response.status_code}"] += 1
        if self._generation == self.run.crasher.generation:
            self.run.answered.set()
        if response.is_success:
            self.run.counts["2xx"] += 1
            return Answer("ok", response)
        if response.status_code >= 500:
            self.run.counts["5xx"] += 1
            self.run.violation(f"{op} {path}: HTTP {response.status_code} {response.text[:300]}")
            return Answer("unknown", response)
        self.run.counts["refused"] += 1
        return Answer("refused", response)

    async def work(self, deadline: float) -> None:
        """Requests until the run stops (or its deadline passes)."""
        try:
            while not self.run.stop.is_set() and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self.run.up.wait(), timeout=1.0)
                except TimeoutError:
                    continue
                await self.step()
                await asyncio.sleep(self.rng.uniform(0.0, THINK_S))
        finally:
            await self.close()

    async def step(self) -> None:
        """One request: a retry owed first, else a random operation."""
        owed = next((t for t in self.own if t.retries), None)
        if owed is not None:
            return await self.send_create(owed, owed.attempts[1][0].body, retry=True)
        owed_message = next((m for m in self.sent if m.retries), None)
        if owed_message is not None:
            return await self.send_message(owed_message, retry=True)
        draw = self.rng.random()
        if draw < 0.35:
            await self.create()
        elif draw < 0.55:
            await self.revise()
        elif draw < 0.60:
            await self.cancel()
        elif draw < 0.80:
            await self.message()
        else:
            await self.acknowledge()

    # notifications

    async def create(self) -> None:
        mechanisms = self.run.open_mechanisms()
        if not mechanisms:
            return await self.revise()
        mechanism = self.rng.choice(mechanisms)
        number = next(self.numbers)
        reference = f"crash-{self.index}-{number}"
        body = random_notification(self.rng, self.run.day, reference, f"activity {number}")
        tracked = Tracked(reference, self.party.id, mechanism, attempts={1: [Attempt(body, False)]})
        self.own.append(tracked)
        self.run.notifications.append(tracked)
        self.run.creates[mechanism] += 1
        await self.send_create(tracked, body, retry=False)

    async def send_create(self, tracked: Tracked, body: dict[str, Any], *, retry: bool) -> None:
        """POST the notification (again, with the same Idempotency-Key, when `retry`)."""
        if retry:
            tracked.retries -= 1
        answer = await self.call(
            "notify",
            "POST",
            f"/v1/mechanisms/{tracked.mechanism_id}/notifications",
            json=body,
            headers={"Idempotency-Key": tracked.reference},
        )
        if answer.outcome == "ok":
            view = answer.json()
            if view["version"] != 1 or view["reference"] != tracked.reference:
                self.run.violation(f"notify {tracked.reference} answered {view['version']=}")
            tracked.created, tracked.id, tracked.version = "acknowledged", view["id"], 1
            tracked.attempts[1] = [Attempt(body, True)]
            tracked.retries, tracked.retried = 0, retry
        elif answer.outcome == "unknown" and not retry:
            tracked.created = "unknown"
            tracked.retries = RETRY_TRIES if self.rng.random() < RETRY_SHARE else 0
        elif answer.outcome == "refused" and retry:
            self.run.violation(
                f"notify {tracked.reference} sent again with its key: HTTP "
                f"{answer.response.status_code if answer.response else '?'}"
            )
            tracked.retries = 0
        elif not retry:
            tracked.created = answer.outcome  # refused or unsent: it must not exist

    def _changeable(self) -> list[Tracked]:
        return [t for t in self.own if t.id is not None and t.cancel is None]

    async def refresh(self, tracked: Tracked) -> None:
        """Ask the server for the notification's version (after an unknown answer)."""
        answer = await self.call("get", "GET", f"/v1/notifications/{tracked.id}")
        if answer.outcome == "ok":
            view = answer.json()
            tracked.version = view["version"]
            if view["state"] == "cancelled" and tracked.cancel is None:
                self.run.violation(f"{tracked.id} is cancelled though no cancel was sent")
                tracked.cancel = "unknown"
        elif answer.outcome == "refused":
            self.run.violation(f"GET own notification {tracked.id}: HTTP {answer.response}")

    async def revise(self) -> None:
        candidates = self._changeable()
        if not candidates:
            return await self.message()
        tracked = self.rng.choice(candidates)
        if tracked.version is None:
            return await self.refresh(tracked)
        version = tracked.version + 1
        body = random_notification(self.rng, self.run.day, tracked.reference, f"rev {version}")
        answer = await self.call(
            "revise",
            "PUT",
            f"/v1/notifications/{tracked.id}",
            json=body,
            headers={"If-Match": f'"{tracked.version}"'},
        )
        if answer.outcome == "ok":
            if answer.json()["version"] != version:
                self.run.violation(f"revise {tracked.id}: version {answer.json()['version']}")
            tracked.attempts.setdefault(version, []).append(Attempt(body, True))
            tracked.version = version
        elif answer.outcome == "unknown":
            tracked.attempts.setdefault(version, []).append(Attempt(body, False))
            tracked.version = None
        elif answer.outcome == "refused":
            assert answer.response is not None
            # The version came from the server itself and nobody else changes this
            # notification: a 412 means the server forgot a version it acknowledged.
            self.run.violation(
                f"revise {tracked.id} at version {tracked.version}: HTTP "
                f"{answer.response.status_code} {answer.response.text[:200]}"
            )
            tracked.version = None

    async def cancel(self) -> None:
        candidates = self._changeable()
        if not candidates:
            return await self.create()
        tracked = self.rng.choice(candidates)
        answer = await self.call(
            "cancel",
            "POST",
            f"/v1/notifications/{tracked.id}/cancel",
            json={"reason": "crash harness"},
            headers={"Idempotency-Key": f"{tracked.reference}-cancel"},
        )
        if answer.outcome == "ok":
            tracked.cancel = "acknowledged"
            if answer.json()["state"] != "cancelled":
                self.run.violation(f"cancel {tracked.id} answered state {answer.json()['state']}")
        elif answer.outcome == "unknown":
            tracked.cancel = "unknown"
        elif answer.outcome == "refused":
            assert answer.response is not None
            self.run.violation(
                f"cancel {tracked.id}: HTTP {answer.response.status_code} "
                f"{answer.response.text[:200]}"
            )

    # the line

    async def message(self) -> None:
        number = next(self.numbers)
        others = [p.id for p in self.run.parties if p.id != self.party.id]
        body = {
            "to": sorted(self.rng.sample(others, self.rng.randint(1, len(others)))),
            "type": self.rng.choice(("notice", "query", "request-change", "answer", "text")),
            "priority": self.rng.choice(("routine", "urgent")),
            "body": f"crash message {self.index}-{number}\nsecond line",
        }
        sent = SentMessage(
            f"message-{self.index}-{number}",
            self.party.id,
            self.rng.choice(self.run.mechanisms),
            body,
        )
        self.sent.append(sent)
        self.run.messages.append(sent)
        await self.send_message(sent, retry=False)

    async def send_message(self, sent: SentMessage, *, retry: bool) -> None:
        if retry:
            sent.retries -= 1
        answer = await self.call(
            "message",
            "POST",
            f"/v1/mechanisms/{sent.mechanism_id}/messages",
            json=sent.body,
            headers={"Idempotency-Key": sent.key},
        )
        if answer.outcome == "ok":
            sent.outcome, sent.id = "acknowledged", answer.json()["id"]
            sent.retries, sent.retried = 0, retry
        elif answer.outcome == "unknown" and not retry:
            sent.outcome = "unknown"
            sent.retries = RETRY_TRIES if self.rng.random() < RETRY_SHARE else 0
        elif answer.outcome == "refused" and retry:
            self.run.violation(f"message {sent.key} sent again with its key: {answer.response}")
            sent.retries = 0
        elif not retry:
            sent.outcome = answer.outcome

    async def acknowledge(self) -> None:
        inbox = self.run.inboxes[self.party.id]
        if not inbox.items:
            return await self.message()
        kind, subject_id = self.rng.choice(inbox.items)
        path = f"/v1/{kind}s/{subject_id}/acknowledge"
        answer = await self.call(f"ack {kind}", "POST", path)
        if answer.outcome == "ok":
            view = answer.json()
            self.run.acks.append(Ack(self.party.id, kind, subject_id, view["version"]))
        if answer.outcome in ("ok", "refused") and (kind, subject_id) in inbox.items:
            inbox.items.remove((kind, subject_id))


async def settle(run: Run, workers: list[Worker]) -> None:
    """After the load: send the retries still owed (the server is up and stays up)."""
    for worker in workers:
        for _ in range(RETRY_TRIES * (len(worker.own) + len(worker.sent))):
            owed = any(t.retries for t in worker.own) or any(m.retries for m in worker.sent)
            if not owed:
                break
            await worker.step()
        await worker.close()
