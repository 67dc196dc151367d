"""A new publication: ``publisher init`` writes publisher.toml and one sample review."""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources
from pathlib import Path

from ..config import parse_config
from ..errors import PublisherError
from ..files import write_atomic


def init_publication(directory: Path, *, title: str = "Film Reviews",
                     base_url: str = "https://reviews.example.org/", timezone: str = "UTC",
                     author: str = "Editor", now: datetime | None = None) -> list[Path]:
    """Scaffold a publication in ``directory``: publisher.toml and one sample review dated
    today in the publication's timezone (so it is published at once).

    Returns the files written. Raises ConfigError for an invalid title, URL or timezone and
    PublisherError rather than overwrite anything; in both cases nothing is written.
    """
    scaffold = resources.files("publisher") / "scaffold"
    names = ("publisher.toml", "reviews/first-review.md")
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
    texts = {names[0]: config_text, names[1]: fill(names[1])}
    written: list[Path] = []
    for name, text in texts.items():
        write_atomic(directory / name, text.encode("utf-8"))
        written.append(directory / name)
    config.paths.static.mkdir(exist_ok=True)
    return written

