"""`publisher build`: real sources in a temporary publication, real files, feeds parsed back."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path

import feedparser
import jsonschema
import pytest

from publisher.config import load_config
from publisher.errors import PublisherError, SourceError
from publisher.models import Issue, Showing
from publisher.pipeline.build import BuildReport, build_publication, build_site, manifest_path
from publisher.pipeline.check import check_publication
from publisher.sources.catalog import load_reviews
from tests.fixtures import (
    DATA,
    SAMPLE,
    atom_problems,
    built_afresh,
    rss_problems,
    use_database,
    write_reviews,
)
from tests.fixtures import snapshot as contents

SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text("utf-8"))


def write(publication, slug, *, title=None, date="2026-03-01", reviewer="Sam Okafor",
          tags="drama", body="A body with a [link](/reviews/).", **extra):
    """reviews/<slug>.md: a Lynne Ramsay film tagged ``tags`` (YAML text), dated 1 March 2026;
    ``extra`` front-matter fields go in as written (a misspelt key, a draft)."""
    title = title or slug.replace("-", " ").title()
    write_reviews(publication, [{
        "slug": slug, "title": title, "date": date, "reviewer": reviewer,
        "film": {"year": 1999, "director": "Lynne Ramsay",
                 "starring": ["Samantha Morton", "Kathleen McDermott"]},
        "summary": f"A logline for {title}.", "tags": f"[{tags}]", "body": body, **extra,
    }])


def sample(publication):
    """The repository's sample publication (reviews and static posters) in tmp_path."""
    publication.copy_sample_reviews()
    shutil.copytree(SAMPLE / "static", publication.root / "static")


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def feed_dirs(public: Path) -> list[str]:
    """Every directory holding a subscription feed (the monthly archives left out)."""
    found = (p.parent.relative_to(public).as_posix() + "/" if p.parent != public else ""
             for p in public.rglob("feed.xml"))
    return sorted(d for d in found if not d.startswith("archive/"))


def archive_dirs(public: Path) -> list[str]:
    return sorted(p.parent.relative_to(public).as_posix() + "/"
                  for p in (public / "archive").glob("*/feed.xml"))


def check_feed_dir(public: Path, base_url: str, path: str) -> dict[str, feedparser.FeedParserDict]:
    rss, atom = (public / path / "feed.xml").read_bytes(), (public / path / "atom.xml").read_bytes()
    assert rss_problems(rss, f"{base_url}{path}feed.xml") == []
    assert atom_problems(atom, f"{base_url}{path}atom.xml") == []
    jsonschema.validate(json.loads((public / path / "feed.json").read_bytes()), SCHEMA)
    parsed = {"rss": feedparser.parse(rss), "atom": feedparser.parse(atom)}
    for d in parsed.values():
        assert d.bozo == 0, (path, d.get("bozo_exception"))
    return parsed


def test_build_writes_valid_site_reviewer_and_tag_feeds(publication, now):
    sample(publication)
    config = publication.config
    report = build_site(config, now=now)
    public = config.output_path
    catalog = load_reviews(config)
    published = catalog.published(now)
    assert 0 < len(published) < len(catalog.reviews)  # the samples have a draft and a future one

    reviewers = {r.reviewer_slug for r in published}
    tags = {t for r in published for t in r.tag_slugs}
    expected = [""] + [f"reviewers/{s}/" for s in reviewers] + [f"tags/{s}/" for s in tags]
    assert feed_dirs(public) == sorted(expected)
    for path in expected:
        check_feed_dir(public, config.base_url, path)

    site = check_feed_dir(public, config.base_url, "")
    newest_first = sorted(published, key=lambda r: r.date, reverse=True)
    for d in site.values():
        assert [e.title for e in d.entries] == [r.title for r in newest_first]
        assert [e.id for e in d.entries] == [r.id for r in newest_first]
    for r in published:
        for d in check_feed_dir(public, config.base_url, f"reviewers/{r.reviewer_slug}/").values():
            assert r.title in [e.title for e in d.entries]
            assert {e.author for e in d.entries} == {r.reviewer}
    assert set(report.written) >= {f"{p}{n}" for p in expected
                                  for n in ("feed.xml", "atom.xml", "feed.json")}
    # every month from the oldest published review's to now has its archive, valid where it is
    months = archive_dirs(public)
    assert months[0] == f"archive/{min(r.date for r in published):%Y-%m}/"
    assert months[-1] == f"archive/{now:%Y-%m}/"
    for path in months:
        check_feed_dir(public, config.base_url, path)


