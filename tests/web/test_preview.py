"""``publisher preview`` as an editor runs it: a real process serving the site over a real
socket, every link in it answering from this machine, built again when a source is saved, the
last good build served while a source is broken; and the same in Chromium, where the open page
reloads itself."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from publisher.errors import ConfigError
from publisher.models import Showing
from publisher.pipeline.build import build_publication
from publisher.pipeline.sitepreview import Note, SitePreview, Status, preview_config
from tests.fixtures import NOW, SAMPLE, Hub, Publication, wait_for
from tests.pipeline.test_links import crawl, site_documents
from tests.webserver import MutableClock

PUBLISHED = "https://reel.test/film/"


def sample_site(publication: Publication, hub: str = "") -> None:
    """The sample reviews and posters, published under a path of their host, with a hub."""
    shutil.copytree(SAMPLE / "reviews", publication.root / "reviews", dirs_exist_ok=True)
    shutil.copytree(SAMPLE / "static", publication.root / "static")
    publication.set_base_url(PUBLISHED)
    if hub:
        publication.add_config(f'[feeds]\nhub = "{hub}"\n')


def retitle(source: Path, title: str) -> None:
    text = source.read_text("utf-8")
    source.write_text(re.sub(r"(?m)^title: .*$", f"title: {title}", text, count=1), "utf-8")


def fetch(url: str, data: bytes | None = None) -> tuple[int, str, str]:
    """(status, body, the URL it came from after redirects)."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status, response.read().decode(), response.url
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), url


class Preview:
    """``publisher preview --port 0`` running on a publication, as its own process."""

    def __init__(self, publication: Publication, *options: str):
        self.root = publication.root
        env = dict(os.environ, PUBLISHER_NOW=NOW.isoformat())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "-C", str(self.root), "preview", "--port", "0",
             *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        for stream, lines in ((self.process.stdout, self.stdout),
                              (self.process.stderr, self.stderr)):
            threading.Thread(target=lambda s=stream, o=lines: o.extend(s), daemon=True).start()
        wait_for(lambda: any("previewing" in line for line in self.stdout)
                 or self.process.poll() is not None, what="the preview to start")
        found = [re.search(r" at (\S+) ", line) for line in self.stdout]
        url = next((m.group(1) for m in found if m), None)
        assert url is not None, "".join(self.stdout + self.stderr)
        self.url: str = url
        self.origin = url.split("/film/")[0]

    def status(self) -> dict[str, object]:
        return json.loads(fetch(self.origin + "/__publisher/status")[1])

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def __enter__(self) -> Preview:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def preview(publication: Publication) -> Iterator[Preview]:
    sample_site(publication)
    with Preview(publication) as running:
        yield running


def test_a_preview_is_built_for_its_own_server_and_kept_apart_from_the_real_build(publication):
    sample_site(publication, hub="https://hub.test/")
    config = preview_config(publication.config, "http://127.0.0.1:8123/")
    assert config.base_url == "http://127.0.0.1:8123/film/"  # the site's path kept
    assert config.output_path == publication.root / ".publisher" / "preview" / "public"
    assert config.paths.state == publication.root / ".publisher" / "preview"
    assert config.paths.lock.parent == config.paths.build_manifest.parent.parent
    assert config.feeds.hub == "" and config.server.url == ""
    # The ledger stays the publication's: the issue archive shows the issues sent.
    assert config.state.database == publication.config.state.database
    # An address written under the published base_url is still one of this site's pages.
    assert config.page_address(PUBLISHED + "old-slug/") == config.url("old-slug/")


def test_a_preview_whose_port_is_taken_names_only_the_options_it_reads(publication, cli):
    # [server] is serve's address, which may be running at the same time: preview reads
    # --host/--port alone, and says so.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        publication.add_config(f"[server]\nport = {port + 1}\n")
        busy = cli("preview", "--port", str(port))
    assert (busy.exit_code, busy.stderr) == (1, (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another "
        "with --host/--port (--port 0 takes any free one)\n"))


