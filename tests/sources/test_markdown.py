"""Markdown to safe HTML with absolute URLs; excerpts; text clean-up."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.sources.markdown import absolute_url, markdown_to_html, sanitise_html, site_links
from publisher.text import excerpt, html_to_text, one_line, remove_control_chars

BASE = "https://reel.test/"


def test_gfm_tables_strikethrough_and_typographic_quotes():
    html = markdown_to_html(
        '"Quoted" -- it\'s ~~bad~~ fine...\n\n| Film | Stars |\n|---|:-:|\n| Alien | 4 |\n', BASE)
    assert html.startswith("<p>“Quoted” – it’s <del>bad</del> fine…</p>")
    assert "<table>" in html and '<th align="center">Stars</th>' in html
    assert "<td>Alien</td>" in html


QUOTED = """Elle dit : "l'été m'apprend à 'attendre' les autres", et ce n'est "rien"."""


@pytest.mark.parametrize(("language", "expected"), [
    ("fr", "Elle dit : «\u202fl’été m’apprend à «\u202fattendre\u202f» les autres\u202f», "
           "et ce n’est «\u202frien\u202f»."),
    ("fr-CA", "Elle dit : «\u202fl’été m’apprend à ”attendre“ les autres\u202f», "
              "et ce n’est «\u202frien\u202f»."),
    ("de", "Elle dit : „l’été m’apprend à ‚attendre‘ les autres“, et ce n’est „rien“."),
    ("de-CH", "Elle dit : «l’été m’apprend à ‹attendre› les autres», et ce n’est «rien»."),
    ("ja", "Elle dit : 「l’été m’apprend à 『attendre』 les autres」, et ce n’est 「rien」."),
    ("en-US", "Elle dit : “l’été m’apprend à ‘attendre’ les autres”, et ce n’est “rien”."),
])
def test_quotes_take_the_marks_of_the_publications_language_and_apostrophes_stay(
        language, expected):
    assert markdown_to_html(QUOTED, BASE, language=language) == f"<p>{expected}</p>"


def test_quotes_typed_as_such_are_left_as_typed():
    # „…“ closes with English's opening mark: read as cmark's, it was made „Wort„.
    typed = 'Er sagt „Wort“ und ‚Wort‘, l’été und "neu" [„hier“](/„x“ "„t“").'
    assert markdown_to_html(typed, BASE, language="de") == (
        '<p>Er sagt „Wort“ und ‚Wort‘, l’été und „neu“ '
        '<a href="https://reel.test/%E2%80%9Ex%E2%80%9C" title="„t“">„hier“</a>.</p>')
    assert markdown_to_html("Han sa ”ord” och <em>“x”</em>.", BASE, language="sv") == (
        "<p>Han sa ”ord” och <em>“x”</em>.</p>")
    # A typed quote is punctuation to cmark, beside "*" as well: the emphasis stays.
    assert markdown_to_html('l’*"mot"*', BASE, language="de") == "<p>l’<em>„mot“</em></p>"


_PIECES = ["a", " ", "'", '"', "*", "_", "`", "\n", "\n\n", "<em>", "</em>", "[x](/y)",
           '![z "q"](/i.png)', "> ", "- ", "“", "’", "‘", "”", "„", "«", "&amp;",
           "| a | b |\n|---|---|\n| \"c\" | 'd' |\n", '```\n"x"\n```\n', '<code>"k"</code>']
_MARKS = re.compile("[“”‘’„‚«»‹›「」『』\u202f\\s]")


@given(st.lists(st.sampled_from(_PIECES), max_size=25))
def test_another_language_changes_only_quotation_marks(pieces):
    text = "".join(pieces)
    english = markdown_to_html(text, BASE)
    for language in ("de", "fr", "ja"):
        assert _MARKS.sub("", markdown_to_html(text, BASE, language=language)) == (
            _MARKS.sub("", english))
    if "'" not in text and '"' not in text:  # typed quotes only: left as they are
        assert markdown_to_html(text, BASE, language="de") == english


