"""Benchmark: the transparency log's share of a notify's CPU instructions, counted by callgrind.

`bench/notify.py` times notifies, and on a shared host its rounds move by several points from
one run to the next — more than the gap between the log's cost and the 15 % target. This script
counts instead of timing: valgrind's callgrind counts every instruction the process executes,
the same count for the same program and input whatever else the host does. It measures the
working tree's code twice, with the log ("with log") and with the log's work taken out as
notify.py's "log switched off" variant does (`notify._switch_off_the_log`), on copies of one
prefilled store (N notifications and their N log entries, filled through notify.py's own fill
worker, or given with `--store` from `notify.py --keep DIR`).

For each variant, two processes run under callgrind on fresh copies of the store: one makes the
warm-up notifies only, the other the warm-up and then `--notifies` more, with the same seeded
bodies; the difference of their counts is the instructions of those notifies (start-up and
warm-up cancel out). The log's share is 1 − (instructions switched off / with log).

What the count leaves out: the kernel's work — the system calls that write and sync the WAL
pages, read random bytes, the waits — which `notify.py`'s timings include. Instructions are not
seconds either (a cache miss costs many): read the share as the log's part of the CPU work, and
the timed runs for throughput. About 5 minutes at the defaults (callgrind runs ~50× slower);
the four processes run two at a time.

Run from the project root: `.venv/bin/python bench/log_instructions.py` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import notify
from revision import source_revision

COLLECTED = re.compile(r"Collected : (\d+)")
VARIANTS = {"with log": False, "log switched off": True}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--n",
        type=lambda s: int(float(s)),
        default=100_000,
        help="stored notifications in the store that is filled (default 100000)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="a prefilled store directory (notify.py --keep DIR gives DIR/store-current); "
        "default: fill one",
    )
    parser.add_argument(
        "--notifies", type=int, default=120, help="counted notifies per variant (default 120)"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="warm-up notifies, not counted (default 20)"
    )
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--parties", type=int, default=20)
    args = parser.parse_args(argv)
    if args.n < 1 or args.notifies < 1 or args.warmup < 1:
        parser.error("--n, --notifies and --warmup must be positive")
    if args.store is not None and not (args.store / notify.DB_NAME).is_file():
        parser.error(f"--store {args.store}: no {notify.DB_NAME} in it")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed: apt-get install -y valgrind")
    return args


def worker(spec: dict[str, Any]) -> None:
    """Make `warmup + counted` notifies through the use case on the store copy (under
    callgrind, run by the parent); print the conflicts they made."""
    import conflicts as gen
    import prefill

    from deconfliction.services.context import Actor
    from deconfliction.services.notifications import notify as notify_use_case

    if spec["log_off"]:
        notify._switch_off_the_log()
    ctx = notify.open_bench_context(spec)
    bodies = notify._bodies(spec["warmup"] + spec["counted"], spec["seed"] + 1, spec["parties"])
    found = 0
    for party, body in bodies:
        actor = Actor(prefill.token_id(party), party)
        view = notify_use_case(ctx, actor, mechanism_id=gen.MECHANISM, body=body)
        found += len(view["conflicts"])
    print(json.dumps({"conflicts": found}), flush=True)


def count(template: Path, work: Path, spec: dict[str, Any]) -> tuple[int, int]:
    """(instructions, conflicts) of one worker under callgrind on a fresh copy of the store."""
    label = f"{'off' if spec['log_off'] else 'with'}-{spec['counted']}"
    db = notify.copy_store(template, work / label)
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={work / label}.callgrind",
        sys.executable,
        str(Path(__file__).resolve()),
        notify.WORKER_FLAG,
        json.dumps({**spec, "db": str(db), "src": str(notify.ROOT / "src")}),
    ]
    variant = notify.Variant("with log", "", notify.ROOT / "src", template)
    done = subprocess.run(
        command,
        env=notify.worker_env(variant),
        cwd=notify.ROOT,
        capture_output=True,
        text=True,
        timeout=3_600,
    )
    collected = COLLECTED.search(done.stderr)
    if done.returncode != 0 or collected is None:
        raise SystemExit(f"the {label} worker failed (exit {done.returncode}):\n{done.stderr}")
    conflicts = json.loads(done.stdout.strip().splitlines()[-1])["conflicts"]
    shutil.rmtree(work / label)
    return int(collected.group(1)), int(conflicts)


def fill(args: argparse.Namespace, work: Path) -> Path:
    """A store of N notifications and their log entries, filled by notify.py's fill worker."""
    template = work / "store-current"
    template.mkdir()
    variant = notify.Variant("with log", "", notify.ROOT / "src", template)
    notify.log(f"filling a store with N = {args.n:,} (notify.py's fill worker)")
    spec = {
        "db": str(template / notify.DB_NAME),
        "n": args.n,
        "seed": args.seed,
        "parties": args.parties,
    }
    notify.spawn(variant, "fill", spec, 1_800)
    return template


def measure(args: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    template = args.store or fill(args, work)
    base = {"warmup": args.warmup, "seed": args.seed, "parties": args.parties}
    jobs = [
        {**base, "log_off": off, "counted": counted}
        for counted in (0, args.notifies)
        for off in VARIANTS.values()
    ]
    notify.log(f"4 processes under callgrind, two at a time, on copies of {template}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = list(pool.map(lambda job: count(template, work, job), jobs))
    by_job = {
        (job["log_off"], job["counted"]): result for job, result in zip(jobs, counts, strict=True)
    }
    per_notify = {}
    print(f"\nCPU instructions per notify (callgrind), at {source_revision()}; store {template}")
    print(f"{args.notifies} counted notifies after {args.warmup} warm-up, seed {args.seed}\n")
    print("| variant | instructions / notify | conflicts / notify |")
    print("| --- | ---: | ---: |")
    for label, off in VARIANTS.items():
        warm, warm_conflicts = by_job[off, 0]
        total, total_conflicts = by_job[off, args.notifies]
        per_notify[label] = (total - warm) / args.notifies
        conflicts = (total_conflicts - warm_conflicts) / args.notifies
        print(f"| {label} | {per_notify[label] / 1e6:.2f} M | {conflicts:.2f} |")
    share = 1 - per_notify["log switched off"] / per_notify["with log"]
    extra = per_notify["with log"] - per_notify["log switched off"]
    print(
        f"\nthe log's share of a notify's instructions: **{share:.1%}** "
        f"({extra / 1e6:.2f} M of {per_notify['with log'] / 1e6:.2f} M; the kernel's work is "
        "not counted)"
    )
    print(f"total {time.perf_counter() - started:.0f} s")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == notify.WORKER_FLAG:
        worker(json.loads(sys.argv[2]))
        return
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="log-instructions-") as work:
        measure(args, Path(work))


if __name__ == "__main__":
    main()