def test_the_preview_serves_the_site_with_every_link_answering_from_this_machine(publication,
                                                                                 hub: Hub):
    sample_site(publication, hub=hub.url)
    with Preview(publication) as preview:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/film/", preview.url)
        status, page, landed = fetch(preview.origin + "/")
        assert (status, landed) == (200, preview.url)  # "/" sends the browser to the site
        assert '<script src="/__publisher/reload.js?build=1" defer></script>' in page
        assert f'<link rel="stylesheet" href="{preview.url}site.css' in page

        out = publication.root / ".publisher" / "preview" / "public"
        documents = site_documents(out, preview.url)
        checked, broken, external = crawl(documents, preview.url)
        # A form's action is for POST: the preview answers that with a line of its own.
        assert [b for b in broken if not b.endswith("/film/subscribe: 404")] == []
        assert len(checked) > 30
        assert not [url for url in external if url.startswith(PUBLISHED)]
        assert fetch(preview.url + "no-such-review/")[0] == 404

        status, page, _ = fetch(preview.url + "subscribe", data=b"email=a%40b.test")
        assert status == 405 and "takes no subscriptions" in page
        assert preview.stop() == 0
        # A person at a terminal is told it stopped, without a server's log lines around it.
        wait_for(lambda: preview.stdout[-1:] == ["preview stopped\n"], what="the closing line")
        assert [line for line in preview.stderr if " INFO " in line] == []
    # Nothing of the real build's: no output, no manifest, no ping to the hub.
    assert not (publication.root / "public").exists()
    assert not (publication.root / ".publisher" / "cache").exists()
    assert hub.pings == []


def test_the_preview_answers_no_page_under_another_sites_name(publication):
    # DNS rebinding: a page of attacker.example points its name at 127.0.0.1 and fetches
    # "its own" /__publisher/status, the drafts with it. The browser sends the name it
    # fetched under as Host: refused. A name of this machine or an IP address is no other
    # site's (a phone on the LAN opens a preview run with --host 0.0.0.0 by its address).
    sample_site(publication)
    with Preview(publication, "--drafts") as preview:
        port = urlsplit(preview.origin).port

        def get(host: str, path: str = "/__publisher/status") -> tuple[int, str]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", path, headers={"Host": host})
                response = connection.getresponse()
                return response.status, response.read().decode()
            finally:
                connection.close()

        for host in (f"attacker.example:{port}", "attacker.example",
                     f"localhost.attacker.example:{port}", f"127.0.0.1.nip.io:{port}",
                     f"attacker.example@127.0.0.1:{port}", ""):
            for path in ("/__publisher/status", "/film/", "/film/reviews/"):
                status, body = get(host, path)
                assert status == 400, (host, path)
                assert body == ("publisher preview answers only under this machine's names "
                                f"and addresses, as at {preview.url}\n"), host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}",
                     f"LocalHost:{port}", f"preview.localhost:{port}", f"192.0.2.7:{port}"):
            status, body = get(host)
            assert status == 200, host
            assert "Draft" in body


