"""The preview server's application (Starlette): the preview build's output as a static host
serves it (a directory's index.html, 404.html for what is missing), never cached, with a small
script in every page that reloads it once a new build has finished and shows, above the last
good build, why the latest attempt failed.

The page of a review the preview shows before it is published (``--drafts``, ``--future``)
opens with a note saying so, and the script labels every link to it.

Routes: ``GET /__publisher/status`` (JSON: the builds finished, the last error, the notes),
``GET /__publisher/reload.js``; the site under the path of its base_url (``/`` sends the browser
there when that is not the root); a POST anywhere (the subscribe forms) answers 405 with a line
saying that the preview takes no subscriptions. A request under a name other than this
machine's (``host_allowed``) answers 400.
"""

from __future__ import annotations

import html
import ipaddress
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from ..files import read_file
from ..pipeline.sitepreview import Note, Status

STATUS_PATH = "/__publisher/status"
SCRIPT_PATH = "/__publisher/reload.js"
NO_CACHE = {"Cache-Control": "no-store"}

# Polls the status twice a second: a new build reloads the page, an error shows over it. The
# build the page was served from is in the script's own URL, so a build that finishes between
# the page and the first poll still reloads it. No framework, no WebSocket: it works in every
# browser and through any proxy, and stops costing anything when the tab is closed.
RELOAD_JS = """\
(() => {
  const served = new URL(document.currentScript.src).searchParams.get("build");
  let banner = null;
  const show = (error) => {
    if (!error) { if (banner) { banner.remove(); banner = null; } return; }
    if (!banner) {
      banner = document.createElement("pre");
      banner.setAttribute("role", "alert");
      banner.style.cssText = "position:fixed;inset:0 0 auto 0;z-index:2147483647;margin:0;" +
        "padding:1em;background:#7a1010;color:#fff;font:14px/1.4 monospace;" +
        "white-space:pre-wrap;max-height:50vh;overflow:auto";
      document.body.append(banner);
    }
    banner.textContent = "The last build failed; this is the one before it.\\n\\n" + error;
  };
  const label = (notes) => {
    for (const link of document.querySelectorAll("a[href]")) {
      if (link.querySelector("[data-publisher-note]")) continue;
      const to = new URL(link.href, location.href);
      const note = to.pathname !== location.pathname && notes[to.pathname];  // not "#main"
      if (!note) continue;
      const tag = document.createElement("span");
      tag.dataset.publisherNote = "";
      tag.textContent = note.label;
      tag.title = note.text;
      tag.style.cssText = "display:inline-block;margin-inline-start:.4em;padding:0 .4em;" +
        "border-radius:.3em;background:#fff3c4;color:#3d2e00;font:600 .75em/1.6 system-ui," +
        "sans-serif;vertical-align:middle";
      link.append(tag);  // inside: a link laid out by flex or grid keeps its label
    }
  };
  let labelled = false;
  const poll = async () => {
    try {
      const response = await fetch("STATUS_PATH", {cache: "no-store"});
      const status = await response.json();
      if (String(status.builds) !== served) { location.reload(); return; }
      if (!labelled) {
        label(status.notes);
        // Links drawn later (the search's results) are labelled as they appear.
        new MutationObserver(() => label(status.notes))
          .observe(document.body, {childList: true, subtree: true});
        labelled = true;
      }
      show(status.error);
    } catch (e) { /* the preview is stopping or starting again: keep asking */ }
    setTimeout(poll, 500);
  };
  poll();
})();
""".replace("STATUS_PATH", STATUS_PATH)

NO_SUBSCRIPTIONS = (
    "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Preview</title>"
    "<p>This is publisher preview: it takes no subscriptions. On the published site this form "
    "goes to <code>publisher serve</code> (README, \"Readers\").</p></html>")


#: A Host header: a name or an IPv4 address, or an IPv6 one in brackets; then a port, or none.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:@/?#\s]+)(?::[0-9]*)?")