def test_localised_quotes_leave_code_as_written_and_pair_across_emphasis():
    html = markdown_to_html(
        """'*Mot*' et `"code"`, puis " bonjour " ![Le "Havre"](/h.png)\n\n```\n“x”\n```""",
        BASE, language="fr")
    assert html == ("<p>«\u202f<em>Mot</em>\u202f» et <code>&quot;code&quot;</code>, puis "
                    "«\u202fbonjour\u202f» "
                    '<img src="https://reel.test/h.png" alt="Le «\u202fHavre\u202f»"></p>\n'
                    "<pre><code>“x”\n</code></pre>")


@pytest.mark.parametrize(
    ("markdown", "forbidden"),
    [
        ("Hi <script>alert('x')</script> there", ["<script", "alert"]),
        ("<style>p { color: red }</style>\n\nText", ["<style", "color"]),
        ('<iframe src="https://evil.test/"></iframe>', ["<iframe", "evil"]),
        ('<p onclick="steal()">Hi</p>', ["onclick", "steal"]),
        ('<img src="x.png" onerror="steal()">', ["onerror", "steal"]),
        ('<a href="javascript:steal()">x</a>', ["javascript", "steal"]),
        ("[x](javascript:steal())", ["javascript", "steal"]),
        ("[x](vbscript:steal)", ["vbscript"]),
        ('<object data="x.swf"></object><embed src="y.swf">', ["<object", "<embed", "swf"]),
        ('<form action="/x"><input name="q"></form>', ["<form", "<input"]),
        ('<div style="background:url(x)">z</div>', ["style", "url("]),
        ("<svg><script>steal()</script></svg>", ["<svg", "steal"]),
    ],
)
def test_unsafe_html_is_removed(markdown, forbidden):
    html = markdown_to_html(markdown, BASE)
    for text in forbidden:
        assert text not in html, html


def test_safe_raw_html_is_kept():
    html = markdown_to_html('Seen at <abbr title="golden hour">dusk</abbr>, <em>twice</em>.', BASE)
    assert html == '<p>Seen at <abbr title="golden hour">dusk</abbr>, <em>twice</em>.</p>'


@pytest.mark.parametrize("extra", ["", "\n\n<b>raw</b>\n"])
def test_relative_urls_become_absolute(extra):
    # With and without raw HTML in the source (two rendering paths), the same result.
    html = markdown_to_html(
        "[a](/reviews/alien/) [b](posters/p.png) [c](../up) [d](#cast) [e](?page=2)\n"
        "![poster](posters/alien.png) [f](https://other.test/x) [g](mailto:ed@reel.test)\n"
        "[h](//cdn.test/i.png)" + extra,
        BASE + "blog/",
    )
    for href in ['href="https://reel.test/reviews/alien/"', 'href="https://reel.test/blog/posters/p.png"',
                 'href="https://reel.test/up"', 'href="https://reel.test/blog/#cast"',
                 'href="https://reel.test/blog/?page=2"', 'src="https://reel.test/blog/posters/alien.png"',
                 'href="https://other.test/x"', 'href="mailto:ed@reel.test"',
                 'href="https://cdn.test/i.png"']:
        assert href in html


def test_the_links_into_the_site_are_read_from_the_source_with_their_lines():
    body = (
        "See [the sequel](/reviews/sequel/) and ![a still](stills/one.jpg \"Still\").\n"
        "[Elsewhere](https://other.test/x/), [the cast](#cast), `[code](/reviews/no/)`\n"
        "```\n[fenced](/reviews/fenced/)\n```\n"
        "[horror]: /tags/horror/#top\n"
        '<a href="/about/">About</a> <img src=\'https://reel.test/posters/p.png\'>\n'
        "[again](/reviews/sequel/) [paged](/reviews/?page=2)\n")
    assert site_links(body, "https://reel.test/", 7) == (
        ("https://reel.test/reviews/sequel/", 7),
        ("https://reel.test/stills/one.jpg", 7),
        ("https://reel.test/tags/horror/", 12),
        ("https://reel.test/about/", 13),
        ("https://reel.test/posters/p.png", 13),
        ("https://reel.test/reviews/?page=2", 14))
    assert site_links("No links at all.", "https://reel.test/", 1) == ()


