"""FastAPI's OpenTelemetry instrumentation: off unless DECONFLICTION_OPENTELEMETRY asks for it.

The tracer provider is a fake at the edge (the process's exporter): it records the spans it is
asked to start. The test installs it where FastAPI looks for the process's provider.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.services.context import Context

from .conftest import CheckedClient, Database, bearer


class RecordingTracer(trace.NoOpTracer):
    def __init__(self, started: list[str]) -> None:
        self.started = started

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.started.append(name)
        return super().start_span(name, *args, **kwargs)


class RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.started: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RecordingTracer(self.started)


@pytest.mark.parametrize(("enabled", "spans"), [(False, 0), (True, 1)])
def test_request_spans_only_when_the_operator_turns_them_on(
    ctx: Context,
    database: Database,
    operator_token: str,
    monkeypatch: pytest.MonkeyPatch,
    enabled: bool,
    spans: int,
) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    app = create_app(ctx, Settings(db=database.url, opentelemetry=enabled))
    with CheckedClient(app) as client:
        response = client.get("/v1/me", headers=bearer(operator_token))
    assert response.status_code == 200
    assert provider.started.count("GET") == spans


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({"DECONFLICTION_OPENTELEMETRY": "true"}).opentelemetry
    assert not Settings.from_env({}).opentelemetry
