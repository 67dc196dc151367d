"""The output directory as a reader sees it: all or nothing. A full disk (a small tmpfs), a
read-only mount, a broken template or a killed build leave the last good site exactly in place;
links out of the publication in static/ and reviews/ are refused by name."""

from __future__ import annotations

import os
import pickle
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from publisher.errors import PublisherError, SourceError
from publisher.pipeline.build import build_site, manifest_path
from tests.fixtures import at_once, built_afresh, write_films, write_png, write_reviews
from tests.fixtures import snapshot as contents
from tests.mounts import read_only, tiny_disk


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def directories(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


# --- real faults: a full tmpfs, a read-only bind mount (tests/mounts.py; root only) ------


def test_a_full_disk_leaves_the_last_good_site_in_place(publication, now, cli):
    public = publication.root / "public"
    with tiny_disk(public, "1m"):
        full_disk(publication, now, cli, public)


def full_disk(publication, now, cli, public):
    write_reviews(publication, 3)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(public)
    manifest = manifest_path(config).read_bytes()
    assert "index.html" in before and "reviews/film-1/index.html" in before

    # A new review and a poster too big for what is left on the device.
    write_reviews(publication, [{"slug": "film-4", "title": "Film Four", "date": "2026-11-10"}])
    static = publication.root / "static" / "posters"
    static.mkdir(parents=True)
    (static / "huge.png").write_bytes(os.urandom(2_000_000))
    result = cli("build")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {public}/posters/huge.png: No space left on device; the disk is full; free "
        "some space and run again"]
    assert snapshot(public) == before  # same files, same bytes, same mtimes
    assert "reviews/film-4" not in directories(public)  # the directory made for it went too
    assert not [p for p in public.iterdir() if p.name.startswith(".")]  # no staging left
    assert manifest_path(config).read_bytes() == manifest

    # Room again: the build goes through, and only what changed is written.
    (static / "huge.png").unlink()
    report = build_site(config, now=now)
    assert "reviews/film-4/index.html" in report.written
    assert "reviews/film-3/index.html" in report.written  # its "newer" link is film 4 now
    assert "reviews/film-1/index.html" not in report.written


def test_a_read_only_site_is_left_alone_and_a_build_with_nothing_new_still_passes(
        publication, now):
    public = publication.root / "public"
    write_reviews(publication, 2)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(public)
    with read_only(public):
        assert build_site(config, now=now).written == ()  # nothing to write: no error either

        write_reviews(publication, [{"slug": "film-3"}])
        with pytest.raises(PublisherError) as caught:
            build_site(config, now=now)
        assert str(caught.value).startswith(f"{public}/")
        assert str(caught.value).endswith(
            ": Read-only file system; the file system is mounted read-only")
        assert snapshot(public) == before


# --- everywhere ------------------------------------------------------------------------------


def test_a_template_error_mid_build_writes_nothing(publication, now):
    write_reviews(publication, 3)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "review.html.j2").write_text(
        '{% extends "defaults/review.html.j2" %}\n{% block main %}{{ card.title | nosuchfilter }}'
        "{% endblock %}\n", encoding="utf-8")
    with pytest.raises(PublisherError) as caught:
        build_site(config, now=now)
    assert "review.html.j2" in str(caught.value) and "nosuchfilter" in str(caught.value)
    assert snapshot(config.output_path) == before


def test_what_a_killed_build_staged_is_swept_away(publication, now):
    write_reviews(publication, 1)
    config = publication.config
    public, state = config.output_path, config.paths.state
    (public / ".publisher-staging-1234").mkdir(parents=True)
    (public / ".publisher-staging-1234" / "7").write_bytes(b"half a page")
    (state / "staging-abcd").mkdir(parents=True)
    build_site(config, now=now)
    assert not (public / ".publisher-staging-1234").exists()
    assert not (state / "staging-abcd").exists()