def test_a_relative_link_that_leaves_base_urls_path_is_read_as_a_link_into_the_site():
    # for the link check to name it; one written in full is meant to leave, and is not
    body = ("[next](/reviews/next/) [up](../about/) [fine](reviews/next/)\n"
            "[shop](https://reel.test/shop/) [cdn](//reel.test/x.png)\n")
    assert site_links(body, "https://reel.test/film/", 1) == (
        ("https://reel.test/reviews/next/", 1),
        ("https://reel.test/about/", 1),
        ("https://reel.test/film/reviews/next/", 1))


def test_links_are_read_with_their_character_references_decoded_as_cmark_reads_them():
    # "&#106;avascript:" is javascript: to cmark, which drops it as it drops the plain one:
    # neither is a link into the site (it was read as the path "&")
    body = ("A [trick](&#106;avascript:alert(1)) and a [plain](javascript:alert(1)) link.\n"
            '<a href="&#x6A;avascript:alert(2)">raw</a>\n'
            "[paged](/reviews/?a=1&amp;b=2) [entity-like](/search/?q=1&copy=2)\n")
    assert site_links(body, "https://reel.test/", 1) == (
        ("https://reel.test/reviews/?a=1&b=2", 3),
        ("https://reel.test/search/?q=1&copy=2", 3))  # no ";": not a reference to cmark
    html = markdown_to_html(body, "https://reel.test/")
    assert "javascript" not in html and 'href="&' not in html


def test_a_line_that_only_looks_like_a_reference_definition_links_nowhere():
    # A footnote's text is not a link: the link check must not report a link to /The, nor
    # to /reviews/note/.
    body = ("Set in Montmartre[^1][^2].\n\n[^1]: The café is real.\n"
            "[^2]: /reviews/note/\n"
            "[odd]: /reviews/odd/(x) and more\n"
            "[real]: /reviews/real/ \"Its title\"\n")
    assert site_links(body, "https://reel.test/", 1) == (
        ("https://reel.test/reviews/real/", 6),)
    assert "The café is real." in markdown_to_html(body, "https://reel.test/")


FOOTNOTED = ("Runs long[^cut], and the score[^score] swells.\n\n"
             "[^cut]: 142 minutes, *cut* from 160; see [the long one](/reviews/long/).\n"
             "[^score]: By a composer[^cut] of note.\n")


@pytest.mark.parametrize("extra", ["", "\n\n<b>raw</b>\n"])
def test_footnotes_are_numbered_linked_both_ways_and_land_on_the_reviews_page(extra):
    page = BASE + "reviews/alien/"
    html = markdown_to_html(FOOTNOTED + extra, BASE, page)
    assert "[^cut]" not in html and "[^score]" not in html
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    refs = doc.xpath("//sup[@class='footnote-ref']/a[@data-footnote-ref]")
    assert [(a.text, a.get("href"), a.get("id")) for a in refs] == [
        ("1", f"{page}#fn-cut", "fnref-cut"), ("2", f"{page}#fn-score", "fnref-score"),
        ("1", f"{page}#fn-cut", "fnref-cut-2")]
    [section] = doc.xpath("//section[@class='footnotes'][@data-footnotes]")
    notes = section.xpath("./ol/li")
    assert [li.get("id") for li in notes] == ["fn-cut", "fn-score"]
    assert notes[0].text_content().split("↩")[0].strip() == (
        "142 minutes, cut from 160; see the long one.")
    assert notes[0].xpath(".//em/text()") == ["cut"]
    assert notes[0].xpath(".//a[not(@class)]/@href") == [BASE + "reviews/long/"]
    back = section.xpath(".//a[@class='footnote-backref'][@data-footnote-backref]")
    assert [(a.get("href"), a.get("data-footnote-backref-idx"), a.get("aria-label"))
            for a in back] == [
        (f"{page}#fnref-cut", "1", "Back to reference 1"),
        (f"{page}#fnref-cut-2", "1-2", "Back to reference 1-2"),
        (f"{page}#fnref-score", "2", "Back to reference 2")]
    # both paths write the same markup (nh3's ``data-footnotes=""`` is written as cmark does)
    assert html.replace("<p><b>raw</b></p>\n", "") == markdown_to_html(FOOTNOTED, BASE, page)


