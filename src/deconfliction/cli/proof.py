"""Proof commands: download and verify receipts (parties), audit the whole log (operator), show
the newest signed head and rotate the service's key.

`receipt verify` and `audit verify` work offline: the first needs only the proof file and the
service's public key(s), the second only the database file. See docs/proof.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from deconfliction.cli.http import TokenOption, UrlOption, call, fail
from deconfliction.config import Settings
from deconfliction.proof import receipts
from deconfliction.proof.receipts import ProofFile, ProofFileError, Verification
from deconfliction.proof.tree_head import SignedTreeHead
from deconfliction.services.audit import AuditReport, audit_log
from deconfliction.storage import (
    POSTGRES_SCHEMES,
    DatabaseUnavailable,
    UnsupportedDatabase,
    open_store,
    sqlite_path,
)

out = Console()
err = Console(stderr=True)

MAX_PROOF_FILE_BYTES = 128 * 1024 * 1024
MAX_KEY_FILE_BYTES = 4096
PAGE = 100

receipt = typer.Typer(
    help="Receipts: download your party's proof file; verify it offline.", no_args_is_help=True
)
audit = typer.Typer(
    help="Operator: audit the whole transparency log offline.", no_args_is_help=True
)
log = typer.Typer(
    help="The transparency log: the newest signed head; key rotation.", no_args_is_help=True
)


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Reading what the user gives.


def _read_proof_file(path: Path) -> ProofFile:
    """The proof file (or receipt) at `path`; a clear error if it is unreadable or malformed."""
    try:
        size = path.stat().st_size
        if size > MAX_PROOF_FILE_BYTES:
            fail(
                f"{path} is {size} bytes, more than the {MAX_PROOF_FILE_BYTES} a proof file may be"
            )
        document = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {path}: {error}")
    except ValueError as error:
        fail(f"{path} is not JSON: {error}")
    try:
        return receipts.parse(document)
    except ProofFileError as error:
        fail(f"{path}: {error}")


def _raw_key(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _public_key(value: str) -> bytes:
    """--key: the base64 of a 32-byte Ed25519 public key, or a file holding it."""
    raw = _raw_key(value)
    if raw is not None:
        return raw
    path = Path(value)
    if not path.is_file():
        fail(f"--key {value}: neither the base64 of a 32-byte Ed25519 public key nor a file")
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            fail(f"--key {value}: the file is larger than {MAX_KEY_FILE_BYTES} bytes")
        raw = _raw_key(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--key {value}: cannot read the file: {error}")
    if raw is None:
        fail(f"--key {value}: the file does not hold the base64 of a 32-byte Ed25519 public key")
    return raw


# receipt verify


def _summary_table(verification: Verification) -> Table:
    passed = Counter(check.kind for check in verification.checks if check.ok)
    failed = Counter(check.kind for check in verification.checks if not check.ok)
    table = Table(title="checks")
    table.add_column("check")
    table.add_column("passed", justify="right")
    table.add_column("failed", justify="right")
    for kind in dict.fromkeys(check.kind for check in verification.checks):
        table.add_row(
            kind,
            str(passed[kind]),
            Text(str(failed[kind]), style="bold red" if failed[kind] else ""),
        )
    return table


def _checks_table(verification: Verification, everything: bool) -> Table:
    table = Table(title="every check" if everything else "failed checks")
    table.add_column("check")
    table.add_column("about")
    table.add_column("result")
    table.add_column("why")
    for check in verification.checks:
        if everything or not check.ok:
            result = Text("ok", style="green") if check.ok else Text("FAILED", style="bold red")
            table.add_row(check.kind, check.subject, result, check.message)
    return table


@receipt.command("verify")
def verify_receipts(
    file: Path = typer.Argument(
        ..., dir_okay=False, help="a proof file, a receipt, or a saved write response"
    ),
    key: list[str] = typer.Option(
        ...,
        "--key",
        help="the service's base64 public key, or a file holding it, from a channel you trust "
        "(repeat for more)",
    ),
    everything: bool = typer.Option(False, "--all", help="list every check, not only failures"),
) -> None:
    """Verify receipts offline with only the service's public key: exit 0 if every check passes."""
    keys = [_public_key(value) for value in key]
    verification = receipts.verify(_read_proof_file(file), keys)
    out.print(_summary_table(verification))
    if everything or not verification.ok:
        out.print(_checks_table(verification, everything))
    trusted = ", ".join(verification.trusted_key_ids)
    out.print(f"trusted keys: {trusted}", highlight=False)
    if not verification.ok:
        failed = len(verification.failures())
        out.print(f"[bold red]NOT verified[/]: {failed} check(s) failed in {file}", highlight=False)
        raise typer.Exit(1)
    out.print(
        f"[green]verified[/]: all {len(verification.checks)} checks passed in {file}",
        highlight=False,
    )


