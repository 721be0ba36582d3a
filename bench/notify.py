"""Benchmark: notify throughput with and without the transparency log, at N stored notifications.

Two revisions are measured in one run: the baseline (`--baseline`, default `c41fbf3`: the code
just before the log, checked out read-only with `git worktree add` into a temporary directory)
and the working tree's `src/` (with the log: every notify appends its entries via
`ledger.record` and answers with a receipt against a freshly signed tree head).

For each revision, once, a subprocess with PYTHONPATH at that revision's `src` fills a SQLite
store (the store's own settings: WAL, synchronous=FULL) with N one-volume notifications of
bench/conflicts.py's seeded distribution, through that revision's own code, 10,000 per write
transaction: `insert_notification`, the revision row, `replace_volumes` and `record_event` —
which at the working tree also appends each notification's entry to the transparency log
(`ledger.record`: canonical JSON, salted leaf, cached subtrees), so the log holds N entries
before the clock starts (the log's cost grows with its size). The working tree's store also
gets its signing key at first start (`runtime.open_context`) and a signed head after the fill.

A third variant, "log switched off", runs the working tree's code with the log's work taken out
by the worker (`_switch_off_the_log`) on copies of the log's store: against it, the verdict
isolates the log's cost from every other change made since the baseline.

Then, for each round, the three variants' workers start side by side, each on a fresh copy of
its prefilled store, make a few warm-up notifies (other bodies, not counted) and wait. The
parent then has them time the same M notifies in alternating blocks of `--block` (A B C, C B A,
A B C, …; the others idle meanwhile), so that a burst of the host's other work lands on every
variant instead of on one whole run. Notifies go through the real use case,
`services.notifications.notify(ctx, actor, mechanism_id=…, body=…)`, in-process (no HTTP),
sequentially from one thread, each its own write transaction and commit, as the service does.
The M bodies (one volume each, drawn from the same distribution as the stored ones, so a good
share conflict with stored notifications and the conflicts are recorded) are the same for
every run. Over HTTP (`--via`), the variants' real servers are up side by side and the client
posts the same blocks to each in turn. Each variant reports notifies/s (M / the wall time of its
blocks) and p50/p99 latency; the log's cost is 1 − (notifies/s with the log / notifies/s
switched off) per round, with a verdict on the rounds' median against the 15 % target (the
cost against the baseline is printed beside it), and the
spread of the blocks' own costs shows how steady the host was. With the log, `ledger.record`
and `ledger.with_receipt` are wrapped with a clock, so the report also shows the time spent
inside them per notify (the commit's extra pages are not in it). `--quick` (N = 2,000, 60
notifies) is a smoke run only.

Results come back from the subprocesses as JSON on stdout; progress goes to stderr.
Run from the project root: `.venv/bin/python bench/notify.py` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import notify_http
import prefill
import server_process
from interleave import BlockWorker, alternate, combined
from notify_report import report
from revision import source_revision

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORKER_FLAG = "--worker"
DB_NAME = "bench.sqlite"
KEY_SUFFIX = ".signing-key"  # where runtime.open_context keeps a SQLite store's key


# Command line.


@dataclass(frozen=True)
class Config:
    n: int
    notifies: int
    warmup: int
    rounds: int
    baseline: str
    seed: int
    parties: int
    timeout: float
    keep: Path | None
    profile: Path | None
    via: str
    concurrency: int
    block: int

    @property
    def in_process(self) -> bool:
        return self.via in ("both", "in-process")

    @property
    def over_http(self) -> bool:
        return self.via in ("both", "http")


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--n",
        type=lambda s: int(float(s)),
        default=100_000,
        help="stored notifications before timing (default 100000)",
    )
    parser.add_argument(
        "--notifies", type=int, default=2_000, help="timed notifies per run (default 2000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="warm-up notifies per run, not counted (default 20)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds, each on fresh copies of the stores (default 2)",
    )
    parser.add_argument(
        "--baseline", default="c41fbf3", help="revision without the log (default c41fbf3)"
    )
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--parties", type=int, default=20)
    parser.add_argument(
        "--timeout",
        type=float,
        default=1_800.0,
        help="seconds allowed to each subprocess (default 1800)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the prefilled stores in this directory (default: removed)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="also write a cProfile of each run's timed loop here (slows it)",
    )
    parser.add_argument(
        "--via",
        choices=("both", "in-process", "http"),
        default="both",
        help="time notifies through the use case in-process, through a real server over HTTP, "
        "or both in each round (default both)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="notifies in flight at once over HTTP (default 8)",
    )
    parser.add_argument(
        "--block",
        type=int,
        default=100,
        help="notifies a variant times before the other takes its turn (default 100)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run only: N = 2000, 60 notifies, 5 warm-up"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.notifies, args.warmup = 2_000, 60, 5
    if args.n < 1 or args.notifies < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--n, --notifies and --rounds must be positive, --warmup not negative")
    if args.block < 1:
        parser.error("--block must be positive")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be 1–256")
    if args.profile is not None and args.via != "in-process":
        parser.error("--profile profiles the in-process runs: give --via in-process with it")
    return Config(
        n=args.n,
        notifies=args.notifies,
        warmup=args.warmup,
        rounds=args.rounds,
        baseline=args.baseline,
        seed=args.seed,
        parties=args.parties,
        timeout=args.timeout,
        keep=args.keep,
        profile=args.profile,
        via=args.via,
        concurrency=args.concurrency,
        block=args.block,
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The subprocesses: each imports `deconfliction` from the PYTHONPATH it was given.


def _check_source(spec: dict[str, Any]) -> str:
    import deconfliction

    where = Path(deconfliction.__file__).resolve()
    expected = Path(spec["src"]).resolve()
    if expected not in where.parents:
        raise SystemExit(f"imported deconfliction from {where}, expected it under {expected}")
    return str(where.parent)


def worker_fill(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the prefilled store of one revision through its own code (bench/prefill.py)."""
    import conflicts as gen

    from deconfliction.storage.sqlite.store import SqliteStore

    source = _check_source(spec)
    path = Path(spec["db"])
    started = time.perf_counter()
    gen.log(f"  [{spec['label']}] generating {spec['n']:,} volumes (seed {spec['seed']})")
    data = gen.generate(spec["n"], spec["seed"], spec["parties"], 200, prefill.rules())
    generated = time.perf_counter() - started
    store = gen.set_up(SqliteStore(path), spec["parties"], prefill.rules())
    prefill.add_tokens(store, spec["parties"])
    keys = prefill.open_service_keys(store, path.with_name(path.name + KEY_SUFFIX))
    filled_at = time.perf_counter()
    digest = prefill.store_notifications(store, data, spec["n"], spec["label"])
    log_size = prefill.sign_head(store, keys)
    stored_s = time.perf_counter() - filled_at
    checkpoint = sqlite3.connect(path)
    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpoint.close()
    return {
        "source": source,
        "has_log": prefill.has_log(),
        "log_size": log_size,
        "generate_s": generated,
        "store_s": stored_s,
        "data_sha256": digest,
        "db_mb": path.stat().st_size / 1e6,
    }


