"""``publisher check``: everything a run will need, checked without writing anything: the
sources and templates (what a commit can break), then what cron needs (``preflight``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from ..config import Config
from ..delivery.transports import transport_from_url
from ..errors import Problem, PublisherError, TemplateError
from ..models import Review, SitePage
from ..render.archive import render_archive
from ..render.digest import preferences_link_warnings, render_digest
from ..render.images import BodyImages, shown_images
from ..render.lint import check_digest_html, lint_templates
from ..render.site import Site
from ..render.words import language_gaps
from ..sources import Catalog, check_sources
from ..sources.posters import (
    HEAVY_POSTER,
    RASTER_FORMATS,
    PosterFacts,
    heavy_posters,
    scripted_svgs,
    small_posters,
    unreadable_posters,
)
from ..sources.scaffold import skeleton_problems
from ..text import count
from .build import plan_problems, sent_issues, template_mistakes
from .links import link_warnings
from .plan import name_warnings
from .preflight import (
    Findings,
    check_addresses,
    check_directories,
    check_dkim,
    check_dmarc,
    check_inbox,
    check_issues,
    check_ledger,
    check_reader_messages,
    check_readers,
    check_schedule,
    check_secret,
    check_transport,
    is_local,
)
from .preview import preview_issue, select_reviews
from .statics import static_files


@dataclass(frozen=True)
class CheckReport:
    """What checking found: ``errors`` (a run would fail on them), ``warnings``, and lines that
    describe the publication (the digest's size, the count of reviews)."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    info: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


#: Further checks, each taking the Config and returning error lines (empty when all is well).
Check = Callable[[Config], list[str]]


def check_publication(config: Config, *, now: datetime, checks: Sequence[Check] = (),
                      sources_only: bool = False, connect: bool = False,
                      environ: Mapping[str, str] = os.environ) -> CheckReport:
    """Check the sources (every problem, with file and line), the templates (a digest of the
    latest reviews is rendered and measured, the archive page too) and ``checks``; then, unless
    ``sources_only``, what a run will need (``operations``)."""
    result = check_sources(config)
    errors = [str(problem) for problem in result.problems]
    for extra_check in checks:
        errors.extend(extra_check(config))
    try:
        errors += template_mistakes(config)
    except TemplateError:
        pass  # a link out of the publication: rendering the pages below names it
    errors += skeleton_problems(config, now)
    published = [r for r in result.reviews if r.is_published(now)]
    warnings = [str(w) for w in result.warnings] + link_warnings(config, published)
    warnings += name_warnings(config, published)
    posters = PosterFacts(config)  # shared with planning: each poster's header read once
    warnings += [str(p) for p in unreadable_posters(config, result.reviews, posters)]
    warnings += [str(p) for p in heavy_posters(config, result.reviews, posters)]
    warnings += [str(p) for p in small_posters(config, result.reviews, posters)]
    warnings += [str(p) for p in body_image_problems([*result.reviews, *result.pages], posters)]
    errors += [str(p) for p in scripted_svgs(config, [*result.reviews, *result.pages], posters)]
    warnings += icon_warnings(config, posters)
    warnings += [f"{config.path}: {gap}"
                 for gap in language_gaps(config.templates_path, config.language)]
    catalog: Catalog | None = None
    if not result.problems:  # a build is planned only from sources that all load
        catalog = Catalog(reviews=tuple(result.reviews), pages=result.pages,
                          fingerprints=result.fingerprints)
        issues = None if sources_only else sent_issues(config, catalog)
        plan_errors, plan_warnings = plan_problems(config, catalog, now, issues,
                                                   posters=posters)
        errors += plan_errors
        warnings += plan_warnings
    try:
        static_files(config)  # a link out of the publication in static/ stops every build
    except PublisherError as exc:
        errors.append(str(exc))
    info: list[str] = []
    if not sources_only:
        found = operations(config, now=now, connect=connect, environ=environ,
                           catalog=catalog, sources_broken=bool(result.problems))
        errors += found.errors
        warnings += found.warnings
        info += found.info
    try:
        digest_line, digest_warnings = check_digest(config, published, now=now)
        warnings.extend(digest_warnings)
        info.append(digest_line)
    except TemplateError as exc:
        errors.append(str(exc))
        warnings.extend(lint_templates(config.templates_path))  # usually why it did not compile
    errors = list(dict.fromkeys(errors))  # a template's mistake, also where planning stopped
    # A template that a page stops on is an error already: the lint's warning of it goes.
    said = {error.split(": ", 1)[0] for error in errors}
    warnings = [w for w in warnings
                if not (": Jinja syntax error: " in w and w.split(": ", 1)[0] in said)]
    drafts = sum(1 for r in result.reviews if r.draft)
    scheduled = len(result.reviews) - len(published) - drafts
    if result.pages:
        page_drafts = sum(1 for page in result.pages if page.draft)
        info.append(f"{count(len(result.pages), 'page')} of the site's own: "
                    f"{len(result.pages) - page_drafts:,} published, "
                    f"{count(page_drafts, 'draft')}")
    info.append(f"{count(result.files, 'review file')}: {len(published):,} published, "
                f"{count(drafts, 'draft')}, {scheduled:,} scheduled; in all "
                f"{count(len(errors), 'error')}, {count(len(warnings), 'warning')}")
    return CheckReport(tuple(errors), tuple(warnings), tuple(info))


def body_image_problems(sources: Iterable[Review | SitePage],
                        posters: PosterFacts) -> list[Problem]:
    """The files of static/ that a body (a review's or a page's) links to or shows, named as
    a poster is (``unreadable_posters``, ``heavy_posters``): one named as a JPEG, PNG, GIF or
    WebP image that is not one, and one shown over HEAVY_POSTER bytes (a link to a still's
    full size is the editor's choice; only a body linking to a heavy file is rendered, to tell
    which)."""
    images = BodyImages(posters.facts)
    found = []
    for source in sources:
        lines = dict(source.links)
        for url, facts in images.of(source.links):
            rel = posters.relative(url)
            if facts is None or rel is None:
                continue
            kind = RASTER_FORMATS.get(PurePosixPath(rel).suffix.lower())
            if kind and facts.width is None:
                found.append(Problem(source.source_path, lines[url], "body", (
                    f"static/{rel} is not a {kind} image (its first bytes say otherwise), so "
                    f"browsers show it broken; save it again as a {kind} file")))
            elif facts.length > HEAVY_POSTER and url in shown_images(source.body_html):
                size = (f" ({facts.width} × {facts.height} pixels)"
                        if facts.width is not None and facts.height is not None else "")
                # The page's column is 760 CSS pixels: twice that is sharp on any screen.
                found.append(Problem(source.source_path, lines[url], "body", (
                    f"static/{rel} is {facts.length / 1024 / 1024:.1f} MB{size}, and every "
                    "reader of its page and of the feeds that carry it downloads it; save it "
                    "smaller: 1,500 pixels wide is sharp on every screen, and well under 1 MB")))
    return found


def icon_warnings(config: Config, posters: PosterFacts) -> list[str]:
    """site.icon that is not square: browsers and feed readers show it in a square, squeezed."""
    if not config.site.icon:
        return []
    facts = posters.facts(config.icon_url)
    if facts is None or facts.width is None or facts.height is None \
            or facts.width == facts.height:
        return []  # missing: static_files says so; a size unknown (SVG): nothing to say
    return [f"{config.path}: site.icon: static/{config.icon_path} is {facts.width} × "
            f"{facts.height} pixels; browsers and feed readers show it in a square, squeezed: "
            "crop it to a square (512 × 512 suits every use)"]


def operations(config: Config, *, now: datetime, connect: bool = False,
               environ: Mapping[str, str] = os.environ,
               catalog: Catalog | None = None, sources_broken: bool = False) -> Findings:
    """Everything ``publisher run`` will need, one check per concern (``preflight``): the
    schedule (with ``catalog``, the sources, whether a due slot gets an issue; with
    ``sources_broken``, that it gets none until they load), the
    transport (with ``connect``, a real session that sends nothing), an issue paused or with
    ambiguous deliveries, the
    addresses, the secret, DKIM (with ``connect``, the record in DNS), the From domain's DMARC
    (with ``connect``, its record in DNS), the ledger and the
    directories a run writes."""
    found = Findings()
    ledger_found, ledger = check_ledger(config, now)  # said below; the schedule reads it first
    found.extend(check_schedule(config, now, ledger, catalog, sources_broken=sources_broken))
    found.extend(check_transport(config, connect=connect))
    try:
        sends_mail = not is_local(transport_from_url(config))
    except PublisherError:
        sends_mail = True  # the transport's own error is reported above
    found.extend(check_inbox(config, connect=connect, sends_mail=sends_mail))
    found.extend(check_addresses(config, sends_mail=sends_mail))
    found.extend(check_secret(ledger, sends_mail=sends_mail, environ=environ))
    found.extend(check_dkim(config, connect=connect))
    found.extend(check_dmarc(config, connect=connect))
    found.extend(ledger_found)
    found.extend(check_issues(config, ledger))
    found.extend(check_readers(config))
    found.extend(check_reader_messages(config, now))
    found.extend(check_directories(config))
    return found


def check_digest(config: Config, published: Sequence[Review], *,
                 now: datetime) -> tuple[str, list[str]]:
    """For ``publisher check``: a line giving the HTML size of a digest of the latest
    ``newsletter.max_reviews`` reviews, and warnings (template lint, size, images without alt).
    The web archive is rendered for that issue too, so that a broken archive template shows
    here rather than when an issue has just been sent. Raises TemplateError.
    """
    warnings = lint_templates(config.templates_path)
    if not config.newsletter.postal_address.strip():
        warnings.append(f"{config.path}: newsletter.postal_address is empty; anti-spam laws "
                        "(CAN-SPAM, PECR) want a contact address in every digest's footer")
    reviews = select_reviews(published, config=config)
    if not reviews:
        return "digest: no published reviews yet, so no digest to measure", warnings
    issue = preview_issue(config, reviews, now=now)
    site = Site.from_config(config)
    rendered = render_digest(issue, site, PosterFacts(config).facts)
    render_archive(site, [issue])
    size = len(rendered.html.encode("utf-8"))
    line = (f"digest of {len(reviews)} review{'s' if len(reviews) != 1 else ''}: "
            f"{size / 1024:.1f} KB of HTML (Gmail clips above 102 KB)")
    return line, (warnings + preferences_link_warnings(rendered, site.templates)
                  + check_digest_html(rendered.html))

