"""The template engine: Jinja producing MJML, HTML, XML or text; MJML compiled with MRML.

Templates are looked up in the publication's ``templates/`` directory first and the packaged
defaults second; ``defaults/<name>`` always names the packaged one (for an override that
extends the default it replaces). Autoescaping is on for everything but ``*.txt.j2`` and
``*.css.j2`` (MJML is XML); review fields are passed as data, so ``{{ … }}`` inside a review
comes out literally, and only HTML that the sources' Markdown renderer has sanitised is passed
in as Markup.

mjml-python's MRML differs from the reference MJML: it raises on ``mj-html-attributes``,
ignores ``mj-raw position="file-start"``, drops ``mj-image sizes`` and ``mj-button title``,
passes unknown tags and attributes silently, and does not inline ``mj-style inline="inline"``
(we inline those rules with css-inline after compiling). ``lint.lint_templates`` reports these
traps.
"""

from __future__ import annotations

import difflib
import os
import re
import textwrap
import xml.parsers.expat
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache, lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import markupsafe
from markupsafe import Markup
from mjml import mjml2html

from ..errors import TemplateError
from ..files import escapes, private_target, shown_from

#: The packaged default templates.
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEXT_WIDTH = 78


# --- Jinja --------------------------------------------------------------------------------


class Fields(SimpleNamespace, Mapping[str, Any]):
    """Named values that a template reads as ``page.title`` or ``page["title"]``.

    Jinja reads ``page.title`` as an attribute first and, for a dict, finds the key only after
    raising and catching an AttributeError: about a microsecond each, thirty times a review
    page. Here the attribute is found at once; and it is a Mapping (``[]``, ``in``, ``get``,
    ``items()``, ``|items``, ``|dictsort``; ``|tojson`` through the environment's policy), so
    templates written against dicts read these unchanged."""

    def __getitem__(self, key: str) -> Any:
        return self.__dict__[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)


def _json_default(value: object) -> object:
    """``|tojson`` of Fields: as the dict it stands for."""
    if isinstance(value, Fields):
        return value.__dict__
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _autoescape(name: str | None) -> bool:
    # MJML, HTML and XML templates escape; the plain-text part and the stylesheet do not (CSS
    # quotes font names, and escaping would make them entities).
    return name is None or not name.endswith((".txt.j2", ".css.j2"))


class _PublicationLoader(jinja2.FileSystemLoader):
    """The publication's templates/, under the rule static/ and reviews/ follow: a symbolic
    link may lead anywhere inside the publication (the folder holding templates/), never out
    of it nor to a hidden file or folder of it (.env, .publisher/). A template is rendered into
    every page, feed and issue: a link committed by mistake (or malice) would publish the file
    it leads to. Raises TemplateError naming the link."""

    def __init__(self, templates_path: Path) -> None:
        super().__init__(str(templates_path))
        self._root = templates_path.parent.resolve()

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        path = Path(filename)
        target = escapes(path, [self._root]) or private_target(path, self._root)
        if target is not None:
            raise TemplateError(
                f"{shown_from(path, self._root)} → {target}: a symbolic link out of the "
                "publication, or to a hidden file of it; publisher never publishes those (it "
                "could be a secret): copy the template into templates/ or remove the link")
        return source, filename, uptodate


class _DefaultsLoader(jinja2.FileSystemLoader):
    """The packaged templates, where the publication has no file of the name: each compiled
    default stays up to date only while that is so. An override written later (as a designer
    does while ``publisher preview`` runs) is read at the next render; Jinja would otherwise
    ask only whether the default's own file changed, and keep rendering the default."""

    def __init__(self, templates_path: Path) -> None:
        super().__init__(str(DEFAULT_TEMPLATES))
        self._templates = templates_path

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        own = self._templates / template
        return source, filename, lambda: uptodate() and not own.is_file()


