"""bench/load.py's client: the requests of each phase, issued by `concurrency` clients over HTTP
(one connection each, requests back to back: a closed loop), or at a fixed rate (the soak), with
every answer's latency and status recorded per operation.

Notify bodies are drawn in advance (`Bodies`), so drawing them costs the client nothing while
the clock runs. What one party may do next (revise or cancel its own notifications, acknowledge
the conflicts and messages it was shown) is learnt from the answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import conflicts as gen
import lean_http
import numpy as np
import prefill

MIX = {"notify": 30, "revise": 10, "cancel": 5, "list": 25, "acknowledge": 20, "message": 10}
OVERLAP_SIDE_M = 20_000.0
OVERLAP_SIZE_M = (1_000.0, 5_000.0)
# What the client reads answers of: a listing's (~210 kB at 10⁶) is not read, as reading it
# would take the two cores' time from the server it measures.
LEARNED_FROM = frozenset({"notify", "revise", "message"})
LIST_SIDE_DEG = 0.1  # a list query's bounding box: about 11 km × 9 km here


@dataclass(frozen=True)
class Target:
    """Where and as whom the traffic goes."""

    urls: list[str]  # one per API process; client i talks to urls[i % len(urls)]
    mechanism: str
    parties: list[str]  # each party's bearer token is its id (bench/prefill.py)
    own_mechanisms: list[str] = field(default_factory=list)  # the scaling phase's, one a client


class Bodies:
    """Notify bodies drawn in advance from bench/conflicts.py's distribution, in order, starting
    in the `days` after T0; `overlap`: everyone in one 20 km square."""

    def __init__(self, count: int, seed: int, parties: int, *, days: int, overlap: bool) -> None:
        d = gen.draw(np.random.default_rng(seed), count, parties, days=days)
        if overlap:
            d = _squeezed(d, np.random.default_rng(seed + 1))
        self.items = [prefill.notify_body(d, i, f"load {seed}-{i}") for i in range(count)]
        self.next = 0

    def take(self) -> tuple[str, dict[str, Any]] | None:
        if self.next >= len(self.items):
            return None
        self.next += 1
        return self.items[self.next - 1]


def _squeezed(d: gen.Draws, rng: np.random.Generator) -> gen.Draws:
    """The same draws with every centre inside one 20 km square and areas 1–5 km across."""
    n = len(d.lon)
    lat = gen.CENTRE_LAT + rng.uniform(-0.5, 0.5, n) * OVERLAP_SIDE_M / gen.METRES_PER_DEG
    east = rng.uniform(-0.5, 0.5, n) * OVERLAP_SIDE_M
    lon = gen.CENTRE_LON + east / (gen.METRES_PER_DEG * np.cos(np.radians(lat)))
    return dataclasses.replace(
        d,
        lon=np.round(lon, 6),
        lat=np.round(lat, 6),
        half_size=rng.uniform(*OVERLAP_SIZE_M, n) / 2.0,
    )


class Answer(NamedTuple):
    """One answered request, for the soak's windows."""

    issued: float
    op: str
    seconds: float
    conflicts: int  # the conflicts a notify's or revise's answer reported