def test_raw_html_still_gives_no_ids_nor_classes_of_its_own():
    html = markdown_to_html('Hi[^a]\n\n[^a]: A.\n\n<a id="main" class="x" href="/y/">y</a> '
                            '<li id="fn-main">z</li> <sup class="footnote-ref evil">1</sup>'
                            '<p id="fn-p">p</p>', BASE)
    assert 'id="main"' not in html and 'class="x"' not in html and 'id="fn-p"' not in html
    assert '<sup class="footnote-ref">1</sup>' in html


def test_a_heading_named_as_a_footnote_is_not_given_its_id():
    html = markdown_to_html("## Fn cut\n\nLong[^cut].\n\n[^cut]: Yes.\n", BASE)
    assert re.findall(r' id="([^"]*)"', html) == ["fn-cut-1", "fnref-cut", "fn-cut"]


def test_an_excerpt_leaves_out_footnote_numbers_and_notes():
    assert excerpt(markdown_to_html(FOOTNOTED, BASE), 30) == (
        "Runs long, and the score swells.")


def test_an_excerpt_leaves_out_what_a_details_block_folds_away():
    # A spoiler folded into <details> on the page must not be printed in the clear in the
    # summary that search results, link previews, feeds and the digest show.
    body = markdown_to_html(
        "A quiet film.\n\n<details>\n<summary>Spoiler: the ending</summary>\n\nThe keeper "
        "was the **ghost**.\n\n<details><summary>More</summary>And the dog.</details>\n\n"
        "Still hidden.\n\n</details>\n\nIt rewards patience.\n", BASE)
    assert "<details>" in body and "ghost" in body  # the page keeps it, folded
    assert excerpt(body, 30) == "A quiet film. It rewards patience."


def test_an_excerpt_leaves_out_a_table_whose_cells_would_run_into_its_sentences():
    body = markdown_to_html(
        "Two cuts exist.\n\n| Version | Runtime |\n|---|---|\n| Theatrical | 91 min |\n\n"
        "The longer one is better.\n", BASE)
    assert "<table>" in body  # the page keeps it
    assert excerpt(body, 30) == "Two cuts exist. The longer one is better."


@pytest.mark.parametrize("extra", ["", "\n\n<b>raw</b>\n"])
def test_links_within_the_review_land_on_its_page_not_the_home_page(extra):
    page = BASE + "reviews/alien/"
    html = markdown_to_html("[cast](#cast) [more](?page=2) [next](/reviews/aliens/) "
                            "[poster](posters/p.png)" + extra, BASE, page)
    for href in ['href="https://reel.test/reviews/alien/#cast"',
                 'href="https://reel.test/reviews/alien/?page=2"',
                 'href="https://reel.test/reviews/aliens/"',
                 'href="https://reel.test/posters/p.png"']:  # paths still hang off base_url
        assert href in html


@pytest.mark.parametrize("extra", ["", "\n\n<b>raw</b>\n"])
def test_a_body_whose_headings_start_at_h1_is_moved_below_the_title(extra):
    html = markdown_to_html("# Part one\n\n## Detail\n\n###### Six\n\nWrite `<h1>` for a title."
                            + extra, BASE)
    assert re.findall(r"<(h\d)[ >]", html) == ["h2", "h3", "h6"]
    assert re.findall(r"</(h\d)>", html) == ["h2", "h3", "h6"]
    assert "<code>&lt;h1&gt;</code>" in html  # text, not a heading
    # A body that already starts at "##" is left as written.
    assert re.findall(r"<(h\d)[ >]", markdown_to_html("## Part\n\n### Detail" + extra, BASE)) \
        == ["h2", "h3"]


