"""Notification lifecycle: notified → active → ended, or cancelled; and the late-notice flag."""

from __future__ import annotations

from datetime import datetime, timedelta

from deconfliction.domain.rules import Rules

STATES = ("notified", "active", "ended", "cancelled")
KINDS = ("air", "ground", "maritime", "uas", "site")


def state_at(*, cancelled: bool, start: datetime, end: datetime, now: datetime) -> str:
    """The state of a notification whose volumes span [start, end), seen at `now`."""
    if cancelled:
        return "cancelled"
    if now < start:
        return "notified"
    if now < end:
        return "active"
    return "ended"


def is_late(*, start: datetime, received_at: datetime, rules: Rules) -> bool:
    """Late when received less than the minimum notice before it starts: flagged, never refused."""
    return start - received_at < timedelta(minutes=rules.minimum_notice_min)