def host_allowed(header: str, listening: str) -> bool:
    """Whether a request whose Host header is ``header`` is answered by a preview listening on
    ``listening`` (--host): under a name of this machine (localhost, a name under .localhost,
    which browsers resolve to this machine themselves), an IP address, or ``listening``.
    Under any other name, it is a page of another site whose name was pointed at this machine
    (DNS rebinding) to read the preview and the drafts in it, as its own; Vite and
    webpack-dev-server refuse such names the same way."""
    found = _HOST.fullmatch(header)
    if found is None:
        return False
    name = found.group(1).strip("[]").lower()
    if name in ("localhost", listening.strip("[]").lower()) or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _PreviewFiles(StaticFiles):
    """The output directory, with the reload script in each HTML page and no caching (the
    preview changes under the browser)."""

    def __init__(self, directory: str, status: Callable[[], Status]):
        super().__init__(directory=directory, html=True, check_dir=False)
        self._status = status

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        if str(full_path).endswith((".html", ".htm")):
            path = scope["path"]
            return self._page(full_path, status_code,
                              path[:-len("index.html")] if path.endswith("/index.html") else path)
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:  # nothing there, and no 404.html
            listing = self._listing(path, scope) if exc.status_code == 404 else None
            if listing is None:
                raise
            return listing
        if isinstance(response, FileResponse) and response.status_code == 404:  # 404.html
            return self._page(response.path, 404, "")
        return response

    def _listing(self, path: str, scope: Scope) -> Response | None:
        """A page listing a directory that has no index.html, on a site without a 404.html:
        what another site's publication builds (feeds, their archives, the issue archive), where
        the root would otherwise answer "Not Found". The preview's own: never published."""
        assert self.directory is not None
        root = os.path.realpath(self.directory)
        folder = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([root, folder]) != root or not os.path.isdir(folder):
            return None  # nothing outside the build is ever listed
        here = scope["root_path"] + "/" + ("" if path in ("", ".") else path.strip("/"))
        here = here if here.endswith("/") else here + "/"
        names = sorted(name + "/" if entry.is_dir() else name
                       for entry in os.scandir(folder) if not (name := entry.name).startswith("."))
        items = "".join(f'<li><a href="{html.escape(here + name)}">{html.escape(name)}</a></li>'
                        for name in names)
        title = html.escape(f"{here} in the preview")
        body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}'
                f'</title><meta name="viewport" content="width=device-width"></head><body '
                f'style="font:16px/1.5 system-ui,sans-serif;margin:2em auto;max-width:40em;'
                f'padding:0 1em"><main><h1>{title}</h1><p>Nothing here is a page: another site '
                f'has the review pages (<code>feeds.permalink</code>), and publisher builds the '
                f'feeds, their archives, the issue archive and <code>static/</code>. A static '
                f'host answers "Not Found" here; the preview lists what it holds.</p>'
                f'<ul>{items}</ul></main></body></html>').encode()
        return self._respond(body, 200, here)

    def _page(self, full_path: str | os.PathLike[str], status_code: int, path: str) -> Response:
        return self._respond(read_file(full_path), status_code, path)

    def _respond(self, body: bytes, status_code: int, path: str) -> Response:
        status = self._status()
        tag = f'<script src="{SCRIPT_PATH}?build={status.builds}" defer></script>'.encode()
        end = body.rfind(b"</body>")
        body = body[:end] + tag + body[end:] if end >= 0 else body + tag
        note = status.notes.get(path)
        if note is not None:
            body = _with_note(body, note)
        return Response(body, status_code, headers=NO_CACHE,
                        media_type="text/html; charset=utf-8")


def _with_note(body: bytes, note: Note) -> bytes:
    """``body`` with ``note`` first in its <body>, styled inline: it must show whatever the
    publication's templates and stylesheet are."""
    banner = (f'<p role="note" data-publisher-note style="margin:0;padding:.6em 1em;'
              f'background:#fff3c4;color:#3d2e00;border-bottom:2px solid #c9a227;'
              f'font:15px/1.4 system-ui,sans-serif">{html.escape(note.text)}</p>').encode()
    start = body.find(b"<body")
    start = body.find(b">", start) + 1 if start >= 0 else 0
    return body[:start] + banner + body[start:]


def create_preview_app(directory: str, site_url: str, listening: str,
                       status: Callable[[], Status]) -> Callable[[Scope, Receive, Send], Any]:
    """The preview of the site built in ``directory``, served at ``site_url`` (its base_url:
    "http://127.0.0.1:8000/" or ".../film/") by a server listening on ``listening``;
    ``status`` gives the builds' status at each request."""
    site_path = urlsplit(site_url).path
    foreign = (f"publisher preview answers only under this machine's names and addresses, as "
               f"at {site_url}\n")

    async def status_json(request: Request) -> Response:
        now = status()
        notes = {path: {"label": note.label, "text": note.text}
                 for path, note in now.notes.items()}
        return JSONResponse({"builds": now.builds, "error": now.error, "notes": notes},
                            headers=NO_CACHE)

    async def script(request: Request) -> Response:
        return Response(RELOAD_JS, headers=NO_CACHE, media_type="text/javascript")

    async def to_site(request: Request) -> Response:
        return RedirectResponse(site_path, status_code=302)

    routes: list[BaseRoute] = [Route(STATUS_PATH, status_json), Route(SCRIPT_PATH, script)]
    if site_path != "/":
        routes.append(Route("/", to_site))
    routes.append(Mount(site_path.rstrip("/"), app=_PreviewFiles(directory, status)))
    site = Starlette(routes=routes)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not host_allowed(
                next((value.decode("latin-1") for key, value in scope["headers"]
                      if key == b"host"), ""), listening):
            await PlainTextResponse(foreign, status_code=400)(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            await HTMLResponse(NO_SUBSCRIPTIONS, status_code=405,
                               headers={"Allow": "GET, HEAD"})(scope, receive, send)
            return
        await site(scope, receive, send)

    return app