def test_each_heading_gets_an_id_for_links_to_a_place_in_the_review():
    html = markdown_to_html(
        "## Cast and crew\n\n## Cast and crew\n\n### *Amélie* & \"friends\"\n\n"
        "## Main\n\n## ★★★\n\n## Where to watch {#watch}\n\n"
        '<h2 id="main" onclick="x()">Raw</h2>\n', BASE)
    assert re.findall(r'<h\d id="([^"]*)">', html) == [
        "cast-and-crew", "cast-and-crew-1", "amelie-friends",
        "main-1",  # "main" is the page's own, where the skip link goes
        "section", "watch", "raw"]  # an id written in raw HTML is the sanitiser's to drop
    assert "{#watch}" not in html and "<h2 id=\"watch\">Where to watch</h2>" in html


def test_srcset_and_cite_become_absolute():
    html = markdown_to_html(
        '<img src="a.png" srcset="a.png 1x, /b.png 2x, https://cdn.test/c.png 3x" alt="A">\n\n'
        '<blockquote cite="/quotes/1">Q</blockquote>', BASE)
    assert ('srcset="https://reel.test/a.png 1x, https://reel.test/b.png 2x, '
            'https://cdn.test/c.png 3x"') in html
    assert 'src="https://reel.test/a.png"' in html
    assert 'cite="https://reel.test/quotes/1"' in html


def test_links_outside_http_and_mailto_lose_their_url():
    assert markdown_to_html("[x](ftp://files.test/a)", BASE) == "<p><a>x</a></p>"
    assert markdown_to_html("<a href='ftp://files.test/a'>x</a>", BASE) == "<p><a>x</a></p>"
    assert markdown_to_html("![x](data:image/png;base64,AAAA)", BASE) == '<p><img alt="x"></p>'


def test_urls_in_text_are_left_alone():
    html = markdown_to_html('Write `<a href="x">` or href="y" in prose.', BASE)
    assert html == '<p>Write <code>&lt;a href="x"&gt;</code> or href=“y” in prose.</p>'


def test_both_rendering_paths_give_the_same_markup():
    markdown = ('# Title\n\n*a* **b** `c` [d](/e) ![f](g.png "h")  \nbreak\n\n---\n\n'
                "> quote\n\n1. one\n2. two\n\n```py\nx = 1\n```\n")
    plain = markdown_to_html(markdown, BASE)
    with_raw = markdown_to_html(markdown + "\n<span>x</span>\n", BASE)
    assert with_raw.startswith(plain)
    assert "<br>" in plain and "<hr>" in plain and '<pre lang="py"><code>' in plain


def test_a_task_list_shows_its_boxes_ticked_or_not_in_every_channel():
    # GitHub and Hugo show "- [x] seen twice" as a ticked box. Mail clients and feed readers
    # drop form controls, so the box is a character (the plain-text digest keeps it too).
    markdown = ("- [x] seen twice\n- [ ] read the novel\n- [X] heard the score\n"
                "- \\[x] written as such\n\n1. [x] numbered\n\n- [x] loose\n\n- [ ] list\n")
    for body in (markdown, markdown + "\n<b>raw</b>\n"):
        html = markdown_to_html(body, BASE)
        assert html.startswith('<ul>\n<li class="task">☑ seen twice</li>\n'
                               '<li class="task">☐ read the novel</li>\n'
                               '<li class="task">☑ heard the score</li>\n'
                               "<li>[x] written as such</li>\n</ul>\n"
                               '<ol>\n<li class="task">☑ numbered</li>\n</ol>\n'), html
        assert '<li class="task">\n<p>☑ loose</p>' in html
        assert "<input" not in html and "[ ]" not in html
    assert "☑ seen twice" in html_to_text(markdown_to_html(markdown, BASE))


def test_nbsp_and_control_characters_in_markdown():
    html = markdown_to_html("A\u00a0film\x0b about\u202fboats.", BASE)
    assert html == "<p>A film about boats.</p>"


def test_the_no_break_spaces_of_french_punctuation_are_kept():
    # As Word and macOS type French: before ":", ";", "!", "?" and "»", after "«"; elsewhere a
    # no-break space is made plain, as above.
    typed = "Quelle audace\u00a0! Il dit\u202f: «\u00a0jamais\u00a0». Vraiment\u202f?"
    assert markdown_to_html(typed, BASE) == f"<p>{typed}</p>"
    assert excerpt(f"<p>{typed}</p>", 4) == "Quelle audace\u00a0! Il dit…"