def test_new_files_go_in_before_the_pages_that_link_to_them(publication, now):
    write_reviews(publication, 2)
    build_site(publication.config, now=now)
    # A new title changes every page and feed: the commit replaces them in link order (a
    # file that did not exist is written where it goes at once: no old page links to it).
    text = (publication.root / "publisher.toml").read_text("utf-8")
    publication.write_config(text.replace('title = "Test Reel"', 'title = "Test Reel II"'))
    config = publication.config
    written = list(build_site(config, now=now).written)
    position = {rel: i for i, rel in enumerate(written)}
    for page in ("reviews/film-1/index.html", "reviews/film-2/index.html",
                 "archive/2026-11/atom.xml"):
        for referrer in ("reviews/index.html", "tags/index.html", "index.html", "feed.xml"):
            assert position[page] < position[referrer], (page, referrer)
    assert position["reviews/index.html"] < position["index.html"]  # an index, then home


def test_two_builds_at_once_take_turns(publication, now):
    # The build lock: a second build waits; both finish with a complete site.

    write_reviews(publication, 5)
    config = publication.config
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_site(config, now=now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    at_once(build, [()] * 2)
    assert errors == []
    assert build_site(config, now=now).written == ()


# --- links out of the publication ------------------------------------------------------------


@pytest.fixture
def secret(tmp_path):
    """A private file outside the publication, as an environment file holding
    PUBLISHER_SECRET would be."""
    path = tmp_path / "publisher.env"
    path.write_text("PUBLISHER_SECRET=not-for-the-web\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_a_static_link_out_of_the_publication_is_refused_by_name(publication, now, secret,
                                                                  cli):
    write_reviews(publication, 1)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    posters = publication.root / "static" / "posters"
    posters.mkdir(parents=True)
    write_png(posters / "ok.png", 10, 10, (0, 0, 0))
    (posters / "leak.png").symlink_to(secret)
    result = cli("build")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: static/posters/leak.png → {secret}: a symbolic link out of "
                           "the publication;")
    assert snapshot(config.output_path) == before  # not even the good poster went in
    assert not any(b"not-for-the-web" in data for data, _ in snapshot(config.output_path)
                   .values())
    # publisher check says so before any build
    result = cli("check", "--sources")
    assert result.exit_code == 1
    assert "static/posters/leak.png" in result.stderr and "out of the publication" in result.stderr


@pytest.mark.parametrize("where", ["directory", "static"])
def test_a_linked_directory_out_of_the_publication_is_refused(publication, now, tmp_path, where):
    write_reviews(publication, 1)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n", encoding="utf-8")
    if where == "directory":
        (publication.root / "static").mkdir()
        (publication.root / "static" / "etc").symlink_to(outside)
        name = "static/etc"
    else:
        (publication.root / "static").symlink_to(outside)
        name = "static"
    with pytest.raises(PublisherError, match=f"^{name} → {outside}"):
        build_site(publication.config, now=now)


def test_links_inside_the_publication_are_followed(publication, now):
    write_reviews(publication, 1)
    shared = publication.root / "artwork"
    shared.mkdir()
    write_png(shared / "poster.png", 20, 30, (1, 2, 3))
    static = publication.root / "static"
    static.mkdir()
    (static / "poster.png").symlink_to(shared / "poster.png")
    (static / "art").symlink_to(shared, target_is_directory=True)
    (static / "loop").symlink_to(static, target_is_directory=True)  # a loop is walked once
    build_site(publication.config, now=now)
    public = publication.config.output_path
    assert (public / "poster.png").read_bytes() == (shared / "poster.png").read_bytes()
    assert (public / "art" / "poster.png").is_file()
    assert not (public / "poster.png").is_symlink()  # a copy, never a link into the sources


