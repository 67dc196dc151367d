"""The site's own pages: ``pages/*.md`` (about.md, contact.md, a review policy), each a title and
a Markdown body, as Pelican's pages and Hugo's single pages are. Each is built at
``<base_url><slug>/`` in the site's design and listed in the navigation; none is in a feed, an
index or a digest. Only the files directly in ``pages/`` are pages; names that start with "."
or "_" are left out, as in reviews/.

Front matter::

    ---
    title: About The Second Reel     # required: the page's heading
    menu: About                      # its label in the navigation (default: the title);
                                     # false keeps it out of the navigation
    footer: true                     # linked from every page's footer as well (default false)
    weight: 10                       # the navigation's order: lower first (default 0)
    description: Who we are.         # for search engines and shared links
    slug: about                      # its address (default: the file's name)
    draft: true                      # not built until this goes (publisher preview -D
                                     # shows it)
    template: wide                   # its template: templates/wide.html.j2 (default
                                     # site_page.html.j2)
    ---
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..config import Config
from ..errors import Problem
from ..files import NOT_UTF8, escapes, not_utf8, read_file
from ..models import SitePage
from ..text import collation_key, slugify
from .frontmatter import NEAR_MISSES, Collector, Fields, front_matter_mapping, unread_source
from .markdown import REMOVED, prepare_markdown, removed_tags, render_prepared, site_links
from .schema import FALSE_WORDS, TRUE_WORDS, boolean_field, decode_source

PAGE_FIELDS = ("title", "menu", "footer", "weight", "description", "slug", "draft", "template")
#: The template of a page whose front matter names none.
PAGE_TEMPLATE = "site_page.html.j2"
#: The sections of the site a page's address must not take.
RESERVED = frozenset({"reviews", "reviewers", "tags", "feeds", "search", "issues", "archive"})


def page_files(config: Config) -> tuple[list[tuple[str, Path]], list[Problem]]:
    """(path for messages, file) of each page source, sorted; and a warning for each Markdown
    file in a folder of pages/ (not built), each link out of the publication (not read) and
    each file that looks like a page but does not end in .md (``about.markdown``)."""
    directory = config.paths.pages
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    root = [config.root.resolve()]
    files: list[tuple[str, Path]] = []
    warnings: list[Problem] = []
    for entry in entries:
        rel = f"pages/{entry.name}"
        if entry.name.startswith((".", "_")):
            continue
        shown = not_utf8(rel)
        if shown is not None:
            if entry.name.endswith(".md") or entry.is_dir():
                warnings.append(Problem(shown, 0, "", NOT_UTF8))
            continue
        if entry.is_dir():
            if any(name.endswith(".md") for name in os.listdir(entry.path)):
                warnings.append(Problem(rel, 0, "", "a folder of pages is not built; only the "
                                        "pages directly in pages/ are: move them up"))
        elif entry.name.endswith(".md") and entry.is_file():
            target = escapes(Path(entry.path), root) if entry.is_symlink() else None
            if target is not None:
                warnings.append(Problem(rel, 0, "", f"is a symbolic link to {target}, outside "
                                        "the publication; publisher reads no file from outside "
                                        "it: copy the page in"))
            else:
                files.append((rel, Path(entry.path)))
        elif entry.name.lower().endswith(NEAR_MISSES):
            warnings.append(unread_source(rel))
    return files, warnings


def parse_page(text: str, path: str, config: Config) -> tuple[SitePage | None, Collector]:
    """One page source, its byte-order mark gone: (the page, or None when it has problems;
    what was found)."""
    out = Collector(path)
    found = front_matter_mapping(text, out, expected="title")
    if found is None:
        return None, out
    mapping, body, body_line = found
    fields = Fields(mapping, 2, out, "", PAGE_FIELDS)
    title = fields.text("title")
    if title is None:
        out.error(fields.line("title"), "title", "missing; every page needs a title")
    slug = slugify(fields.text("slug") or os.path.splitext(os.path.basename(path))[0])
    if slug in RESERVED:
        out.error(fields.line("slug"), "slug",
                  f"{slug!r} is the address of a section of the site ({slug}/); give the page "
                  "another slug (slug: in its front matter), or rename the file")
    elif slug == "index":  # Hugo's _index.md is a home page's text: this would not be
        out.error(fields.line("slug"), "slug",
                  "'index' would be a page at index/, not the home page, which lists the "
                  "latest reviews (override templates/home.html.j2 to change it); give the page "
                  "another slug (slug: in its front matter), or rename the file")
    elif served := config.reader_paths_on_site.get(slug):
        out.error(fields.line("slug"), "slug",
                  f"{slug!r} is an address publisher serve answers ({served}), where the "
                  "readers' pages are; give the page another slug (slug: in its front matter), "
                  "or rename the file")
    menu = fields.text("menu")
    if menu is not None and menu.lower() in TRUE_WORDS | FALSE_WORDS:
        menu = title if boolean_field(fields, "menu") else ""
    weight = 0
    if (raw := fields.text("weight")) is not None:
        try:
            weight = int(raw)
        except ValueError:
            out.error(fields.line("weight"), "weight",
                      f"{raw!r} is not a whole number; the navigation lists lower weights first")
    draft = boolean_field(fields, "draft")
    footer = boolean_field(fields, "footer")
    template = page_template(fields.text("template"), config.templates_path)
    if template is None:
        out.error(fields.line("template"), "template",
                  f"no templates/{template_name(fields.text('template') or '')}; name a "
                  "template of templates/ (wide for templates/wide.html.j2), or leave the "
                  f"field out for {PAGE_TEMPLATE}")
    if out.problems or title is None:
        return None, out
    url = config.url(slug + "/")
    markdown = prepare_markdown(body)[0]
    for line, name in removed_tags(markdown, body_line):
        out.warn(line, "body", f"<{name}> {REMOVED}; a page that needs one can have it in its "
                               "template (templates/site_page.html.j2, by page.canonical)")
    return SitePage(slug=slug, title=title, url=url,
                    body_html=render_prepared(markdown, config.base_url, url,
                                              config.language),
                    source_path=path, menu=title if menu is None else menu, weight=weight,
                    description=fields.text("description") or "",
                    links=site_links(markdown, config.base_url, body_line), draft=draft,
                    footer=footer, template=template or PAGE_TEMPLATE), out


def template_name(value: str) -> str:
    """A page's ``template:`` as the name of its file: Pelican's and Hugo's bare name
    ("wide") read as the site's pages are named, "wide.html.j2", and so is the name of the
    HTML it makes ("wide.html"); a name ending in .j2 as it is."""
    if value.endswith(".j2"):
        return value
    return f"{value}.j2" if value.endswith(".html") else f"{value}.html.j2"


def page_template(value: str | None, templates: Path) -> str | None:
    """The template a page's ``template:`` names (PAGE_TEMPLATE when none is), or None when
    templates/ holds no such file (or the name leads out of it)."""
    if value is None:
        return PAGE_TEMPLATE
    name = template_name(value)
    if name == PAGE_TEMPLATE:  # packaged, with or without an override
        return name
    parts = PurePosixPath(name).parts
    if not parts or parts[0] == "/" or ".." in parts or not (templates / name).is_file():
        return None
    return name


def load_pages(config: Config) -> tuple[tuple[SitePage, ...], list[Problem], list[Problem]]:
    """Every page under pages/ (drafts too), in navigation order (weight, then title); every
    problem and every warning. Two pages at one address are a problem of the second."""
    files, warnings = page_files(config)
    pages: list[SitePage] = []
    problems: list[Problem] = []
    slugs: dict[str, str] = {}
    for rel, path in files:
        try:
            data = read_file(path)
        except OSError as exc:
            problems.append(Problem(rel, 0, "", f"cannot read: {exc.strerror}"))
            continue
        text, undecoded = decode_source(data, rel)
        if text is None:
            problems.extend(undecoded)
            continue
        page, found = parse_page(text, rel, config)
        problems.extend(found.problems)
        warnings.extend(found.warnings)
        if page is None:
            continue
        other = slugs.setdefault(page.slug, rel)
        if other != rel:
            problems.append(Problem(rel, 0, "slug", f"{page.slug!r} is also the slug of {other}; "
                                    "give one of them another slug (or rename the file)"))
            continue
        pages.append(page)
    # As the indexes file tags and reviewers: "À propos" before "Contact", not after z.
    pages.sort(key=lambda p: (p.weight, collation_key(p.title), p.slug))
    return tuple(pages), problems, warnings
