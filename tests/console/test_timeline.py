"""The timeline in a browser: every bar and axis label inside the axis, and the line at now on
the time axis (gone when now lies outside it)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from .conftest import CENTRE, World, circle_volume, notify, screenshot, sign_in

# The bars and the shown axis labels that stick out of the axis, as "class text" strings.
OUTSIDE = """() => {
  const track = document.querySelector(".timeline .axis .track").getBoundingClientRect();
  return [...document.querySelectorAll(".timeline .bar, .timeline .tick:not([hidden])")]
    .filter((node) => {
      const box = node.getBoundingClientRect();
      return box.left < track.left - 0.5 || box.right > track.right + 0.5;
    })
    .map((node) => `${node.className} ${node.textContent}`);
}"""


NEXT_FRAMES = (
    "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
)


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box


def test_the_now_line_lies_at_now_on_the_axis(browser: Browser, world: World) -> None:
    notify(world, "BRAVO", "BRAVO exercise far", circle_volume(*CENTRE, 3000, start_in_h=72))
    bravo = sign_in(browser, world, "BRAVO", "timeline")
    page = bravo.page
    expect(page.get_by_text("BRAVO exercise far")).to_be_visible()
    # Three days ahead: now is not on the axis, and said to be before it.
    expect(page.locator(".now-line")).to_be_hidden()
    expect(page.locator(".now-note")).to_contain_text("is before this axis")
    assert page.evaluate(OUTSIDE) == []

    notify(world, "BRAVO", "BRAVO convoy near", circle_volume(*CENTRE, 3000, start_in_h=1))
    near = page.get_by_role("button", name=re.compile("^BRAVO convoy near"))
    expect(near).to_be_visible()
    expect(page.locator(".now-line")).to_be_visible()
    expect(page.locator(".now-note")).to_contain_text("now: ")
    track, line, bar = _box(page, ".axis .track"), _box(page, ".now-line"), near.bounding_box()
    assert bar is not None
    # Now is an hour before the near convoy: inside the axis, left of its bar, clear of the
    # label column.
    assert track["x"] + 5 < line["x"] < bar["x"]
    assert line["height"] > 100, "the now line does not run down the rows"
    assert page.evaluate(OUTSIDE) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "timeline-now")
    assert bravo.errors == []
    page.context.close()


def test_every_tick_label_stays_inside_the_axis_at_every_width(
    browser: Browser, world: World
) -> None:
    """Where the labels fall on the axis moves with its width (and with now): at forty widths none
    sticks out of it (rounded offsets once let the last one out by a pixel)."""
    notify(world, "BRAVO", "BRAVO patrol", circle_volume(*CENTRE, 3000, start_in_h=50))
    session = sign_in(browser, world, "BRAVO", "timeline")
    page = session.page
    expect(page.get_by_role("button", name=re.compile("^BRAVO patrol:"))).to_be_visible()
    for width in range(1_000, 1_281, 7):
        page.set_viewport_size({"width": width, "height": 720})
        page.evaluate(NEXT_FRAMES)  # the axis re-fits its labels when it is resized
        assert page.evaluate(OUTSIDE) == [], width
    assert session.errors == []
    page.context.close()
