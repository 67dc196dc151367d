"""Newsletter digests: an issue rendered once into its subject, compiled HTML and text.

Per-subscriber values (address, name, unsubscribe URL) appear in both parts as markers
(``models.personal_markers``) that ``message.MessageTemplate`` replaces per message without
recompiling. The archive pages share the digest's context (``issue_context``).
"""

from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from ..errors import TemplateError
from ..models import ImageFacts, Issue, RenderedDigest, Review, personal_markers
from ..text import SUBJECT_MAX, drop_unsafe, header_text, one_line
from .card import Card, review_card
from .engine import (
    compile_mjml,
    fault_text,
    first_override,
    no_unsubscribe_link,
    render_template,
    template_fault,
    wrap_text,
)
from .images import fitted
from .sender import Sender
from .site import Site
from .tokens import PREVIEW_SUBSCRIBER
from .words import og_locale, text_direction

#: The templates that make a digest's MJML, the publication's own first when it has them.
DIGEST_MJML = ("digest.mjml.j2", "_base.mjml.j2", "_card.mjml.j2", "_head.mjml.j2")

# --- subject --------------------------------------------------------------------------------

def compose_subject(site: Site, number: int, reviews: Sequence[Review]) -> str:
    """The issue's subject in the publication's words (``issue_subject``, and
    ``issue_subject_more`` with how many more), or from ``site.subject_template``
    (newsletter.subject) when one is set: a Jinja template given ``publication``, ``number``,
    ``first_title``, ``n`` (how many more) and ``titles``.

    Raises TemplateError naming the config key when the template is broken.
    """
    titles = [header_text(r.title, SUBJECT_MAX) for r in reviews]
    if not site.subject_template:
        more = len(titles) - 1
        first = titles[0] if titles else ""

        def words(first_title: str) -> str:
            values = {"publication": site.newsletter_name, "number": number,
                      "first_title": first_title}
            return header_text(site.words.count("issue_subject_more", more, **values)
                               if more > 0 else site.words("issue_subject", **values))

        subject = words(first)
        if len(subject) > SUBJECT_MAX and first:
            # The first title is cut, not what follows it: "and 39 more" says the issue holds
            # more than one film.
            room = max(len(first) - (len(subject) - SUBJECT_MAX), 20)
            subject = words(header_text(first, room))
        return header_text(subject, SUBJECT_MAX)
    env = ImmutableSandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)
    try:
        subject = env.from_string(site.subject_template).render(
            publication=site.newsletter_name,
            number=number,
            first_title=titles[0] if titles else "",
            n=max(len(titles) - 1, 0),
            titles=titles,
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{site.origin}: newsletter.subject: {exc}") from None
    except Exception as exc:
        if template_fault(exc) is None:
            raise
        raise TemplateError(f"{site.origin}: newsletter.subject: {fault_text(exc)}") from None
    return header_text(subject, SUBJECT_MAX)


def publication_context(site: Site) -> dict[str, Any]:
    """Template values about the publication itself (shared by every digest/archive page)."""
    language = site.language or "en"
    return {
        "site": site,
        "publication": site.newsletter_name,
        "title": site.title,
        "language": language,
        "direction": text_direction(language),
        "og_locale": og_locale(language),  # as Open Graph reads it: "en_GB"
        "site_url": site.home_url,
        "index_url": site.url("issues/"),
        "atom_url": site.url("issues/atom.xml"),
        "subscribe_url": site.subscribe_url,
        "postal_address": site.postal_address,
        "icon_url": site.icon_url,  # "" without one
        "icon_type": site.icon_type,
        "t": site.words.phrases,  # the words in the publication's language (render/words.py)
    }


_NOTE_BLOCKS = {"p", "div", "ul", "ol", "li", "blockquote", "pre", "table", "tr", "hr", "h1",
                "h2", "h3", "h4", "h5", "h6", "dl", "dt", "dd", "figure", "figcaption"}


#: A run of white space, but for the no-break spaces French quotes and punctuation keep (the
#: Markdown leaves no others): "«\u202fmot" must not be broken at the end of a line.
_WHITE_BUT_NO_BREAK = re.compile(r"[^\S\u00a0\u202f]+")


class _NoteText(HTMLParser):
    """Sanitised HTML as plain text that keeps what a reader needs: paragraphs apart, line
    breaks, list items as "- " (or numbered, in an ordered list, from its start), each link's
    URL after its words, images by their alt text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (text, the list it is an item of, counted from 1 at the outermost; 0: not an item)
        self.blocks: list[tuple[str, int]] = []
        self.current: list[str] = []
        self.item = ""  # the marker of the list item being read, if any ("- ", "3. ")
        self.lists: list[list[int]] = []  # open lists, innermost last: [ordered, next number]
        self.outer = 0  # which outermost list the items are in: items of one are not set apart
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # (href, where its words start in current)

    def flush(self) -> None:
        raw = "".join(self.current)  # "\0" marks a <br>; other line breaks are spaces
        lines = (raw.replace("\0", "\n").split("\n") if self.pre
                 else [_WHITE_BUT_NO_BREAK.sub(" ", line).strip(" ")
                       for line in raw.split("\0")])
        text = "\n".join(line.rstrip() for line in lines).strip("\n")
        if text.strip():
            self.blocks.append((self.item + text, self.outer if self.item else 0))
            self.item = ""
        self.current = []
        self.links = [(href, 0) for href, _ in self.links]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "br":
            self.current.append("\0")
        elif tag == "img":
            self.current.append(found.get("alt") or "")
        elif tag == "a":
            self.links.append((found.get("href") or "", len(self.current)))
        elif tag in ("td", "th"):
            self.current.append(" ")  # cells of a row side by side
        elif tag in _NOTE_BLOCKS:
            self.flush()
            if tag in ("ol", "ul"):
                if not self.lists:
                    self.outer += 1
                start = found.get("start") or ""
                self.lists.append([tag == "ol", int(start) if start.isdigit() else 1])
            elif tag == "li":
                if self.lists and self.lists[-1][0]:
                    self.item = f"{self.lists[-1][1]}. "
                    self.lists[-1][1] += 1
                else:
                    self.item = "- "
            self.pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, start = self.links.pop()
            url = href.removeprefix("mailto:")
            words = "".join(self.current[start:])
            if href.startswith(("http://", "https://", "mailto:")) and url not in words:
                self.current.append(f" ({url})")
        elif tag in _NOTE_BLOCKS:
            self.flush()
            if tag in ("ol", "ul") and self.lists:
                self.lists.pop()
            self.pre -= tag == "pre" and self.pre > 0

    def handle_data(self, data: str) -> None:
        self.current.append(data.replace("\0", ""))


def note_text(html: str) -> str:
    """The editor's note (sanitised HTML) for the text part: blank lines between paragraphs,
    list items on lines of their own, links followed by their URL in brackets."""
    parser = _NoteText()
    parser.feed(html)
    parser.close()
    parser.flush()
    out = ""
    for i, (text, outer) in enumerate(parser.blocks):
        if i:
            out += "\n" if outer and parser.blocks[i - 1][1] == outer else "\n\n"
        out += text
    return drop_unsafe(out)


def issue_subject(issue: Issue, site: Site) -> str:
    """The issue's subject as stored, made header-safe; composed afresh when it is empty."""
    return (header_text(issue.subject, SUBJECT_MAX)
            or compose_subject(site, issue.number, issue.reviews))


def archive_url(site: Site, number: int) -> str:
    """The web archive page of issue ``number``."""
    return site.url(f"issues/{number}/")


#: A poster's file size and dimensions by its URL, None when unknown (sources.posters).
PosterLookup = Callable[[str], ImageFacts | None]

#: The width of the editor's note in pixels: the layout's 600 less the text's 24 on each side
#: (_base.mjml.j2, _head.mjml.j2). Its images are fitted to it.
NOTE_COLUMN = 552


def issue_cards(issue: Issue, site: Site, poster_facts: PosterLookup | None = None
                ) -> list[Card]:
    """The cards of an issue's reviews, in issue order; with ``poster_facts``, each knows its
    poster's dimensions."""
    return told_apart([review_card(r, site.excerpt_words,
                                   poster_facts(r.poster.src) if poster_facts and r.poster
                                   else None, site.words)
                       for r in issue.reviews])


def told_apart(cards: Sequence[Card]) -> list[Card]:
    """``cards``, each sharing its title with another given the year that tells them apart,
    and the reviewer too where the year does not (one film reviewed twice): a screen reader's
    list of links reads each link by its words alone (WCAG 2.4.9), and two "Read the full
    review of Halloween" would sound alike and lead apart."""
    by_title = Counter(card.title for card in cards)
    by_film = Counter((card.title, card.year) for card in cards)
    out = []
    for card in cards:
        if by_title[card.title] > 1:
            parts = [str(card.year)] if card.year else []
            if by_film[card.title, card.year] > 1:
                parts.append(card.reviewer)
            card = replace(card, distinction=", ".join(parts))
        out.append(card)
    return out


def _preheader(site: Site, subject: str, cards: Sequence[Card], films: str) -> str:
    """The inbox's preview line, shown after the subject: the films in the issue; for one
    review whose title the subject already names, its summary, which a list of one film would
    only repeat (the subject twice, in every single-review issue of a twice-weekly
    newsletter)."""
    if len(cards) == 1 and cards[0].title in subject:
        summary = one_line(cards[0].summary)
        if summary:
            return summary
    return site.words("digest_preheader", films=films) if films else subject


def issue_context(issue: Issue, site: Site, cards: Sequence[Card] | None = None,
                  poster_facts: PosterLookup | None = None) -> dict[str, Any]:
    """The template context shared by the digest and the archive page (no personal data).
    ``cards`` are the issue's (``issue_cards``) when the caller has built them already;
    ``poster_facts`` also sizes the images of the editor's note (``images.fitted``)."""
    cards = list(cards) if cards is not None else issue_cards(issue, site, poster_facts)
    subject = issue_subject(issue, site)
    films = site.words.names([c.distinct_title for c in cards])
    context = publication_context(site)
    context.update({
        "issue": issue,
        "subject": subject,
        "number": issue.number,
        "date_text": site.words.date(issue.date, site.newsletter_tz),
        "preheader": _preheader(site, subject, cards, films),
        "cards": cards,
        # Sanitised when the issue was composed (sources.markdown).
        "note": Markup(fitted(issue.note_html, poster_facts, NOTE_COLUMN))
        if issue.note_html else "",
        "note_text": note_text(issue.note_html) if issue.note_html else "",
        "archive_url": archive_url(site, issue.number),
    })
    return context


def render_digest(issue: Issue, site: Site, poster_facts: PosterLookup | None = None
                  ) -> RenderedDigest:
    """Render ``issue`` once: subject, compiled HTML and text, personal values as markers.
    ``poster_facts`` gives the posters' dimensions (``sources.posters.PosterFacts.facts``):
    each is shown at its size and given a height; without, 150 pixels wide.

    In ``html`` a marker stands where the HTML-escaped value goes; in ``text`` where the raw
    value goes. Raises TemplateError naming the template file and line, or the template of a
    part without the unsubscribe link (an override that left it out).
    """
    markers = personal_markers(f"{site.base_url}#{issue.number}")
    context = issue_context(issue, site, poster_facts=poster_facts)
    context.update(markers)  # email, name, unsubscribe_url, preferences_url
    mjml_source = render_template(site.templates, "digest.mjml.j2", context)
    text = wrap_text(render_template(site.templates, "digest.txt.j2", context))
    html = compile_mjml(mjml_source, name=first_override(site.templates, DIGEST_MJML))
    for part, written, names in (("HTML", html, DIGEST_MJML),
                                 ("text part", text, ("digest.txt.j2",))):
        if markers["unsubscribe_url"] not in written:
            raise no_unsubscribe_link(first_override(site.templates, names),
                                      f"digest's {part}", "every issue")
    return RenderedDigest(issue=issue, subject=context["subject"], html=html, text=text,
                          markers=markers)


def preferences_link_warnings(digest: RenderedDigest, templates: Path) -> list[str]:
    """For ``publisher check``: the template of each part of ``digest`` without the link to the
    reader's preferences page (an override copied from a publisher before that page keeps every
    issue without it: no error, since the unsubscribe link is what the law asks)."""
    marker = digest.markers.get("preferences_url", "")
    return [f"{first_override(templates, names)}: the digest's {part} has no link to the "
            "reader's preferences page, where readers change their name or address and "
            "download or erase their data; write {{ preferences_url }} in it, as the default "
            "does"
            for part, written, names in (("HTML", digest.html, DIGEST_MJML),
                                         ("text part", digest.text, ("digest.txt.j2",)))
            if marker and marker not in written]


def personalise(digest: RenderedDigest, values: Mapping[str, str]) -> tuple[str, str]:
    """(html, text) with the markers replaced by ``values`` (escaped in the HTML). For previews
    and tests; mail.py splices pre-encoded message bytes instead."""
    html, text = digest.html, digest.text
    for field, marker in digest.markers.items():
        value = values.get(field, "")
        html = html.replace(marker, html_lib.escape(value, quote=True))
        text = text.replace(marker, value)
    return html, text


def preview_values(sender: Sender) -> dict[str, str]:
    """Placeholder personal values for a preview: no real subscriber, and the unsubscribe URL
    that ``message.preview_message`` puts in the .eml (a dummy token)."""
    return {
        "email": PREVIEW_SUBSCRIBER.email,
        "name": PREVIEW_SUBSCRIBER.name,
        "unsubscribe_url": sender.preview_unsubscribe_url(),
        "preferences_url": sender.preferences_url(None, PREVIEW_SUBSCRIBER.email),
    }
