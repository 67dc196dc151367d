"""The values renderers take instead of the Config: Site (digests, archive, feeds) and Sender
(the message template), each built once from the Config at the edge."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from publisher.errors import ConfigError
from publisher.render.digest import preview_values
from publisher.render.message import preview_message
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.render.tokens import verify_unsubscribe_token
from tests.fixtures import ISSUE_DATE, make_digest

SECRET = "test-secret-only-for-tests"


# --- Site ------------------------------------------------------------------------------------


def test_site_resolves_the_newsletter_defaults(publication):
    config = publication.config
    site = Site.from_config(config)
    assert (site.title, site.base_url, site.domain) == ("Test Reel", "https://reel.test/",
                                                         "reel.test")
    assert site.newsletter_name == "Test Reel"  # newsletter.name defaults to the title
    # publisher serve's form, under base_url when no server.url is set (behind a proxy)
    assert site.subscribe_url == site.subscribe_action == "https://reel.test/subscribe"
    assert site.pages and site.per_page == 50 and site.home_reviews == 10
    assert site.tz == site.newsletter_tz == ZoneInfo("Europe/London")
    assert site.excerpt_words == 60 and site.feed_limit == 50 and site.feed_hub == ""
    assert site.templates == config.templates_path and site.static == config.paths.static
    assert site.origin == str(config.path)
    assert site.url("/issues/") == "https://reel.test/issues/"


def test_site_takes_what_the_config_sets(publication):
    publication.add_config('[newsletter]\nname = "The Letter"\ntimezone = "Asia/Tokyo"\n'
                           'subscribe_url = "https://lists.test/join"\nexcerpt_words = 12\n'
                           '[feeds]\nlimit = 3\nhub = "https://hub.test/"\n')
    site = Site.from_config(publication.config)
    assert site.newsletter_name == "The Letter"
    assert site.newsletter_tz == ZoneInfo("Asia/Tokyo") and site.tz == ZoneInfo("Europe/London")
    assert site.subscribe_url == "https://lists.test/join"
    assert site.subscribe_action == ""  # a page elsewhere: linked to, never posted to
    assert (site.excerpt_words, site.feed_limit, site.feed_hub) == (12, 3, "https://hub.test/")


def test_a_server_url_gives_the_subscribe_form_its_action(publication):
    publication.add_config('[server]\nurl = "https://list.reel.test/app"\n')
    site = Site.from_config(publication.config)
    assert site.subscribe_action == "https://list.reel.test/app/subscribe"
    assert site.subscribe_url == "https://list.reel.test/app/subscribe"


def test_an_absolute_permalink_means_the_pages_live_elsewhere(publication):
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    config = publication.config
    assert config.permalink("alien") == "https://www.reel.test/post/alien"
    site = Site.from_config(config)
    assert not site.pages


def test_a_site_is_a_frozen_value(publication):
    site = Site.from_config(publication.config)
    assert site == Site.from_config(publication.config)
    with pytest.raises(AttributeError):
        site.title = "Other"  # type: ignore[misc]


# --- Sender ----------------------------------------------------------------------------------


def test_sender_defaults_come_from_the_site(publication):
    sender = Sender.from_config(publication.config)
    assert sender.from_header == "Test Reel <newsletter@reel.test>"  # base_url's host
    assert sender.reply_to == ""
    assert sender.envelope_from == "newsletter@reel.test"  # no bounce_address
    assert (sender.list_id, sender.list_name, sender.campaign) == ("reel.test", "Test Reel",
                                                                   "reel.test")
    assert sender.unsubscribe_base == "https://reel.test/unsubscribe?"
    assert sender.unsubscribe_mailto == "mailto:newsletter@reel.test?subject=unsubscribe"
    assert sender.domain == "reel.test" and sender.tz == ZoneInfo("Europe/London")


def test_sender_takes_every_newsletter_key(publication):
    publication.add_config(
        '[newsletter]\nname = "The Letter"\nfrom_name = "Zoë, Ed"\nfrom_address = "n@reel.test"\n'
        'reply_to = "ed@reel.test"\nbounce_address = "b@reel.test"\nlist_id = "list.reel.test"\n'
        'unsubscribe_url = "https://l.test/ü?x=1"\nunsubscribe_mailto = "u@exämple.org"\n'
        'feedback_id = "camp aign/1"\ntimezone = "Asia/Tokyo"\n')
    sender = Sender.from_config(publication.config)
    assert sender.from_header == "=?utf-8?b?Wm/DqywgRWQ=?= <n@reel.test>"
    assert sender.reply_to == "ed@reel.test" and sender.envelope_from == "b@reel.test"
    assert (sender.list_id, sender.list_name) == ("list.reel.test", "The Letter")
    assert sender.unsubscribe_base == "https://l.test/%C3%BC?x=1&"  # headers carry ASCII
    assert sender.unsubscribe_mailto == "mailto:u@xn--exmple-cua.org?subject=unsubscribe"
    assert sender.campaign == "camp-aign-1"
    assert sender.tz == ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize("key", ["from_address", "reply_to", "bounce_address"])
def test_an_unusable_sender_address_is_a_config_error_when_the_sender_is_built(publication, key):
    publication.add_config(f'[newsletter]\n{key} = "news at reel.test"\n')
    with pytest.raises(ConfigError) as info:
        Sender.from_config(publication.config)
    assert str(info.value) == (
        f"{publication.root / 'publisher.toml'}: newsletter: 'news at reel.test' is not a "
        "usable address: it has no local part and domain")


def test_an_unusable_unsubscribe_mailto_is_a_config_error_naming_the_key(publication):
    # It used to escape from the message template as an AddressError, which is a delivery
    # error about one subscriber, not a mistake in publisher.toml.
    publication.add_config('[newsletter]\nunsubscribe_mailto = "stop me@reel.test"\n')
    with pytest.raises(ConfigError, match=r"publisher\.toml: newsletter\.unsubscribe_mailto: "
                                          r"'stop me@reel\.test' is not a usable address"):
        Sender.from_config(publication.config)


def test_a_bad_list_id_fails_before_anything_is_rendered(publication):
    publication.add_config('[newsletter]\nlist_id = "no-dots"\n')
    with pytest.raises(ConfigError) as info:
        Sender.from_config(publication.config)
    assert str(info.value) == (
        f"{publication.root / 'publisher.toml'}: newsletter.list_id: 'no-dots' is not a list "
        "identifier; write a dotted name such as \"reviews.example.org\"")


def test_unsubscribe_urls_carry_a_token_for_the_senders_list(publication):
    sender = Sender.from_config(publication.config)
    url = sender.unsubscribe_url(SECRET, "a@example.com")
    base, _, token = url.partition("&token=")
    assert base == "https://reel.test/unsubscribe?address=a%40example.com"
    assert verify_unsubscribe_token(SECRET, sender.list_id, "a@example.com", token)
    assert sender.preview_unsubscribe_url() == (
        "https://reel.test/unsubscribe?address=subscriber%40example.org&token=preview")


def test_previews_take_the_sender_and_no_secret(monkeypatch, publication):
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    sender = Sender.from_config(publication.config)
    values = preview_values(sender)
    assert values["unsubscribe_url"] == sender.preview_unsubscribe_url()
    raw = preview_message(make_digest(publication.config), sender, date=ISSUE_DATE)
    assert f"<{sender.preview_unsubscribe_url()}>".encode() in raw
