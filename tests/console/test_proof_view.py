"""The proof page in a browser: the downloaded proof file verifies offline with the CLI, and the
log's consistency since the tab first saw it is checked in the browser."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import Databases
from cli.servers import CLI, server_env, serving
from playwright.sync_api import Browser, Page, expect

from .conftest import AREA, OPERATOR, World, circle_volume, notify, screenshot, sign_in


def download_proof(page: Page, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The proof file the page's *Download proof file* saves: where, and what it holds."""
    with page.expect_download() as download:
        page.get_by_role("button", name="Download proof file").click()
    saved = folder / download.value.suggested_filename
    download.value.save_as(saved)
    return saved, json.loads(saved.read_text())


def verify_offline(world: World, saved: Path) -> subprocess.CompletedProcess[str]:
    """`deconfliction receipt verify` of a saved file with the service's first key."""
    key = world.call("ALPHA", "GET", "/v1/log/head")["keys"][0]["public_key"]
    return subprocess.run(
        [*CLI, "receipt", "verify", str(saved), "--key", key],
        env=world.env,
        cwd=world.cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_downloaded_proof_file_verifies_offline(
    browser: Browser, world: World, tmp_path: Path
) -> None:
    notify(world, "ALPHA", "Convoy for the receipt", circle_volume(36.5, 36.2, 3000))
    alpha = sign_in(browser, world, "ALPHA", "proof", accept_downloads=True)
    page = alpha.page
    receipts = page.get_by_role("list", name="Receipts")
    expect(receipts.get_by_text("notification.created").first).to_be_visible()

    saved, proof = download_proof(page, tmp_path)
    assert proof["format"] == "deconfliction-receipts/v1"
    assert any(r["entry"]["kind"] == "notification.created" for r in proof["receipts"])

    verified = verify_offline(world, saved)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified" in verified.stdout
    saved_note = page.get_by_role("status").filter(has_text="Saved receipts-")
    expect(saved_note).to_contain_text("deconfliction receipt verify")
    assert alpha.errors == []
    page.context.close()


def test_the_log_page_checks_consistency_in_the_browser(browser: Browser, world: World) -> None:
    operator = sign_in(browser, world, "operator", "proof")
    page = operator.page
    log = page.get_by_role("region", name="The transparency log")
    expect(log.get_by_text("Consistent: the newest head has the size")).to_be_visible()
    first_size = world.call("operator", "GET", "/v1/log/head")["tree_head"]["tree_size"]

    notify(world, "BRAVO", "Grown log", circle_volume(38.5, 36.2, 3000))
    log.get_by_role("button", name="Sign a head now").click()
    newest = world.call("operator", "GET", "/v1/log/head")["tree_head"]["tree_size"]
    assert newest > first_size
    expect(log.get_by_text(f"is a prefix of the newest log of {newest} entries")).to_be_visible()
    expect(log).to_contain_text("Both heads' signatures verify")
    expect(log).to_contain_text("Not checked here")
    screenshot(page, "proof")

    # A first head whose root the newest log does not extend: the browser's check must fail.
    log_id = world.call("operator", "GET", "/v1/log/head")["log_id"]
    page.evaluate(
        """(key) => {
            const head = JSON.parse(sessionStorage.getItem(key));
            head.root_hash = btoa(String.fromCharCode(...new Uint8Array(32)));
            sessionStorage.setItem(key, JSON.stringify(head));
        }""",
        f"deconfliction.first-head.{log_id}",
    )
    log.get_by_role("button", name="Sign a head now").click()
    expect(log).to_contain_text("NOT consistent")
    expect(log).to_contain_text("A head's signature does NOT verify")
    assert operator.errors == []
    page.context.close()


@pytest.fixture(scope="module")
def sharded_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A deployment over two databases, ALPHA a member of a mechanism on the `east` shard."""
    cwd = tmp_path_factory.mktemp("console-shards")
    with Databases(cwd) as databases:
        home, east = databases.new("home.db"), databases.new("east.db")
        table = cwd / "shards.toml"
        table.write_text(f'[shards]\nhome = "{home.url}"\neast = "{east.url}"\n')
        env = {
            **{k: v for k, v in server_env(home, OPERATOR).items() if k != "DECONFLICTION_DB"},
            "DECONFLICTION_SHARDS": str(table),
            "DECONFLICTION_SIGNING_KEY_FILE": str(cwd / "service.signing-key"),
        }
        with serving(env, cwd) as url:
            made = World(url, cwd, env, mechanism="", tokens={"operator": OPERATOR})
            body = {"name": "On the east shard", "area": AREA, "shard": "east"}
            made.mechanism = made.call("operator", "POST", "/v1/mechanisms", body)["id"]
            party = made.call("operator", "POST", "/v1/parties", {"name": "Alpha", "code": "ALPHA"})
            made.call(
                "operator",
                "POST",
                f"/v1/mechanisms/{made.mechanism}/members",
                {"party_id": party["id"]},
            )
            made.parties["ALPHA"] = party["id"]
            made.tokens["ALPHA"] = made.call(
                "operator", "POST", f"/v1/parties/{party['id']}/tokens", {"label": "desk"}
            )["token"]
            yield made


def test_over_several_databases_the_proof_file_holds_every_shard_s_log(
    browser: Browser, sharded_world: World, tmp_path: Path
) -> None:
    world = sharded_world
    made = notify(world, "ALPHA", "Convoy on the east shard", circle_volume(36.5, 36.2, 3000))
    east_log = made["receipt"]["tree_head"]["log_id"]
    home_log = world.call("ALPHA", "GET", "/v1/log/head")["log_id"]
    assert east_log != home_log
    alpha = sign_in(browser, world, "ALPHA", "proof", accept_downloads=True)
    page = alpha.page
    saved, proof = download_proof(page, tmp_path)
    logs = {head["log_id"] for head in proof["tree_heads"]}
    assert logs == {home_log, east_log}
    assert any(
        r["entry"]["subject_id"] == made["id"] and r["tree_head"]["log_id"] == east_log
        for r in proof["receipts"]
    )
    verified = verify_offline(world, saved)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The page shows one shard's log at a time: the home shard's first, then the one chosen.
    receipts = page.get_by_role("list", name="Receipts")
    log = page.get_by_role("region", name="The transparency log")
    expect(log).to_contain_text(home_log)
    expect(receipts.locator("li").first).to_be_visible()  # the home log's page has loaded
    expect(receipts.get_by_text(made["id"])).to_have_count(0)
    page.get_by_label("Log", exact=True).select_option("east")
    expect(log).to_contain_text(east_log)
    expect(log.get_by_text("Consistent: the newest head")).to_be_visible()
    expect(receipts.get_by_text(made["id"]).first).to_be_visible()
    notify(world, "ALPHA", "Second convoy on the east shard", circle_volume(36.6, 36.2, 3000))
    log.get_by_role("button", name="Sign a head now").click()
    expect(log.get_by_text("is a prefix of the newest log of")).to_be_visible()
    assert alpha.errors == []
    page.context.close()