def test_reviewers_named_in_other_scripts_each_get_their_own_feed(publication, now):
    write(publication, "one", reviewer="王伟", tags="ドラマ")
    write(publication, "two", reviewer="李娜", tags="恐怖")
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    reviewers = [d for d in feed_dirs(public) if d.startswith("reviewers/")]
    tags = [d for d in feed_dirs(public) if d.startswith("tags/")]
    assert len(reviewers) == 2 and len(tags) == 2
    for path in reviewers + tags:
        [entry] = check_feed_dir(public, config.base_url, path)["atom"].entries
        assert entry.author in ("王伟", "李娜")


def test_poster_is_copied_and_its_real_size_is_the_enclosure_length(publication, now):
    sample(publication)
    config = publication.config
    build_site(config, now=now)
    [poster] = (publication.root / "static" / "posters").iterdir()
    copied = config.output_path / "posters" / poster.name
    assert copied.read_bytes() == poster.read_bytes()
    d = feedparser.parse((config.output_path / "feed.xml").read_bytes())
    enclosures = [enc for e in d.entries for enc in e.enclosures]
    assert [(enc.href, enc.length) for enc in enclosures] == [
        (f"{config.base_url}posters/{poster.name}", str(poster.stat().st_size))]


def test_two_builds_of_the_same_sources_are_byte_identical(publication, now, tmp_path):
    sample(publication)
    build_site(publication.config, now=now)
    first = contents(publication.config.output_path)
    # a second publication elsewhere, built cold without any cache
    second = built_afresh(publication.root, tmp_path / "other", now, cache=False)
    assert first == second
    assert len(first) > 10


def test_an_invalid_source_writes_nothing_and_lists_every_problem(publication, now):
    sample(publication)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    manifest_before = manifest_path(config).read_bytes()
    write(publication, "brand-new")  # valid, would change the site feed
    write(publication, "bad-rating", raitng=4)
    write(publication, "bad-date", date="2026-02-30")
    with pytest.raises(SourceError) as caught:
        build_site(config, now=now)
    paths = {p.path for p in caught.value.problems}
    assert {"reviews/bad-rating.md", "reviews/bad-date.md"} <= paths
    assert "reviews/bad-rating.md" in str(caught.value) and "raitng" in str(caught.value)
    assert snapshot(config.output_path) == before  # same files, same bytes, same mtimes
    assert manifest_path(config).read_bytes() == manifest_before


def test_unchanged_files_are_not_rewritten_and_unchanged_feeds_not_rendered(publication, now):
    sample(publication)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    report = build_site(config, now=now)
    assert report == BuildReport(written=(), unchanged=len(before), warnings=(), rendered=0)
    assert snapshot(config.output_path) == before

    # edit one review: only what shows it is rendered and rewritten — the feeds that carry it,
    # its month's archive, its page, and the pages that list it (it is the oldest of six, so
    # not on the home page, which shows the latest five)
    publication.add_config("[site]\nhome_reviews = 5\n")
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    catalog = load_reviews(config)
    review = catalog.published(now)[0]
    source = publication.root / review.source_path
    # Its summary line, as written (review.summary is as published: "widow’s").
    source.write_text(re.sub(r"(?m)^summary: .*$", "summary: A brand new logline.",
                             source.read_text("utf-8"), count=1), encoding="utf-8")
    report = build_site(config, now=now)
    carrying = {"", f"reviewers/{review.reviewer_slug}/"} | {f"tags/{t}/" for t in review.tag_slugs}
    month = f"archive/{review.date:%Y-%m}/"
    listing = {"reviews/index.html"} | {f"{p}index.html" for p in carrying if p}
    assert set(report.written) == ({f"{p}{n}" for p in carrying | {month}
                                    for n in ("feed.xml", "atom.xml", "feed.json")}
                                   | {f"reviews/{review.slug}/index.html"} | listing)
    assert report.rendered == len(carrying) + 1 + 1 + len(listing)
    after = snapshot(config.output_path)
    for rel, (data, mtime) in before.items():
        if rel not in report.written:
            assert after[rel] == (data, mtime), rel
    assert b"A brand new logline." in after["feed.xml"][0]


