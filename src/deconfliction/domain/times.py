"""Time: RFC 3339 instants with a required offset, kept in UTC, and time windows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from deconfliction.errors import InvalidInput

MAX_LEAD = timedelta(days=400)


RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$"
)
EXAMPLE = "must be an RFC 3339 date-time such as 2026-05-01T06:00:00Z"


def parse_instant(value: Any, field: str) -> datetime:
    """An aware UTC datetime from an RFC 3339 string; a missing offset is an error, not a guess."""
    if isinstance(value, datetime):
        parsed = value
    else:
        match = RFC3339.match(value) if isinstance(value, str) and len(value) <= 40 else None
        if match is None:
            raise InvalidInput.one(field, EXAMPLE)
        if match["offset"] is None:
            raise InvalidInput.one(
                field, "needs a UTC offset (Z or ±hh:mm); local time is ambiguous"
            )
        if match["fraction"] and len(match["fraction"]) > 7:
            # Python keeps microseconds: more digits would be silently cut, so they are refused.
            raise InvalidInput.one(field, "has more than 6 fractional digits of a second")
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            raise InvalidInput.one(field, f"{EXAMPLE} (this one is not a real date)") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput.one(field, "needs a UTC offset (Z or ±hh:mm); local time is ambiguous")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:30:00-01:00 is in the year 10000 in UTC
        raise InvalidInput.one(field, "is outside the years 0001–9999 in UTC") from None


def format_instant(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, keeping fractions of a second only when there are any.

    `isoformat` always writes four digits of year (`strftime("%Y")` writes 999 for 0999) and is
    twice as fast; a fraction it writes has six digits, of which trailing zeros are dropped.
    """
    utc = moment.astimezone(UTC)
    text = utc.replace(tzinfo=None).isoformat()
    return (text.rstrip("0") if utc.microsecond else text) + "Z"


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open interval [start, end) in UTC."""

    start: datetime
    end: datetime


def passes_at(window: TimeWindow, now: datetime) -> bool:
    """Whether a window `parse_window` accepted at another moment passes its checks at `now` too:
    not over, not too far ahead. Its other checks do not depend on the moment."""
    return now < window.end and window.start - now <= MAX_LEAD


def parse_window(
    start: Any, end: Any, field: str, *, now: datetime, max_duration: timedelta
) -> TimeWindow:
    """Validate a window: start < end, not over, not too long, not absurdly far ahead."""
    begin = parse_instant(start, f"{field}.start")
    finish = parse_instant(end, f"{field}.end")
    if not begin < finish:
        raise InvalidInput.one(f"{field}.end", "must be later than start")
    if finish <= now:
        raise InvalidInput.one(
            f"{field}.end", f"is in the past (now is {format_instant(now)}): nothing to notify"
        )
    if finish - begin > max_duration:
        hours = max_duration.total_seconds() / 3600
        raise InvalidInput.one(
            f"{field}.end", f"window is longer than the mechanism's maximum of {hours:g} h"
        )
    if begin - now > MAX_LEAD:
        raise InvalidInput.one(
            f"{field}.start", f"is more than {MAX_LEAD.days} days ahead; notify closer to the time"
        )
    return TimeWindow(begin, finish)
