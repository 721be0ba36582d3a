"""Schemathesis against the app's own /openapi.json: generated and mutated requests to every
operation, as a member party and as the operator, never get a server error, an undocumented
status or content type, or a body that breaks the documented schema.

The live event stream is left out: it never ends, so it has tests of its own (test_events.py).
`DECONFLICTION_FUZZ_EXAMPLES` (8) sets the cases per operation; docs/reliability.md gives a run
with thousands.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from backends import Databases
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.services.tokens import create_operator_token

from .conftest import (
    CheckedClient,
    MovableClock,
    World,
    bearer,
    build_world,
    open_test_context,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, World]]:
    folder = tmp_path_factory.mktemp("fuzz")
    with Databases(folder) as databases:
        database = databases.new()
        clock = MovableClock()
        ctx = open_test_context(database, clock)
        app = create_app(ctx, Settings(db=database.url))
        with CheckedClient(app) as client:
            yield app, build_world(client, clock, database, create_operator_token(ctx))
        ctx.store.close()


EXAMPLES = int(os.environ.get("DECONFLICTION_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def fuzz_every_operation(app: Any, headers: dict[str, str]) -> tuple[int, int]:
    """Run the checks on generated requests to every operation; (operations, cases run)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/events")
    operations = [result.ok() for result in schema.get_all_operations()]
    cases = 0
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
    print(f"{cases} cases over {len(operations)} operations")
    return len(operations), cases


def test_as_a_member_party(fuzzed: tuple[Any, World]) -> None:
    app, world = fuzzed
    operations, cases = fuzz_every_operation(app, world.north.headers)
    assert operations >= 50 and cases >= operations


def test_as_the_operator(fuzzed: tuple[Any, World]) -> None:
    app, world = fuzzed
    operations, cases = fuzz_every_operation(app, world.operator)
    assert operations >= 50 and cases >= operations


def test_every_v1_operation_documents_its_problems(fuzzed: tuple[Any, World]) -> None:
    _, world = fuzzed
    document = world.client.get("/openapi.json", headers=bearer("x")).json()
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "422"):
                content = responses[status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
            assert ("409" in responses) == (method != "get"), (method, path)
    assert "HTTPValidationError" not in str(document)