def test_a_deleted_or_hand_edited_feed_file_is_restored(publication, now):
    sample(publication)
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    tag = sorted((public / "tags").iterdir())[0].name
    original = (public / "tags" / tag / "atom.xml").read_bytes()
    (public / "tags" / tag / "atom.xml").unlink()
    (public / "feed.json").write_text("{}", encoding="utf-8")
    report = build_site(config, now=now)
    assert report.rendered == 2
    assert sorted(report.written) == ["feed.json", f"tags/{tag}/atom.xml"]
    assert (public / "tags" / tag / "atom.xml").read_bytes() == original


def test_feeds_of_a_tag_that_no_longer_has_reviews_are_removed(publication, now):
    write(publication, "one", tags="drama, one-off")
    write(publication, "two", tags="drama", date="2026-03-02")
    config = publication.config
    build_site(config, now=now)
    assert (config.output_path / "tags" / "one-off" / "feed.xml").exists()
    write(publication, "one", tags="drama, one-off", draft="true")
    report = build_site(config, now=now)
    assert sorted(report.removed) == ["reviews/one/index.html"] + [
        f"tags/one-off/{n}" for n in ("atom.xml", "feed.json", "feed.xml", "index.html")]
    assert not (config.output_path / "tags" / "one-off").exists()
    assert (config.output_path / "tags" / "drama" / "feed.xml").exists()


def test_a_build_without_its_record_names_the_pages_it_did_not_make(publication, now):
    # public/ kept in git, the publication cloned afresh (or .publisher/cache cleared): the
    # build cannot know that the old page of a review made a draft since is its own.
    write(publication, "one", tags="drama, one-off")
    write(publication, "two", tags="drama", date="2026-03-02")
    config = publication.config
    build_site(config, now=now)
    (config.output_path / "CNAME").write_text("reel.test\n")  # put there by hand
    shutil.rmtree(config.paths.cache)
    write(publication, "one", tags="drama, one-off", draft="true")
    report = build_site(config, now=now)
    assert [str(w) for w in report.warnings] == [
        "public/: 6 files this build did not make (CNAME, reviews/one/index.html, "
        "tags/one-off/atom.xml and 3 more), with no record of what the build before it made "
        "(.publisher/cache/build.json was missing): made by an earlier build, they may show "
        "what is no longer published (a draft, a review deleted or moved); delete public/ and "
        "build again"]
    assert not build_site(config, now=now).warnings  # the record is back: said once


def test_control_characters_in_a_source_warn_and_never_break_a_feed(publication, now):
    write(publication, "noisy", title="Noisy\x07 Film", body="Bell\x07 and escape\x1b here.")
    report = build_site(publication.config, now=now)
    assert report.warnings and all(w.path == "reviews/noisy.md" for w in report.warnings)
    assert any("control character" in w.message for w in report.warnings)
    for d in check_feed_dir(publication.config.output_path, "https://reel.test/", "").values():
        assert d.entries[0].title == "Noisy Film"
        assert "Bell and escape here." in d.entries[0].content[0].value


def test_future_and_draft_reviews_stay_out_until_their_time(publication, now):
    write(publication, "now-showing", date="2026-11-01")
    write(publication, "coming-soon", date="2026-12-25")
    write(publication, "unfinished", draft="true")
    config = publication.config
    build_site(config, now=now)
    titles = [e.title for e in feedparser.parse(config.output_path / "feed.xml").entries]
    assert titles == ["Now Showing"]
    later = now.replace(year=2027)
    build_site(config, now=later)
    titles = [e.title for e in feedparser.parse(config.output_path / "feed.xml").entries]
    assert titles == ["Coming Soon", "Now Showing"]