def test_a_linked_folder_of_reviews_inside_the_publication_is_read(publication, now, cli,
                                                                    tmp_path):
    # reviews/2024 → ../archive/2024: its reviews are published like the others; a link back
    # up the tree, or to a folder read already, is read once and named; one out of the
    # publication is refused by name, never walked.
    write_reviews(publication, [{"slug": "in-reviews"}])
    archive = publication.root / "archive" / "2024"
    archive.mkdir(parents=True)
    (publication.root / "reviews" / "in-reviews.md").rename(archive / "linked-film.md")
    write_reviews(publication, [{"slug": "in-reviews"}])
    reviews = publication.root / "reviews"
    (reviews / "2024").symlink_to(archive, target_is_directory=True)
    (archive / "loop").symlink_to(reviews, target_is_directory=True)
    (reviews / "again").symlink_to(archive, target_is_directory=True)
    built = cli("build")
    assert built.exit_code == 0, built.output
    public = publication.config.output_path
    assert (public / "reviews" / "linked-film" / "index.html").is_file()
    assert (public / "reviews" / "in-reviews" / "index.html").is_file()
    checked = cli("check", "--sources")
    assert checked.exit_code == 0, checked.output
    warnings = [line for line in checked.stderr.splitlines() if "symbolic link" in line]
    assert warnings == [
        f"warning: reviews/2024/loop: a symbolic link to {reviews}, a folder read already or "
        "holding one; read once, through the first name: remove the link",
        f"warning: reviews/again: a symbolic link to {archive}, a folder read already or "
        "holding one; read once, through the first name: remove the link"]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ntitle: Not Ours\n---\n", encoding="utf-8")
    (reviews / "out").symlink_to(outside, target_is_directory=True)
    refused = cli("build")
    assert refused.exit_code == 1
    assert (f"reviews/out: is a symbolic link to {outside}, outside the publication; publisher "
            "reads no file from outside it") in refused.stderr


@pytest.mark.parametrize("target", [".publisher/state.db", ".env", "data/ledger.db"])
def test_a_static_link_to_the_ledger_or_a_hidden_file_is_refused(publication, now, cli, target):
    # Inside the publication, so the rule for links out of it lets it through: without this
    # one, a link committed to static/ published the ledger (every subscriber) on the web.
    write_reviews(publication, 1)
    if target == "data/ledger.db":
        publication.add_config('[state]\ndatabase = "sqlite:///data/ledger.db"\n')
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    private = publication.root / target
    if target.endswith(".db"):  # a real ledger, holding a subscriber
        assert cli("subscribers", "add", "not-for-the-web@example.org").exit_code == 0
    else:
        private.write_bytes(b"PUBLISHER_SECRET=not-for-the-web")
        private.chmod(0o600)
    assert b"not-for-the-web" in private.read_bytes()
    static = publication.root / "static"
    static.mkdir()
    (static / "leak.png").symlink_to(private)
    result = cli("build")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: static/leak.png → {private.resolve()}: a symbolic link to a "
                           "hidden file of the publication, to its ledger, its DKIM key or to "
                           "publisher.toml;")
    assert snapshot(config.output_path) == before

    # Nor through a linked folder, whose files are walked (hidden ones skipped, as in static/).
    (static / "leak.png").unlink()
    (static / "all").symlink_to(private.parent, target_is_directory=True)
    refused = {".publisher/state.db": "static/all → .*a symbolic link to a hidden",
               ".env": "static/all → .*a symbolic link to the whole publication",
               "data/ledger.db": "static/all/ledger.db → .*a symbolic link to a hidden"}[target]
    with pytest.raises(PublisherError, match=f"^{refused}"):
        build_site(config, now=now)
    assert not any(b"not-for-the-web" in data for data, _ in snapshot(config.output_path)
                   .values())


@pytest.mark.parametrize("key_file, link", [("dkim.key", "static/humans.txt"),
                                             ("keys/dkim.pem", "static/k"),
                                             ("static/keys/dkim.key", None)])
def test_the_dkim_key_is_never_published(publication, now, cli, key_file, link):
    # dkim.key_file may name a file in the publication (a relative path is taken from it), and
    # neither hidden nor the ledger, it was copied to the web as any other file, 0644, from a
    # link anyone who may commit to static/ can add: mail in the publication's name, signed.
    write_reviews(publication, 1)
    publication.add_config(f'[dkim]\nkey_file = "{key_file}"\nselector = "s1"\n'
                           'domain = "reel.test"\n')
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    key = publication.root / key_file
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot-for-the-web\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)
    if link is not None:
        (publication.root / link).parent.mkdir(exist_ok=True)
        (publication.root / link).symlink_to(key.resolve())
    result = cli("build")
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    if link is not None:
        assert line.startswith(f"error: {link} → {key.resolve()}: a symbolic link to a hidden "
                               "file of the publication, to its ledger, its DKIM key or to "
                               "publisher.toml;"), line
    else:
        assert line == (f"error: {key_file}: the DKIM key (dkim.key_file); publisher never "
                        "publishes it: keep it out of static/ (in /etc/publisher/, say), and "
                        "set dkim.key_file to where it is")
    assert snapshot(config.output_path) == before
    assert not any(b"not-for-the-web" in p.read_bytes()
                   for p in config.output_path.rglob("*") if p.is_file())
    # and check says so before any build
    checked = cli("check", "--sources")
    assert checked.exit_code == 1
    assert line.removeprefix("error: ") in checked.stderr