@lru_cache(maxsize=16)
def _environment(templates_path: Path) -> jinja2.Environment:
    defaults = jinja2.FileSystemLoader(str(DEFAULT_TEMPLATES))
    loader = jinja2.ChoiceLoader([
        _PublicationLoader(templates_path),
        _DefaultsLoader(templates_path),
        # "defaults/<name>" is always the packaged template, so that an override can extend
        # the default of the same name and change one block.
        jinja2.PrefixLoader({"defaults": defaults}),
    ])
    env = jinja2.Environment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
    return env


try:
    # markupsafe's own escaping of a str, without wrapping the result in Markup: escape() is
    # this and Markup(), whose __new__ asks the str for __html__ (a failed hasattr, about
    # 1 µs). A private name of markupsafe (3.0): tests/render/test_engine.py checks it.
    _escape_str: Callable[[str], str] = markupsafe._escape_inner  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - another markupsafe: the public, slower way
    def _escape_str(text: str) -> str:
        return str(markupsafe.escape(text))


def escape_output(value: object) -> str:
    """``str(markupsafe.escape(value))``, in a tenth of the time for a str or Markup: what an
    autoescaping template writes for each ``{{ … }}``, and a value in words put in HTML."""
    if type(value) is str:
        return _escape_str(value)
    if type(value) is Markup:  # its __html__ is itself
        return value
    if type(value) is int:  # a year, a running time: digits, nothing to escape
        return str(value)
    return markupsafe.escape(value)


def safe_text(text: str) -> Markup:
    """``Markup(text)`` for a str already HTML (or JSON for a script), without Markup's
    question to it for an ``__html__`` method: a failed hasattr, half the cost of the call.
    Markup is a str subclass with no state of its own (markupsafe 3.0, ``__slots__ = ()``):
    tests/render/test_engine.py checks that the two are equal."""
    return str.__new__(Markup, text)


class OutputTemplate(jinja2.Template):
    """A template that writes each ``{{ … }}`` with ``escape_output``: the same text as
    Jinja's ``escape``, which a review page calls about seventy times (a sixth of its time).

    Jinja's compiled template calls the module-level name ``escape`` (imported from
    jinja2.runtime into the template's own namespace) only on what a ``{{ … }}`` writes, and
    what it writes is only ever joined into the page, a block, a macro's or a ``{% set %}``'s
    text (each turned into Markup whole): so a str there is the same text as a Markup. That is
    Jinja's generated code (3.1), not its documented API; tests/render/test_engine.py renders
    through both and checks that ``escape`` is still the name it calls."""

    @classmethod
    def from_code(cls, environment: jinja2.Environment, code: Any,
                  globals: Any, uptodate: Callable[[], bool] | None = None) -> jinja2.Template:
        template = super().from_code(environment, code, globals, uptodate)
        namespace = template.root_render_func.__globals__
        if namespace.get("escape") is markupsafe.escape:
            namespace["escape"] = escape_output
        return template


def template_environment(templates: Path) -> jinja2.Environment:
    """The Jinja environment for a publication: its ``templates`` directory first, the packaged
    defaults second."""
    return _environment(templates.resolve())


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


_JINJA = os.path.dirname(jinja2.__file__) + os.sep


def template_fault(exc: BaseException) -> str | None:
    """'file.j2:LINE' when ``exc`` was raised by a template's own expression (``1 / 0``, a
    filter given a value it cannot take): the innermost frame outside Jinja is the template's.
    None when it was raised by publisher's code (a bug, for its traceback)."""
    innermost = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith(_JINJA):
            innermost = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    filename = innermost.rpartition(":")[0]
    return innermost if filename.endswith(".j2") or filename == "<template>" else None


def fault_text(exc: BaseException) -> str:
    """What went wrong, in words: "division by zero" also for decimal's DivisionByZero, whose
    own text is a list of classes."""
    text = str(exc)
    if text.startswith("[<class "):
        return re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()
    return text or type(exc).__name__