def test_an_edit_dated_in_the_future_is_warned_of(publication, now):
    write(publication, "edited", date="2026-03-01", updated="2027-02-01")
    write(publication, "fine", date="2026-03-01", updated="2026-03-02")
    report = build_site(publication.config, now=now)
    assert [str(w) for w in report.warnings] == [
        "reviews/edited.md:12: updated: 2027-02-01 is in the future; feeds and the sitemap will "
        "say the review was edited then. Give the day it was edited"]


def test_a_review_shown_early_by_the_preview_is_not_warned_of_an_edit_it_does_not_have(
        publication, now):
    # Its updated is its date (none given): in the future only because the review is.
    write(publication, "later", date="2027-01-15")
    write(publication, "unfinished", date="2027-01-15", draft="true")
    report = build_site(publication.config, now=now, showing=Showing(drafts=True, future=True))
    assert [str(w) for w in report.warnings] == []


def test_per_reviewer_and_per_tag_feeds_can_be_turned_off(publication, now):
    write(publication, "only")
    publication.add_config("[feeds]\nper_reviewer = false\nper_tag = false\n")
    build_site(publication.config, now=now)
    assert feed_dirs(publication.config.output_path) == [""]


def test_static_files_are_copied_but_never_over_a_generated_file(publication, now):
    write(publication, "only")
    static = publication.root / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "site.css").write_text("body {}", encoding="utf-8")
    (static / "feed.xml").write_text("<not-a-feed/>", encoding="utf-8")
    (static / ".DS_Store").write_bytes(b"junk")
    # editors' backups and autosaves of a static file: what it said before, or unsaved
    for name in ("site.css~", "#site.css#", ".site.css.swp", ".#site.css"):
        (static / "css" / name).write_text("body { /* the old rules */ }", encoding="utf-8")
    report = build_site(publication.config, now=now)
    public = publication.config.output_path
    assert (public / "css" / "site.css").read_text("utf-8") == "body {}"
    assert not (public / ".DS_Store").exists()
    assert sorted(p.name for p in (public / "css").iterdir()) == ["site.css"]
    assert b"<rss" in (public / "feed.xml").read_bytes()
    assert [(w.path, w.message) for w in report.warnings] == [
        ("static/feed.xml", "has the path of a file the build makes; not copied: give it "
                            "another name")]
    again = build_site(publication.config, now=now)
    assert "css/site.css" not in again.written


def test_a_static_robots_txt_is_named_with_the_template_that_writes_the_sites_own(
        publication, now):
    # Shutting out a crawler (GPTBot) is the usual reason; "give it another name" was no way.
    write(publication, "only")
    (publication.root / "static").mkdir(exist_ok=True)
    (publication.root / "static" / "robots.txt").write_text(
        "User-agent: GPTBot\nDisallow: /\n", encoding="utf-8")
    config = publication.config
    said = ("static/robots.txt: has the path of a file the build makes; not copied: write "
            'its lines in templates/robots.txt.j2, after {% extends "defaults/robots.txt.j2" '
            "%}, in {% block extra %}…{% endblock %}")
    assert said in check_publication(config, now=now, sources_only=True).warnings
    assert [str(w) for w in build_site(config, now=now).warnings] == [said]

    (publication.root / "static" / "robots.txt").unlink()
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "robots.txt.j2").write_text(
        '{% extends "defaults/robots.txt.j2" %}\n'
        "{% block extra %}\n\nUser-agent: GPTBot\nDisallow: /\n{% endblock %}\n",
        encoding="utf-8")
    report = build_site(config, now=now)
    assert report.warnings == () and "robots.txt" in report.written
    assert (config.output_path / "robots.txt").read_text("utf-8") == (
        "User-agent: *\nAllow: /\n\nUser-agent: GPTBot\nDisallow: /\n\n"
        f"Sitemap: {config.base_url}sitemap.xml\n")