def test_where_another_site_has_the_pages_the_preview_lists_what_publisher_built(publication):
    # No home page and no 404.html: a static host answers "Not Found" at the root, and the
    # editor opening the preview's address saw only that.
    sample_site(publication)
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    with Preview(publication) as preview:
        status, page, landed = fetch(preview.origin + "/")
        assert (status, landed) == (200, preview.url)
        assert "another site has the review pages (<code>feeds.permalink</code>)" in page
        assert '<script src="/__publisher/reload.js?build=1" defer></script>' in page
        links = re.findall(r'<a href="([^"]+)">', page)
        assert {f"/film/{name}" for name in (
            "feed.xml", "atom.xml", "feed.json", "archive/", "reviewers/", "tags/")} <= set(links)
        # Each listed directory is listed in turn, down to the feeds.
        status, page, _ = fetch(preview.url + "reviewers")
        reviewers = re.findall(r'<a href="([^"]+)">', page)
        assert status == 200 and reviewers
        status, page, _ = fetch(preview.origin + reviewers[0])
        feeds = re.findall(r'<a href="([^"]+)">', page)
        assert status == 200 and reviewers[0] + "feed.xml" in feeds
        assert all(fetch(preview.origin + link)[0] == 200 for link in links + feeds)
        assert fetch(preview.url + "no-such-thing/")[0] == 404
    # The listing is the preview's own: the real build has none.
    build_publication(publication.config, now=NOW)
    assert not (publication.root / "public" / "film" / "index.html").exists()
    assert not (publication.root / "public" / "index.html").exists()


def test_a_saved_edit_is_built_again_and_a_broken_source_leaves_the_last_good_build(
        publication, preview):
    orchard = preview.url + "reviews/the-quiet-orchard/"
    source = publication.root / "reviews" / "the-quiet-orchard.md"
    retitle(source, "The Quiet Orchard, Recut")
    wait_for(lambda: preview.status()["builds"] == 2, what="the edit to be built")
    assert "The Quiet Orchard, Recut" in fetch(orchard)[1]
    assert any("files written" in line for line in preview.stdout[2:])

    publication.write_review("broken.md", "---\ntitle: Broken\nrating: eleven\n---\nText.\n")
    wait_for(lambda: preview.status()["error"], what="the broken source to be reported")
    status = preview.status()
    assert status["builds"] == 2
    assert "reviews/broken.md:3: rating: 'eleven' is not a number" in str(status["error"])
    assert fetch(orchard)[0] == 200 and "The Quiet Orchard, Recut" in fetch(orchard)[1]
    wait_for(lambda: any("reviews/broken.md:3" in line for line in preview.stderr),
             what="the error in the terminal")

    (publication.root / "reviews" / "broken.md").unlink()
    wait_for(lambda: preview.status()["builds"] == 3, what="the fix to be built")
    assert preview.status()["error"] == ""
    assert preview.stop() == 0


def test_a_scheduled_review_appears_in_the_preview_when_the_clock_reaches_it(publication):
    sample_site(publication)
    clock = MutableClock(NOW)
    site = SitePreview(publication.config, "http://127.0.0.1:8123/", clock=clock)
    site.build()
    page = site.config.output_path / "reviews" / "winter-ferry" / "index.html"
    assert not page.exists() and not site.due()
    clock.now = NOW + timedelta(days=90)  # past the review's date, 2027-01-22
    assert site.due()
    site.build(workers=1)
    assert page.exists() and not site.due()
    assert site.status.builds == 2


DRAFT = "reviews/the-long-weekend-job/"  # the sample's draft
SCHEDULED = "reviews/winter-ferry/"  # and its review scheduled for 22 January 2027


def test_drafts_and_scheduled_reviews_are_shown_when_asked_and_marked_on_their_pages(
        publication):
    sample_site(publication)
    with Preview(publication, "--drafts", "--future") as preview:
        assert any("showing 1 draft and 1 scheduled review too" in line
                   for line in preview.stdout)
        status, draft, _ = fetch(preview.url + DRAFT)
        assert status == 200
        assert re.search(r'<body[^>]*><p role="note"[^>]*>Draft: only this preview shows it\. '
                         r'publisher build publishes it once draft: true is gone from '
                         r'reviews/the-long-weekend-job\.md\.</p>', draft)
        status, scheduled, _ = fetch(preview.url + SCHEDULED)
        assert status == 200
        assert '<p role="note" data-publisher-note style="' in scheduled
        assert (">Scheduled for 22 January 2027, 00:00: only this preview shows it before then."
                in scheduled)
        assert 'role="note"' not in fetch(preview.url + "reviews/the-quiet-orchard/")[1]
        # Listed, in the feeds too, as they will be once published: the links say the rest.
        assert "The Long Weekend Job" in fetch(preview.url)[1]
        assert "Winter Ferry" in fetch(preview.url + "feed.xml")[1]
        notes = preview.status()["notes"]
        assert {path: note["label"] for path, note in notes.items()} == {
            "/film/" + DRAFT: "Draft", "/film/" + SCHEDULED: "Scheduled"}
        assert preview.stop() == 0

    # What publisher build publishes is the same as ever.
    build_publication(publication.config, now=NOW)
    public = publication.root / "public"
    assert (public / "reviews" / "the-quiet-orchard" / "index.html").exists()
    assert not (public / DRAFT).exists() and not (public / SCHEDULED).exists()
    assert "The Long Weekend Job" not in (public / "index.html").read_text("utf-8")


