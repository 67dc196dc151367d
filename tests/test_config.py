"""publisher.toml: typed, validated, one clear line per mistake naming the key and the file."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from publisher.config import load_config, secret_from_env
from publisher.errors import ConfigError
from tests.fixtures import EXAMPLE, MINIMAL_CONFIG


def test_the_example_is_a_publication():
    config = load_config(directory=EXAMPLE)
    assert config.title == "The Second Reel"
    assert config.base_url == "https://secondreel.example.org/"
    assert config.domain == "secondreel.example.org"
    assert config.newsletter.schedule == "0 9 * * FRI"


def test_defaults_fill_what_the_file_leaves_out(publication):
    config = publication.config
    assert config.output_path == publication.root / "public"
    assert config.feeds.limit == 50
    assert config.delivery.connections == 4
    assert config.newsletter_name == "Test Reel"
    assert config.permalink("alien") == "https://reel.test/reviews/alien/"


def test_paths_are_made_once_per_config_and_follow_a_replaced_root(publication, tmp_path):
    config = publication.config
    assert config.paths is config.paths  # parsing reads it per review
    assert config.reviews_path == publication.root / "reviews"
    moved = dataclasses.replace(config, root=tmp_path / "elsewhere")
    assert moved.reviews_path == tmp_path / "elsewhere" / "reviews"
    assert pickle.loads(pickle.dumps(config)).paths == config.paths


def test_a_linked_publisher_toml_keeps_the_publication_where_the_link_is(publication,
                                                                       tmp_path, cli):
    """publisher.toml kept in a config repository and linked into the publication: the site,
    the ledger and cron's command stay in the link's directory, as -C DIR names it."""
    kept = tmp_path / "configs" / "publisher.toml"
    kept.parent.mkdir()
    (publication.root / "publisher.toml").rename(kept)
    (publication.root / "publisher.toml").symlink_to(kept)
    config = load_config(directory=publication.root)
    assert config.root == publication.root
    assert config.output_path == publication.root / "public"
    assert config.paths.state == publication.root / ".publisher"
    # named otherwise, by --config: still the link's directory, and cron reads it by that name
    other = publication.root / "reel.toml"
    other.symlink_to(kept)
    assert load_config(other).root == publication.root
    crontab = cli("--config", str(other), "schedule", "crontab")
    assert crontab.exit_code == 0, crontab.output
    assert f"--config {other} run" in crontab.stdout and str(kept) not in crontab.stdout
    assert not (kept.parent / "public").exists()


def test_base_url_gains_a_trailing_slash(publication):
    publication.write_config(MINIMAL_CONFIG.replace('"https://reel.test/"', '"https://reel.test/blog"'))
    assert publication.config.base_url == "https://reel.test/blog/"
    assert publication.config.url("feed.xml") == "https://reel.test/blog/feed.xml"


@pytest.mark.parametrize(("base_url", "from_address"), [
    ("https://reel.test/", "newsletter@reel.test"),
    ("https://reviews.secondlooks.org/blog/", "newsletter@reviews.secondlooks.org"),
    # No domain name to send from: the placeholder stays, for check and sending to name.
    ("http://127.0.0.1:8000/", "newsletter@example.org"),
    ("http://localhost:8000/", "newsletter@example.org"),
])
def test_mail_comes_from_base_urls_domain_unless_from_address_is_given(publication, base_url,
                                                                       from_address):
    publication.write_config(MINIMAL_CONFIG.replace('"https://reel.test/"', f'"{base_url}"'))
    assert publication.config.newsletter.from_address == from_address
    publication.add_config('[newsletter]\nfrom_address = "news@mail.reel.test"\n')
    assert publication.config.newsletter.from_address == "news@mail.reel.test"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("titel = 'x'", "titel: unknown key; did you mean 'title'?"),
        ("[feeds]\nlimt = 3", "feeds.limt: unknown key; did you mean 'feeds.limit'?"),
        ("[feeds]\nlimit = 'ten'", "feeds.limit: expected an integer, got str 'ten'"),
        # A right key in the wrong table: TOML puts a key in the table above it.
        ("permalink = 'x/{slug}/'", "permalink: unknown key; did you mean 'feeds.permalink' "
                                    "(under [feeds])?"),
        ("[site]\ntransport = 'smtp://x'", "site.transport: unknown key; a key below a [site] "
                                           "line belongs to [site]; did you mean "
                                           "'delivery.transport' (under [delivery])?"),
        ("[feeds]\ntimezone = 'UTC'", "feeds.timezone: unknown key; a key below a [feeds] line "
                                      "belongs to [feeds]; did you mean 'timezone' (above the "
                                      "first [table] line) or 'newsletter.timezone' (under "
                                      "[newsletter])?"),
        ("[feeds]\nlimit = 0", "feeds.limit: must be at least 1"),
        ("[delivery]\npassword = 'hunter2'", "passwords come only from the environment"),
        ("[newsletter]\ntimezone = 'Mars/Olympus'", "newsletter.timezone: unknown time zone"),
        ("[feeds]\npermalink = 'reviews/'", "feeds.permalink: must contain {slug}"),
        ("feeds = 3", "feeds: expected a table [feeds]"),
        ("[moved]\n'../etc/' = 'tags/x/'", "moved: '../etc/' is not a directory of this site; "
                                          "write the path under base_url"),
        ("[moved]\n'tags/a/' = 'https://elsewhere.test/a/'", "moved: 'https://elsewhere.test/a/' "
                                                            "is not a directory of this site"),
        ("[moved]\n'tags/a/' = '/tags/a'", "moved: 'tags/a/' is moved to itself; remove the line"),
        ("[site]\nrelated = 21", "site.related: must be from 0 (none) to 20, got 21"),
        ("[moved]\n'tags/a/' = 3", "moved: expected a table of \"old/\" = \"new/\" lines"),
        ("[feeds]\nids = 'posts/{slug}/'", "feeds.ids: 'posts/{slug}/' does not make a URI"),
        ("[feeds]\nids = 'tag:{domain},{year}:{slug}'", "feeds.ids: 'tag:{domain},{year}:"),
        ("[feeds]\nids = 'tag:{domain},{date}:x'", "feeds.ids: 'tag:{domain},{date}:x' does not"),
        ("[feeds]\nid_domain = 'https://reel.test/'", "feeds.id_domain: 'https://reel.test/' is "
                                                    "not a domain name; write the host alone"),
        # A negative grace skipped every slot, with exit 0; zero is a choice (never late).
        ("[newsletter]\ngrace_hours = -5", "newsletter.grace_hours: must be at least 0 (hours a "
                                          "missed issue may still go out late), got -5"),
        ("[newsletter]\ngrace_hours = nan", "newsletter.grace_hours: must be at least 0"),
        # Zero would give up on, expire or time out everything at once.
        ("[delivery]\ngive_up_hours = 0", "delivery.give_up_hours: must be more than 0"),
        ("[delivery]\ngive_up_hours = -1", "delivery.give_up_hours: must be more than 0"),
        ("[delivery]\nretry_base_seconds = 0", "delivery.retry_base_seconds: must be more than 0"),
        ("[delivery]\ntimeout = -30", "delivery.timeout: must be more than 0"),
        ("[server]\nconfirm_hours = -48", "server.confirm_hours: must be more than 0 (hours a "
                                          "confirmation link works), got -48"),
        ("[server]\nundo_hours = 0", "server.undo_hours: must be more than 0"),
        ("[server]\nundo_hours = inf", "server.undo_hours: must be more than 0"),
        ("[inbox]\nsoft_bounce_days = 0", "inbox.soft_bounce_days: must be more than 0"),
        # Past what a date can hold, a grace stopped `check` with a traceback; any more than a
        # year is a typo.
        ("[newsletter]\ngrace_hours = 1e300", "newsletter.grace_hours: must be at most 8784 "
                                            "(hours a missed issue may still go out late), "
                                            "got 1e+300"),
        ("[delivery]\ngive_up_hours = 9000", "delivery.give_up_hours: must be at most 8784"),
        ("[delivery]\ntimeout = 1e9", "delivery.timeout: must be at most 86400"),
        ("[inbox]\nsoft_bounce_days = 400", "inbox.soft_bounce_days: must be at most 366"),
        # A negative rate limit sent with no limit; a negative per-IP limit refused every reader.
        ("[delivery]\nrate_limit = -5", "delivery.rate_limit: must be at least 0 (messages a "
                                        "minute; 0 for no limit), got -5"),
        ("[delivery]\nsession_messages = 0", "delivery.session_messages: must be at least 1"),
        ("[newsletter]\nexcerpt_words = -3", "newsletter.excerpt_words: must be at least 1"),
        ("[server]\nsubscribe_per_ip_hour = -1", "server.subscribe_per_ip_hour: must be at "
                                                 "least 1"),
        ("[server]\nconfirmations_per_day = 0", "server.confirmations_per_day: must be at "
                                                "least 1"),
    ],
)
def test_mistakes_name_the_key_and_the_file(publication, extra, expected):
    publication.add_config(extra)
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    message = str(caught.value)
    assert message.startswith(str(publication.root / "publisher.toml"))
    assert expected in message
    assert "\n" not in message


def test_every_mistake_is_named_at_once_one_line_each(publication):
    publication.add_config("titel = 'x'\n[feeds]\nlimit = 'ten'\n[site]\nper_page = 0\n"
                           "[newsletter]\ntimezone = 'Mars/Olympus'\n")
    where = publication.root / "publisher.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    # What cannot be read at all first; the values are judged once every key reads.
    assert str(caught.value).splitlines() == [
        f"{where}: titel: unknown key; did you mean 'title'?",
        f"{where}: feeds.limit: expected an integer, got str 'ten'"]
    publication.write_config(MINIMAL_CONFIG + "[site]\nper_page = 0\n[newsletter]\n"
                             "timezone = 'Mars/Olympus'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    assert str(caught.value).splitlines() == [
        f"{where}: newsletter.timezone: unknown time zone 'Mars/Olympus'; use an IANA name such "
        'as "Europe/London"',
        f"{where}: site.per_page: must be at least 1 (and site.home_reviews at least 0)"]


def test_an_empty_timezone_is_named_and_an_empty_newsletter_timezone_is_the_sites(publication):
    """timezone = "" went on to ZoneInfo(""): a traceback in check, schedule, new and init."""
    publication.write_config(MINIMAL_CONFIG.replace('"Europe/London"', '""'))
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    assert str(caught.value) == (f"{publication.root / 'publisher.toml'}: timezone: empty; use "
                                 'an IANA name such as "Europe/London"')
    publication.write_config(MINIMAL_CONFIG + '[newsletter]\ntimezone = ""\n')
    assert str(load_config(directory=publication.root).newsletter_tz) == "Europe/London"


@pytest.mark.parametrize("title", ["", "   "])
def test_an_empty_title_is_named_as_a_missing_one_is(publication, title):
    """Pages got <title></title> and feeds an empty channel title."""
    publication.write_config(MINIMAL_CONFIG.replace('"Test Reel"', f'"{title}"'))
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    assert str(caught.value) == (f"{publication.root / 'publisher.toml'}: title: empty; write the "
                                 "publication's name, e.g. title = \"The Second Reel\"")


@pytest.mark.parametrize("language", ["", " "])
def test_an_empty_language_is_english_as_a_missing_one_is(publication, language):
    """Pages said lang="en" (the renderers' own default) but feeds <language></language>."""
    publication.write_config(MINIMAL_CONFIG.replace('"en"', f'"{language}"'))
    assert load_config(directory=publication.root).language == "en"
    publication.write_config(MINIMAL_CONFIG.replace('language = "en"\n', ""))
    assert load_config(directory=publication.root).language == "en"


@pytest.mark.parametrize(("written", "tag"), [("de_DE", "de-DE"), ("DE", "de"),
                                              ("pt_br", "pt-br"), ("zh_Hant_TW", "zh-Hant-TW")])
def test_a_language_written_as_a_locale_name_is_read_as_its_language_tag(publication, written,
                                                                          tag):
    """"de_DE" (as WordPress and POSIX write it) went out as lang="de_DE", which browsers'
    Intl refuses, and strings.de.toml was never read."""
    publication.write_config(MINIMAL_CONFIG.replace('"en"', f'"{written}"'))
    assert load_config(directory=publication.root).language == tag


def test_a_moved_line_wrong_on_both_sides_is_named_for_each_side_only(publication):
    publication.add_config("[moved]\n'../a/' = 'https://elsewhere.test/'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 2)[2][:32] for line in lines] == [
        "'../a/' is not a directory of th", "'https://elsewhere.test/' is not"]


@pytest.mark.parametrize("base_url", ["/reviews/", "reel.test", "ftp://reel.test/",
                                      "https://[::1/"])
def test_a_relative_or_odd_base_url_is_refused(publication, base_url):
    publication.write_config(MINIMAL_CONFIG.replace('"https://reel.test/"', f'"{base_url}"'))
    with pytest.raises(ConfigError, match="base_url: .* is not an absolute http\\(s\\) URL"):
        load_config(directory=publication.root)


@pytest.mark.parametrize(("base_url", "expected"), [
    ("https://reviews.example.org/?utm=1",
     "base_url: 'https://reviews.example.org/?utm=1' has a query ('?utm=1'); remove it"),
    ("https://reviews.example.org/#f", "base_url: 'https://reviews.example.org/#f' has a "
                                       "fragment ('#f'); remove it"),
    ("https://reviews example.org/", "base_url: 'https://reviews example.org/' holds a space; "
                                     "remove it"),
    ("https://reviews.example.org:99999/", "base_url: 'https://reviews.example.org:99999/' has "
                                           "the port '99999', which is no TCP port"),
    ("https://reviews.example.org:0/", "has the port '0', which is no TCP port"),
    # The password is published in every page and feed: named, never repeated.
    ("https://editor:hunter2@reviews.example.org/", "base_url: 'https://editor:***@reviews."
                                                    "example.org/' holds a user name and "
                                                    "password; remove 'editor:***@'"),
    ("https://:8080/", "base_url: 'https://:8080/' has no host name"),
])
def test_a_base_url_that_would_break_every_link_says_what_to_remove(publication, base_url,
                                                                    expected):
    publication.write_config(MINIMAL_CONFIG.replace('"https://reel.test/"', f'"{base_url}"'))
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message and "hunter2" not in message


@pytest.mark.parametrize(("table", "expected"), [
    ('[server]\nurl = "https://list.reel.test/#x"', "server.url: 'https://list.reel.test/#x' "
                                                    "has a fragment ('#x'); remove it"),
    ('[server]\nurl = "https://list.reel.test/?a=1"', "server.url: 'https://list.reel.test/?a=1'"
                                                      " has a query ('?a=1'); remove it"),
    ('[server]\nurl = "https://u:pw@list.reel.test/"', "server.url: 'https://u:***@list.reel."
                                                       "test/' holds a user name and password"),
    ('[newsletter]\nsubscribe_url = "https://lists.test:0/reel"',
     "newsletter.subscribe_url: 'https://lists.test:0/reel' has the port '0'"),
    ('[newsletter]\nunsubscribe_url = "https://lists.test/u#x"',
     "newsletter.unsubscribe_url: 'https://lists.test/u#x' has a fragment ('#x'); remove it"),
    ('[newsletter]\npreferences_url = "https://ed@lists.test/p"',
     "newsletter.preferences_url: 'https://ed@lists.test/p' holds a user name; remove 'ed@'"),
    ('[newsletter]\nsubscribe_url = "lists.test/reel"',
     "newsletter.subscribe_url: 'lists.test/reel' is not an absolute http(s) URL"),
    ('[feeds]\nhub = "https://hub .test/"', "feeds.hub: 'https://hub .test/' holds a space"),
    ('[feeds]\npermalink = "https://ed:pw@www.reel.test/post/{slug}"',
     "feeds.permalink: 'https://ed:***@www.reel.test/post/{slug}' holds a user name and "
     "password"),
])
def test_every_published_url_refuses_what_would_break_it_or_give_a_password_away(
        publication, table, expected):
    publication.add_config(table)
    with pytest.raises(ConfigError) as caught:
        load_config(directory=publication.root)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_reader_urls_keep_their_query_and_a_sign_up_page_its_fragment(publication):
    publication.add_config('[newsletter]\nunsubscribe_url = "https://lists.test/u?list=reel"\n'
                           'preferences_url = "https://lists.test/p?list=reel"\n'
                           'subscribe_url = "https://reel.test/about/#subscribe"\n')
    assert load_config(directory=publication.root).newsletter.subscribe_url == (
        "https://reel.test/about/#subscribe")


def test_a_missing_base_url_is_named(publication):
    publication.write_config(MINIMAL_CONFIG.replace('base_url = "https://reel.test/"\n', ""))
    with pytest.raises(ConfigError, match="base_url: required key is missing"):
        load_config(directory=publication.root)


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="no such file; run 'publisher init DIR'"):
        load_config(directory=tmp_path)


