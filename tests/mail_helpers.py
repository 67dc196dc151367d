"""Digests and subscribers for the mail tests, shaped like digest.render_digest's output.

The HTML imitates MRML: a head, then the whole body on ONE line of tens of thousands of
characters; the text part is wrapped at 78 columns. Markers stand in both parts, in the places
the real templates put them (a greeting, the footer, an href).
"""

from __future__ import annotations

import html
import random
import textwrap
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from publisher.config import Config
from publisher.models import (
    Film,
    Issue,
    Poster,
    RenderedDigest,
    Review,
    Subscriber,
    personal_markers,
)
from publisher.text import stars

DATE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

TITLES = [
    "Fast & Furious <Extended Cut>",
    "Amélie",
    "Crouching Tiger, Hidden Dragon (卧虎藏龙)",
    "The \"Quiet\" Earth",
    "Ça commence aujourd'hui",
    "Léon: The Professional",
    "Das Boot — Director's Cut",
    "Spirited Away 千と千尋の神隠し",
    "Y Tu Mamá También",
    "{{ not a template }} {% either %}",
]


def make_reviews(config: Config, count: int = 10) -> tuple[Review, ...]:
    reviews = []
    for i in range(count):
        title = TITLES[i % len(TITLES)]
        slug = f"review-{i}"
        date = DATE - timedelta(days=count - i)
        summary = (
            f"{title} is a film about people, places and the odd café; review {i} says "
            "why it still matters — with “smart quotes”, an em dash and a ½ star or two."
        )
        reviews.append(Review(
            slug=slug, title=title, date=date, updated=date, reviewer="Zoë Ångström",
            id=f"tag:{config.domain},2026-11-{i + 1:02d}:{slug}", url=config.permalink(slug),
            body_html=f"<p>{html.escape(summary)}</p>", summary=summary,
            film=Film(year=1990 + i, director="Ang Lee",
                      starring=("Michelle Yeoh", "Chow Yun-fat")),
            rating=Decimal(i % 5) + Decimal("0.5"),
            poster=Poster(src=config.url(f"posters/{slug}.png"), alt=f"Poster for {title}"),
        ))
    return tuple(reviews)


