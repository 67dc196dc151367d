"""Links that find nothing once a build is done, each said with what makes it land: in review
bodies and the site's own pages (a slug mistyped or changed, an image never copied into
static/, a review not published yet), and in the issues already sent (a review deleted, made a
draft again, or moved without an alias). Read off the plan and what the build serves."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Collection, Sequence
from urllib.parse import unquote, urlsplit

from ..config import READER_PATHS, Config
from ..errors import Problem
from ..models import Review, SitePage
from ..render.pages import page_file
from ..render.site import Site
from ..slips import WRITTEN_APART, Slips
from .plan import Planner

#: Broken links in review bodies that a build names one by one (``publisher check`` names
#: all of them); the rest are counted.
LINKS_NAMED = 20
#: Files publisher writes besides pages (feeds, their archives, the sitemap, the stylesheets):
#: links to them are not checked (the units that make them do not name their files).
_GENERATED = (".xml", ".json", ".xsl", ".css", ".txt")


def _lands(plan: Planner, url: str, served: Collection[str]) -> bool:
    """Whether ``url`` (an address under base_url) finds something once this build is
    done: a served path, the directory page of one, or a file the build generates."""
    rel = unquote(url.partition("?")[0][len(plan.site.base_url):])
    return ((rel + "index.html" if rel == "" or rel.endswith("/") else rel) in served
            or f"{rel}/index.html" in served or rel.endswith(_GENERATED))


def _waiting(review: Review | SitePage) -> str:
    """Why an unpublished review's page, or a page of the site's own, finds nothing yet."""
    when = ("a draft" if review.draft or isinstance(review, SitePage)
            else f"scheduled for {review.date:%Y-%m-%d %H:%M}")
    return f"the page of {review.source_path or review.slug}, {when}"


def broken_links(plan: Planner, served: Collection[str], named: int | None = LINKS_NAMED, *,
                 issues: bool = True) -> list[Problem]:
    """Warnings for links and images in review bodies to addresses on this site where
    nothing is published (``served``: what ``Planner.served`` gives) — a review linked by a
    mistyped or changed slug, an image never copied into static/, a review not published
    yet. ``named`` at most, the rest counted.
    Only where publisher builds the site: elsewhere base_url is only the feeds' home.
    Without ``issues``, links to the newsletter's archive are not checked."""
    site = plan.site
    if not site.pages:
        return []
    waiting: dict[str, Review | SitePage] = {r.url.partition("#")[0]: r
                                             for r in plan.unpublished}
    waiting.update((page.url, page) for page in plan.hidden_pages)
    # publisher serve's paths, when a proxy at base_url passes them on (no server.url)
    reader = {plan.config.reader_url(p) for p in READER_PATHS}
    archive = site.url("issues/")
    found: list[Problem] = []
    sources: list[Review | SitePage] = [*plan.published, *plan.site_pages]
    addresses = Addresses(served)
    for review in sources:
        for url, line in review.links:
            if url.partition("?")[0] in reader or (
                    not issues and url.startswith(archive)):
                continue
            if not url.startswith(site.base_url):
                outside = _outside(plan, url, served, addresses)
                if outside:
                    found.append(Problem(review.source_path or review.slug, line, "body",
                                         f"links to {url}, {outside}"))
                continue
            if _lands(plan, url, served):
                continue
            other = waiting.get(url.partition("?")[0])
            if other is not None:
                why = f"{_waiting(other)}: until it is published the link finds nothing"
            else:
                why = ("where nothing is published (no review, page or file in static/ "
                       f"has that address); {_link_fix(plan, review, url, addresses)}")
            found.append(Problem(review.source_path or review.slug, line, "body",
                                 f"links to {url}, {why}"))
    if named is not None and len(found) > named:
        found = [*found[:named], Problem(
            plan.config.reviews_dir + "/", 0, "body",
            f"and {len(found) - named} more links to addresses on this site where nothing "
            "is published (publisher check lists every one)")]
    return found


