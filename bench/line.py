"""Benchmark: the line under load — event fan-out latency and messages/s end to end.

It starts a real server (`deconfliction serve --workers N` in a subprocess on 127.0.0.1, a
fresh SQLite database in a temporary directory; `--workers` 2: a process for each core of the
target machine), creates one mechanism and `--parties` member parties (10) with a token each
over the API, opens `--streams` server-sent event streams (100: `GET
/v1/events`, spread evenly over the parties, one connection each), then for `--seconds` (20)
sends messages at `--rate` (200 messages/s), each from a random party to one random other
party, with at most `--concurrency` (64) sends in flight. The server runs with the product's
defaults, none of the caller's `DECONFLICTION_*` variables passed on, but for
`--request-threads` (each process's, the product's default unless given; a count the product
refuses stops the server with its message). The load goes through
bench/lean_http.py, a client that spends a few times less CPU than httpx, as it shares the
server's two cores. It measures:

- **fan-out latency**: from the moment a send's POST is issued to the arrival, on a stream, of
  that message's `message.sent` event — over every (message, stream) pair where the stream's
  party is the message's sender or recipient (with 10 parties and 100 streams: 20 deliveries a
  message). The arrival is stamped when the bytes are read from the socket, before parsing.
  Deliveries still missing `--drain` seconds after the last send are counted, not timed.
- **end to end**: the recipient acknowledges the message over the API (`POST
  /v1/messages/{id}/acknowledge`) as soon as the first of its streams shows it; the time from
  issuing the send to the acknowledgement's response, and the rate of acknowledged messages.
- **achieved send rate**: messages whose send succeeded (201) divided by the time from the first
  send issued to the last 201 received. Sends are issued on schedule while fewer than
  `--concurrency` are in flight; when the server answers more slowly, the schedule falls behind,
  no send is issued after the window ends and the achieved rate is below the target: the report
  says so.
- **errors**: every non-2xx answer (send, acknowledge, stream) and every transport error.

The target of issue #3: fan-out p99 ≤ 100 ms at 200 messages/s, with 10 parties and 100 open
streams, on the project's 2-core machine. The client runs on the same machine as the server
and competes with it for the CPUs; its own CPU time is reported, beside that of the server's
processes.

Run from the project root: `.venv/bin/python bench/line.py` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx
import lean_http
import numpy as np
import uvloop
from revision import source_revision
from server_process import HOST, Server, free_port, start

OPERATOR = "operator-token-for-the-line-benchmark-0000000001"
TARGET_RATE = 200.0
TARGET_P99_MS = 100.0


@dataclass(frozen=True)
class Config:
    rate: float
    seconds: float
    parties: int
    streams: int
    concurrency: int
    workers: int
    request_threads: int | None  # None: the product's default for the store
    drain: float
    seed: int
    keep: Path | None


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s (default 200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send (default 20)")
    parser.add_argument("--parties", type=int, default=10, help="member parties (default 10)")
    parser.add_argument(
        "--streams", type=int, default=100, help="open event streams, over all parties (100)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="sends in flight at most (default 64)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="server processes (`serve --workers`, default 2)"
    )
    parser.add_argument(
        "--request-threads",
        type=int,
        default=None,
        help="request threads of each server process (DECONFLICTION_REQUEST_THREADS; default: "
        "the product's, 16 on SQLite)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=15.0,
        help="seconds to wait after the last send for deliveries and acknowledgements (15)",
    )
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the database and server log in this directory"
    )
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 5_000:
        parser.error("--rate must be in (0, 5000]")
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if not 2 <= args.parties <= 100:
        parser.error("--parties must be 2–100")
    if not args.parties <= args.streams <= 900:
        parser.error("--streams must be at least --parties and at most 900")
    if not 1 <= args.concurrency <= 500:
        parser.error("--concurrency must be 1–500")
    if not 1 <= args.workers <= 32:
        parser.error("--workers must be 1–32")
    if not 0 < args.drain <= 120:
        parser.error("--drain must be in (0, 120]")
    return Config(
        rate=args.rate,
        seconds=args.seconds,
        parties=args.parties,
        streams=args.streams,
        concurrency=args.concurrency,
        workers=args.workers,
        request_threads=args.request_threads,
        drain=args.drain,
        seed=args.seed,
        keep=args.keep,
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The server.


def start_server(directory: Path, workers: int, request_threads: int | None) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    env["DECONFLICTION_DB"] = f"sqlite:///{directory / 'line.db'}"
    env["DECONFLICTION_OPERATOR_TOKEN"] = OPERATOR
    if request_threads is not None:
        env["DECONFLICTION_REQUEST_THREADS"] = str(request_threads)
    command = [sys.executable, "-m", "deconfliction.cli", "serve", "--host", HOST]
    command += ["--port", str(port), "--workers", str(workers)]
    return start(command, env, directory, port, directory / "server.log")


@dataclass(frozen=True)
class Line:
    mechanism: str
    parties: list[str]
    tokens: dict[str, str]  # party id → bearer token


def set_up(url: str, parties: int) -> Line:
    """One mechanism, `parties` member parties with a token each, over the operator API."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=30
    ) as op:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = op.post(path, json=body)
            if not response.is_success:
                raise SystemExit(
                    f"set-up failed: POST {path}: {response.status_code} {response.text}"
                )
            result: dict[str, Any] = response.json()
            return result

        mechanism = post("/v1/mechanisms", {"name": "Line benchmark"})["id"]
        ids, tokens = [], {}
        for i in range(parties):
            code = f"P{i:02d}"
            party = post("/v1/parties", {"name": f"Party {code}", "code": code, "contact": code})
            post(f"/v1/mechanisms/{mechanism}/members", {"party_id": party["id"]})
            tokens[party["id"]] = post(f"/v1/parties/{party['id']}/tokens", {"label": "bench"})[
                "token"
            ]
            ids.append(party["id"])
    return Line(mechanism, ids, tokens)


