"""RFC 3339 instants: what format_instant writes, and that parse_instant reads it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from deconfliction.domain.times import (
    MAX_LEAD,
    format_instant,
    parse_instant,
    parse_window,
    passes_at,
)
from deconfliction.errors import InvalidInput


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 5, 31, 6, 0, tzinfo=UTC), "2026-05-31T06:00:00Z"),
        (datetime(2026, 5, 31, 6, 0, 0, 45_974, tzinfo=UTC), "2026-05-31T06:00:00.045974Z"),
        (datetime(2026, 5, 31, 6, 0, 0, 500_000, tzinfo=UTC), "2026-05-31T06:00:00.5Z"),
        (datetime(2026, 5, 31, 6, 0, 0, 10, tzinfo=UTC), "2026-05-31T06:00:00.00001Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
        (
            datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5))),
            "2025-12-31T20:30:00Z",
        ),
    ],
)
def test_an_instant_is_written_in_utc_with_four_digits_of_year_and_no_idle_zeros(
    moment: datetime, text: str
) -> None:
    assert format_instant(moment) == text
    assert parse_instant(text, "at") == moment


NOW = datetime(2026, 11, 1, tzinfo=UTC)
offsets = st.floats(-3 * 86_400, 1.2 * MAX_LEAD.total_seconds())
MICROSECOND = timedelta(microseconds=1)


def _accepted(start: datetime, end: datetime, now: datetime) -> bool:
    try:
        parse_window(
            format_instant(start), format_instant(end), "v", now=now, max_duration=timedelta(days=3)
        )
    except InvalidInput:
        return False
    return True


@given(
    start=offsets,
    length=st.floats(1.0, 3 * 86_400),
    first=offsets,
    edge=st.sampled_from(["anywhere", "the end", "the lead"]),
    later=offsets,
    step=st.integers(-2, 2),
)
def test_a_window_accepted_at_one_moment_passes_at_another_exactly_when_parsed_then(
    start: float, length: float, first: float, edge: str, later: float, step: int
) -> None:
    """`passes_at` stands for parsing the window again at another moment (the early parse of a
    notification relies on it), whichever way the clock moved; the other moment is drawn
    anywhere, or within microseconds of where the window ends or starts too far ahead."""
    begin = NOW + timedelta(seconds=round(start, 6))
    end = begin + timedelta(seconds=round(length, 6))
    then = NOW + timedelta(seconds=round(first, 6))
    assume(_accepted(begin, end, then))
    window = parse_window(
        format_instant(begin), format_instant(end), "v", now=then, max_duration=timedelta(days=3)
    )
    moments = {
        "anywhere": then + timedelta(seconds=round(later, 6)),
        "the end": end + step * MICROSECOND,
        "the lead": begin - MAX_LEAD + step * MICROSECOND,
    }
    moment = moments[edge]
    assert passes_at(window, moment) == _accepted(begin, end, moment)
