"""The crash harness in its quick mode: a real server killed with SIGKILL under load three times
(one restart killed again while starting) loses nothing it acknowledged (bench/crash.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The harness makes its own SQLite file; on the PostgreSQL run it would only repeat this test.
pytestmark = pytest.mark.sqlite_only(reason="the harness runs on its own SQLite file")


def test_nothing_acknowledged_is_lost_across_three_sigkills(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "bench/crash.py",
            "--kills",
            "3",
            "--startup-kills",
            "1",
            "--workers",
            "4",
            "--max-gap",
            "1.0",
            "--tail",
            "0.5",
            "--dir",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout
    assert done.returncode == 0, f"{report}\n{done.stderr[-3000:]}"
    assert re.search(r"^kills \(SIGKILL under load\) +3$", report, re.MULTILINE), report
    assert re.search(r"^kills while starting +1$", report, re.MULTILINE), report
    assert re.search(r"^violations +none$", report, re.MULTILINE), report
    acknowledged = re.search(r"^requests sent +\d+: 2xx (\d+)", report, re.MULTILINE)
    assert acknowledged and int(acknowledged[1]) > 0, report
    assert report.count("the log is intact") == 2, report  # after the last kill, at the end
