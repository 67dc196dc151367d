"""Screenshots of the digest with headless Chromium, at 375 px and 1200 px, light and dark."""

from __future__ import annotations

import email
import email.policy
import http.server
import shutil
import struct
import threading
import zlib
from datetime import UTC, datetime

import pytest

from publisher.errors import PublisherError
from publisher.pipeline.screenshot import CHROMIUM_HINT, local_assets, screenshot
from publisher.render.digest import personalise, preview_values, render_digest
from publisher.render.reader import confirmation_message
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.render.strings import load_web_strings
from tests.fixtures import make_issue, write_films, write_png

# --- reading screenshots back (no Pillow in our dependencies) -----------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_rows(data: bytes, count: int) -> list[bytes]:
    """The first ``count`` rows of an 8-bit RGB/RGBA non-interlaced PNG, unfiltered."""
    width, _ = png_size(data)
    depth, colour, interlace = data[24], data[25], data[28]
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG layout"
    bpp = 3 if colour == 2 else 4
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * count)
    rows, prev = [], bytearray(stride)
    for y in range(count):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows


def pixel(rows: list[bytes], x: int, y: int, bpp: int = 3) -> tuple[int, int, int]:
    r, g, b = rows[y][x * bpp:x * bpp + 3]
    return r, g, b


def hex_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="chromium is not installed (apt-get install chromium)",
)

PAGE, BAND, DARK_PAGE = hex_rgb("#efeae0"), hex_rgb("#1f2a36"), hex_rgb("#161412")
DARK_CARD = hex_rgb("#23201c")


def close(actual: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - e) <= 3 for a, e in zip(actual, expected, strict=True))


@pytest.fixture
def html(publication):
    config = publication.config
    posters = publication.root / "static" / "posters"
    posters.mkdir(parents=True)
    for i in range(4):
        write_png(posters / f"film-{i + 1}.png", 200, 300, (200, 40 + 40 * i, 40))
    rendered = render_digest(make_issue(config), Site.from_config(config))
    page, _ = personalise(rendered, preview_values(Sender.from_config(config)))
    return local_assets(page, config)


def test_local_assets_points_poster_urls_at_static_files(html, publication):
    root = (publication.root / "static" / "posters").resolve()
    assert f'src="{(root / "film-1.png").as_uri()}"' in html
    assert "https://reel.test/posters/film-3.png" not in html  # film 3 has no poster at all
    assert 'src="https://reel.test/posters/' not in html


@pytest.mark.slow
@needs_chromium
def test_screenshots_at_375_and_1200_pixels(html, tmp_path):
    narrow, wide = screenshot(html, tmp_path / "shots")
    assert (narrow.name, wide.name) == ("digest-375.png", "digest-1200.png")
    (w1, h1), (w2, h2) = png_size(narrow.read_bytes()), png_size(wide.read_bytes())
    assert (w1, w2) == (375, 1200)
    # Whole pages: four cards stack into a long column on a phone, side by side on a desktop.
    assert h1 > h2 > 1200
    assert h1 > 2400
    # On a phone the header band fills the width; on a desktop the page colour surrounds it.
    assert close(pixel(png_rows(narrow.read_bytes(), 6), 5, 5), BAND)
    assert close(pixel(png_rows(wide.read_bytes(), 6), 5, 5), PAGE)


@pytest.mark.slow
@needs_chromium
def test_dark_mode_screenshot_uses_the_dark_palette(html, tmp_path):
    (wide,) = screenshot(html, tmp_path, widths=(1200,), scheme="dark")
    assert wide.name == "digest-1200-dark.png"
    assert close(pixel(png_rows(wide.read_bytes(), 6), 5, 5), DARK_PAGE)


@pytest.mark.slow
@needs_chromium
def test_the_confirmation_message_turns_dark_as_the_digest_does(publication, tmp_path):
    config = publication.config
    raw = confirmation_message(Site.from_config(config), Sender.from_config(config),
                               load_web_strings(config.templates_path, config.language),
                               email="zoe@example.com", name="", hours=48,
                               confirm_url="https://list.reel.test/confirm?token=abc",
                               date=datetime(2026, 11, 20, tzinfo=UTC), signer=None)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    (narrow,) = screenshot(html, tmp_path, widths=(375,), scheme="dark", name="confirmation")
    rows = png_rows(narrow.read_bytes(), 40)
    assert close(pixel(rows, 5, 5), DARK_PAGE)  # the page around the card
    assert close(pixel(rows, 30, 30), DARK_CARD)  # the card, no longer cream


@pytest.mark.slow
@needs_chromium
def test_screenshots_make_no_network_requests(tmp_path):
    requests: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        page = (f'<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/a.css">'
                f'</head><body><img src="http://127.0.0.1:{port}/poster.png" alt="p">'
                f'<img src="http://localhost:{port}/local.png" alt="l"></body></html>')
        (shot,) = screenshot(page, tmp_path, widths=(375,))
    finally:
        server.shutdown()
        server.server_close()
    assert png_size(shot.read_bytes())[0] == 375
    assert requests == []


@pytest.mark.slow
@needs_chromium
def test_cli_screenshot_writes_both_widths(publication, tmp_path, cli):
    write_films(publication, 2)
    out = tmp_path / "shots"
    result = cli("digest", "screenshot", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(out / "digest-375.png"),
                                          str(out / "digest-1200.png")]
    assert [png_size((out / n).read_bytes())[0] for n in ("digest-375.png",
                                                          "digest-1200.png")] == [375, 1200]


def test_a_screenshot_directory_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(PublisherError, match=r"a-file/shots: cannot create the directory"):
        screenshot("<p>x</p>", blocker / "shots", chromium="/bin/true")


def test_cli_screenshot_without_chromium_says_how_to_install_it(publication, tmp_path, monkeypatch,
                                                                cli):
    write_films(publication, 1)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = cli("digest", "screenshot")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {CHROMIUM_HINT}"]
    assert "apt-get install chromium" in CHROMIUM_HINT