def test_a_static_site_css_is_named_by_check_with_the_template_that_adds_its_rules(
        publication, now):
    # static/site.css was left out with a warning from build alone; check said nothing.
    write(publication, "only")
    (publication.root / "static").mkdir(exist_ok=True)
    (publication.root / "static" / "site.css").write_text(".band { background: #004d40; }\n",
                                                          encoding="utf-8")
    config = publication.config
    said = ("static/site.css: has the path of a file the build makes; not copied: put its rules "
            'in templates/site.css.j2, after {% extends "defaults/site.css.j2" %}, in '
            "{% block extra %}…{% endblock %}")
    report = check_publication(config, now=now, sources_only=True)
    assert said in report.warnings
    assert [str(w) for w in build_site(config, now=now).warnings] == [said]

    # As the warning says: the rules are in the site's stylesheet, and nothing is said.
    (publication.root / "static" / "site.css").unlink()
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "site.css.j2").write_text(
        '{% extends "defaults/site.css.j2" %}\n'
        "{% block extra %}.band { background: #004d40; }{% endblock %}\n", encoding="utf-8")
    assert build_site(config, now=now).warnings == ()
    css = (config.output_path / "site.css").read_text("utf-8")
    assert css.endswith(".band { background: #004d40; }") and ":focus-visible" in css
    assert not [w for w in check_publication(config, now=now, sources_only=True).warnings
                if "site.css" in w]


def test_the_well_known_folder_at_the_root_of_static_is_published(publication, now):
    # RFC 8615: security.txt and ACME challenges are looked for under /.well-known/, the one
    # hidden name a site must serve; anywhere else a hidden folder is still left out.
    write(publication, "only")
    static = publication.root / "static"
    (static / ".well-known" / "acme-challenge").mkdir(parents=True)
    (static / ".well-known" / "security.txt").write_text("Contact: mailto:s@example.org\n",
                                                          encoding="utf-8")
    (static / ".well-known" / "acme-challenge" / "tok3n").write_text("tok3n.key", "utf-8")
    (static / ".well-known" / ".security.txt.swp").write_text("unsaved", encoding="utf-8")
    (static / "css" / ".well-known").mkdir(parents=True)
    (static / "css" / ".well-known" / "x.txt").write_text("not at the root", encoding="utf-8")
    build_site(publication.config, now=now)
    public = publication.config.output_path
    assert (public / ".well-known" / "security.txt").read_text("utf-8").startswith("Contact:")
    assert (public / ".well-known" / "acme-challenge" / "tok3n").read_text("utf-8") == "tok3n.key"
    assert sorted(p.name for p in (public / ".well-known").iterdir()) == [
        "acme-challenge", "security.txt"]
    assert not (public / "css").exists()


def test_an_htaccess_file_is_published_in_any_folder_of_static(publication, now):
    # Apache's per-folder settings (the cache headers a fingerprinted stylesheet is kept
    # under, redirects), which Apache itself never serves: Hugo and Pelican publish it too.
    write(publication, "only")
    static = publication.root / "static"
    (static / "css").mkdir(parents=True)
    (static / ".htaccess").write_text("ErrorDocument 404 /404.html\n", encoding="utf-8")
    (static / "css" / ".htaccess").write_text("ExpiresActive On\n", encoding="utf-8")
    (static / "css" / ".htaccess~").write_text("the old one\n", encoding="utf-8")
    build_site(publication.config, now=now)
    public = publication.config.output_path
    assert (public / ".htaccess").read_text("utf-8") == "ErrorDocument 404 /404.html\n"
    assert sorted(p.name for p in (public / "css").iterdir()) == [".htaccess"]


