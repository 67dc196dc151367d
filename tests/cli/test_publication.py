"""`publisher init`, `new` and `check` through the command line, in-process."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from publisher.config import load_config
from publisher.pipeline.check import check_publication
from publisher.sources import load_reviews
from tests.fixtures import EXAMPLE, SAMPLE, Publication, run_cli, write_reviews

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
                     "Europe/London", "--base-url", "https://looks.test/film/",
                     "--author", "Ana Ruiz")
    assert result.exit_code == 0, result.output
    assert f"wrote {target / 'publisher.toml'}" in result.output
    assert f"wrote {target / 'reviews' / 'first-review.md'}" in result.output
    assert f"wrote {target / 'pages' / 'about.md'}" in result.output  # a draft to write
    review = (target / "reviews" / "first-review.md").read_text(encoding="utf-8")
    assert "date: 2026-11-20\n" in review and 'reviewer: "Ana Ruiz"' in review
    # Issues come from the site's own domain until publisher.toml names another address.
    assert load_config(directory=target).newsletter.from_address == "newsletter@looks.test"

    checked = run_cli("check", root=target, env=SECRET)
    assert checked.exit_code == 0, checked.output
    assert summary(checked).startswith(
        "1 review file: 1 published, 0 drafts, 0 scheduled; in all 0 errors, ")
    assert "1 page of the site's own: 0 published, 1 draft" in checked.stdout.splitlines()
    # The only advice left is to fill in the editor's own details (addresses, a postal
    # address): the scaffold's example.org reaches nobody, which is fine for its outbox; and
    # to write the sample review, which is published so that the first build shows a site.
    # (Its links land under a base_url with a path too.)
    sample = "warning: reviews/first-review.md:14: summary: the sample review publisher init"
    warnings = checked.stderr.splitlines()
    assert len([line for line in warnings if line.startswith(sample)]) == 1
    assert all(line.startswith((sample, f"warning: {target / 'publisher.toml'}: "))
               for line in warnings)
    # With its own summary, it is the editor's review; its body still to write.
    review_path = target / "reviews" / "first-review.md"
    review = review.replace("One sentence that sells the film", "A film")
    review_path.write_text(review, "utf-8")
    [body] = [line for line in run_cli("check", root=target, env=SECRET).stderr.splitlines()
              if "first-review.md" in line]
    assert body == (
        "warning: reviews/first-review.md:17: body: still begins with the skeleton's "
        "placeholder ('Write the review here, in Markdown.'): write the review in its place, "
        "before readers find it on the site and in the feeds; issues leave the review out "
        "until then")
    review_path.write_text(review.replace("Write the review here, in Markdown:", "A film with"),
                           "utf-8")
    assert "first-review.md" not in run_cli("check", root=target, env=SECRET).stderr


def test_init_names_the_next_commands_as_a_shell_can_run_them(tmp_path):
    target = tmp_path / "Ciné Réel" / "second reel"
    result = run_cli("init", str(target))
    assert result.exit_code == 0, result.output
    quoted = shlex.quote(str(target))
    assert result.stdout.splitlines()[-1] == (
        f"next: publisher -C {quoted} check, then publisher -C {quoted} build")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_publication_init_made_keeps_its_built_site_out_of_git(tmp_path):
    # README's "From git and CI": public/ stays out of git, or a fresh clone's build cannot
    # tell the files it made from files put there by hand (.publisher/ leaves itself out).
    target = tmp_path / "reel"
    assert run_cli("init", str(target)).exit_code == 0
    assert run_cli("build", root=target).exit_code == 0
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "add", "-A"], check=True)
    tracked = subprocess.run(["git", "-C", str(target), "ls-files"], check=True,
                             capture_output=True, text=True).stdout.split()
    assert sorted(tracked) == [".gitignore", "pages/about.md", "publisher.toml",
                               "reviews/first-review.md"]

    own = tmp_path / "own"
    own.mkdir()
    (own / ".gitignore").write_text("*.swp\n")  # the editor's own is theirs
    result = run_cli("init", str(own))
    assert result.exit_code == 0 and ".gitignore" not in result.stdout
    assert (own / ".gitignore").read_text() == "*.swp\n"


def test_init_never_overwrites(tmp_path):
    assert run_cli("init", str(tmp_path)).exit_code == 0
    before = (tmp_path / "publisher.toml").read_bytes()
    again = run_cli("init", str(tmp_path), "--title", "Other")
    assert again.exit_code == 1
    assert f"error: {tmp_path / 'publisher.toml'}: already exists; not overwriting it" in (
        again.output)
    assert (tmp_path / "publisher.toml").read_bytes() == before


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--timezone", "Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus'"),
    ("--timezone", "", "timezone: empty; use an IANA name"),
    ("--base-url", "https://reviews.example.org/?utm=1", "base_url: 'https://reviews.example."
                                                         "org/?utm=1' has a query"),
])
def test_init_with_a_bad_option_writes_nothing(tmp_path, option, value, expected):
    result = run_cli("init", str(tmp_path / "x"), option, value)
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_new_starts_a_draft_that_loads_and_stays_off_the_site_until_the_line_goes(
        publication: Publication, cli, monkeypatch):
    publication.copy_sample_reviews()
    shutil.copytree(SAMPLE / "static", publication.root / "static")  # their posters
    # From the directory above, with -C: the path printed is one the editor can open here.
    monkeypatch.chdir(publication.root.parent)
    result = cli("new", "Alien: Romulus")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"wrote {publication.root.name}/reviews/alien-romulus.md, a draft: "
                             "publisher preview --drafts shows it; delete its draft: true line "
                             "to publish it\n")
    source = publication.root / "reviews" / "alien-romulus.md"
    review = next(r for r in load_reviews(publication.config, cache=False).reviews
                  if r.slug == "alien-romulus")
    assert (review.title, review.reviewer, review.draft) == ("Alien: Romulus", "Ed Itor", True)
    assert review.date.isoformat() == "2026-11-20T00:00:00+00:00"  # the clock's day, London
    assert review.id == "tag:reel.test,2026-11-20:alien-romulus"

    page = publication.root / "public" / "reviews" / "alien-romulus" / "index.html"
    assert cli("build").exit_code == 0 and not page.exists()
    # Published: the draft line deleted, the date set to the day it goes out. Its id stays.
    # A placeholder uncommented but not written is pointed out.
    text = source.read_text("utf-8").replace("draft: true\n", "").replace("# summary:",
                                                                          "summary:")
    source.write_text(text.replace('date: "2026-11-20"', 'date: "2026-11-19"'), "utf-8")
    built = cli("build")
    assert built.exit_code == 0
    assert "reviews/alien-romulus.md:16: summary: still the skeleton's placeholder" in (
        built.stderr)
    assert "Alien: Romulus" in page.read_text("utf-8")
    [published] = [r for r in load_reviews(publication.config, cache=False).reviews
                   if r.slug == "alien-romulus"]
    assert published.id == review.id and not published.draft


def test_new_takes_the_reviewer_date_and_slug_given_and_keeps_a_title_a_string(cli,
                                                                               publication):
    result = cli("new", "No", "--reviewer", "Sam Okafor", "--date", "2026-12-01T18:30:00+00:00",
                 "--slug", "dr-no-1962")
    assert result.exit_code == 0, result.output
    [review] = load_reviews(publication.config, cache=False).reviews
    assert (review.slug, review.title, review.reviewer) == ("dr-no-1962", "No", "Sam Okafor")
    assert review.date.isoformat() == "2026-12-01T18:30:00+00:00"

    # The slug of a title with an apostrophe is the one Hugo and Pelican would give it.
    assert cli("new", "Schindler's List").exit_code == 0
    assert (publication.root / "reviews" / "schindlers-list.md").is_file()

    bad = cli("new", "Other", "--date", "tomorrow")
    assert bad.exit_code == 1
    assert bad.stderr == ("error: --date: 'tomorrow' is not a date such as 2026-03-01 or a "
                          "time such as 2026-03-01T09:00:00+00:00\n")


def test_new_never_overwrites_a_review_nor_takes_another_ones_slug(publication: Publication,
                                                                  cli):
    kept = publication.write_review("heist.md", "---\ntitle: Heist\n---\nMine.\n")
    publication.write_review("other.md", "---\ntitle: Other\nslug: the-job\n---\nText.\n")
    again = cli("new", "Heist")
    assert again.exit_code == 1
    assert again.stderr == ("error: reviews/heist.md: already exists; not overwriting it "
                            "(choose another --slug)\n")
    assert kept.read_text("utf-8") == "---\ntitle: Heist\n---\nMine.\n"
    taken = cli("new", "The Job")
    assert taken.exit_code == 1
    assert taken.stderr == ("error: reviews/other.md: already has the slug 'the-job'; choose "
                            "another with --slug\n")
    long = cli("new", "A Very Long Title " * 12)
    assert long.exit_code == 1
    assert long.stderr == ("error: the slug a-very-long-title-a-very-long-title-a-ve… is 215 "
                           "characters long, too long for a file name; give one of at most 200 "
                           "with --slug\n")
    assert sorted(p.name for p in (publication.root / "reviews").iterdir()) == [
        "heist.md", "other.md"]
    publication.write_review("2024/heist-two.md", "---\ntitle: Heist Two\n---\nText.\n")
    in_a_folder = cli("new", "Heist Two")
    assert in_a_folder.exit_code == 1
    assert in_a_folder.stderr == ("error: reviews/2024/heist-two.md: already has the slug "
                                  "'heist-two'; choose another with --slug\n")
    publication.write_review("heist-three/index.md", "---\ntitle: Heist Three\n---\nText.\n")
    bundle = cli("new", "Heist Three")
    assert bundle.stderr == ("error: reviews/heist-three/index.md: already has the slug "
                             "'heist-three'; choose another with --slug\n")


def test_new_fills_in_the_publications_own_skeleton_and_refuses_one_that_does_not_load(
        publication: Publication, cli):
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "new-review.md").write_text(
        "---\ntitle: {title}\ndate: {date}\nreviewer: {reviewer}\ndraft: true\n"
        "availability: In cinemas from Friday.\n---\nOur house style: lead with the film.\n",
        "utf-8")
    assert cli("new", "Winter Ferry", "--reviewer", "Morgan Hale").exit_code == 0
    [review] = load_reviews(publication.config, cache=False).reviews
    assert review.availability == "In cinemas from Friday."
    assert review.id == "tag:reel.test,2026-11-20:winter-ferry"  # derived, as for any review

    (templates / "new-review.md").write_text(
        "---\ntitle: {title}\ndate: {date}\nreviewer: {reviewer}\nrating: eleven\n---\n",
        "utf-8")
    broken = cli("new", "Summer Ferry")
    assert broken.exit_code == 1
    problem = ("templates/new-review.md:5: rating: 'eleven' is not a number; expected 0 to 5 in "
               "half steps, e.g. 3.5; publisher new makes reviews from this file, so each must "
               "load")
    assert broken.stderr == f"error: {problem}\n"
    assert not (publication.root / "reviews" / "summer-ferry.md").exists()
    (templates / "new-review.md").write_bytes(b"---\ntitle: {title}\xff\n---\n")
    unreadable = cli("new", "Autumn Ferry")
    assert (unreadable.exit_code, unreadable.stderr) == (
        1, "error: templates/new-review.md: is not UTF-8 text\n")
    (templates / "new-review.md").write_text(
        "---\ntitle: {title}\ndate: {date}\nreviewer: {reviewer}\nrating: eleven\n---\n",
        "utf-8")
    # publisher check says so before anyone runs publisher new.
    checked = cli("check", "--sources")
    assert checked.exit_code == 1 and problem in checked.stderr.splitlines()


def test_new_fills_a_quoted_placeholder_escaped_for_its_quotes(publication: Publication, cli):
    # Quoted as the README's front matter and Hugo's archetypes teach: each value reads back as
    # given, whatever quotes and backslashes it holds; in the body it is text.
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "new-review.md").write_text(
        '---\ntitle: "{title}"\ndate: \'{date}\'\nreviewer: \'{reviewer}\'\nid: "{id}"\n'
        "availability: Our take on {title}, by {reviewer}  # {title}\n"
        "---\n# {title}\n\nMy house style.\n", "utf-8")
    assert cli("check", "--sources").exit_code == 0
    title = 'The "Heat" Isn\'t Over: Part \\ 2'
    result = cli("new", title, "--reviewer", "Dane 'Red' O'Connell", "--slug", "heat")
    assert result.exit_code == 0, result.output
    [review] = load_reviews(publication.config, cache=False).reviews
    assert (review.title, review.reviewer, review.id, review.availability) == (
        title, "Dane 'Red' O'Connell", "tag:reel.test,2026-11-20:heat",
        f"Our take on {title}, by Dane 'Red' O'Connell")
    body = (publication.root / "reviews" / "heat.md").read_text("utf-8").split("---\n")[2]
    assert body.startswith("# The \"Heat\" Isn't Over: Part \\\\ 2\n")  # \\ is Markdown's \


def test_a_publication_put_in_git_leaves_publishers_own_files_out(tmp_path):
    # The editor's first `git add -A` must not commit the ledger (every subscriber's address
    # and consent), the logs, or caches that the next build in CI loads as they are.
    pub = tmp_path / "sample"
    shutil.copytree(EXAMPLE, pub)
    added = run_cli("subscribers", "add", "reader@example.net", root=pub, env=SECRET)
    assert added.exit_code == 0, added.output
    built = run_cli("build", root=pub)
    assert built.exit_code == 0, built.output
    assert (pub / ".publisher" / "state.db").is_file()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(pub), *args], capture_output=True, text=True,
                              check=True).stdout

    git("init", "-q")
    git("add", "-A")
    staged = git("diff", "--cached", "--name-only").splitlines()
    assert "publisher.toml" in staged and "public/index.html" in staged
    assert [name for name in staged if name.startswith(".publisher/")] == []


def test_check_passes_on_the_sample_publication_and_writes_nothing(tmp_path):
    pub = tmp_path / "sample"
    shutil.copytree(EXAMPLE, pub)
    before = files_under(pub)
    result = run_cli("check", root=pub, env=SECRET)
    assert result.exit_code == 0, result.output
    assert summary(result) == (  # its addresses are at secondreel.example.org
        "8 review files: 6 published, 1 draft, 1 scheduled; in all 0 errors, 1 warning")
    assert result.stdout.splitlines()[-2] == "1 page of the site's own: 1 published, 0 drafts"
    assert files_under(pub) == before
    sources = run_cli("check", "--sources", root=pub, env={"PUBLISHER_SECRET": ""})
    assert sources.exit_code == 0, sources.output
    assert summary(sources) == (
        "8 review files: 6 published, 1 draft, 1 scheduled; in all 0 errors, 0 warnings")


def test_checks_counts_are_written_as_its_other_counts_are(publication: Publication):
    write_reviews(publication, 1000, first=date(2020, 1, 1))
    report = check_publication(publication.config, now=datetime(2026, 11, 20, tzinfo=UTC),
                               sources_only=True)
    assert report.info[-1].startswith("1,000 review files: 1,000 published, 0 drafts, ")


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
    assert summary(result) == ("2 review files: 0 published, 0 drafts, 0 scheduled; "
                               "in all 4 errors, 1 warning")
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
    assert summary(result) == ("3 review files: 1 published, 1 draft, 1 scheduled; "
                               "in all 0 errors, 0 warnings")
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
    assert "; in all 1 error," in report.info[-1]


def test_a_bad_clock_says_whether_it_came_from_publisher_now(publication: Publication):
    """A PUBLISHER_NOW left in a crontab is no option anyone typed: the line names it."""
    given = run_cli("run", root=publication.root, now=None, env={"PUBLISHER_NOW": "tomorrow"})
    assert given.exit_code == 2
    assert given.stderr.splitlines()[-1] == (
        "Error: Invalid value: PUBLISHER_NOW='tomorrow' (from the environment) is not an ISO "
        "8601 time such as 2026-03-29T09:00:00+01:00; unset PUBLISHER_NOW (left in a crontab "
        "or a shell?) to run on the real clock")
    typed = run_cli("--now", "tomorrow", "run", root=publication.root, now=None)
    assert typed.exit_code == 2
    assert typed.stderr.splitlines()[-1] == (
        "Error: Invalid value: --now 'tomorrow' is not an ISO 8601 time such as "
        "2026-03-29T09:00:00+01:00")