def _bodies(count: int, seed: int, parties: int) -> list[tuple[str, dict[str, Any]]]:
    """(party, notify body) pairs: one volume each, from bench/conflicts.py's distribution."""
    import conflicts as gen
    import numpy as np

    d = gen.draw(np.random.default_rng(seed), count, parties)
    return [prefill.notify_body(d, i, f"bench notify {seed}-{i}") for i in range(count)]


def open_bench_context(spec: dict[str, Any]) -> Any:
    """The revision's service context over the store copy, on a clock that starts at the
    benchmark's "now" (the stored notifications' present) and runs with real time."""
    from datetime import timedelta

    import conflicts as gen

    from deconfliction.services.context import Context

    path = Path(spec["db"])
    base = time.perf_counter()

    def clock() -> Any:
        return gen.NOW + timedelta(seconds=time.perf_counter() - base)

    if prefill.has_log():
        from deconfliction.runtime import open_context

        ctx, created = open_context(f"sqlite:///{path}", clock=clock)
        if created:
            raise SystemExit("the prefilled store's signing key was not found beside the copy")
        return ctx
    from deconfliction.storage import open_store

    return Context(store=open_store(f"sqlite:///{path}"), clock=clock)


def worker_run(spec: dict[str, Any]) -> None:
    """Time notifies through the revision's `notify` on a copy of its prefilled store, in the
    blocks the parent asks for.

    After the warm-up the worker prints one JSON line (`ready`) and then reads commands from
    stdin: `START SIZE` times the timed bodies [START, START + SIZE) and prints that block's
    figures; `end` prints the run's summary and returns. Between blocks it waits, idle, while
    the other variants' workers run theirs.
    """
    import gc

    import conflicts as gen

    from deconfliction.services.context import Actor
    from deconfliction.services.notifications import notify

    source = _check_source(spec)
    has_log = prefill.has_log()  # the revision has the log (its store holds one)
    logging = has_log and not spec.get("log_off")
    ctx = open_bench_context(spec)
    actors = {
        gen.party_id(p): Actor(prefill.token_id(gen.party_id(p)), gen.party_id(p))
        for p in range(spec["parties"])
    }
    timed = _bodies(spec["notifies"], spec["seed"] + 1, spec["parties"])
    warm = _bodies(spec["warmup"], spec["seed"] + 2, spec["parties"])

    def log_size() -> int:
        if not has_log:
            return 0
        with ctx.store.read() as tx:
            return int(tx.log_size())

    spent = _time_the_log() if logging else {}
    for party, body in warm:
        notify(ctx, actors[party], mechanism_id=gen.MECHANISM, body=body)
    size_before = log_size()
    spent.update(dict.fromkeys(spent, 0.0))
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    gc.collect()
    _answer({"ready": True})
    done, conflicts, receipts = 0, 0, 0
    for command in sys.stdin:
        if command.strip() == "end":
            break
        start, size = (int(word) for word in command.split())
        block = timed[start : start + size]
        latencies = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for party, body in block:
            s = time.perf_counter()
            view = notify(ctx, actors[party], mechanism_id=gen.MECHANISM, body=body)
            latencies.append(time.perf_counter() - s)
            conflicts += len(view["conflicts"])
            receipts += "receipt" in view
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        done += len(block)
        _answer({"wall_s": wall, "cpu_s": cpu, "latencies": latencies})
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    if receipts != (done if logging else 0):
        raise SystemExit(f"{receipts} of {done} answers carried a receipt (log: {logging})")
    appended = log_size() - size_before
    if appended and not logging:
        raise SystemExit(f"the log was switched off, yet {appended} entries were appended")
    _answer(
        {
            "source": source,
            "has_log": logging,
            "conflicts_per_notify": conflicts / done,
            "log_before": size_before,
            "log_entries_per_notify": appended / done,
            "in_log_ms": {name: seconds * 1e3 / done for name, seconds in spent.items()},
        }
    )