# receipt download


def _largest(fetched: ProofFile) -> SignedTreeHead:
    """The largest head fetched from one log (the pages' may be signed after the first)."""
    return max(fetched.heads(), key=lambda head: head.tree_size)


def _from_server(document: dict[str, Any]) -> ProofFile:
    try:
        return receipts.parse({"format": receipts.FORMAT, **document})
    except ProofFileError as error:
        fail(f"the server's answer is malformed: {error}")


def _fetched(url: str, token: str, shard: str | None) -> tuple[ProofFile, dict[str, Any]]:
    """Every receipt the caller may see in one shard's log (the home database's for None)
    against its newest heads (the head signed now first), the announcements of the service's
    keys, and the server's view of its keys and shards."""
    where = {} if shard is None else {"shard": shard}
    view = call("POST", url, token, "/v1/log/head", params=where)
    found: list[Any] = []
    heads = [view.get("tree_head")]
    after: int | None = -1
    while after is not None:
        params = {"after": after, "limit": PAGE, **where}
        page = call("GET", url, token, "/v1/receipts", params=params)
        found += page.get("receipts", [])
        heads.append(page.get("tree_head"))
        after = page.get("next_after")
    keys = view.get("keys", [])
    rotations = [k["announcement"] for k in keys if isinstance(k, dict) and k.get("announcement")]
    document = {"receipts": found, "tree_heads": heads, "key_rotations": rotations}
    return _from_server(document), view


def _with_consistency(
    proof: ProofFile, url: str, token: str, shard: str | None, newest: SignedTreeHead
) -> ProofFile:
    """`proof` with the consistency proofs of one shard's log it lacks, up to its newest
    head."""
    where = {} if shard is None else {"shard": shard}
    answers = [
        call(
            "GET",
            url,
            token,
            "/v1/log/consistency",
            params={"first": a, "second": b, **where},
        )
        for a, b in receipts.missing_consistency(proof, newest.log_id)
        if b <= newest.tree_size
    ]
    fetched = _from_server({"consistency": answers}).consistency
    return ProofFile(
        proof.receipts, proof.tree_heads, (*proof.consistency, *fetched), proof.key_rotations
    )


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        fail(f"cannot write {path}: {error}")


def _first_key(view: dict[str, Any]) -> Any:
    """The public key the log began with (the one no announcement introduced)."""
    keys = [k for k in view.get("keys", []) if isinstance(k, dict)]
    first = next((k for k in keys if not k.get("announcement")), None)
    return view.get("public_key") if first is None else first.get("public_key")


def _server_keys(view: dict[str, Any]) -> list[bytes]:
    keys = [_raw_key(str(k.get("public_key"))) for k in view.get("keys", []) if isinstance(k, dict)]
    return [raw for raw in keys if raw is not None]


