"""RFC 3339 instants: what format_instant writes, and that parse_instant reads it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deconfliction.domain.times import format_instant, parse_instant


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