def test_a_template_linked_out_of_the_publication_or_to_a_hidden_file_is_refused(
        publication, now, tmp_path, cli):
    # templates/ follows the rule of static/ and reviews/: every page, feed and issue renders
    # a template, so a link committed by mistake would publish whatever it leads to.
    write(publication, "only")
    templates = publication.root / "templates"
    templates.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("PUBLISHER_SECRET=hunter2\n", encoding="utf-8")
    (publication.root / ".env").write_text("PUBLISHER_SECRET=hunter2\n", encoding="utf-8")
    for name, target in (("404.html.j2", secret), ("site.css.j2", Path("../.env")),
                         ("digest.txt.j2", secret)):
        (templates / name).symlink_to(target)
        refusal = (
            f"templates/{name} → {(templates / name).resolve()}: a symbolic link out of the "
            "publication, or to a hidden file of it; publisher never publishes those (it could "
            "be a secret): copy the template into templates/ or remove the link")
        if name.startswith("digest"):  # what every subscriber would be mailed
            preview = cli("digest", "preview", "--text")
            assert preview.exit_code == 1 and preview.stderr == f"error: {refusal}\n"
        else:
            with pytest.raises(PublisherError) as refused:
                build_site(publication.config, now=now)
            assert str(refused.value) == refusal
            public = publication.config.output_path
            assert not public.exists() or not any(p.is_file() for p in public.rglob("*"))
        (templates / name).unlink()
    # a link that stays inside the publication (a shared theme beside templates/) is followed
    theme = publication.root / "theme"
    theme.mkdir()
    (theme / "404.html.j2").write_text("Not here.", encoding="utf-8")
    (templates / "404.html.j2").symlink_to(Path("../theme/404.html.j2"))
    build_site(publication.config, now=now)
    assert (publication.config.output_path / "404.html").read_text("utf-8") == "Not here."


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_static_file_edited_to_the_same_size_is_copied_whatever_its_mtime(publication, now,
                                                                          dry_run):
    write(publication, "only")
    css = publication.root / "static" / "css" / "theme.css"
    css.parent.mkdir(parents=True)
    css.write_text("body { color: #ff0000 }", encoding="utf-8")
    build_site(publication.config, now=now)
    copy = publication.config.output_path / "css" / "theme.css"
    assert "css/theme.css" not in build_site(publication.config, now=now).written

    # Edited after the clock was set back an hour by NTP (or put in place by rsync -t or cp -p
    # with the mtime it had elsewhere): same size, older than the copy made before.
    css.write_text("body { color: #00ff00 }", encoding="utf-8")
    before = copy.stat().st_mtime_ns - 3600 * 10**9
    os.utime(css, ns=(before, before))
    report = build_site(publication.config, now=now, dry_run=dry_run)
    assert "css/theme.css" in report.written
    if not dry_run:
        assert copy.read_text("utf-8") == "body { color: #00ff00 }"
        assert "css/theme.css" not in build_site(publication.config, now=now).written


def test_archive_is_written_when_issues_are_given(publication, now):
    write(publication, "only")
    config = publication.config
    review = load_reviews(config).reviews[0]
    issue = Issue(number=1, subject="Test Reel #1: Only", date=now, reviews=(review,))
    report = build_site(config, now=now, issues=[issue])
    for rel in ("issues/index.html", "issues/atom.xml", "issues/1/index.html"):
        assert rel in report.written
        assert (config.output_path / rel).stat().st_size > 0
    assert "Only" in (config.output_path / "issues" / "1" / "index.html").read_text("utf-8")


def test_build_publication_takes_sent_issues_from_the_ledger(publication, now):
    from publisher.ledger import open_store

    write(publication, "only")
    config = publication.config
    report = build_publication(config, now=now)
    assert not any(rel.startswith("issues/") for rel in report.written)
    assert not (publication.root / ".publisher" / "state.db").exists()  # build made no ledger
    review = load_reviews(config).reviews[0]
    with open_store(config) as store:
        store.create_issue(subject="Test Reel #1", review_ids=[review.id], now=now)
        store.queue_deliveries(1, now=now)  # nobody subscribed: nothing to send
        assert store.finish_if_done(1, now=now).state == "sent"
    report = build_publication(config, now=now)
    assert "issues/1/index.html" in report.written