def test_a_static_link_to_a_review_source_is_refused(publication, now):
    # Inside the publication, so the other rules let it through: a draft's Markdown, or a
    # scheduled review's, would be on the web before the review is.
    write_reviews(publication, [{"slug": "a-draft", "draft": "true"}])
    (publication.root / "static").mkdir()
    (publication.root / "static" / "draft.md").symlink_to(
        publication.root / "reviews" / "a-draft.md")
    with pytest.raises(PublisherError, match="^static/draft.md → .*a symbolic link to a "
                                             "review's or page's source; publisher never"):
        build_site(publication.config, now=now)


def test_a_linked_folder_of_the_publication_publishes_no_review_or_page_source(publication,
                                                                                now):
    # A page bundle keeps a review's images beside it: linking its folder publishes them,
    # never the Markdown.
    write_reviews(publication, [{"slug": "a-draft", "draft": "true",
                                 "body": "Not for the web yet."}])
    write_png(publication.root / "reviews" / "still.png", 20, 30, (1, 2, 3))
    (publication.root / "pages").mkdir()
    (publication.root / "pages" / "about.md").write_text("---\ntitle: About\n---\nUs.\n")
    static = publication.root / "static"
    static.mkdir()
    (static / "reviews").symlink_to(publication.root / "reviews", target_is_directory=True)
    (static / "about").symlink_to(publication.root / "pages", target_is_directory=True)
    build_site(publication.config, now=now)
    public = publication.config.output_path
    assert (public / "reviews" / "still.png").is_file()
    assert not [p for p in public.rglob("*.md")]
    assert not any(b"Not for the web yet." in p.read_bytes()
                   for p in public.rglob("*") if p.is_file())


@pytest.mark.parametrize("link, target", [
    ("static/site", "."), ("static/site", "public"), ("static", "."),
    ("static/settings.toml", "publisher.toml")])
def test_a_static_link_to_the_whole_publication_its_output_or_its_settings_is_refused(
        publication, now, link, target):
    # Each stays inside the publication, as links may: the first would publish publisher.toml
    # and every source beside the site, and the site would copy itself into itself again on
    # every build.
    write_reviews(publication, 1)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    if link != "static":
        (publication.root / "static").mkdir(exist_ok=True)
    (publication.root / link).symlink_to(publication.root / target)
    with pytest.raises(PublisherError) as caught:
        build_site(config, now=now)
    reason = ("to a hidden file of the publication, to its ledger, its DKIM key or to "
              "publisher.toml"
              if target == "publisher.toml" else
              "to the whole publication or to the site publisher writes")
    assert str(caught.value).startswith(f"{link} → {(publication.root / target).resolve()}: "
                                        f"a symbolic link {reason}; publisher never publishes")
    assert snapshot(config.output_path) == before


@pytest.mark.parametrize("target", ["public/feed.xml", "public/reviews", ".publisher/cache"])
def test_a_static_link_into_the_site_publisher_writes_is_refused(publication, now, cli, target):
    # Followed, it would publish the last build's file again under another name, a build
    # behind the file itself (and nothing on a first build, when the file is not there yet).
    write_reviews(publication, 1)
    config = publication.config
    static = publication.root / "static"
    static.mkdir()
    (static / "f.xml").symlink_to(f"../{target}")
    reason = ("a symbolic link into public/, the site publisher writes; publisher never "
              "publishes those (the copy would be the last build's file, or none on a first "
              "build): remove the link, and link readers to the file's own address"
              if target.startswith("public/") else "a symbolic link to a hidden file")
    expected = f"static/f.xml → {(publication.root / target).resolve()}: {reason}"

    def refused() -> None:
        built = cli("build")
        assert built.exit_code == 1
        assert built.stderr.startswith(f"error: {expected}")
        assert not (config.output_path / "f.xml").exists()
        checked = cli("check", "--sources")
        assert checked.exit_code == 1
        assert expected in checked.stderr

    refused()  # a first build: what it leads to is not there yet
    (static / "f.xml").rename(publication.root / "f.xml")
    build_site(config, now=now)
    (publication.root / "f.xml").rename(static / "f.xml")
    refused()  # and once it is


