"""What moved since the last build, each said with the fix that keeps readers' links and feeds
working: a review's page at a new address (its slug or the permalink pattern changed), a
review's feed id changed (readers would see it again as new; every derived one at once when
base_url's domain changed, which one line of publisher.toml undoes), a reviewer or a tag gone
(renamed in every review). And a review new since then that no issue will mail (``unmailed``).
Read off the plan and the last build's record (``manifest``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..config import Config, feed_id
from ..errors import Problem
from ..models import Review
from ..newsletter.compose import back_catalogue, issued_ids, newsletter_start
from ..newsletter.schedule import format_local
from ..render.pages import page_file
from ..sources import Catalog
from ..sources.frontmatter import field_line
from ..sources.schema import derived_id
from .plan import Planner

#: Tags (or reviewers) gone in one build named one by one; past this many, one warning.
GONE_NAMED = 3
#: Reviews whose page moved, or whose feed id changed, or that no issue will mail, that a
#: build names one by one (moves_since, unmailed); the rest are counted.
MOVES_NAMED = 5


@dataclass(frozen=True)
class Moves:
    """What moved since the last build: the warnings, in the order a build gives them, and
    the paths under the output of the pages that moved (``links.lost_issue_links`` leaves
    links to those to these warnings)."""

    warnings: tuple[Problem, ...]
    pages: frozenset[str]


def moves_since(plan: Planner, old: Mapping[str, Mapping[str, Any]], feed: Path) -> Moves:
    """What moved between the build whose record is ``old`` (``manifest.read_manifest``) and
    ``plan``: review pages and feed ids, then reviewers and tags gone. A record of no review
    pages (a version that made only feeds) is made up for by the site's JSON feed as that
    build left it (``feed``): what readers saw."""
    pages: set[str] = set()
    found = new_base_url(plan, old) + _moved_pages(plan, old, pages) + _gone_terms(plan, old)
    if not any(key.startswith("page:") for key in old):
        found = _renamed_since_feed(plan, _feed_items(feed), pages) + found
    return Moves(tuple(found), frozenset(pages))


def site_record(config: Config) -> dict[str, Any]:
    """The manifest's entry for the site as a whole: where it was published."""
    return {"base_url": config.base_url, "files": []}  # files: as every entry, none


