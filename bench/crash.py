"""Crash harness (issue #7): a real server under load is killed with SIGKILL at random moments,
restarted on the same database and key file, and then nothing it acknowledged may be missing.

It starts `deconfliction serve` (a subprocess on 127.0.0.1; a fresh SQLite file with the store's
own settings — WAL, `synchronous=FULL` — or, with `--db postgresql://…`, a fresh database on
that server), sets up three parties in `--mechanisms` mechanisms through the operator API, gives
each party a webhook to a receiver in this process (bench/crash_receiver.py: it verifies the
Standard Webhooks signature and drops repeats by `webhook-id`) and keeps each party's live event
stream open (resumed with Last-Event-ID after every crash). `--workers` clients then notify
overlapping activity (so conflicts arise), revise and cancel it, send messages and acknowledge
conflicts and messages. Every request is classified by its answer: 2xx (acknowledged: it must
survive), another status (refused: it must have changed nothing), no answer because the
connection broke (unknown: it may or may not have happened, but if it did it must be intact), or
no connection at all (unsent). Half of the unknown notifications and messages are sent again
with the same Idempotency-Key once the server is back, as a real client would, and must then
exist exactly once.

`--kills` times, a random 0.1–1.5 s after the server (re)started answers its first request,
it is killed with SIGKILL and started again; `--startup-kills` of those restarts are themselves
killed at a random moment while the server starts. Once the load has stopped it checks:

- notifications: every acknowledged one exists with every acknowledged version exactly as sent
  (its revision history), nothing newer than what was sent, cancelled exactly when a cancel was
  acknowledged (or may have been); unknown ones intact if present; none refused, unsent,
  duplicated or sent by nobody;
- conflicts: every conflict recomputed from scratch with the domain's own `find_conflicts` over
  the stored notifications equals the service's open conflicts — the same pairs, the same
  volume pairs and the same overlaps; none lost, none extra, no open pair twice;
- acknowledgements and messages: each acknowledged one is recorded (messages with their text);
- events: each party's stored stream (read from the start) has strictly increasing ids, holds an
  event for every acknowledged write and every stored conflict, and none about anything that
  does not exist; the live stream each party kept through the crashes saw exactly that sequence,
  each event once, in order;
- webhooks: each party's receiver got every event of its stream since the webhook was
  registered, exactly once after dropping repeats, in order, every signature valid;
- the log: `deconfliction audit verify` passes on the database right after the last SIGKILL and
  again at the end; no request was ever answered with a 5xx.

It prints the counts and exits 1 listing every violation (0 when there is none). Run from the
project root: `.venv/bin/python bench/crash.py` (50 kills, 5–8 minutes on the shared 2-core
machine), `--kills 3 --startup-kills 1` for a quick check.

The parts: bench/crash_setup.py (the database, the server's life and deaths, the set-up over the
API), crash_bodies.py and crash_state.py (what the clients send and remember), crash_load.py (the
clients), crash_snapshot.py (what the server holds after the load), crash_checks.py and
crash_conflicts.py (the checks), crash_receiver.py (the webhooks and live streams).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crash_checks import (
    audit,
    check_acknowledgements,
    check_events,
    check_live,
    check_messages,
    check_notifications,
    check_webhooks,
)
from crash_conflicts import check_conflicts
from crash_load import Worker, settle
from crash_receiver import LiveStream, WebhookReceiver
from crash_setup import LIST_LIMIT, Crasher, Target, build_world, make_target, register_webhooks
from crash_snapshot import take_snapshot
from crash_state import Run

WARM_UP_S = 15.0  # the longest wait for a restarted server's first answer before the next kill
LOAD_END_S = 120.0  # the longest wait for the workers' last requests
SHOWN_VIOLATIONS = 40
BEGAN = time.monotonic()


def progress(text: str) -> None:
    """A line on stderr: where the run is (the report goes to stdout)."""
    print(f"[{time.monotonic() - BEGAN:6.1f} s] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Config:
    kills: int
    startup_kills: int
    db: str
    seed: int
    workers: int
    mechanisms: int
    min_gap_s: float
    max_gap_s: float
    tail_s: float
    creates_per_mechanism: int
    directory: Path | None


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs under load (50)")
    parser.add_argument(
        "--startup-kills", type=int, default=5, help="of the restarts, killed while starting (5)"
    )
    parser.add_argument(
        "--db",
        default="sqlite",
        help="sqlite (a fresh file), or postgresql://host/db: a fresh database on that server",
    )
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--workers", type=int, default=6, help="clients sending requests (6)")
    parser.add_argument("--mechanisms", type=int, default=3, help="mechanisms shared (3)")
    parser.add_argument(
        "--min-gap", type=float, default=0.1, help="least load before a kill, s (0.1)"
    )
    parser.add_argument(
        "--max-gap", type=float, default=1.5, help="most load before a kill, s (1.5)"
    )
    parser.add_argument("--tail", type=float, default=2.0, help="load after the last restart, s")
    parser.add_argument(
        "--creates-per-mechanism",
        type=int,
        default=600,
        help="new notifications per mechanism at most (600: a listing holds 1,000)",
    )
    parser.add_argument("--dir", type=Path, help="keep the database and server logs here")
    args = parser.parse_args(argv)
    if not 0 <= args.startup_kills <= args.kills or args.kills < 1:
        parser.error("need --kills ≥ 1 and 0 ≤ --startup-kills ≤ --kills")
    if not 0 < args.min_gap <= args.max_gap:
        parser.error("need 0 < --min-gap ≤ --max-gap")
    if not 0 < args.creates_per_mechanism < LIST_LIMIT:
        parser.error(f"--creates-per-mechanism must be 1–{LIST_LIMIT - 1}")
    return Config(
        kills=args.kills,
        startup_kills=args.startup_kills,
        db=args.db,
        seed=args.seed,
        workers=max(1, args.workers),
        mechanisms=max(1, args.mechanisms),
        min_gap_s=args.min_gap,
        max_gap_s=args.max_gap,
        tail_s=args.tail,
        creates_per_mechanism=args.creates_per_mechanism,
        directory=args.dir,
    )


# ---------------------------------------------------------------- the run


async def crash_loop(run: Run, config: Config, rng: random.Random, target: Target) -> list[str]:
    """Kill the server `config.kills` times under load and restart it; the audit of the state
    the last kill left (before any restart touched it)."""
    crasher = run.crasher
    killed_starting = set(rng.sample(range(config.kills), config.startup_kills))
    crash_audit: list[str] = []
    for number in range(config.kills):
        # The moment is random, but the load is flowing: the first answers after a start can
        # take a while (lazy imports, cold caches) and a kill before them hits an idle server.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.answered.wait(), timeout=WARM_UP_S)
        await asyncio.sleep(rng.uniform(config.min_gap_s, config.max_gap_s))
        run.up.clear()
        run.answered.clear()
        await asyncio.to_thread(crasher.kill)
        if number == config.kills - 1:
            crash_audit = await asyncio.to_thread(audit, target, "after the last SIGKILL", run)
        if number in killed_starting:
            await asyncio.to_thread(crasher.kill_while_starting, rng.uniform(0.3, 3.0))
        await asyncio.to_thread(crasher.start)
        run.up.set()
        progress(
            f"kill {number + 1}/{config.kills}: up again in {crasher.ready_s[-1]:.1f} s; "
            f"{run.counts['sent']} requests so far"
        )
    await asyncio.sleep(config.tail_s)
    run.stop.set()
    return crash_audit


# ---------------------------------------------------------------- the whole run and its report


WIDTH = 48


def line(label: str, value: object) -> None:
    print(f"{label:<{WIDTH}}{value}")


def report(run: Run, figures: Counter[str], elapsed_s: float, problems: list[str]) -> None:
    crasher, counts, ready = run.crasher, run.counts, run.crasher.ready_s
    line("kills (SIGKILL under load)", crasher.generation - crasher.startup_kills)
    line("kills while starting", crasher.startup_kills)
    line(
        "starts until ready",
        f"{len(ready)}, mean {sum(ready) / len(ready):.2f} s, max {max(ready):.2f} s",
    )
    line(
        "requests sent",
        f"{counts['sent']}: 2xx {counts['2xx']}, unknown (no answer) {counts['unknown']}, "
        f"refused {counts['refused']}, unsent (no connection) {counts['unsent']}, "
        f"5xx {counts['5xx']}",
    )
    line("requests by operation and status", dict(sorted(run.statuses.items())))
    for name, value in sorted(figures.items()):
        line(name, value)
    for summary in run.audits:
        line("audit verify", summary)
    line("elapsed", f"{elapsed_s:.0f} s")
    if not problems:
        line("violations", "none")
        return
    print(f"VIOLATIONS: {len(problems)}")
    for problem in problems[:SHOWN_VIOLATIONS]:
        print(f"  - {problem}")
    if len(problems) > SHOWN_VIOLATIONS:
        print(f"  … and {len(problems) - SHOWN_VIOLATIONS} more")


async def load_and_check(
    config: Config, crasher: Crasher, receiver: WebhookReceiver, target: Target
) -> tuple[Run, Counter[str], list[str]]:
    """Set up, load and kill, then check: the run, its figures and the violations."""
    parties, mechanisms = await build_world(crasher.url, config.mechanisms)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    run = Run(
        crasher, parties, mechanisms, midnight + timedelta(days=2), config.creates_per_mechanism
    )
    run.up.set()
    cursors = await register_webhooks(crasher.url, parties, receiver)
    streams = {p.id: LiveStream(crasher.url, p.token) for p in parties}
    listening = asyncio.Event()  # set: the streams stop (they outlive the load)
    listeners = [
        asyncio.create_task(
            streams[p.id].follow(run.up, listening, functools.partial(run.on_event, p))
        )
        for p in parties
    ]
    workers = [
        Worker(run, parties[i % len(parties)], i, random.Random(config.seed + i + 1))
        for i in range(config.workers)
    ]
    deadline = time.monotonic() + 60 + 30 * config.kills
    load = [asyncio.create_task(w.work(deadline)) for w in workers]
    problems = await crash_loop(run, config, random.Random(config.seed), target)
    await asyncio.wait_for(asyncio.gather(*load), timeout=LOAD_END_S)
    progress("load stopped; sending the retries owed, then reading the server's state")
    await settle(run, workers)
    snap = await take_snapshot(run)
    progress("checking")
    figures: Counter[str] = Counter()
    problems += run.violations
    problems += check_notifications(run, snap, figures)
    problems += check_conflicts(run, snap, figures)
    problems += check_acknowledgements(run, snap, figures)
    problems += check_messages(run, snap, figures)
    problems += check_events(run, snap, figures)
    problems += await check_live(run, snap, streams, figures)
    problems += await check_webhooks(run, snap, receiver, cursors, figures)
    listening.set()
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return run, figures, problems


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    began = time.monotonic()
    directory = config.directory or Path(tempfile.mkdtemp(prefix="crash-"))
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise SystemExit(f"--dir {directory} is not empty: the harness needs a fresh database")
    target = make_target(config.db, directory)
    print(f"crash harness: {config.kills} kills, database {target.url}", flush=True)
    receiver = WebhookReceiver().start()
    crasher = Crasher(target, directory)
    problems = ["the run did not finish"]
    try:
        crasher.start()
        run, figures, problems = asyncio.run(load_and_check(config, crasher, receiver, target))
        crasher.stop()
        progress("stopped; auditing the log")
        problems += audit(target, "at the end", run)
    finally:
        crasher.stop()
        receiver.stop()
        if problems:
            print(f"kept for a look: {target.url}, the server logs in {directory}")
        else:
            target.drop()
    report(run, figures, time.monotonic() - began, problems)
    if problems:
        (directory / "violations.txt").write_text("\n".join(problems) + "\n")
    elif config.directory is None:
        shutil.rmtree(directory, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
