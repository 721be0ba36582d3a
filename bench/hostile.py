"""Benchmark: hostile input (#7) — how quickly each nasty body is refused, and whether the
server's memory stays flat while it keeps coming.

It starts a real server (`deconfliction serve` in a subprocess on 127.0.0.1, a fresh SQLite
database in a temporary directory; per-token rate limits raised so that repetitions are not
throttled), makes a mechanism with two member parties, a notification of each (in conflict), a
message and an incident under review, then sends the corpus — each case to each write endpoint
it applies to, one request at a time — `--repetitions` times (50), stopping early after
`--max-seconds` (600). It prints, per case, the statuses answered and the p50 / p99 latency
(request sent → whole answer read); the server's resident memory (VmRSS, /proc/<pid>/status)
before the corpus, after repetitions 1, 10, 25 and 50, and after `--idle` seconds (5) of
quiet, with its peak (VmHWM); and the size of the transparency log before and after: every
state change is a log entry, so equal sizes mean nothing was stored.

The corpus mirrors tests/api/test_hostile_input.py, which checks each answer's content;
this script only times them. Run from the project root: `.venv/bin/python bench/hostile.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from revision import source_revision
from server_process import HOST, Server, free_port, start

OPERATOR = "operator-token-for-the-hostile-input-benchmark-01"
LIMIT = 1_048_576  # the server's default body limit
SLOT = "@@slot@@"
CHECKPOINTS = (1, 10, 25, 50, 100, 200, 500)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=50, help="times the corpus is sent")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop after (600 s)")
    parser.add_argument("--idle", type=float, default=5.0, help="quiet before the last RSS (5 s)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- the server


def start_server(directory: Path) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    env.update(
        DECONFLICTION_DB=f"sqlite:///{directory / 'hostile.db'}",
        DECONFLICTION_OPERATOR_TOKEN=OPERATOR,
        DECONFLICTION_RATE_LIMIT_PER_S="100000",
        DECONFLICTION_RATE_LIMIT_BURST="1000000",
    )
    command = [sys.executable, "-m", "deconfliction.cli", "serve", "--host", HOST]
    return start([*command, "--port", str(port)], env, directory, port, directory / "server.log")


def memory_kib(server: Server) -> dict[str, int]:
    """VmRSS and VmHWM of the server process, in KiB (Linux)."""
    fields = {}
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


# ---------------------------------------------------------------- the world it attacks


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def circle(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Circle", "center": [lon, lat], "radius": 2_000.0}


def notification(lon: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    volume = {
        "area": circle(lon, 36.5),
        "altitude": {"lower": 0, "upper": 3_000, "units": "m", "reference": "AMSL"},
        "start": iso(now + timedelta(hours=2)),
        "end": iso(now + timedelta(hours=6)),
    }
    return {"kind": "air", "title": "activity", "volumes": [volume]}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    token: str
    body: dict[str, Any]
    fields: dict[str, str]  # "value" (a number where there is one), "time", "area" → its path
    headers: tuple[tuple[str, str], ...] = ()


def _post(client: httpx.Client, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    if not response.is_success:
        raise SystemExit(f"set-up failed: POST {path}: {response.status_code} {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


def set_up(client: httpx.Client) -> dict[str, Endpoint]:
    """The world, over the API; the endpoints the corpus is sent to."""
    mechanism = _post(client, OPERATOR, "/v1/mechanisms", {"name": "hostile"})["id"]
    line = f"/v1/mechanisms/{mechanism}"
    tokens = {}
    for code in ("NORTH", "SOUTH"):
        party = _post(client, OPERATOR, "/v1/parties", {"name": code, "code": code})["id"]
        _post(client, OPERATOR, f"{line}/members", {"party_id": party})
        tokens[code] = _post(client, OPERATOR, f"/v1/parties/{party}/tokens", {})["token"]
    north, south = tokens["NORTH"], tokens["SOUTH"]
    notified = _post(client, north, f"{line}/notifications", notification(37.0))["id"]
    _post(client, south, f"{line}/notifications", notification(37.01))
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {south}"}).json()
    message = {"to": [me["party"]["id"]], "type": "text", "body": "hi"}
    sent = _post(client, north, f"{line}/messages", message)["id"]
    incident = {
        "kind": "near-miss",
        "occurred_at": iso(datetime.now(UTC) - timedelta(minutes=30)),
        "place": circle(37.0, 36.5),
        "description": "closer than agreed",
    }
    reported = _post(client, north, f"{line}/incidents", incident)["id"]
    in_an_hour = iso(datetime.now(UTC) + timedelta(hours=1))
    _post(client, north, f"/v1/incidents/{reported}/review", {})
    revise = Endpoint(
        "PUT",
        f"/v1/notifications/{notified}",
        north,
        notification(37.02),
        {"value": "volumes.0.altitude.upper", "time": "volumes.0.end", "area": "volumes.0.area"},
        (("If-Match", '"1"'),),
    )
    return {
        "notify": Endpoint(
            "POST",
            f"{line}/notifications",
            north,
            notification(37.0),
            {"value": "volumes.0.area.radius", "time": "volumes.0.end", "area": "volumes.0.area"},
        ),
        "revise": revise,
        "message": Endpoint(
            "POST",
            f"{line}/messages",
            north,
            {**message, "attachment": circle(37.0, 36.5), "ack_deadline": in_an_hour},
            {"value": "attachment.radius", "time": "ack_deadline", "area": "attachment"},
        ),
        "incident": Endpoint(
            "POST",
            f"{line}/incidents",
            north,
            incident,
            {"value": "place.radius", "time": "occurred_at", "area": "place"},
        ),
        "mechanism": Endpoint(
            "POST",
            "/v1/mechanisms",
            OPERATOR,
            {"name": "m", "rules": {"horizontal_separation_m": 1_000}},
            {"value": "rules.horizontal_separation_m"},
        ),
        "party": Endpoint(
            "POST", "/v1/parties", OPERATOR, {"name": "x", "code": "X1"}, {"value": "name"}
        ),
        "acknowledge": Endpoint("POST", f"/v1/messages/{sent}/acknowledge", south, {}, {}),
    }


def log_size(client: httpx.Client, token: str) -> int:
    """The transparency log's size now (a head signed over the whole log if it grew)."""
    size: int = _post(client, token, "/v1/log/head", {})["tree_head"]["tree_size"]
    return size