def _given(exc: jinja2.TemplateError, name: str, context: Mapping[str, Any]) -> str:
    """"; review.html.j2 is given body, card, …" when a template read a name it is not given
    (one another tool gives, say): what it could read instead."""
    if not isinstance(exc, jinja2.UndefinedError) \
            or not (exc.message or "").endswith(" is undefined"):
        return ""
    return f"; {name} is given {', '.join(sorted(context))}"


def _lacking(exc: jinja2.TemplateError, templates: Path) -> str | None:
    """When ``exc`` is a template reading a name that a template of the publication's it
    imports does not set (a ``_palette.j2`` setting only the colours it changes), that file's
    line (``unset_names``): Jinja names the reading line, in publisher's own files, as
    "'TemplateModule object' has no attribute"."""
    if not isinstance(exc, jinja2.UndefinedError) \
            or "TemplateModule object' has no attribute" not in (exc.message or ""):
        return None
    unset = unset_names(templates)
    return unset[0] if unset else None


def render_template(templates: Path, name: str, context: Mapping[str, Any]) -> str:
    """Render one template; any Jinja error becomes a TemplateError naming file and line (or,
    for a name an imported template of the publication's lacks, that template: ``_lacking``)."""
    env = template_environment(templates)
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        # Missing from an include, an import or an extends: the line that names it, too.
        where = _template_location(exc) if exc.name != name else ""
        raise TemplateError(
            f"{where + ': ' if where else ''}template {exc.name!r} not found in {templates} or "
            "the defaults"
        ) from None
    except jinja2.TemplateError as exc:
        lacking = _lacking(exc, templates)
        if lacking is not None:
            raise TemplateError(lacking) from None
        where = _template_location(exc) or name
        raise TemplateError(f"{where}: {exc.message or exc}{_given(exc, name, context)}"
                            ) from None
    except RecursionError:
        raise TemplateError(
            f"{name}: the templates in {templates} extend or include each other "
            f"in a loop; to extend the default of the same name, write "
            f"{{% extends \"defaults/<name>\" %}}"
        ) from None
    except Exception as exc:
        fault = template_fault(exc)
        if fault is None or isinstance(exc, MemoryError):  # not the template's doing
            raise
        raise TemplateError(f"{fault}: {fault_text(exc)}") from None


def first_override(templates: Path, names: Sequence[str]) -> str:
    """The first of the templates ``names`` that the publication overrides (where to look
    for what went wrong in what they render together), else the first name."""
    found = [template_file(templates, name) for name in names]
    return next((file for file, name in zip(found, names, strict=True) if file != name),
                names[0])


def template_file(templates: Path, name: str) -> str:
    """Where the template ``name`` comes from, as an error names it: the publication's file
    when it overrides the default, else the name."""
    own = templates / name
    return str(own) if own.is_file() else name


def no_unsubscribe_link(template: str, part: str, carrier: str) -> TemplateError:
    """The error for a message's ``part`` ("the digest's HTML") made by ``template`` (an
    override that left the link out) without the unsubscribe link that ``carrier`` ("every
    issue", "list mail") must show."""
    return TemplateError(
        f"{template}: the {part} has no unsubscribe link, which {carrier} must carry "
        "(CAN-SPAM, PECR; Gmail and Yahoo ask it of bulk senders); write {{ unsubscribe_url }} "
        "in it, as the default does")


