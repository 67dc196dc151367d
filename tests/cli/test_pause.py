"""One recipient's policy refusal (5.7.1) pauses the issue: the line says how to get the issue to
everyone else, and that way works."""

from __future__ import annotations

from datetime import timedelta

from tests.fixtures import SLOT, add_subscribers, use_smtp, write_reviews

SECRET = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}


def test_a_paused_issue_names_the_way_out_of_one_refused_address(publication, cli, server):
    write_reviews(publication, 2)
    use_smtp(publication, server.url, connections=1)
    addresses = add_subscribers(publication.config, 4, SLOT - timedelta(days=1))
    refused = addresses[1]
    server.fail(refused, "554")
    result = cli("run", now=SLOT + timedelta(minutes=1), env=SECRET)
    assert result.exit_code == 1
    assert (f"if only that address is refused, 'publisher subscribers unsubscribe {refused}' "
            "lets the others get the issue") in result.stderr
    assert "'publisher issue send 1' resumes it" in result.stderr

    assert cli("subscribers", "unsubscribe", refused).exit_code == 0
    resumed = cli("issue", "send", "1", now=SLOT + timedelta(minutes=5), env=SECRET)
    assert resumed.exit_code == 0, resumed.output
    delivered = sorted(r for m in server.messages for r in m.rcpt_tos)
    assert delivered == sorted(a for a in addresses if a != refused)