def new_base_url(plan: Planner, old: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """The warning for a site published since the build whose record is ``old`` at another
    ``base_url`` (a new domain): the issues sent, readers' feeds and search engines keep
    linking to the old address, which only its web server can send on. Hugo says nothing and
    Ghost redirects by itself; publisher makes no server, so it says what to set up, once."""
    before = old.get("site", {}).get("base_url")
    after = plan.config.base_url
    if not isinstance(before, str) or before == after:
        return []
    sent = sorted(issue.number for issue in plan.issues)
    # Unsubscribe links go to server.url when it is set, else under base_url.
    unsubscribe = not plan.config.server.url
    if len(sent) > 1:
        who = (f"the {len(sent)} issues sent (#{sent[0]}–#{sent[-1]}) link to the old address"
               f"{', their unsubscribe links too' if unsubscribe else ''}, as do")
    elif sent:
        who = (f"issue #{sent[0]} (sent) links to the old address"
               f"{', its unsubscribe link too' if unsubscribe else ''}, as do")
    else:
        who = "the old address is in"
    found = [Problem(plan.config.path.name, 0, "base_url", (
        f"changed from {before} to {after}; {who} readers' feeds and search engines: keep "
        f"{before} answering with a permanent redirect (a 308, which keeps a one-click "
        f"unsubscribe a POST) of every path to the same path under {after}"))]
    # The list's id, base_url's host unless set, signs every unsubscribe and preferences
    # link mailed: a new host voids them all, wherever the links point (server.url too).
    old_host = urlsplit(before).hostname or ""
    if sent and not plan.config.newsletter.list_id and old_host \
            and old_host != plan.config.domain:
        issues = (f"the {len(sent)} issues sent (#{sent[0]}–#{sent[-1]})" if len(sent) > 1
                  else f"the issue sent (#{sent[0]})")
        found.append(Problem(plan.config.path.name, 0, "newsletter.list_id", (
            f"base_url's domain changed from {old_host} to {plan.config.domain}, and with it "
            f"the list's id, which signs the unsubscribe and preferences links of {issues}: "
            "they would answer that the link is not valid, and unsubscribe nobody; add under "
            f"[newsletter]: list_id = \"{old_host}\"")))
    return found


def _gone_terms(plan: Planner, old: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Warnings for the reviewers and tags whose page or feeds the last build made and
    this one does not (the tag renamed in every review, or its last review gone), with
    the [moved] line that keeps their readers."""
    planned = {unit.key for unit in plan.units}
    # A term still named (its feeds or pages turned off in publisher.toml) is not gone.
    named = {f"{kind}/{term.slug}/" for kind, terms in plan.groups.items() for term in terms}
    gone: dict[str, bool] = {}  # directory → whether it had feeds
    for key in old:
        kind, _, rel = key.partition(":")
        path = rel.removesuffix("index.html") if kind == "page" else rel
        if kind not in ("page", "feed") or path.count("/") != 2 \
                or not path.startswith(("tags/", "reviewers/")):
            continue
        if path in named or f"moved:{path}" in planned:
            continue
        gone[path] = gone.get(path, False) or kind == "feed"
    # One new term of the same kind in this build is most likely the old one renamed.
    new = {f"{kind}/{term.slug}/" for kind, terms in plan.groups.items() for term in terms
           if f"page:{kind}/{term.slug}/index.html" not in old
           and f"feed:{kind}/{term.slug}/" not in old}
    found = []
    for kind in ("reviewers", "tags"):
        paths = sorted(path for path in gone if path.startswith(kind + "/"))
        alike = [p for p in new if p.startswith(kind + "/")]
        if len(paths) > GONE_NAMED and len(alike) != 1:
            # Many at once (a review with many tags deleted): one thing to know.
            feeds = any(gone[path] for path in paths)
            lost = ("readers subscribed to their feeds get nothing new" if feeds
                    else "links to their pages find nothing")
            found.append(Problem(plan.config.path.name, 0, "moved", (
                f"{len(paths)} {kind} are gone (no review published names them now): "
                f"{', '.join(paths[:GONE_NAMED])} and {len(paths) - GONE_NAMED} more; "
                f"{lost}; if one has a new name, add under [moved]: \"{paths[0]}\" = "
                f"\"{kind}/<its new slug>/\"")))
            continue
        for path in paths:
            lost = (f"readers subscribed to its feeds ({plan.site.url(path)}feed.xml, …) "
                    "get nothing new" if gone[path] else "links to its page find nothing")
            line = (f"\"{path}\" = \"{alike[0]}\"" if len(alike) == 1
                    else f"\"{path}\" = \"{kind}/<its new slug>/\"")
            found.append(Problem(plan.config.path.name, 0, "moved", (
                f"{path} is gone (no review published names that {kind.removesuffix('s')} "
                f"now) and {lost}; if it has a new name, add under [moved]: {line}")))
    return found


def _moved_pages(plan: Planner, old: Mapping[str, Mapping[str, Any]], pages: set[str]
                 ) -> list[Problem]:
    """Warnings for reviews whose page the last build wrote at another address that
    nothing now answers (a slug changed, a file was renamed), for reviews whose feed
    id changed (so readers would see them again as new; a review taken off the site too, whose
    id the next build no longer knows) and for published reviews dated ahead since: each with
    the front matter that keeps the old links and entries working. Matched by source file,
    else by its bytes. The old paths of the pages named are added to ``pages``."""
    planned = {unit.key for unit in plan.units}
    by_source: dict[str, Review] = {}
    by_bytes: dict[str, Review] = {}
    unpublished: dict[str, Review] = {}
    put_off: list[Problem] = []
    moved: list[Problem] = []
    renamed: list[Problem] = []
    redomained: list[tuple[Review, str, str]] = []  # (review, its old id, that id's domain)
    for key, entry in old.items():
        about = entry.get("review")
        if not isinstance(about, list) or len(about) != 3 or not key.startswith("page:"):
            continue
        source, old_id, sha = about
        same = plan.page_reviews.get(key)
        if same is not None and same.source_path == source and same.id == old_id:
            continue  # the same review at the same address under the same id: most pages
        if not by_source:  # made at the first page that is not
            for r in plan.published:
                by_source[r.source_path] = r
                by_bytes[plan.fingerprints.get(r.source_path, "")[:16]] = r
        review = by_source.get(source) or (by_bytes.get(sha) if sha else None)
        if review is None:  # gone, a draft again or put off to a later date: no page now
            # Readers keep its entry, though, and one it comes back under a new id (its date
            # or slug changed) is shown as new: said now, since the next build's record has no
            # page of it, and so no id to compare with, when it is published again.
            if not unpublished:
                unpublished = {r.source_path: r for r in plan.unpublished}
            later = unpublished.get(source)
            if later is not None:
                _id_changed(plan.config, later, old_id, _keep_id(plan, later, old_id),
                            renamed, redomained)
                # Dated ahead since (an embargo, or 2027 typed for 2026); a file as it was
                # went off with the clock or the preview's --future, and says nothing.
                if not later.draft and plan.fingerprints.get(source, "")[:16] != sha:
                    rel = key[len("page:"):]
                    pages.add(rel)
                    put_off.append(_put_off(plan, later, rel))
            continue
        keep_id = _keep_id(plan, review, old_id)
        if same is review:
            _id_changed(plan.config, review, old_id, keep_id, renamed, redomained)
            continue
        rel = key[len("page:"):]
        if key in planned or f"alias:{rel}" in planned:
            continue  # something answers at the old address
        pages.add(rel)
        moved.append(_moved_page(plan, review, rel, keep_id))
    if len(put_off) > MOVES_NAMED:
        put_off[MOVES_NAMED:] = [Problem(plan.config.reviews_dir + "/", 0, "date", (
            f"and {len(put_off) - MOVES_NAMED} more published reviews are dated ahead now: "
            "their pages and feed entries are gone until their dates"))]
    return (_new_domain(redomained, plan.config) + put_off
            + _counted(moved, renamed, plan.config))


def _put_off(plan: Planner, review: Review, rel: str) -> Problem:
    """The warning for ``review``, published at ``rel`` by the last build and dated ahead of
    the clock now. Named once, while its old page is known: nothing answers there until
    then, and the feeds drop it, as they would a review deleted."""
    path = rel.removesuffix("index.html")
    return Problem(review.source_path,
                   field_line(str(plan.config.root / review.source_path), "date"), "date",
                   f"published until now at {plan.site.url(path)}, it is scheduled for "
                   f"{format_local(review.date, plan.site.tz)}: its page and its feed entries "
                   "are gone until then, and links to it (in issues sent, readers' feeds, "
                   "search results) find nothing; if the date is a slip, give the one it was "
                   "published on")


def _id_changed(config: Config, review: Review, old_id: str, keep_id: str,
                renamed: list[Problem], redomained: list[tuple[Review, str, str]]) -> None:
    """Add ``review``, at the same address under a new feed id, to ``redomained`` when only
    base_url's domain made it new, else (its id derived from a new date or slug) its warning
    to ``renamed``."""
    domain = _old_domain(config, review, old_id) if keep_id else None
    if domain is not None:
        if not config.feeds.id_domain:  # set, the ids' domain is the editor's choice
            redomained.append((review, old_id, domain))
    elif keep_id:
        renamed.append(_renamed(review, old_id, keep_id))


def _old_domain(config: Config, review: Review, old_id: str) -> str | None:
    """The domain ``old_id`` was derived under, when it is ``review``'s derived id under
    another domain (base_url's changed), else None."""
    head, marker, tail = config.feeds.ids.partition("{domain}")
    day, slug = review.date.date().isoformat(), review.slug
    before, after = feed_id(head, "", day, slug), feed_id(tail, "", day, slug)
    if not marker or not (old_id.startswith(before) and old_id.endswith(after)):
        return None
    domain = old_id[len(before):len(old_id) - len(after)]
    if not domain or domain == config.id_domain \
            or feed_id(config.feeds.ids, domain, day, slug) != old_id:
        return None  # not this review's id under another domain: its date or slug changed
    return domain


def _new_domain(redomained: Sequence[tuple[Review, str, str]], config: Config) -> list[Problem]:
    """One warning for every review whose derived feed id changed with base_url's domain
    alone, with the one line that gives them all back (their files need no id: line each)."""
    if not redomained:
        return []
    old = Counter(domain for _, _, domain in redomained).most_common(1)[0][0]
    review, old_id, _ = redomained[0]
    count = len(redomained)
    return [Problem(config.path.name, 0, "feeds.id_domain", (
        f"base_url's domain changed from {old} to {config.domain}, and with it the feed id "
        f"of {count} review{'' if count == 1 else 's'} without an id: line ({old_id} is now "
        f"{review.id}), so that feed readers would show them again as new; add under "
        f"[feeds]: id_domain = \"{old}\""))]


def _keep_id(plan: Planner, review: Review, old_id: str) -> str:
    """The front matter that keeps ``review``'s old feed id, or "". An id the front
    matter gives is the editor's choice; a derived one changed because the slug or date
    did, which readers would take for a new review."""
    if old_id != review.id and review.id == derived_id(plan.config, review.date.date(),
                                                       review.slug):
        return f"`id: {old_id}` so that feed readers do not show it again as new"
    return ""


def _moved_page(plan: Planner, review: Review, rel: str, keep_id: str) -> Problem:
    """The warning for ``review``, whose page the last build wrote at ``rel``."""
    path = rel.removesuffix("index.html")
    fix = f"`aliases: [{path}]`" + (f" and {keep_id}" if keep_id else "")
    return Problem(review.source_path, 0, "aliases",
                   f"its page moved from {plan.site.url(path)} to {review.url}, and links "
                   "to the old address (in issues sent, readers' feeds, search results) "
                   f"now find nothing; add {fix}")


def _renamed_since_feed(plan: Planner, items: Sequence[Mapping[str, Any]], pages: set[str]
                        ) -> list[Problem]:
    """``_moved_pages`` for a last build that recorded no review pages (a version that made
    only feeds, before 30 November 2026): its site feed's ``items`` (feed.json's) are what
    readers saw. A review found there (by id, else by title and date) at another address,
    or under another derived id (its slug spelt otherwise then: 'Łódź' was 'odz'), is
    named with the front matter that keeps its old links and entry (and its old page's path
    added to ``pages``)."""
    if not items:  # no feed.json (a first build): nothing to look up, by anything
        return []
    by_id = {r.id: r for r in plan.published}
    by_entry = {(r.title, r.date): r for r in plan.published}
    planned = {unit.key for unit in plan.units}
    moved: list[Problem] = []
    renamed: list[Problem] = []
    redomained: list[tuple[Review, str, str]] = []
    for item in items:
        try:
            old_id, url = str(item["id"]), str(item.get("url") or "")
            review = by_id.get(old_id) or by_entry.get(
                (str(item["title"]), datetime.fromisoformat(str(item["date_published"]))))
        except (KeyError, TypeError, ValueError):
            continue
        if review is None:
            continue  # gone, or a draft again
        keep_id = _keep_id(plan, review, old_id)
        rel = page_file(url, plan.site) if url != review.url else None
        if rel is None or f"page:{rel}" in planned or f"alias:{rel}" in planned:
            _id_changed(plan.config, review, old_id, keep_id, renamed, redomained)
            continue
        pages.add(rel)
        moved.append(_moved_page(plan, review, rel, keep_id))
    # In the order of their files, not the feed's (newest first).
    moved.sort(key=lambda problem: problem.path)
    renamed.sort(key=lambda problem: problem.path)
    redomained.sort(key=lambda found: found[0].source_path)
    return _new_domain(redomained, plan.config) + _counted(moved, renamed, plan.config)


def _counted(moved: list[Problem], renamed: list[Problem], config: Config) -> list[Problem]:
    """Moved pages and changed feed ids: a new permalink pattern moves every page at once, a
    new ids pattern changes every derived id, so a few are named and the rest counted."""
    if len(moved) > MOVES_NAMED:
        moved = [*moved[:MOVES_NAMED], Problem(
            config.reviews_dir + "/", 0, "aliases",
            f"and {len(moved) - MOVES_NAMED} more reviews' pages moved (did "
            "feeds.permalink change? then add the old pattern to "
            "feeds.former_permalinks): links to their old addresses now find nothing")]
    if len(renamed) > MOVES_NAMED:
        renamed = [*renamed[:MOVES_NAMED], Problem(
            config.reviews_dir + "/", 0, "id",
            f"and {len(renamed) - MOVES_NAMED} more reviews' feed ids changed (did "
            "feeds.ids change? its old pattern keeps them): else give each its old id")]
    return moved + renamed


def _renamed(review: Review, old_id: str, keep_id: str) -> Problem:
    """The warning for ``review``, whose feed id was ``old_id``."""
    return Problem(review.source_path, 0, "id",
                   f"its feed id changed from {old_id} to {review.id}; add {keep_id}")


def _feed_items(path: Path) -> list[Mapping[str, Any]]:
    """The items of the JSON feed at ``path`` as the last build left it; [] if unreadable."""
    try:
        items = orjson.loads(path.read_bytes()).get("items")
    except (OSError, ValueError, AttributeError):
        return []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []



def unmailed(plan: Planner, catalog: Catalog, old: Mapping[str, Mapping[str, Any]]
             ) -> list[Problem]:
    """Warnings for the reviews of ``catalog`` published since the build whose record is
    ``old`` that no issue will mail: the back catalogue, as composing decides it
    (``newsletter.compose``) from the issues sent. An editor who adds an old review, or gives a
    new one a date long past, expects the next issue to carry it; they hear otherwise from
    ``check`` and from the build that publishes it, once: the builds after know its page.
    Nothing before the first issue (the run that composes it says how many it leaves out), nor
    at a first build (no record to tell an old review from a new one)."""
    built = {str(part) for key, entry in old.items() if key.startswith("page:")
             and isinstance(about := entry.get("review"), list) and len(about) == 3
             for part in about[:2]}  # its source file and its feed id
    if not built or not plan.issues:  # asked before the catalogue is walked: a cold build
        return []
    mailed = [review for issue in plan.issues for review in issue.reviews]
    issued = issued_ids(catalog, {review.id for review in mailed}, mailed)
    start = newsletter_start(catalog, issued)
    if start is None:
        return []
    late = sorted((r for r in back_catalogue(catalog, issued, plan.now)
                   if r.source_path not in built and r.id not in built),
                  key=lambda r: (r.date, r.slug))
    day = f"{start.astimezone(plan.site.tz):%Y-%m-%d}"
    found = [Problem(r.source_path,
                     field_line(str(plan.config.root / r.source_path), "date"), "date",
                     f"{r.date.astimezone(plan.site.tz):%Y-%m-%d} is before the oldest review "
                     f"an issue has mailed ({day}), so no issue will carry this review: it is "
                     "back catalogue, on the site and in the feeds only; if it is new, date it "
                     "today and the next issue carries it")
             for r in late[:MOVES_NAMED]]
    if len(late) > MOVES_NAMED:
        found.append(Problem(plan.config.reviews_dir + "/", 0, "date", (
            f"and {len(late) - MOVES_NAMED} more new reviews dated before {day} are back "
            "catalogue, never mailed")))
    return found
