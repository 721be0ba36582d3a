"""The scheduler: reminders, escalations and silence alarms when deadlines pass."""

from __future__ import annotations

from deconfliction.services.context import Context


def step(ctx: Context) -> bool:
    """Process what is due now; True when there may be more to do at once."""
    return False
