"""Newsletter digests: Jinja templates producing MJML, compiled once per issue with MRML.

An issue is rendered once into a RenderedDigest: the subject, the compiled HTML and the plain
text. Per-subscriber values (address, unsubscribe URL) appear in both as markers
(``models.personal_markers``) that publisher.mail replaces per message without recompiling.

Templates are looked up in the publication's ``templates/`` directory first and the packaged
defaults second; ``defaults/<name>`` always names the packaged one (for an override that
extends the default it replaces). Autoescaping is on for everything but ``*.txt.j2`` (MJML
is XML); review fields are passed as data, so ``{{ … }}`` inside a review comes out
literally, and only HTML that render.py has sanitised is passed in as Markup.

mjml-python's MRML differs from the reference MJML: it raises on ``mj-html-attributes``,
ignores ``mj-raw position="file-start"``, drops ``mj-image sizes`` and ``mj-button title``,
passes unknown tags and attributes silently, and does not inline ``mj-style inline="inline"``
(we inline those rules with css-inline after compiling). ``lint_templates`` reports these traps.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from .config import Config
from .errors import PublisherError, TemplateError
from .files import write_atomic
from .models import Issue, RenderedDigest, Review, personal_markers, rating_text, stars
from .render import excerpt as html_excerpt

#: The packaged default templates (the repository's templates/ is a symlink to this directory).
DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Gmail clips a message whose HTML passes 102 KB; warn with some room to spare.
HTML_SIZE_WARNING = 90 * 1024
TEXT_WIDTH = 78
SUBJECT_MAX = 200

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_RTL_LANGUAGES = {"ar", "arc", "dv", "fa", "ha", "he", "khw", "ks", "ku", "ps", "ur", "yi"}


# --- Jinja --------------------------------------------------------------------------------


def _autoescape(name: str | None) -> bool:
    # MJML, HTML and XML templates escape; only the plain-text part does not.
    return name is None or not name.endswith(".txt.j2")


@lru_cache(maxsize=16)
def _environment(templates_path: Path) -> jinja2.Environment:
    defaults = jinja2.FileSystemLoader(str(DEFAULT_TEMPLATES))
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(templates_path)),
        defaults,
        # "defaults/<name>" is always the packaged template, so that an override can extend
        # the default of the same name and change one block.
        jinja2.PrefixLoader({"defaults": defaults}),
    ])
    return jinja2.Environment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_environment(config: Config) -> jinja2.Environment:
    """The Jinja environment for a publication: its templates/ first, the defaults second."""
    return _environment(config.templates_path.resolve())


def _template_location(exc: BaseException) -> str:
    """'file.j2:LINE' for the innermost template frame of a rendering error, if any."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}"
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def render_template(config: Config, name: str, context: Mapping[str, Any]) -> str:
    """Render one template; any Jinja error becomes a TemplateError naming file and line."""
    env = template_environment(config)
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            f"template {exc.name!r} not found in {config.templates_path} or the defaults"
        ) from None
    except jinja2.TemplateError as exc:
        where = _template_location(exc) or name
        raise TemplateError(f"{where}: {exc.message or exc}") from None
    except RecursionError:
        raise TemplateError(
            f"{name}: the templates in {config.templates_path} extend or include each other "
            f"in a loop; to extend the default of the same name, write "
            f"{{% extends \"defaults/<name>\" %}}"
        ) from None


# --- subject --------------------------------------------------------------------------------

# Bidi embedding/override/isolate controls and marks: they can reorder what a reader sees.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_DROP = re.compile(f"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\ufeff\ufffe\uffff{_BIDI}]")
_SPACE = re.compile(r"\s+")


def header_text(text: str, limit: int = SUBJECT_MAX) -> str:
    """``text`` made safe for a one-line header: CR, LF and other line breaks folded to spaces,
    NUL, control characters and bidi overrides dropped, cut at a word near ``limit`` (at most
    ``limit`` characters with the "…", so publisher.mail's own cut leaves it alone)."""
    text = _SPACE.sub(" ", _DROP.sub("", text)).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    cut = cut[:space] if space >= limit * 3 // 4 else cut[:limit - 1]
    return cut.rstrip(" ,;:-–—·") + "…"