def test_a_review_linked_from_outside_is_refused_by_name(publication, now, tmp_path):
    write_reviews(publication, 1)
    outside = tmp_path / "elsewhere.md"
    shutil.copy(publication.root / "reviews" / "film-1.md", outside)
    (publication.root / "reviews" / "borrowed.md").symlink_to(outside)
    inside = publication.root / "drafts"
    inside.mkdir()
    shutil.copy(publication.root / "reviews" / "film-1.md", inside / "kept.md")
    (inside / "kept.md").write_text((inside / "kept.md").read_text("utf-8")
                                    .replace("Film 1", "Kept"), encoding="utf-8")
    (publication.root / "reviews" / "kept.md").symlink_to(inside / "kept.md")
    with pytest.raises(SourceError) as caught:
        build_site(publication.config, now=now)
    [problem] = caught.value.problems
    assert problem.path == "reviews/borrowed.md"
    assert f"is a symbolic link to {outside}, outside the publication" in problem.message


def test_a_reviews_directory_set_elsewhere_in_the_config_is_the_editors_choice(
        publication, now, tmp_path):
    elsewhere = tmp_path / "shared-reviews"
    elsewhere.mkdir()
    write_reviews(publication, 1)
    shutil.move(publication.root / "reviews" / "film-1.md", elsewhere / "film-1.md")
    publication.add_config(f'reviews_dir = "{elsewhere}"\n'.replace("\n", ""))
    config = publication.config
    assert config.reviews_path == elsewhere
    report = build_site(config, now=now)
    assert "reviews/film-1/index.html" in report.written


