"""bench/notify.py's report: per-round tables, medians and the verdict against the target, for
the in-process runs and the runs over HTTP, then the revisions, the machine and the stores."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interleave import pair_costs

if TYPE_CHECKING:
    from notify import Config, Variant

TARGET = 0.15


def machine() -> dict[str, str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": f"{platform.system()} {platform.release()}",
    }


def report(
    config: Config,
    variants: list[Variant],
    fills: dict[str, dict[str, Any]],
    runs: dict[str, list[dict[str, Any]]],
    served: dict[str, list[dict[str, Any]]],
    seconds: float,
    changed: list[str],
) -> None:
    print(
        f"\nnotify throughput at N = {config.n:,} stored notifications: {config.notifies:,} "
        f"timed notifies per variant and round (after {config.warmup} warm-up), in alternating "
        f"blocks of {config.block}; {config.rounds} rounds; {config.parties} parties; "
        f"seed {config.seed}"
    )
    if config.in_process:
        report_in_process(config, variants, runs)
    if config.over_http:
        report_over_http(config, variants, served)
    facts = machine()
    print(
        f"\nrevisions: without log `{variants[0].revision}` (--baseline {config.baseline}), "
        f"log switched off and with log `{variants[2].revision}` (src/)"
    )
    print(
        f"machine: nproc {facts['nproc']}, {facts['cpu']}, {facts['system']}; "
        f"Python {facts['python']}, SQLite {facts['sqlite']}"
    )
    for label in changed:
        print(f"**warning**: the {label} source changed while it was being measured")
    f0, f1 = fills[variants[0].label], fills[variants[2].label]
    print(
        f"stores: {f0['db_mb']:.0f} MB without log, {f1['db_mb']:.0f} MB with log "
        f"({f1['log_size']:,} log entries prefilled); fill {f0['store_s']:.0f} s / "
        f"{f1['store_s']:.0f} s; total {seconds:.0f} s"
    )


def report_in_process(
    config: Config, variants: list[Variant], runs: dict[str, list[dict[str, Any]]]
) -> None:
    print(
        "\n### Through the use case, in-process: sequential, one thread "
        "(`services.notifications.notify`)"
    )
    print(
        "\n| round | variant | revision | notifies/s | p50 ms | p99 ms | mean ms | CPU ms "
        "| CPU/wall | in log ms | conflicts | log entries | log size before | load avg before |"
    )
    print(
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- |"
    )
    for r in range(config.rounds):
        for v in variants:
            x = runs[v.label][r]
            print(
                f"| {r + 1} | {v.label} | `{v.revision}` | {_timing_cells(x)} "
                f"| {_in_log(x)} "
                f"| {x['conflicts_per_notify']:.2f} | {x['log_entries_per_notify']:.2f} "
                f"| {x['log_before']:,} | {x['load']} |"
            )
    print(
        "\n*mean ms* and *CPU ms* are per notify (CPU: the worker process's, user + system); "
        "*in log ms*: mean time per notify inside `ledger.record` + `ledger.with_receipt`; "
        "*conflicts* and *log entries*: per notify"
    )
    print(
        "\n| variant | median notifies/s | median p50 ms | median p99 ms | median CPU ms "
        "| median in log ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for v in variants:
        x = runs[v.label]
        in_log = statistics.median(sum(r["in_log_ms"].values()) for r in x)
        print(
            f"| {v.label} (`{v.revision}`) | {_median(x, 'per_s'):.1f} "
            f"| {_median(x, 'p50_ms'):.2f} | {_median(x, 'p99_ms'):.2f} "
            f"| {_median_cpu_ms(x):.2f} | {in_log:.2f} |"
        )
    _verdicts(config, variants, runs, "in-process, through the use case")


def report_over_http(
    config: Config, variants: list[Variant], served: dict[str, list[dict[str, Any]]]
) -> None:
    print(
        f"\n### Through a real server over HTTP: {config.concurrency} notifies in flight, client "
        "on the same machine (`bench/notify_http.py`)"
    )
    print(
        "\n| round | variant | revision | notifies/s | p50 ms | p99 ms | mean ms "
        "| server CPU ms | server CPU/wall | conflicts | load avg before |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in range(config.rounds):
        for v in variants:
            x = served[v.label][r]
            print(
                f"| {r + 1} | {v.label} | `{v.revision}` | {_timing_cells(x)} "
                f"| {x['conflicts_per_notify']:.2f} | {x['load']} |"
            )
    print(
        "\n*p50/p99/mean*: POST → 201 as the client saw it; *server CPU ms*: the server "
        "process's user + system CPU per notify"
    )
    print("\n| variant | median notifies/s | median p50 ms | median p99 ms | median CPU ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for v in variants:
        x = served[v.label]
        print(
            f"| {v.label} (`{v.revision}`) | {_median(x, 'per_s'):.1f} "
            f"| {_median(x, 'p50_ms'):.2f} | {_median(x, 'p99_ms'):.2f} "
            f"| {_median_cpu_ms(x):.2f} |"
        )
    _verdicts(config, variants, served, "over HTTP, through a real server")


def _timing_cells(x: dict[str, Any]) -> str:
    """A run's notifies/s, p50, p99, mean, CPU ms a notify and CPU/wall, as table cells."""
    return (
        f"{x['per_s']:.1f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['mean_ms']:.2f} "
        f"| {x['cpu_s'] * 1e3 / x['notifies']:.2f} | {x['cpu_s'] / x['wall_s']:.2f}"
    )


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(x[key] for x in runs)


