"""Front matter: the YAML block between two ``---`` lines, read without YAML's guesses.

The YAML is composed, never constructed: PyYAML's parser (the C one where available) with the
resolver cut to one lookup, so every scalar stays the string the editor wrote and the schema
(``schema.py``) types each field. Plain values that YAML misreads (``title: Alien: Romulus``,
``summary: *Alien* returns``, ``title: Number #9 Dream``) are reported with the quoting that fixes
them, then quoted, so that the remaining fields are still checked.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
import yaml.composer
import yaml.parser
import yaml.reader
import yaml.scanner

from ..errors import Problem
from ..text import (
    BIDI_CHARS,
    ILLEGAL_CHARS,
    normalise_spaces,
    one_line,
    remove_bidi_controls,
    remove_control_chars,
)


class _PurePythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                        yaml.composer.Composer):
    """PyYAML's own composer, where libyaml (the C one, several times faster) is missing."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)


try:  # the C parser is several times faster; libyaml is present in our environments
    import yaml.cyaml
except ImportError:  # pragma: no cover
    _Parser: type = _PurePythonParser
else:
    _Parser = yaml.cyaml.CParser  # type: ignore[attr-defined]  # stubs do not re-export it

_KIND_TAGS = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


class _Loader(_Parser):  # type: ignore[misc]  # the parser is chosen at import time
    """A composer only (as BaseLoader: every scalar a string, nothing constructed), with the
    resolver cut to one lookup: our schema types the values, never YAML's implicit rules."""

    def resolve(self, kind: type, value: object, implicit: object) -> str:
        return _KIND_TAGS[kind]

    # The composer calls these two around every node (some 30 a front matter) and ignores what
    # they return: C functions that take the same arguments and do nothing else are called
    # without a Python frame (as Python no-ops they were 3 % of parsing a source, by callgrind).
    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)


def _compose_yaml(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()

#: A review's front matter is a few dozen lines. Anything longer is a mistake (a misplaced
#: closing '---'), or hostile: front matter is refused past this many lines, before YAML reads
#: it, so that no source can hold the run lock for long.
MAX_FRONT_MATTER_LINES = 2000
#: Values YAML misreads are quoted and the YAML read again, once per such value: at most this
#: many times (each reading is linear in the front matter, so a file cannot make it quadratic;
#: the problems found so far are reported, and the rest once those are fixed).
MAX_YAML_FIXES = 25

# The closing line, '---' or '...', found from the line break before it: a pattern that starts
# with a literal character is searched for that character, one that starts with '^' is tried
# at every position (ten times slower).
_FRONT_MATTER_END = re.compile(r"\n((?:---|\.\.\.)[ \t]*\r?)$", re.MULTILINE)
# A field's line and a list item's: their values run to the end of the line, without trailing
# white space (rstrip's is the pattern's \s). Taken whole and stripped: a lazy value followed by
# "\s*$" tries the end at every character (14 µs for an 80-character summary).
_TOP_KEY = re.compile(r"(\s*)([A-Za-z_][\w-]*)\s*:\s+(.*)")
_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][\w-]*)\s*:(?:\s|$)(.*)")
_LIST_ITEM = re.compile(r"(\s*-\s+)(.*)")
#: The first line of a Pelican source: one of its metadata fields, capitalised as it writes them.
_PELICAN_HEADER = re.compile(r"(?:Title|Date|Author|Authors|Category|Tags|Slug|Summary|Modified|"
                             r"Status|Lang|Template):\s")


#: Fields of Hugo's and Pelican's front matter that publisher names otherwise (or has not):
#: name in lower case -> (publisher's field, the hint). A migrated source gets the hint
#: rather than "did you mean 'tags'?" for images or a list of every field.
FOREIGN_FIELDS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("lastmod", "modified"), (
        "updated", "the time of the last change is 'updated' here; write 'updated:'")),
    **dict.fromkeys(("author", "authors"), (
        "reviewer", "the review's author is 'reviewer' here (one name); write 'reviewer:'")),
    "description": ("summary", "the line that sells the review is 'summary' here; write "
                               "'summary:'"),
    **dict.fromkeys(("publishdate", "pubdate"), (
        "date", "a review is published at its 'date' (a later one schedules it); keep one "
                "'date:' and remove this line")),
    **dict.fromkeys(("categories", "category", "keywords"), (
        "tags", "publisher has tags only; move these into 'tags:' or remove the line")),
    **dict.fromkeys(("images", "image", "cover", "featured_image"), (
        "poster", "a review's image is its 'poster' (one path under static/ or a URL, with "
                  "'poster_alt'); write 'poster:'")),
    "status": ("draft", "write 'draft: true' for a draft; a published review needs no line"),
}


