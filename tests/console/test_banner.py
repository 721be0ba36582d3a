"""The alarm banner in a browser: a message or a conflict of yours left overdue by the other
side, and a member gone silent, each shown at once on whatever view is open; gone when it is no
longer true."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, expect

from .conftest import CENTRE, World, circle_volume, screenshot, sign_in

NOTICED_MS = 15_000  # the scheduler's pass, its event, and the banner's refresh


def test_a_message_overdue_with_the_other_side_raises_the_banner(
    browser: Browser, world: World
) -> None:
    alpha = sign_in(browser, world, "ALPHA", "proof")
    banner = alpha.page.get_by_role("alert").filter(has_text="overdue with BRAVO")
    due = datetime.now(UTC) + timedelta(seconds=2)
    sent = world.call(
        "ALPHA",
        "POST",
        f"/v1/mechanisms/{world.mechanism}/messages",
        {
            "to": [world.parties["BRAVO"]],
            "type": "request-change",
            "body": "Move convoy RED one hour later.",
            "ack_deadline": due.isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
    )
    expect(banner).to_contain_text(sent["id"], timeout=NOTICED_MS)
    expect(banner).to_contain_text("Do not assume it was read")
    screenshot(alpha.page, "banner")

    world.call("BRAVO", "POST", f"/v1/messages/{sent['id']}/acknowledge")
    expect(banner).to_have_count(0)
    assert alpha.errors == []
    alpha.page.context.close()


def test_a_silent_member_raises_the_banner(browser: Browser, world: World) -> None:
    body = {"name": "Quiet line", "rules": {"silence_alarm_min": 0.05}}
    quiet = world.call("operator", "POST", "/v1/mechanisms", body)["id"]
    charlie = world.call(
        "operator", "POST", "/v1/parties", {"name": "Party CHARLIE", "code": "CHARLIE"}
    )["id"]
    for party in (world.parties["ALPHA"], charlie):
        world.call("operator", "POST", f"/v1/mechanisms/{quiet}/members", {"party_id": party})

    alpha = sign_in(browser, world, "ALPHA", "proof")
    banner = alpha.page.get_by_role("alert").filter(has_text="silent")
    expect(banner).to_contain_text(
        "The line is silent in Quiet line: CHARLIE has not contacted the service ever",
        timeout=NOTICED_MS,
    )
    assert alpha.errors == []
    alpha.page.context.close()


def test_a_conflict_the_other_side_leaves_unacknowledged_raises_the_banner(
    browser: Browser, world: World
) -> None:
    body = {"name": "Hurried line", "rules": {"urgent_ack_deadline_min": 0.05}}
    hurried = world.call("operator", "POST", "/v1/mechanisms", body)["id"]
    for code in ("ALPHA", "BRAVO"):
        member = {"party_id": world.parties[code]}
        world.call("operator", "POST", f"/v1/mechanisms/{hurried}/members", member)
    for code in ("BRAVO", "ALPHA"):
        volume = circle_volume(*CENTRE, 4000)
        notification = {"kind": "air", "title": f"{code} sortie", "volumes": [volume]}
        made = world.call(code, "POST", f"/v1/mechanisms/{hurried}/notifications", notification)
    (conflict,) = made["conflicts"]

    alpha = sign_in(browser, world, "ALPHA", "proof")
    banner = alpha.page.get_by_role("alert").filter(has_text=conflict["id"])
    expect(banner).to_contain_text("is overdue with BRAVO", timeout=NOTICED_MS)

    world.call("BRAVO", "POST", f"/v1/conflicts/{conflict['id']}/acknowledge")
    expect(banner).to_have_count(0)
    assert alpha.errors == []
    alpha.page.context.close()
