"""The text rules: each one idempotent, and what it promises holds for any input."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from publisher.text import (
    BIDI_CHARS,
    ILLEGAL_CHARS,
    SUSPECT_CHARS,
    drop_unsafe,
    excerpt,
    header_text,
    html_to_text,
    one_line,
    pasted_line,
    rating_value,
    slugify,
    stars,
    surely_clean,
    title_slug,
    unspaced_chars,
    xml_safe,
)

# Text with the characters these rules exist for mixed into ordinary letters.
TRICKY = "\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x7f\x85\x9f\u00a0\u061c\u200b\u200c\u200d" \
         "\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069\ufeff\ufffe\uffff\ud800"
texts = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=300)
limits = st.one_of(st.none(), st.integers(min_value=8, max_value=250))

CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
BIDI_AND_INVISIBLE = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
SURROGATES = re.compile("[\ud800-\udfff]")


@given(texts, limits)
def test_header_text_is_idempotent_and_one_clean_line(text, limit):
    once = header_text(text, limit)
    assert header_text(once, limit) == once
    assert not CONTROLS.search(once)  # CR, LF, NUL, tab and C1 included
    assert not BIDI_AND_INVISIBLE.search(once) and not SURROGATES.search(once)
    assert once == once.strip() and "  " not in once
    if limit is not None:
        assert len(once) <= limit


@given(texts)
def test_header_text_keeps_joiners_that_build_emoji_and_scripts(text):
    family = "👩\u200d👩\u200d👧"
    assert family in header_text(f"{text} {family} ")


@given(texts)
def test_one_line_is_idempotent_and_xml_safe(text):
    once = one_line(text)
    assert one_line(once) == once
    assert not ILLEGAL_CHARS.search(once)
    assert "\n" not in once and "  " not in once and once == once.strip()


@given(texts)
def test_xml_safe_and_drop_unsafe_are_idempotent(text):
    assert xml_safe(xml_safe(text)) == xml_safe(text)
    assert not ILLEGAL_CHARS.search(xml_safe(text))
    assert drop_unsafe(drop_unsafe(text)) == drop_unsafe(text)
    assert not BIDI_AND_INVISIBLE.search(drop_unsafe(text))


@given(texts)
def test_pasted_line_is_idempotent(text):
    line = text.replace("\n", " ")
    assert pasted_line(pasted_line(line)) == pasted_line(line)


@given(st.lists(st.text(alphabet="abc <>&", min_size=1, max_size=12), max_size=40),
       st.integers(min_value=1, max_value=30))
def test_an_excerpt_has_at_most_the_words_asked_for(words, count):
    html = "<p>" + " ".join(words) + "</p>"
    cut = excerpt(html, count)
    assert len(cut.rstrip("…").split()) <= count


def _excerpt_as_first_written(html, count):
    """excerpt as it was first written: its text on one line, cut into words at its spaces."""
    prefix = html[: max(count, 1) * 16]
    if prefix.rfind("<") > prefix.rfind(">"):
        prefix = prefix[: prefix.rfind("<")]
    parts = html_to_text(prefix).split(" ")
    if len(parts) <= count + 1 or len(prefix) == len(html):
        parts = html_to_text(html).split(" ")
    if len(parts) <= count:
        return " ".join(p for p in parts if p)
    return " ".join(parts[:count]).rstrip(",;:.!?—–-") + "…"


@given(st.lists(st.one_of(texts.map(lambda text: unspaced_chars().sub("x", text)), st.sampled_from(
           ["<p>", "</p>", "<br>", "<em>", "</em>", "<a href='x'>", " ", "\n", "&amp;",
            "&nbsp;", "&#x1c;", "word", "word,", "—", "<", ">", "x" * 40])), max_size=80),
       st.integers(min_value=-3, max_value=40))
def test_an_excerpt_splits_only_as_far_as_it_keeps(pieces, count):
    """excerpt splits its text no further than the words it keeps: the same words (white
    space of every kind, controls and entities included) as splitting all of it."""
    html = "".join(pieces)
    assert excerpt(html, count) == _excerpt_as_first_written(html, count)


# A Japanese review: no spaces between words, and its last paragraph gives the ending away.
UMIBE = ("是枝監督の新作は、海辺の小さな町で暮らす三姉妹の一年を静かに描く。"
         "大きな事件は何も起こらないが、食卓の会話や季節の移ろいの中に、"
         "家族の記憶と喪失が少しずつ浮かび上がってくる。")
SPOILER = "<p>ネタバレ：最後の場面で長女は家を売る決心をする。</p>"


def test_an_excerpt_of_japanese_counts_two_characters_a_word_and_keeps_the_ending_back():
    html = "\n".join([f"<p>{UMIBE * 3}</p>"] * 8) + "\n" + SPOILER
    cut = excerpt(html, 60)
    # 120 characters, no space put between them; the 120th, "。", gives way to the "…".
    assert cut == (UMIBE * 2)[:119] + "…"
    assert "ネタバレ" not in cut
    # Cut after punctuation, the "…" replaces it; a short body is whole, without one.
    assert excerpt(f"<p>{UMIBE}</p>", 24) == UMIBE[:47] + "…"  # "…ないが" and not its "、"
    assert excerpt(f"<p>{UMIBE}</p>", 60) == UMIBE


def test_an_excerpt_of_chinese_and_of_thai_is_as_long_as_their_words_read():
    chinese = ("这部电影讲述了一个海边小镇上三姐妹的故事，节奏缓慢，"
               "但每一个镜头都充满了对家庭与记忆的温柔凝视。") * 10
    assert excerpt(f"<p>{chinese}</p>", 30) == chinese[:60] + "…"
    # Thai puts spaces between phrases only; five letters (marks included) to a word.
    thai = "ภาพยนตร์เรื่องนี้เล่าเรื่องราวของครอบครัว หนึ่งที่อาศัยอยู่ริมทะเล " * 10
    cut = excerpt(f"<p>{thai}</p>", 10)
    assert cut.endswith("…") and 48 <= len(cut) - 1 <= 52
    # Never between a letter and its marks: "เรื่อง" is not cut after its "ร".
    for count in range(1, 40):
        kept = excerpt(f"<p>{thai}</p>", count).rstrip("…").rstrip()
        assert thai.startswith(kept) and not thai[len(kept)].startswith(("\u0e37", "\u0e48"))


def test_an_excerpt_of_words_and_japanese_together_counts_each_as_its_script_does():
    html = f"<p>Kore-eda returns with 海街の記憶 and a quiet film. {UMIBE}</p>"
    # Seven words of 20, and the title's five characters (two and a half words): ten and a
    # half words' worth of characters left, 21.
    assert excerpt(html, 20) == f"Kore-eda returns with 海街の記憶 and a quiet film. {UMIBE[:21]}…"
    # Korean is written with spaces between words: counted as English is.
    korean = "<p>" + "바닷가 작은 마을에 사는 세 자매의 일 년을 조용히 그린다. " * 10 + "</p>"
    assert len(excerpt(korean, 12).rstrip("…").split()) == 12


@given(st.lists(st.one_of(texts, st.sampled_from(
           ["<p>", "</p>", "<br>", "<em>", " ", "\n", "&amp;", "word", "—", "。", "、", UMIBE,
            "เรื่อง", "ព្រះ", "海", "x" * 40])), max_size=80),
       st.integers(min_value=1, max_value=40))
def test_an_excerpt_of_any_script_is_the_opening_of_the_text_with_no_space_added(pieces, count):
    html = "".join(pieces)
    cut = excerpt(html, count)
    assert html_to_text(html).startswith(cut.removesuffix("…"))


def test_ratings_and_slugs_read_as_people_write_them():
    assert stars(None) == ""
    assert (stars(Decimal("3.5")), rating_value(Decimal("3.5"))) == ("★★★½", "3.5")
    assert rating_value(Decimal("4.0")) == "4"
    assert [slugify(n) for n in ("Sam Okafor", "Amélie", "王伟", "!!!")] == [
        "sam-okafor", "amelie", "wang-wei", "untitled"]
    # Letters folding cannot spell are transliterated; what it spells is as it always was.
    assert [slugify(n) for n in ("Ольга Петрова", "Straße", "Ørsted", "한국 영화", "Sam O'Brien",
                                 "½ Moon", "ﬁlm", "😀 🎬")] == [
        "olga-petrova", "strasse", "orsted", "hangug-yeonghwa", "sam-o-brien", "12-moon", "film",
        "untitled"]
    # A new file's slug drops an apostrophe inside a word, as Hugo's and Pelican's do; quotes
    # around words are still word breaks.
    assert [title_slug(t) for t in ("Schindler's List", "The Cartographer’s Winter",
                                    "'Round Midnight", "Rock 'n' Roll High School")] == [
        "schindlers-list", "the-cartographers-winter", "round-midnight",
        "rock-n-roll-high-school"]


def test_every_character_the_source_rules_remove_is_unprintable():
    # Parsing skips these patterns for text that str.isprintable() passes (line breaks left
    # out): sound only while no printable character is in any of them.
    suspects = "".join(chr(c) for c in range(0x110000)
                       if SUSPECT_CHARS.match(chr(c)) or BIDI_CHARS.match(chr(c))
                       or ILLEGAL_CHARS.match(chr(c)))
    assert suspects and not any(c.isprintable() for c in suspects)


def test_surely_clean_is_never_wrong_about_a_suspect_character():
    """Every character SUSPECT_CHARS finds, in UTF-8, alone and among common others:
    surely_clean never calls it clean."""
    every = [*range(0xD800), *range(0xE000, 0x110000)]  # surrogates cannot be UTF-8
    suspects = [chr(c) for c in every if SUSPECT_CHARS.match(chr(c))]
    assert len(suspects) > 60
    assert [s for s in suspects for text in (s, f"a — {s} “b”", f"{s}\u2026")
            if surely_clean(text.encode())] == []
    assert surely_clean("Plain — “quoted” text… in Zürich".encode())
    assert not surely_clean("A non-breaking\u00a0space".encode())


def test_surely_clean_looks_at_each_dash_or_searches_as_the_pattern_does():
    """A text with a few E2 sequences has each looked at, one with many is searched: both
    answers are the pattern's, wherever the suspect one is among them."""
    dashes = "—“”…‘’•€™"  # E2 sequences that are not suspect
    for suspect in ("\u200b", "\u2028", "\u202e", "\u2066", "\u205f", "\u200e"):
        for count in (0, 1, 15, 16, 17, 40):
            common = "".join(dashes[i % len(dashes)] for i in range(count))
            for text in (common, suspect + common, common + suspect,
                         common[: count // 2] + suspect + common[count // 2:]):
                data = text.encode()
                assert surely_clean(data) == (SUSPECT_CHARS.search(text) is None), text
