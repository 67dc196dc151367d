"""What a reader sees of ``publisher serve``: its pages, their style sheet, and the message
with a confirmation link. Values in, text or bytes out; the web app decides which to show.

The few words are in ``templates/web/strings.en.toml``; a publication whose ``language`` is
another puts ``templates/web/strings.LANG.toml`` beside its templates (any key it leaves out
stays English). The pages extend ``web/_page.html.j2`` and share the archive's palette.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from ..errors import TemplateError
from ..text import header_text
from .dkim import DkimSigner, sign_message
from .engine import DEFAULT_TEMPLATES, render_template
from .sender import Sender, format_address
from .site import Site

_PLACEHOLDERS = {"publication", "address", "name", "hours"}


@dataclass(frozen=True)
class Strings:
    """The words of the reader's pages, in the publication's language:
    ``strings("confirmed_body", address=…, publication=…)``."""

    values: Mapping[str, str]
    language: str

    def __call__(self, key: str, **values: object) -> str:
        return self.values[key].format_map(values)


def _read_strings(path: Path, known: Mapping[str, str] | None) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the strings: {exc}") from None
    for key, value in data.items():
        if known is not None and key not in known:
            raise TemplateError(f"{path}: {key}: unknown string; the keys are those of "
                                f"{DEFAULT_TEMPLATES / 'web' / 'strings.en.toml'}")
        if not isinstance(value, str):
            raise TemplateError(f"{path}: {key}: expected a string")
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        if not fields <= _PLACEHOLDERS:
            raise TemplateError(f"{path}: {key}: unknown placeholder "
                                f"{{{sorted(fields - _PLACEHOLDERS)[0]}}}; use "
                                + ", ".join(f"{{{p}}}" for p in sorted(_PLACEHOLDERS)))
    return data


def load_strings(templates: Path, language: str) -> Strings:
    """English, overlaid with ``web/strings.<primary language>.toml`` and then
    ``web/strings.<language>.toml`` (say ``pt``, then ``pt-BR``), each from the packaged
    defaults and then the publication's ``templates``. TemplateError names the file and key of
    a broken one."""
    english = DEFAULT_TEMPLATES / "web" / "strings.en.toml"
    values = _read_strings(english, None)
    tags = dict.fromkeys([language.split("-")[0], language] if language else [])
    for tag in tags:
        for directory in (DEFAULT_TEMPLATES, templates):
            path = directory / "web" / f"strings.{tag}.toml"
            if path != english and path.is_file():
                values.update(_read_strings(path, values))
    return Strings(values, language or "en")


def page_context(site: Site, strings: Strings) -> dict[str, Any]:
    return {
        "site": site,
        "publication": site.newsletter_name,
        "language": site.language or "en",
        "site_url": site.base_url,
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
    List-Unsubscribe; Auto-Submitted keeps vacation responders from answering it."""
    values = {"publication": site.newsletter_name, "address": email,
              "name": header_text(name), "hours": hours}
    context = {**page_context(site, strings), **values, "confirm_url": confirm_url}
    text = render_template(site.templates, "web/confirmation.txt.j2", context)
    html = render_template(site.templates, "web/confirmation.html.j2", context)
    message = EmailMessage(policy=SMTP)
    message["From"] = sender.from_header
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["To"] = format_address(name, email)
    message["Subject"] = header_text(strings("mail_subject", **values))
    message["Date"] = format_datetime(date.astimezone(sender.tz))
    message["Message-ID"] = make_msgid("confirm", domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    raw = message.as_bytes()
    if signer is None:
        return raw
    return sign_message(signer, raw, timestamp=int(date.timestamp()))