def _outside(plan: Planner, url: str, served: Collection[str], addresses: Addresses) -> str:
    """Why a link written without a host (``/reviews/x/``, ``../x/``) that lands on base_url's
    host outside its path is wrong, and what it meant: the same path under base_url when
    something is published there, or the address a slip of the keys from it. "" for
    base_url's own path without its last "/" (the home page)."""
    base = plan.site.base_url
    if url.partition("?")[0] + "/" == base:
        return ""
    root = urlsplit(base)
    rel = url[len(f"{root.scheme}://{root.netloc}/"):]
    why = f"outside the site (base_url is {base})"
    if _lands(plan, base + rel, served):
        return f"{why}; write {root.path}{rel} or {rel}"
    near = addresses.near(unquote(rel.partition("?")[0]))
    if near is not None:
        return f"{why}; did you mean {plan.site.url(near)}?"
    return f"{why}; correct the link, or write the whole address if it is meant to leave the site"


def _link_fix(plan: Planner, source: Review | SitePage, url: str, addresses: Addresses) -> str:
    """What makes a link that finds nothing land: said outright for what a site moved
    from Pelican ({static}, {filename}) or a Hugo page bundle (an image beside its
    index.md) leaves behind, neither of which publisher reads; the address a slip of the
    keys away, when there is one."""
    rel = unquote(url[len(plan.site.base_url):].partition("?")[0])
    head, _, rest = rel.partition("/")
    if head in ("{static}", "{attach}"):
        return (f"Pelican's {head} is not read here: link the file's path under static/ "
                f"({rest})")
    if head == "{filename}":
        return ("Pelican's {filename} is not read here: link the review's or page's "
                "address on this site instead")
    path = source.source_path
    name = rel.rpartition("/")[2]
    if path and name and (plan.config.root / path).with_name(name).is_file():
        bundle = os.path.basename(path) == "index.md"
        folder = os.path.basename(os.path.dirname(path)) if bundle else "images"
        return (f"{name} sits beside {path}, and only static/ is published: move it to "
                f"static/{folder}/{name} and link {folder}/{name}")
    apart = addresses.decomposed(rel)
    if apart is not None:
        return WRITTEN_APART
    near = addresses.near(rel)
    if near is not None:
        return f"did you mean {plan.site.url(near)}?"
    return "correct the link"


def lost_issue_links(plan: Planner, served: Collection[str], moved: Collection[str] = (),
                     named: int | None = LINKS_NAMED) -> dict[str, Problem]:
    """Warnings for review pages that issues already sent link (in every copy of the
    email, and on the issue's archive page, which shows it as it went out) where nothing
    is published now: the review deleted, made a draft again, or moved without an alias;
    and for the posters they show from static/ that are gone (renamed, deleted), which
    every copy loads from the site. One per address, naming the issues and what makes the
    link land again, keyed by the path under the output. ``moved``: the paths of pages
    ``moves.moves_since`` names already; ``named`` at most, the rest counted."""
    if not plan.issues:
        return {}
    linked: dict[str, tuple[Review, list[int]]] = {}
    shown: dict[str, tuple[Review, list[int]]] = {}
    withdrawn = plan.config.withdrawn_urls  # taken down on purpose: nothing should be there
    for issue in plan.issues:
        for review in issue.reviews:
            url = review.url.partition("#")[0]
            if url in withdrawn:
                continue
            if plan.site.pages and url.startswith(plan.site.base_url) \
                    and not _lands(plan, url, served):
                linked.setdefault(url, (review, []))[1].append(issue.number)
            poster = review.poster.src if review.poster else ""
            if poster.startswith(plan.site.base_url) and not _lands(plan, poster, served):
                shown.setdefault(poster, (review, []))[1].append(issue.number)
    # The review a sent one is now, if any (``Review.identities``).
    published = {key: r for r in plan.published for key in r.identities()}
    unpublished = {key: r for r in plan.unpublished for key in r.identities()}
    found: dict[str, Problem] = {}
    for url, (sent, numbers) in linked.items():
        rel = unquote(page_file(url, plan.site) or "")
        if not rel or rel in moved:
            continue  # not a page's address, or moves_since names it
        alias = f"`aliases: [{rel.removesuffix('index.html')}]`"
        now = next((published[key] for key in sent.identities() if key in published), None)
        waiting = next((unpublished[key] for key in sent.identities() if key in unpublished),
                       None)
        source = sent.source_path or plan.config.reviews_dir + "/"
        if now is not None:
            source = now.source_path or source
            fix = f"its review's page is now {now.url}: add {alias}"
        elif waiting is not None:
            source = waiting.source_path or source
            fix = (f"it is {_waiting(waiting)}: publish it, or add {alias} to the "
                   "review readers should find instead")
        else:
            fix = (f"its review ({sent.source_path or sent.id}) is gone from the sources: "
                   f"restore it, or add {alias} to the review readers should find instead")
        which = ", ".join(f"#{n}" for n in numbers)
        found[rel] = Problem(source, 0, "aliases",
                             f"issue{'s' if len(numbers) > 1 else ''} {which} sent "
                             f"readers a link to {url} ({sent.title}), where nothing is "
                             f"published now; {fix}")
    for url, (sent, numbers) in shown.items():
        rel = unquote(url.partition("?")[0][len(plan.site.base_url):])
        now = next((published[key] for key in sent.identities() if key in published), None)
        source = (now.source_path if now else "") or sent.source_path or "static/"
        which = ", ".join(f"#{n}" for n in numbers)
        found[rel] = Problem(source, 0, "poster",
                             f"issue{'s' if len(numbers) > 1 else ''} {which} showed readers "
                             f"the poster {url} ({sent.title}), where nothing is published "
                             "now (every copy of the email loads it from there); put the file "
                             f"back at static/{rel} (its review may show another)")
    if named is not None and len(found) > named:  # a new permalink pattern, say
        kept = dict(list(found.items())[:named])
        kept[""] = Problem(plan.config.reviews_dir + "/", 0, "aliases",
                           f"and {len(found) - named} more links in issues sent to pages "
                           "where nothing is published now (publisher check lists every "
                           "one)")
        return kept
    return found