class Collector:
    """Problems and warnings found in one file."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, line: int, field_name: str, message: str) -> None:
        self.problems.append(Problem(self.path, line, field_name, message))

    def warn(self, line: int, field_name: str, message: str) -> None:
        self.warnings.append(Problem(self.path, line, field_name, message))


def node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"


def _flow_text(node: yaml.Node) -> str | None:
    """The text of a one-line flow list or mapping of plain values (``[REC]``), as written
    give or take spacing; None for anything else."""
    if not getattr(node, "flow_style", False) or node.start_mark.line != node.end_mark.line:
        return None
    if isinstance(node, yaml.SequenceNode):
        items = node.value
        if all(isinstance(i, yaml.ScalarNode) for i in items):
            return "[" + ", ".join(i.value for i in items) + "]"
    elif isinstance(node, yaml.MappingNode):
        pairs = node.value
        if all(isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
               for k, v in pairs):
            return "{" + ", ".join(f"{k.value}: {v.value}" if v.value else k.value
                                   for k, v in pairs) + "}"
    return None


def _hint(key: str, known: Sequence[str], nested: Mapping[str, Sequence[str]] | None,
          prefix: str, outer: Sequence[str] = ()) -> str:
    """What to write instead of ``key``, a field name not in ``known``; ``outer``: the fields
    of the mapping around this one (``prefix`` names it), where ``key`` may belong."""
    if key in outer:  # "rating:" or "trailer:" indented under film:
        return (f"did you mean '{key}'? (it does not belong under {prefix.rstrip('.')}: write "
                "it without the indent)")
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    home = next((group for group, members in (nested or {}).items() if key in members), None)
    foreign = FOREIGN_FIELDS.get(key.lower()) if not prefix else None
    if foreign is not None and foreign[0] in known:
        return foreign[1]
    if home is not None:
        return f"did you mean '{prefix}{home}.{key}'? (indent it under {home}:)"
    if close:
        return f"did you mean '{prefix}{close[0]}'?"
    return "known fields: " + ", ".join(known)


class Fields:
    """The front matter's mapping node, read field by field with line numbers."""

    def __init__(self, node: yaml.MappingNode, offset: int, out: Collector, prefix: str,
                 known: Sequence[str], nested: Mapping[str, Sequence[str]] | None = None,
                 outer: Sequence[str] = ()):
        """``known``: the field names allowed here; ``nested``: fields that belong under one of
        them (``{"film": ("year", ...)}``), named in the hint when written at this level;
        ``outer``: those of the mapping this one is under, named when written here."""
        self.known = known
        self.offset = offset
        self.out = out
        self.prefix = prefix
        self.nodes: dict[str, yaml.Node] = {}
        self.lines: dict[str, int] = {}
        self.texts: dict[str, str | None] = {}
        nodes, lines = self.nodes, self.lines
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + offset
            if not isinstance(key_node, yaml.ScalarNode):
                out.error(line, prefix.rstrip("."), "a field name must be a plain word")
                continue
            key = key_node.value
            if key in nodes:
                out.error(line, prefix + key, f"given twice (first on line {lines[key]}); "
                                              "keep one")
                continue
            if key not in known:  # one scan of the names for each field that is known
                if key.lower() in known and key.lower() not in nodes:
                    # "Title:" (a capital, as word processors and some exports write it): one
                    # error, and the value still read, so that no "title: missing" follows it.
                    out.error(line, prefix + key,
                              f"field names are lower case; write '{key.lower()}:'")
                    key = key.lower()
                else:
                    out.error(line, prefix + key,
                              f"unknown field; {_hint(key, known, nested, prefix, outer)}")
                    continue
            nodes[key] = value_node
            lines[key] = line

    def line(self, key: str, default: int = 1) -> int:
        return self.lines.get(key, default)

    def text(self, key: str) -> str | None:
        """A scalar field as cleaned text; None when absent or empty (each problem reported
        once, however often the field is read)."""
        texts = self.texts
        if key in texts:
            return texts[key]
        node = self.nodes.get(key)
        # The common case inline: a value without controls, odd spaces or line breaks.
        if node is None:
            value = None
        elif isinstance(node, yaml.ScalarNode) and node.value.isprintable():
            value = " ".join(node.value.split()) or None
        else:
            value = self._text(key)
        texts[key] = value
        return value

    def _text(self, key: str) -> str | None:
        """``text`` for a value that is not a printable scalar (the field is there)."""
        node = self.nodes[key]
        if not isinstance(node, yaml.ScalarNode):
            hint = ""
            written = _flow_text(node)
            if written is not None:  # title: [REC] is a list to YAML
                hint = (f"; if the brackets belong to the value, quote it: "
                        f"{key}: {_quoted(written)}")
            self.out.error(self.line(key), self.prefix + key,
                           f"expected a single value, got {node_kind(node)}{hint}")
            return None
        # ``text`` has read a printable value already: here, what may need cleaning.
        value, removed = remove_control_chars(node.value)
        if removed:
            self.out.warn(self.line(key), self.prefix + key,
                          f"removed {removed} control character{'s' if removed > 1 else ''} "
                          "that XML cannot carry")
        value = one_line(value)
        return value or None

    def text_list(self, key: str) -> tuple[str, ...] | None:
        """A list of text values, or one comma-separated line."""
        node = self.nodes.get(key)
        if node is None:
            return None
        if isinstance(node, yaml.ScalarNode):
            items = [one_line(v) for v in node.value.split(",")]
        elif isinstance(node, yaml.SequenceNode):
            items = []
            for item in node.value:
                if not isinstance(item, yaml.ScalarNode):
                    self.out.error(item.start_mark.line + self.offset, self.prefix + key,
                                   f"expected a list of names, got {node_kind(item)} in it")
                    return None
                value = item.value
                # one_line's common case inline: nothing to remove, no line breaks.
                items.append(" ".join(value.split()) if value.isprintable() else one_line(value))
        else:
            self.out.error(self.line(key), self.prefix + key,
                           "expected a list, e.g. [a, b], got a mapping")
            return None
        return tuple(dict.fromkeys(filter(None, items)))

    def mapping(self, key: str, known: Sequence[str]) -> Fields | None:
        node = self.nodes.get(key)
        if node is None or not isinstance(node, yaml.MappingNode):
            return None
        return Fields(node, self.offset, self.out, self.prefix + key + ".", known,
                      outer=self.known)



