"""The conflict search of a notification's volumes: in its write, or made ahead of it.

On SQLite one write runs at a time across every process on the file. A new notification's
search — the candidates read, the exact test, the overlaps drawn each side may see — is the
costliest part of its write, and most of it need not wait for that turn. So a notify may search
ahead, in a read snapshot, before its write (`search_ahead`; when, `Store.work_ahead_is_free`
says): it reads the mechanism's index mark (storage/sqlite/index_changes.py) first,
then the candidates. In the write, `found_in_turn` asks which notifications' indexed volumes
changed after that mark: a finding with one of them is dropped, and those are searched again as
they are now; every other candidate is as the search ahead read it, so the findings are the
ones a search in the write would make. When the journal no longer reaches back to the mark, or
too many changed meanwhile, the write searches afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from deconfliction.domain.candidates import Candidates
from deconfliction.domain.conflicts import Finding, Placed, find_conflicts
from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import Box
from deconfliction.services.context import Context
from deconfliction.services.ports import Transaction
from deconfliction.services.stored_json import dumps

MAX_CHANGED = 256  # changed notifications searched again in the write; more: search afresh
JOURNAL_KEEP = 100_000  # the index journal's newest ids kept
PRUNE_BATCH = 10_000  # journal ids pruned a step


@dataclass(frozen=True)
class Found:
    """A conflict found, with its overlaps drawn as they are stored."""

    finding: Finding
    overlaps_json: str

    @property
    def pair(self) -> tuple[str, str]:
        return (self.finding.notification_a, self.finding.notification_b)


@dataclass(frozen=True)
class Ahead:
    """A search made before the write: the mechanism's index mark, then what it found."""

    mark: int
    found: list[Found]


def overlaps_json(finding: Finding) -> str:
    """The overlaps each side may see, as a conflict stores them."""
    return dumps(
        [
            {
                "a": o.a.to_json(),
                "b": o.b.to_json(),
                "horizontal_gap_m": round(o.horizontal_gap_m, 1),
            }
            for o in finding.overlaps
        ]
    )


def _found(
    tx: Transaction,
    mechanism_id: str,
    party_id: str,
    placed: list[tuple[Placed, Box]],
    rules: Rules,
    among: list[str] | None = None,
) -> list[Found]:
    """The volumes' conflicts with the index's candidates — all of them, or only those of the
    notifications `among` — with their overlaps drawn."""
    boxes = [box.widened(rules) for _volume, box in placed]
    if among is None:
        parts = [tx.candidates(mechanism_id, party_id, box) for box in boxes]
    else:
        parts = [tx.candidates_among(mechanism_id, party_id, box, among) for box in boxes]
    findings = find_conflicts([v for v, _ in placed], Candidates.union(parts), rules)
    return [Found(f, overlaps_json(f)) for f in findings]


def search_ahead(
    tx: Transaction,
    *,
    mechanism_id: str,
    party_id: str,
    placed: list[tuple[Placed, Box]],
    rules: Rules,
) -> Ahead:
    """Search in a read snapshot, before the write; the mark is read first, so every change
    the candidates might not show is after it."""
    mark = tx.index_mark(mechanism_id)
    return Ahead(mark, _found(tx, mechanism_id, party_id, placed, rules))


def found_in_turn(
    tx: Transaction,
    *,
    mechanism_id: str,
    party_id: str,
    placed: list[tuple[Placed, Box]],
    rules: Rules,
    ahead: Ahead | None = None,
) -> list[Found]:
    """The conflicts of the volumes with the mechanism's index as this write sees it, in pair
    order: the search ahead's, brought up to date, or a search afresh."""
    changed = None if ahead is None else tx.index_changed_since(mechanism_id, ahead.mark)
    if ahead is None or changed is None or len(changed) > MAX_CHANGED:
        return _found(tx, mechanism_id, party_id, placed, rules)
    others = changed - {volume.notification_id for volume, _ in placed}
    kept = [f for f in ahead.found if not others.intersection(f.pair)]
    again = _found(tx, mechanism_id, party_id, placed, rules, sorted(others)) if others else []
    return sorted(kept + again, key=lambda found: found.pair)


def prune_journal(ctx: Context) -> bool:
    """The background step: keep the index journal to its newest JOURNAL_KEEP ids, one process
    at a time; True when more is left to prune."""
    with ctx.store.write() as tx:
        return tx.claim_step("index journal") and tx.prune_index_changes(JOURNAL_KEEP, PRUNE_BATCH)