def make_digest(config: Config, *, number: int = 1, count: int = 10,
                subject: str | None = None) -> RenderedDigest:
    """A digest as digest.render_digest would give it (markers included)."""
    reviews = make_reviews(config, count)
    issue = Issue(number=number, subject=subject or f"{config.title} #{number}", date=DATE,
                  reviews=reviews)
    m = personal_markers(f"{config.base_url}#{number}")
    td = 'style="font-family:Georgia,serif;font-size:16px;line-height:24px;color:#1a1a1a;"'
    cards = []
    for r in reviews:
        e = html.escape
        cards.append(
            f'<tr><td align="left" {td}><div style="margin:0px auto;max-width:600px;">'
            f'<table align="center" border="0" cellpadding="0" cellspacing="0" role="presentation"'
            f' style="width:100%;"><tbody><tr><td style="direction:ltr;font-size:0px;padding:20px'
            f' 0;text-align:center;"><img alt="{e(r.poster.alt)}" src="{e(r.poster.src)}"'
            f' width="180" style="border:0;display:block;outline:none;text-decoration:none;'
            f'height:auto;width:100%;font-size:13px;" /><h2 {td}>{e(r.title)}'
            f' ({r.film.year})</h2><p {td}><span aria-hidden="true">{stars(r.rating)}</span>'
            f'<span style="display:none;">{r.rating} out of 5</span> · by {e(r.reviewer)}</p>'
            f'<p {td}>{e(r.summary)}</p><a href="{e(r.url)}" style="display:inline-block;'
            f'background:#7a1f1f;color:#ffffff;font-family:Helvetica,Arial,sans-serif;'
            f'font-size:15px;font-weight:bold;line-height:120%;margin:0;text-decoration:none;'
            f'text-transform:none;padding:10px 25px;mso-padding-alt:0px;border-radius:3px;"'
            f' target="_blank">Read the full review</a></td></tr></tbody></table></div></td></tr>'
        )
    body = (
        f'<div style="display:none;font-size:1px;color:#fefefe;line-height:1px;max-height:0px;'
        f'max-width:0px;opacity:0;overflow:hidden;">{html.escape(", ".join(TITLES))}</div>'
        f'<p {td}>Hello {m["name"]},</p><table role="presentation">'
        + "".join(cards) * 4  # MRML output for a ten-review issue runs to ~40 KB a line
        + f'</table><p {td}>{html.escape(config.newsletter.postal_address or config.title)}'
        f' · Sent to {m["email"]} · <a href="{m["unsubscribe_url"]}">Unsubscribe</a></p>'
    )
    page = (
        '<!doctype html>\n<html lang="en" xmlns="http://www.w3.org/1999/xhtml">\n<head>\n'
        '<meta charset="utf-8">\n<meta name="color-scheme" content="light dark">\n'
        "<style type=\"text/css\">\n  #outlook a { padding:0; }\n\tbody { margin:0; }  \n"
        "</style>\n</head>\n<body style=\"word-spacing:normal;\">\n" + body + "\n</body>\n</html>\n"
    )
    lines = [f"{config.title} — issue {number}", "", f"Hello {m['name']},", ""]
    for r in reviews:
        lines += [f"{r.title} ({r.film.year}) {stars(r.rating)}", f"by {r.reviewer}"]
        lines += textwrap.wrap(r.summary, 78)
        lines += [f"Read the full review: {r.url}", ""]
    lines += [
        "-- ",  # signature separator: a trailing space that must survive
        f"Sent to {m['email']}.",
        f"Unsubscribe: {m['unsubscribe_url']}",
        "Tabs\tand  double  spaces stay as written.  ",
    ]
    return RenderedDigest(issue=issue, subject=issue.subject, html=page,
                          text="\n".join(lines) + "\n", markers=m)


#: Names and addresses that break naive header code.
AWKWARD_SUBSCRIBERS = (
    Subscriber("plain@example.com", "Plain Name"),
    Subscriber("nobody@example.com", ""),
    Subscriber("zoe@example.com", "Zoë Ångström-Łukasiewicz"),
    Subscriber("quote@example.com", 'Ed "The Knife" O\'Brien'),
    Subscriber("angle@example.com", "<script>alert(1)</script> & Sons"),
    Subscriber("comma@example.com", "Smith, John (Jr.)"),
    Subscriber("back@example.com", "back\\slash"),
    Subscriber("fake@example.com", "=?utf-8?q?Admin?="),
    Subscriber("crlf@example.com", "Mal\r\nBcc: victim@example.net"),
    Subscriber("bidi@example.com", "Eve\u202eresu\u202c"),
    Subscriber("long@example.com", "Ŵ" * 90 + " " + "x" * 120),
    Subscriber("用户@例子.广告", "李小龍"),
    Subscriber("josé@exämple.org", "José"),
    Subscriber("plus+tag@sub.example.co.uk", "Plus Tag"),
    Subscriber("emoji@example.com", "Film Fan 🎬👩‍👩‍👧"),
)


def many_subscribers(n: int, seed: int = 3) -> list[Subscriber]:
    """``n`` distinct subscribers with varied names (deterministic)."""
    rnd = random.Random(seed)
    first = ["Zoë", "Ann", "Björn", "O'Neil", "Łucja", "Nnamdi", "Søren", "Maëlle", "陈", "José"]
    last = ["Ångström", "Smith", "\"Q\"", "<Lee>", "Müller & Co", "", "Ó Briain", "van Dijk"]
    out = []
    for i in range(n):
        name = f"{rnd.choice(first)} {rnd.choice(last)} {i:04d}".strip()
        out.append(Subscriber(email=f"reader.{i:04d}+{rnd.randrange(10**6)}@example{i % 7}.org",
                              name=name, id=i + 1))
    return out