class Addresses:
    """The addresses a build serves, by folder, to find the one a link that finds nothing
    likely meant (``slips``). Grouped only when first asked (a build whose links all land
    never is)."""

    def __init__(self, served: Collection[str]):
        self._served = served
        self._folders: dict[str, Slips] | None = None
        self._composed: dict[str, str] | None = None

    def decomposed(self, rel: str) -> str | None:
        """The served address that is ``rel`` with its accents written as separate marks
        (NFD, as macOS may name files) where ``rel`` has them joined (NFC), or None."""
        if rel.isascii():
            return None
        if self._composed is None:
            self._composed = {unicodedata.normalize("NFC", path): path
                              for path in self._served if not path.isascii()}
        found = self._composed.get(unicodedata.normalize("NFC", rel))
        return found if found is not None and found != rel else None

    def near(self, rel: str) -> str | None:
        """The served address (under base_url) a slip of the keys from ``rel`` in the same
        folder ("reviews/salt-harbour/" for "reviews/salt-harbor/"), or None."""
        if self._folders is None:
            names: dict[str, list[str]] = {}
            for path in self._served:
                if (split := _in_folder(path.removesuffix("index.html"))) is not None:
                    names.setdefault(split[0], []).append(split[1])
            self._folders = {folder: Slips(each) for folder, each in names.items()}
        split = _in_folder(rel)
        if split is None or (slips := self._folders.get(split[0])) is None:
            return None
        folder, name = split
        near = slips.near(name)
        if near is None:
            return None
        return f"{folder}/{near}" if folder else near


def _in_folder(address: str) -> tuple[str, str] | None:
    """An address under base_url as its folder and its last part ("reviews/x/": "reviews",
    "x/"); None for the root."""
    folder, _, last = address.rstrip("/").rpartition("/")
    return (folder, address[len(folder):].lstrip("/")) if last else None


def link_warnings(config: Config, published: Sequence[Review]) -> list[str]:
    """For ``publisher check``: a warning when feed links point under base_url at pages that
    publisher cannot build (a permalink, or a review's own ``url:``, ending neither in "/" nor
    ".html"), unless every page is said to be elsewhere (an absolute feeds.permalink)."""
    if config.external_pages:
        return []
    site = Site.from_config(config)
    unbuilt = [r for r in published
               if r.url.startswith(site.base_url) and page_file(r.url, site) is None]
    missing = [r.url for r in unbuilt if r.url == config.permalink(r.slug)]
    warnings = [f"{r.source_path or r.slug}: url: {r.url} is under base_url, where publisher "
                "builds no page for it; end it with '/' or '.html' to have publisher build it "
                "there, or give the page's address on the other site"
                for r in unbuilt if r.url != config.permalink(r.slug)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        warnings.insert(0, f"{config.path}: feeds.permalink: feed links point at {missing[0]}"
                        f"{more}, a page publisher does not build; end it with '/' or '.html' "
                        "to have publisher build the pages, or write the other site's pattern "
                        "as an absolute URL (https://…/{slug})")
    return warnings