def test_references_to_characters_xml_cannot_carry_are_dropped_not_a_crash():
    # cmark writes U+FFFE and U+FFFF, from a reference to them, as the bytes 0xFE and 0xFF,
    # which are not UTF-8: the build stopped with a traceback. They are dropped, as
    # prepare_markdown drops the characters themselves; U+FFFD stands for the ones cmark
    # replaces itself (NUL, surrogates).
    for markdown in ("a&#xFFFE;b&#65535;c", "a&#xfffe;b&#xFFFF;c"):
        assert markdown_to_html(markdown, BASE) == "<p>abc</p>"
        assert markdown_to_html(markdown + " <b>bold</b>", BASE) == "<p>abc <b>bold</b></p>"
    assert markdown_to_html("a&#0;b&#xD800;c", BASE) == "<p>a\ufffdb\ufffdc</p>"


def test_sanitise_html_alone():
    html = sanitise_html('<p class="x" onclick="y()"><a href="/z">z</a><script>1</script></p>',
                         BASE)
    assert html == '<p><a href="https://reel.test/z">z</a></p>'


@pytest.mark.parametrize(
    "url",
    ["/x/y/", "posters/a.png", "../a", "./a", "a/../b", "#f", "?q=1", "//cdn.test/a", "a/./b",
     "/a/..", "x?y=../z", "..", ".", "a/b/.", "http://z.test/", "mailto:a@b.test", "a%20b"],
)
@pytest.mark.parametrize("base", ["https://reel.test/", "https://reel.test/blog/"])
def test_absolute_url_agrees_with_urljoin(url, base):
    assert absolute_url(url, base) == urljoin(base, url)


# --- text --------------------------------------------------------------------------------------


def test_one_line():
    assert one_line("  Harbour\u00a0Lights\n\tby  Ines\u2009Calloway ") == (
        "Harbour Lights by Ines Calloway")
    assert one_line("Bell\x07 and\x00 book\ufffe") == "Bell and book"
    assert one_line("Amélie — “Le fabuleux”") == "Amélie — “Le fabuleux”"


def test_remove_control_chars_counts():
    assert remove_control_chars("a\x01b\x02c\n\td\r") == ("abc\n\td\r", 2)
    assert remove_control_chars("plain text") == ("plain text", 0)
    assert remove_control_chars("C1\x85 next line stays, \x9b goes") == (
        "C1\x85 next line stays,  goes", 1)


def test_html_to_text_spaces_blocks_and_unescapes():
    assert html_to_text("<p>One &amp; <em>two</em></p><p>three<br>four</p>") == (
        "One & two three four")


# --- excerpts ----------------------------------------------------------------------------------


def test_excerpt_cuts_at_a_word_with_an_ellipsis():
    html = "<p>The tide comes in, and the <em>town</em> goes quiet.</p><p>Then night.</p>"
    assert excerpt(html, 5) == "The tide comes in, and…"
    assert excerpt(html, 4) == "The tide comes in…"  # trailing punctuation dropped
    assert excerpt(html, 11) == "The tide comes in, and the town goes quiet. Then night."
    assert excerpt(html, 50) == "The tide comes in, and the town goes quiet. Then night."
    assert excerpt("", 10) == ""


def test_an_excerpt_cut_after_spaced_punctuation_ends_at_its_last_word():
    # French sets a space before ":", ";", "!" and "?"; British English spaces its dashes.
    assert excerpt("<p>Un film rare : une merveille.</p>", 4) == "Un film rare…"
    assert excerpt("<p>Quelle audace ! Et quel film.</p>", 3) == "Quelle audace…"
    assert excerpt("<p>A quiet film – and a fine one.</p>", 4) == "A quiet film…"


def test_excerpt_of_a_long_body_matches_the_whole_text():
    words = [f"word{i}" for i in range(2000)]
    html = "".join(f"<p>{' '.join(words[i:i + 7])}</p>\n" for i in range(0, 2000, 7))
    for n in (1, 10, 60, 300):
        assert excerpt(html, n) == " ".join(words[:n]) + "…"


