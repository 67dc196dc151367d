"""The record a build leaves of what it made (``.publisher/cache/build.json``): each unit's
digest and its files, each file with its size and mtime. The next build renders only the units
whose digest or files changed, and removes only files a build made; the idle check signs the
output by the same list (``idle.Written``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from ..config import Config
from ..files import write_atomic

#: 3: the build that wrote it left every directory of the site 0755 (``output.open_dirs``).
#: A record of 2 is read as one of 3; the build that reads it opens up the directories that
#: builds before then made under the umask (0700 under 077).
MANIFEST_VERSION = 3


def manifest_path(config: Config) -> Path:
    return config.paths.build_manifest


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The units the last build recorded, by key; {} when there is no record to trust."""
    return read_record(path)[0]


def read_record(path: Path) -> tuple[dict[str, dict[str, Any]], bool]:
    """``read_manifest``, and whether the build that wrote it left the site's directories
    open to the web server (False for a record of an earlier version, or none)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
        return {}, False  # missing or unreadable: every unit is rendered and compared
    if not isinstance(data, dict):
        return {}, False
    units = data.get("units")
    version = data.get("version")
    if version in (2, MANIFEST_VERSION) and isinstance(units, dict):
        return units, version == MANIFEST_VERSION
    if version == 1 and isinstance(data.get("feeds"), dict):
        # The feeds-only manifest of earlier versions: kept for its file list, so that the
        # feeds of a tag that has gone are still removed.
        return {f"feed:{path}": {"files": entry.get("files", {})}
                for path, entry in data["feeds"].items() if isinstance(entry, dict)}, False
    return {}, False


def stamp_at(path: str) -> list[int] | None:
    """A file's size and mtime as the manifest records them; None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def stamps(base: str, names: Sequence[str], stats: dict[str, os.stat_result]
           ) -> dict[str, list[int] | None]:
    """``stamp_at`` of each of ``names`` (files under ``base``); each file's stat is kept
    in ``stats`` too (what the idle check signs the output with: ``idle.Written``)."""
    found: dict[str, list[int] | None] = {}
    for rel in names:
        try:
            st = os.stat(base + rel)
        except OSError:
            found[rel] = None
            continue
        stats[rel] = st
        found[rel] = [st.st_size, st.st_mtime_ns]
    return found


def unit_files(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The files a unit's entry in the manifest lists, each with its stamp ({} if none)."""
    files = entry.get("files") if entry is not None else None
    return files if isinstance(files, dict) else {}


def write_manifest(config: Config, units: dict[str, dict[str, Any]]) -> None:
    """Record ``units`` for the next build."""
    # orjson: the manifest of 10,000 reviews is 2.5 MB, read and written by every build that
    # renders anything (json took 0.1 s for the two, orjson 0.02 s).
    payload = orjson.dumps({"version": MANIFEST_VERSION, "units": units},
                           option=orjson.OPT_SORT_KEYS)
    write_atomic(manifest_path(config), payload, fsync=False)