# The load.


@dataclass
class Sent:
    sender: str
    recipient: str
    issued: float  # perf_counter when the POST was issued
    answered: float  # perf_counter when its 201 arrived


@dataclass
class Run:
    """Everything recorded; times are time.perf_counter() (CLOCK_MONOTONIC)."""

    sent: dict[str, Sent] = field(default_factory=dict)
    arrivals: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # id → streams
    acked: dict[str, float] = field(default_factory=dict)  # message id → ack response time
    ack_started: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)  # "send 201", "ack 200", …
    transport_errors: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    launched: int = 0
    send_started: float = 0.0
    send_ended: float = 0.0
    behind_s: float = 0.0  # how far the schedule had fallen behind at the end


class Bench:
    def __init__(self, config: Config, url: str, line: Line) -> None:
        self.config = config
        self.line = line
        self.run = Run()
        self.random = random.Random(config.seed)
        self.stream_party = [line.parties[i % len(line.parties)] for i in range(config.streams)]
        self.streams_of = Counter(self.stream_party)  # party → its open streams
        self.connected = 0
        self.all_connected = asyncio.Event()
        self.stop = asyncio.Event()
        self.acks: set[asyncio.Task[None]] = set()
        # One connection per stream and per request slot, each a lean_http.Connection: the
        # client shares the server's two cores, so it must spend as little CPU as it can.
        address = urlsplit(url)
        assert address.hostname is not None and address.port is not None
        self.stream_connections = [
            lean_http.Connection(address.hostname, address.port) for _ in range(config.streams)
        ]
        self.send_connections: asyncio.Queue[lean_http.Connection] = asyncio.Queue()
        self.ack_connections: asyncio.Queue[lean_http.Connection] = asyncio.Queue()
        for _ in range(config.concurrency):
            self.send_connections.put_nowait(lean_http.Connection(address.hostname, address.port))
            self.ack_connections.put_nowait(lean_http.Connection(address.hostname, address.port))

    def _auth(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.line.tokens[party]}"}

    # Streams.

    async def stream(self, index: int) -> None:
        party = self.stream_party[index]
        headers = {**self._auth(party), "Accept": "text/event-stream"}
        buffer = b""

        def opened() -> None:
            self.run.statuses["stream 200"] += 1
            self.connected += 1
            if self.connected == self.config.streams:
                self.all_connected.set()

        def piece(chunk: bytes, at: float) -> None:  # `at`: when it was read from the socket
            nonlocal buffer
            buffer += chunk
            if b"\n\n" not in buffer and b"\r\n\r\n" not in buffer:
                return
            text = buffer.replace(b"\r\n", b"\n")
            *frames, buffer = text.split(b"\n\n")
            for frame in frames:
                self._frame(index, party, frame, at)

        try:
            response = await self.stream_connections[index].stream(
                "/v1/events", headers, piece, opened
            )
            if response.status != 200:
                self.run.statuses[f"stream {response.status}"] += 1
                log(f"  stream {index}: HTTP {response.status} {response.body[:300]!r}")
        except lean_http.HttpError as error:
            if not self.stop.is_set():
                self.run.transport_errors[f"stream {type(error).__name__}: {error}"] += 1

    def _frame(self, index: int, party: str, frame: bytes, at: float) -> None:
        if b"event: message.sent" not in frame and b"event:message.sent" not in frame:
            return
        self.run.frames += 1
        data = b"".join(
            line.split(b":", 1)[1].lstrip(b" ")
            for line in frame.split(b"\n")
            if line.startswith(b"data:")
        )
        event = json.loads(data)
        payload = event["data"]
        message = payload["message_id"]
        self.run.arrivals.setdefault(message, []).append((index, at))
        if party in payload["to"] and message not in self.run.ack_started:
            self.run.ack_started.add(message)
            task = asyncio.create_task(self.acknowledge(message, party))
            self.acks.add(task)
            task.add_done_callback(self.acks.discard)

    async def acknowledge(self, message: str, party: str) -> None:
        connection = await self.ack_connections.get()
        try:
            response = await connection.request(
                "POST", f"/v1/messages/{message}/acknowledge", self._auth(party)
            )
        except lean_http.HttpError as error:
            self.run.transport_errors[f"ack {type(error).__name__}: {error}"] += 1
            return
        finally:
            self.ack_connections.put_nowait(connection)
        self.run.statuses[f"ack {response.status}"] += 1
        if response.ok:
            self.run.acked[message] = time.perf_counter()

    # Sending.

    async def send_one(self, sender: str, recipient: str, n: int, slots: asyncio.Semaphore) -> None:
        body = {"to": [recipient], "type": "text", "body": f"benchmark message {n}"}
        connection = self.send_connections.get_nowait()  # there is one for each slot
        issued = time.perf_counter()
        try:
            response = await connection.request(
                "POST",
                f"/v1/mechanisms/{self.line.mechanism}/messages",
                self._auth(sender),
                json_body=body,
            )
        except lean_http.HttpError as error:
            self.run.transport_errors[f"send {type(error).__name__}: {error}"] += 1
            return
        finally:
            self.send_connections.put_nowait(connection)
            slots.release()
        answered = time.perf_counter()
        self.run.statuses[f"send {response.status}"] += 1
        if response.status == 201:
            self.run.sent[response.json()["id"]] = Sent(sender, recipient, issued, answered)

    async def send_all(self) -> None:
        config = self.config
        slots = asyncio.Semaphore(config.concurrency)
        tasks = []
        start = time.perf_counter()
        self.run.send_started = start
        end = start + config.seconds
        n = 0
        while True:
            due = start + n / config.rate
            if due >= end:
                break
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            await slots.acquire()
            if time.perf_counter() >= end:
                slots.release()
                break
            sender, recipient = self.random.sample(self.line.parties, 2)
            tasks.append(asyncio.create_task(self.send_one(sender, recipient, n, slots)))
            n += 1
            if n % max(1, int(config.rate)) == 0:
                log(
                    f"  {n:,} sends launched in {time.perf_counter() - start:.1f} s; "
                    f"{len(self.run.sent):,} answered, {len(self.run.acked):,} acknowledged"
                )
        self.run.launched = n
        self.run.behind_s = max(0.0, time.perf_counter() - (start + n / config.rate))
        await asyncio.gather(*tasks)
        self.run.send_ended = time.perf_counter()

    def _outstanding(self) -> tuple[int, int]:
        """Deliveries not yet seen on a stream, and messages not yet acknowledged."""
        missing = sum(
            max(0, self._expected(s) - len(self.run.arrivals.get(m, [])))
            for m, s in self.run.sent.items()
        )
        return missing, len(self.run.sent) - len(self.run.acked)

    def _expected(self, sent: Sent) -> int:
        # O(1): the drain loop asks this for every message sent, ten times a second, on the
        # loop that stamps arrivals; a scan of the streams here delayed the last stamps.
        return self.streams_of[sent.sender] + self.streams_of[sent.recipient]

    async def main(self) -> None:
        log(f"opening {self.config.streams} event streams")
        streams = [asyncio.create_task(self.stream(i)) for i in range(self.config.streams)]
        try:
            await asyncio.wait_for(self.all_connected.wait(), 60)
        except TimeoutError:
            raise SystemExit(
                f"only {self.connected} of {self.config.streams} streams opened in 60 s: "
                f"{dict(self.run.statuses)} {dict(self.run.transport_errors)}"
            ) from None
        log(
            f"sending at {self.config.rate:g} messages/s for {self.config.seconds:g} s "
            f"(at most {self.config.concurrency} in flight)"
        )
        await self.send_all()
        deadline = time.perf_counter() + self.config.drain
        while time.perf_counter() < deadline:
            missing, unacked = self._outstanding()
            if missing == 0 and unacked == 0 and not self.acks:
                break
            await asyncio.sleep(0.1)
        if self.acks:
            await asyncio.wait(list(self.acks), timeout=5)
        self.stop.set()
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        connections = [*self.stream_connections]
        for queue in (self.send_connections, self.ack_connections):
            while not queue.empty():
                connections.append(queue.get_nowait())
        for connection in connections:
            connection.close()


