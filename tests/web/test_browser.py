"""The reader's whole way, in a real browser (Playwright driving Debian's Chromium), against a
real SMTP server and the real ledger: subscribe from the archive page, confirm from the email,
follow the welcome to the latest issue, receive the next issue, unsubscribe from the footer link
(and another reader with the header's one-click), and get no further issue."""

from __future__ import annotations

import re
import shutil
from datetime import date

import httpx
import pytest

from tests.fixtures import NOW, Publication, StaticServer, run_cli, use_smtp, write_reviews
from tests.pipeline.test_site_quality import contrast
from tests.smtpserver import SmtpServer
from tests.web.conftest import SECRET, serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="Chromium is not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api")

ENV = {"PUBLISHER_SECRET": SECRET}


def digests_for(smtp: SmtpServer, address: str) -> list:
    return [r.message for r in smtp.received_by(address)
            if r.message["Message-ID"].startswith("<issue-")]


def welcomes_for(smtp: SmtpServer, address: str) -> list:
    return [r.message for r in smtp.received_by(address)
            if r.message["Subject"].startswith("Welcome to ")]


def test_subscribe_confirm_receive_unsubscribe_and_hear_no_more(publication: Publication,
                                                                browser, server: SmtpServer):
    use_smtp(publication, server.url, connections=1)
    with serving(publication) as reader:
        config, store = reader.config, reader.store
        # A publication with one issue out, and so an archive to subscribe from.
        write_reviews(publication, 1, first=date(2026, 11, 1), prefix="first")
        assert run_cli("subscribers", "add", "other@example.org",
                       root=config.root).exit_code == 0
        assert run_cli("issue", "new", root=config.root).exit_code == 0
        first = run_cli("issue", "send", "1", root=config.root, env=ENV)
        assert first.exit_code == 0, first.output
        assert run_cli("build", root=config.root).exit_code == 0
        first_subject = store.issue(1).subject

        with StaticServer(config.output_path) as site:
            page = browser.new_page()

            # Subscribe from the archive page.
            page.goto(site.url + "issues/")
            page.get_by_label("Email address").fill("rita@example.org")
            page.get_by_label("Name (optional)").fill("Rita Moreno")
            page.get_by_role("button", name="Subscribe").click()
            page.get_by_role("heading", name="Check your inbox").wait_for()
            assert "rita@example.org" in page.content()

            # Confirm from the email: GET shows a button, the button confirms.
            server_wait = _wait(lambda: server.received_by("rita@example.org"))
            confirmation = server_wait[0].message
            text = confirmation.get_body(("plain",)).get_content()
            link = re.search(r"(http\S+/confirm\?token=\S+)", text).group(1)
            page.goto(link)
            assert store.subscriber("rita@example.org") is None
            page.get_by_role("button", name="Yes, subscribe me").click()
            page.get_by_role("heading", name="You are subscribed").wait_for()
            assert store.subscriber("rita@example.org").status == "active"

            # The welcome follows; its button opens the latest issue in the archive.
            (welcome,) = _wait(lambda: welcomes_for(server, "rita@example.org"))
            page.set_content(welcome.get_body(("html",)).get_content())
            button = page.get_by_role("link", name=first_subject)
            issue_url = button.get_attribute("href")
            assert issue_url == config.base_url + "issues/1/"
            opened = page.goto(site.url + issue_url.removeprefix(config.base_url))
            assert opened.status == 200 and page.title() == first_subject

            # The next issue arrives.
            write_reviews(publication, 1, first=date(2026, 11, 10), prefix="second")
            assert run_cli("issue", "new", root=config.root).exit_code == 0
            sent = run_cli("issue", "send", "2", root=config.root, env=ENV)
            assert sent.exit_code == 0, sent.output
            (issue,) = digests_for(server, "rita@example.org")
            assert issue["To"] == "Rita Moreno <rita@example.org>"

            # Unsubscribe with the footer link of the delivered HTML, in the browser.
            page.set_content(issue.get_body(("html",)).get_content())
            page.get_by_role("link", name="Unsubscribe").click()
            page.get_by_role("heading", name="Unsubscribe").wait_for()
            assert store.subscriber("rita@example.org").status == "active"  # GET changes nothing
            page.get_by_role("button", name="Unsubscribe").click()
            page.get_by_role("heading", name="You are unsubscribed").wait_for()
            assert page.url.startswith(config.server.url + "unsubscribe?")  # no redirect

            # The other reader uses the header, as Gmail does: one POST.
            other = digests_for(server, "other@example.org")[-1]
            header_url = re.search(r"<(https?://[^>]+)>", str(other["List-Unsubscribe"])).group(1)
            response = httpx.post(header_url, content=b"List-Unsubscribe=One-Click", headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            assert response.status_code == 200

            # No further issue for either.
            write_reviews(publication, 1, first=date(2026, 11, 15), prefix="third")
            assert run_cli("issue", "new", root=config.root).exit_code == 0
            assert run_cli("issue", "send", "3", root=config.root, env=ENV).exit_code == 0
            assert len(digests_for(server, "rita@example.org")) == 1
            assert len(digests_for(server, "other@example.org")) == 2
            assert len(welcomes_for(server, "rita@example.org")) == 1
            statuses = {s.email: s.status for s in store.subscribers()}
            assert statuses == {"other@example.org": "unsubscribed",
                                "rita@example.org": "unsubscribed"}


def test_a_reader_moves_their_subscription_to_a_new_address(publication: Publication, browser,
                                                            server: SmtpServer):
    use_smtp(publication, server.url, connections=1)
    with serving(publication) as reader:
        store = reader.store
        store.add_subscriber("rita@old.example", "Rita", now=NOW)
        page = browser.new_page()
        page.goto(reader.preferences_url("rita@old.example"))
        page.get_by_label("New email address").fill("rita@new.example")
        page.get_by_role("button", name="Send the link").click()
        page.get_by_role("status").wait_for()
        assert "We sent a link to rita@new.example" in page.get_by_role("status").inner_text()

        # The link in the new mailbox's HTML part: a button, then the switch.
        (link_mail,) = _wait(lambda: server.received_by("rita@new.example"))
        page.set_content(link_mail.message.get_body(("html",)).get_content())
        page.get_by_role("link", name="Confirm my new address").click()
        page.get_by_role("heading", name="Confirm your new address").wait_for()
        assert store.subscriber("rita@old.example").status == "active"
        page.get_by_role("button", name="Yes, use this address").click()
        page.get_by_role("heading", name="Your address is changed").wait_for()
        assert store.subscriber("rita@old.example") is None
        assert store.subscriber("rita@new.example").status == "active"

        # The old mailbox is told; the preferences link on the page is the new address's.
        (notice,) = _wait(lambda: server.received_by("rita@old.example"))
        said = " ".join(notice.message.get_body(("plain",)).get_content().split())
        assert "now goes to rita@new.example" in said
        page.get_by_role("link", name="Manage your subscription").click()
        assert "Address rita@new.example" in page.locator("dl").inner_text().replace(
            "\n", " ")


def test_the_pages_work_by_keyboard_alone(publication: Publication, browser):
    """Tab reaches every field and button in order, focus is visible, Enter submits."""
    with serving(publication) as reader:
        page = browser.new_page()
        page.goto(reader.url + "subscribe")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")  # the masthead link, then the email field
        assert page.evaluate("document.activeElement.id") == "subscribe-email"
        outline = page.evaluate(
            "getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
        page.keyboard.type("keys@example.org")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "subscribe-name"
        page.keyboard.press("Tab")  # the honeypot is skipped (tabindex=-1)
        assert page.evaluate("document.activeElement.tagName") == "BUTTON"
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Check your inbox").wait_for()
        assert page.evaluate("document.scripts.length") == 0


def _wait(found, timeout: float = 10.0):
    import time

    deadline = time.monotonic() + timeout
    while not (result := found()):
        assert time.monotonic() < deadline, "nothing arrived"
        time.sleep(0.05)
    return result


def test_a_right_to_left_form_marks_its_error_on_the_side_it_reads_from(
        publication: Publication, browser):
    # The rule beside the error stood on the left, the far side of right-aligned words.
    publication.set_language("he")
    with serving(publication) as reader:
        page = browser.new_page()
        page.goto(reader.url + "subscribe")
        assert page.evaluate("document.documentElement.dir") == "rtl"
        page.fill("#subscribe-email", "not an address")
        page.evaluate("document.querySelector('#subscribe-email').type = 'text'")
        page.click("button[type=submit]")
        rule = page.evaluate("(() => { const s = getComputedStyle("
                             "document.querySelector('.error'));"
                             " return [s.borderRightWidth, s.borderLeftWidth]; })()")
        assert rule == ["4px", "0px"]


def test_a_refused_form_says_so_in_its_title_and_puts_the_reader_on_the_field_to_fix(
        reader, browser):
    # The page came back with the same title, focus nowhere, and an alert that screen readers
    # do not speak when a page loads with it: to a blind reader, nothing had happened.
    reader.store.add_subscriber("ann@example.org", "Ann", now=NOW)
    page = browser.new_page()
    page.goto(reader.url + "subscribe")
    page.fill("#subscribe-email", "not an address")
    page.evaluate("document.querySelector('#subscribe-email').type = 'text'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.title() == "Error: Subscribe to Test Reel · Test Reel"
    focused = page.locator("#subscribe-email")
    assert focused.evaluate("(field) => field === document.activeElement")
    sync_api.expect(focused).to_have_accessible_description(
        "That does not look like an email address. Please check it and try again.")

    page.goto(reader.preferences_url("ann@example.org"))
    page.evaluate("document.querySelector('#erase-confirm').required = false")  # as without
    with page.expect_navigation():
        page.get_by_role("button", name="Erase my data").click()
    assert page.title().startswith("Error: ")
    box = page.locator("#erase-confirm")
    assert box.evaluate("(box) => box === document.activeElement")
    sync_api.expect(box).to_have_accessible_description(
        "Tick the box to confirm that you want your data erased.")
    sync_api.expect(box).to_have_attribute("aria-invalid", "true")
    page.goto(reader.preferences_url("ann@example.org"))
    page.evaluate("document.querySelector('#pref-name').maxLength = 400")
    page.fill("#pref-name", "N" * 250)
    with page.expect_navigation():
        page.get_by_role("button", name="Save name").click()
    name = page.locator("#pref-name")
    assert page.title().startswith("Error: ")
    assert name.evaluate("(field) => field === document.activeElement")
    sync_api.expect(name).to_have_accessible_description(
        "That name is too long. Please shorten it and try again.")


def test_the_pages_text_grows_with_the_readers_own_font_size(reader, browser):
    # Sizes in pixels held the pages at 17 px whatever text size the reader set in the browser.
    selectors = ("body", ".masthead", "h1", "label", "input", "button", "footer")
    sizes = {}
    for standard in (16, 24):
        context = browser.new_context(viewport={"width": 375, "height": 900})
        page = context.new_page()
        session = context.new_cdp_session(page)
        session.send("Page.enable")
        session.send("Page.setFontSizes", {"fontSizes": {"standard": standard, "fixed": 13}})
        page.goto(reader.url + "subscribe")
        sizes[standard] = [float(size.removesuffix("px")) for size in page.evaluate(
            "(selectors) => selectors.map((s) => getComputedStyle(document.querySelector(s))"
            ".fontSize)", list(selectors))]
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        context.close()
    assert [round(size * 1.5, 1) for size in sizes[16]] == [round(s, 1) for s in sizes[24]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_keyboard_focus_ring_stands_out_from_what_is_behind_it(reader, browser, scheme):
    # WCAG 2.1 SC 1.4.11: 3:1. The amber ring was 2.66:1 on the header band, and 2.96:1 on the
    # dark card, as the site's accent ring once was.
    page = browser.new_page(color_scheme=scheme)
    page.goto(reader.url + "subscribe")
    behind = {name: page.evaluate(f"getComputedStyle(document.querySelector('{name}'))"
                                  ".backgroundColor") for name in ("header", "main")}
    for _ in range(4):  # the masthead link, the two fields, the button
        page.keyboard.press("Tab")
        ring = page.evaluate("(() => { const e = document.activeElement; const s = "
                             "getComputedStyle(e); return [e.closest('header') ? 'header' : "
                             "'main', s.outlineStyle, s.outlineColor, e.outerHTML]; })()")
        where, style, colour, element = ring
        assert style == "solid", element
        assert contrast(colour, behind[where]) >= 3, (scheme, element)
    page.close()