def test_a_build_killed_half_way_leaves_nothing_behind_for_the_next(publication, now, tmp_path):
    # A first build is killed once it has written some pages where they go (they are listed
    # in .publisher/new-files-*.txt as it writes them); the next build removes what the kill
    # left and the site is exactly what a build that was never interrupted makes.
    import signal
    import subprocess

    from tests.pausing import Pause

    write_reviews(publication, [{"slug": f"film-{i}",
                                 "date": f"2025-{1 + i % 12:02d}-{1 + i % 27:02d}"}
                                for i in range(300)])
    state = publication.root / ".publisher"
    # Killed as it is about to write its 21st file (any workers it forked die with it).
    with Pause(tmp_path / "pause", "publisher.pipeline.output:Output.put", call=21) as pause:
        child = pause.start("-C", str(publication.root), "--now", now.isoformat(), "build",
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pause.wait(child.pid)
        child.send_signal(signal.SIGKILL)
        child.wait()
    public = publication.root / "public"
    assert list(state.glob("new-files-*.txt")), "killed before it wrote any page"

    # Some other review source now: a page the killed build wrote has no review any more.
    (publication.root / "reviews" / "film-7.md").unlink()
    build_site(publication.config, now=now)
    assert not list(state.glob("new-files-*.txt"))
    assert not (public / "reviews" / "film-7").exists()
    assert contents(public) == built_afresh(publication.root, tmp_path / "clean", now)


def test_sigterm_during_the_commit_leaves_the_new_site_whole(publication, now, tmp_path):
    # The commit renames every staged file in place, then removes what is to go: stopped
    # between the two, the site held new pages, pages about to be removed and none of the
    # files new in this build (abort took those back). It takes milliseconds: the signal is
    # held until it ends, then the command stops as it would have.
    import signal
    import subprocess

    from tests.pausing import Pause

    write_reviews(publication, 5)
    build_site(publication.config, now=now)
    public = publication.root / "public"
    before = contents(public)
    # Every page changes (the title), one goes (a review removed), one is new (a review added).
    toml = publication.root / "publisher.toml"
    toml.write_text(toml.read_text().replace('title = "', 'title = "New ', 1))
    (publication.root / "reviews" / "film-1.md").unlink()
    write_reviews(publication, [{"slug": "new-film", "date": "2025-06-01"}])

    # Paused at the first removal's directory pruning: every staged file is in place.
    with Pause(tmp_path / "pause", "publisher.pipeline.output:Output._prune", call=1) as pause:
        child = pause.start("-C", str(publication.root), "--now", now.isoformat(), "build",
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pause.wait(child.pid)
        child.send_signal(signal.SIGTERM)
        pause.release()
        _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert err.decode().splitlines() == [
        "interrupted by SIGTERM: stopped before the command finished; run it again"]

    after = contents(public)
    new = built_afresh(publication.root, tmp_path / "clean", now)
    assert after != before
    assert after == new


def test_new_directories_are_made_once_and_undone_by_abort(tmp_path):
    from publisher.pipeline.output import Output

    out, state = tmp_path / "public", tmp_path / ".publisher"
    output = Output(out, state)
    made: list[str] = []
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        made.append(os.path.relpath(path, out))
        return real(path, *args, **kwargs)

    os.mkdir = mkdir
    try:
        for name in ("a/b/c/index.html", "a/b/d/index.html", "a/b/c/other.html", "top.html"):
            assert output.put(name, b"x")
    finally:
        os.mkdir = real
    # a/b/c is tried first, its parents made on the way (then a/b/c again); no directory is
    # tried again once made or seen.
    made = [name for name in made if not name.startswith(".")]  # out itself, the journal's
    assert made == ["a/b/c", "a/b", "a", "a/b", "a/b/c", "a/b/d"]
    assert (out / "a/b/c/other.html").read_bytes() == b"x"
    output.abort()
    assert sorted(p.name for p in out.iterdir()) == []


def test_a_file_where_a_directory_must_go_is_named(tmp_path):
    from publisher.pipeline.output import Output, OutputError

    out = tmp_path / "public"
    (out / "reviews").mkdir(parents=True)
    (out / "reviews" / "alien").write_text("a file")
    output = Output(out, tmp_path / ".publisher", label="public/")
    with pytest.raises(OutputError, match="public/: reviews/alien exists and is not a directory"):
        output.put("reviews/alien/index.html", b"page")
    output.abort()
    assert (out / "reviews" / "alien").read_text() == "a file"


@pytest.mark.parametrize("moment", ["after the file is made", "after its directory is made"])
def test_a_signal_the_moment_after_a_file_or_directory_is_made_leaves_neither(tmp_path,
                                                                             monkeypatch,
                                                                             moment):
    # SIGTERM raises Interrupted between two bytecodes: it can land just after a new file (or
    # a new directory) exists on disk and before the Output has noted it. Its abort must
    # still remove it: a first build stopped that way once left one page behind.
    import signal

    from publisher.errors import Interrupted
    from publisher.pipeline import output as output_module

    out, state = tmp_path / "public", tmp_path / ".publisher"
    output = output_module.Output(out, state)
    output.put("reviews/a/index.html", b"first")
    if moment == "after the file is made":
        real = output_module._write_new

        def write_then_signal(path, data):
            real(path, data)
            raise Interrupted(signal.SIGTERM)

        monkeypatch.setattr(output_module, "_write_new", write_then_signal)
    else:
        real_mkdir = os.mkdir

        def mkdir_then_signal(path, *args, **kwargs):
            real_mkdir(path, *args, **kwargs)
            raise Interrupted(signal.SIGTERM)

        monkeypatch.setattr(output_module.os, "mkdir", mkdir_then_signal)
    with pytest.raises(Interrupted):
        output.put("reviews/b/index.html", b"second")
    monkeypatch.undo()
    output.abort()
    assert [p for p in out.rglob("*")] == []


# --- what the umask leaves: the site readable by the web server, nothing writable by others --


def build_under_umask(publication, now, umask: int, *, films: bool = True) -> None:
    """``publisher build`` in a process of its own started under ``umask`` (the umask is read
    when publisher starts, as an operator's shell or cron gives it), of two films unless
    ``films`` is false (the publication's reviews as they are)."""
    if films:
        write_films(publication, 2)
    built = subprocess.run(
        [sys.executable, "-m", "publisher", "-C", str(publication.root), "--now",
         now.isoformat(), "build"],
        preexec_fn=lambda: os.umask(umask), capture_output=True, text=True, timeout=120,
        check=False)
    assert built.returncode == 0, built.stderr


def modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): stat.S_IMODE(p.lstat().st_mode)
            for p in [root, *root.rglob("*")]}