@dataclass
class Record:
    """What a phase saw: latencies (s) and statuses per operation."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0  # acknowledge or revise/cancel picked with nothing to act on: notified
    started: float = 0.0
    ended: float = 0.0
    answers: list[Answer] = field(default_factory=list)

    def add(self, op: str, issued: float, seconds: float, status: int, conflicts: int) -> None:
        self.latencies.setdefault(op, []).append(seconds)
        self.statuses[f"{op} {status}"] += 1
        self.answers.append(Answer(issued, op, seconds, conflicts))

    @property
    def conflicts(self) -> int:
        """The conflicts all answers reported."""
        return sum(answer.conflicts for answer in self.answers)


@dataclass
class PartyState:
    """What a party may act on next: its own live notifications and what it must acknowledge."""

    own: dict[str, int] = field(default_factory=dict)  # notification id → version
    to_acknowledge: deque[str] = field(default_factory=deque)  # "conflicts/<id>", "messages/<id>"


class Traffic:
    """One phase's requests against a target."""

    def __init__(self, target: Target, bodies: Bodies, *, mix: bool, seed: int) -> None:
        self.target = target
        self.bodies = bodies
        self.mix = mix
        self.random = random.Random(seed)
        self.state = {p: PartyState() for p in target.parties}
        self.record = Record()
        self.clients: list[lean_http.Connection] = []

    def client(self, index: int) -> lean_http.Connection:
        """Client `index`'s one keep-alive connection (bench/lean_http.py: the client shares
        the server's two cores, and httpx would spend a few times more CPU a request)."""
        while len(self.clients) <= index:
            url = urlsplit(self.target.urls[len(self.clients) % len(self.target.urls)])
            assert url.hostname is not None and url.port is not None, url
            self.clients.append(lean_http.Connection(url.hostname, url.port))
        return self.clients[index]

    async def close(self) -> None:
        for client in self.clients:
            client.close()

    # One request.

    def _choose(self) -> str:
        if not self.mix:
            return "notify"
        ops, weights = zip(*MIX.items(), strict=True)
        return self.random.choices(ops, weights)[0]

    async def one(self, index: int) -> bool:
        """Issue one request on client `index`; False once the notify bodies are used up."""
        op = self._choose()
        party = self.random.choice(self.target.parties)
        state = self.state[party]
        if op in ("revise", "cancel") and not state.own:
            op, self.record.fallbacks = "notify", self.record.fallbacks + 1
        if op == "acknowledge":
            waiting = [p for p, s in self.state.items() if s.to_acknowledge]
            if not waiting:
                op, self.record.fallbacks = "notify", self.record.fallbacks + 1
            else:
                party = self.random.choice(waiting)
        body = None
        if op in ("notify", "revise"):
            drawn = self.bodies.take()
            if drawn is None:
                return False
            owner, body = drawn
            if op == "notify" and not self.mix:
                party = owner
        elif op == "cancel":
            body = {"reason": "load benchmark"}
        elif op == "message":
            others = [p for p in self.target.parties if p != party]
            body = {"to": [self.random.choice(others)], "type": "text", "body": "load benchmark"}
        method, path, headers = self._request(op, party, index)
        headers = {"Authorization": f"Bearer {party}", **headers}
        issued = time.perf_counter()
        try:
            response = await self.client(index).request(method, path, headers, json_body=body)
        except lean_http.HttpError as error:
            self.record.transport_errors[f"{op} {error}"] += 1
            return True
        seconds = time.perf_counter() - issued
        learnt = response.ok and op in LEARNED_FROM
        conflicts = self._learn(op, party, response.json()) if learnt else 0
        self.record.add(op, issued, seconds, response.status, conflicts)
        return True

    def _request(self, op: str, party: str, index: int) -> tuple[str, str, dict[str, str]]:
        """(method, path, extra headers) of an operation by `party` on client `index`."""
        state = self.state[party]
        if op == "notify":
            mechanism = self.target.mechanism
            if self.target.own_mechanisms:
                mechanism = self.target.own_mechanisms[index % len(self.target.own_mechanisms)]
            return "POST", f"/v1/mechanisms/{mechanism}/notifications", {}
        if op == "revise":
            nid, version = state.own.popitem()
            return "PUT", f"/v1/notifications/{nid}", {"If-Match": str(version)}
        if op == "cancel":
            nid, _ = state.own.popitem()
            return "POST", f"/v1/notifications/{nid}/cancel", {}
        if op == "list":
            west = gen.CENTRE_LON + self.random.uniform(-3.0, 3.0)
            south = gen.CENTRE_LAT + self.random.uniform(-2.5, 2.5)
            bbox = f"{west:.4f},{south:.4f},{west + LIST_SIDE_DEG:.4f},{south + LIST_SIDE_DEG:.4f}"
            return "GET", f"/v1/mechanisms/{self.target.mechanism}/notifications?bbox={bbox}", {}
        if op == "acknowledge":
            return "POST", f"/v1/{state.to_acknowledge.popleft()}/acknowledge", {}
        return "POST", f"/v1/mechanisms/{self.target.mechanism}/messages", {}

    def _learn(self, op: str, party: str, answer: Any) -> int:
        """Remember what the answer lets `party` act on; the number of conflicts it reports."""
        if op in ("notify", "revise"):
            self.state[party].own[answer["id"]] = int(answer["version"])
            if self.mix:
                for conflict in answer["conflicts"]:
                    self.state[party].to_acknowledge.append(f"conflicts/{conflict['id']}")
                    other = conflict["other_party"]["id"]
                    if other in self.state:
                        self.state[other].to_acknowledge.append(f"conflicts/{conflict['id']}")
            return len(answer["conflicts"])
        if op == "message":
            for recipient in answer["to"]:
                if recipient in self.state:
                    self.state[recipient].to_acknowledge.append(f"messages/{answer['id']}")
        return 0

    # Phases.

    async def closed_loop(self, clients: int, seconds: float) -> Record:
        """`clients` clients, each issuing its next request as soon as its last is answered."""
        self.record.started = time.perf_counter()
        end = self.record.started + seconds

        async def run(index: int) -> None:
            while time.perf_counter() < end and await self.one(index):
                pass

        await asyncio.gather(*(run(i) for i in range(clients)))
        self.record.ended = time.perf_counter()
        return self.record

    async def open_loop(self, rate: float, seconds: float, in_flight: int) -> Record:
        """Requests issued at `rate` per second, at most `in_flight` at once (the soak)."""
        self.record.started = time.perf_counter()
        free: asyncio.Queue[int] = asyncio.Queue()
        for i in range(in_flight):
            free.put_nowait(i)
        tasks: set[asyncio.Task[bool]] = set()
        sent = 0
        while (now := time.perf_counter()) < self.record.started + seconds:
            due = self.record.started + sent / rate
            if due > now:
                await asyncio.sleep(due - now)
            index = await free.get()
            task = asyncio.create_task(self.one(index))
            task.add_done_callback(lambda _, i=index: free.put_nowait(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.gather(*tasks)
        self.record.ended = time.perf_counter()
        return self.record
