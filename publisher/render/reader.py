"""What a reader sees of ``publisher serve``: its pages, their style sheet, the message with a
confirmation link, the welcome once confirmed, and the note to a subscriber who asks again.
Values in, text or bytes out; the web app decides which to show.

The few words are in ``templates/web/strings.en.toml``; a publication whose ``language`` is
another puts ``templates/web/strings.LANG.toml`` beside its templates (any key it leaves out
stays English). The pages extend ``web/_page.html.j2`` and share the archive's palette; the
messages (``confirmation_message``, ``welcome_message``, ``on_list_message``) use it too.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

from ..text import header_text
from .dkim import DkimSigner, sign_message
from .engine import no_unsubscribe_link, render_template, template_file, wrap_text
from .sender import Sender, fold_subject, format_address, phrase
from .site import Site
from .strings import Strings
from .words import text_direction


def page_context(site: Site, strings: Strings) -> dict[str, Any]:
    return {
        "site": site,
        "publication": site.newsletter_name,
        "language": site.language or "en",
        "direction": text_direction(site.language or "en"),
        "site_url": site.home_url,
        "index_url": site.url("issues/"),
        "postal_address": site.postal_address,
        "t": strings,
    }


def render_page(site: Site, strings: Strings, name: str, context: Mapping[str, Any]) -> str:
    """``templates/web/<name>.html.j2`` with ``context``. Raises TemplateError."""
    values = page_context(site, strings)
    values.update(context)
    return render_template(site.templates, f"web/{name}.html.j2", values)


def render_css(site: Site) -> bytes:
    """The pages' one style sheet (served, so that the CSP needs no inline style)."""
    return render_template(site.templates, "web/style.css.j2", {}).encode("utf-8")


def confirmation_message(site: Site, sender: Sender, strings: Strings, *, email: str,
                         name: str, confirm_url: str, hours: int, date: datetime,
                         signer: DkimSigner | None) -> bytes:
    """The message asking ``email`` to confirm a subscription: text and HTML, from the
    newsletter's sender, DKIM-signed when configured. It is not list mail, so it carries no
    List-Unsubscribe."""
    values = {"publication": site.newsletter_name, "address": email,
              "name": header_text(name), "hours": hours}
    context = {**page_context(site, strings), **values, "confirm_url": confirm_url}
    return _message(site, sender, "confirmation", context,
                    subject=strings("mail_subject", **values), email=email, name=name,
                    date=date, signer=signer)


def on_list_message(site: Site, sender: Sender, strings: Strings, *, email: str, name: str,
                    from_address: str, preferences_url: str, date: datetime,
                    signer: DkimSigner | None) -> bytes:
    """The message that answers a subscribe request for an address already on the list: it is
    subscribed, nothing changed, where issues may have gone (``from_address``: the address they
    come from, to add to contacts), and the link to its preferences. Like the confirmation it
    answers a form anyone may fill in, so it is not list mail."""
    values = {"publication": site.newsletter_name, "address": email,
              "name": header_text(name), "sender": from_address}
    context = {**page_context(site, strings), **values, "preferences_url": preferences_url}
    return _message(site, sender, "on_list", context,
                    subject=strings("on_list_subject", **values), email=email, name=name,
                    date=date, signer=signer)


def address_link_message(site: Site, sender: Sender, strings: Strings, *, email: str,
                         old: str, change_url: str, hours: int, date: datetime,
                         signer: DkimSigner | None) -> bytes:
    """The message to ``email`` asking it to confirm that the subscription of ``old`` moves
    to it (the preferences page's "change address"). Like the confirmation it is not list
    mail: ``email`` is not on the list until it follows the link."""
    values = {"publication": site.newsletter_name, "address": email, "old": old,
              "hours": hours}
    context = {**page_context(site, strings), **values, "change_url": change_url}
    return _message(site, sender, "address_link", context,
                    subject=strings("address_link_subject", **values), email=email, name="",
                    date=date, signer=signer)


def address_changed_message(site: Site, sender: Sender, strings: Strings, *, email: str,
                            name: str, new: str, date: datetime,
                            signer: DkimSigner | None) -> bytes:
    """The notice to ``email``, the address a subscription just left, that it now goes to
    ``new`` — as a bank or Ghost tells the old address — and whom to tell if that was not the
    reader (a reply reaches the publication)."""
    values = {"publication": site.newsletter_name, "address": email, "new": new,
              "name": header_text(name)}
    context = {**page_context(site, strings), **values}
    return _message(site, sender, "address_changed", context,
                    subject=strings("address_changed_subject", **values), email=email,
                    name=name, date=date, signer=signer)