@pytest.mark.slow
def test_under_a_strict_umask_the_web_server_can_still_read_the_site(publication, now):
    # umask 077 or 027 (a hardened server's /etc/login.defs): the site's files were made 0644
    # whatever the umask, but a directory of 0700 kept the web server out of all of them.
    build_under_umask(publication, now, 0o077)
    public = modes(publication.root / "public")
    assert public["reviews/film-1/index.html"] == 0o644 and public["posters/film-1.png"] == 0o644
    assert {path: mode for path, mode in public.items() if mode not in (0o644, 0o755)} == {}
    assert public["."] == public["reviews"] == public["reviews/film-1"] == 0o755



@pytest.mark.slow
def test_directories_an_older_build_left_0700_are_opened_by_the_next_build(publication, now):
    # Builds before the directories were made 0755 whatever the umask left them 0700 (umask
    # 077) or 0750 (027); pages in them that do not change are never written again, so the
    # build opens up the directories of the files it made, once, as it records the site.
    build_under_umask(publication, now, 0o022)
    public = publication.root / "public"
    for path in [public, *public.rglob("*")]:
        if path.is_dir():
            path.chmod(0o700 if path.name != "reviews" else 0o750)
    record = manifest_path(publication.config)
    record.write_bytes(record.read_bytes().replace(b'"version":3', b'"version":2'))
    with (publication.root / "reviews" / "film-1.md").open("a") as review:
        review.write("\nOne more line.\n")  # one page changes; the others are not written
    build_under_umask(publication, now, 0o077, films=False)
    made = modes(public)
    assert {path: oct(mode) for path, mode in made.items() if mode not in (0o644, 0o755)} == {}


@pytest.mark.slow
def test_under_umask_000_nothing_publisher_makes_is_writable_by_others(publication, now):
    # A directory others may write to lets them swap the ledger, or a cache file that the
    # next build unpickles, running their code as the operator.
    build_under_umask(publication, now, 0o000)
    made = {f"public/{path}": mode for path, mode in modes(publication.root / "public").items()}
    made |= {f".publisher/{path}": mode
             for path, mode in modes(publication.root / ".publisher").items()}
    assert ".publisher/cache" in made and "public/reviews/film-1" in made
    assert {path: oct(mode) for path, mode in made.items() if mode & 0o022} == {}


class _Planted:
    """What another user could leave in a cache directory they may write to: a pickle whose
    loading runs their code (here: makes the directory ``marker``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.slow
@pytest.mark.parametrize("planted_by", ["writable", "another user"])
def test_a_state_directory_an_older_publisher_left_writable_is_closed_and_not_trusted(
        publication, now, tmp_path, planted_by):
    # Publishers before nothing they made was writable by others made .publisher/ and its
    # cache under the umask: 0775 under 002, 0777 under 000. Another user may have put a
    # pickle there by the time publisher is upgraded; the next build must not load it, and
    # the directories are closed to others from then on.
    if planted_by == "another user" and os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    build_under_umask(publication, now, 0o022)
    state = publication.root / ".publisher"
    cache = state / "cache"
    state.chmod(0o777)
    cache.chmod(0o775)
    marker = tmp_path / "their-code-ran"
    for name in ("index.pickle", "excerpts.pickle"):
        planted = cache / name
        planted.unlink(missing_ok=True)
        planted.write_bytes(pickle.dumps(_Planted(marker)))
        if planted_by == "writable":
            planted.chmod(0o666)
        else:
            os.chown(planted, 65534, 65534)
    with (publication.root / "reviews" / "film-1.md").open("a") as review:
        review.write("\nOne more line.\n")
    build_under_umask(publication, now, 0o022, films=False)
    assert not marker.exists()
    assert stat.S_IMODE(state.stat().st_mode) == 0o755
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755
    assert "One more line." in (publication.root / "public" / "reviews" / "film-1" /
                                "index.html").read_text()