# ---------------------------------------------------------------- the corpus


def _put(body: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        body = body[int(part)] if part.isdigit() else body[part]
    if isinstance(body, list):
        body[int(last)] = value
    else:
        body[last] = value


def _text(endpoint: Endpoint, role: str | None = None) -> str:
    body = json.loads(json.dumps(endpoint.body))
    if role is not None:
        _put(body, endpoint.fields[role], SLOT)
    return json.dumps(body)


def _padded(text: str) -> bytes:
    return (text[:-1] + " " * (LIMIT + 1 - len(text.encode())) + "}").encode()


def _chunks(data: bytes) -> Callable[[], Iterator[bytes]]:
    """A body sent without Content-Length, in 64 KiB chunks (made afresh for each send)."""
    return lambda: (data[i : i + 65_536] for i in range(0, len(data), 65_536))


def _ring(n: int) -> str:
    points = [[37 + 0.1 * (i % 2), 36.5 + 1e-5 * i] for i in range(n - 1)]
    ring = json.dumps([*points, points[0]], separators=(",", ":"))
    return '{"type":"Polygon","coordinates":[' + ring + "]}"


WHOLE: dict[str, Callable[[str], bytes | Callable[[], Iterator[bytes]]]] = {
    "huge (1 MiB + 1)": _padded,
    "huge, streamed": lambda t: _chunks(_padded(t)),
    "UTF-16": lambda t: t.encode("utf-16"),
    "byte order mark": lambda t: b"\xef\xbb\xbf" + t.encode(),
    "nested 100,000 deep": lambda _: b"[" * 100_000 + b"]" * 100_000,
    "duplicated key": lambda t: ('{"zz": 1, "zz": 2, ' + t[1:]).replace(", }", "}").encode(),
    "truncated": lambda t: t.encode()[: len(t) // 2],
}
# role → case → the field's literal
FIELD: dict[str, dict[str, bytes]] = {
    "value": {
        "NaN": b"NaN",
        "Infinity": b"Infinity",
        "-Infinity": b"-Infinity",
        "invalid UTF-8": b'"\xff"',
        "5,000-digit number": b"1" + b"0" * 4_999,
        "nested 40 deep": b"[" * 40 + b"]" * 40,
    },
    "time": {
        "year 9999": b'"9999-12-31T23:59:59Z"',
        "year 10000 in UTC": b'"9999-12-31T23:30:00-01:00"',
        "missing offset": b'"2031-05-01T08:00:00"',
    },
    "area": {
        "lon/lat swapped": json.dumps(circle(36.5, 137.0)).encode(),
        "60,000 vertices (< 1 MiB)": _ring(60_000).encode(),
        "10^6 vertices (12 MB)": _ring(1_000_000).encode(),
    },
}


@dataclass(frozen=True)
class Request:
    case: str
    endpoint: str
    content: bytes | Callable[[], Iterator[bytes]]
    to: Endpoint


def _cases(endpoint: Endpoint) -> Iterator[tuple[str, bytes | Callable[[], Iterator[bytes]]]]:
    for case, make in WHOLE.items():
        yield case, make(_text(endpoint))
    for role, cases in FIELD.items():
        if role in endpoint.fields:
            text = _text(endpoint, role).encode()
            for case, literal in cases.items():
                yield case, text.replace(f'"{SLOT}"'.encode(), literal)


def corpus(endpoints: dict[str, Endpoint]) -> list[Request]:
    """Every case of the corpus for every endpoint it applies to."""
    return [
        Request(case, name, content, endpoint)
        for name, endpoint in endpoints.items()
        for case, content in _cases(endpoint)
    ]


# ---------------------------------------------------------------- the run


def send(client: httpx.Client, request: Request) -> tuple[str, float]:
    """The status (or the transport error's name) and the seconds it took."""
    content = request.content if isinstance(request.content, bytes) else request.content()
    endpoint = request.to
    headers = {
        "Authorization": f"Bearer {endpoint.token}",
        "Content-Type": "application/json",
        **dict(endpoint.headers),
    }
    started = time.perf_counter()
    try:
        response = client.request(endpoint.method, endpoint.path, content=content, headers=headers)
        outcome = str(response.status_code)
    except httpx.TransportError as error:
        outcome = type(error).__name__
    return outcome, time.perf_counter() - started


@dataclass
class Figures:
    latencies: dict[str, list[float]]
    outcomes: dict[str, Counter[str]]
    memory: list[tuple[str, dict[str, int]]]
    repetitions: int
    seconds: float


def run(server: Server, requests: list[Request], args: argparse.Namespace) -> Figures:
    latencies: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    memory = [("before the corpus", memory_kib(server))]
    started, done = time.perf_counter(), 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        while done < args.repetitions and time.perf_counter() - started < args.max_seconds:
            for request in requests:
                outcome, seconds = send(client, request)
                latencies[request.case].append(seconds)
                outcomes[request.case][f"{request.endpoint} {outcome}"] += 1
            done += 1
            if done in CHECKPOINTS or done == args.repetitions:
                memory.append((f"after repetition {done}", memory_kib(server)))
                log(f"repetition {done}: {time.perf_counter() - started:.0f} s")
    seconds = time.perf_counter() - started
    time.sleep(args.idle)
    memory.append((f"after {args.idle:g} s idle", memory_kib(server)))
    return Figures(latencies, outcomes, memory, done, seconds)


def report(figures: Figures, requests: list[Request], sizes: tuple[int, int]) -> None:
    print(f"revision {source_revision()}; {len(requests)} requests a repetition, ", end="")
    print(f"{figures.repetitions} repetitions in {figures.seconds:.0f} s, one at a time")
    print(f"\n{'case':28} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}  answers (endpoint status)")
    for case, seconds in figures.latencies.items():
        ms = np.array(seconds) * 1e3
        statuses = sorted({key for key in figures.outcomes[case]})
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(f"{case:28} {len(ms):5d} {p50:8.1f} {p99:8.1f}  {', '.join(statuses)}")
    print(f"\n{'server memory':28} {'VmRSS MiB':>10} {'VmHWM MiB':>10}")
    for label, kib in figures.memory:
        print(f"{label:28} {kib['VmRSS'] / 1024:10.1f} {kib['VmHWM'] / 1024:10.1f}")
    before, after = sizes
    stored = "nothing stored" if before == after else f"{after - before} entries written!"
    print(f"\ntransparency log: {before} entries before, {after} after: {stored}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as folder:
        server = start_server(Path(folder))
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                endpoints = set_up(client)
                requests = corpus(endpoints)
                before = log_size(client, endpoints["notify"].token)
            figures = run(server, requests, args)
            with httpx.Client(base_url=server.url, timeout=60) as client:
                after = log_size(client, endpoints["notify"].token)
        finally:
            server.stop()
    report(figures, requests, (before, after))


if __name__ == "__main__":
    main()
