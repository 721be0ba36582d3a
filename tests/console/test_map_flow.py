"""Notifying from the map in a browser: party A draws a circle over party B's notification, the
conflict is drawn and listed; B sees it arrive live and acknowledges it; A sees that live."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from .conftest import CENTRE, World, circle_volume, notify, open_view, screenshot, sign_in

CONFLICT_COLOUR = "#D55E00"


def _draw_circle_at_centre(page: Page, radius_px: int) -> None:
    """Draws a circle at the map's centre (where the mechanism's area centre lies)."""
    box = page.get_by_role("region", name="Map of notifications and conflicts").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.get_by_role("button", name="Draw circle").click()
    page.mouse.click(x, y)
    page.mouse.move(x + radius_px / 2, y, steps=4)
    page.mouse.click(x + radius_px, y)


def test_a_conflict_drawn_by_one_party_is_acknowledged_live_by_the_other(
    browser: Browser, world: World
) -> None:
    notify(world, "BRAVO", "BRAVO field hospital", circle_volume(*CENTRE, 5000, start_in_h=1))
    bravo = sign_in(browser, world, "BRAVO", "map")
    bravo_conflict = bravo.page.get_by_role("button", name=re.compile(r"^Conflict with ALPHA"))
    own = bravo.page.get_by_role("button", name=re.compile("BRAVO field hospital"))
    expect(own).to_be_visible()
    expect(bravo_conflict).to_have_count(0)

    alpha = sign_in(browser, world, "ALPHA", "map")
    page = alpha.page
    _draw_circle_at_centre(page, radius_px=60)
    page.get_by_label("Title").fill("ALPHA convoy RED")
    page.get_by_role("button", name="Notify", exact=True).click()

    conflict = page.get_by_role("button", name=re.compile(r"^Conflict with BRAVO"))
    expect(conflict).to_contain_text("they have not acknowledged")
    expect(page.locator(f'.map path[stroke="{CONFLICT_COLOUR}"]').first).to_be_visible()
    screenshot(page, "map-conflict")

    expect(bravo_conflict).to_be_visible()
    bravo_conflict.click()
    bravo.page.get_by_role("button", name="Acknowledge conflict (received and read)").click()
    details = bravo.page.get_by_role("complementary", name="Details")
    expect(details).to_contain_text("You acknowledged")
    expect(details).to_contain_text("yes (received and read)")
    # The panel has been drawn again from the reloaded conflict: the confirmation is still there.
    confirmation = details.get_by_role("status").filter(has_text="Acknowledged: received and read.")
    expect(confirmation).to_be_visible()
    expect(confirmation).to_contain_text("Recorded")
    screenshot(bravo.page, "map-acknowledged")

    expect(conflict).to_contain_text("they acknowledged")
    expect(conflict).not_to_contain_text("they have not acknowledged")
    open_view(page, "Timeline")
    expect(page.get_by_text("ALPHA convoy RED").first).to_be_visible()
    screenshot(page, "timeline")
    open_view(bravo.page, "Line")
    system = bravo.page.locator("li.inbox-item").filter(has_text="Conflict cfl_")
    expect(system.get_by_role("button", name="Acknowledge")).to_be_visible()
    screenshot(bravo.page, "line-conflict")
    for session in (alpha, bravo):
        assert session.errors == []
        session.page.context.close()