def split_front_matter(text: str, out: Collector) -> tuple[str, str, int] | None:
    """(front matter, body, line number of the body's first line), or None with a problem."""
    newline = text.find("\n")
    first = text if newline == -1 else text[:newline]
    if first.rstrip() != "---":
        # Sources copied from Hugo (TOML between '+++' lines) or Pelican (a header of
        # 'Title: ...' lines, no fences) have front matter, just not YAML: say what to change.
        if first.rstrip() == "+++":
            out.error(1, "", "front matter in TOML (between '+++' lines, as Hugo writes it); "
                             "publisher reads YAML between '---' lines: write '---' for each "
                             "'+++' and each 'key = value' as 'key: value'")
        elif _PELICAN_HEADER.match(first):
            out.error(1, "", "a metadata header without '---' lines (as Pelican writes it); "
                             "add a line '---' above it and another below its last field, "
                             "and write field names in lower case ('Title:' as 'title:')")
        else:
            out.error(1, "", "no front matter; start the file with a line '---', then fields "
                             "such as 'title: ...', then another '---'")
        return None
    # From the first line's own line break: the closing line may be the one right after it.
    match = _FRONT_MATTER_END.search(text, newline) if newline != -1 else None
    if match is None:
        out.error(1, "", "front matter is not closed; add a line '---' after the last field")
        return None
    front = text[newline + 1: match.start(1)]
    lines = front.count("\n")
    if lines > MAX_FRONT_MATTER_LINES:
        out.error(1, "", f"front matter is {lines} lines long, more than the "
                         f"{MAX_FRONT_MATTER_LINES} publisher reads; a review has a few dozen "
                         "fields at most (is the closing '---' in the right place?)")
        return None
    # The closing line ends at a line break or the end of the text (its "\r" is in the match):
    # the body starts after that break.
    body = text[match.end() + 1:]
    body_line = 2 + lines + 1
    return front, body, body_line


