"""A unit's files are named by relative paths in their normal form: anything else is refused
before it is written, whichever way the name is checked."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.errors import PublisherError
from publisher.pipeline.rendering import safe_relpath


def full_check(rel: str) -> str | None:
    """What safe_relpath answers, by PurePosixPath alone: the normal form, or None (refused)."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or rel.endswith("/"):
        return None
    return p.as_posix()


@pytest.mark.parametrize("rel", ["", "/etc/passwd", "../outside.html", "reviews/../../x",
                                 "reviews/a/", "a/..", "..", "./..", "a//../../b"])
def test_a_path_out_of_the_output_or_naming_no_file_is_refused(rel):
    with pytest.raises(PublisherError, match="not a relative file path"):
        safe_relpath(rel)


@pytest.mark.parametrize("rel", ["reviews/a-film/index.html", "feed.xml", ".well-known/x",
                                 "tags/./a/index.html", "a//b.html", "./a.html", "a/.b"])
def test_a_path_in_the_output_is_given_in_its_normal_form(rel):
    assert safe_relpath(rel) == full_check(rel)


@given(st.text(alphabet="ab./\\-_ é", max_size=14))
def test_the_quick_path_answers_as_the_full_check_does(rel):
    expected = full_check(rel)
    if expected is None:
        with pytest.raises(PublisherError):
            safe_relpath(rel)
    else:
        assert safe_relpath(rel) == expected