def test_ci_reading_the_postgresql_ledger_as_a_read_only_role_builds_the_senders_site(
        publication, postgres, postgres_url, tmp_path, monkeypatch, now):
    # README, "From git and CI": a fresh clone in CI builds the site the sending server
    # builds, issue archive included, with a role that may only read the ledger.
    import psycopg

    from publisher.ledger import open_store

    write(publication, "only")
    use_database(publication, postgres_url)
    config = publication.config
    review = load_reviews(config).reviews[0]
    with open_store(config) as store:
        store.create_issue(subject="Test Reel #1", review_ids=[review.id], now=now)
        store.queue_deliveries(1, now=now)  # nobody subscribed: nothing to send
        assert store.finish_if_done(1, now=now).state == "sent"
    build_publication(config, now=now)
    senders = contents(config.output_path)
    assert "issues/1/index.html" in senders

    reader, password = f"publisher_ci_{secrets.token_hex(3)}", secrets.token_hex(8)
    postgres._admin(f"CREATE ROLE {reader} LOGIN PASSWORD '{password}'")
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
        clone = tmp_path / "clone"
        shutil.copytree(publication.root, clone,
                        ignore=shutil.ignore_patterns("public", ".publisher"))
        toml = clone / "publisher.toml"
        as_reader = postgres_url.replace("postgresql:///", f"postgresql://{reader}@127.0.0.1/")
        toml.write_text(toml.read_text().replace(postgres_url, as_reader))
        monkeypatch.setenv("PGPASSWORD", password)
        ci = load_config(directory=clone)
        build_publication(ci, now=now, cache=False)
        assert contents(ci.output_path) == senders
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # its grants are there
            conn.execute(f"DROP OWNED BY {reader}")
        postgres._admin(f"DROP ROLE {reader}")


# --- the command ------------------------------------------------------------------------------


def test_the_summary_writes_every_count_as_the_written_one_is_written():
    from publisher.cli.build import _summary

    assert _summary("public", 1, 10707, 1200, 1) == (
        "public/: 1 file written, 10,707 unchanged, 1,200 removed; 1 warning")


def test_build_command_prints_a_summary_and_fails_cleanly_on_bad_sources(publication, cli):
    write(publication, "only")
    result = cli("build")
    assert result.exit_code == 0, result.output
    written = re.search(r"public/: (\d+) files written, 0 unchanged; 0 warnings", result.output)
    assert written, result.output
    result = cli("build")
    assert f"public/: 0 files written, {written[1]} unchanged; 0 warnings" in result.output

    write(publication, "broken", raitng=4)
    write(publication, "also-broken", date="yesterday")
    result = cli("build")
    assert result.exit_code == 1
    assert "reviews/broken.md" in result.output and "reviews/also-broken.md" in result.output
    assert "Traceback" not in result.output



def test_the_issue_archive_stays_when_the_ledger_forgets_its_issues(publication, now):
    # A ledger lost or restored from an old backup lists fewer issues: their archive pages are
    # a record of what was sent (and what stops issue #1 going out again), so they stay.
    write(publication, "only")
    config = publication.config
    review = load_reviews(config).reviews[0]
    issue = Issue(number=1, subject="Test Reel #1: Only", date=now, reviews=(review,))
    build_site(config, now=now, issues=[issue])
    kept = {rel: (config.output_path / rel).read_bytes()
            for rel in ("issues/1/index.html", "issues/index.html", "issues/atom.xml")}
    report = build_site(config, now=now, issues=[])
    assert not any(rel.startswith("issues/") for rel in report.removed + report.written)
    for rel, data in kept.items():
        assert (config.output_path / rel).read_bytes() == data
    assert build_site(config, now=now, issues=[]).written == ()


def test_a_new_review_does_not_render_again_the_bodies_of_the_reviews_it_shifts(
        publication, now, monkeypatch):
    """Adding a review moves every other one down the indexes, which show each review's
    summary; a summary derived from the body (none in the front matter) is kept between builds
    (sources/cache.py ExcerptCache), so only the new review's is derived."""
    from publisher.sources import body

    publication.add_config("[site]\nper_page = 2\n")
    write_reviews(publication, [{"summary": None}] * 7)
    config = publication.config
    first = build_publication(config, now=now)
    derived: list[str] = []
    real = body.Excerpt.compute

    def counting(self, review):
        derived.append(review.slug)
        return real(self, review)

    monkeypatch.setattr(body.Excerpt, "compute", counting)
    write_reviews(publication, [{"summary": None}] * 8)  # film-8 is new, and the newest
    second = build_publication(config, now=now)
    assert derived == ["film-8"]
    assert "reviews/page/4/index.html" in second.written and first.written
    # The summaries are those a build without any cache derives.
    fresh = publication.root / "fresh"
    shutil.copytree(publication.root / "public", fresh)
    shutil.rmtree(publication.root / "public")
    build_publication(config, now=now, cache=False)
    for page in ("reviews/page/4/index.html", "reviews/index.html", "feed.json"):
        assert (publication.root / "public" / page).read_bytes() == (fresh / page).read_bytes()


