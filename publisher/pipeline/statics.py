"""The files under static/ that a build copies into the output, as they are: which ones (never
one from outside the publication, nor one it keeps private), and whether a copy is already
there."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import PublisherError
from ..files import NOT_UTF8, escapes, not_utf8, private_target
from ..sources.frontmatter import NEAR_MISSES
from .manifest import unit_files


def _static_stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def static_unchanged(src: Path, dest: str, old: dict[str, Any] | None, rel: str
                     ) -> tuple[bool, list[int]]:
    """Whether ``dest`` already holds what ``src`` (static/``rel``) holds, and ``src``'s stamp
    to record. The fast answer compares both files' stamps with the last build's; anything else
    compares the bytes. (A copy newer than its source proves nothing: the clock may have been
    set back since the copy, or the source put in place with an older mtime by rsync -t or
    cp -p.) Raises OSError when either file cannot be read (FileNotFoundError: no copy yet)."""
    s, d = src.stat(), os.stat(dest)
    stamp = _static_stamp(s)
    if s.st_size != d.st_size:
        return False, stamp
    sources = old.get("sources") if old is not None else None
    copies = unit_files(old)
    if (isinstance(sources, dict) and sources.get(rel) == stamp
            and copies.get(rel) == [d.st_size, d.st_mtime_ns]):
        return True, stamp
    return filecmp.cmp(src, dest, shallow=False), stamp


#: The files a build makes from a template with a block for the publication's own lines: what
#: a file of static/ at their path holds goes there (what to put there, the template).
_MADE_FROM_TEMPLATES = {"site.css": ("put its rules", "site.css.j2"),
                        "robots.txt": ("write its lines", "robots.txt.j2")}


def clash_message(rel: str) -> str:
    """What a build and check say of static/``rel``, at the path of a file the build makes
    (site.css, feed.xml, a page): left out, and how to have what it holds."""
    if rel in _MADE_FROM_TEMPLATES:
        what, template = _MADE_FROM_TEMPLATES[rel]
        fix = (f"{what} in templates/{template}, after {{% extends \"defaults/{template}\" %}}, "
               "in {% block extra %}…{% endblock %}")
    else:
        fix = "give it another name"
    return f"has the path of a file the build makes; not copied: {fix}"


def _holds_publication(real: Path, root: Path, out: Path) -> bool:
    """Whether the folder ``real`` is the publication ``root`` itself, or holds the output
    ``out`` or lies within it (all given resolved)."""
    return real == root or out.is_relative_to(real) or real.is_relative_to(out)


def _left_out_of_static(name: str, top: bool) -> bool:
    """Hidden files (.DS_Store, .git, vim's .x.swp, Emacs's .#x lock) and editors' backups and
    autosaves (``x~``, Emacs's ``#x#``): they hold what the editor has not saved or has
    replaced, never what the site means to serve. Hugo leaves out the same names. The one
    hidden names a site must serve are kept: ``.well-known/`` at its root (RFC 8615), where
    security.txt, ACME challenges and app-link files are looked for, and ``.htaccess`` in any
    folder, Apache's settings for it (cache headers, redirects), which Apache never serves
    and Hugo and Pelican publish."""
    if (top and name == ".well-known") or name == ".htaccess":
        return False
    return name.startswith((".", "#")) or name.endswith("~")


def static_files(config: Config) -> list[tuple[str, Path]]:
    """(relative path, source) for every file under <root>/static/, hidden files and editors'
    backups skipped.

    Symbolic links are followed while they stay inside the publication; one that leads out
    of it is refused: PublisherError naming every such link, before anything is written. So is
    one that leads to what the publication keeps private (``files.private_target``: a hidden
    file or folder such as .publisher/, or the ledger's file), one that leads to a source of
    reviews or pages (a draft's or a scheduled review's Markdown would be on the web before
    the review is: in a linked folder, such as a page bundle's whose images are wanted, the
    sources are left out), one that leads to publisher.toml, one that leads to the whole
    publication or to the output (the settings, every source, the site copied into itself
    again on every build), one that leads to a file or folder inside the output (the last
    build's file, copied again under another name a build late; on a first build, nothing), and
    a site.icon that is not among the files: every page and feed
    would name it."""
    static = config.paths.static
    root = config.root.resolve()
    allowed = [root]
    kept = config.private_files()
    private = list(kept)
    source_dirs = [config.paths.reviews.resolve(), config.paths.pages.resolve()]
    out = config.output_path.resolve()
    found: list[tuple[str, Path]] = []
    refused: list[str] = []
    whole: list[str] = []
    built: list[str] = []
    hidden: list[str] = []
    sources: list[str] = []
    unnamed: list[str] = []
    seen: set[Path] = set()

    def walk(directory: Path, rel: str, linked: bool) -> None:
        real = directory.resolve()
        if real in seen:  # a link back up the tree
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise PublisherError(f"static/{rel}: cannot read: {exc.strerror}") from None
        for entry in entries:
            if _left_out_of_static(entry.name, top=not rel):
                continue
            path, name = Path(entry.path), rel + entry.name
            shown = not_utf8(name)
            if shown is not None:
                unnamed.append(f"static/{shown}")
                continue
            link = entry.is_symlink()
            if link:
                target = escapes(path, allowed)
                if target is not None:
                    refused.append(f"static/{name} → {target}")
                    continue
            if link or linked:  # a file reached through a link may be anywhere in the root
                target = private_target(path, root, private)
                if target is not None:
                    hidden.append(f"static/{name} → {target}")
                    continue
                real = path.resolve()
                if (real.name.lower().endswith(NEAR_MISSES)
                        and any(real.is_relative_to(place) for place in source_dirs)):
                    if link:  # meant to be published: say why it cannot be
                        sources.append(f"static/{name} → {real}")
                    continue  # in a linked folder (a page bundle's images): left out
                if link and real != out and real.is_relative_to(out):
                    built.append(f"static/{name} → {real}")
                    continue
            if entry.is_dir():
                # ``real``: where the link leads, resolved just above.
                if link and _holds_publication(real, root, out):
                    whole.append(f"static/{name} → {real}")
                    continue
                walk(path, name + "/", linked or link)
            elif entry.is_file():
                found.append((name, path))

    if static.is_symlink() and escapes(static, allowed) is not None:
        refused.append(f"static → {static.resolve()}")
    elif static.is_symlink() and private_target(static, root, private) is not None:
        hidden.append(f"static → {static.resolve()}")
    elif static.is_symlink() and _holds_publication(static.resolve(), root, out):
        whole.append(f"static → {static.resolve()}")
    else:
        walk(static, "", static.is_symlink())
    copy = "copy the file into static/ or remove the link"
    if unnamed:
        more = f" (and {len(unnamed) - 1} more)" if len(unnamed) > 1 else ""
        raise PublisherError(f"{unnamed[0]}{more}: {NOT_UTF8}")
    for links, why, fix in (
            (refused, "a symbolic link out of the publication; publisher never publishes a "
                      "file from outside it (it could be a secret)", copy),
            (hidden, "a symbolic link to a hidden file of the publication, to its ledger, "
                     "its DKIM key or to publisher.toml; publisher never publishes those (they "
                     "hold subscribers' addresses, secrets and settings)", copy),
            (sources, "a symbolic link to a review's or page's source; publisher never "
                      "publishes those (drafts and scheduled reviews are among them)", copy),
            (whole, "a symbolic link to the whole publication or to the site publisher "
                    "writes; publisher never publishes those (the settings and every source, "
                    "and the site copied into itself again on every build)",
             "link the folders you mean to publish instead"),
            (built, f"a symbolic link into {config.output_dir}/, the site publisher writes; "
                    "publisher never publishes those (the copy would be the last build's file, "
                    "or none on a first build)",
             "remove the link, and link readers to the file's own address")):
        if links:
            more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
            raise PublisherError(f"{links[0]}{more}: {why}: {fix}")
    # A private file kept in static/ itself, not reached through a link (a DKIM key put
    # there): looked for only when one lies under it, so no other build resolves every path.
    real_static = static.resolve()
    inside = {path: what for path, what in kept.items() if path.is_relative_to(real_static)}
    for rel, path in found if inside else ():
        what = inside.get(path.resolve())
        if what is not None:
            setting = what.partition("(")[2].rstrip(")")
            raise PublisherError(f"static/{rel}: {what}; publisher never publishes it: keep "
                                 "it out of static/ (in /etc/publisher/, say), and set "
                                 f"{setting} to where it is")
    icon = config.icon_path
    if icon and not any(rel == icon for rel, _path in found):
        raise PublisherError(f"{config.path}: site.icon: static/{icon} is not there; put the "
                             "image there, or remove the key")
    return found