def _median_cpu_ms(runs: list[dict[str, Any]]) -> float:
    return statistics.median(x["cpu_s"] * 1e3 / x["notifies"] for x in runs)


def _verdicts(
    config: Config, variants: list[Variant], runs: dict[str, list[dict[str, Any]]], how: str
) -> None:
    """The log's cost against today's code with the log switched off (the target's verdict),
    then against the revision before the log (which also counts every other change since)."""
    before, switched_off, with_log = variants
    cost = _cost(runs, switched_off, with_log)
    met = cost <= TARGET
    print(
        f"\nverdict ({how}): the transparency log costs {cost:.1%} of notify throughput at "
        f"N = {config.n:,} — target ≤ {TARGET:.0%}: **{'MET' if met else 'NOT MET'}**"
        + ("" if config.n >= 100_000 else f" (N = {config.n:,} is below the target's 10⁵)")
    )
    against_before = _cost(runs, before, with_log)
    print(
        f"\nagainst `{before.revision}`, the code before the log: {against_before:.1%} (the log "
        "and every other change made since)"
    )


def _cost(runs: dict[str, list[dict[str, Any]]], without: Variant, with_: Variant) -> float:
    """1 − (notifies/s with / without) per round, printed with the blocks' spread; the median
    of the rounds."""
    a_runs, b_runs = runs[without.label], runs[with_.label]
    # Each round's variants ran in alternating blocks over the same notifies, so each round's
    # pair is compared, not the medians of each variant taken separately.
    per_round = [1 - b["per_s"] / a["per_s"] for a, b in zip(a_runs, b_runs, strict=True)]
    cost = statistics.median(per_round)
    blocks = sorted(c for a, b in zip(a_runs, b_runs, strict=True) for c in pair_costs(a, b))
    quartiles = statistics.quantiles(blocks, n=4) if len(blocks) > 1 else blocks * 3
    print(
        f"\n{without.label} → {with_.label}: cost = 1 − (notifies/s {with_.label} / "
        f"{without.label}) per round {', '.join(f'{c:+.1%}' for c in per_round)}; median of "
        f"the rounds **{cost:.1%}**; the {len(blocks)} pairs of blocks' own costs: median "
        f"{statistics.median(blocks):.1%}, quartiles {quartiles[0]:.1%} – {quartiles[2]:.1%}, "
        f"range {blocks[0]:.1%} – {blocks[-1]:.1%}"
    )
    return cost


def _in_log(run: dict[str, Any]) -> str:
    spent = run["in_log_ms"]
    if not spent:
        return "–"
    parts = " + ".join(f"{spent[name]:.2f}" for name in ("record", "with_receipt"))
    return f"{sum(spent.values()):.2f} ({parts})"
