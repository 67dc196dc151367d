"""New files from the packaged skeletons: ``publisher init`` writes a publication
(publisher.toml, one sample review and an about page), ``publisher new`` a review to write."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path

import yaml

from ..config import Config, parse_config
from ..errors import PublisherError
from ..files import describe_os_error, write_atomic
from ..text import pasted_line
from .frontmatter import Collector, split_front_matter
from .importer import escape_markdown, parse_date_option, review_slug, slug_owner
from .schema import NEW_REVIEW, derived_id, parse_bytes


def init_publication(directory: Path, *, title: str = "Film Reviews",
                     base_url: str = "https://reviews.example.org/", timezone: str = "UTC",
                     author: str = "Editor", now: datetime | None = None) -> list[Path]:
    """Scaffold a publication in ``directory``: publisher.toml, one sample review dated
    today in the publication's timezone (so it is published at once), an about page to
    write (a draft) and, unless there is one, a .gitignore leaving out the built site.

    Returns the files written. Raises ConfigError for an invalid title, URL or timezone and
    PublisherError rather than overwrite anything; in both cases nothing is written.
    """
    scaffold = resources.files("publisher") / "scaffold"
    names = ("publisher.toml", "reviews/first-review.md", "pages/about.md")
    for name in names:
        if (directory / name).exists():
            raise PublisherError(f"{directory / name}: already exists; not overwriting it")
    values = {
        "{title}": json.dumps(title, ensure_ascii=False),
        "{base_url}": json.dumps(base_url, ensure_ascii=False),
        "{timezone}": json.dumps(timezone, ensure_ascii=False),
        "{author}": json.dumps(author, ensure_ascii=False),
    }

    def fill(name: str) -> str:
        template = (scaffold / name).read_text(encoding="utf-8")
        return re.sub(r"\{(?:title|base_url|timezone|author|date)\}",
                      lambda m: values[m.group(0)], template)

    config_text = fill("publisher.toml")
    config = parse_config(config_text, root=directory, path=directory / "publisher.toml")
    values["{date}"] = (now or datetime.now(config.tz)).astimezone(config.tz).date().isoformat()
    texts = {names[0]: config_text, **{name: fill(name) for name in names[1:]}}
    written: list[Path] = []
    for name, text in texts.items():
        write_atomic(directory / name, text.encode("utf-8"))
        written.append(directory / name)
    # The built site stays out of git: a fresh clone's build cannot tell files an earlier
    # build made from files put there by hand (.publisher/ leaves itself out as it is made).
    # An editor's own .gitignore, or one of the repository the publication joins, is theirs.
    ignore = directory / ".gitignore"
    if not ignore.exists():
        write_atomic(ignore, f"# publisher build writes the site here\n/{config.output_dir}/\n"
                     .encode())
        written.append(ignore)
    config.paths.static.mkdir(exist_ok=True)
    return written


def new_review(config: Config, title: str, *, reviewer: str | None = None,
               date: str | None = None, slug: str | None = None,
               now: datetime | None = None) -> Path:
    """Write ``reviews/{slug}.md``: a draft titled ``title`` from the skeleton (the
    publication's templates/new-review.md, else the packaged one), dated ``date`` (default:
    ``now``'s day in the publication's timezone), by ``reviewer`` (default: the publication's
    author), with an id that stays when its date or slug changes. The slug is made from the
    title unless given.

    Raises PublisherError, writing nothing, when the file exists, another review has the slug,
    or the skeleton does not make a review that loads (naming the skeleton and the problem)."""
    title = pasted_line(title)
    if not title:
        raise PublisherError("the title is empty: give the film's title, e.g. publisher new "
                             "\"Alien: Romulus\"")
    try:
        slug = review_slug(title, slug)
    except ValueError as exc:
        raise PublisherError(str(exc)) from None
    today = (now or datetime.now(config.tz)).astimezone(config.tz).date()
    date_text, day = parse_date_option(date) if date is not None else (today.isoformat(), today)
    target = config.reviews_path / f"{slug}.md"
    shown = f"{config.reviews_dir}/{target.name}"
    if target.exists():
        raise PublisherError(f"{shown}: already exists; not overwriting it (choose another "
                             "--slug)")
    owner = slug_owner(config.reviews_path, target, slug)
    if owner is not None:
        where = owner.relative_to(config.reviews_path).as_posix()  # in a folder, maybe
        raise PublisherError(f"{config.reviews_dir}/{where}: already has the slug "
                             f"{slug!r}; choose another with --slug")

    reviewer = pasted_line(reviewer or "") or config.author
    if not reviewer:
        raise PublisherError("who is reviewing? give --reviewer NAME (publisher.toml has no "
                             "author to take by default)")
    data = _from_skeleton(config, shown, {"title": title, "date": date_text,
                                          "id": derived_id(config, day, slug),
                                          "reviewer": reviewer})
    config.reviews_path.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)
    return target


def _from_skeleton(config: Config, shown: str, values: dict[str, str]) -> bytes:
    """The skeleton filled in with ``values``, once it is known to make a review that loads
    (as the file ``shown``); PublisherError naming the problem otherwise. A problem in the
    publication's own skeleton is named at its line there (each placeholder is one line)."""
    own = config.templates_path / NEW_REVIEW
    skeleton = f"{config.templates_dir}/{NEW_REVIEW}" if own.is_file() else ""
    try:
        template = (own.read_text(encoding="utf-8") if skeleton else
                    (resources.files("publisher") / "scaffold" / NEW_REVIEW).read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        why = describe_os_error(exc) if isinstance(exc, OSError) else "is not UTF-8 text"
        raise PublisherError(f"{skeleton or 'publisher’s own skeleton for new reviews'}: "
                             f"{why}") from None
    data = fill_skeleton(template, values).encode("utf-8")
    review, problems, _warnings, _links = parse_bytes(data, skeleton or shown, config)
    if review is None or problems:
        first = str(problems[0]) if problems else f"{skeleton or shown}: does not load"
        if skeleton:
            first += "; publisher new makes reviews from this file, so each must load"
        raise PublisherError(first)
    return data


_PLACEHOLDER = re.compile(r"\{(title|date|reviewer|id)\}")


def fill_skeleton(template: str, values: Mapping[str, str]) -> str:
    """A skeleton for ``publisher new`` with each placeholder ({title}, {date}, {reviewer},
    {id}) filled so that the review reads back each value as given, quotes and all. In the
    front matter a value standing alone is written double-quoted ("Alien: Romulus" and "No"
    stay text); inside quotes (``title: "{title}"``, ``'{title}'``) it is escaped for them;
    inside a longer unquoted value the whole value is double-quoted; in a comment it is as
    given. In the body it is Markdown-escaped text (``M*A*S*H`` stays that)."""
    found = split_front_matter(template.removeprefix("\ufeff"), Collector(NEW_REVIEW))
    if found is None:  # no front matter: the review's parse says so
        return _PLACEHOLDER.sub(lambda m: escape_markdown(values[m.group(1)]), template)
    front, body, _line = found
    start = template.index("\n") + 1  # the front matter runs from the second line
    end = len(template) - len(body)
    return (template[:start] + _fill_front_matter(front, values)
            + template[start + len(front):end]
            + _PLACEHOLDER.sub(lambda m: escape_markdown(values[m.group(1)]), body))


def _fill_front_matter(front: str, values: Mapping[str, str]) -> str:
    """``front`` with its placeholders filled as fill_skeleton says: where each stands is read
    from YAML's own tokens, the placeholders first made plain words (``{title}`` alone is a
    YAML mapping). YAML that does not scan gets each value double-quoted, for the review's
    parse to name the skeleton's own problem."""
    marked = _PLACEHOLDER.sub(r"publisher0placeholder0\g<1>0", front)
    word = re.compile(r"publisher0placeholder0(title|date|reviewer|id)0")

    def as_given(m: re.Match[str]) -> str:
        return values[m.group(1)]

    def double_quoted(m: re.Match[str]) -> str:  # JSON strings are YAML's double-quoted ones
        return json.dumps(values[m.group(1)], ensure_ascii=False)

    try:
        tokens = [t for t in yaml.scan(marked, Loader=yaml.SafeLoader)
                  if isinstance(t, yaml.ScalarToken) and word.search(t.value)]
    except yaml.YAMLError:
        return word.sub(double_quoted, marked)
    out: list[str] = []
    at = 0
    for token in tokens:
        begin, finish = token.start_mark.index, token.end_mark.index
        span = marked[begin:finish]
        if token.plain:
            span = json.dumps(word.sub(as_given, token.value), ensure_ascii=False)
        elif token.style == '"':
            span = word.sub(lambda m: double_quoted(m)[1:-1], span)
        elif token.style == "'":
            span = word.sub(lambda m: as_given(m).replace("'", "''"), span)
        else:  # a block scalar ('|', '>'): its text is the value as given
            span = word.sub(as_given, span)
        out += [word.sub(as_given, marked[at:begin]), span]  # comments between: as given
        at = finish
    return "".join(out) + word.sub(as_given, marked[at:])


def skeleton_problems(config: Config, now: datetime) -> list[str]:
    """For ``publisher check``: why the publication's own skeleton for ``publisher new``
    (templates/new-review.md) would not make a review that loads, filled in as ``publisher
    new "Check"`` would fill it; empty when it would, or when there is none."""
    if not (config.templates_path / NEW_REVIEW).is_file():
        return []
    day = now.astimezone(config.tz).date()
    values = {"title": "Check", "date": day.isoformat(), "reviewer": config.author or "Check",
              "id": derived_id(config, day, "check")}
    try:
        _from_skeleton(config, f"{config.reviews_dir}/check.md", values)
    except PublisherError as exc:
        return [str(exc)]
    return []
