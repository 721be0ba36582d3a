"""The operator's pages in a browser: a token is shown once, refusals are shown by their field, a
new mechanism reaches the header and the banner; a token revoked while in use signs it out."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, expect

from .conftest import (
    CENTRE,
    REFUSED,
    World,
    circle_volume,
    error_of,
    open_view,
    screenshot,
    sign_in,
)

NOTICED_MS = 15_000  # the scheduler's pass, its event, and the banner's refresh
# What Chromium prints when the API refuses a token; the page itself reports nothing.
UNAUTHORIZED = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"


def test_a_new_token_is_shown_once_and_works(browser: Browser, world: World) -> None:
    operator = sign_in(browser, world, "operator", "proof")
    page = operator.page
    open_view(page, "Operator")
    tokens = page.get_by_role("region", name="Tokens")
    tokens.get_by_label("Party", exact=True).select_option(label="ALPHA — Party ALPHA")
    tokens.get_by_label("Label").fill("night desk")
    tokens.get_by_role("button", name="Create token").click()

    shown = page.get_by_role("alert").filter(has_text="shown only this once")
    expect(shown).to_be_visible()
    token = shown.get_by_label("New token").input_value()
    assert token.startswith("dcf_")
    me = httpx.get(world.url + "/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["party"]["code"] == "ALPHA"
    expect(tokens.get_by_role("cell", name="night desk")).to_be_visible()
    screenshot(page, "operator")

    shown.get_by_role("button", name="I have copied it: hide it").click()
    expect(shown).to_have_count(0)
    assert token not in page.content()
    page.reload()
    expect(page.get_by_role("cell", name="night desk")).to_be_visible()
    assert token not in page.content()
    assert operator.errors == []
    page.context.close()


def test_refusals_are_shown_next_to_the_field_they_name(browser: Browser, world: World) -> None:
    operator = sign_in(browser, world, "operator", "operator")
    page = operator.page
    parties = page.get_by_role("region", name="Parties")
    parties.get_by_label("Party name").fill("Lowercase")
    parties.get_by_label("Code").fill("x")
    parties.get_by_role("button", name="Create party").click()
    code = parties.get_by_label("Code")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(error_of(page, code)).to_contain_text("upper-case")

    mechanisms = page.get_by_role("region", name="Mechanisms")
    mechanisms.get_by_label("Name", exact=True).fill("Refused mechanism")
    mechanisms.get_by_label("Ack deadline (min)", exact=True).fill("-5")
    mechanisms.get_by_role("button", name="Create mechanism").click()
    rule = mechanisms.get_by_label("Ack deadline (min)", exact=True)
    expect(rule).to_have_attribute("aria-invalid", "true")
    expect(error_of(page, rule)).to_contain_text("must be")

    mechanisms.get_by_label("Ack deadline (min)", exact=True).fill("45")
    mechanisms.get_by_role("button", name="Create mechanism").click()
    made = mechanisms.get_by_role("article", name="Mechanism Refused mechanism")
    made.get_by_text("Rules (set at creation)").click()
    expect(made.locator(".rules")).to_contain_text("45")
    assert operator.errors == [REFUSED, REFUSED]
    page.context.close()


def test_a_new_mechanism_reaches_the_header_and_the_banner(browser: Browser, world: World) -> None:
    operator = sign_in(browser, world, "operator", "operator")
    page = operator.page
    mechanisms = page.get_by_role("region", name="Mechanisms")
    mechanisms.get_by_label("Name", exact=True).fill("Quiet desk")
    mechanisms.get_by_label("Silence alarm (min)", exact=True).fill("0.0001")
    mechanisms.get_by_role("button", name="Create mechanism").click()
    chooser = page.get_by_role("banner").get_by_label("Mechanism", exact=True)
    expect(chooser.get_by_role("option", name="Quiet desk")).to_have_count(1)

    made = mechanisms.get_by_role("article", name="Mechanism Quiet desk")
    made.get_by_label("Party to add to Quiet desk").select_option(label="BRAVO — Party BRAVO")
    made.get_by_role("button", name="Add member").click()
    banner = page.get_by_role("alert").filter(has_text="The line is silent in Quiet desk")
    expect(banner).to_contain_text("BRAVO has not contacted the service", timeout=NOTICED_MS)
    screenshot(page, "operator-new-mechanism")
    assert operator.errors == []
    page.context.close()


def test_a_revoked_token_signs_out_with_the_reason(browser: Browser, world: World) -> None:
    party = world.parties["ALPHA"]
    made = world.call("operator", "POST", f"/v1/parties/{party}/tokens", {"label": "revoked"})
    world.tokens["ALPHA, revoked"] = made["token"]
    alpha = sign_in(browser, world, "ALPHA, revoked", "proof")
    page = alpha.page
    expect(page.get_by_role("banner").get_by_text("Line: live")).to_be_visible()

    world.call("operator", "DELETE", f"/v1/tokens/{made['id']}")
    # The server ends a revoked token's stream when the next event passes: one of a mechanism
    # ALPHA is not in, so that nothing but the line's reconnection asks with the revoked token.
    elsewhere = world.call("operator", "POST", "/v1/mechanisms", {"name": "Elsewhere"})["id"]
    member = {"party_id": world.parties["BRAVO"]}
    world.call("operator", "POST", f"/v1/mechanisms/{elsewhere}/members", member)
    notification = {
        "kind": "site",
        "title": "BRAVO depot",
        "volumes": [circle_volume(*CENTRE, 500)],
    }
    world.call("BRAVO", "POST", f"/v1/mechanisms/{elsewhere}/notifications", notification)
    reason = page.get_by_role("alert").filter(has_text="Your token was refused: signed out")
    expect(reason).to_be_visible()
    expect(page.get_by_label("Access token")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('deconfliction.token')") is None
    screenshot(page, "signed-out")
    assert alpha.errors and set(alpha.errors) == {UNAUTHORIZED}
    page.context.close()