# The report.


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3  # type: ignore[return-value]
    array = np.array(values)
    return (
        float(np.percentile(array, 50)),
        float(np.percentile(array, 99)),
        float(array.max()),
    )


SLICE_S = 5.0


def print_slices(run: Run) -> None:
    """Fan-out and send latency by when the message was sent: does the line slow down?"""
    slices: dict[int, tuple[list[float], list[float]]] = {}
    for message, sent in run.sent.items():
        index = int((sent.issued - run.send_started) // SLICE_S)
        fan, post = slices.setdefault(index, ([], []))
        fan += [(at - sent.issued) * 1e3 for _, at in run.arrivals.get(message, [])]
        post.append((sent.answered - sent.issued) * 1e3)
    print("\nby when the message was sent:")
    print(
        "\n| sent at s | messages | fan-out p50 ms | fan-out p99 ms | send p50 ms | send p99 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for index in sorted(slices):
        fan, post = slices[index]
        f50, f99, _ = percentiles(fan)
        p50, p99, _ = percentiles(post)
        print(
            f"| {index * SLICE_S:g}–{(index + 1) * SLICE_S:g} | {len(post):,} | {f50:.1f} "
            f"| {f99:.1f} | {p50:.1f} | {p99:.1f} |"
        )


def report(bench: Bench, wall_s: float, server_cpu: float | None, client_cpu: float) -> bool:
    config, run = bench.config, bench.run
    fan_out = []
    missing = 0
    for message, sent in run.sent.items():
        arrivals = run.arrivals.get(message, [])
        fan_out += [(at - sent.issued) * 1e3 for _, at in arrivals]
        missing += max(0, bench._expected(sent) - len(arrivals))
    post_ms = [(s.answered - s.issued) * 1e3 for s in run.sent.values()]
    e2e_ms = [(run.acked[m] - s.issued) * 1e3 for m, s in run.sent.items() if m in run.acked]
    answered = max((s.answered for s in run.sent.values()), default=run.send_started)
    window = answered - run.send_started
    achieved = len(run.sent) / window if window > 0 else 0.0
    first = min((s.issued for s in run.sent.values()), default=0.0)
    last_ack = max(run.acked.values(), default=first)
    e2e_rate = len(run.acked) / (last_ack - first) if last_ack > first else 0.0
    errors = sum(n for key, n in run.statuses.items() if not key.split()[1].startswith("2"))
    transport = sum(run.transport_errors.values())
    f50, f99, fmax = percentiles(fan_out)
    p50, p99, pmax = percentiles(post_ms)
    e50, e99, emax = percentiles(e2e_ms)
    per_message = bench._expected(next(iter(run.sent.values()))) if run.sent else 0

    print(
        f"\n{config.parties} parties, {config.streams} open streams "
        f"({config.streams // config.parties} a party), target {config.rate:g} messages/s for "
        f"{config.seconds:g} s, at most {config.concurrency} sends in flight; "
        f"{config.workers} server process(es) of "
        f"{config.request_threads or 'the default'} request thread(s); seed {config.seed}"
    )
    print("\n| measure | count | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| fan-out: send issued → `message.sent` on a stream of sender or recipient "
        f"| {len(fan_out):,} | {f50:.1f} | {f99:.1f} | {fmax:.1f} |"
    )
    print(f"| send: POST → 201 | {len(post_ms):,} | {p50:.1f} | {p99:.1f} | {pmax:.1f} |")
    print(
        f"| end to end: send issued → recipient's acknowledgement answered "
        f"| {len(e2e_ms):,} | {e50:.1f} | {e99:.1f} | {emax:.1f} |"
    )
    print_slices(run)
    print("\n| rate | messages/s |")
    print("| --- | ---: |")
    print(f"| target send rate | {config.rate:g} |")
    print(f"| achieved send rate ({len(run.sent):,} sent in {window:.1f} s) | {achieved:.1f} |")
    print(f"| acknowledged end to end (first send → last acknowledgement) | {e2e_rate:.1f} |")
    print(
        f"\nmessages: {run.launched:,} launched, {len(run.sent):,} sent (201), "
        f"{len(run.acked):,} acknowledged; deliveries: {len(fan_out):,} of "
        f"{len(fan_out) + missing:,} expected ({per_message} a message), {missing:,} missing "
        f"{config.drain:g} s after the last send"
    )
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(run.statuses.items()))
    print(f"responses: {statuses}")
    print(
        f"errors: {errors:,} non-2xx responses, {transport:,} transport errors"
        + (f" ({dict(run.transport_errors)})" if transport else "")
    )
    cpu = f"server {server_cpu:.1f} s" if server_cpu is not None else "server unknown"
    cpu += f" ({config.workers} processes)" if config.workers > 1 else ""
    print(f"CPU over the run ({wall_s:.1f} s wall): {cpu}, benchmark client {client_cpu:.1f} s")

    met_rate = achieved >= 0.98 * config.rate and run.behind_s < 1.0
    met_p99 = bool(fan_out) and f99 <= TARGET_P99_MS and missing == 0
    print(f"\ntarget: fan-out p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:g} messages/s")
    if not met_rate:
        print(
            f"THE SERVER COULD NOT KEEP UP with {config.rate:g} messages/s: it answered "
            f"{achieved:.1f} messages/s ({run.behind_s:.1f} s behind schedule at the end of the "
            f"window, with {config.concurrency} sends in flight)"
        )
    verdict = "met" if met_p99 and met_rate and config.rate >= TARGET_RATE else "NOT met"
    print(
        f"result: fan-out p99 {f99:.1f} ms at {achieved:.1f} messages/s achieved, "
        f"{missing:,} deliveries missing — target {verdict}"
    )
    return verdict == "met"


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    revision = source_revision()
    log(f"measuring src/ at {revision}")
    directory = config.keep or Path(tempfile.mkdtemp(prefix="deconfliction-line-"))
    directory.mkdir(parents=True, exist_ok=True)
    server = start_server(directory, config.workers, config.request_threads)
    try:
        log(f"server on {server.url}; setting up {config.parties} parties")
        line = set_up(server.url, config.parties)
        cpu_before = server.cpu_seconds()
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        bench = Bench(config, server.url, line)
        uvloop.run(bench.main())  # the same loop the server runs on: less client lag
        wall = time.perf_counter() - started
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu_after = server.cpu_seconds()
    finally:
        server.stop()
        server_errors = [
            line_
            for line_ in server.log_path.read_text(errors="replace").splitlines()
            if "Traceback" in line_ or " ERROR" in line_ or "ERROR:" in line_
        ]
        if config.keep is None:
            shutil.rmtree(directory, ignore_errors=True)
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    client_cpu = (own.ru_utime + own.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    report(bench, wall, server_cpu, client_cpu)
    print(f"server log: {len(server_errors)} error line(s)")
    for line_ in server_errors[:5]:
        print(f"  {line_[:200]}")
    print(
        f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite "
        f"{sqlite3.sqlite_version}, client bench/lean_http.py (httptools "
        f"{httptools.__version__}), src/ at {revision}"
    )


if __name__ == "__main__":
    main()