@receipt.command("download")
def download(
    out_file: Path = typer.Option(
        ..., "--out", dir_okay=False, help="the proof file to create or bring up to date"
    ),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Download your receipts, the newest signed head and the keys into a proof file.

    An existing file keeps the heads it holds; the consistency proofs between them and the new
    head are fetched, so the file shows the log only grew. In a deployment over several
    databases, every shard's log is downloaded into the one file. Written atomically.
    """
    held = _read_proof_file(out_file) if out_file.exists() else ProofFile()
    fetched, view = _fetched(url, token, None)
    shards = [name for name in view.get("shards", []) if isinstance(name, str)][1:]
    newest = [_largest(fetched)]
    merged = receipts.merge(held, fetched)
    merged = _with_consistency(merged, url, token, None, newest[0])
    for shard in shards:  # a deployment over several databases: each shard's log too
        fetched, _ = _fetched(url, token, shard)
        newest.append(_largest(fetched))
        merged = receipts.merge(merged, fetched)
        merged = _with_consistency(merged, url, token, shard, newest[-1])
    _write_atomically(out_file, merged.to_json())

    known = {(r.leaf_index, r.leaf_hash) for r in held.receipts}
    new = sum((r.leaf_index, r.leaf_hash) not in known for r in merged.receipts)
    out.print(
        f"wrote {out_file}: receipts {len(merged.receipts)} ({new} new), tree heads "
        f"{len(merged.heads())}, consistency proofs {len(merged.consistency)}, key rotations "
        f"{len(merged.key_rotations)}",
        highlight=False,
    )
    for head in newest:
        out.print(
            f"newest head: log {head.log_id}, size {head.tree_size}, root {head.root_hash}, "
            f"at {head.timestamp}, key {head.key_id}",
            highlight=False,
        )
    first_key = _first_key(view)
    out.print(
        f"the log's first public key (compare it through a channel you trust; later keys follow "
        f"from it through their announcements): {first_key}\n"
        f"verify offline: deconfliction receipt verify {out_file} --key {first_key}",
        highlight=False,
        soft_wrap=True,
    )
    for head in newest:
        largest_held = max(
            (h.tree_size for h in held.heads() if h.log_id == head.log_id), default=0
        )
        if largest_held > head.tree_size:
            err.print(
                f"[bold red]warning:[/] this file holds a head of log {head.log_id} of size "
                f"{largest_held}, larger than the server's newest ({head.tree_size}): the log "
                "shown now is shorter than before",
                highlight=False,
            )
    verification = receipts.verify(merged, _server_keys(view))
    if not verification.ok:
        err.print(
            f"[bold red]warning:[/] {len(verification.failures())} check(s) fail even with the "
            f"keys the server presents; run the verify command above to see them",
            highlight=False,
        )
        raise typer.Exit(1)


# audit verify


def _audit_table(report: AuditReport) -> Table:
    table = Table(title="audit of the transparency log", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("log id", report.log_id or "none yet (no head names the log)")
    table.add_row("entries checked", f"{report.entries} (log size {report.log_size})")
    table.add_row("signed heads checked", str(report.heads))
    table.add_row("service keys", str(report.keys))
    table.add_row("key rotations in the log", str(report.rotations))
    table.add_row("first key id", report.first_key_id or "none")
    return table


def _findings_table(report: AuditReport) -> Table:
    table = Table(title="problems", caption=f"and {report.omitted} more" if report.omitted else "")
    table.add_column("check")
    table.add_column("entry", justify="right")
    table.add_column("head")
    table.add_column("problem")
    for finding in report.findings:
        index = "" if finding.index is None else str(finding.index)
        table.add_row(finding.check, index, finding.head or "", finding.message)
    return table


@audit.command("verify")
def audit_verify(
    db: str | None = typer.Option(
        None, "--db", help="database URL (default: $DECONFLICTION_DB or sqlite:///deconfliction.db)"
    ),
) -> None:
    """Check the whole log in the database: entries, leaf hashes, roots, signatures, keys.

    Offline: reads only the database. Exit 0 if every check passes, 1 with the first bad entry.
    """
    try:
        url = db or Settings.from_env().db
        path = None if url.startswith(POSTGRES_SCHEMES) else sqlite_path(url)
    except (ValueError, UnsupportedDatabase) as error:
        fail(str(error))
    if path is not None and not path.is_file():
        fail(f"no database at {path}")
    try:
        store = open_store(url)
    except DatabaseUnavailable as error:
        fail(str(error))
    columns = (TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("entries", total=None)
        report = audit_log(
            store, lambda done, total: progress.update(task, completed=done, total=total)
        )
    out.print(_audit_table(report))
    if report.ok:
        out.print("[green]the log is intact[/]: every check passed", highlight=False)
        return
    out.print(_findings_table(report))
    first = report.first_bad()
    out.print(
        f"[bold red]first bad entry: {first}[/]"
        if first
        else "[bold red]the entries agree with every signed head; the problems above are in "
        "the heads or keys[/]",
        highlight=False,
    )
    raise typer.Exit(1)


# log head, log rotate-key


@log.command("head")
def head(
    as_json: bool = typer.Option(False, "--json", help="print the JSON response"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """The newest signed tree head, the key that signed it and every key the log has used."""
    view = call("GET", url, token, "/v1/log/head")
    if as_json:
        _print_json(view)
        return
    tree_head = view["tree_head"]
    out.print(
        f"log {tree_head.get('log_id')}: tree size {tree_head['tree_size']}, root "
        f"{tree_head['root_hash']}\n"
        f"signed at {tree_head['timestamp']} by key {view['key_id']}\n"
        f"public key {view['public_key']}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(title="the log's keys")
    table.add_column("key id")
    table.add_column("activated (UTC)")
    table.add_column("retired (UTC)")
    table.add_column("announced by the previous key")
    for key in view.get("keys", []):
        table.add_row(
            key["key_id"],
            key["activated_at"],
            key.get("retired_at") or "—",
            "yes" if key.get("announcement") else "no (first key)",
        )
    out.print(table)


@log.command("rotate-key")
def rotate_key(url: str = UrlOption, token: str = TokenOption) -> None:
    """Operator: replace the service's signing key; prints the announcement the old key signed."""
    result = call("POST", url, token, "/v1/log/keys/rotate")
    announcement = result["announcement"]
    _print_json(announcement)
    out.print(
        f"key {announcement['new_key_id']} replaces {announcement['old_key_id']}; parties pick "
        "up the announcement with `deconfliction receipt download`",
        highlight=False,
    )
    for shard in result.get("shards", []):
        out.print(
            f"announced in the log of shard {shard['shard']} "
            f"({shard['first_tree_head'].get('log_id')}), entry {shard['receipt']['leaf_index']}",
            highlight=False,
        )