@dataclass(frozen=True)
class LatestIssue:
    """The issue a welcome message points a new subscriber to: the latest one sent."""

    number: int
    subject: str
    url: str


def welcome_message(site: Site, sender: Sender, strings: Strings, *, email: str, name: str,
                    unsubscribe_url: str, preferences_url: str, next_date: str,
                    latest: LatestIssue | None, date: datetime,
                    signer: DkimSigner | None, message_id: str = "") -> bytes:
    """The message that greets ``email`` once its subscription is confirmed: what the
    newsletter is, when the next issue is planned (``next_date``, "" for none) and the latest
    issue to read meanwhile (else the site). It is list mail, the first of the list's, so it
    carries List-Unsubscribe with one-click (RFC 8058) as every issue does. ``message_id``:
    its Message-ID, kept by the caller (a complaint about the welcome quotes it)."""
    values = {"publication": site.newsletter_name, "address": email, "name": header_text(name)}
    context = {**page_context(site, strings), **values, "next_date": next_date,
               "latest": latest, "unsubscribe_url": unsubscribe_url,
               "preferences_url": preferences_url}
    return _message(site, sender, "welcome", context,
                    subject=strings("welcome_subject", **values), email=email, name=name,
                    date=date, signer=signer, unsubscribe_url=unsubscribe_url,
                    message_id=message_id)


def _message(site: Site, sender: Sender, template: str, context: Mapping[str, Any], *,
             subject: str, email: str, name: str, date: datetime, signer: DkimSigner | None,
             unsubscribe_url: str = "", message_id: str = "") -> bytes:
    """``web/<template>.txt.j2`` and ``.html.j2`` as one message from the newsletter's sender to
    ``email``, its text wrapped at 78 columns as an issue's is, DKIM-signed when configured;
    Auto-Submitted keeps vacation responders from
    answering it. With ``unsubscribe_url`` it is list mail: List-Id, List-Unsubscribe (the URL
    and the mailto) with one-click, and a Feedback-ID, as an issue carries."""
    text = wrap_text(render_template(site.templates, f"web/{template}.txt.j2", context))
    html = render_template(site.templates, f"web/{template}.html.j2", context)
    for part, written, link, suffix in (("HTML", html, html_lib.escape(unsubscribe_url), "html"),
                                        ("text part", text, unsubscribe_url, "txt")):
        if unsubscribe_url and link not in written:
            # An override that left it out: list mail shows its way out, as an issue does.
            raise no_unsubscribe_link(
                template_file(site.templates, f"web/{template}.{suffix}.j2"),
                f"{template}'s {part}", "list mail")
    # From, Reply-To, To and Subject are written as the digest writes them: a long or non-ASCII
    # name is folded over lines of RFC 2047 words, which the email package refuses
    # (ValueError), and it would turn a UTF-8 local part into an encoded-word, which no client
    # can reply to; its folded Subject may hold an empty encoded-word (sender.fold_subject).
    addresses = (f"From: {sender.from_header}\r\n"
                 + (f"Reply-To: {sender.reply_to}\r\n" if sender.reply_to else "")
                 + f"To: {format_address(name, email)}\r\n").encode("utf-8") \
        + fold_subject(header_text(subject))
    message = EmailMessage(policy=SMTP)
    message["Date"] = format_datetime(date.astimezone(sender.tz))
    message["Message-ID"] = message_id or make_msgid(template, domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    list_unsubscribe = b""
    if unsubscribe_url:
        message["List-Id"] = f"{phrase(sender.list_name)} <{sender.list_id}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Feedback-ID"] = f"{template}:{sender.campaign}:{template}:{sender.domain}"
        # Written as bytes, as the digest writes it: the email package would fold a long URL
        # into RFC 2047 encoded-words, which no mail client reads as a link.
        list_unsubscribe = (f"List-Unsubscribe: <{unsubscribe_url}>,\r\n"
                            f" <{sender.unsubscribe_mailto}>\r\n").encode("ascii")
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    raw = addresses + list_unsubscribe + message.as_bytes()
    if signer is None:
        return raw
    return sign_message(signer, raw, timestamp=int(date.timestamp()))