def test_excerpt_skips_markup_with_long_attributes():
    html = f'<p><img src="https://reel.test/{"x" * 3000}.png" alt="A">Short text here.</p>'
    assert excerpt(html, 2) == "Short text…"


def test_excerpt_never_shows_half_a_tag():
    html = "<p>" + " ".join(["word"] * 5) + ' <a href="/x" title="one two three four five six">'
    html += "link</a> " + " ".join(["more"] * 200) + "</p>"
    for n in range(1, 12):
        text = excerpt(html, n)
        assert "<" not in text and "title" not in text and "href" not in text
        assert text.count(" ") == n - 1


CMARK_SAMPLES = [
    "Plain *emphasis*, **strong**, `code` and \"quotes\" -- dashes...",
    "| a | b |\n|---|:-:|\n| 1 | 2 |\n\n~~gone~~ www.example.org https://example.org/x",
    "<p onclick=\"x()\">raw</p> <script>alert(1)</script> <b>bold</b>",
    "```python\nprint('hi')\n```\n\n> quote\n\n1. one\n2. two\n\n- [ ] task",
    "[link](/reviews/x/ \"title\") ![poster](posters/a.png) [bad](javascript:alert(1))",
    "",
    # Where nothing can become an autolink, cmark runs without that extension (markdown.py):
    # "w" and ":" next to what they could start, and each thing that does make one.
    "A wide west wind: who knows?  \nw\n\nWWW.EXAMPLE.ORG, HTTP:/x, ftp:, w:w and *www*",
    "| w | http: |\n|---|---|\n| www | x:y |\n\n[www](w) ~~w~~ `www.x` w  \nnext",
    "Mail me at ed@example.org.", "www.example.org/films.", "See https://example.org/x.",
    "mailto:ed@example.org and xmpp:ed@example.org/home",
]


