"""The site's own pages (pages/*.md: about, contact): each built at its slug in the site's
design and listed in the navigation, rebuilt when it changes and removed when it goes, in no
feed and no search, and every mistake in one named line."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest

from publisher.errors import SourceError
from publisher.pipeline.build import build_site
from publisher.pipeline.check import check_publication
from tests.fixtures import Publication, run_cli, write_reviews

ABOUT = """\
---
title: About Test Reel
menu: About
description: Who writes these reviews, and how.
---
We review films: [every review](/reviews/), [the first](/reviews/film-1/).

## Our policy

We pay for our own tickets.
"""


def write_page(publication: Publication, name: str, text: str) -> Path:
    path = publication.root / "pages" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def page(public: Path, rel: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring((public / rel).read_bytes())


def navigation(public: Path, rel: str) -> list[tuple[str, str, str | None]]:
    return [(a.text, a.get("href"), a.get("aria-current"))
            for a in page(public, rel).xpath("//header//nav//a")]


def test_a_page_is_built_at_its_slug_in_the_sites_design_and_named_in_the_navigation(
        publication, now):
    write_reviews(publication, 2)
    write_page(publication, "about.md", ABOUT)
    write_page(publication, "contact.md", "---\ntitle: Contact\nweight: 5\n---\nWrite to us.\n")
    write_page(publication, "colophon.md", "---\ntitle: Colophon\nmenu: false\n---\nMade.\n")
    write_page(publication, "policy.md", "---\ntitle: Policy\ndraft: true\n---\nSoon.\n")
    write_page(publication, "_notes.md", "---\ntitle: Notes\n---\nKept aside.\n")
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url

    doc = page(public, "about/index.html")
    [h1] = doc.xpath("//h1")
    assert h1.text == "About Test Reel"
    assert doc.findtext(".//title") == "About Test Reel | Test Reel"
    body = doc.xpath("//main//div[@class='body']")[0]
    assert body.xpath(".//h2/text()") == ["Our policy"]  # the page's h1 stays the title's
    assert body.xpath(".//a/@href") == [f"{base}reviews/", f"{base}reviews/film-1/"]
    assert doc.xpath("//link[@rel='canonical']/@href") == [f"{base}about/"]
    assert doc.xpath("//meta[@name='description']/@content") == [
        "Who writes these reviews, and how."]

    # In the navigation of every page, lowest weight first, after the site's own sections;
    # marked as the current page on itself.
    for rel in ("index.html", "reviews/film-1/index.html", "contact/index.html"):
        labels = [label for label, _, _ in navigation(public, rel)]
        assert labels[-3:] == ["About", "Contact", "Subscribe"], rel
    assert ("About", f"{base}about/", "page") in navigation(public, "about/index.html")

    assert (public / "colophon/index.html").is_file()  # built, named in no navigation
    assert not (public / "policy").exists() and not (public / "notes").exists()
    sitemap = (public / "sitemap.xml").read_text("utf-8")
    assert all(f"<loc>{base}{slug}/</loc>" in sitemap for slug in ("about", "contact",
                                                                       "colophon"))
    # A page is not a review: in no feed, no index, no search.
    for rel in ("feed.xml", "atom.xml", "feed.json", "search.json"):
        assert f"{base}about/" not in (public / rel).read_text("utf-8"), rel
    assert f"{base}about/" not in page(public, "reviews/index.html").xpath("//main//a/@href")


def test_pages_of_one_weight_are_named_in_the_order_of_their_titles_accents_aside(
        publication, now):
    # By code point, "À propos" would come after "Contact" and "Zoé", as if À were after z.
    write_reviews(publication, 1)
    write_page(publication, "contact.md", "---\ntitle: Contact\n---\nÉcrivez-nous.\n")
    write_page(publication, "zoe.md", "---\ntitle: Zoé\n---\nQui est Zoé.\n")
    write_page(publication, "a-propos.md", "---\ntitle: À propos\n---\nQui sommes-nous.\n")
    config = publication.config
    build_site(config, now=now)
    labels = [label for label, _, _ in navigation(config.output_path, "index.html")]
    assert labels[-4:] == ["À propos", "Contact", "Zoé", "Subscribe"]


def test_a_page_changed_is_written_again_alone_unless_its_menu_label_changes(publication, now):
    write_reviews(publication, 2)
    about = write_page(publication, "about.md", ABOUT)
    contact = write_page(publication, "contact.md", "---\ntitle: Contact\n---\nWrite to us.\n")
    config = publication.config
    build_site(config, now=now)

    about.write_text(ABOUT + "\nAnd we say so.\n", encoding="utf-8")
    assert build_site(config, now=now).written == ("about/index.html",)

    about.write_text(ABOUT.replace("menu: About", "menu: Who we are"), encoding="utf-8")
    written = build_site(config, now=now).written
    assert "index.html" in written and "reviews/film-1/index.html" in written
    assert "Who we are" in [label for label, _, _ in navigation(config.output_path,
                                                                 "index.html")]

    contact.unlink()
    report = build_site(config, now=now)
    assert report.removed == ("contact/index.html",)
    public = config.output_path
    assert "Contact" not in [label for label, _, _ in navigation(public, "index.html")]
    assert f"{config.base_url}contact/" not in (public / "sitemap.xml").read_text("utf-8")


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("about.md", "---\nmenu: About\n---\nText.\n",
     "pages/about.md:1: title: missing; every page needs a title"),
    ("about.md", "---\ntitle: About\nweight: high\n---\nText.\n",
     "pages/about.md:3: weight: 'high' is not a whole number; the navigation lists lower "
     "weights first"),
    ("tags.md", "---\ntitle: Tags we use\n---\nText.\n",
     "pages/tags.md:1: slug: 'tags' is the address of a section of the site (tags/); give the "
     "page another slug (slug: in its front matter), or rename the file"),
    ("index.md", "---\ntitle: Welcome\n---\nText.\n",
     "pages/index.md:1: slug: 'index' would be a page at index/, not the home page, which lists "
     "the latest reviews (override templates/home.html.j2 to change it); give the page another "
     "slug (slug: in its front matter), or rename the file"),
    ("about.md", "---\ntitle: About\nauthor: Ed\n---\nText.\n",
     "pages/about.md:3: author: unknown field; known fields: title, menu, footer, weight, "
     "description, slug, draft, template"),
    ("about.md", "title: About\n", "pages/about.md:1: no front matter; start the file with a "
     "line '---', then fields such as 'title: ...', then another '---'"),
    ("about.md", "---\n---\nText.\n",
     "pages/about.md:2: front matter is empty; expected fields such as title"),
    ("about.md", "---\n- About\n---\nText.\n",
     "pages/about.md:2: front matter must be fields such as 'title: ...', got a list"),
    ("about.md", "---\ntitle: About: us\n---\nText.\n",
     "pages/about.md:2: title: the value contains ': ', which YAML reads as a new field; quote "
     "the whole value: title: \"About: us\""),
])
def test_a_page_with_a_problem_is_named_by_check_and_stops_the_build(publication, now, name,
                                                                     text, problem):
    write_reviews(publication, 1)
    write_page(publication, name, text)
    config = publication.config
    assert problem in check_publication(config, now=now, sources_only=True).errors
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == [problem]
    assert not config.output_path.exists()


@pytest.mark.parametrize(("server", "name", "served"), [
    ("", "subscribe.md", "https://reel.test/subscribe"),  # serve shares the site's address
    ("", "preferences.md", "https://reel.test/preferences"),
    ('url = "https://reel.test/newsletter/"', "newsletter.md", "https://reel.test/newsletter/"),
    ('url = "https://list.reel.test/"', "subscribe.md", None),  # a host of its own
    ('url = "https://reel.test/newsletter/"', "subscribe.md", None),
])
def test_a_page_may_not_take_an_address_where_publisher_serve_answers(publication, now, server,
                                                                      name, served):
    write_reviews(publication, 1)
    publication.add_config(f"[server]\n{server}\n")
    write_page(publication, name, "---\ntitle: Our newsletter\n---\nText.\n")
    config = publication.config
    slug = name.removesuffix(".md")
    if served is None:
        build_site(config, now=now)
        assert page(config.output_path, f"{slug}/index.html").findtext(".//h1") \
            == "Our newsletter"
        return
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == [
        f"pages/{name}:1: slug: {slug!r} is an address publisher serve answers ({served}), where "
        "the readers' pages are; give the page another slug (slug: in its front matter), or "
        "rename the file"]


def test_a_page_with_a_problem_is_not_called_a_review_in_the_error_line(publication):
    write_reviews(publication, 1)
    write_page(publication, "about.md", "---\nmenu: About\n---\nText.\n")
    result = run_cli("build", root=publication.root)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: 1 problem in the sources:",
        "pages/about.md:1: title: missing; every page needs a title"]


def test_two_pages_at_one_address_and_a_page_where_a_review_is_are_named(publication, now):
    write_reviews(publication, [{"slug": "manifesto"}])
    publication.add_config('[feeds]\npermalink = "{slug}/"\n')
    write_page(publication, "about.md", "---\ntitle: About\n---\nOne.\n")
    write_page(publication, "us.md", "---\ntitle: Us\nslug: about\n---\nTwo.\n")
    with pytest.raises(SourceError) as raised:
        build_site(publication.config, now=now)
    assert [str(p) for p in raised.value.problems] == [
        "pages/us.md: slug: 'about' is also the slug of pages/about.md; give one of them "
        "another slug (or rename the file)"]

    (publication.root / "pages" / "us.md").unlink()
    write_page(publication, "manifesto.md", "---\ntitle: Our manifesto\n---\nThree.\n")
    clash = (f"reviews/manifesto.md: slug: its page {publication.config.url('manifesto/')} "
             "would be written over by another page of the site (manifesto/index.html); give "
             "the review another slug (slug: in its front matter), or change feeds.permalink")
    # publisher check plans the site with the pages too, and names it before a build does
    assert clash in check_publication(publication.config, now=now, sources_only=True).errors
    with pytest.raises(SourceError) as raised:
        build_site(publication.config, now=now)
    assert [str(p) for p in raised.value.problems] == [clash]


def test_a_link_in_a_page_to_nothing_on_the_site_is_a_warning_naming_its_line(publication,
                                                                              now):
    write_reviews(publication, 1)
    write_page(publication, "about.md", "---\ntitle: About\n---\nFine: [one](/reviews/film-1/)."
                                        "\n\nGone: [two](/reviews/film-9/).\n")
    report = build_site(publication.config, now=now)
    gone = ("pages/about.md:6: body: links to https://reel.test/reviews/film-9/, where nothing "
            "is published (no review, page or file in static/ has that address); correct the "
            "link")
    assert [str(w) for w in report.warnings] == [gone]
    assert gone in check_publication(publication.config, now=now, sources_only=True).warnings


def test_a_form_in_a_page_is_named_as_removed_with_where_it_can_go(publication, now):
    write_reviews(publication, 1)
    write_page(publication, "contact.md", '---\ntitle: Contact\n---\nWrite to us.\n\n'
               '<form action="https://forms.example.net/f/1" method="post"><input name="email">'
               "<button>Send</button></form>\n")
    report = build_site(publication.config, now=now)
    removed = ("pages/contact.md:6: body: <form> is removed as it is published (no frames, "
               "forms, scripts, styles, or tags publisher does not know, come from a source): "
               "link to what it embeds instead (a video's page), and write words meant to show "
               "without angle brackets; a page that needs one can have it in its template "
               "(templates/site_page.html.j2, by page.canonical)")
    assert [str(w) for w in report.warnings] == [removed]
    assert "forms.example.net" not in (publication.config.output_path / "contact/index.html"
                                       ).read_text("utf-8")


def test_where_the_pages_are_another_sites_a_page_is_not_built_and_says_so(publication, now):
    write_reviews(publication, 1)
    write_page(publication, "about.md", ABOUT)
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    report = build_site(publication.config, now=now)
    assert not (publication.config.output_path / "about").exists()
    assert [str(w) for w in report.warnings] == [
        "pages/about.md: not built: publisher builds no pages here (feeds.permalink is another "
        "site's), so this page belongs on that site"]


def test_a_page_in_a_folder_or_linked_from_outside_is_not_read(publication, now, tmp_path):
    write_reviews(publication, 1)
    write_page(publication, "team/people.md", "---\ntitle: People\n---\nUs.\n")
    secret = tmp_path / "secret.md"
    secret.write_text("---\ntitle: Secret\n---\nThe password.\n", encoding="utf-8")
    (publication.root / "pages" / "secret.md").symlink_to(secret)
    report = build_site(publication.config, now=now)
    public = publication.config.output_path
    assert not (public / "secret").exists() and not (public / "team").exists()
    assert sorted(str(w) for w in report.warnings) == [
        f"pages/secret.md: is a symbolic link to {secret}, outside the publication; publisher "
        "reads no file from outside it: copy the page in",
        "pages/team: a folder of pages is not built; only the pages directly in pages/ are: "
        "move them up"]
    assert json.loads((public / "search.json").read_text("utf-8"))  # the build went on


def test_a_page_saved_under_another_ending_is_named_not_silently_left_out(publication, now):
    write_reviews(publication, 1)
    write_page(publication, "about.markdown", ABOUT)
    write_page(publication, "_draft.txt", ABOUT)
    report = build_site(publication.config, now=now)
    assert not (publication.config.output_path / "about").exists()
    assert [str(w) for w in report.warnings] == [
        "pages/about.markdown: not read: sources end in .md; rename it about.md (or start its "
        "name with _ to keep it aside)"]


def test_a_link_to_a_draft_page_says_it_waits_for_the_page(publication, now):
    write_reviews(publication, [{"body": "Who we are: [about us](/about/)."}])
    write_page(publication, "about.md", "---\ntitle: About\ndraft: true\n---\nSoon.\n")
    config = publication.config
    report = build_site(config, now=now)
    assert not (config.output_path / "about").exists()
    assert "About" not in [label for label, _, _ in navigation(config.output_path,
                                                                "index.html")]
    assert [str(w) for w in report.warnings] == [
        "reviews/film-1.md:8: body: links to https://reel.test/about/, the page of "
        "pages/about.md, a draft: until it is published the link finds nothing"]


def test_a_page_marked_footer_is_linked_from_every_pages_footer(publication, now):
    write_reviews(publication, 1)
    write_page(publication, "privacy.md",
               "---\ntitle: Privacy policy\nmenu: false\nfooter: true\n---\nWhat we keep.\n")
    write_page(publication, "about.md",
               ABOUT.replace("menu: About\n", "menu: About\nfooter: yes\n"))
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url
    for rel in ("index.html", "reviews/film-1/index.html", "privacy/index.html", "404.html"):
        doc = page(public, rel)
        footer = [(a.text, a.get("href")) for a in doc.xpath("//footer//a")]
        assert footer[:2] == [("About", f"{base}about/"),
                              ("Privacy policy", f"{base}privacy/")], rel
        assert "Privacy policy" not in [label for label, _, _ in navigation(public, rel)]

    (publication.root / "pages" / "privacy.md").write_text(
        "---\ntitle: Privacy\nmenu: false\nfooter: true\n---\nWhat we keep.\n")
    assert "index.html" in build_site(config, now=now).written  # its footer changed


def test_a_page_chooses_its_template_by_name_as_pelicans_template_does(publication, now):
    write_reviews(publication, 1)
    write_page(publication, "about.md", ABOUT.replace("menu: About", "menu: About\n"
                                                      "template: wide"))
    write_page(publication, "contact.md", "---\ntitle: Contact\ntemplate: wide.html.j2\n---\n"
               "Write to us.\n")
    write_page(publication, "colophon.md", "---\ntitle: Colophon\n---\nMade.\n")
    write_page(publication, "press.md", "---\ntitle: Press\ntemplate: wide.html\n---\nKit.\n")
    (publication.root / "templates").mkdir(exist_ok=True)
    (publication.root / "templates/wide.html.j2").write_text(
        '{% extends "site_page.html.j2" %}\n'
        '{% block main %}<div class="wide">{{ super() }}</div>{% endblock %}\n',
        encoding="utf-8")
    config = publication.config
    build_site(config, now=now)
    public = config.output_path

    for rel in ("about/index.html", "contact/index.html", "press/index.html"):
        [wide] = page(public, rel).xpath("//main/div[@class='wide']")
        assert wide.xpath("./article/h1/text()"), rel
    assert not page(public, "colophon/index.html").xpath("//div[@class='wide']")

    # Another template is another page: made again, alone.
    write_page(publication, "colophon.md", "---\ntitle: Colophon\ntemplate: wide\n---\nMade.\n")
    assert build_site(config, now=now).written == ("colophon/index.html",)


def test_a_page_naming_a_template_that_is_not_there_is_one_line_naming_the_page(publication,
                                                                                 now):
    write_reviews(publication, 1)
    write_page(publication, "about.md", "---\ntitle: About\ntemplate: wdie\n---\nText.\n")
    config = publication.config
    problem = ("pages/about.md:3: template: no templates/wdie.html.j2; name a template of "
               "templates/ (wide for templates/wide.html.j2), or leave the field out for "
               "site_page.html.j2")
    assert problem in check_publication(config, now=now, sources_only=True).errors
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == [problem]