def refuse_malformed_xml(text: str, *, output: str, template: str) -> None:
    """TemplateError naming ``template`` when ``text``, the file ``output`` it renders, is not
    well-formed XML (a browser shows such a document as an error, or nothing): where the parser
    stopped, in the rendered text, since a template's lines are not the output's."""
    try:
        xml.parsers.expat.ParserCreate().Parse(text.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError as exc:
        line = text.splitlines()[exc.lineno - 1] if exc.lineno <= len(text.splitlines()) else ""
        start = line.rfind("<", 0, exc.offset + 1)  # the tag the parser stopped in
        near = line[max(start, 0):max(start, 0) + 40].strip()
        raise TemplateError(
            f"{template}: {output} is not well-formed XML "
            f"({xml.parsers.expat.ErrorString(exc.code)} at its line {exc.lineno}, column "
            f"{exc.offset}: {near!r}), so browsers show an error in its place; close every "
            "element (<meta …/>, <br/>) and write & as &amp;") from None


# --- blocks that nothing shows ----------------------------------------------------------------


_EXTENDS = re.compile(r"""\{%-?\s*extends\s+(["'])(.+?)\1""")


def _source(env: jinja2.Environment, name: str) -> tuple[str, str] | None:
    """The source of the template ``name`` resolves to and its file; None when there is none
    (rendering says so, with the line that names it)."""
    assert env.loader is not None
    try:
        source, filename, _ = env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        return None
    return source, filename or name


def _top_blocks(node: jinja2.nodes.Node) -> Iterator[jinja2.nodes.Block]:
    """The blocks of a template not inside another block: those its parent must show."""
    for child in node.iter_child_nodes():
        if isinstance(child, jinja2.nodes.Block):
            yield child
        else:
            yield from _top_blocks(child)


def _shown(tree: jinja2.nodes.Template) -> set[str]:
    """The blocks a template shows: its own, and those it calls as ``self.name()``."""
    names = {block.name for block in tree.find_all(jinja2.nodes.Block)}
    names.update(node.attr for node in tree.find_all(jinja2.nodes.Getattr)
                 if isinstance(node.node, jinja2.nodes.Name) and node.node.name == "self")
    return names


def _listed(names: list[str]) -> str:
    """"a, b and c", or "a, b, c and 5 more": names in one line."""
    if len(names) <= 3:
        return (", ".join(names[:-1]) + " and " if len(names) > 1 else "") + names[-1]
    return f"{', '.join(names[:3])} and {len(names) - 3} more"


def _overridden(templates: Path) -> tuple[Path, jinja2.Environment, list[str]] | None:
    """For the checks that read the publication's templates with the packaged ones: its
    folder resolved, the environment and the name of every template; None when it overrides
    none (nothing of its own to check)."""
    own = templates.resolve()
    if not own.is_dir() or not any(own.rglob("*.j2")):
        return None
    names = sorted({p.relative_to(root).as_posix()
                    for root in (own, DEFAULT_TEMPLATES) for p in root.rglob("*.j2")})
    return own, template_environment(templates), names


def lost_blocks(templates: Path) -> list[str]:
    """One line for each block a template fills that the templates it extends never show,
    where one of them is the publication's own: Jinja drops such a block without a word, so a
    misspelled block name in an override, or a layout of one's own without the block that
    every page fills (``main``), would publish pages without it. Raises TemplateError for a
    symbolic link that leads out of the publication."""
    if (overridden := _overridden(templates)) is None:
        return []
    own, env, names = overridden
    lines: list[str] = []
    missing: dict[tuple[str, str], list[str]] = {}  # (own layout, block): templates filling it
    sources: dict[str, tuple[str, str] | None] = {}  # each read once: a layout is many's parent
    trees: dict[str, jinja2.nodes.Template] = {}
    for name in names:
        chain: list[tuple[str, str, str]] = []  # (name, source, file), the template first
        parent: str | None = name
        while parent is not None and parent not in {link[0] for link in chain}:
            if parent not in sources:
                sources[parent] = _source(env, parent)
            found = sources[parent]
            if found is None:
                break
            chain.append((parent, *found))
            extends = _EXTENDS.search(found[0])
            parent = extends.group(2) if extends else None
        mine = [Path(filename).is_relative_to(own) for _, _, filename in chain]
        if len(chain) < 2 or not any(mine):
            continue  # extends nothing, or only packaged templates: tested with publisher
        try:
            # Parsed only here (a few milliseconds each): most chains hold none of ours.
            for link_name, source, filename in chain:
                if link_name not in trees:
                    trees[link_name] = env.parse(source, name=link_name, filename=filename)
        except jinja2.TemplateSyntaxError:
            continue  # rendering names it, with its line
        for i, (child, _, filename) in enumerate(chain[:-1]):
            shown = set().union(*(_shown(trees[link[0]]) for link in chain[i + 1:]))
            for block in _top_blocks(trees[child]):
                if block.name in shown:
                    continue
                if mine[i]:
                    near = difflib.get_close_matches(block.name, sorted(shown), n=1)
                    lines.append(
                        f"{filename}:{block.lineno}: block {block.name!r} is not a block of "
                        f"{chain[i + 1][0]}, which it extends, so it is never shown; "
                        + (f"did you mean {near[0]!r}?" if near else
                           f"its blocks are {', '.join(sorted(shown))}"))
                elif True in mine[i + 1:]:
                    layout = chain[i + 1 + mine[i + 1:].index(True)][2]
                    missing.setdefault((layout, block.name), []).append(child)
    # The block most templates fill first: a build stops on the first line.
    for (layout, block_name), filling in sorted(missing.items(), key=lambda m: -len(m[1])):
        children = sorted(set(filling))
        one = len(children) == 1
        lines.append(
            f"{layout}: has no {{% block {block_name} %}}, which {_listed(children)} "
            f"{'fills' if one else 'fill'}, so what {'it puts' if one else 'they put'} there "
            f"would never be shown; add {{% block {block_name} %}}{{% endblock %}} where it "
            "goes")
    return list(dict.fromkeys(lines))


_IMPORTS = re.compile(r"""\{%-?\s*import\s+(["'])(.+?)\1\s+as\s+(\w+)""")


def _set_names(tree: jinja2.nodes.Template) -> set[str]:
    """The names a template module exports: what it sets and its macros."""
    names = {node.target.name for node in tree.find_all(jinja2.nodes.Assign)
             if isinstance(node.target, jinja2.nodes.Name)}
    names.update(node.target.name for node in tree.find_all(jinja2.nodes.AssignBlock)
                 if isinstance(node.target, jinja2.nodes.Name))
    return names | {macro.name for macro in tree.find_all(jinja2.nodes.Macro)}


def unset_names(templates: Path) -> list[str]:
    """One line for each of the publication's templates that others import (``{% import
    "_palette.j2" as c %}``) and that sets fewer names than they read (``c.band``): an
    override that sets only the colours it changes. Jinja names the reading template's line,
    in publisher's files, as "'TemplateModule object' has no attribute"."""
    if (overridden := _overridden(templates)) is None:
        return []
    own, env, names = overridden
    set_by: dict[str, tuple[str, set[str]] | None] = {}  # our imported file: (path, names)
    lacking: dict[str, dict[str, str]] = {}  # our file: {name it lacks: the first reader}
    for name in names:
        found = _source(env, name)
        if found is None or not _IMPORTS.search(found[0]):
            continue
        try:
            reader = env.parse(found[0], name=name, filename=found[1])
        except jinja2.TemplateSyntaxError:
            continue  # rendering names it, with its line
        for imported in reader.find_all(jinja2.nodes.Import):
            if not isinstance(imported.template, jinja2.nodes.Const):
                continue
            module = str(imported.template.value)
            if module not in set_by:
                source = _source(env, module)
                set_by[module] = None
                if source is not None and Path(source[1]).is_relative_to(own):
                    try:
                        tree = env.parse(source[0], name=module, filename=source[1])
                    except jinja2.TemplateSyntaxError:
                        continue
                    set_by[module] = (source[1], _set_names(tree))
            mine = set_by[module]
            if mine is None:
                continue
            for use in reader.find_all(jinja2.nodes.Getattr):
                if (isinstance(use.node, jinja2.nodes.Name) and use.node.name == imported.target
                        and use.attr not in mine[1]):
                    lacking.setdefault(mine[0], {}).setdefault(
                        use.attr, f"{name}:{use.lineno} reads {imported.target}.{use.attr}")
    lines = []
    for path, missing in lacking.items():
        unset = sorted(missing)
        module = Path(path).relative_to(own).as_posix()
        lines.append(f"{path}: sets no {_listed([repr(n) for n in unset])}, which the "
                     "templates that import it read "
                     f"({missing[unset[0]]}); set {'it' if len(unset) == 1 else 'them'} too: "
                     f"copy the packaged {module} and change the values you want")
    return lines


# --- compiling --------------------------------------------------------------------------------

_INLINE_STYLE = re.compile(
    r"<mj-style\b[^>]*\binline\s*=\s*[\"']inline[\"'][^>]*>(.*?)</mj-style\s*>", re.S
)


_POSITION = re.compile(r"at position (\d+):(\d+)")


def _near(source: str, message: str) -> str:
    """" (at 'mj-body', line 40 of the MJML it renders, after '…')" for an MRML error giving
    byte offsets into ``source``: what it stumbled on and what came before it (an element left
    open, as often as not), since the offsets are into the rendered MJML, not a template file."""
    found = _POSITION.search(message)
    if not found:
        return ""
    data = source.encode("utf-8")
    start, end = int(found.group(1)), int(found.group(2))
    text = data[start:min(end, start + 60)].decode("utf-8", "replace").strip()
    line = data.count(b"\n", 0, start) + 1
    before = " ".join(data[max(start - 80, 0):start].decode("utf-8", "replace").split())
    return (f" ({f'at {text!r}, ' if text else ''}line {line} of the MJML it renders, after "
            f"{'…' + before!r})")


# MRML writes every attribute value as Rust's Debug formatting does, without the quotes: a
# backslash doubled, tab and newline as \t and \n, and combining marks (Thai, Hindi, an accent
# typed as e + U+0301), ZWJ and VS16 (emoji such as ❤️), soft hyphens and other unprintable
# characters as \u{…}: alt="Poster for ภาพยนตร\u{e4c}". Text between tags is left alone.
_MRML_TAG = re.compile(r"<[A-Za-z][^<>]*\\[^<>]*>")
_MRML_ESCAPE = re.compile(r'\\(?:u\{([0-9a-fA-F]{1,6})\}|([\\"tnr0]))')
_MRML_SHORT = {"\\": "\\", '"': "&quot;", "t": "\t", "n": "\n", "r": "\r", "0": ""}


def _mrml_char(m: re.Match[str]) -> str:
    short = m.group(2)
    return _MRML_SHORT[short] if short is not None else chr(int(m.group(1), 16))


def _unescape_attributes(html: str) -> str:
    """MRML's output with its Debug escapes in attribute values undone (see above)."""
    if "\\" not in html:
        return html
    return _MRML_TAG.sub(lambda tag: _MRML_ESCAPE.sub(_mrml_char, tag.group()), html)


def compile_mjml(source: str, *, name: str = "digest.mjml.j2") -> str:
    """MJML to HTML with mjml-python (MRML), then css-inline for ``mj-style inline="inline"``
    rules, which MRML would otherwise leave in a <style> block. Raises TemplateError naming
    ``name``: the template to look in (``first_override``)."""
    inline_css = "\n".join(m.group(1) for m in _INLINE_STYLE.finditer(source))
    if inline_css:
        source = _INLINE_STYLE.sub("", source)
    try:
        html = mjml2html(source, disable_comments=True)
    except Exception as exc:  # MRML raises plain ValueError/RuntimeError with its message
        raise TemplateError(
            f"{name}: MJML did not compile: {_POSITION.sub('', str(exc)).strip()}"
            f"{_near(source, str(exc))}; close each mj- element where it opens (<mj-text …/> "
            "or <mj-text>…</mj-text>), inside the one MJML allows it in"
        ) from None
    html = _unescape_attributes(html)
    if inline_css:
        import css_inline  # only digests get here: not a cost of every build's start

        inliner = css_inline.CSSInliner(
            inline_style_tags=False, keep_style_tags=True, keep_link_tags=True,
            load_remote_stylesheets=False, extra_css=inline_css,
        )
        html = inliner.inline(html)
    return html


#: East Asian wide characters (Hangul, kana, Han, full-width forms): two columns each.
_WIDE_SET = ("\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff"
             "\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60"
             "\uffe0-\uffe6\U00020000-\U0003fffd")
# Those of them a line may break before and after, as Chinese and Japanese are written without
# spaces (Hangul is written with spaces, and broken there); a run of white space; a word.
_CJK_SET = ("\u2e80-\u303e\u3041-\u312f\u3190-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
            "\ufe30-\ufe4f\uff01-\uff60\uffe0-\uffe6\U00020000-\U0003fffd")


# Compiled when first needed (a line with a wide character): ~3 ms each, for every render.
@cache
def _wide() -> re.Pattern[str]:
    return re.compile(f"[{_WIDE_SET}]")


@cache
def _wrap_pieces() -> re.Pattern[str]:
    return re.compile(f"(\\s+)|([{_CJK_SET}])|[^\\s{_CJK_SET}]+")


# What a line may not begin with (closing punctuation, small kana) or end with (opening
# brackets): the Japanese rules (kinsoku) that mail clients and browsers follow.
_NO_LINE_START = frozenset("、。，．・：；？！ー）」』】〕〉》〙〗"
                           "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々…,.;:!?)]}")
_NO_LINE_END = frozenset("（「『【〔〈《〘〖([{")


def _wrap_wide(line: str, width: int, indent: str) -> list[str]:
    """``line``, which holds wide characters, wrapped at ``width`` columns (each wide
    character two): between words at spaces, and between any two Chinese or Japanese
    characters, never putting a space between them. A word too long for a line keeps it."""
    # Each piece: its text, its columns, whether a space precedes it, whether a line may break
    # before it.
    pieces: list[tuple[str, int, bool, bool]] = []
    spaced = False
    after_cjk = False
    for match in _wrap_pieces().finditer(line, len(indent)):
        text = match.group()
        if match.group(1):
            spaced = True
            continue
        cjk = match.group(2) is not None
        previous = pieces[-1][0][-1] if pieces else ""
        breaks = (bool(pieces) and (spaced or cjk or after_cjk)
                  and text[0] not in _NO_LINE_START and previous not in _NO_LINE_END)
        pieces.append((text, len(text) + len(_wide().findall(text)), spaced, breaks))
        spaced, after_cjk = False, cjk
    lines: list[str] = []
    current: list[tuple[str, int, bool, bool]] = []
    used = len(indent)
    for piece in pieces:
        needed = piece[1] + (1 if piece[2] and current else 0)
        if current and used + needed > width:
            # Break before the last piece that allows it: this one, or one already placed.
            candidates = [*current, piece]
            at = next((i for i in range(len(current), 0, -1) if candidates[i][3]), 0)
            if at:
                lines.append(_joined(indent, current[:at]))
                current = current[at:]
                used = len(indent) + sum(p[1] + (1 if p[2] and i else 0)
                                         for i, p in enumerate(current))
                needed = piece[1] + (1 if piece[2] and current else 0)
        current.append(piece)
        used += needed
    lines.append(_joined(indent, current))
    return lines


def _joined(indent: str, pieces: list[tuple[str, int, bool, bool]]) -> str:
    return indent + "".join((" " if spaced and i else "") + text
                            for i, (text, _, spaced, _) in enumerate(pieces))


def _wrap_line(line: str, width: int) -> list[str]:
    if len(line) <= width // 2:
        return [line]
    if not line.isascii() and _wide().search(line):
        return _wrap_wide(line, width, line[: len(line) - len(line.lstrip(" "))])
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    return textwrap.wrap(
        line, width=width, subsequent_indent=indent, break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Plain text with trailing spaces removed (but a signature separator's, "-- "), lines
    longer than ``width`` wrapped at spaces (a single word longer than that, such as a URL,
    keeps its own line), blank runs squeezed."""
    lines: list[str] = []
    for raw in text.splitlines():
        # Mail clients know a signature by a line of "-- " (RFC 3676), its space included.
        lines.extend(_wrap_line(raw if raw == "-- " else raw.rstrip(), width))
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return out + "\n"