def test_cmark_leaves_out_extensions_only_where_they_change_nothing():
    """Random texts of the characters each extension reacts to, and of everything they could
    interact with, render as cmarkgfm's wrapper renders them with every extension: with the
    extensions they may need, and through cmark_markdown_to_html where they need none."""
    import random

    import cmarkgfm

    from publisher.sources import markdown

    pieces = ["w", "ww", "www", "w.", ":", "/", ":/", "http", "https", "ftp", "mailto",
              "xmpp", "WWW.", "HTTP", "a", " ", "  ", "\n", "\n\n", "*", "_", "[", "]", "(",
              ")", "<", ">", "<a href='x'>", "</a>", "`", "```\n", '"', "'", "-", ".", "|",
              "| a | b |\n|---|---|\n", "~", "~~", "&amp;", "#", "\\", "\t", "> ", "- ",
              "[x]: /u\n", "![i](p.png)", "é", "@", "ed@example.org", "://", "\n-", "\n---",
              "---\n", "-:", ":-", ":-:", "\n:--:\n", "=", "\n===\n", "\\|", "&#124;",
              "&#126;", "&#58;", "[ ]", "[X]", "- [x] ", "\n- [ ] "]
    rng = random.Random(5005)
    needed: set[tuple[bool, ...]] = set()
    for _ in range(1500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        data = text.encode("utf-8")
        needed.add(tuple(extension in markdown._extensions_for(data)
                         for extension in markdown._EXTENSIONS))
        for options in (markdown._SAFE_OPTIONS, markdown._RAW_OPTIONS):
            assert markdown._cmark_html(data, options) == (
                cmarkgfm.markdown_to_html_with_extensions(
                    text, options=options, extensions=markdown._CMARK_EXTENSIONS)), text
    assert len(needed) == 16  # every choice of extensions, none of them included


@pytest.mark.parametrize("text", CMARK_SAMPLES)
def test_cmark_renders_as_the_cmarkgfm_wrapper_does(text):
    """publisher calls cmark itself (to free what it allocates); the bytes must be those of
    cmarkgfm's own markdown_to_html_with_extensions, in both modes."""
    import cmarkgfm

    from publisher.sources import markdown

    for options in (markdown._SAFE_OPTIONS, markdown._RAW_OPTIONS):
        assert markdown._cmark_html(text.encode("utf-8"), options) == (
            cmarkgfm.markdown_to_html_with_extensions(
                text, options=options, extensions=markdown._CMARK_EXTENSIONS))


def test_rendering_keeps_no_memory():
    """cmarkgfm's wrapper leaked each document and its HTML (~20 KB a review-sized body, 200 MB
    over a build of 10,000 reviews). Measured in a fresh interpreter: rendering 3,000 bodies
    grows it by less than 8 MB (the leak made it 60 MB)."""
    import subprocess
    import sys

    script = """
import re
from publisher.sources.markdown import markdown_to_html
text = "\\n\\n".join(["A paragraph of *several* words, [a link](/reviews/x/), and more. " * 6] * 6)
def rss():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1))
for _ in range(200):
    markdown_to_html(text, "https://example.org/")
before = rss()
for _ in range(3000):
    markdown_to_html(text, "https://example.org/")
print(rss() - before)
"""
    grown_kb = int(subprocess.run([sys.executable, "-c", script], check=True, text=True,
                                  capture_output=True).stdout)
    assert grown_kb < 8 * 1024, f"rendering grew the process by {grown_kb} KB"


def test_cmarks_own_urls_are_made_absolute_as_the_tag_pattern_makes_them():
    """Without raw HTML, render_prepared finds cmark's URLs by their attribute alone, in its
    bytes; random texts of links, images, code, quotes and attribute-like text (which cmark
    escapes) give what the tag pattern gives on the decoded HTML."""
    import random

    from publisher.sources import markdown

    pieces = ["[a](/reviews/x/)", "[b](#cast)", "[c](?page=2)", "[d](https://e.org/x)",
              "[e](javascript:alert(1))", "[f](mailto:ed@example.org)", "[g](x/y.png)",
              "[h](../up/)", '[i](/t "a title with src=\\"/x\\"")', "![p](posters/p.png)",
              "![q](/q.png 'title')", "![r](data:image/png;base64,xx)", "[s](//cdn.example/x)",
              "[t]( /sp/ )", "[u](/a%20b)", "[é](/é/ü?x=1&y=2)", '` href="/code"`',
              ' src="/text" ', " href=/plain ", '"quoted"', "'single'", "\n\n", " ", "word",
              "```\n src=\"/x\"\n```\n", "> ", "- ", "| a | b |\n|---|---|\n| [k](/k) | m |\n",
              "[ref]\n\n[ref]: /defined/ \"Title\"\n", "https://auto.example/x", "www.x.org",
              "&#xFFFE;", "~~s~~", "*e*", "\\", "&quot;", "[v](/a/./b)", "[w](/a/../b/)",
              "[x](/.)", "[y](/x/..)", "[z](/x?p=/./q#f)", "[aa]()", "[ab](/x#cast)",
              "[ac](ftp://host/x)", "![ad](/p.png)", "[ae](/%0A)", "[af](/x%C2%85)"]
    rng = random.Random(3986)
    for base, page in (("https://reel.test/", "https://reel.test/reviews/x/"),
                       ("https://reel.test/sub/", None), ("https://reel.test/sub", None)):
        for _ in range(400):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
            data = text.encode("utf-8")
            assert b"<" not in data
            rendered = markdown._cmark_utf8(data, markdown._SAFE_OPTIONS).replace(b" />", b">")
            html = markdown._html_text(rendered)
            if "<h" in html:
                html = markdown._heading_ids(markdown._below_the_title(html))
            expected = markdown._absolute_urls(html, base, page).strip()
            assert markdown.render_prepared(text, base, page) == expected, text


def test_the_links_found_at_each_bracket_are_those_the_pattern_finds_in_the_whole_text():
    """site_links tries its pattern only at each "]"; random texts of what a link is made of
    give the matches of the pattern's own search through the text."""
    import random

    from publisher.sources import markdown

    pieces = ["]", "[", "](", "]:", ":", "(", ")", "<", ">", "/x", " ", "\t", "\n", "\r\n",
              '"t"', "'t'", "(t)", "a", "é", "—", "]]", "](<", "]: <", "`", "\\"]
    rng = random.Random(4151)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert ([m.span() for m in markdown._links(text)]
                == [m.span() for m in markdown._LINK.finditer(text)]), text
