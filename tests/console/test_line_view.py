"""The line in a browser: a hostile message body arrives live and is shown as text, no script
runs; acknowledging it reaches the sender's page without a reload; the console's policy holds."""

from __future__ import annotations

from playwright.sync_api import Browser, Dialog, expect

from .conftest import REFUSED, Session, World, error_of, open_view, screenshot, sign_in

HOSTILE = (
    '<img src=x onerror="window.__pwned = 1; alert(1)">'
    "<script>window.__pwned = 2; alert(2)</script>\n"
    "Second line & <b>not bold</b>"
)


def _send(world: World, sender: str, recipient: str, body: str, **extra: object) -> dict:
    return world.call(
        sender,
        "POST",
        f"/v1/mechanisms/{world.mechanism}/messages",
        {"to": [world.parties[recipient]], "type": "query", "body": body, **extra},
    )


def _dialogs(session: Session) -> list[str]:
    seen: list[str] = []

    def record(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    session.page.on("dialog", record)
    return seen


def test_console_is_served_under_a_strict_policy(browser: Browser, world: World) -> None:
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(world.url + "/")
    assert response is not None and response.ok
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    context.close()


def test_hostile_body_is_text_and_acknowledgement_reaches_the_sender_live(
    browser: Browser, world: World
) -> None:
    bravo = sign_in(browser, world, "BRAVO", "proof")
    dialogs = _dialogs(bravo)
    page = bravo.page
    open_view(page, "Line")
    expect(page.get_by_role("heading", name="To acknowledge")).to_be_visible()

    sent = _send(world, "ALPHA", "BRAVO", HOSTILE, priority="urgent")
    item = page.locator(f'li.inbox-item[data-subject="{sent["id"]}"]')
    body = item.locator(".message-body")
    expect(body).to_have_text(HOSTILE, use_inner_text=False)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("main script").count() == 0
    assert dialogs == []
    screenshot(page, "line-inbox")

    alpha = sign_in(browser, world, "ALPHA", "line")
    waiting = alpha.page.locator(f'li.waiting-item[data-subject="{sent["id"]}"]')
    expect(waiting).to_contain_text("BRAVO")
    expect(waiting).to_contain_text("not yet acknowledged")

    item.get_by_role("button", name="Acknowledge").click()
    expect(item).to_have_count(0)
    expect(waiting).to_contain_text("acknowledged: received and read")

    for session in (bravo, alpha):
        assert session.errors == []
        session.page.context.close()


def test_a_reply_stays_in_its_thread_and_refusals_name_the_field(
    browser: Browser, world: World
) -> None:
    question = _send(world, "ALPHA", "BRAVO", "Convoy BLUE at 09:00: confirm the route?")
    bravo = sign_in(browser, world, "BRAVO", "line")
    page = bravo.page
    message = page.locator(f'article.message[data-subject="{question["id"]}"]')
    message.get_by_role("button", name="Reply to ALPHA").click()

    page.get_by_role("button", name="Send").click()
    body = page.get_by_label("Message", exact=True)
    expect(error_of(page, body)).to_contain_text("at least 1 character")

    body.fill("Route confirmed: the northern road.")
    page.get_by_role("button", name="Send").click()
    thread = page.locator(".thread").filter(has=message)
    expect(thread.locator("article.message")).to_have_count(2)
    expect(thread).to_contain_text("Route confirmed: the northern road.")
    answers = world.call("ALPHA", "GET", f"/v1/messages?thread_id={question['thread_id']}")
    assert [m["type"] for m in answers] == ["answer", "query"]
    assert bravo.errors == [REFUSED]
    page.context.close()


def test_the_line_reads_on_a_tablet(browser: Browser, world: World) -> None:
    tablet = sign_in(browser, world, "BRAVO", "line", size=(820, 1180), has_touch=True)
    page = tablet.page
    inbox = page.get_by_role("region", name="To acknowledge")
    compose = page.get_by_role("form", name="Compose")
    expect(inbox).to_be_visible()
    inbox_box, compose_box = inbox.bounding_box(), compose.bounding_box()
    assert inbox_box is not None and compose_box is not None
    assert inbox_box["width"] > 700 and compose_box["y"] > inbox_box["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    screenshot(page, "line-tablet")
    assert tablet.errors == []
    page.context.close()


def test_the_keyboard_alone_reaches_and_presses_acknowledge(browser: Browser, world: World) -> None:
    sent = _send(world, "ALPHA", "BRAVO", "Keyboard check: acknowledge me.")
    bravo = sign_in(browser, world, "BRAVO", "line")
    page = bravo.page
    item = page.locator(f'li.inbox-item[data-subject="{sent["id"]}"]')
    button = item.get_by_role("button", name="Acknowledge")
    expect(button).to_be_visible()
    for _ in range(60):
        if button.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the Acknowledge button")
    page.keyboard.press("Enter")
    expect(item).to_have_count(0)
    assert world.call("BRAVO", "GET", f"/v1/messages/{sent['id']}")["own_status"]["state"] == (
        "acknowledged"
    )
    assert bravo.errors == []
    page.context.close()
