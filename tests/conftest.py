"""Suite-wide rules: under CI (CI=true) a skipped test is a failure, not a pass; the databases
tests open follow DECONFLICTION_TEST_DB (tests/backends.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import ON_POSTGRES, Databases, drop_template


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgres_only: needs DECONFLICTION_TEST_DB to name a PostgreSQL server; deselected "
        "(not skipped) on the SQLite run",
    )
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about SQLite itself; deselected on the PostgreSQL run"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests that belong to the other backend's run (each run covers its own)."""
    other = "sqlite_only" if ON_POSTGRES else "postgres_only"
    left_out = [item for item in items if item.get_closest_marker(other)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    """Fresh databases for this test (SQLite files, or PostgreSQL databases), dropped after it."""
    with Databases(tmp_path) as made:
        yield made


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_template()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") == "true" and skipped and exitstatus == 0:
        reporter.write_line(
            f"CI=true: {skipped} test(s) skipped for want of something this machine lacks; "
            "CI installs everything, so a skip is a failure here",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