_YAML_TRAPS = (
    ("mapping values are not allowed", "the value contains ': ', which YAML reads as a new "
                                       "field"),
    ("alias", "a value starting with '*' is read as a YAML alias"),
    ("anchor", "a value starting with '&' is read as a YAML anchor"),
    ("cannot start any token", "a value starting with '@', '`', '%' or a tab is not allowed "
                               "unquoted in YAML"),
    ("tag", "a value starting with '!' is read as a YAML tag"),
    ("did not find expected key", "text after a closing quote is not allowed"),
)
# Valid YAML that would silently drop part of a value: anchors (&x), aliases (*x), tags (!x).
_SILENT_TRAPS = {"&": _YAML_TRAPS[2][1], "*": _YAML_TRAPS[1][1], "!": _YAML_TRAPS[4][1]}
# Text fields where " #" starts a YAML comment that would silently cut the text short
# ("title: Number #9 Dream" is "Number"); elsewhere a trailing comment is fine.
_TEXT_KEYS = frozenset({"title", "reviewer", "summary", "availability", "poster_alt",
                        "director", "classification", "alt"})


def _comment_trap(key: str, value: str) -> str | None:
    """Why a plain text value loses its end to a YAML comment, or None."""
    if key not in _TEXT_KEYS or not value or value[0] in "\"'|>[{":
        return None
    if value.startswith("#"):
        return "a value starting with '#' is read as a YAML comment, leaving the field empty"
    if " #" in value or "\t#" in value:
        return ("the text from ' #' on is read as a YAML comment and dropped (a comment "
                "belongs on a line of its own)")
    return None


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dotted(lines: list[str], index: int) -> str:
    """The dotted field name (``film.director``) of the line at ``index``: its own key (or the
    key of the list it is an item of) under each enclosing ``key:`` that opens a mapping."""
    names: list[str] = []
    width = None
    for i in range(min(index, len(lines) - 1), -1, -1):
        match = _KEY_LINE.match(lines[i])
        if match is None:
            continue
        indent = len(match.group(1))
        if width is None:
            names.append(match.group(2))
            width = indent
        elif indent < width:
            if match.group(3).split("#")[0].strip():
                break  # a field with a value on its line encloses nothing
            names.append(match.group(2))
            width = indent
        if width == 0:
            break
    return ".".join(reversed(names))


def front_matter_mapping(text: str, out: Collector, *, expected: str, clean: bool = False
                         ) -> tuple[yaml.MappingNode, str, int] | None:
    """A source's front matter composed as a mapping, its body and the body's first line
    number; None when there is none to read, each problem in ``out``. ``expected`` names the
    fields an empty front matter lacks ("title, date and reviewer"); ``clean``: ``text`` is
    known to hold none of SUSPECT_CHARS (``text.surely_clean``), so nothing to remove."""
    split = split_front_matter(text, out)
    if split is None:
        return None
    front, body, body_line = split
    if not clean:
        # A non-breaking space pasted after "reviewer:" would make the line invalid YAML;
        # every text value has its odd spaces made plain anyway.
        front = normalise_spaces(remove_front_matter_controls(front, out))
    node = compose_front_matter(front, out)
    if node is None:
        if not out.problems:  # else the YAML's own problem says it
            out.error(2, "", f"front matter is empty; expected fields such as {expected}")
        return None
    if not isinstance(node, yaml.MappingNode):
        out.error(node.start_mark.line + 2, "", f"front matter must be fields such as "
                                                f"'title: ...', got {node_kind(node)}")
        return None
    return node, body, body_line


