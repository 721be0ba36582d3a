"""What the crash harness's clients remember (bench/crash.py): each notification and message as
sent, each acknowledgement, each party's inbox, and the run they all share."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crash_setup import Crasher, Party


@dataclass
class Attempt:
    """One version of a notification as sent; acknowledged when the server answered 2xx."""

    body: dict[str, Any]
    acknowledged: bool


@dataclass
class Tracked:
    """A notification as its sender knows it."""

    reference: str  # unique: finds the notification when its id never came back
    party_id: str
    mechanism_id: str
    created: str = "unsent"  # acknowledged | unknown | refused | unsent
    id: str | None = None
    version: int | None = None  # the current version as the client knows it; None: ask
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)
    cancel: str | None = None  # None (never asked), acknowledged or unknown
    retries: int = 0  # how many times still to send it again after an unknown answer
    retried: bool = False


@dataclass
class SentMessage:
    key: str
    party_id: str
    mechanism_id: str
    body: dict[str, Any]
    outcome: str = "unsent"  # acknowledged | unknown | refused | unsent
    id: str | None = None
    retries: int = 0
    retried: bool = False


@dataclass(frozen=True)
class Ack:
    party_id: str
    subject_type: str  # conflict | message
    subject_id: str
    version: int


@dataclass
class Inbox:
    """What a party has seen on its stream and may acknowledge."""

    items: list[tuple[str, str]] = field(default_factory=list)
    known: set[tuple[str, str]] = field(default_factory=set)

    def add(self, item: tuple[str, str]) -> None:
        if item not in self.known:
            self.known.add(item)
            self.items.append(item)


@dataclass
class Run:
    """Everything the load shares: the server's state, what was sent, what went wrong."""

    crasher: Crasher
    parties: list[Party]
    mechanisms: list[str]
    day: datetime
    creates_cap: int
    up: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # this life answered once
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    notifications: list[Tracked] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    inboxes: dict[str, Inbox] = field(default_factory=lambda: defaultdict(Inbox))
    creates: Counter[str] = field(default_factory=Counter)
    audits: list[str] = field(default_factory=list)  # each `audit verify`'s summary

    def violation(self, text: str) -> None:
        self.violations.append(text)

    def open_mechanisms(self) -> list[str]:
        return [m for m in self.mechanisms if self.creates[m] < self.creates_cap]

    def on_event(self, party: Party, event: dict[str, Any]) -> None:
        """A live event: what the party may now acknowledge."""
        kind = event["type"]
        if kind in ("conflict.detected", "conflict.updated"):
            self.inboxes[party.id].add(("conflict", event["subject_id"]))
        elif kind == "message.sent" and party.id in event["data"]["to"]:
            self.inboxes[party.id].add(("message", event["subject_id"]))