def test_invalid_toml_names_the_file(publication):
    publication.write_config('title = "unterminated\n')
    with pytest.raises(ConfigError, match="publisher.toml: not valid TOML"):
        load_config(directory=publication.root)


def test_secrets_come_only_from_the_environment(monkeypatch):
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET is not set; it signs links"):
        secret_from_env("PUBLISHER_SECRET", "it signs links")
    monkeypatch.setenv("PUBLISHER_SECRET", "s3cret-value")
    assert secret_from_env("PUBLISHER_SECRET", "it signs links") == "s3cret-value"


@pytest.mark.parametrize(("table", "key"), [
    ('[feeds]\npermalink = "https://[::1/{slug}"\n', "feeds.permalink"),
    ('[feeds]\nformer_permalinks = ["//[::1/{slug}/"]\n', "feeds.former_permalinks"),
    ('[feeds]\nhub = "https://[::1/"\n', "feeds.hub"),
    ('[server]\nurl = "https://[::1/"\n', "server.url"),
    ("[moved]\n'x://[::1' = 'tags/b/'\n", "moved"),
    ('[site]\nwithdrawn = ["https://[::1/reviews/x/"]\n', "site.withdrawn"),
])
def test_a_url_urlsplit_cannot_read_names_its_key(publication, table, key):
    """An unclosed "[" made urlsplit raise ValueError: every command ended in a traceback."""
    publication.add_config(table)
    with pytest.raises(ConfigError, match=f"publisher.toml: {key}: "):
        load_config(directory=publication.root)


def test_a_withdrawn_address_that_is_no_page_of_the_site_is_named(publication):
    publication.add_config('[site]\nwithdrawn = ["https://elsewhere.test/reviews/x/"]\n')
    with pytest.raises(ConfigError, match="site.withdrawn: 'https://elsewhere.test/reviews/x/' "
                                          "is not the address of a page of this site"):
        load_config(directory=publication.root)
