"""The CLI's HTTP client: base URL and token from options or environment, problems shown clearly."""

from __future__ import annotations

from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console

err = Console(stderr=True)

URL_ENV = "DECONFLICTION_URL"
TOKEN_ENV = "DECONFLICTION_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"

UrlOption = typer.Option(DEFAULT_URL, "--url", envvar=URL_ENV, help="the server's base URL")
TokenOption = typer.Option(
    ...,
    "--token",
    envvar=TOKEN_ENV,
    show_default=False,
    help=f"your bearer token (or set {TOKEN_ENV})",
)


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def call(
    method: str,
    url: str,
    token: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request; a problem+json answer becomes a readable error and exit status 1."""
    try:
        response = httpx.request(
            method,
            url.rstrip("/") + path,
            json=json,
            timeout=30.0,
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
    except httpx.HTTPError as error:
        fail(f"cannot reach {url}: {error}")
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
    except ValueError:
        fail(f"HTTP {response.status_code}: {response.text[:500]}")
    lines = [f"HTTP {response.status_code} {problem.get('title', '')}: {problem.get('detail', '')}"]
    lines += [f"  {e['field']}: {e['reason']}" for e in problem.get("errors", [])]
    fail("\n".join(lines))