def test_a_new_review_renders_only_its_own_list_item_and_the_pages_come_out_the_same(
        publication, tmp_path, monkeypatch):
    # Every index page it is on shifts, but the other reviews' items are kept from the last
    # build (by each review's digest, under the code, templates and site that made them).
    from publisher.render.pages import PageRenderer
    from tests.fixtures import NOW

    write_reviews(publication, [{"date": f"2025-{1 + n % 12:02d}-{1 + n:02d}",
                                 "summary": None if n % 2 else f"Logline {n}."}
                                for n in range(12)])
    build_site(publication.config, now=NOW)
    rendered: list[str] = []
    real = PageRenderer._render

    def counting(self, name, context):
        if name == "review_item.html.j2":
            rendered.append(context["card"].title)
        return real(self, name, context)

    monkeypatch.setattr(PageRenderer, "_render", counting)
    write_reviews(publication, [{"slug": "newcomer", "date": "2026-01-05"}])
    build_site(publication.config, now=NOW)
    assert rendered == ["Newcomer"]

    clean = tmp_path / "clean"
    shutil.copytree(publication.root / "reviews", clean / "reviews")
    shutil.copy(publication.root / "publisher.toml", clean / "publisher.toml")
    from publisher.config import load_config

    build_site(load_config(directory=clean), now=NOW)
    public = publication.root / "public"
    assert {p.relative_to(public): p.read_bytes() for p in public.rglob("*") if p.is_file()} \
        == {p.relative_to(clean / "public"): p.read_bytes()
            for p in (clean / "public").rglob("*") if p.is_file()}

    # A new item template: every item is made again.
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "review_item.html.j2").write_text(
        '{% extends "defaults/review_item.html.j2" %}', encoding="utf-8")
    rendered.clear()
    build_site(publication.config, now=NOW)
    assert len(rendered) == 13


def test_a_second_review_of_a_film_names_the_first_reviewer_on_lists_it_is_not_on(
        publication, tmp_path):
    # The lists name the reviewer where the site has two reviews of a film; the first
    # review's item, kept from the last build, and the tag page that lists it alone are made
    # again, as a clean build makes them.
    from publisher.config import load_config
    from tests.fixtures import NOW

    film = {"year": 1978, "director": "John Carpenter"}
    write_reviews(publication, [{"slug": "halloween", "tags": ["slasher"], "film": film}])
    build_site(publication.config, now=NOW)
    tag_page = publication.root / "public" / "tags" / "slasher" / "index.html"
    assert "Halloween (1978), Priya Raman" not in tag_page.read_text(encoding="utf-8")

    write_reviews(publication, [{"slug": "halloween", "tags": ["slasher"], "film": film},
                                {"slug": "halloween-again", "title": "Halloween",
                                 "reviewer": "Sam Okafor", "film": film}])
    build_site(publication.config, now=NOW)
    assert 'aria-label="Halloween (1978), Priya Raman"' in tag_page.read_text(encoding="utf-8")
    clean = tmp_path / "clean"
    shutil.copytree(publication.root / "reviews", clean / "reviews")
    shutil.copy(publication.root / "publisher.toml", clean / "publisher.toml")
    build_site(load_config(directory=clean), now=NOW)
    for page in ("tags/slasher/index.html", "index.html", "reviewers/priya-raman/index.html"):
        assert (publication.root / "public" / page).read_bytes() == (
            clean / "public" / page).read_bytes(), page


def test_page_inputs_digest_tells_texts_apart_even_with_a_nul_in_one() -> None:
    from publisher.pipeline.plan import _digest_texts
    seen = {_digest_texts("a\0b", "c"), _digest_texts("a", "b\0c"), _digest_texts("a", "b", "c"),
            _digest_texts("ab", "c"), _digest_texts("a", "bc"), _digest_texts("", "abc")}
    assert len(seen) == 6
