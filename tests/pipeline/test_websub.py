"""WebSub: a build tells a real hub on loopback about every feed it changed, exactly once, and
a hub that is down, slow or refusing never fails a build."""

from __future__ import annotations

import json

from publisher.pipeline.build import build_publication
from publisher.pipeline.websub import announce
from tests.fixtures import Hub, free_port, wait_for, write_reviews
from tests.smtpserver import ScriptedServer


def use_hub(publication, url):
    publication.add_config(f'[feeds]\nhub = "{url}"\n')


def feed_urls(base, *directories):
    return sorted(f"{base}{d}{name}" for d in directories
                  for name in ("feed.xml", "atom.xml", "feed.json"))


def test_the_hub_hears_of_every_changed_feed_exactly_once(publication, hub, now):
    write_reviews(publication, [{"tags": "[drama]"}, {"tags": "[drama, noir]"}])
    use_hub(publication, hub.url)
    config = publication.config
    report = build_publication(config, now=now)
    expected = feed_urls(config.base_url, "", "reviewers/priya-raman/", "tags/drama/",
                         "tags/noir/")
    assert sorted(hub.pings) == expected  # each once: no duplicates
    assert all(r["hub.mode"] == ["publish"] for r in hub.requests)
    assert report.websub == f"websub: told {hub.url} about 12 feeds"
    assert not config.paths.websub_queue.exists()

    # nothing changed: nothing to tell
    report = build_publication(config, now=now)
    assert report.websub == "" and len(hub.pings) == 12

    # a review in one tag: the site feed, its reviewer's and that tag's, nothing else
    write_reviews(publication, [{"slug": "new", "tags": "[noir]"}], first=now.date())
    build_publication(config, now=now)
    assert sorted(hub.pings[12:]) == feed_urls(config.base_url, "", "reviewers/priya-raman/",
                                               "tags/noir/")


def test_the_archive_feed_of_issues_is_a_topic_too(publication, hub, now):
    from publisher.ledger import open_store
    from publisher.sources import load_reviews

    write_reviews(publication, 1)
    use_hub(publication, hub.url)
    config = publication.config
    build_publication(config, now=now)
    review = load_reviews(config).reviews[0]
    with open_store(config) as store:
        store.create_issue(subject="Test Reel #1", review_ids=[review.id], now=now)
        store.queue_deliveries(1, now=now)
        store.finish_if_done(1, now=now)
    hub.pings.clear()
    build_publication(config, now=now)
    assert hub.pings == [f"{config.base_url}issues/atom.xml"]
    assert b'rel="hub"' in (config.output_path / "issues" / "atom.xml").read_bytes()


def test_a_hub_that_is_down_is_told_on_the_next_build(publication, now):
    write_reviews(publication, 1)
    port = free_port()
    use_hub(publication, f"http://127.0.0.1:{port}/hub")  # nothing listens there yet
    config = publication.config
    report = build_publication(config, now=now)
    assert report.written  # the build itself went through
    assert "could not be reached" in report.websub
    assert "will be announced on the next build" in report.websub
    queued = json.loads(config.paths.websub_queue.read_text("utf-8"))["topics"]
    assert sorted(queued) == feed_urls(config.base_url, "", "reviewers/priya-raman/")

    # the hub is back: a build with nothing new to write still tells it what it missed
    hub = Hub(port)
    try:
        report = build_publication(config, now=now)
    finally:
        hub.close()
    assert not report.written
    assert sorted(hub.pings) == sorted(queued)
    assert not config.paths.websub_queue.exists()


def test_a_hub_in_trouble_keeps_the_queue_and_a_refusal_drops_it(publication, hub, now):
    write_reviews(publication, 1)
    use_hub(publication, hub.url)
    config = publication.config
    hub.status = 503
    report = build_publication(config, now=now)
    assert "answered HTTP 503" in report.websub and len(hub.requests) == 1  # stops at once
    assert config.paths.websub_queue.exists()
    hub.status = 400
    report = announce(config)
    assert "refused" in report.line and "not retried" in report.line
    assert not config.paths.websub_queue.exists()


def test_a_slow_hub_costs_the_build_one_timeout_not_one_per_feed(publication, now):
    write_reviews(publication, 1)
    # A hub that takes the request and never answers: slower than any timeout.
    with ScriptedServer(lambda server, conn: None) as hub:
        use_hub(publication, f"http://127.0.0.1:{hub.port}/hub")
        config = publication.config
        from publisher.pipeline.build import build_site

        topics = build_site(config, now=now).topics
        assert len(topics) == 6
        report = announce(config, topics, timeout=0.3)
        wait_for(lambda: hub.connections >= 1, what="the hub to take the first ping")
    # one timeout, then the rest waits for the next run: one ping tried, not one per feed
    assert hub.connections == 1
    assert "did not answer within 0.3 s" in report.line
    assert len(report.queued) == 6


def test_without_a_hub_nothing_is_sent_and_a_stale_queue_goes(publication, now):
    write_reviews(publication, 1)
    config = publication.config
    config.paths.websub_queue.parent.mkdir(parents=True, exist_ok=True)
    config.paths.websub_queue.write_text('{"topics": ["https://reel.test/feed.xml"]}')
    report = build_publication(config, now=now)
    assert report.websub == ""
    assert not config.paths.websub_queue.exists()


def test_the_build_command_prints_the_hub_line(publication, hub, cli):
    write_reviews(publication, 1)
    use_hub(publication, hub.url)
    result = cli("build")
    assert result.exit_code == 0, result.output
    assert f"websub: told {hub.url} about 6 feeds" in result.output
