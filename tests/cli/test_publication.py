"""`publisher init` and `publisher check` through the command line, in-process."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.pipeline.check import check_publication
from tests.fixtures import EXAMPLE, Publication, run_cli

SECRET = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}


@pytest.fixture
def publication(publication: Publication) -> Publication:
    """The shared publication, with the footer details the digest check asks for."""
    publication.add_config('[newsletter]\npostal_address = "1 Test Street, Testville"\n')
    return publication


def summary(result) -> str:
    """The closing line of `publisher check`: counts of files, reviews, errors, warnings."""
    return result.stdout.splitlines()[-1]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_init_makes_a_publication_that_checks_clean(tmp_path):
    target = tmp_path / "reel"
    result = run_cli("init", str(target), "--title", "Second Looks", "--timezone",
                     "Europe/London", "--base-url", "https://looks.test/", "--author", "Ana Ruiz")
    assert result.exit_code == 0, result.output
    assert f"wrote {target / 'publisher.toml'}" in result.output
    assert f"wrote {target / 'reviews' / 'first-review.md'}" in result.output
    review = (target / "reviews" / "first-review.md").read_text(encoding="utf-8")
    assert "date: 2026-11-20\n" in review and 'reviewer: "Ana Ruiz"' in review

    checked = run_cli("check", root=target, env=SECRET)
    assert checked.exit_code == 0, checked.output
    assert summary(checked).startswith(
        "1 review file: 1 published, 0 drafts, 0 scheduled; 0 errors, ")
    # The only advice left is to fill in the editor's own details (addresses, a postal
    # address): the scaffold's example.org reaches nobody, which is fine for its outbox.
    assert all(line.startswith(f"warning: {target / 'publisher.toml'}: ")
               for line in checked.stderr.splitlines())


def test_init_never_overwrites(tmp_path):
    assert run_cli("init", str(tmp_path)).exit_code == 0
    before = (tmp_path / "publisher.toml").read_bytes()
    again = run_cli("init", str(tmp_path), "--title", "Other")
    assert again.exit_code == 1
    assert f"error: {tmp_path / 'publisher.toml'}: already exists; not overwriting it" in (
        again.output)
    assert (tmp_path / "publisher.toml").read_bytes() == before


def test_init_with_a_bad_option_writes_nothing(tmp_path):
    result = run_cli("init", str(tmp_path / "x"), "--timezone", "Mars/Olympus")
    assert result.exit_code == 1
    assert "timezone: unknown time zone 'Mars/Olympus'" in result.output
    assert not (tmp_path / "x").exists()


def test_check_passes_on_the_sample_publication_and_writes_nothing(tmp_path):
    pub = tmp_path / "sample"
    shutil.copytree(EXAMPLE, pub)
    before = files_under(pub)
    result = run_cli("check", root=pub, env=SECRET)
    assert result.exit_code == 0, result.output
    assert summary(result) == (  # its addresses are at secondreel.example.org
        "8 review files: 6 published, 1 draft, 1 scheduled; 0 errors, 1 warning")
    assert files_under(pub) == before
    sources = run_cli("check", "--sources", root=pub, env={"PUBLISHER_SECRET": ""})
    assert sources.exit_code == 0, sources.output
    assert summary(sources) == (
        "8 review files: 6 published, 1 draft, 1 scheduled; 0 errors, 0 warnings")


def test_check_prints_every_problem_and_fails(publication: Publication, cli):
    publication.write_review("a.md", """\
        ---
        title: Alien: Romulus
        date: 2026-03-06
        reviewer: Sam Okafor
        raitng: 4
        ---
        Body.
        """)
    publication.write_review("b.md", """\
        ---
        title: Harbour Lights
        date: 2026-13-01
        reviewer: Priya Raman
        rating: 4.2
        ---
        Body\x01.
        """)
    before = files_under(publication.root)
    result = cli("check", "--sources")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "reviews/a.md:2: title: the value contains ': ', which YAML reads as a new field; "
        'quote the whole value: title: "Alien: Romulus"',
        "reviews/a.md:5: raitng: unknown field; did you mean 'rating'?",
        "reviews/b.md:3: date: '2026-13-01' is not a valid date; expected YYYY-MM-DD or "
        "YYYY-MM-DD HH:MM (optionally with a UTC offset such as +01:00)",
        "reviews/b.md:5: rating: 4.2 is not in half steps; expected a whole or half number such "
        "as 3 or 3.5",
        "warning: reviews/b.md:7: body: removed 1 control character that XML cannot carry",
    ]
    assert summary(result) == ("2 review files: 0 published, 0 drafts, 0 scheduled; 4 errors, "
                               "1 warning")
    assert files_under(publication.root) == before


def test_check_reports_warnings_but_passes(publication: Publication, cli):
    publication.write_review("a.md", "---\ntitle: Harbour\x07 Lights\ndate: 2026-03-06\n"
                                     "reviewer: Sam\n---\nBody.\n")
    result = cli("check", "--sources")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: reviews/a.md:2: title: removed 1 control character that XML cannot carry\n")


def test_check_counts_drafts_and_scheduled_reviews(publication: Publication, cli):
    head = "---\ntitle: T\nreviewer: R\n"
    publication.write_review("a.md", head + "date: 2026-01-01\n---\n")
    publication.write_review("b.md", head + "date: 2026-01-01\ndraft: true\n---\n")
    publication.write_review("c.md", head + "date: 2027-01-01\n---\n")
    result = cli("check", "--sources")
    assert summary(result) == ("3 review files: 1 published, 1 draft, 1 scheduled; 0 errors, "
                               "0 warnings")
    later = cli("check", "--sources", now=datetime(2027, 6, 1, tzinfo=UTC))
    assert summary(later).startswith("3 review files: 2 published, 1 draft, 0 scheduled;")


def test_check_reports_a_config_error_in_one_line(publication: Publication, cli):
    publication.add_config("limt = 10\n")
    result = cli("check")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {publication.root / 'publisher.toml'}: ")
    assert "limt: unknown key" in result.stderr and len(result.stderr.splitlines()) == 1


def test_check_runs_extra_checks_given_to_the_library(publication: Publication, now):
    publication.write_review("a.md", "---\ntitle: T\ndate: 2026-01-01\nreviewer: R\n---\n")
    seen = []

    def lint(config):
        seen.append(config.title)
        return ["templates/digest.mjml.j2:3: mj-column outside mj-section"]

    report = check_publication(publication.config, now=now, checks=[lint], sources_only=True)
    assert seen == ["Test Reel"]
    assert not report.ok
    assert report.errors == ("templates/digest.mjml.j2:3: mj-column outside mj-section",)
    assert "; 1 error," in report.info[-1]
