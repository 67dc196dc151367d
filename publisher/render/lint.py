"""Template lint for ``publisher check``: Jinja syntax, values written unescaped, and the MJML
features that MRML (the mjml-python engine) rejects, drops or ignores; and checks of a compiled
digest's HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from .engine import template_environment

#: Gmail clips a message whose HTML passes 102 KB; warn with some room to spare.
HTML_SIZE_WARNING = 90 * 1024


#: Image formats that widely used mail apps do not show, by the suffix of a URL's path, with
#: those apps (caniemail.com): the image is a broken box there, its alt text standing in.
_UNSHOWN_FORMATS = {".webp": ("WebP", "Outlook on Windows does"),
                    ".svg": ("SVG", "Gmail and Outlook do")}


class _ImageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.missing_alt: list[str] = []
        self.unshown: dict[str, list[str]] = {suffix: [] for suffix in _UNSHOWN_FORMATS}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        found = dict(attrs)
        src = found.get("src") or ""
        if not (found.get("alt") or "").strip():
            self.missing_alt.append(src or "(no src)")
        path = urlsplit(src).path.lower()
        for suffix, srcs in self.unshown.items():
            if path.endswith(suffix) and src not in srcs:
                srcs.append(src)


def check_digest_html(html: str) -> list[str]:
    """Warnings about compiled digest HTML: above 90 KB (Gmail clips at 102 KB), each <img>
    without alt text, and images in a format some mail apps do not show (WebP, SVG)."""
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
    for suffix, srcs in scan.unshown.items():
        if not srcs:
            continue
        kind, apps = _UNSHOWN_FORMATS[suffix]
        named = ", ".join(srcs[:3])
        if len(srcs) > 3:
            named += f" and {len(srcs) - 3} more"
        elif len(srcs) > 1:
            named = ", ".join(srcs[:-1]) + f" and {srcs[-1]}"
        one = len(srcs) == 1
        warnings.append(
            f"digest HTML: {len(srcs)} {'image is' if one else 'images are'} {kind} ({named}), "
            f"which {apps} not show "
            f"({'its' if one else 'their'} alt text stands in); a JPEG or PNG shows in every "
            "mail app")
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


# The values the templates are given as HTML already (sanitised, or rendered by a template):
# |safe on them changes nothing.
_HTML_ALREADY = {"body", "cast", "note", "item", "items", "header", "footer", "site_head",
                 "subscribe_box", "json_ld", "data", "head_lines", "article"}
_UNESCAPED = ("writes a review's or the publication's text as HTML, unescaped: a title such as "
              "\"1987 <Director's Cut>\" loses its words in angle brackets, and a <script> in "
              "one runs; drop it (what is HTML already, such as body, is written as it is)")


def _dotted(node: jinja2.nodes.Node) -> str | None:
    """``card.title`` for the expression that reads it, else None."""
    if isinstance(node, jinja2.nodes.Name):
        return node.name
    if isinstance(node, jinja2.nodes.Getattr):
        inner = _dotted(node.node)
        return f"{inner}.{node.attr}" if inner else None
    return None


def lint_unescaped(tree: jinja2.nodes.Template, path: Path) -> list[str]:
    """Warnings for values an escaping template writes unescaped (``|safe`` on anything but a
    literal or HTML it is given, ``{% autoescape false %}``): a review's text is data, and its
    "<" and "&" must reach the page as text."""
    warnings = []
    for node in tree.find_all((jinja2.nodes.Filter, jinja2.nodes.ScopedEvalContextModifier)):
        if isinstance(node, jinja2.nodes.Filter):
            if node.name != "safe" or node.node is None \
                    or isinstance(node.node, jinja2.nodes.Const):
                continue
            read = _dotted(node.node)
            if read in _HTML_ALREADY:
                continue
            warnings.append(f"{path}:{node.lineno}: |safe on {read or 'a value'} {_UNESCAPED}")
        elif isinstance(node, jinja2.nodes.ScopedEvalContextModifier) and any(
                option.key == "autoescape" and isinstance(option.value, jinja2.nodes.Const)
                and not option.value.value for option in node.options):
            warnings.append(f"{path}:{node.lineno}: autoescape false {_UNESCAPED}")
    return warnings


def _unquoted(node: jinja2.nodes.Node) -> str | None:
    """"defaults/review.html.j2" for the expression ``defaults/review.html.j2`` (dotted names
    divided: a template's name written without its quotes), else None."""
    if isinstance(node, jinja2.nodes.Div):
        left, right = _unquoted(node.left), _unquoted(node.right)
        return f"{left}/{right}" if left is not None and right is not None else None
    return _dotted(node)


def lint_before_extends(tree: jinja2.nodes.Template, path: Path) -> list[str]:
    """A warning for text written before ``{% extends %}``: Jinja writes it ahead of the page
    extended, before its <!doctype html> (which a browser then ignores: quirks mode)."""
    for node in tree.body:
        if isinstance(node, jinja2.nodes.Extends):
            break
        if isinstance(node, jinja2.nodes.Output) and not all(
                isinstance(part, jinja2.nodes.TemplateData) and not part.data.strip()
                for part in node.nodes):
            return [f"{path}:{node.lineno}: text before {{% extends %}} is written ahead of "
                    "the page it extends, before <!doctype html>, and browsers then lay the "
                    "page out in quirks mode; move it into a block (head, for a <link>)"]
    return []


def _lint_file(env: jinja2.Environment, path: Path, name: str) -> list[str]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"]
    warnings = []
    try:
        tree = env.parse(source, name=name, filename=str(path))
    except jinja2.TemplateSyntaxError as exc:
        warnings.append(f"{path}:{exc.lineno}: Jinja syntax error: {exc.message}")
    else:
        if callable(env.autoescape) and env.autoescape(name):
            warnings.extend(lint_unescaped(tree, path))
        extends = tree.find(jinja2.nodes.Extends)
        if extends is not None:
            warnings.extend(lint_before_extends(tree, path))
            unquoted = _unquoted(extends.template)
            if unquoted is not None:
                warnings.append(
                    f"{path}:{extends.lineno}: {{% extends %}} names its template unquoted, "
                    "which Jinja reads as variables divided by each other (one then \"is "
                    f'undefined\"); quote it: {{% extends "{unquoted}" %}}')
    if "<mj" in source:
        warnings.extend(lint_mjml(source, str(path)))
    return warnings


def lint_templates(templates: Path) -> list[str]:
    """Warnings for a publication's own templates (Jinja syntax, MRML traps, unknown mj-*
    tags and attributes), each naming the file and line. No templates/ directory: none."""
    root = templates
    if not root.is_dir():
        return []
    env = template_environment(root)
    warnings: list[str] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.endswith(".j2"):
            warnings.extend(_lint_file(env, path, path.relative_to(root).as_posix()))
    return warnings