def _answer(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def _time_the_log() -> dict[str, float]:
    """Wrap the log's two entry points with a clock: seconds spent in each (~1 µs a call).

    `record` (an entry: canonical JSON, content hash, salted leaf, row, subtree cache) is
    called by `events.record_event` and `inbox`, `with_receipt` (sign a head, inclusion proof)
    by `notify`; both look them up on the module at each call, so wrapping them here counts
    every call. The commit's extra pages are not in these figures.
    """
    from deconfliction.services import ledger

    spent = {"record": 0.0, "with_receipt": 0.0}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for name in spent:
        setattr(ledger, name, timed(name, getattr(ledger, name)))
    return spent


def _switch_off_the_log() -> None:
    """Today's code with the log's work taken out, for the variant that isolates its cost.

    Only the benchmark's worker does this: `ledger.record` appends nothing (it hands out the
    index a receipt would name), the content hash is not worked out, and `with_receipt`
    answers with the view alone. Everything else — the events, their deferred appends, the
    outbox, the inbox — runs as it does with the log. Every caller reaches these functions
    through the module, so replacing them here reaches every call.
    """
    from deconfliction.services import ledger

    indexes = itertools.count()

    def record(tx: Any, kind: str, **entry: Any) -> int:
        return next(indexes)

    def with_receipt(tx: Any, keys: Any, view: dict[str, Any], index: int, at: Any) -> Any:
        return view

    ledger.record = record
    ledger.content_sha256 = lambda content: ""
    ledger.with_receipt = with_receipt


def worker_main(argv: list[str]) -> None:
    role, spec = argv[0], json.loads(argv[1])
    if spec.get("log_off"):
        _switch_off_the_log()
    if role == "serve":
        _check_source(spec)
        notify_http.worker_serve(spec, open_bench_context)
        return
    if role == "fill":
        _answer(worker_fill(spec))
        return
    worker_run(spec)


# The parent: revisions, stores, subprocesses, the report.


@dataclass(frozen=True)
class Variant:
    label: str  # "without log", "log switched off", "with log"
    revision: str
    src: Path
    template: Path  # the directory holding its prefilled store
    log_off: bool = False  # today's code with the log's work taken out (_switch_off_the_log)

    @property
    def tag(self) -> str:
        return self.template.name + ("-log-off" if self.log_off else "")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def worker_env(variant: Variant) -> dict[str, str]:
    """The environment of a worker: PYTHONPATH at the variant's src (and bench/)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECONFLICTION_")}
    env["PYTHONPATH"] = os.pathsep.join([str(variant.src), str(BENCH)])
    if variant.src.resolve() != (ROOT / "src").resolve():
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the baseline's checkout as it was
    return env


def worker_command(variant: Variant, role: str, spec: dict[str, Any]) -> list[str]:
    spec = {**spec, "src": str(variant.src), "label": variant.label, "log_off": variant.log_off}
    return [sys.executable, str(Path(__file__).resolve()), WORKER_FLAG, role, json.dumps(spec)]


def spawn(variant: Variant, role: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one worker with PYTHONPATH at the variant's src; its JSON result."""
    process = subprocess.run(
        worker_command(variant, role, spec),
        env=worker_env(variant),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None,  # the worker's progress goes straight to our stderr
        text=True,
        timeout=timeout,
    )
    if process.returncode != 0:
        raise SystemExit(f"{variant.label} {role} worker failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return result


def tree_digest(src: Path) -> str:
    """A digest of the Python source a worker imports (to notice src/ edited during a run)."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def copy_store(template: Path, target: Path) -> Path:
    """A fresh copy of a prefilled store (its WAL and signing key too, if any)."""
    target.mkdir(parents=True)
    for item in template.iterdir():
        if item.name.startswith(DB_NAME):
            shutil.copy2(item, target / item.name)
    return target / DB_NAME


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def measure(config: Config, work: Path) -> None:
    started = time.perf_counter()
    current = source_revision()
    base_commit = _git("rev-parse", "--short", f"{config.baseline}^{{commit}}")
    checkout = work / "baseline"
    log(f"baseline {base_commit}: git worktree add (read-only use) at {checkout}")
    _git("worktree", "add", "--detach", "--quiet", str(checkout), base_commit)
    try:
        filled = work / "store-current"
        variants = [
            Variant("without log", base_commit, checkout / "src", work / "store-baseline"),
            Variant("log switched off", current, ROOT / "src", filled, log_off=True),
            Variant("with log", current, ROOT / "src", filled),
        ]
        fills = {}
        digests: dict[str, set[str]] = {v.label: {tree_digest(v.src)} for v in variants}
        for v in (variants[0], variants[2]):  # the switched-off variant runs on the log's store
            v.template.mkdir()
            log(f"filling the {v.label} store ({v.revision}) with N = {config.n:,}")
            spec = {
                "db": str(v.template / DB_NAME),
                "n": config.n,
                "seed": config.seed,
                "parties": config.parties,
            }
            fills[v.label] = spawn(v, "fill", spec, config.timeout)
            f = fills[v.label]
            log(
                f"  generated in {f['generate_s']:.0f} s, stored in {f['store_s']:.0f} s; "
                f"{f['db_mb']:.0f} MB; log entries {f['log_size']:,}"
            )
        checks = {f["data_sha256"] for f in fills.values()}
        if len(checks) != 1:
            raise SystemExit("the two revisions generated different stored volumes")
        if [f["has_log"] for f in fills.values()] != [False, True]:
            raise SystemExit("expected the baseline without the log and src/ with it")
        runs: dict[str, list[dict[str, Any]]] = {v.label: [] for v in variants}
        served: dict[str, list[dict[str, Any]]] = {v.label: [] for v in variants}
        bodies = None
        if config.over_http:
            bodies = (
                _bodies(config.warmup, config.seed + 2, config.parties),
                _bodies(config.notifies, config.seed + 1, config.parties),
            )
        for r in range(1, config.rounds + 1):
            if config.in_process:
                for label, x in run_in_process(config, variants, work / f"run-{r}", r).items():
                    runs[label].append(x)
            if bodies is not None:
                http = run_over_http(config, variants, work / f"http-{r}", r, bodies)
                for label, x in http.items():
                    served[label].append(x)
            for v in variants:
                digests[v.label].add(tree_digest(v.src))
        if config.keep is not None:
            config.keep.mkdir(parents=True, exist_ok=True)
            for v in (variants[0], variants[2]):
                shutil.copytree(v.template, config.keep / v.template.name)
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)],
            capture_output=True,
            check=False,
        )
    changed = [label for label, seen in digests.items() if len(seen) > 1]
    report(config, variants, fills, runs, served, time.perf_counter() - started, changed)


def run_in_process(
    config: Config, variants: list[Variant], target: Path, r: int
) -> dict[str, dict[str, Any]]:
    """One round in-process: the variants' workers, each on a fresh copy of its store, time the
    same notifies in alternating blocks; each variant's figures and its worker's summary."""
    workers: dict[str, BlockWorker] = {}
    try:
        for v in variants:
            spec = {
                "db": str(copy_store(v.template, target / v.tag)),
                "notifies": config.notifies,
                "warmup": config.warmup,
                "seed": config.seed,
                "parties": config.parties,
                "profile": None,
            }
            if config.profile is not None:
                config.profile.mkdir(parents=True, exist_ok=True)
                name = f"round{r}-{v.tag}.pstats"
                spec["profile"] = str((config.profile / name).resolve())
            workers[v.label] = BlockWorker(
                worker_command(v, "run", spec), worker_env(v), ROOT, config.timeout
            )
        for worker in workers.values():
            worker.answer()  # ready: opened its store and warmed up
        load = _load()
        log(
            f"round {r}: {config.notifies:,} notifies in-process, in alternating blocks of "
            f"{config.block} (load before: {load})"
        )
        blocks = alternate(
            {label: worker.block for label, worker in workers.items()},
            config.notifies,
            config.block,
        )
        results = {
            label: {**combined(blocks[label]), **worker.end(), "load": load}
            for label, worker in workers.items()
        }
    finally:
        for worker in workers.values():
            worker.kill()
    _log_round(results, "")
    shutil.rmtree(target)
    return results


def _log_round(results: dict[str, dict[str, Any]], unit: str) -> None:
    for label, x in results.items():
        cpu = f", {unit}CPU {x['cpu_s'] * 1e3 / x['notifies']:.2f} ms a notify"
        log(
            f"  {label}: {x['per_s']:.1f} notifies/s, p50 {x['p50_ms']:.2f} ms, "
            f"p99 {x['p99_ms']:.2f} ms{cpu}"
        )


def run_over_http(
    config: Config,
    variants: list[Variant],
    target: Path,
    r: int,
    bodies: tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]],
) -> dict[str, dict[str, Any]]:
    """One round through the variants' real servers, each on a fresh copy of its store, up side
    by side: the client posts the same notifies to each in alternating blocks."""
    import conflicts as gen

    warm, timed = bodies
    servers: dict[str, server_process.Server] = {}
    try:
        for v in variants:
            db = copy_store(v.template, target / v.tag)
            port = server_process.free_port()
            servers[v.label] = server_process.start(
                worker_command(v, "serve", {"db": str(db), "port": port}),
                worker_env(v),
                ROOT,
                port,
                db.with_name("server.log"),
            )
        for server in servers.values():
            notify_http.post(server, gen.MECHANISM, warm, config.concurrency)
        load = _load()
        log(
            f"round {r}: {config.notifies:,} notifies over HTTP, {config.concurrency} in flight, "
            f"in alternating blocks of {config.block} (load before: {load})"
        )
        blocks = alternate(
            {
                label: notify_http.block_runner(server, gen.MECHANISM, timed, config.concurrency)
                for label, server in servers.items()
            },
            config.notifies,
            config.block,
        )
    finally:
        for server in servers.values():
            server.stop()
    results = {}
    for v in variants:
        answered = blocks[v.label]
        receipts = sum(b["receipts"] for b in answered)
        if receipts != (config.notifies if v is variants[2] else 0):
            raise SystemExit(f"{receipts} answers of {v.label} carried a receipt")
        results[v.label] = {
            **combined(answered),
            "conflicts_per_notify": sum(b["conflicts"] for b in answered) / config.notifies,
            "load": load,
        }
    _log_round(results, "server ")
    shutil.rmtree(target)
    return results


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="deconfliction-notify-bench-"))
    try:
        measure(config, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        worker_main(sys.argv[2:])
    else:
        main()