def _may_hold_trap(text: str) -> bool:
    """Whether ``text`` holds a character one of the traps below starts at (a line without
    one has none)."""
    return "&" in text or "*" in text or "!" in text or "#" in text


def _field_line(line: str) -> tuple[str, str, str] | None:
    """(indentation, key, value) of a line holding a field and its value, or None."""
    match = _TOP_KEY.match(line)
    if match is None:
        return None
    indent, key, value = match.groups()
    return indent, key, value.rstrip()


def _list_item(line: str) -> tuple[str, str] | None:
    """(indentation and dash, value) of a list item's line, or None."""
    match = _LIST_ITEM.match(line)
    return None if match is None else (match[1], match[2].rstrip())


def compose_front_matter(front: str, out: Collector) -> yaml.Node | None:
    """Compose the YAML. A plain value that YAML misreads (``title: Alien: Romulus``,
    ``summary: *Alien* returns``) is reported with the fix, then quoted so that the remaining
    fields are still checked."""
    # The lines, as given and with the values quoted so far: split only for a front matter
    # that may hold a trap, or that YAML refuses.
    given: list[str] = []
    lines: list[str] = []
    if _may_hold_trap(front):
        given = front.split("\n")
        lines = list(given)
    for index, line in enumerate(given):
        if not _may_hold_trap(line):
            continue
        field = _field_line(line)
        if field:
            indent, key, value = field
            comment = _comment_trap(key, value)
            if comment:
                out.error(index + 2, _dotted(lines, index),
                          f"{comment}; quote the whole value: {key}: {_quoted(value)}")
                lines[index] = f"{indent}{key}: {_quoted(value)}"
            elif value[:1] in _SILENT_TRAPS:
                out.error(index + 2, _dotted(lines, index),
                          f"{_SILENT_TRAPS[value[0]]}; quote the whole value: {key}: "
                          f"{_quoted(value)}")
                lines[index] = f"{indent}{key}: {_quoted(value)}"
            continue  # a field's line is no list item
        item = _list_item(line)
        if item and item[1][:1] in _SILENT_TRAPS:
            dash, value = item
            out.error(index + 2, _dotted(lines, index),
                      f"{_SILENT_TRAPS[value[0]]}; quote the whole item: - {_quoted(value)}")
            lines[index] = f"{dash}{_quoted(value)}"
    text = front if lines == given else "\n".join(lines)
    for attempt in range(MAX_YAML_FIXES + 1):
        try:
            return _compose_yaml(text)
        except yaml.MarkedYAMLError as exc:
            if not given:
                given = front.split("\n")
                lines = list(given)
            mark = exc.problem_mark
            problem = exc.problem or "invalid"
            index = mark.line if mark is not None else 0
            line_no = index + 2
            current = lines[index] if index < len(lines) else ""
            # A tab in a line's indentation is the whole problem, whatever YAML calls it;
            # quoting the value (the trap's advice) would leave the tab where it is.
            indent = current[: len(current) - len(current.lstrip(" \t"))]
            if "\t" in indent and mark is not None and mark.column <= len(indent):
                out.error(line_no, _dotted(lines, index),
                          "a tab indents this line, and YAML indents with spaces only; "
                          "replace the tab with spaces")
                return None
            field = _field_line(current)
            trap = next((why for needle, why in _YAML_TRAPS
                         if needle in problem or needle in (exc.context or "")), None)
            if field and trap:
                indent, key, value = field
                quoted_start = "expected key" in problem
                misread = ": " in value or value.endswith(":") or "mapping values" not in problem
                # A line quoted already and still refused is reported as it is: quoted again,
                # it would escape the last quoting (doubling in length every time).
                if (value and misread and lines[index] == given[index]
                        and (quoted_start or value[0] not in "\"'[{|>")):
                    if attempt == MAX_YAML_FIXES:
                        out.error(line_no, _dotted(lines, index),
                                  f"{trap}; and more values like it: stopped after "
                                  f"{MAX_YAML_FIXES} of them; quote those, then check again")
                        return None
                    out.error(line_no, _dotted(lines, index),
                              f"{trap}; quote the whole value: {key}: {_quoted(value)}")
                    lines[index] = f"{indent}{key}: {_quoted(value)}"
                    text = "\n".join(lines)
                    continue
            if exc.context_mark is not None and exc.context_mark.line < index and \
                    "block mapping" not in (exc.context or ""):
                index = exc.context_mark.line  # where the unclosed list or quote began
                line_no = index + 2
            context = f" {exc.context}:" if exc.context else ""
            out.error(line_no, _dotted(lines, index),
                      f"front matter is not valid YAML:{context} {problem}; check quoting and "
                      "indentation")
            return None
        except yaml.YAMLError as exc:  # pragma: no cover - errors without a position
            out.error(1, "", f"front matter is not valid YAML: {exc}")
            return None
    return None  # pragma: no cover  # the last attempt returns above


