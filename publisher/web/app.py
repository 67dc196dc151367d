"""The readers' web application (Starlette): thin handlers over ``pipeline.reader.ReaderDesk``.

Routes, all at the top of server.url (links between pages are relative, so a reverse proxy may
serve them under a path):

- ``GET /subscribe`` (and ``/``): the form; ``POST /subscribe``: record the request, answer
  "check your inbox" — the same page whether the address is new, waiting or subscribed — and
  send the confirmation after answering.
- ``GET /confirm?token=``: a button; ``POST``: confirm (single use, expires), and send the
  welcome message after answering (``newsletter.welcome``).
- ``GET /unsubscribe?address=&token=``: a button; ``POST``: unsubscribe, 200, no redirect — the
  RFC 8058 one-click request needs no cookie, no CSRF token, no JavaScript. Nothing changes on
  GET: mail scanners and link previewers fetch every link.
- ``POST /resubscribe?token=``: the undo button, for ``server.undo_hours`` after the reader left.
- ``GET /preferences?token=``; ``POST`` with ``action`` = name, address (mail a link to a new
  address), unsubscribe, resubscribe, export (JSON download) or erase.
- ``GET /change-address?token=``: a button; ``POST``: move the subscription to the address the
  link was mailed to (works once, expires), and tell the old address after answering.
- ``GET /healthz``, ``GET /style.css``, ``GET /icon.png`` (site.icon, by its suffix); anything
  else 404.
While it runs, a round every minute sends the confirmations and welcomes the relay did not take
(``ReaderDesk.send_owed``).

The token is the only credential, and it is in the URL the reader was sent; there are no
cookies, so there is nothing for a cross-site request to borrow. Every response carries a strict
CSP (no script at all, no inline style, no framing), nosniff, no-referrer and no-store; bodies
over 16 KiB are refused; a bad token gets a plain 400 that says nothing about the address; an
unexpected error gets a plain 500 page and one log line, never a traceback in the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
import anyio.to_thread
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..errors import (
    BadToken,
    ExpiredToken,
    InvalidAddress,
    PublisherError,
    StoreError,
    first_line,
)
from ..ledger.addresses import suggest_address
from ..models import SubscriberStatus
from ..newsletter.subscriptions import OWED_RETRY, AddressChange, ConfirmOutcome
from ..pipeline.reader import ReaderDesk, unsubscribe_query
from ..render.reader import render_css, render_page
from ..render.tokens import MANAGE, UNDO, link_token
from .limits import RateLimiter, client_key

log = logging.getLogger("publisher.serve")

#: Forms are small: a body larger than this is refused with 413.
MAX_BODY = 16 * 1024
#: Seconds from a request's headers to the end of its body, or it is refused with 408. A form
#: is well under a kilobyte, sent at once by any browser on any link (and a reverse proxy
#: sends it whole); a body that trickles in is a client holding a connection open.
BODY_SECONDS = 10.0
#: Seconds a client is asked to wait (Retry-After) when the ledger does not answer: a database
#: restart takes a few, a failover under a minute.
LEDGER_RETRY_AFTER = 60
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=()"),
]

#: Messages to readers that may wait for their turn with the relay (see ``Mail``).
MAIL_WAITING = 40

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class Pages:
    """Renders the reader's pages as responses (templates and strings from the desk)."""

    def __init__(self, desk: ReaderDesk):
        self.desk = desk
        self.t = desk.strings

    def page(self, template: str, title: str, code: int = 200, /, **context: Any
             ) -> HTMLResponse:
        context.setdefault("css_url", "style.css")
        icon = self.desk.icon
        context.setdefault("icon_url", icon.name if icon is not None else "")
        context.setdefault("icon_type", icon.media_type if icon is not None else "")
        context.setdefault("subscribe_url", self.desk.site.subscribe_url)
        html = render_page(self.desk.site, self.t, template, {"title": title, **context})
        return HTMLResponse(html, status_code=code, headers={"cache-control": "no-store"})

    def notice(self, status: int, key: str, links: tuple[tuple[str, str], ...] = (),
               **values: Any) -> HTMLResponse:
        publication = self.desk.site.newsletter_name
        return self.page("notice", self.t(f"{key}_title", publication=publication), status,
                         body=self.t(f"{key}_body", publication=publication, **values),
                         links=links)

    def bad_link(self) -> HTMLResponse:
        return self.notice(400, "bad_link")


