"""A serving process's garbage collector (api/collector.py): the app `deconfliction serve` and
each of its workers build has what the process held at its start frozen out of the collector's
walks and its young generation collected every 7,000 allocations (CPython's own: 700); a bare
`create_app`, which the tests build by the hundred in one process, leaves the collector as it
was.

Each case runs in a fresh interpreter, as a server does: freezing is for the whole process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from backends import Databases

from deconfliction.api.collector import YOUNG_COLLECTION_EVERY

from .servers import server_env

OPERATOR = "operator-token-for-the-collector-test-0001"

# Each case ends with report(): the collector's state before anything ran and now.
PRELUDE = """
import gc, json
def state():
    return {"frozen": gc.get_freeze_count(), "young": gc.get_threshold()[0]}
before = state()
def report():
    print(json.dumps({"before": before, "after": state(), "walked": len(gc.get_objects())}))
"""

BUILDS = {
    # The command itself, up to where uvicorn would start serving the app it built.
    "serve": """
import uvicorn
uvicorn.run = lambda app, **options: report()
from deconfliction.cli.main import app
app(["serve"], standalone_mode=False)
""",
    # What uvicorn's supervisor calls in each worker process.
    "serve --workers": """
from deconfliction.cli.serve_workers import app
app()
report()
""",
    "create_app": """
from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.sharding.deployment import open_configured
settings = Settings.from_env()
create_app(open_configured(settings)[0], settings)
report()
""",
}


def _collector_around_build(builder: str, env: dict[str, str], cwd: Path) -> dict:
    command = [sys.executable, "-c", PRELUDE + BUILDS[builder]]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("builder", ["serve", "serve --workers"])
def test_a_serving_process_freezes_its_start_and_collects_the_young_less_often(
    builder: str, databases: Databases, tmp_path: Path
) -> None:
    env = server_env(databases.new("collector.db"), OPERATOR)
    found = _collector_around_build(builder, env, tmp_path)
    assert found["before"]["frozen"] == 0
    assert found["before"]["young"] < YOUNG_COLLECTION_EVERY  # CPython's own (700 on 3.11)
    assert found["after"]["young"] == YOUNG_COLLECTION_EVERY
    # What the process held when the app was built is out of the walks: tens of thousands of
    # objects frozen, and far fewer left for a full collection to walk.
    assert found["after"]["frozen"] > 20_000
    assert found["walked"] < found["after"]["frozen"] // 4


def test_a_bare_app_leaves_the_collector_alone(databases: Databases, tmp_path: Path) -> None:
    env = server_env(databases.new("collector.db"), OPERATOR)
    found = _collector_around_build("create_app", env, tmp_path)
    assert found["after"] == found["before"]
    assert found["after"]["frozen"] == 0