def compose_subject(config: Config, number: int, reviews: Sequence[Review]) -> str:
    """The issue's subject from ``config.newsletter.subject``, a Jinja template given
    ``publication``, ``number``, ``first_title``, ``n`` (how many more) and ``titles``.

    Raises TemplateError naming the config key when the template is broken.
    """
    titles = [header_text(r.title) for r in reviews]
    env = ImmutableSandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)
    try:
        subject = env.from_string(config.newsletter.subject).render(
            publication=config.newsletter_name,
            number=number,
            first_title=titles[0] if titles else "",
            n=max(len(titles) - 1, 0),
            titles=titles,
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{config.path}: newsletter.subject: {exc}") from None
    return header_text(subject)


# --- the view of a review -----------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """What a template shows for one review: every field plain text except ``review``."""

    review: Review
    title: str
    year: int | None
    stars: str
    rating_text: str
    credits: str  # "Directed by … · Starring …"
    reviewer: str
    logline: str
    excerpt: str
    url: str
    poster_src: str
    poster_alt: str


def join_names(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C' (empty names left out)."""
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def review_card(review: Review, config: Config) -> Card:
    """The card for one review: credits line, logline and an excerpt of the body."""
    film = review.film
    credits = []
    if film.director:
        credits.append(f"Directed by {film.director}")
    if film.starring:
        credits.append(f"Starring {join_names(film.starring)}")
    summary = _SPACE.sub(" ", review.summary).strip()
    body = html_excerpt(review.body_html, config.newsletter.excerpt_words)
    # A logline derived from the body repeats the excerpt's opening: show it once.
    if summary and body.startswith(summary.rstrip("…").rstrip()):
        summary = ""
    poster = review.poster
    return Card(
        review=review,
        title=review.title,
        year=film.year,
        stars=stars(review.rating),
        rating_text=rating_text(review.rating),
        credits=" · ".join(credits),
        reviewer=review.reviewer,
        logline=summary,
        excerpt=body,
        url=review.url,
        poster_src=poster.src if poster else "",
        poster_alt=(poster.alt or f"Poster for {review.title}") if poster else "",
    )


def date_text(when: datetime, config: Config) -> str:
    """'20 November 2026' in the newsletter's time zone (locale-independent)."""
    local = when.astimezone(config.newsletter_tz)
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"


def subscribe_url(config: Config) -> str:
    return config.newsletter.subscribe_url or config.url("subscribe")


def publication_context(config: Config) -> dict[str, Any]:
    """Template values about the publication itself (shared by every digest/archive page)."""
    language = config.language or "en"
    return {
        "config": config,
        "publication": config.newsletter_name,
        "title": config.title,
        "language": language,
        "direction": "rtl" if language.split("-")[0].lower() in _RTL_LANGUAGES else "ltr",
        "site_url": config.base_url,
        "index_url": config.url("issues/"),
        "atom_url": config.url("issues/atom.xml"),
        "subscribe_url": subscribe_url(config),
        "postal_address": config.newsletter.postal_address,
    }


_NOTE_BLOCKS = {"p", "div", "ul", "ol", "li", "blockquote", "pre", "table", "tr", "hr", "h1",
                "h2", "h3", "h4", "h5", "h6", "dl", "dt", "dd", "figure", "figcaption"}


class _NoteText(HTMLParser):
    """Sanitised HTML as plain text that keeps what a reader needs: paragraphs apart, line
    breaks, list items as "- ", each link's URL after its words, images by their alt text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (text, is a list item)
        self.current: list[str] = []
        self.item = False
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # (href, where its words start in current)

    def flush(self) -> None:
        raw = "".join(self.current)  # "\0" marks a <br>; other line breaks are spaces
        lines = (raw.replace("\0", "\n").split("\n") if self.pre
                 else [_SPACE.sub(" ", line).strip() for line in raw.split("\0")])
        text = "\n".join(line.rstrip() for line in lines).strip("\n")
        if text.strip():
            self.blocks.append((("- " if self.item else "") + text, self.item))
            self.item = False
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
            self.item = self.item or tag == "li"
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
    for i, (text, item) in enumerate(parser.blocks):
        if i:
            out += "\n" if item and parser.blocks[i - 1][1] else "\n\n"
        out += text
    return _DROP.sub("", out)


def issue_subject(issue: Issue, config: Config) -> str:
    """The issue's subject as stored, made header-safe; composed afresh when it is empty."""
    return header_text(issue.subject) or compose_subject(config, issue.number, issue.reviews)


def archive_url(config: Config, number: int) -> str:
    """The web archive page of issue ``number``."""
    return config.url(f"issues/{number}/")


def issue_context(issue: Issue, config: Config) -> dict[str, Any]:
    """The template context shared by the digest and the archive page (no personal data)."""
    cards = [review_card(r, config) for r in issue.reviews]
    subject = issue_subject(issue, config)
    films = join_names([c.title for c in cards])
    context = publication_context(config)
    context.update({
        "issue": issue,
        "subject": subject,
        "number": issue.number,
        "date_text": date_text(issue.date, config),
        "preheader": f"In this issue: {films}" if films else subject,
        "cards": cards,
        "note": Markup(issue.note_html) if issue.note_html else "",  # sanitised by render.py
        "note_text": note_text(issue.note_html) if issue.note_html else "",
        "archive_url": archive_url(config, issue.number),
    })
    return context


# --- compiling --------------------------------------------------------------------------------

_INLINE_STYLE = re.compile(
    r"<mj-style\b[^>]*\binline\s*=\s*[\"']inline[\"'][^>]*>(.*?)</mj-style\s*>", re.S
)


_POSITION = re.compile(r"at position (\d+):(\d+)")


def _near(source: str, message: str) -> str:
    """" (at 'mj-html-attributes')" for an MRML error giving byte offsets into ``source``:
    what it stumbled on, since the offsets are into the rendered MJML, not a template file."""
    found = _POSITION.search(message)
    if not found:
        return ""
    start, end = int(found.group(1)), int(found.group(2))
    text = source.encode("utf-8")[start:min(end, start + 60)].decode("utf-8", "replace").strip()
    return f" (at {text!r})" if text else ""


def compile_mjml(source: str, *, name: str = "digest.mjml.j2") -> str:
    """MJML to HTML with mjml-python (MRML), then css-inline for ``mj-style inline="inline"``
    rules, which MRML would otherwise leave in a <style> block. Raises TemplateError."""
    from mjml import mjml2html

    inline_css = "\n".join(m.group(1) for m in _INLINE_STYLE.finditer(source))
    if inline_css:
        source = _INLINE_STYLE.sub("", source)
    try:
        html = mjml2html(source, disable_comments=True)
    except Exception as exc:  # MRML raises plain ValueError/RuntimeError with its message
        raise TemplateError(
            f"{name}: MJML did not compile: {exc}{_near(source, str(exc))}"
        ) from None
    if inline_css:
        import css_inline

        inliner = css_inline.CSSInliner(
            inline_style_tags=False, keep_style_tags=True, keep_link_tags=True,
            load_remote_stylesheets=False, extra_css=inline_css,
        )
        html = inliner.inline(html)
    return html


def _wrap_line(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    return textwrap.wrap(
        line, width=width, subsequent_indent=indent, break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Plain text with trailing spaces removed, lines longer than ``width`` wrapped at spaces
    (a single word longer than that, such as a URL, keeps its own line), blank runs squeezed."""
    lines: list[str] = []
    for raw in text.splitlines():
        lines.extend(_wrap_line(raw.rstrip(), width))
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return out + "\n"


def render_digest(issue: Issue, config: Config) -> RenderedDigest:
    """Render ``issue`` once: subject, compiled HTML and text, personal values as markers.

    In ``html`` a marker stands where the HTML-escaped value goes; in ``text`` where the raw
    value goes. Raises TemplateError naming the template file and line.
    """
    markers = personal_markers(f"{config.base_url}#{issue.number}")
    context = issue_context(issue, config)
    context.update(markers)  # email, name, unsubscribe_url
    mjml_source = render_template(config, "digest.mjml.j2", context)
    html = compile_mjml(mjml_source, name="digest.mjml.j2")
    text = wrap_text(render_template(config, "digest.txt.j2", context))
    return RenderedDigest(issue=issue, subject=context["subject"], html=html, text=text,
                          markers=markers)


def personalise(digest: RenderedDigest, values: Mapping[str, str]) -> tuple[str, str]:
    """(html, text) with the markers replaced by ``values`` (escaped in the HTML). For previews
    and tests; mail.py splices pre-encoded message bytes instead."""
    html, text = digest.html, digest.text
    for field, marker in digest.markers.items():
        value = values.get(field, "")
        html = html.replace(marker, html_lib.escape(value, quote=True))
        text = text.replace(marker, value)
    return html, text


def preview_values(config: Config) -> dict[str, str]:
    """Placeholder personal values for a preview: no real subscriber, and the unsubscribe URL
    that ``mail.preview_message`` puts in the .eml (a dummy token)."""
    from .mail import PREVIEW_SUBSCRIBER, preview_unsubscribe_url

    return {
        "email": PREVIEW_SUBSCRIBER.email,
        "name": PREVIEW_SUBSCRIBER.name,
        "unsubscribe_url": preview_unsubscribe_url(config),
    }


def write_output(path: Path, data: bytes) -> None:
    """Write a preview file atomically; PublisherError naming the file when that fails."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise PublisherError(f"{path}: cannot write: {exc.strerror or exc}") from None


def preview_issue(config: Config, reviews: Sequence[Review], *, now: datetime,
                  number: int = 1) -> Issue:
    """An issue of ``reviews`` for inspection (never stored), dated ``now``."""
    return Issue(number=number, subject=compose_subject(config, number, reviews), date=now,
                 reviews=tuple(reviews))


def select_reviews(published: Sequence[Review], *, last: int | None = None,
                   since: date | None = None, config: Config) -> list[Review]:
    """Reviews for a preview, oldest first: those published on or after ``since`` (a date in
    the publication's time zone), else the ``last`` most recent (default
    newsletter.max_reviews)."""
    ordered = sorted(published, key=lambda r: (r.date, r.slug))
    if since is not None:
        return [r for r in ordered if r.date.astimezone(config.tz).date() >= since]
    count = last if last is not None else config.newsletter.max_reviews
    return ordered[-count:] if count > 0 else []


def check_digest(config: Config, published: Sequence[Review], *,
                 now: datetime) -> tuple[str, list[str]]:
    """For ``publisher check``: a line giving the HTML size of a digest of the latest
    ``newsletter.max_reviews`` reviews, and warnings (template lint, size, images without alt).
    The web archive is rendered for that issue too, so that a broken archive template shows
    here rather than when an issue has just been sent. Raises TemplateError.
    """
    from .archive import render_archive

    warnings = lint_templates(config)
    if not config.newsletter.postal_address.strip():
        warnings.append(f"{config.path}: newsletter.postal_address is empty; anti-spam laws "
                        "(CAN-SPAM, PECR) want a contact address in every digest's footer")
    reviews = select_reviews(published, config=config)
    if not reviews:
        return "digest: no published reviews yet, so no digest to measure", warnings
    issue = preview_issue(config, reviews, now=now)
    rendered = render_digest(issue, config)
    render_archive(config, [issue])
    size = len(rendered.html.encode("utf-8"))
    line = (f"digest of {len(reviews)} review{'s' if len(reviews) != 1 else ''}: "
            f"{size / 1024:.1f} KB of HTML (Gmail clips above 102 KB)")
    return line, warnings + check_digest_html(rendered.html)


# --- checks -----------------------------------------------------------------------------------


class _ImageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.missing_alt: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        found = dict(attrs)
        if not (found.get("alt") or "").strip():
            self.missing_alt.append(found.get("src") or "(no src)")


def check_digest_html(html: str) -> list[str]:
    """Warnings about compiled digest HTML: above 90 KB (Gmail clips at 102 KB), and each
    <img> without alt text."""
    warnings = []
    size = len(html.encode("utf-8"))
    if size > HTML_SIZE_WARNING:
        warnings.append(
            f"digest HTML is {size / 1024:.1f} KB; Gmail clips messages whose HTML passes "
            "102 KB: lower newsletter.max_reviews or newsletter.excerpt_words"
        )
    scan = _ImageScan()
    scan.feed(html)
    scan.close()
    for src in scan.missing_alt:
        warnings.append(f"digest HTML: <img src=\"{src}\"> has no alt text")
    return warnings


# MJML tags and the attributes each accepts (MJML 4). MRML ignores anything else without a word.
_PADDING = {"padding", "padding-top", "padding-right", "padding-bottom", "padding-left"}
_BORDER = {"border", "border-top", "border-right", "border-bottom", "border-left"}
_BODY_COMMON = {"css-class", "mj-class"}
_BACKGROUND = {"background-color", "background-url", "background-repeat", "background-size",
               "background-position", "background-position-x", "background-position-y"}
_FONT = {"font-family", "font-size", "font-style", "font-weight", "line-height",
         "letter-spacing", "text-decoration", "text-transform", "color"}
_MJML_ATTRIBUTES: dict[str, set[str] | None] = {
    "mjml": {"lang", "dir", "owa", "version"},
    "mj-head": set(),
    "mj-body": {"background-color", "width"},
    "mj-attributes": set(),
    "mj-all": None,  # any attribute: a default for every tag
    "mj-class": None,  # name plus any attributes
    "mj-breakpoint": {"width"},
    "mj-font": {"name", "href"},
    "mj-preview": set(),
    "mj-title": set(),
    "mj-style": {"inline"},
    "mj-raw": {"position"},
    "mj-include": {"path", "type", "css-inline"},
    "mj-wrapper": _BACKGROUND | _BORDER | _PADDING | {
        "border-radius", "full-width", "text-align", "direction", "gap"},
    "mj-section": _BACKGROUND | _BORDER | _PADDING | {
        "border-radius", "full-width", "text-align", "direction", "text-padding"},
    "mj-group": {"width", "vertical-align", "background-color", "direction"},
    "mj-column": _BORDER | _PADDING | {
        "background-color", "inner-background-color", "border-radius", "inner-border",
        "inner-border-top", "inner-border-right", "inner-border-bottom", "inner-border-left",
        "inner-border-radius", "width", "vertical-align", "direction"},
    "mj-text": _FONT | _PADDING | {"align", "container-background-color", "height"},
    "mj-button": _FONT | _BORDER | _PADDING | {
        "align", "background-color", "border-radius", "container-background-color", "height",
        "href", "inner-padding", "rel", "target", "text-align", "vertical-align", "width",
        "name", "title"},
    "mj-image": _BORDER | _PADDING | {
        "align", "alt", "border-radius", "container-background-color", "fluid-on-mobile",
        "height", "href", "name", "rel", "sizes", "src", "srcset", "target", "title", "usemap",
        "width", "max-height", "font-size"},
    "mj-divider": _PADDING | {"align", "border-color", "border-style", "border-width",
                              "container-background-color", "width"},
    "mj-spacer": _PADDING | {"container-background-color", "height"},
    "mj-table": _FONT | _PADDING | {"align", "border", "cellpadding", "cellspacing",
                                    "container-background-color", "role", "table-layout",
                                    "width"},
    # Composite components: accepted, attributes not checked.
    "mj-hero": None, "mj-social": None, "mj-social-element": None, "mj-navbar": None,
    "mj-navbar-link": None, "mj-accordion": None, "mj-accordion-element": None,
    "mj-accordion-title": None, "mj-accordion-text": None, "mj-carousel": None,
    "mj-carousel-image": None,
}
_HEAD_ONLY = {"mjml", "mj-head", "mj-attributes", "mj-all", "mj-class", "mj-breakpoint",
              "mj-font", "mj-preview", "mj-title", "mj-style", "mj-raw", "mj-include"}
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TAG = re.compile(r"<(/?)(mjml|mj-[a-zA-Z0-9-]+)((?:\s+[^<>]*?)?)\s*/?>", re.S)
_ATTR = re.compile(r"([A-Za-z_:][-\w:.]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


def _blank_jinja(source: str) -> str:
    # Same length and line breaks, so offsets still give the template's line numbers.
    return _JINJA.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)


def lint_mjml(source: str, name: str) -> list[str]:
    """Warnings, each naming ``name`` and a line, for MJML in a template that MRML rejects,
    drops or ignores."""
    text = _blank_jinja(source)
    warnings = []
    for match in _TAG.finditer(text):
        closing, tag = match.group(1), match.group(2)
        if closing:
            continue
        line = text.count("\n", 0, match.start()) + 1
        attrs = {a.group(1).lower(): (a.group(2) or "").strip("\"'")
                 for a in _ATTR.finditer(match.group(3))}
        where = f"{name}:{line}"
        if tag in ("mj-html-attributes", "mj-html-attribute", "mj-selector"):
            warnings.append(f"{where}: <{tag}> makes mjml-python (MRML) fail; set the HTML "
                            "attributes in the template's HTML (mj-raw, mj-text) instead")
            continue
        if tag not in _MJML_ATTRIBUTES:
            warnings.append(f"{where}: <{tag}> is not an MJML tag; MRML copies it into the "
                            "HTML unchanged")
            continue
        if tag == "mj-raw" and attrs.get("position") == "file-start":
            warnings.append(f"{where}: <mj-raw position=\"file-start\"> is not supported by "
                            "mjml-python (MRML): the content does not go first; put it in an "
                            "mj-raw inside mj-head")
        if tag == "mj-include":
            warnings.append(f"{where}: <mj-include> is not resolved by publisher; use Jinja's "
                            "{% include %} instead")
        if tag == "mj-image" and "sizes" in attrs:
            warnings.append(f"{where}: mj-image sizes is dropped by mjml-python (MRML)")
        if tag == "mj-button" and "title" in attrs:
            warnings.append(f"{where}: mj-button title is dropped by mjml-python (MRML); put "
                            "the words in the button text")
        allowed = _MJML_ATTRIBUTES[tag]
        if allowed is None:
            continue
        known = allowed | (set() if tag in _HEAD_ONLY else _BODY_COMMON)
        for attr in attrs:
            if attr not in known:
                warnings.append(f"{where}: <{tag}> has no attribute {attr!r}; MRML ignores it")
    return warnings


def _lint_file(env: jinja2.Environment, path: Path, name: str) -> list[str]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"]
    warnings = []
    try:
        env.parse(source, name=name, filename=str(path))
    except jinja2.TemplateSyntaxError as exc:
        warnings.append(f"{path}:{exc.lineno}: Jinja syntax error: {exc.message}")
    if "<mj" in source:
        warnings.extend(lint_mjml(source, str(path)))
    return warnings


def lint_templates(config: Config) -> list[str]:
    """Warnings for a publication's own templates (Jinja syntax, MRML traps, unknown mj-*
    tags and attributes), each naming the file and line. No templates/ directory: none."""
    root = config.templates_path
    if not root.is_dir():
        return []
    env = template_environment(config)
    warnings: list[str] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.endswith(".j2"):
            warnings.extend(_lint_file(env, path, path.relative_to(root).as_posix()))
    return warnings


# --- screenshots ------------------------------------------------------------------------------

CHROMIUM_HINT = ("chromium is not installed; install it (e.g. `apt-get install chromium`) to "
                 "take screenshots")
SCREENSHOT_WIDTHS = (375, 1200)

_CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    "--disable-extensions", "--mute-audio", "--no-default-browser-check",
    # No network at all: every host name fails to resolve; file:// still loads.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
# Headless Chromium will not make a window narrower than 500 px, so the page is measured in an
# iframe of the exact width (media queries follow the iframe), and its height read back.
_MEASURE = """<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="page" scrolling="no" style="border:0;width:{width}px;height:10px" srcdoc="{page}">
</iframe><script>window.addEventListener('load', function () {{
var d = document.getElementById('page').contentDocument;
var m = document.createElement('meta'); m.name = 'x-page-height';
m.content = String(Math.ceil(Math.max(d.documentElement.scrollHeight, d.body.scrollHeight)));
document.head.appendChild(m); }});</script></body></html>"""


def find_chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def local_assets(html: str, config: Config) -> str:
    """``html`` with URLs under base_url that name a file in the publication's static/
    directory pointed at that file, so screenshots show posters without any network."""
    static = (config.root / "static").resolve()
    base = config.base_url

    def swap(match: re.Match[str]) -> str:
        url = html_lib.unescape(match.group(2))
        if not url.startswith(base):
            return match.group(0)
        path = urlsplit(url).path[len(urlsplit(base).path):]
        candidate = (static / path).resolve()
        if candidate.is_file() and candidate.is_relative_to(static):
            return f'{match.group(1)}"{html_lib.escape(candidate.as_uri())}"'
        return match.group(0)

    return re.sub(r'(\bsrc=)"([^"]*)"', swap, html)


def _run_chromium(chromium: str, args: list[str], profile: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )
    except subprocess.TimeoutExpired:
        raise PublisherError(f"{chromium} took more than 120 s to take a screenshot") from None


_SCHEMES = {
    "light": [],
    # prefers-color-scheme: dark, as Apple Mail and Outlook for Mac apply it.
    "dark": ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"],
    # Chromium's automatic dark mode on a page whose own dark styles are ignored: close to
    # the forced colour inversion of Gmail's and Outlook's mobile apps.
    "inverted": ["--blink-settings=forceDarkModeEnabled=true"],
}


def _ignore_dark_styles(html: str) -> str:
    html = re.sub(r'<meta name="(?:color-scheme|supported-color-schemes)"[^>]*>', "", html)
    return html.replace("prefers-color-scheme: dark", "max-width: 0px")


def screenshot(html: str, out_dir: Path, *, widths: Sequence[int] = SCREENSHOT_WIDTHS,
               scheme: str = "light", name: str = "digest",
               chromium: str | None = None) -> list[Path]:
    """Render ``html`` with headless Chromium, without network, at each width to
    ``out_dir/<name>-<width>.png`` (``-dark`` / ``-inverted`` appended for those schemes),
    each as tall as the page. Raises PublisherError when Chromium is absent or fails."""
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(_SCHEMES)}, not {scheme!r}")
    chromium = chromium or find_chromium()
    if chromium is None:
        raise PublisherError(CHROMIUM_HINT)
    if scheme == "inverted":
        html = _ignore_dark_styles(html)
    suffix = "" if scheme == "light" else f"-{scheme}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublisherError(f"{out_dir}: cannot create the directory: {exc.strerror}") from None
    written = []
    with tempfile.TemporaryDirectory(prefix="publisher-shot-") as tmp:
        page = Path(tmp) / "page.html"
        measure = Path(tmp) / "measure.html"
        page.write_text(html, encoding="utf-8")
        extra = _SCHEMES[scheme]
        for width in widths:
            # First pass: lay the page out at this width and read its height back.
            measure.write_text(_MEASURE.format(width=width, page=html_lib.escape(html)),
                               encoding="utf-8")
            done = _run_chromium(chromium, [*extra, f"--window-size={max(width, 500)},800",
                                            "--virtual-time-budget=3000", "--dump-dom",
                                            measure.as_uri()], f"{tmp}/profile")
            found = re.search(r'name="x-page-height" content="(\d+)"', done.stdout)
            height = min(int(found.group(1)), 16000) if found else 2000
            target = out_dir / f"{name}-{width}{suffix}.png"
            done = _run_chromium(chromium, [*extra, f"--window-size={width},{height}",
                                            "--virtual-time-budget=3000",
                                            f"--screenshot={target}", page.as_uri()],
                                 f"{tmp}/profile")
            if done.returncode != 0 or not target.is_file():
                tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
                raise PublisherError(f"{chromium} failed to take a screenshot: {tail[0]}")
            written.append(target)
    return written
