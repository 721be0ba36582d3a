"""The map's edges in a browser: leaving it before it has loaded, importing GeoJSON by drag and
drop, and a tablet-sized touch screen."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, Page, Route, expect

from .conftest import (
    CENTRE,
    REFUSED,
    World,
    circle_volume,
    notify,
    open_view,
    screenshot,
    sign_in,
)

# The map's first load: the basemap and the mechanism's notifications.
FIRST_LOAD = re.compile(r"/console/data/countries\.geojson$|/notifications\?")


class _Gate:
    """A route handler that holds the requests it gets until release(), then lets all through."""

    def __init__(self) -> None:
        self.held: list[Route] = []
        self.released = False

    def __call__(self, route: Route) -> None:
        if self.released:
            route.continue_()
        else:
            self.held.append(route)

    def release(self) -> None:
        self.released = True
        for route in self.held:
            route.continue_()


def test_leaving_the_map_before_its_first_load_raises_no_error(
    browser: Browser, world: World
) -> None:
    notify(world, "ALPHA", "ALPHA early patrol", circle_volume(*CENTRE, 3000))
    gate = _Gate()
    alpha = sign_in(
        browser, world, "ALPHA", "map", prepare=lambda page: page.route(FIRST_LOAD, gate)
    )
    page = alpha.page
    open_view(page, "Timeline")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert len(gate.held) >= 2, "the map's first load was not held"
    gate.release()
    expect(page.get_by_role("button", name=re.compile("^ALPHA early patrol"))).to_be_visible()
    page.wait_for_function(
        "() => performance.getEntriesByType('resource')"
        ".some((entry) => entry.name.endsWith('/countries.geojson'))"
    )
    # The held answers' callbacks run once their bodies are read: give them a moment.
    page.wait_for_timeout(500)
    assert alpha.errors == []
    page.context.close()


def _feature(geometry: dict, **properties: object) -> dict:
    """A feature 0–120 m AMSL, in the two hours from an hour from now."""
    window = circle_volume(*CENTRE, 1000)
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "altitude": {"lower": 0, "upper": 120, "units": "m", "reference": "AMSL"},
            "start": window["start"],
            "end": window["end"],
            **properties,
        },
    }


def _survey(title: str, **second: object) -> dict:
    """A FeatureCollection: a circle (a Point with a radius) and a square, `second` overriding
    the square's properties."""
    square = [[[36.6, 36.2], [36.7, 36.2], [36.7, 36.3], [36.6, 36.3], [36.6, 36.2]]]
    return {
        "type": "FeatureCollection",
        "features": [
            _feature(
                {"type": "Point", "coordinates": [36.3, 36.7]}, radius=2000, kind="uas", title=title
            ),
            _feature({"type": "Polygon", "coordinates": square}, **second),
        ],
    }


def _drop(page: Page, name: str, document: dict) -> None:
    """Drags a file holding `document` onto the map and drops it there, as a browser does."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "application/geo+json" }));
            return transfer;
        }""",
        [name, json.dumps(document)],
    )
    target = page.get_by_role("region", name="Map of notifications and conflicts")
    target.dispatch_event("dragenter", {"dataTransfer": transfer})
    hint = page.get_by_text("Drop a GeoJSON file to notify it")
    expect(hint).to_be_visible()
    target.dispatch_event("dragover", {"dataTransfer": transfer})
    target.dispatch_event("drop", {"dataTransfer": transfer})
    expect(hint).to_be_hidden()


def test_a_geojson_file_dropped_on_the_map_is_notified(browser: Browser, world: World) -> None:
    alpha = sign_in(browser, world, "ALPHA", "map")
    page = alpha.page
    _drop(page, "survey.geojson", _survey("ALPHA survey drones"))
    form = page.get_by_role("form", name="New notification")
    expect(form).to_contain_text("2 volume(s) from survey.geojson")
    expect(form.get_by_label("Kind")).to_have_value("uas")
    expect(form.get_by_label("Title")).to_have_value("ALPHA survey drones")
    form.get_by_role("button", name="Notify", exact=True).click()

    listed = page.get_by_role("button", name=re.compile("^ALPHA survey drones"))
    expect(listed).to_be_visible()
    details = page.get_by_role("complementary", name="Details")
    expect(details.get_by_role("heading", name="Volumes (2)")).to_be_visible()
    made = world.call("ALPHA", "GET", f"/v1/mechanisms/{world.mechanism}/notifications")
    (survey,) = [n for n in made if n["title"] == "ALPHA survey drones"]
    assert [v["area"]["type"] for v in survey["volumes"]] == ["Circle", "Polygon"]
    assert alpha.errors == []
    page.context.close()


def test_a_dropped_file_s_refused_feature_is_named(browser: Browser, world: World) -> None:
    alpha = sign_in(browser, world, "ALPHA", "map")
    page = alpha.page
    # The square's window ends before it starts.
    late = circle_volume(*CENTRE, 1000, start_in_h=5)["start"]
    _drop(page, "refused.geojson", _survey("ALPHA refused survey", start=late))
    form = page.get_by_role("form", name="New notification")
    form.get_by_role("button", name="Notify", exact=True).click()

    refusal = form.get_by_role("alert").filter(has_text="The service refused this notification")
    expect(refusal.get_by_role("listitem")).to_have_count(1)
    expect(refusal.get_by_role("listitem")).to_contain_text(re.compile(r"^feature 2 · "))
    screenshot(page, "map-import-refused")
    assert alpha.errors == [REFUSED]
    page.context.close()


def test_the_map_works_on_a_tablet(browser: Browser, world: World) -> None:
    notify(world, "ALPHA", "ALPHA tablet patrol", circle_volume(36.4, 36.4, 4000))
    tablet = sign_in(browser, world, "ALPHA", "map", size=(820, 1180), has_touch=True)
    page = tablet.page
    listed = page.get_by_role("button", name=re.compile("^ALPHA tablet patrol"))
    listed.tap()
    details = page.get_by_role("complementary", name="Details")
    expect(details.get_by_role("heading", name="ALPHA tablet patrol")).to_be_visible()

    map_box = page.get_by_role("region", name="Map of notifications and conflicts").bounding_box()
    side_box = page.get_by_role("complementary", name="Map tools and items").bounding_box()
    panel_box = details.bounding_box()
    assert map_box is not None and side_box is not None and panel_box is not None
    # The map spans the width above the tools and lists; the panel is a sheet over the map.
    assert map_box["width"] > 780 and side_box["y"] >= map_box["y"] + map_box["height"] - 1
    assert panel_box["x"] >= 0 and panel_box["x"] + panel_box["width"] <= 820
    assert panel_box["y"] > map_box["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    draw = page.get_by_role("button", name="Draw circle").bounding_box()
    assert draw is not None and draw["height"] >= 40, "touch targets are too small"
    screenshot(page, "map-tablet")

    details.get_by_role("button", name="Close panel").tap()
    expect(details).to_be_hidden()
    assert tablet.errors == []
    page.context.close()
