"""SpamAssassin scores the default digest and the welcome message below 1.0 (run offline:
`spamassassin -t -L`).

MJML's own hidden preheader (white 1px text) is the classic trigger of HTML_FONT_LOW_CONTRAST;
ours is hidden with display:none and coloured like the body text, and the control case below
shows the rule does fire when the preheader's colour matches the background.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from publisher.render.digest import personalise, preview_values, render_digest
from publisher.render.message import preview_message
from publisher.render.reader import LatestIssue, on_list_message, welcome_message
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.render.strings import load_web_strings
from tests.fixtures import ISSUE_DATE, make_issue

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("spamassassin") is None,
                       reason="spamassassin is not installed (apt-get install spamassassin)"),
]


def spamassassin(message: bytes, home: Path) -> tuple[float, set[str]]:
    """SpamAssassin's score and rule names for ``message``: local tests only, no network, no
    learning, state kept in ``home``."""
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        ["spamassassin", "-t", "-L", "--cf=bayes_auto_learn 0", "--cf=use_bayes 0"],
        input=message, capture_output=True, timeout=120, check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/local/bin", "LANG": "C.UTF-8"},
    )
    report = done.stdout.decode("utf-8", "replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+) required=[\d.]+ tests=(.*?)"
                       r"(?: autolearn=| version=)", report, re.M | re.S)
    assert status, f"no X-Spam-Status header in SpamAssassin's output:\n{report[:2000]}"
    rules = {r for r in re.split(r"[,\s]+", status.group(2)) if r and r != "none"}
    details = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert details and float(details.group(1)) == float(status.group(1))
    return float(status.group(1)), rules


@pytest.fixture
def message(publication) -> tuple[bytes, object]:
    publication.add_config('[newsletter]\npostal_address = "Test Reel, 1 Reel Street, Bristol"\n'
                           'from_address = "newsletter@reel.test"\n')
    config = publication.config
    rendered = render_digest(make_issue(config), Site.from_config(config))
    return preview_message(rendered, Sender.from_config(config), date=ISSUE_DATE), rendered


def test_default_digest_scores_below_one(message, tmp_path):
    raw, _ = message
    score, rules = spamassassin(raw, tmp_path / "home")
    assert score < 1.0, f"SpamAssassin scored {score}: {sorted(rules)}"
    assert "HTML_FONT_LOW_CONTRAST" not in rules
    assert "HTML_MESSAGE" in rules  # it did read the HTML part


def test_the_digest_parts_alone_score_nothing(message, publication, tmp_path):
    # The same HTML and text in a plain multipart/alternative, with the preview's opaque
    # unsubscribe URL: what the templates themselves contribute to the score.
    _, rendered = message
    config = publication.config
    html, text = personalise(rendered, preview_values(Sender.from_config(config)))
    plain = EmailMessage(policy=policy.SMTP)
    plain["From"] = "Test Reel <newsletter@reel.test>"
    plain["To"] = "subscriber@example.org"
    plain["Subject"] = rendered.subject
    plain["Date"] = "Fri, 20 Nov 2026 09:00:00 +0000"
    plain["Message-ID"] = "<issue-3.preview@reel.test>"
    plain.set_content(text)
    plain.add_alternative(html, subtype="html")
    score, rules = spamassassin(plain.as_bytes(), tmp_path / "home")
    assert score <= 0.0, f"SpamAssassin scored {score}: {sorted(rules)}"


def test_a_preheader_coloured_like_the_background_is_caught(message, tmp_path):
    raw, _ = message
    # The control case: give the preheader the page colour, as careless templates do.
    parsed = email.message_from_bytes(raw, policy=policy.SMTP)
    part = parsed.get_body(("html",))
    html, count = re.subn(r'(class="preheader" style="[^"]*?)color:#26221e', r"\1color:#efeae0",
                          part.get_content())
    assert count == 1, "the preheader's style was not found in the HTML part"
    part.set_content(html, subtype="html", cte="quoted-printable")
    score, rules = spamassassin(parsed.as_bytes(), tmp_path / "home")
    assert "HTML_FONT_LOW_CONTRAST" in rules, sorted(rules)


def test_the_welcome_scores_below_one(publication, tmp_path):
    publication.add_config('[newsletter]\npostal_address = "Test Reel, 1 Reel Street, Bristol"\n'
                           'from_address = "newsletter@reel.test"\n')
    config = publication.config
    sender = Sender.from_config(config)
    email_address = "subscriber@example.org"
    raw = welcome_message(
        Site.from_config(config), sender, load_web_strings(config.templates_path, "en"),
        email=email_address, name="Ann", date=ISSUE_DATE, signer=None,
        unsubscribe_url=sender.unsubscribe_url("s3cret", email_address),
        preferences_url=sender.preferences_url("s3cret", email_address),
        next_date="27 November 2026",
        latest=LatestIssue(3, "Test Reel #3: Film 1 and 2 more", "https://reel.test/issues/3/"))
    score, rules = spamassassin(raw, tmp_path / "home")
    assert score < 1.0, f"SpamAssassin scored {score}: {sorted(rules)}"
    assert "HTML_MESSAGE" in rules


def test_the_note_to_a_subscriber_who_asked_again_scores_below_one(publication, tmp_path):
    publication.add_config('[newsletter]\npostal_address = "Test Reel, 1 Reel Street, Bristol"\n'
                           'from_address = "newsletter@reel.test"\n')
    config = publication.config
    sender = Sender.from_config(config)
    raw = on_list_message(
        Site.from_config(config), sender, load_web_strings(config.templates_path, "en"),
        email="subscriber@example.org", name="Ann", from_address="newsletter@reel.test",
        preferences_url=sender.preferences_url("s3cret", "subscriber@example.org"),
        date=ISSUE_DATE, signer=None)
    score, rules = spamassassin(raw, tmp_path / "home")
    assert score < 1.0, f"SpamAssassin scored {score}: {sorted(rules)}"
    assert "HTML_MESSAGE" in rules