class UnreadableForm(Exception):
    """A form that is not text: bytes that are not UTF-8, or U+FFFD, what a decoder made of
    such bytes."""


async def read_form(request: Request) -> FormData:
    """The request's form, every field text as sent. UnreadableForm otherwise: Starlette reads
    an urlencoded body as Latin-1 and decodes its escapes with errors replaced, so bytes that
    are not UTF-8 would become other characters — another address, recorded and mailed to."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        body = await request.body()
        try:
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8",
                               errors="strict")
        except ValueError:  # UnicodeDecodeError, for the raw bytes or their escapes
            raise UnreadableForm() from None
        form = FormData([(name, value) for name, value in fields])
    else:
        form = await request.form()  # multipart: Starlette replaces what is not UTF-8
    if any("\ufffd" in name or isinstance(value, str) and "\ufffd" in value
           for name, value in form.multi_items()):
        raise UnreadableForm()
    return form


def _form_value(form: FormData, name: str, limit: int = 320) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


class Mail:
    """The mail to readers the server sends (confirmations and notes after a subscribe,
    welcomes, the rounds of owed mail): at most ``at_once`` messages with the relay at a time,
    each in a thread that is not one of the requests' (they keep theirs for the ledger
    whatever the relay does: one that takes connections and never answers holds a message
    for delivery.timeout), and at most ``waiting`` more waiting their turn."""

    def __init__(self, at_once: int, waiting: int = MAIL_WAITING):
        self.limiter = anyio.CapacityLimiter(at_once)
        self.waiting = waiting

    async def run(self, send: Callable[..., Any], *args: Any) -> Any:
        """``send(*args)`` in its turn."""
        return await anyio.to_thread.run_sync(send, *args, limiter=self.limiter)

    async def send_after_answer(self, send: Callable[..., Any], *args: Any) -> None:
        """``send(*args)`` in its turn, unless ``waiting`` messages wait already: then not
        now, and what was owed stays owed — a confirmation or a welcome is in the ledger's
        round of mail owed to readers from the moment it is due (``ReaderDesk.send_owed``);
        a note to a subscriber who asked again is not sent (they may ask again)."""
        if self.limiter.statistics().tasks_waiting >= self.waiting:
            log.warning("mail to a reader not sent now: %d messages wait for the relay "
                        "already; confirmations and welcomes are tried again in %d minutes",
                        self.waiting, OWED_RETRY.seconds // 60)
            return
        await self.run(send, *args)


def create_app(desk: ReaderDesk, *, owed_every: float = 60.0,
               body_seconds: float = BODY_SECONDS) -> ASGIApp:
    """The ASGI application for ``desk``'s publication. While it runs, it tries the mail
    owed to readers (``desk.send_owed``) at its start and every ``owed_every`` seconds. A
    request body not in within ``body_seconds`` of the headers is refused (408)."""
    pages = Pages(desk)
    settings = desk.settings
    limiter = RateLimiter(settings.subscribe_per_ip_hour, timedelta(hours=1))
    css = render_css(desk.site)
    publication = desk.site.newsletter_name
    # As many at once as the relay is asked to take from publisher run.
    mail = Mail(desk.config.delivery.connections)

    async def subscribe_page(request: Request) -> Response:
        # One route for both methods: a 405 for another names them both in its Allow.
        if request.method == "POST":
            return await subscribe(request)
        return await subscribe_form(request)

    async def subscribe_form(request: Request) -> Response:
        return pages.page("subscribe", pages.t("subscribe_title", publication=publication),
                          state="form", form_name="subscribe-page")

    async def subscribe(request: Request) -> Response:
        ip = request.client.host if request.client else None
        client, now = client_key(ip), desk.clock()
        if not limiter.allow(client, now):
            refused = pages.notice(429, "too_many")
            refused.headers["retry-after"] = str(limiter.retry_after(client, now))
            return refused
        try:
            form = await read_form(request)
        except UnreadableForm:
            return pages.page("subscribe", pages.t("subscribe_title", publication=publication),
                              400, state="form", error=pages.t("invalid_address"))
        email, name = _form_value(form, "email"), _form_value(form, "name", 200)
        suggestion = None if _form_value(form, "checked") else suggest_address(email)
        if suggestion is not None and not _form_value(form, "website").strip():
            # Before anything is sent: a confirmation to ann@gmial.com never reaches Ann.
            return pages.page("subscribe", pages.t("subscribe_title", publication=publication),
                              state="typo", email=email, suggestion=suggestion, name=name,
                              form_name=_form_value(form, "form", 100))
        try:
            result = await run_in_threadpool(
                desk.subscribe, email, name, form=_form_value(form, "form", 100) or "-",
                ip=ip, honeypot=_form_value(form, "website"))
        except InvalidAddress:
            return pages.page("subscribe", pages.t("subscribe_title", publication=publication),
                              400, state="form", error=pages.t("invalid_address"), email=email,
                              name=name, form_name=_form_value(form, "form", 100))
        log.info("subscribe: %s", result.action)
        task = None
        if result.request is not None:
            # After the answer: the reply takes as long whichever message goes out, or none.
            task = BackgroundTask(mail.send_after_answer, desk.send_after_subscribe, result)
        response = pages.page("subscribe", pages.t("check_inbox_title"), state="sent",
                              address=result.address, hours=desk.confirm_hours)
        response.background = task
        return response

    async def confirm(request: Request) -> Response:
        token = link_token(request.query_params.get("token", ""))
        commit = request.method == "POST"
        try:
            outcome, address, joined = await run_in_threadpool(desk.confirm, token,
                                                               commit=commit)
        except BadToken:
            return pages.bad_link()
        title = {ConfirmOutcome.CONFIRMED: "confirmed_title" if commit else "confirm_title",
                 ConfirmOutcome.ALREADY_USED: "confirm_used_title",
                 ConfirmOutcome.UNKNOWN: "confirm_used_title",
                 ConfirmOutcome.EXPIRED: "confirm_expired_title"}[outcome]
        state = {ConfirmOutcome.CONFIRMED: "confirmed" if commit else "ask",
                 ConfirmOutcome.EXPIRED: "expired"}.get(outcome, "used")
        if state == "used" and await run_in_threadpool(desk.subscribed, address):
            # Back at a used link (the back button, the mail opened again) and on the list:
            # that is the news, not "use the subscribe form".
            title, state = "confirmed_title", "confirmed"
        if commit:
            log.info("confirm: %s", outcome)
        response = pages.page("confirm", pages.t(title), 200 if state != "expired" else 410,
                              state=state, address=address, hours=desk.confirm_hours,
                              action_url=f"confirm?token={token}")
        if joined is not None and desk.welcomes:
            # Only the POST that put the reader on the list, once: a second press of the button
            # finds the link used, a second link finds them on the list. After the answer, as
            # the confirmation is.
            response.background = BackgroundTask(mail.send_after_answer, desk.send_welcome,
                                                 joined)
        return response

    async def unsubscribe(request: Request) -> Response:
        address = request.query_params.get("address", "")
        token = link_token(request.query_params.get("token", ""))
        try:
            desk.check_unsubscribe(address, token)
        except BadToken:
            return pages.bad_link()
        preferences_url = f"preferences?token={desk.manage_token(address)}"
        if request.method == "POST":
            # RFC 8058: whatever the body says (List-Unsubscribe=One-Click from a mailbox
            # provider, our own button's form), a POST with a valid token unsubscribes.
            sub, changed = await run_in_threadpool(desk.unsubscribe, address, via="one-click")
            state = "unknown" if sub is None else "done" if changed else "already"
            log.info("unsubscribe: %s", "done" if changed else state)
        else:  # GET, and HEAD (Starlette answers it with the GET route): scanners send both
            sub = await run_in_threadpool(desk.store.subscriber, address)
            state = ("unknown" if sub is None
                     else "ask" if sub.status == SubscriberStatus.ACTIVE else "already")
        shown = sub.email if sub is not None else address
        undo_token = desk.undo_token(sub) if sub is not None else None
        undo_url = f"resubscribe?token={undo_token}" if undo_token is not None else ""
        title = {"ask": "unsubscribe_title", "done": "unsubscribed_title",
                 "already": "already_unsubscribed_title", "unknown": "not_on_list_title"}[state]
        return pages.page("unsubscribe", pages.t(title), state=state, address=shown,
                          action_url=f"unsubscribe?{unsubscribe_query(address, token)}",
                          undo_url=undo_url, preferences_url=preferences_url)

    async def resubscribe(request: Request) -> Response:
        too_late = pages.notice(410, "undo_expired", (("subscribe", pages.t("subscribe_link")),),
                                hours=round(settings.undo_hours))
        try:
            address = desk.read(UNDO, link_token(request.query_params.get("token", "")))
        except ExpiredToken:
            return too_late
        except BadToken:
            return pages.bad_link()
        sub, undone = await run_in_threadpool(desk.undo, address)
        if sub is None:
            return pages.notice(200, "not_on_list")
        if not undone:
            return too_late
        log.info("resubscribe: undo")
        return pages.page("unsubscribe", pages.t("resubscribed_title"), state="resubscribed",
                          address=sub.email,
                          preferences_url=f"preferences?token={desk.manage_token(sub.email)}")

    async def preferences(request: Request) -> Response:
        token = link_token(request.query_params.get("token", ""))
        try:
            address = desk.read(MANAGE, token)
        except BadToken:
            return pages.bad_link()
        notice = error = error_field = new_address = ""
        background = None
        if request.method == "POST":
            form = await read_form(request)
            action = _form_value(form, "action", 20)
            if action == "export":
                data = await run_in_threadpool(desk.export, address)
                if data is None:
                    return pages.notice(404, "not_on_list")
                body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
                log.info("preferences: export")
                return Response(body.encode("utf-8"), media_type="application/json", headers={
                    "content-disposition": 'attachment; filename="subscription-data.json"',
                    "cache-control": "no-store"})
            if action == "erase":
                if _form_value(form, "confirm", 10) != "yes":
                    error, error_field = pages.t("erase_unconfirmed"), "confirm"
                else:
                    await run_in_threadpool(desk.erase, address)
                    log.info("preferences: erased")
                    return pages.notice(200, "erased", (("subscribe", pages.t("subscribe_link")),))
            elif action == "name":
                try:
                    await run_in_threadpool(desk.rename, address, _form_value(form, "name", 400))
                    notice = pages.t("name_saved")
                except InvalidAddress:  # the only thing wrong with a name is its length
                    error, error_field = pages.t("name_too_long"), "name"
                except PublisherError:
                    pass  # erased meanwhile: the page says they are not on the list
            elif action == "address":
                new_address = _form_value(form, "email")
                try:
                    moving_to = desk.ask_address_change(address, new_address)
                except InvalidAddress:
                    error, error_field = pages.t("invalid_address"), "email"
                else:
                    if moving_to is None:
                        error, error_field = pages.t("address_same"), "email"
                    elif await run_in_threadpool(desk.store.subscriber, address) is None:
                        pass  # erased meanwhile: the page says they are not on the list
                    else:
                        # The same limit as the subscribe form's: each press mails a stranger.
                        ip = request.client.host if request.client else None
                        client, now = client_key(ip), desk.clock()
                        if not limiter.allow(client, now):
                            refused = pages.notice(429, "too_many")
                            refused.headers["retry-after"] = str(limiter.retry_after(client, now))
                            return refused
                        notice = pages.t("address_link_sent", address=moving_to, old=address,
                                         hours=desk.confirm_hours)
                        # Past the address's cap the page reads alike, as the subscribe
                        # form's does: it tells nobody whether that address had mail today.
                        if await run_in_threadpool(desk.count_address_link, moving_to, ip):
                            background = BackgroundTask(mail.send_after_answer,
                                                        desk.send_address_link, address,
                                                        moving_to)
                        else:
                            log.info("change-address link: limited")
            elif action == "unsubscribe":
                await run_in_threadpool(desk.unsubscribe, address, via="preferences")
                notice = pages.t("unsubscribed_body", address=address, publication=publication)
            elif action == "resubscribe":
                await run_in_threadpool(desk.resubscribe, address, via="preferences")
                notice = pages.t("resubscribed_body", address=address, publication=publication)
            else:
                return pages.notice(400, "bad_link")
            log.info("preferences: %s", action)
        sub = await run_in_threadpool(desk.store.subscriber, address)
        if sub is None:
            return pages.notice(404, "not_on_list", (("subscribe", pages.t("subscribe_link")),))
        response = pages.page("preferences",
                              pages.t("preferences_title", publication=publication),
                              400 if error else 200, address=sub.email, status=str(sub.status),
                              name=sub.name, action_url=f"preferences?token={token}",
                              notice=notice, error=error, error_field=error_field,
                              new_address=new_address if error_field == "email" else "")
        response.background = background
        return response

    async def change_address(request: Request) -> Response:
        token = link_token(request.query_params.get("token", ""))
        commit = request.method == "POST"
        try:
            outcome, old, new, sub = await run_in_threadpool(desk.change_address, token,
                                                             commit=commit)
        except ExpiredToken:
            return pages.page("change_address", pages.t("address_link_expired_title"), 410,
                              state="expired", hours=desk.confirm_hours)
        except BadToken:
            return pages.bad_link()
        if not commit:
            outcome = None if sub is not None else AddressChange.USED
        state = "ask" if outcome is None else str(outcome)
        title = {"ask": "change_address_title", "changed": "address_changed_page_title",
                 "taken": "address_taken_title", "used": "address_link_used_title"}[state]
        if commit:
            log.info("change-address: %s", state)
        response = pages.page(
            "change_address", pages.t(title), 409 if state == "taken" else 200, state=state,
            old=old, address=new, action_url=f"change-address?token={token}",
            preferences_url=f"preferences?token={desk.manage_token(new)}")
        if outcome == AddressChange.CHANGED and sub is not None \
                and sub.status != SubscriberStatus.COMPLAINED:
            # After the answer, as the welcome is: the old mailbox hears of it once — unless
            # it reported our mail as spam, which no message may follow.
            response.background = BackgroundTask(mail.send_after_answer,
                                                 desk.send_address_changed, old, sub)
        return response

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(desk.store.subscriber_counts)
        except PublisherError:
            return PlainTextResponse("ledger unavailable\n", status_code=503)
        except Exception as exc:  # the database driver's own errors: unhealthy, not a 500
            why = ledger_fault(exc)
            if why is None:
                log.exception("healthz: the ledger does not answer")
            else:
                log.error("healthz: the ledger does not answer: %s", why)
            return PlainTextResponse("ledger unavailable\n", status_code=503)
        return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})

    async def style(request: Request) -> Response:
        return Response(css, media_type="text/css",
                        headers={"cache-control": "public, max-age=3600"})

    async def icon(request: Request) -> Response:
        assert desk.icon is not None
        return Response(desk.icon.data, media_type=desk.icon.media_type,
                        headers={"cache-control": "public, max-age=3600"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        key = {404: "not_found", 405: "not_allowed", 413: "too_large",
               429: "too_many"}.get(status, "error")
        response = pages.notice(status if key != "error" else 500, key)
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)  # a 405's Allow (RFC 9110 15.5.6)
        return response

    routes = [
        Route("/", subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe_page, methods=["GET", "POST"]),
        Route("/confirm", confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
        Route("/resubscribe", resubscribe, methods=["POST"]),
        Route("/preferences", preferences, methods=["GET", "POST"]),
        Route("/change-address", change_address, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/style.css", style, methods=["GET"]),
    ]
    if desk.icon is not None:
        # The publication's icon, from this server: the CSP lets pages show images of their own
        # origin only, and the static site is another origin when server.url is set.
        routes.append(Route(f"/{desk.icon.name}", icon, methods=["GET"]))
    async def too_large(request: Request, exc: Exception) -> Response:
        return refused_body(pages, exc)

    async def unreadable_form(request: Request, exc: Exception) -> Response:
        return pages.notice(400, "bad_form")

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette sends this, then re-raises for Guard to log: no traceback reaches a browser.
        return error_page(pages, exc)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(owed_rounds(desk, mail, owed_every))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    hosts = allowed_hosts(desk.config.server.url, desk.config.server.host)
    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)],
        exception_handlers={HTTPException: http_error, TooLarge: too_large,
                            TooSlow: too_large, UnreadableForm: unreadable_form,
                            Exception: server_error},
    )
    return Guard(app, pages, body_seconds=body_seconds)


async def owed_rounds(desk: ReaderDesk, mail: Mail, every: float) -> None:
    """Try the mail owed to readers now and every ``every`` seconds, until cancelled. A ledger
    that cannot be reached is one line, and the next round tries again."""
    while True:
        try:
            sent = await mail.run(desk.send_owed)
        except PublisherError as exc:
            log.warning("mail owed to readers not tried: %s", exc)
        except Exception as exc:
            why = ledger_fault(exc)
            if why is None:  # a bug: logged, and the server goes on serving readers
                log.exception("mail owed to readers not tried")
            else:
                log.warning("mail owed to readers not tried: the ledger does not answer: %s",
                            why)
        else:
            if sent:
                log.info("mail owed to readers: %d sent", sent)
        await asyncio.sleep(every)


def allowed_hosts(url: str, bind: str) -> list[str]:
    """The Host headers the server answers: server.url's host, and loopback names (health
    checks and the proxy in front); without server.url, any (it cannot tell)."""
    host = urlsplit(url).hostname if url else None
    if host is None:
        return ["*"]
    return sorted({host, "localhost", "127.0.0.1", "[::1]", "::1", bind})


class TooLarge(Exception):
    """A request body over the limit."""


class TooSlow(Exception):
    """A request body not in by its deadline."""


def refused_body(pages: Pages, exc: Exception) -> Response:
    """The answer to a body refused as it arrives; the connection is closed, since the rest of
    the body may still be on its way."""
    response = (pages.notice(408, "too_slow") if isinstance(exc, TooSlow)
                else pages.notice(413, "too_large"))
    response.headers["connection"] = "close"
    return response


class Guard:
    """The outermost layer: security headers on every response, the body size limit, one
    access line per request (method, path, status, time — never the query, which holds tokens
    and addresses), and a plain 500 page for anything unexpected, never a traceback."""

    def __init__(self, app: ASGIApp, pages: Pages, *, max_body: int = MAX_BODY,
                 body_seconds: float = BODY_SECONDS):
        self.app = app
        self.pages = pages
        self.max_body = max_body
        self.body_seconds = body_seconds

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        state = {"status": 0}

        async def send_guarded(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in SECURITY_HEADERS if name not in names]
            await send(message)

        length = dict(scope.get("headers", [])).get(b"content-length")
        received = 0
        body_due: float | None = asyncio.get_running_loop().time() + self.body_seconds

        async def receive_limited() -> MutableMapping[str, Any]:
            nonlocal received, body_due
            try:
                # Until the body is in; after, a receive waits for the client to go, unbounded.
                async with asyncio.timeout_at(body_due):
                    message: MutableMapping[str, Any] = await receive()
            except TimeoutError:
                raise TooSlow() from None
            if message["type"] == "http.request":
                if not message.get("more_body", False):
                    body_due = None
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise TooLarge()
            return message

        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                raise TooLarge()
            await self.app(scope, receive_limited, send_guarded)
        except (TooLarge, TooSlow) as exc:
            if not state["status"]:
                await refused_body(self.pages, exc)(scope, receive, send_guarded)
        except ClientDisconnect:
            # The client left before its body was in: nobody to answer, and no fault of ours.
            # 499 in the access line, as nginx logs a request its client closed (so it is told
            # from a 5xx, which the server answered, and from a 408, which it cut off).
            state["status"] = 499
        except asyncio.CancelledError:
            # The server is stopping and this request outlived server.GRACEFUL_SHUTDOWN: a
            # client that stopped sending or reading, not a bug (uvicorn would log a
            # traceback). Told so if it is still there, and the access line says 503.
            # (A request answered already was waiting for its mail's turn: that stays owed.)
            if not state["status"]:
                response = self.pages.notice(503, "error")
                response.headers["connection"] = "close"
                with contextlib.suppress(Exception):
                    await response(scope, receive, send_guarded)
                state["status"] = 503
        except Exception as exc:
            method, path = scope.get("method"), loggable(scope.get("path", ""))
            why = ledger_fault(exc)
            if why is None:  # a bug: its traceback
                log.exception("%s %s failed", method, path)
            else:
                log.error("%s %s failed: the ledger does not answer: %s", method, path, why)
            if not state["status"]:
                await error_page(self.pages, exc)(scope, receive, send_guarded)
        log.info("%s %s %d %.1fms", scope.get("method"), loggable(scope.get("path", "")),
                 state["status"], (time.monotonic() - started) * 1000)


def ledger_fault(exc: BaseException) -> str | None:
    """Why the ledger failed a request, in one line, when ``exc`` is the database's fault (the
    server down or restarting, refusing connections, a lock held past lock_timeout): something
    to wait out, which a traceback per request would only bury. None for anything else."""
    if isinstance(exc, StoreError):
        return first_line(exc)
    if isinstance(exc, OperationalError):
        return " ".join(str(exc.orig or exc).split("\n")[0].split())
    return None


def error_page(pages: Pages, exc: BaseException) -> Response:
    """The plain page for a request that failed: 500 for a bug, 503 with Retry-After for a
    ledger that does not answer (the reader may try again shortly)."""
    if ledger_fault(exc) is None:
        return pages.notice(500, "error")
    response = pages.notice(503, "error")
    response.headers["retry-after"] = str(LEDGER_RETRY_AFTER)
    return response


def loggable(path: str) -> str:
    """A request's path as part of one log line: the server has percent-decoded it, so what
    is not printable (%0A would end the line and forge the next) is encoded again."""
    return "".join(c if c.isprintable() else quote(c, safe="") for c in path)
