"""The package as an operator installs it: every commit builds a wheel of a newer version, which
`pip install --upgrade` takes (a wheel of the version installed is "already installed"), and the
installed publisher reports the version its wheel was given."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[1]


def git(where: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                          check=True, timeout=60,
                          env={**os.environ, "GIT_AUTHOR_NAME": "Ed", "GIT_COMMITTER_NAME": "Ed",
                               "GIT_AUTHOR_EMAIL": "ed@reel.test",
                               "GIT_COMMITTER_EMAIL": "ed@reel.test"}).stdout


def wheel(source: Path, into: Path) -> Path:
    """A wheel of ``source``, built as pip builds one (in an isolated build environment)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into),
                    str(source)], capture_output=True, text=True, check=True, timeout=300)
    [built] = into.glob("publisher-*.whl")
    return built


def wheel_version(path: Path) -> Version:
    return Version(path.name.split("-")[1])


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """This source tree as a repository of its own with one commit (the working files as they
    are, committed or not)."""
    source = tmp_path / "src"
    tracked = git(REPOSITORY, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, tracked.split("\0")):
        if (REPOSITORY / rel).is_file() and not rel.startswith(("tests/", "bench/")):
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / rel, source / rel)
    git(source.parent, "init", "-q", str(source))
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "first")
    return source


def test_each_commit_builds_a_newer_version_than_the_last(checkout, tmp_path):
    first = wheel(checkout, tmp_path / "first")
    git(checkout, "commit", "-q", "--allow-empty", "-m", "a fix")
    second = wheel(checkout, tmp_path / "second")
    assert Version("0.1.0") < wheel_version(first) < wheel_version(second)
    assert not wheel_version(second).is_prerelease  # what `pip install --upgrade` takes

    # The installed package says the version its wheel was given, as does `publisher --version`.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(second)], capture_output=True, check=True, timeout=120)
    env = {**os.environ, "PYTHONPATH": str(site)}
    said = subprocess.run([sys.executable, "-m", "publisher", "--version"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=True, timeout=60)
    assert said.stdout == f"publisher, version {wheel_version(second)}\n"