def test_a_draft_page_of_the_sites_own_is_previewed_when_asked_and_marked(publication):
    sample_site(publication)
    (publication.root / "pages").mkdir()
    (publication.root / "pages" / "about.md").write_text(
        "---\ntitle: About us\nmenu: About\ndraft: true\n---\nBeing written.\n")
    with Preview(publication) as preview:
        assert fetch(preview.url + "about/")[0] == 404
        assert ">About</a>" not in fetch(preview.url)[1]
        assert preview.stop() == 0
    with Preview(publication, "--drafts") as preview:
        status, about, _ = fetch(preview.url + "about/")
        assert status == 200 and "Being written." in about
        assert ("Draft: only this preview shows it. publisher build publishes it once draft: "
                "true is gone from pages/about.md.") in about
        assert ">About</a>" in fetch(preview.url)[1]  # in the navigation, as it will be
        assert preview.status()["notes"]["/film/about/"]["label"] == "Draft"
        assert preview.stop() == 0
    build_publication(publication.config, now=NOW)
    assert not (publication.root / "public" / "about").exists()


def test_without_the_flags_the_preview_shows_what_is_published_and_marks_nothing(preview):
    assert fetch(preview.url + DRAFT)[0] == 404
    assert fetch(preview.url + SCHEDULED)[0] == 404
    assert preview.status()["notes"] == {}
    assert not any("showing" in line for line in preview.stdout)


def test_a_scheduled_review_shown_early_loses_its_note_when_its_time_comes(publication):
    sample_site(publication)
    clock = MutableClock(NOW)
    site = SitePreview(publication.config, "http://127.0.0.1:8123/", clock=clock,
                       showing=Showing(future=True))
    site.build()
    out = site.config.output_path
    assert (out / SCHEDULED / "index.html").exists() and not (out / DRAFT).exists()
    assert site.status.notes == {"/film/" + SCHEDULED: Note(
        "Scheduled", "Scheduled for 22 January 2027, 00:00: only this preview shows it "
                     "before then.")}
    assert not site.due()
    clock.now = NOW + timedelta(days=90)
    assert site.due()
    site.build(workers=1)
    assert (out / SCHEDULED / "index.html").exists() and site.status.notes == {}


chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                              reason="Chromium is not installed (apt-get install chromium)")


@pytest.mark.slow
@chromium
def test_an_open_page_reloads_itself_after_an_edit_and_shows_a_broken_build(publication, preview,
                                                                           browser):
    source = publication.root / "reviews" / "the-quiet-orchard.md"
    page = browser.new_page()
    page.goto(preview.url + "reviews/the-quiet-orchard/")
    assert page.locator("h1").inner_text().startswith("The Quiet Orchard")
    # Computed styles: the stylesheet came from this machine, not the live site.
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"

    retitle(source, "The Quiet Orchard, Recut")
    page.wait_for_function(
        "document.querySelector('h1').innerText.includes('Recut')", timeout=30_000)

    publication.write_review("broken.md", "---\ntitle: Broken\n---\nText.\n")
    alert = page.locator("[role=alert]")
    alert.wait_for(timeout=30_000)
    assert "reviews/broken.md" in alert.inner_text()
    assert "Recut" in page.locator("h1").inner_text()  # the last good build

    (publication.root / "reviews" / "broken.md").unlink()
    alert.wait_for(state="detached", timeout=30_000)
    page.close()
    assert preview.stop() == 0


