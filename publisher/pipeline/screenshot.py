"""Screenshots of rendered HTML with headless Chromium, without any network."""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..errors import PublisherError

CHROMIUM_HINT = ("chromium is not installed; install it (e.g. `apt-get install chromium`) to "
                 "take screenshots")
SCREENSHOT_WIDTHS = (375, 1200)

_CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    "--disable-extensions", "--mute-audio", "--no-default-browser-check",
    # No network at all: every host name fails to resolve; file:// still loads.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
# Headless Chromium will not make a window narrower than 500 px, so the page is measured in an
# iframe of the exact width (media queries follow the iframe), and its height read back.
_MEASURE = """<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="page" scrolling="no" style="border:0;width:{width}px;height:10px" srcdoc="{page}">
</iframe><script>window.addEventListener('load', function () {{
var d = document.getElementById('page').contentDocument;
var m = document.createElement('meta'); m.name = 'x-page-height';
m.content = String(Math.ceil(Math.max(d.documentElement.scrollHeight, d.body.scrollHeight)));
document.head.appendChild(m); }});</script></body></html>"""


def find_chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def local_assets(html: str, config: Config) -> str:
    """``html`` with URLs under base_url that name a file in the publication's static/
    directory pointed at that file, so screenshots show posters without any network."""
    static = config.paths.static.resolve()
    base = config.base_url

    def swap(match: re.Match[str]) -> str:
        url = html_lib.unescape(match.group(2))
        if not url.startswith(base):
            return match.group(0)
        path = unquote(urlsplit(url).path[len(urlsplit(base).path):])
        candidate = (static / path).resolve()
        if candidate.is_file() and candidate.is_relative_to(static):
            return f'{match.group(1)}"{html_lib.escape(candidate.as_uri())}"'
        return match.group(0)

    return re.sub(r'(\bsrc=)"([^"]*)"', swap, html)


def _run_chromium(chromium: str, args: list[str], profile: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )
    except subprocess.TimeoutExpired:
        raise PublisherError(f"{chromium} took more than 120 s to take a screenshot") from None


_SCHEMES = {
    "light": [],
    # prefers-color-scheme: dark, as Apple Mail and Outlook for Mac apply it.
    "dark": ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"],
    # Chromium's automatic dark mode on a page whose own dark styles are ignored: close to
    # the forced colour inversion of Gmail's and Outlook's mobile apps.
    "inverted": ["--blink-settings=forceDarkModeEnabled=true"],
}


def _ignore_dark_styles(html: str) -> str:
    html = re.sub(r'<meta name="(?:color-scheme|supported-color-schemes)"[^>]*>', "", html)
    return html.replace("prefers-color-scheme: dark", "max-width: 0px")


def screenshot(html: str, out_dir: Path, *, widths: Sequence[int] = SCREENSHOT_WIDTHS,
               scheme: str = "light", name: str = "digest",
               chromium: str | None = None) -> list[Path]:
    """Render ``html`` with headless Chromium, without network, at each width to
    ``out_dir/<name>-<width>.png`` (``-dark`` / ``-inverted`` appended for those schemes),
    each as tall as the page. Raises PublisherError when Chromium is absent or fails."""
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(_SCHEMES)}, not {scheme!r}")
    chromium = chromium or find_chromium()
    if chromium is None:
        raise PublisherError(CHROMIUM_HINT)
    if scheme == "inverted":
        html = _ignore_dark_styles(html)
    suffix = "" if scheme == "light" else f"-{scheme}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublisherError(f"{out_dir}: cannot create the directory: {exc.strerror}") from None
    written = []
    with tempfile.TemporaryDirectory(prefix="publisher-shot-") as tmp:
        page = Path(tmp) / "page.html"
        measure = Path(tmp) / "measure.html"
        page.write_text(html, encoding="utf-8")
        extra = _SCHEMES[scheme]
        for width in widths:
            # First pass: lay the page out at this width and read its height back.
            measure.write_text(_MEASURE.format(width=width, page=html_lib.escape(html)),
                               encoding="utf-8")
            done = _run_chromium(chromium, [*extra, f"--window-size={max(width, 500)},800",
                                            "--virtual-time-budget=3000", "--dump-dom",
                                            measure.as_uri()], f"{tmp}/profile")
            found = re.search(r'name="x-page-height" content="(\d+)"', done.stdout)
            height = min(int(found.group(1)), 16000) if found else 2000
            target = out_dir / f"{name}-{width}{suffix}.png"
            done = _run_chromium(chromium, [*extra, f"--window-size={width},{height}",
                                            "--virtual-time-budget=3000",
                                            f"--screenshot={target}", page.as_uri()],
                                 f"{tmp}/profile")
            if done.returncode != 0 or not target.is_file():
                tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
                raise PublisherError(f"{chromium} failed to take a screenshot: {tail[0]}")
            written.append(target)
    return written

