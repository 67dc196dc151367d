"""Every link lands: public/ served by python's http.server on loopback, every link in every
page, feed (archives included), stylesheet, sitemap, digest and archive page fetched, each
answering 200."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import lxml.etree
import lxml.html

from publisher.config import load_config
from publisher.ledger import open_store
from publisher.pipeline.build import build_publication
from publisher.render.digest import personalise, preview_values, render_digest
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.sources import load_reviews
from publisher.sources.scaffold import init_publication
from tests.fixtures import SAMPLE, StaticServer, free_port, write_films, write_png

XLINK_ATTRS = ("href", "src", "url", "action")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("href", "src", "action"):
                self.found.append(value)
            elif value and name == "srcset":
                self.found += [c.strip().split(" ")[0] for c in value.split(",") if c.strip()]


def html_links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.found


def xml_links(data: bytes) -> list[str]:
    """Every URL an RSS, Atom or sitemap document (or the XSLT) names: attributes, link and
    loc elements, permalink guids, the stylesheet, and the links in each entry's HTML."""
    found = re.findall(rb'<\?xml-stylesheet [^>]*href="([^"]+)"', data)
    urls = [u.decode() for u in found]
    root = lxml.etree.fromstring(data)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = el.tag.rsplit("}", 1)[-1]
        for attr in XLINK_ATTRS:
            value = el.get(attr)
            if value and "{" not in value:  # an XSLT attribute value template is not a URL
                urls.append(value)
        # link and loc elements; Atom's icon and the RSS image's url
        if local in ("link", "loc", "icon", "url") and el.text \
                and el.text.strip().startswith("http"):
            urls.append(el.text.strip())
        if local == "guid" and el.get("isPermaLink") == "true":
            urls.append(el.text or "")
        if local in ("encoded", "content", "description") and el.text and "<" in el.text:
            urls += html_links(el.text)
    return urls


def json_links(data: bytes) -> list[str]:
    urls: list[str] = []

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if key == "content_html":
                urls.extend(html_links(value))
            elif key in ("url", "home_page_url", "feed_url", "next_url", "image", "about"):
                urls.append(value)

    walk(json.loads(data))
    return urls


def links_in(name: str, data: bytes) -> list[str]:
    if name.endswith((".html", "/")):
        return html_links(data.decode("utf-8"))
    if name.endswith((".xml", ".xsl")):
        return xml_links(data)
    if name.endswith(".json"):
        return json_links(data)
    if name.endswith(".txt"):
        return re.findall(r"https?://\S+", data.decode("utf-8"))
    return []


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def site_documents(public: Path, base: str) -> dict[str, bytes]:
    """Every file of a built site, by the URL it is served at."""
    return {f"{base}{p.relative_to(public).as_posix()}": p.read_bytes()
            for p in sorted(public.rglob("*")) if p.is_file()}


def crawl(documents: dict[str, bytes], base: str) -> tuple[dict[str, int], list[str], set[str]]:
    """Follow every link in ``documents`` (by URL; another name is read against ``base``)
    that stays under ``base``: (status of each URL fetched, the links that did not answer
    200, the links that leave the site)."""
    checked: dict[str, int] = {}
    broken: list[str] = []
    external: set[str] = set()
    for url, data in documents.items():
        name = url if url.endswith(("/", ".html", ".xml", ".xsl", ".json", ".txt")) else ""
        for link in links_in(name or url, data):
            target, _fragment = urldefrag(urljoin(url if url.startswith("http") else base,
                                                  link))
            if not target.startswith(base):
                external.add(target)
                continue
            if target not in checked:
                checked[target] = fetch(target)[0]
            if checked[target] != 200:
                broken.append(f"{url} → {target}: {checked[target]}")
    return checked, broken, external


def test_a_new_publication_links_to_nothing_that_is_missing(tmp_path, now):
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    init_publication(tmp_path, base_url=base, now=now)
    config = load_config(tmp_path / "publisher.toml")
    build_publication(config, now=now)
    with StaticServer(config.output_path, port):
        checked, broken, _external = crawl(site_documents(config.output_path, base), base)
    # The subscribe forms post to publisher serve, which a proxy at base_url answers
    # (`publisher check` says so): not the static site's to answer.
    assert [b for b in broken if not b.endswith(f"{base}subscribe: 404")] == []
    assert len(checked) > 15


def test_every_link_in_the_site_the_feeds_and_the_newsletter_answers_200(publication, now):
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    # publisher serve (subscribe, confirm, unsubscribe, preferences) at an address of its own:
    # its links are the server's to answer, not the static site's.
    server = f"http://127.0.0.1:{free_port()}/"
    shutil.copytree(SAMPLE / "reviews", publication.root / "reviews", dirs_exist_ok=True)
    shutil.copytree(SAMPLE / "static", publication.root / "static")
    shutil.copytree(SAMPLE / "pages", publication.root / "pages")  # about/, in the navigation
    write_films(publication, 3)  # posters with dimensions, the digest's footer address
    publication.set_base_url(base)
    write_png(publication.root / "static" / "icon.png", 64, 64, (180, 40, 40))
    # several pages of each index; the icon every page names
    publication.add_config('[site]\nper_page = 3\nicon = "icon.png"\n')
    publication.add_config(f'[server]\nurl = "{server}"\n')
    config = publication.config

    # an issue sent, so that the newsletter archive is there to link to and from
    catalog = load_reviews(config)
    ids = [r.id for r in catalog.published(now)][-4:]
    with open_store(config) as store:
        store.create_issue(subject="Test Reel #1", review_ids=ids, now=now)
        store.queue_deliveries(1, now=now)
        store.finish_if_done(1, now=now)
    build_publication(config, now=now)
    public = config.output_path

    # What readers get by email links to the site too.
    from publisher.newsletter.compose import archived_issues

    with open_store(config) as store:
        issues, _ = archived_issues(store.issues(), catalog, config, store.frozen_issues())
    sender = Sender.from_config(config)
    html, _text = personalise(render_digest(issues[0], Site.from_config(config)),
                              preview_values(sender))
    digest = html.encode("utf-8")

    documents = site_documents(public, base)
    documents["digest.html"] = digest
    assert len(documents) > 80
    with StaticServer(public, port):
        checked, broken, external = crawl(documents, base)
        assert fetch(f"{base}no/such/page/")[0] == 404  # the server can fail: the check is real
    assert broken == []
    assert len(checked) > 100
    # the only links leaving the site are the reviews' own and mail links
    assert {u.split(":")[0] for u in external if not u.startswith(server)} <= {
        "mailto", "https"}
    assert f"{server}subscribe" in external  # the forms post there
    for expected in ("index.html", "reviews/", "archive/", "issues/1/", "tags/festival/",
                     "feed.xsl", "site.css", "sitemap.xml", "feeds/", "icon.png", "about/"):
        assert any(u.startswith(base + expected) or u == base + expected for u in checked), \
            expected
    # and every page the sitemap lists is one of them
    sitemap = lxml.etree.fromstring(documents[f"{base}sitemap.xml"])
    locs = [el.text for el in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert locs and all(checked.get(loc) == 200 for loc in locs)
    html = lxml.html.fromstring(documents[f"{base}index.html"])
    assert html.xpath("//a[@href]")  # the crawl had something to follow