@pytest.mark.slow
@chromium
def test_in_the_browser_each_link_to_a_review_not_yet_published_says_so(publication, browser):
    sample_site(publication)
    with Preview(publication, "-D", "-F") as preview:
        page = browser.new_page()
        page.goto(preview.url)
        page.locator("a [data-publisher-note]").first.wait_for(timeout=30_000)
        labelled = page.eval_on_selector_all(
            "a:has([data-publisher-note])",
            "links => links.map(a => [new URL(a.href).pathname, a.innerText])")
        assert sorted({path for path, _text in labelled}) == ["/film/" + DRAFT,
                                                              "/film/" + SCHEDULED]
        assert all(text.endswith("Draft") == path.endswith(DRAFT)
                   and text.endswith(("Draft", "Scheduled")) for path, text in labelled)

        page.goto(preview.url + SCHEDULED)
        note = page.locator("p[role=note]")
        assert note.inner_text().startswith("Scheduled for 22 January 2027")
        assert note.bounding_box()["y"] == 0  # above the page's own header
        page.locator("a[rel=prev] [data-publisher-note]").wait_for(timeout=30_000)
        assert page.locator("a[rel=prev]").inner_text().endswith("Draft")
        # The page's links to itself ("Skip to the content") are not labelled.
        assert page.locator("a.skip [data-publisher-note]").count() == 0

        # Nor are links drawn after the page loaded left out: the search's results.
        page.goto(preview.url + "search/")
        page.locator("#q").fill("weekend")  # typed after the page has loaded
        result = page.locator("#search-results a")
        result.locator("[data-publisher-note]").wait_for(timeout=30_000)
        assert result.inner_text() == "The Long Weekend Job (2026)Draft"  # the year in the link
        assert result.locator("[data-publisher-note]").count() == 1  # labelled once
        page.close()
        assert preview.stop() == 0


def test_a_config_taken_away_is_reported_once_and_built_again_when_it_returns(publication):
    sample_site(publication)
    site = SitePreview(publication.config, "http://127.0.0.1:8123/", clock=MutableClock(NOW))
    site.build()
    config_file = publication.root / "publisher.toml"
    kept = config_file.read_bytes()
    config_file.unlink()
    assert site.due()
    with pytest.raises(ConfigError, match="publisher.toml: no such file"):
        site.build(workers=1)
    assert "no such file" in site.status.error and site.status.builds == 1
    assert not site.due()  # said once, not again every time the preview looks
    config_file.write_bytes(kept.replace(b"Test Reel", b"Third Reel"))
    assert site.due()
    site.build(workers=1)
    assert site.status == Status(2, "")
    assert "Third Reel" in (site.config.output_path / "index.html").read_text("utf-8")


def test_a_fault_of_the_machine_is_shown_over_the_pages_as_a_source_error_is(publication):
    sample_site(publication)
    site = SitePreview(publication.config, "http://127.0.0.1:8123/", clock=MutableClock(NOW))
    site.build()
    # The build's manifest cannot be replaced: a directory stands where it goes.
    manifest = site.config.paths.build_manifest
    manifest.unlink()
    (manifest / "in-the-way").mkdir(parents=True)
    retitle(publication.root / "reviews" / "the-quiet-orchard.md", "The Quiet Orchard, Recut")
    with pytest.raises(IsADirectoryError):
        site.build(workers=1)
    assert site.status.builds == 1
    assert "Is a directory" in site.status.error and "move it away" in site.status.error