def remove_front_matter_controls(front: str, out: Collector) -> str:
    """YAML refuses control characters outright, and bidi controls make a title read
    backwards: remove both, with a warning per line."""
    # Both kinds are unprintable: a front matter that is printable but for its line breaks (as
    # nearly all are) holds neither, which one str scan tells faster than the two patterns.
    if front.replace("\n", "").isprintable() or not (ILLEGAL_CHARS.search(front)
                                                      or BIDI_CHARS.search(front)):
        return front
    lines = front.split("\n")
    for index, line in enumerate(lines):
        cleaned, removed = remove_control_chars(line)
        if removed:
            out.warn(index + 2, _dotted(lines, index),
                     f"removed {removed} control character{'s' if removed > 1 else ''} that "
                     "XML cannot carry")
        cleaned, bidi = remove_bidi_controls(cleaned)
        if bidi:
            out.warn(index + 2, _dotted(lines, index), bidi_warning(bidi))
        lines[index] = cleaned
    return "\n".join(lines)


def bidi_warning(count: int) -> str:
    return (f"removed {count} bidi control character{'s' if count > 1 else ''} (they can make "
            "text read backwards)")



def read_scalars(text: str) -> dict[str, str]:
    """The top-level plain values of a source's front matter (``id``, ``slug``, ...), and those
    of its top-level mappings by dotted name (``film.year``), read as the loader reads them;
    empty when the file has no readable front matter. For tools that need one field of an
    existing review (the importer), not for validation."""
    out = Collector("")
    split = split_front_matter(text.removeprefix("\ufeff"), out)
    if split is None:
        return {}
    node = compose_front_matter(normalise_spaces(split[0]), out)
    if not isinstance(node, yaml.MappingNode):
        return {}
    found: dict[str, str] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if isinstance(value, yaml.ScalarNode):
            found[key.value] = one_line(value.value)
        elif isinstance(value, yaml.MappingNode):
            found.update((f"{key.value}.{inner.value}", one_line(scalar.value))
                         for inner, scalar in value.value
                         if isinstance(inner, yaml.ScalarNode)
                         and isinstance(scalar, yaml.ScalarNode))
    return found


#: Endings of files that an editor meant as sources (Hugo and Pelican read .markdown too) but
#: that publisher does not read: each is named in a warning rather than silently left out.
NEAR_MISSES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdwn", ".txt", ".text")


def unread_source(path: str) -> Problem:
    """The warning for ``path``, a file ending in one of NEAR_MISSES but not in ``.md``."""
    stem = path.rpartition("/")[2].rsplit(".", 1)[0]
    name = (stem[:-3] if stem.lower().endswith(".md") else stem) + ".md"
    return Problem(path, 0, "", f"not read: sources end in .md; rename it {name} (or start "
                                "its name with _ to keep it aside)")


def field_line(path: str, key: str) -> int:
    """The line of a top-level ``key:`` in the front matter (1 if absent), for cross-file
    messages; run only when such a problem is found."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return 1
    pattern = re.compile(rb"^" + re.escape(key.encode()) + rb"\s*:", re.MULTILINE)
    match = pattern.search(data)
    return data.count(b"\n", 0, match.start()) + 1 if match else 1
