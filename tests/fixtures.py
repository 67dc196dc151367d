"""Shared fixtures: a publication in a temporary directory, with a frozen clock."""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
#: A publication for tests: eight reviews, four reviewers, a poster, a draft, a future one.
SAMPLE = DATA / "publication"
#: The example publication that README's first command runs.
EXAMPLE = REPO / "examples" / "second-reel"

#: The frozen "now" for tests that do not care: after every sample review but the future one.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

MINIMAL_CONFIG = """\
title = "Test Reel"
description = "Reviews for tests."
base_url = "https://reel.test/"
language = "en"
author = "Ed Itor"
author_email = "editor@reel.test"
copyright = "© 2026 Test Reel"
timezone = "Europe/London"
"""


class Publication:
    """A publication directory under tmp_path; write reviews and config, then load."""

    def __init__(self, root: Path):
        self.root = root
        (root / "reviews").mkdir(parents=True, exist_ok=True)
        self.write_config(MINIMAL_CONFIG)

    def write_config(self, text: str) -> Path:
        path = self.root / "publisher.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def add_config(self, text: str) -> None:
        path = self.root / "publisher.toml"
        path.write_text(path.read_text(encoding="utf-8") + "\n" + textwrap.dedent(text),
                        encoding="utf-8")

    def write_review(self, name: str, text: str | bytes) -> Path:
        path = self.root / "reviews" / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def copy_sample_reviews(self) -> None:
        for src in sorted((SAMPLE / "reviews").glob("*.md")):
            shutil.copy(src, self.root / "reviews" / src.name)

    @property
    def config(self) -> Config:
        return load_config(directory=self.root)


@pytest.fixture
def publication(tmp_path: Path) -> Publication:
    return Publication(tmp_path / "pub")


@pytest.fixture
def now() -> datetime:
    return NOW
