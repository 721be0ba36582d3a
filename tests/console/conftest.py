"""Browser test fixtures: a real server per module, one shared headless Chromium, and parties
made through the API.

The browser is Debian's Chromium driven by Playwright. Where it is missing the tests are skipped,
except when CI is set (CI=true), where that is a failure: CI installs it (`.ci/run`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from backends import Databases
from cli.servers import server_env, serving
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
OPERATOR = "operator-token-for-the-console-tests-0001"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
TIMEOUT_MS = 10_000
# What Chromium prints when the API refuses a request with 422; the page itself reports nothing.
REFUSED = (
    "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
)


# The mechanism's area of interest, which the map fits on opening: centred on 36.5° E, 36.5° N.
AREA = {"type": "Polygon", "coordinates": [[[36, 36], [37, 36], [37, 37], [36, 37], [36, 36]]]}
CENTRE = (36.5, 36.5)


@dataclass
class World:
    """A served mechanism with two member parties, A and B, and their tokens."""

    url: str
    cwd: Path
    env: dict[str, str]
    mechanism: str
    parties: dict[str, str] = field(default_factory=dict)  # code → party id
    tokens: dict[str, str] = field(default_factory=dict)  # code or "operator" → bearer token

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        """An API call as `who` (a party code or "operator"); fails the test unless it succeeds."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response = httpx.request(method, self.url + path, json=body, headers=headers, timeout=30)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


@dataclass
class Session:
    """A page signed in as someone, with what its console printed."""

    page: Page
    errors: list[str]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cwd = tmp_path_factory.mktemp("console")
    with Databases(cwd) as databases:
        # A quick scheduler, so deadlines and silences are noticed within a second.
        env = {
            **server_env(databases.new("console.db"), OPERATOR),
            "DECONFLICTION_SCHEDULER_INTERVAL_S": "0.5",
        }
        with serving(env, cwd) as url:
            yield _populated(World(url, cwd, env, mechanism="", tokens={"operator": OPERATOR}))


def _populated(made: World) -> World:
    """The world's mechanism, its parties ALPHA and BRAVO and a token for each, via the API."""
    body = {"name": "Console test mechanism", "area": AREA}
    made.mechanism = made.call("operator", "POST", "/v1/mechanisms", body)["id"]
    for code in ("ALPHA", "BRAVO"):
        party = made.call(
            "operator",
            "POST",
            "/v1/parties",
            {"name": f"Party {code}", "code": code, "contact": f"{code} liaison cell"},
        )
        made.call(
            "operator",
            "POST",
            f"/v1/mechanisms/{made.mechanism}/members",
            {"party_id": party["id"]},
        )
        made.parties[code] = party["id"]
        made.tokens[code] = made.call(
            "operator", "POST", f"/v1/parties/{party['id']}/tokens", {"label": "duty desk"}
        )["token"]
    return made


def circle_volume(lon: float, lat: float, radius_m: float, start_in_h: float = 1.0) -> dict:
    """One volume: a circle, 0–1,000 m AMSL, two hours from `start_in_h` hours from now."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=start_in_h)
    return {
        "area": {"type": "Circle", "center": [lon, lat], "radius": radius_m},
        "altitude": {"lower": 0, "upper": 1000, "units": "m", "reference": "AMSL"},
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
    }


def notify(world: World, who: str, title: str, volume: dict) -> dict:
    """A notification by `who` through the API."""
    body = {"kind": "ground", "title": title, "volumes": [volume]}
    return world.call(who, "POST", f"/v1/mechanisms/{world.mechanism}/notifications", body)


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda error: errors.append(error.stack or str(error)))
    return errors


def sign_in(
    browser: Browser,
    world: World,
    who: str,
    view: str,
    size: tuple[int, int] = (1280, 720),
    prepare: Callable[[Page], object] | None = None,
    **context: Any,
) -> Session:
    """A new browser context (its own session storage) of `size` at `#/view`, signed in there
    through the sign-in form; `prepare(page)` runs first (to route requests, say)."""
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, **context)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    errors = _console_errors(page)
    if prepare:
        prepare(page)
    page.goto(f"{world.url}/#/{view}")
    page.get_by_label("Access token").fill(world.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return Session(page, errors)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_view(page: Page, name: str) -> None:
    """Follows the header's link to a view ("Map", "Timeline", "Line", "Proof", "Operator")."""
    page.get_by_role("navigation", name="Views").get_by_role("link", name=name, exact=True).click()


def error_of(page: Page, control: Locator) -> Locator:
    """The message a form shows under `control` (the first element its aria-describedby names)."""
    described = control.get_attribute("aria-describedby") or ""
    assert described, "the control names no element that describes it"
    return page.locator(f"#{described.split()[0]}")
