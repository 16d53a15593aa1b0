"""Clean one scraped news document: repair unicode, drop junk, rejoin hard-wrapped lines.

`clean_document(raw)` turns the decoded text of one file into a `CleanedDocument`: an optional headline,
a clean body and a per-rule account of what was thrown away, so a user can audit every removal.

The steps, in order (each removal is counted under one name of `CLEAN_RULES`):

1. Unicode (`unicode_fix`, `control_chars`, `whitespace`): ftfy repairs mojibake ("donâ€™t" -> "don’t")
   and normalises to NFC while keeping typographic quotes and dashes; BOM, zero-width, bidi and control
   characters go; CRLF/CR and other line separators become "\\n"; tabs, NBSP and odd unicode spaces
   become plain spaces. For speed, ASCII text skips ftfy, and the full (slow) ftfy pass only runs when
   the text holds a mojibake signature (a UTF-8 lead byte read as latin-1/cp1252 followed by a
   continuation byte, C1 controls, surrogates); other text gets ftfy's cheap fixes (ligatures,
   full-width forms) and NFC. HTML entities are not decoded (that is the HTML extractor's job).
2. Junk lines (`photo_credit`, `copyright`, `social_prompt`, `contact_appeal`, `advertisement`,
   `cookie_notice`, `navigation`): short whole lines matched by the anchored pattern families below. A
   pattern never matches words inside a longer line, so an article sentence is never cut, and a
   lower-case line that continues an unfinished sentence is never junk ("sponsored by the merchant bank
   and ..."). A bare "©" line takes the short credit line after it; a "Related:" header takes its short
   link titles; an image caption that ends in its credit ("... Dado Ruvic/Reuters", "... Photograph: X
   for the Guardian") goes whole. The patterns run again on the rejoined paragraphs, which catches junk
   wrapped over two lines. Learned template lines (`learned_boilerplate`, see `learn_boilerplate`) go
   too, except article structure: a dateline ("LONDON 1996-12-06", "LONDON, March 14 (Reuters) -",
   "WASHINGTON (AP) —") or a byline ("By Jane Doe") stays however often it recurs in the drop, and so does
   a label introducing the line under it ("Scorers:"); a template sentence the site wrapped with the
   body is matched whole, as a paragraph, in the header and footer zones.
3. Headline: the first non-empty line is the `title` when a blank line follows it, or when one or two
   short header lines (a byline, an ad label, a credit) stand between it and the first blank line (they
   stay in the body as paragraphs of their own); it is short (<= 20 words, <= 200 characters), is not a
   dateline or byline, and does not end like a sentence ("." "," ";" ":"; an ALL-CAPS line may end in
   "."). The title is not part of `text`; `article_structure` gives the dateline's place and the byline.
4. Hard-wrap repair: consecutive lines are joined with a space into one paragraph. A line starts a new
   paragraph when the previous one ends a sentence (. ! ? : ; or … possibly followed by closing quotes
   or brackets) unless it begins with a lower-case letter, when it is indented deeper than the body
   (Reuters marks paragraphs with a 4-space indent; in such indent-paragraphed documents the indent
   alone decides), or when it is a list item ("-", "*", "•", "1.", "(a)" ...). A list item absorbs its
   own wrapped continuation lines. Table-like lines (two runs of three or more spaces between words, or
   one such run on a line with a digit, as in Reuters' number tables) are never joined: consecutive
   table lines form one block joined by a single "\\n" and keep their spacing, so columns stay
   readable (and cleaning again still sees them as tables). A dateline line ("BEIJING 1996-08-30",
   "LONDON, March 14, 2016 (Reuters)") is its own paragraph, and a run of short unfinished lines with
   digits (score lines, results tables with single spaces, "Shr 1.31 dlrs vs 86 cts" with its "Nine mths"
   labels) is kept line by line as a table block; wrapped prose lines are longer than such rows, so they
   still join. Wrap widths are measured per run of lines (a quote or a pasted block may be wrapped at its
   own width): in a hard-wrapped document a line that ends a sentence ends the paragraph only when the
   next word would have fitted on it within its run's width. When the document does not look
   hard-wrapped (neither as a whole nor run by run), a line ending mid-sentence joins the next only when
   the break looks like a wrap there: it ends in "the", "of", "on" ... or a hyphen, or both lines fit a
   wrap width and the next word would not have fitted within the longest such line of their run; so text
   written one sentence, headline or result per line stays line by line. A line-final hyphen joins
   without a space unless the next word is "and"/"or"/"to" or the document spells the pair with a space
   more often than without.
   Paragraphs are separated by "\\n\\n".
5. Repeats (`repeated_paragraph`): a prose paragraph of >= 5 words that repeats an earlier one (after
   case and whitespace folding) is dropped; this also removes a whole body pasted twice, with the short
   paragraphs that follow the repeated one in the same order as after its first copy (list lines, data
   rows). Otherwise table blocks, paragraphs under 5 words and data lines under 10 words with a digit
   ("Net 16.1 mln vs 9,390,000", for the quarter and again for nine months) are never dropped: such
   repeats are real content.
6. Comment section (`comment_section`): from the earliest comment-section header ("Comments",
   "No comments:", "Leave a reply" ...) to the end of the document, when everything after the header is
   short or about commenting (moderation policy, "Post a comment"); leftover standalone comment prompts
   are dropped wherever they are.

The result is idempotent: cleaning a cleaned body changes nothing, except that its first paragraph may
now be read as a headline (title + "\\n\\n" + text then equals the first body).
"""

import bisect
import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

import ftfy
import ftfy.chardata
import ftfy.fixes
import polars as pl

CLEAN_RULES: tuple[str, ...] = (
    "unicode_fix",
    "control_chars",
    "whitespace",
    "photo_credit",
    "copyright",
    "social_prompt",
    "contact_appeal",
    "advertisement",
    "cookie_notice",
    "navigation",
    "comment_section",
    "repeated_paragraph",
    "learned_boilerplate",
)


class CleanedDocument(NamedTuple):
    """A cleaned document and the account of what cleaning removed."""

    title: str | None
    text: str
    removed_chars: dict[str, int]
    removed_lines: dict[str, int]


# --- Unicode -------------------------------------------------------------------------------------------

# Quotes and dashes carry meaning in news text, so ftfy must not straighten them. HTML entities are left
# alone: unescaping is not idempotent ("&amp;lt;") and belongs to whoever extracted the text from HTML.
# Line breaks and control characters are handled below so that they are counted under our own rules.
# restore_byte_a0 ("Ã " -> "à") is off: rejoining hard-wrapped lines puts a space after a line-final "Ã",
# so it would make cleaning a cleaned text change it again.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    restore_byte_a0=False,
    remove_control_chars=False,
    normalization="NFC",
    explain=False,
)
# When the full (slow) ftfy pass runs. ftfy's own `badness.is_bad` costs about half of `fix_text` on clean
# text, so instead we look for what the common mojibake leaves: a UTF-8 lead byte read as latin-1/cp1252
# ("Ã", "â", "Â" ...) followed by a continuation byte read the same way ("â€™", "Ã©", "Â£"),
# plus what only the full pass repairs: C1 controls (cp1252 decoded as latin-1), surrogates and terminal
# escapes. Other text takes the cheap path: ligatures, full-width forms and NFC, as ftfy would.
_CP1252_CONTINUATION = (
    "\x80-\xbf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d"
    "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
)
_NEEDS_FULL_FTFY = re.compile(f"[\xc2-\xf4][{_CP1252_CONTINUATION}]|[\x1b\x80-\x9f\ud800-\udfff]")
_LIGATURE_OR_WIDE_CHARS = sorted({*ftfy.chardata.LIGATURES, *ftfy.chardata.WIDTH_MAP})
_LIGATURE_OR_WIDE = re.compile("[" + "".join(re.escape(chr(c)) for c in _LIGATURE_OR_WIDE_CHARS) + "]")
# Line breaks other than "\n". NEL (\x85) is a C1 byte: it counts as a line break only once ftfy has had
# the chance to read C1 bytes as the cp1252 characters they usually are ("\x85" -> "…").
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\u2028\u2029]")
_LINE_BREAKS_AND_NEL = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0 controls except \t and \n, soft hyphen, zero-width and bidi marks, word joiners, BOM, interlinear
# annotation marks, lone surrogates and tag characters: all invisible in rendered text.
_INVISIBLE_CHARS = (
    "\x00-\x08\x0e-\x1f\x7f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f"
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
_INVISIBLE_AND_C1 = re.compile(f"[{_INVISIBLE_CHARS}\x80-\x9f]")
# Tabs and every unicode space other than the plain one.
_ODD_SPACES = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# ftfy's output can itself hold invisible characters ("â€‹" is a zero-width space) whose removal brings
# new mojibake together; a few rounds make the result stable (cleaning it again changes nothing).
_MAX_FTFY_ROUNDS = 3


_ASCII_INVISIBLE = bytes(c for c in range(128) if _INVISIBLE.match(chr(c)))


def _has_line_break(text: str) -> bool:
    """False when `_LINE_BREAKS` cannot match (a fast pre-check: a scan for each character is cheaper)."""
    return "\r" in text or "\x0b" in text or "\x0c" in text or "\u2028" in text or "\u2029" in text


def _normalize_unicode(raw: str, removed_chars: dict[str, int]) -> str:
    """Return `raw` with mojibake repaired, invisible characters removed and line breaks as "\\n"."""
    text = _LINE_BREAKS.sub("\n", raw) if _has_line_break(raw) else raw
    removed_chars["whitespace"] += len(raw) - len(text)
    if text.isascii():
        # The invisible characters of ASCII are its controls: deleting bytes is ~3x faster than the regex.
        encoded = text.encode("ascii")
        visible = encoded.translate(None, _ASCII_INVISIBLE)
        removed_chars["control_chars"] += len(encoded) - len(visible)
        text = visible.decode("ascii") if len(visible) < len(encoded) else text
        return text.replace("\t", " ") if "\t" in text else text
    # Invisible characters go before ftfy looks for mojibake, so that it sees what the reader sees.
    text, n_invisible = _INVISIBLE.subn("", text)
    removed_chars["control_chars"] += n_invisible
    if _LIGATURE_OR_WIDE.search(text):
        text = ftfy.fixes.fix_character_width(ftfy.fixes.fix_latin_ligatures(text))
    for _ in range(_MAX_FTFY_ROUNDS):
        if not _NEEDS_FULL_FTFY.search(text):
            break
        fixed = ftfy.fix_text(text, _FTFY_CONFIG)
        removed_chars["unicode_fix"] += max(0, len(text) - len(fixed))
        fixed = _LINE_BREAKS_AND_NEL.sub("\n", fixed)
        fixed, n_invisible = _INVISIBLE_AND_C1.subn("", fixed)
        removed_chars["control_chars"] += n_invisible
        if fixed == text:
            break
        text = fixed
    text, n_invisible = _INVISIBLE_AND_C1.subn("", _LINE_BREAKS_AND_NEL.sub("\n", text))
    removed_chars["control_chars"] += n_invisible
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _ODD_SPACES.sub(" ", text)


# --- Junk line patterns --------------------------------------------------------------------------------
# Each family is matched against a whole line (or paragraph) after whitespace collapsing, case-insensitive,
# and only when that line is at most _MAX_JUNK_CHARS long. Order matters only between families that
# could both match: copyright is tried before photo_credit so "© 2016 Rudaw" counts as copyright.

_MAX_JUNK_CHARS = 320

_AGENCIES = (
    r"(?:getty(?: images)?|afp|reuters|ap(?: photo)?|epa(?:-efe)?|sputnik|tass|ria novosti|xinhua|anadolu agency"
    r"|shutterstock|istock(?:photo)?|alamy(?: stock photo)?|pa(?: wire| media)?|bloomberg|rex features"
    r"|rex/shutterstock|corbis|wikimedia commons|flickr)"
)
_NAME = r"[\w.'’&-]+(?: [\w.'’&-]+){0,4}"
_NETWORKS = r"(?:twitter|x|facebook|instagram|linkedin|youtube|tiktok|google\+?|social media|telegram)"

_JUNK_FAMILIES: dict[str, tuple[str, ...]] = {
    # "Copyright 2016 Rudaw", "© 2016 X. All rights reserved", "(c) Copyright Reuters 1987", lines that
    # end in "All rights reserved".
    "copyright": (
        r"(?:copyright|©|\(c\))\s*(?:©|\(c\)|copyright)?\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)\b.{0,120}",
        r"(?:copyright|©|\(c\))\s*(?:©|\(c\))?\s*[^.!?]{0,120}\ball rights reserved\b.{0,80}",
        r"[^.!?]{0,120}\ball rights reserved[.!]?",
        r"copyright\s*(?:©|\(c\))?\s*" + _NAME + r"[.]?",
    ),
    # "© Sputnik/ Alexei Druzhinin", "Photo: X", "Image copyright X", "Image caption X",
    # "AFP/Getty Images", "Reuters/Kevin Lamarque", "(c) Reuters", "Getty Images", "Photo".
    "photo_credit": (
        r"(?:©|\(c\))\s*[^.!?]{1,100}",
        r"(?:photo(?:graph)?s?|pictures?|pics?|images?|credits?|(?:photo|pic(?:ture)?|image) credits?)"
        r"(?:\s*[:|]\s*.{0,150})?",
        r"(?:photo(?:graph)?s?|pictures?|pics?|images?)\s+(?:by|courtesy(?: of)?)\s+[^.!?,;]{1,60}",
        # The same in brackets, as captions print them: "(Photo by X)", "[Picture: X/AP]", "(X/Reuters)".
        r"[(\[](?:photo(?:graph)?s?|pictures?|pics?|images?|credits?)(?:\s*:|\s+by|\s+courtesy(?: of)?)"
        r"\s*[^()\[\]]{1,100}[)\]]",
        r"[(\[]" + _NAME + r"\s*/\s*" + _AGENCIES + r"[)\]]",
        r"image (?:copyright|caption|source)\b.{0,200}",
        rf"(?:{_NAME}\s*/\s*)?(?:getty images|shutterstock|istock(?:photo)?|alamy(?: stock photo)?)"
        rf"(?:\s*(?:/|via)\s*{_NAME})?",
        _NAME + r"\s*[/|]\s*" + _AGENCIES + r"(?:\s*[/|]\s*" + _NAME + r")?",
        _AGENCIES + r"\s*(?:[/|]|via)\s*" + _NAME,
        r"(?:gallery\s*\|\s*)?\d+ (?:photos|pictures|images)",
    ),
    # "Share this article", share-button rows ("Facebook Twitter Email"), "Follow us on Twitter",
    # "Subscribe to our newsletter", "Sign up for our daily email".
    "social_prompt": (
        r"(?:share|tweet|e-?mail|print|save|whatsapp|facebook|twitter|linkedin|reddit|pinterest|messenger"
        r"|copy link|google\+?|share on \w+)(?:[\s|,/•·]+(?:share|tweet|e-?mail|print|save|whatsapp|facebook"
        r"|twitter|linkedin|reddit|pinterest|messenger|copy link|google\+?|share on \w+))*",
        r"share (?:this|the) (?:article|story|page|post|video|gallery)(?: (?:on|via|with) .{1,60})?[:.!]?",
        rf"(?:follow|like|find|join|connect with) us on {_NETWORKS}"
        rf"(?:\s*(?:,|and|or|&)\s*(?:on )?{_NETWORKS})*"
        r"(?:\s*(?:@[\w.]+|at @?[\w.]+|for [^,;]{1,60}))?[.!]?",
        r"follow @?[\w.]+ on (?:twitter|facebook|instagram|linkedin|youtube)[.!]?",
        r"(?:subscribe|sign up|register) (?:to|for|now for) (?:our|the)\b.{0,60}"
        r"\b(?:newsletters?|channel|updates|alerts|e-?mails?|briefing|podcast)\b.{0,80}",
        r"(?:subscribe|sign up)(?: now| today| here)?[.!]?",
        r"get (?:our|the) (?:\w+ ){0,3}newsletter\b.{0,80}",
    ),
    # Ad slots and sponsored-content markers.
    "advertisement": (
        r"advertisements?|advertising|advertorial|sponsored(?: content| links?| stories| by [^.,;]{1,60})?"
        r"|ads? by \w+|paid (?:content|post|partnership)|ad feedback|report (?:this )?ad",
        r"(?:story|article) continues below(?: advertisement)?|scroll to continue(?: with content)?"
        r"|continue reading below|advertisement - continue reading below",
    ),
    # Cookie banners: need a cookie word together with consent wording.
    "cookie_notice": (
        r"(?:this|our) (?:web)?site uses cookies\b.{0,300}",
        r"we use cookies\b.{0,300}",
        r"by (?:continuing|using)\b(?=.{0,200}\bcookies?\b).{0,300}",
        r"(?:accept|allow|manage|reject) (?:all )?cookies(?: and continue)?[.!]?",
        r"cookie (?:policy|settings|preferences|notice|consent)[.!]?",
    ),
    # Reading aids of the page, not the story: "Read more: ...", "Related: ...", "Continue reading the main
    # story", media player chrome, "Click here to ...", "Back to top".
    "navigation": (
        r"(?:read|see) (?:more|also)(?:\s*(?:[:>»|]|-)\s*.{0,200}|[.:]?)",
        r"related(?: articles| stories| coverage| content| links| news| topics| videos)?"
        r"\s*(?:[:>»|]\s*.{0,200})?",
        r"more (?:on|about) this (?:story|topic)[.:]?|more from \w+(?: \w+)?:?",
        r"continue reading(?: the main story)?[.…]*|media player help|jump media player"
        r"|(?:back|back up|return) to (?:top|list|home(?:page)?)\b[^.,;]{0,40}|skip to (?:main )?content"
        r"|skip navigation",
        r"(?:\+ )?see all \d+|view (?:all|gallery|slideshow)|(?:open|view) (?:the )?(?:full )?gallery",
        r"click here\b.{0,150}",
        # "Read or Share this story: https://usat.ly/2FDg8kl", a bare link
        r"(?:read or share|share|read|see) (?:this|the) (?:story|article|video)\s*:\s*\S+",
        r"(?:https?://|www\.)\S+",
        r"(?:top|most read|most popular|most viewed|trending|recommended|editor'?s picks?)"
        r"(?: stories| articles| news| now)?:?",
    ),
}
_JUNK_LINE = re.compile(
    "|".join(f"(?P<{rule}>{'|'.join(f'(?:{p})' for p in patterns)})" for rule, patterns in _JUNK_FAMILIES.items()),
    re.IGNORECASE,
)
# An image caption ends in its credit ("... found “inappropriate content” Dado Ruvic/Reuters", "... while
# tweens consume six hours. Photograph: Graeme Robertson for the Guardian"): such a line is the caption of
# a picture, not article text, whatever it says before the credit.
_CAPTION_CREDIT_END = re.compile(
    rf"(?:^|\s)(?:{_NAME}\s*/\s*{_AGENCIES}(?:\s*/\s*{_NAME})?"
    r"|(?:photo(?:graph)?|picture|image)s?\s*:\s*[^.!?:]{1,80}"
    r"|[(\[](?:photo(?:graph)?|picture|image)s?(?:\s*:|\s+by)\s*[^()\[\]]{1,80}[)\]])$",
    re.IGNORECASE,
)
_MAX_CAPTION_WORDS = 60
_CAPTION_CREDIT_CHARS = 120  # a credit is at most this long: only the line's end is searched


def _may_end_in_credit(collapsed: str) -> bool:
    """False when the line cannot end in a caption credit (a fast pre-check of `_CAPTION_CREDIT_END`)."""
    tail = collapsed[-_CAPTION_CREDIT_CHARS:]
    return "/" in tail or ":" in tail or collapsed[-1] in ")]"


# Appeals to readers to send stories or tips, with an address or a number to send them to: "We pay for
# your stories! Do you have a story for The Sun Online news team? Email us at tips@... or call 0207 ...",
# "Got a tip? Contact us at ...", "Email: reporter@paper.com; Follow ... on Twitter". Only lines holding an
# "@", a link or a long number are tried (`_contact_appeal`).
_CONTACT_APPEAL = re.compile(
    r"(?=.*\b(?:(?:e-?mail|call|contact|text|message|write to|tell|whatsapp) us|get in touch"
    r"|do you have a (?:story|tip|video|photo)|got a (?:story|tip|news tip)|have a (?:story|news )?tip"
    r"|send (?:us )?(?:your )?(?:tips?|stories|pictures|photos|videos))\b)"
    r"(?=.*(?:[\w.+-]+@[\w-]+\.\w|\d[\d ()-]{7,}\d|https?://|www\.)).{0,300}"
    r"|e-?mail\s*:\s*[\w.+-]+@[\w-]+\.[\w.]+\b.{0,200}",
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"\d[\d ()-]{7,}\d")


def _may_be_contact_appeal(collapsed: str) -> bool:
    """False when the line holds neither an address nor a word of an appeal (a fast pre-check)."""
    return (
        "@" in collapsed
        or "http" in collapsed
        or "www." in collapsed
        or " us " in collapsed
        or "ontact" in collapsed
        or "Call" in collapsed
    )


def _is_contact_appeal(collapsed: str) -> bool:
    """True for a short line that asks readers to send stories or tips to an address or number."""
    if len(collapsed) > _MAX_JUNK_CHARS or not _may_be_contact_appeal(collapsed):
        return False
    if "@" not in collapsed and "http" not in collapsed and "www." not in collapsed:
        if not _LONG_NUMBER.search(collapsed):
            return False
    return _CONTACT_APPEAL.fullmatch(collapsed) is not None


# A bare "©" (or "Photo:") line credits the next line: "©" / "Sputnik/ Alexei Druzhinin".
_CREDIT_MARKER = re.compile(r"(?:©|\(c\)|photo|photo credit|image|picture|credit)\s*:?", re.IGNORECASE)
_MAX_CREDIT_WORDS = 8
# A "Related stories:" header lists links below it: short lines without sentence punctuation.
_LINK_LIST_HEADER = re.compile(
    r"(?:related|read more|see also|more on this story|more from \w+|most read|top stories)"
    r"(?: articles| stories| coverage| content| links| news)?\s*:?",
    re.IGNORECASE,
)
_MAX_LINK_WORDS = 15

# --- Comment section ------------------------------------------------------------------------------------
# Headers and prompts of a comment section (Blogger, WordPress, news sites). Matched on whole lines.
_COMMENT_HEADER = re.compile(
    r"(?:\d+\s+)?(?:reader )?comments?(?:\s*\(\d+\))?\s*:?|no comments?(?: yet)?\s*[:.!]?"
    r"|post (?:a|your|new) comment[.:]?|leave a (?:comment|reply)[.:]?|add (?:a|your) comment[.:]?"
    r"|join the (?:discussion|conversation)[.:]?|(?:show|view|load|hide|read) (?:all )?(?:\d+ )?comments?"
    r"(?:\s*\(\d+\))?|comments (?:are|have been) closed\.?|write a comment[.:]?|\d+ (?:responses?|replies)"
    r"|have your say|newer post(?:\s*older post)?(?:\s*home)?|older post(?:\s*home)?"
    r"|subscribe to: post comments \(atom\)"
    r"|post comments \(atom\)|comment policy|comments? guidelines|(?:\d+ )?(?:people )?(?:are )?commenting",
    re.IGNORECASE,
)
# Words of comment-moderation policy: a long paragraph after a header needs two of them to count as policy.
_COMMENT_POLICY = re.compile(
    r"\b(?:comments?|comment(?:ing|ers?)|moderat\w*|guidelines?|approv\w*|reject\w*|profanity|vulgarity"
    r"|abus\w*|offensive|terms (?:of|and) (?:use|service|conditions)|community (?:standards|rules)"
    r"|log ?in|sign ?in|register\w*|repl(?:y|ies)|posted by|discussions?|disqus)\b",
    re.IGNORECASE,
)
_MAX_SHORT_TAIL_WORDS = 6

# Cheap gate before the patterns above: every junk or comment pattern starts with one of these words
# (case-folded, trailing ":|.!" stripped), with a digit, "©", "+" or "(c)", or else contains "/" (agency
# credits) or "rights reserved". Most article lines fail the gate and skip the regexes; add the first
# word of every new pattern here (tests/tasks/test_clean.py checks one example line per family).
_JUNK_FIRST_WORDS = frozenset(
    """
    copyright photo photos photograph photographs picture pictures pic pics image images video credit
    credits source getty shutterstock istock istockphoto alamy gallery share tweet email e-mail print save
    whatsapp facebook twitter linkedin reddit pinterest messenger copy google google+ follow like find join
    connect subscribe sign register get advertisement advertisements advertising advertorial sponsored ad
    ads paid report story article scroll continue this our we by accept allow manage reject cookie read see
    related more media jump back return skip view open click top most trending recommended editor's editors
    reader comment comments no post leave add show load hide write have newer older people are commenting
    afp ap reuters epa epa-efe sputnik tass ria xinhua anadolu bloomberg rex corbis wikimedia flickr pa pic
    """.split()
)
_JUNK_FIRST_CHARS = frozenset("0123456789©(+[")

# --- Learned boilerplate --------------------------------------------------------------------------------
# A site's template (its footer, newsletter box, "More from X" header) repeats word for word across the
# documents of a drop, while article lines do not: cc_net's idea of counting normalised line hashes. The
# counting is per document (document frequency), so a line repeated inside one document never counts
# twice, and it is mergeable: a drop's key sets (or Counters of them) can be gathered batch by batch.
# Only short lines are candidates; digits are kept in the key, so data lines ("Shr 50 cts vs 37 cts")
# with different numbers never merge into one frequent key.

_MAX_KEY_WORDS = 30
# Punctuation and bullets around a line do not make it a different line ("Share this:" / "Share this").
_KEY_TRIM = " .,:;!?|-–—•*·»>«<"
# Default document-frequency threshold (see `learn_boilerplate`).
_MIN_BOILERPLATE_DOCS = 3
_MIN_BOILERPLATE_SHARE = 0.02


def line_key(line: str) -> int:
    """Return a stable 64-bit hash of `line` after case folding, whitespace collapsing and trimming.

    Stable across processes and runs (blake2b, not `hash`), so keys from different workers can be merged.
    """
    return _collapsed_key(" ".join(line.split()))


def _collapsed_key(collapsed: str) -> int:
    """`line_key` of a line whose whitespace is already collapsed."""
    normalised = collapsed.casefold().strip(_KEY_TRIM)
    digest = hashlib.blake2b(normalised.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _is_key_candidate(collapsed: str) -> bool:
    """True for a line that could be template text: <= 60 words (600 characters) and holds a letter.

    Lines of more than 30 words (a long footer sentence) count as template only in the header and footer
    zones of a document (`_drop_learned_lines`).
    """
    return (
        len(collapsed) <= _MAX_BLOCK_KEY_CHARS
        and collapsed.count(" ") < _MAX_BLOCK_KEY_WORDS  # `_word_count` of a non-empty line, inlined
        and _LETTER.search(collapsed) is not None
    )


# A template sentence wrapped with the body ("This story was produced with support from ... which has no
# say over" / "what we cover.") splits into lines that differ with each page's width, so short paragraphs
# of two or more lines are counted whole too, as one key of their joined lines.
_MAX_BLOCK_KEY_WORDS = 60
_MAX_BLOCK_KEY_CHARS = 600
_WRAPPED_HYPHEN = re.compile(r"(?<=[^\W\d_])- (?=[^\W\d_])")


def block_key(text: str) -> int:
    """Return the key of a paragraph joined from wrapped lines, whatever space a hyphen wrap left."""
    # The same key space as lines: a template sentence on one line in some pages and wrapped over two in
    # others counts as one.
    return line_key(_WRAPPED_HYPHEN.sub("-", text) if "- " in text else text)


def _is_block_key_candidate(text: str, n_words: int) -> bool:
    return n_words <= _MAX_BLOCK_KEY_WORDS and len(text) <= _MAX_BLOCK_KEY_CHARS and _LETTER.search(text) is not None


def document_line_keys(raw: str) -> set[int]:
    """Return the distinct `line_key`s of the candidate lines of one raw document, and the `block_key`s
    of its short multi-line paragraphs (blank-line separated, <= 60 words).

    The text is unicode-normalised as `clean_document` does first, so the keys match the lines it sees.
    Table rows and long lines are not candidates.
    """
    text = _normalize_unicode(raw, Counter())
    keys: set[int] = set()
    paragraph: list[str] = []
    paragraph_words = 0

    def add_paragraph() -> None:
        if len(paragraph) >= 2:
            joined = " ".join(paragraph)
            if _is_block_key_candidate(joined, paragraph_words):
                keys.add(block_key(joined))

    for line in text.split("\n"):
        stripped = line.strip(" ")
        if not stripped:
            add_paragraph()
            paragraph, paragraph_words = [], 0
            continue
        if _is_table_row(stripped):
            paragraph_words = _MAX_BLOCK_KEY_WORDS + 1
            continue
        collapsed = " ".join(stripped.split()) if "  " in stripped else stripped
        if _is_key_candidate(collapsed):
            keys.add(_collapsed_key(collapsed))
        if paragraph_words <= _MAX_BLOCK_KEY_WORDS:
            paragraph.append(collapsed)
            paragraph_words += _word_count(collapsed)
    add_paragraph()
    return keys


def count_line_keys(key_sets: Iterable[set[int]]) -> Counter[int]:
    """Return in how many documents each key occurs (Counters of batches add up with `+`)."""
    counts: Counter[int] = Counter()
    for keys in key_sets:
        counts.update(keys)
    return counts


def boilerplate_threshold(
    n_docs: int, min_docs: int = _MIN_BOILERPLATE_DOCS, min_share: float = _MIN_BOILERPLATE_SHARE
) -> int:
    """Return how many documents a line must be in to be boilerplate: max(min_docs, share * n_docs, 2)."""
    return max(2, min_docs, math.ceil(min_share * n_docs))


def learn_boilerplate(
    key_sets: Iterable[set[int]] | Counter[int],
    n_docs: int,
    min_docs: int = _MIN_BOILERPLATE_DOCS,
    min_share: float = _MIN_BOILERPLATE_SHARE,
) -> frozenset[int]:
    """Return the line keys that occur in at least `boilerplate_threshold(n_docs, ...)` documents.

    `key_sets` holds one `document_line_keys` set per document of the drop (or a `count_line_keys`
    Counter already merged across batches). The threshold is a document frequency and never below 2, so a
    line found in only one document is never boilerplate, however often it repeats there. The defaults
    (3 documents and 2% of the drop) are low enough to catch one source's template in a drop mixing ~10
    sources, and high enough that stock phrases of agency copy stay: on Reuters-21578 (21,578 articles)
    no prose line reaches 5% (see benchmarks/eval_clean.py). Small drops (< 60 documents) fall back to
    `min_docs`; pass a larger `min_docs` there if the drop mixes many near-identical wire stories.
    """
    counts = key_sets if isinstance(key_sets, Counter) else count_line_keys(key_sets)
    threshold = boilerplate_threshold(n_docs, min_docs, min_share)
    return frozenset(key for key, n in counts.items() if n >= threshold)


# --- Line shapes --------------------------------------------------------------------------------------

# A table row (Reuters number tables) is never joined into prose: two gaps of three or more spaces
# between words, or one gap on a line with a digit ("Wheat     2.55"). One gap without digits is prose.
_TABLE_GAP = re.compile(r"(?<=\S) {3,}(?=\S)")
_DIGIT = re.compile(r"\d")
_LIST_ITEM = re.compile(r"(?:[-*•·▪►‣◦]|\d{1,3}[.)]|\(\d{1,3}\)|\([a-z]\))(?: |$)")
_LIST_MARKS = "-*•·▪►‣◦("


def _may_be_list_item(text: str) -> bool:
    """False when `_LIST_ITEM` cannot match (a fast pre-check): a list item starts with a mark or a digit."""
    return text[0] in _LIST_MARKS or text[0].isdecimal()


_CLOSERS = "\"'”’»)]"
_SENTENCE_END = frozenset(".!?:;…")
_TITLE_BAD_END = ".,;:"
_LETTER = re.compile(r"[^\W\d_]")
_MAX_TITLE_WORDS = 20
_MAX_TITLE_CHARS = 200
_MIN_REPEAT_WORDS = 5
# Short lines with numbers are data ("Net 16.1 mln vs 9,390,000" for the quarter and the nine months).
_MIN_NUMERIC_REPEAT_WORDS = 10

_BLANK, _PLAIN, _LIST, _TABLE, _STANDALONE, _LEARNED = range(6)


class _Line(NamedTuple):
    text: str  # collapsed for prose; table rows keep their spacing
    kind: int
    indent: int


class _Block(NamedTuple):
    text: str
    is_table: bool
    n_lines: int


def _may_be_junk(collapsed: str) -> bool:
    """False when no junk or comment pattern can match the whole line (a fast pre-check)."""
    if len(collapsed) > _MAX_JUNK_CHARS:
        return False
    if collapsed[0] in _JUNK_FIRST_CHARS or "/" in collapsed or "|" in collapsed:
        return True
    space = collapsed.find(" ")
    first = (collapsed[:space] if space >= 0 else collapsed).casefold().rstrip(":|.!")
    return first in _JUNK_FIRST_WORDS or "rights reserved" in collapsed.casefold()


def _junk_rule(collapsed: str) -> str | None:
    """Return the rule whose pattern matches the whole (short) line, or None."""
    if _may_be_junk(collapsed):
        match = _JUNK_LINE.fullmatch(collapsed)
        if match:
            return match.lastgroup
    return "contact_appeal" if _is_contact_appeal(collapsed) else None


def _is_table_row(stripped: str) -> bool:
    if "   " not in stripped:  # a gap is three spaces or more: most lines have none, and the regex is slow
        return False
    gap = _TABLE_GAP.search(stripped)
    if gap is None:
        return False
    return _DIGIT.search(stripped) is not None or _TABLE_GAP.search(stripped, gap.end()) is not None


def _ends_sentence(text: str) -> bool:
    """True when the line ends like a sentence: terminal punctuation, maybe followed by closers."""
    core = text.rstrip(_CLOSERS)
    return bool(core) and core[-1] in _SENTENCE_END


def _word_count(text: str) -> int:
    return text.count(" ") + 1 if text else 0


def _is_credit(collapsed: str) -> bool:
    """True for a short name-like line that follows a bare "©": "Sputnik/ Alexei Druzhinin"."""
    words = _word_count(collapsed)
    if words > _MAX_CREDIT_WORDS:
        return False
    return words <= 3 or collapsed[-1:] not in ".!?"


def _is_link_title(collapsed: str) -> bool:
    return _word_count(collapsed) <= _MAX_LINK_WORDS and not _ends_sentence(collapsed)


class _TracedCounts(dict):
    """Removal counts that also keep what was removed, (rule, text), for audits (`clean_document(trace=)`)."""

    def __init__(self, counts: dict[str, int], trace: list[tuple[str, str]]) -> None:
        super().__init__(counts)
        self.trace = trace


def _remove(rule: str, text: str, n_lines: int, removed_chars: dict, removed_lines: dict) -> None:
    removed_chars[rule] += len(text)
    removed_lines[rule] += n_lines
    if isinstance(removed_chars, _TracedCounts):
        removed_chars.trace.append((rule, text))


def _classify_lines(
    text: str, removed_chars: dict, removed_lines: dict, boilerplate: frozenset[int] = frozenset()
) -> list[_Line]:
    """Split into lines, drop junk lines and label the rest (blank, plain, list, table, standalone).

    Lines whose `line_key` is in `boilerplate` are labelled learned; `_drop_learned_lines` decides.
    """
    out: list[_Line] = []
    pending_credit = False  # previous kept line was a bare "©": this line may be the credited name
    pending_links = False  # inside a "Related:" link list
    in_list = False  # a list item came since the last blank line
    whitespace = 0  # characters of whitespace removed, added to the counts once at the end
    for line in text.split("\n"):
        stripped = line.strip(" ")
        if not stripped:
            if line:
                whitespace += len(line)
                removed_lines["whitespace"] += 1
            pending_links = False
            in_list = False
            if out and out[-1].kind != _BLANK:
                out.append(_Line("", _BLANK, 0))
            continue
        is_table = _is_table_row(stripped)
        collapsed = " ".join(stripped.split()) if (is_table or "  " in stripped) else stripped
        if pending_credit:
            pending_credit = False
            if _is_credit(collapsed):
                _remove("photo_credit", line, 1, removed_chars, removed_lines)
                continue
        if pending_links:
            if _is_link_title(collapsed):
                _remove("navigation", line, 1, removed_chars, removed_lines)
                continue
            pending_links = False
        # A lower-case line that continues an unfinished sentence is prose ("sponsored by the merchant
        # bank and ..."), whatever its first words; junk is judged again on whole paragraphs later.
        if not (
            collapsed[0].islower() and out and out[-1].kind in (_PLAIN, _LIST) and not _ends_sentence(out[-1].text)
        ):
            if boilerplate and not is_table and _is_key_candidate(collapsed):
                if _collapsed_key(collapsed) in boilerplate:
                    whitespace += len(line) - len(collapsed)
                    out.append(_Line(collapsed, _LEARNED, len(line) - len(line.lstrip(" "))))
                    continue
            if _may_be_junk(collapsed):
                if _CREDIT_MARKER.fullmatch(collapsed):
                    _remove("photo_credit", line, 1, removed_chars, removed_lines)
                    pending_credit = True
                    continue
                match = _JUNK_LINE.fullmatch(collapsed)
                if match is not None:
                    rule = match.lastgroup
                    _remove(rule, line, 1, removed_chars, removed_lines)
                    pending_links = rule == "navigation" and _LINK_LIST_HEADER.fullmatch(collapsed) is not None
                    continue
                if _COMMENT_HEADER.fullmatch(collapsed) and _LETTER.search(collapsed):
                    out.append(_Line(collapsed, _STANDALONE, 0))
                    continue
            if _may_be_contact_appeal(collapsed) and _is_contact_appeal(collapsed):
                _remove("contact_appeal", line, 1, removed_chars, removed_lines)
                continue
            if (
                ("/" in collapsed or ":" in collapsed or collapsed[-1] in ")]")
                and _may_end_in_credit(collapsed)
                and _word_count(collapsed) <= _MAX_CAPTION_WORDS
                and _CAPTION_CREDIT_END.search(collapsed[-_CAPTION_CREDIT_CHARS:])
            ):
                _remove("photo_credit", line, 1, removed_chars, removed_lines)
                continue
        indent = len(line) - len(line.lstrip(" ")) if line[0] == " " else 0
        if is_table:
            out.append(_Line(line.rstrip(" "), _TABLE, indent))
            whitespace += len(line) - len(line.rstrip(" "))
            continue
        whitespace += len(line) - len(collapsed)
        # A dash after an unfinished sentence is the sentence's own dash, wrapped: not a list item.
        kind = _PLAIN
        if (
            _may_be_list_item(collapsed)
            and _LIST_ITEM.match(collapsed)
            and (in_list or not out or out[-1].kind != _PLAIN or _ends_sentence(out[-1].text))
        ):
            kind = _LIST
            in_list = True
        out.append(_Line(collapsed, kind, indent))
    removed_chars["whitespace"] += whitespace
    return out


_MAX_LIST_HEADER_WORDS = 6


def _link_list_end(lines: list[_Line], start: int) -> int:
    """Return the last index of the link titles listed from `start` under a header, or start - 1.

    Link titles are short capitalised lines without sentence punctuation, up to a blank line or the end;
    when any line of that run is not one (a wrapped paragraph ends in "."), there is no list.
    """
    end = start
    has_words_only_title = False  # a list of data lines ("Shr 1.53 dlrs vs 1.21 dlrs") is not links
    while end < len(lines) and lines[end].kind != _BLANK:
        line = lines[end]
        # Headlines may ask or exclaim, but never end in a full stop.
        text = line.text.rstrip("?!")
        if line.kind not in (_PLAIN, _LIST, _LEARNED) or not text or text[0].islower() or not _is_link_title(text):
            return start - 1
        has_words_only_title = has_words_only_title or not _DIGIT.search(text)
        end += 1
    return end - 1 if has_words_only_title else start - 1


def _is_data_line(line: _Line) -> bool:
    """True for a table row or a short line with a number ("Shr 1.31 dlrs vs 86 cts")."""
    if line.kind == _TABLE:
        return True
    return (
        line.kind not in (_BLANK, _LEARNED)
        and _word_count(line.text) < _MIN_NUMERIC_REPEAT_WORDS
        and bool(_DIGIT.search(line.text))
    )


_MAX_DATA_LABEL_WORDS = 5
_MIN_ARTICLE_LINE_WORDS = 15


def _article_bounds(lines: list[_Line]) -> tuple[int, int]:
    """Indices of the first and last article-length prose line (len(lines) and -1 when there is none)."""
    article_lines = [
        i
        for i, line in enumerate(lines)
        if line.kind in (_PLAIN, _LIST) and _word_count(line.text) >= _MIN_ARTICLE_LINE_WORDS
    ]
    return (article_lines[0], article_lines[-1]) if article_lines else (len(lines), -1)


def _drop_learned_lines(lines: list[_Line], removed_chars: dict, removed_lines: dict) -> list[_Line]:
    """Drop lines labelled learned boilerplate, unless the next line continues them as one sentence.

    (`_classify_lines` already keeps a learned line that continues the sentence of the line before it.)
    A learned list header takes the link titles below it; a learned line next to data lines stays.
    """
    out: list[_Line] = []
    link_list_end = -1  # lines up to this index are the link titles under a learned list header
    # Header and footer zones: before the first and after the last article-length line not learned; only
    # a learned line of more than _MAX_KEY_WORDS words needs them, so they are found when one comes.
    article_bounds: tuple[int, int] | None = None
    for index, line in enumerate(lines):
        if index <= link_list_end:
            _remove("learned_boilerplate", line.text, 1, removed_chars, removed_lines)
            continue
        if line.kind != _LEARNED:
            out.append(line)
            continue
        # the rest of a sentence kept because it goes on here ("... the companies they write" / "about.")
        goes_on = out and out[-1].kind in (_PLAIN, _LIST) and not _ends_sentence(out[-1].text)
        # a dateline or byline recurs across a day's stories: it stays; so does a long learned sentence
        # in the middle of the article
        in_body = False
        if _word_count(line.text) > _MAX_KEY_WORDS:
            if article_bounds is None:
                article_bounds = _article_bounds(lines)
            in_body = article_bounds[0] < index < article_bounds[1]
        if in_body or _is_structure_line(line.text) or (goes_on and line.text[0].islower()):
            out.append(_Line(line.text, _PLAIN, line.indent))
            continue
        following = lines[index + 1] if index + 1 < len(lines) else None
        continued = (
            following is not None
            and following.kind in (_PLAIN, _LIST, _LEARNED)
            and following.text[0].islower()
            and not _ends_sentence(line.text)
        )
        if continued:
            kind = _LIST if _LIST_ITEM.match(line.text) else _PLAIN
            out.append(_Line(line.text, kind, line.indent))
            continue
        list_end = index
        if _word_count(line.text) <= _MAX_LIST_HEADER_WORDS and not _ends_sentence(line.text):
            list_end = _link_list_end(lines, index + 1)
        # Labels of a data block recur in every earnings report ("Nine mths", "Year"): they are content.
        near_data = _word_count(line.text) <= _MAX_DATA_LABEL_WORDS and any(
            0 <= near < len(lines) and _is_data_line(lines[near]) for near in (index - 1, index + 1)
        )
        # A label that introduces the line right under it ("Scorers:" / the names) is the article's own.
        introduces = line.text.endswith(":") and following is not None and following.kind in (_PLAIN, _LIST, _TABLE)
        if (near_data or introduces) and list_end == index:
            out.append(_Line(line.text, _PLAIN, line.indent))
            continue
        _remove("learned_boilerplate", line.text, 1, removed_chars, removed_lines)
        link_list_end = list_end
        if out and out[-1].kind == _BLANK and index + 1 < len(lines) and lines[index + 1].kind == _BLANK:
            out.pop()
    while out and out[-1].kind == _BLANK:
        out.pop()
    return out


_MAX_HEADER_LINE_WORDS = 8
_MAX_HEADER_LINES = 2
_MIN_HEADED_TITLE_WORDS = 3


def _is_title_shaped(line: _Line) -> bool:
    text = line.text
    if (
        line.kind != _PLAIN
        or len(text) > _MAX_TITLE_CHARS
        or _word_count(text) > _MAX_TITLE_WORDS
        or not _LETTER.search(text)
        or _is_structure_line(text)
    ):
        return False
    last = text[-1]
    return not (last in _TITLE_BAD_END and not (last == "." and text.upper() == text))


def _detect_title(lines: list[_Line]) -> tuple[str | None, list[_Line]]:
    """Return the headline (or None) and the lines after it.

    The headline is the first line when a blank line follows it, or when the lines between it and the
    first blank line are short header lines (a byline, a dateline, an ad label or a credit the junk rules
    did not know): those stay in the body, but are never glued to the headline.
    """
    first = 0
    while first < len(lines) and lines[first].kind == _BLANK:
        first += 1
    if first + 2 >= len(lines) or not _is_title_shaped(lines[first]):
        return None, lines
    if lines[first + 1].kind == _BLANK:
        return lines[first].text, lines[first + 2 :]
    end = first + 1
    while end < len(lines) and lines[end].kind != _BLANK and end - first <= _MAX_HEADER_LINES:
        end += 1
    header = lines[first + 1 : end]
    if (
        end >= len(lines)
        or lines[end].kind != _BLANK
        or len(header) > _MAX_HEADER_LINES
        or _word_count(lines[first].text) < _MIN_HEADED_TITLE_WORDS
    ):
        return None, lines
    for line in header:
        text = line.text
        short = _word_count(text) <= _MAX_HEADER_LINE_WORDS and not _ends_sentence(text) and not _DIGIT.search(text)
        if not (_is_structure_line(text) or (short and line.kind == _PLAIN and text[0].isupper())):
            return None, lines
    body = [item for line in header for item in (line, _Line("", _BLANK, 0))]
    return lines[first].text, body + lines[end + 1 :]


# A hard-wrapped document: its longest prose line is at most this long and several lines come close to it.
_MIN_WRAP_WIDTH = 50
_MAX_WRAP_WIDTH = 100
_MIN_FULL_SHARE = 0.4
_MIN_FULL_LINES = 3
_FULL_LINE_SLACK = 12


def _wrap_width(lines: list[_Line]) -> int | None:
    """Return the width a document is hard-wrapped at, or None when it does not look wrapped.

    In a wrapped document a line that ends a sentence still continues its paragraph when the next line's
    first word would not have fitted on it: the wrapper, not the writer, broke the line there. The width
    is the third-longest prose line, so that a junk line or two left unwrapped do not widen it; the
    document counts as wrapped when that is 50-100 columns and many lines come close to it and break
    mid-sentence.
    """
    texts = [line.text for line in lines if line.kind == _PLAIN]
    if len(texts) < _MIN_FULL_LINES:
        return None
    lengths = sorted(map(len, texts), reverse=True)
    width = lengths[_MIN_FULL_LINES - 1]
    if not _MIN_WRAP_WIDTH <= width <= _MAX_WRAP_WIDTH:
        return None
    min_full = width - _FULL_LINE_SLACK
    if len(lengths) - bisect.bisect_left(lengths[::-1], min_full) < _MIN_FULL_SHARE * len(lengths):
        return None
    # Wrapping breaks most lines mid-sentence; text written one sentence per line is not wrapped.
    ends = [text.rstrip(_CLOSERS)[-1:] for text in texts]  # "" for a line of closers only
    mid_sentence = len(ends) - sum(map(_SENTENCE_END.__contains__, ends))
    if mid_sentence < _MIN_FULL_SHARE * len(lengths):
        return None
    return width


# Per block: a paragraph may be wrapped at its own width (a quote, a pasted block), so each run of lines
# gets its own width. A run of a hard-wrapped paragraph has every line but the last close to one width.
_MIN_RUN_WRAP_WIDTH = 45
_MIN_RUN_FULL_SHARE = 0.8
_MIN_RUN_MID_SENTENCE_SHARE = 0.5


def _line_runs(lines: list[_Line]) -> list[tuple[int, int]]:
    """(start, end) of each stretch of consecutive prose and list lines (end exclusive)."""
    runs = []
    start = 0
    n = len(lines)
    while start < n:
        if lines[start].kind not in (_PLAIN, _LIST):
            start += 1
            continue
        end = start
        while end < n and lines[end].kind in (_PLAIN, _LIST):
            end += 1
        runs.append((start, end))
        start = end
    return runs


def _run_wrap_width(lines: list[_Line], start: int, end: int) -> int:
    """The width the run's lines were wrapped at, judged from all lines but the last (0 when unknown):
    the second-longest of them when there are four or more, so that one junk line left unwrapped in the
    run does not widen it, else the longest. A run with two lines longer than any wrap is not wrapped."""
    longest = second = 0
    too_long = 0
    for i in range(start, end - 1):
        n = len(lines[i].text)
        if n > _MAX_WRAP_WIDTH:
            too_long += 1
        elif n > longest:
            longest, second = n, longest
        elif n > second:
            second = n
    counted = end - 1 - start - too_long
    if not counted or too_long > 1:
        return 0
    return second if counted >= 4 else longest


def _wrap_widths(lines: list[_Line]) -> list[int] | None:
    """Return the wrap width of each line's run (0 where unknown), or None when the text is not hard-wrapped.

    The document is wrapped when it is as a whole (`_wrap_width`) or when its runs of two or more lines,
    each measured against its own width, have most lines but the last close to that width and breaking
    mid-sentence (one paragraph at 55 columns, the next at 90). A run of three or more lines is judged by
    its own width; a two-line run, which says little about its width, by the document's.
    """
    document_width = _wrap_width(lines)
    runs = [(start, end) for start, end in _line_runs(lines) if end - start >= 2]
    measured: list[tuple[int, int, int]] = []
    non_last = full = mid_sentence = 0
    for start, end in runs:
        width = _run_wrap_width(lines, start, end)
        if width < _MIN_RUN_WRAP_WIDTH:
            continue
        measured.append((start, end, width))
        for i in range(start, end - 1):
            text = lines[i].text
            non_last += 1
            full += len(text) >= width - _FULL_LINE_SLACK
            mid_sentence += not _ends_sentence(text)
    runs_wrapped = (
        non_last >= _MIN_FULL_LINES
        and full >= _MIN_RUN_FULL_SHARE * non_last
        and mid_sentence >= _MIN_RUN_MID_SENTENCE_SHARE * non_last
    )
    if document_width is None and not runs_wrapped:
        return None
    if document_width is None:
        document_width = sorted(width for _, _, width in measured)[len(measured) // 2]
    widths = [document_width] * len(lines)
    for start, end, width in measured:
        if end - start >= 3:
            widths[start:end] = [width] * (end - start)
    return widths


# A dateline on its own line ("BEIJING 1996-08-30", "LONDON, March 14, 2016 (Reuters)", "SAN FRANCISCO,
# Calif. Aug 30"): an ALL-CAPS place, maybe a country or state after a comma, a date and nothing else. It
# heads the story and is never joined into the sentence after it.
_MONTH = (  # any case: Reuters writes "MARCH 11" and "OCt 19" too
    r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATELINE = re.compile(
    r"(?P<place>[^\W\d_][^\W\d_.'&-]*(?:[ .'&-]+[^\W\d_]+){0,4}\.?)"
    r"(?: ?, [^\W\d_][\w.'&-]*(?: [^\W\d_][\w.'&-]*){0,2})?,? "
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH} \d{{1,2}}(?:, \d{{4}})?|\d{{1,2}} {_MONTH}(?: \d{{4}})?)"
    r"(?: \([^\W\d_][\w ]{0,24}\))?"
)
_MAX_DATELINE_CHARS = 80
# A dateline as agencies print it, on its own line or leading the first paragraph, with or without a date:
# "LONDON, March 14 (Reuters) -", "WASHINGTON (AP) —", "PARIS, Feb. 21 (AFP) -", "NEW YORK --". The place
# is in capitals (checked apart), an agency in brackets or a dash follows.
_DATELINE_DASH = r"(?:-{1,2}|–|—)"
_DATELINE_PREFIX = (
    r"(?P<place>[^\W\d_][^\W\d_.'&-]*(?:[ .'&-]+[^\W\d_]+){0,4}\.?)"
    r"(?: ?, [^\W\d_][\w.'&-]*(?: [^\W\d_][\w.'&-]*){0,2})?"
    rf"(?P<date> ?,? (?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH} \d{{1,2}}(?:, \d{{4}})?|\d{{1,2}} {_MONTH}(?: \d{{4}})?))?"
    r"(?: \((?P<agency>[^\W\d_][\w .&-]{0,24})\))?"
)
_DATELINE_LEAD = re.compile(_DATELINE_PREFIX + rf" (?P<dash>{_DATELINE_DASH})(?= |$)")
_DATELINE_ALONE = re.compile(_DATELINE_PREFIX + rf"(?: (?P<dash>{_DATELINE_DASH}))?")
# A byline: "By Jane Doe", "By JANE DOE", "By Jane Doe and John Roe", "By Jane Doe, BBC News", "By Jane Doe
# in London". Capitalised words only after "By", so "By then, ..." and "By continuing ..." are not bylines.
_NAME_WORD = r"[A-Z][\w.'’-]*"
_NAMES = rf"{_NAME_WORD}(?: {_NAME_WORD}){{0,3}}"
_BYLINE = re.compile(
    rf"(?:By|BY) (?P<names>{_NAMES}(?:(?: and| &) {_NAMES}){{0,3}})"
    rf"(?:(?:,| in| for) {_NAME_WORD}(?: {_NAME_WORD}){{0,4}})?"
)
_MAX_BYLINE_CHARS = 100
# A data row: a short line with a digit that does not end a sentence, in a run of such lines (results
# tables with single spaces, score lines, "Shr 1.31 dlrs vs 86 cts"). A wrapped prose line is longer than
# this (wraps are 50 columns or more), so hard-wrapped prose with numbers still joins. A short label
# without digits ("Nine mths", "June") belongs to the run it sits in or heads.
_MAX_ROW_CHARS = 48
_MAX_ROW_LABEL_WORDS = 3
_MIN_RUN_ROWS = 2


# The date ends a dateline, or only an agency in brackets follows it; every date form holds a digit within
# its last 13 characters ("30 September.", "September. 30, 2016").
_DATE_TAIL_CHARS = 20


def _may_be_dateline(text: str) -> bool:
    """False when `_DATELINE` cannot match the whole text (a fast pre-check): a digit near the end, or a
    closing bracket there and a digit anywhere."""
    if text[-1:] == ")":
        return _DIGIT.search(text) is not None
    return _DIGIT.search(text, max(0, len(text) - _DATE_TAIL_CHARS)) is not None


def _is_dateline(text: str) -> bool:
    """True for a line that is a dateline and nothing else ("BEIJING 1996-08-30")."""
    if len(text) > _MAX_DATELINE_CHARS or not text[:2].isupper() or not _may_be_dateline(text):
        return False
    match = _DATELINE.fullmatch(text)
    return match is not None and match["place"].isupper()


def _dateline_lead(text: str) -> re.Match | None:
    """The dateline a paragraph starts with ("LONDON, March 14 (Reuters) - ..."), or None.

    A capitalised place, maybe a date and an agency, then a dash; without a date or an agency the text
    after the dash must not be in capitals too ("SOCCER - ENGLISH LEAGUE RESULTS" is a headline).
    """
    if not text[:2].isupper():
        return None
    match = _DATELINE_LEAD.match(text)
    if match is None or not match["place"].isupper():
        return None
    if match["agency"] is None and match["date"] is None:
        rest = text[match.end() :].lstrip()
        if rest and not (rest[:1].isupper() and rest[1:2].islower()):
            return None
    return match


def _is_byline(text: str) -> bool:
    return len(text) <= _MAX_BYLINE_CHARS and text[:3] in ("By ", "BY ") and _BYLINE.fullmatch(text) is not None


def _is_structure_line(text: str) -> bool:
    """True for a dateline or byline line: article structure, never template however often it recurs."""
    if len(text) > _MAX_BYLINE_CHARS:
        return False
    if _is_byline(text) or _is_dateline(text):
        return True
    # a dateline alone ends in its date, its agency's bracket or a dash
    if not text[:2].isupper() or not (text[-1].isdigit() or text[-1] in ")-–—"):
        return False
    match = _DATELINE_ALONE.fullmatch(text)
    return (
        match is not None
        and match["place"].isupper()
        and (match["agency"] is not None or match["date"] is not None or match["dash"] is not None)
    )


def article_structure(title: str | None, text: str) -> tuple[str | None, str | None]:
    """Return (dateline place, byline) of a clean article, from its first paragraphs, or None each.

    The place is what the dateline names ("LONDON" of "LONDON, March 14 (Reuters) -"); the byline is the
    names after "By" ("Jane Doe and John Roe").
    """
    place = byline = None
    for paragraph in text.split("\n\n", 3)[:3]:
        first_line = paragraph.split("\n", 1)[0]
        if byline is None and _is_byline(first_line):
            byline = _BYLINE.fullmatch(first_line)["names"]
            continue
        if place is None:
            match = _DATELINE.fullmatch(first_line) if _is_dateline(first_line) else _dateline_lead(first_line)
            if match is not None:
                place = match["place"].rstrip(".")
    if byline is None and title is not None and _is_byline(title):
        byline = _BYLINE.fullmatch(title)["names"]
    return place, byline


def _data_run_lines(lines: list[_Line], wrap_widths: list[int] | None) -> set[int]:
    """Return the indices of the lines that belong to runs of data rows, to be kept line by line.

    A run is a stretch of consecutive short prose or list lines, each a data row or a label, where every line
    but the last is unfinished (no sentence end) and the next one does not continue it in lower case,
    holding at least two data rows; a line continued in lower case is prose. In a hard-wrapped
    document two lines the wrapper broke apart (the next word would not have fitted) are not one run.
    """

    def shape(index: int) -> int:  # 2 data row, 1 label, 0 neither
        line = lines[index]
        text = line.text
        if line.kind not in (_PLAIN, _LIST) or len(text) > _MAX_ROW_CHARS or text[0].islower():
            return 0
        following = lines[index + 1] if index + 1 < len(lines) else None
        if following and following.kind == _PLAIN and following.text[0].islower() and not _ends_sentence(text):
            return 0  # its sentence goes on in lower case on the next line: prose, not a row
        if _is_dateline(text):
            return 0
        # A numbered result ("2. Ludmila Engquist ( Sweden ) 12.74") is a row; its number alone is not data
        # (whether "2." reads as a list marker depends on the line before it).
        marker = _LIST_ITEM.match(text)
        if _DIGIT.search(text, marker.end() if marker else 0):
            return 2
        return 1 if _word_count(text) <= _MAX_ROW_LABEL_WORDS and _LETTER.match(text) else 0

    def linked_shape(index: int) -> int:  # the next line's shape when it and line index are rows of one run
        text = lines[index].text
        if _ends_sentence(text):
            return 0
        following_shape = shape(index + 1)
        if not following_shape:
            return 0
        wrap_width = wrap_widths[index] if wrap_widths else 0
        if wrap_width and len(text) + 1 + _first_word_length(lines[index + 1].text) > wrap_width:
            return 0
        return following_shape

    rows: set[int] = set()
    next_index = 0  # lines before it are in a run already looked at
    # Only a short prose or list line not in lower case can have a shape (the rest of the document is skipped).
    for index in [
        i
        for i, line in enumerate(lines)
        if line.kind in (_PLAIN, _LIST) and len(line.text) <= _MAX_ROW_CHARS and not line.text[0].islower()
    ]:
        if index < next_index:
            continue
        first_shape = shape(index)
        if not first_shape:
            continue
        end = index
        n_rows = first_shape == 2
        while end + 1 < len(lines):
            following_shape = linked_shape(end)
            if not following_shape:
                break
            n_rows += following_shape == 2
            end += 1
        if end > index and n_rows >= _MIN_RUN_ROWS:
            rows.update(range(index, end + 1))
        next_index = end + 1
    return rows


def _run_widths(lines: list[_Line]) -> list[int]:
    """Return, for each line, the wrap width its run of consecutive prose and list lines could have.

    That is the longest line of the run no longer than `_MAX_WRAP_WIDTH` (longer lines were not wrapped):
    a wrapper fills every line of a paragraph up to its width, so a line that left room within it for the
    next line's first word was broken by the writer, not the wrapper.
    """
    widths = [0] * len(lines)
    start = 0
    while start < len(lines):
        if lines[start].kind not in (_PLAIN, _LIST):
            start += 1
            continue
        end = start
        longest = 0
        while end < len(lines) and lines[end].kind in (_PLAIN, _LIST):
            length = len(lines[end].text)
            if length <= _MAX_WRAP_WIDTH:
                longest = max(longest, length)
            end += 1
        widths[start:end] = [longest] * (end - start)
        start = end
    return widths


# A line ending in one of these words cannot end a sentence, headline or label ("On" / "Monday, President
# Putin indicated ..." as a scraper broke it): the next line goes on with it, however long either is.
_CONTINUING_WORDS = frozenset("a an the of to and or nor but with from by at in on for into onto than".split())


def _continues_line(
    previous: str, text: str, wrap_width: int | None, run_width: int, sentence_end_breaks: bool = False
) -> bool:
    """True when the line `text` goes on with the sentence of the line before it, so the two join.

    A lower-case start always continues. In a hard-wrapped document (`wrap_width`) a line that breaks
    mid-sentence was wrapped, and so was one that ends a sentence when the next word would not have fitted
    on it (unless `sentence_end_breaks`, as after a list item). Elsewhere a line break is the writer's
    (one sentence, headline or result per line, as CoNLL and many scraped pages have it) unless the line
    ends mid-sentence and either ends in a word that cannot end it ("the", "of") or in a hyphen, or looks
    wrapped: both lines are no longer than a wrap width can be and the next word would not have fitted
    within (or close to) the run's width (`_run_widths`).
    """
    if text[0].islower():
        return True
    ends_sentence = _ends_sentence(previous)
    next_fits = len(previous) + 1 + _first_word_length(text)
    if wrap_width:
        return not ends_sentence or (not sentence_end_breaks and next_fits > wrap_width)
    if ends_sentence:
        return False
    if previous[previous.rfind(" ") + 1 :].casefold() in _CONTINUING_WORDS or _ends_in_hyphen(previous):
        return True
    could_be_wrapped = len(previous) <= _MAX_WRAP_WIDTH and len(text) <= _MAX_WRAP_WIDTH
    return could_be_wrapped and next_fits > run_width - _FULL_LINE_SLACK


def _ends_in_hyphen(text: str) -> bool:
    """True for a line broken after a hyphen inside a word ("anti-"), not after a dash (" -")."""
    return text[-1] == "-" and len(text) > 1 and text[-2].isalpha()


def _first_word_length(text: str) -> int:
    space = text.find(" ")
    return len(text) if space < 0 else space


# After these words a line-final hyphen is a suspended one ("small- and medium-sized firms"), not a
# compound broken by the wrapper: the space stays.
_SUSPENDED_HYPHEN_NEXT = frozenset({"and", "or", "nor", "to"})
_WORD_EDGE_PUNCTUATION = ".,;:!?\"'”’)]"


class _HyphenEvidence:
    """How often the document spells a word pair across a hyphen with a space ("MacLeod- Henderson") and
    without one ("MacLeod-Henderson"), counted once per document in one pass over its words.

    Built lazily, the first time a hyphen wrap needs it, so the counting costs a document one pass however
    many wraps it has (a per-wrap scan of the whole document would be quadratic in its length).
    """

    def __init__(self, lines: list[_Line]) -> None:
        self.spaced: Counter[tuple[str, str]] = Counter()
        self.glued: Counter[str] = Counter()
        for line in lines:
            if line.kind == _BLANK or "-" not in line.text:
                continue
            words = [_bare_word(word) for word in line.text.split()]
            for word, following in zip(words, words[1:], strict=False):
                if word.endswith("-"):
                    self.spaced[word, following] += 1
            for word in words:
                if "-" in word:
                    self.glued[word] += 1

    def keeps_space(self, head: str, tail: str) -> bool:
        """True when the document spells `head tail` with a space more often than without."""
        head = _bare_word(head)
        return self.spaced[head, tail] > self.glued[head + tail]


_OPENING_PUNCTUATION = "\"'“‘([«"


def _bare_word(word: str) -> str:
    return word.lstrip(_OPENING_PUNCTUATION).rstrip(_WORD_EDGE_PUNCTUATION)


def _join_wrapped(parts: list[str], lines: list[_Line], evidence: list[_HyphenEvidence | None]) -> str:
    """Join wrapped lines with a space, or with nothing after a word broken at its hyphen ("anti-" /
    "racketeering"): wrappers break compounds there, and the hyphen is part of the word.

    A line-final hyphen keeps its space when the document says so: the next word is "and", "or", "to"
    (a suspended hyphen), or `lines` spell the pair with a space ("MacLeod- Henderson") more often than
    without one on a single line. `evidence` is a one-item cache of the document's `_HyphenEvidence`.
    Linear in the length of the parts: pieces are collected and joined once.
    """
    if len(parts) == 1:
        return parts[0]
    joined = " ".join(parts)
    # Only a line that ends in a hyphen can join without the space (most paragraphs have none).
    if "- " not in joined or "-" not in "".join([part[-1] for part in parts[:-1]]):
        return joined
    return _join_hyphen_wrapped(parts, lines, evidence)


def _join_hyphen_wrapped(parts: list[str], lines: list[_Line], evidence: list[_HyphenEvidence | None]) -> str:
    """`_join_wrapped` without its fast path, for paragraphs with a line that ends in a hyphen."""
    pieces = [parts[0]]
    previous = parts[0]
    for part in parts[1:]:
        if _ends_in_hyphen(previous) and part[0].isalpha():
            head = previous[previous.rfind(" ") + 1 :]
            tail = part[: _first_word_length(part)].rstrip(_WORD_EDGE_PUNCTUATION)
            if tail.casefold() not in _SUSPENDED_HYPHEN_NEXT:
                if evidence[0] is None:
                    evidence[0] = _HyphenEvidence(lines)
                if not evidence[0].keeps_space(head, tail):
                    pieces.append(part)
                    previous = part
                    continue
        pieces.append(" ")
        pieces.append(part)
        previous = part
    return "".join(pieces)


def _build_blocks(lines: list[_Line]) -> list[_Block]:
    """Join hard-wrapped lines into paragraphs; keep table rows together as one block."""
    plain_indents = [ln.indent for ln in lines if ln.kind in (_PLAIN, _LIST)]
    base_indent = min(plain_indents) if plain_indents else 0
    # Indent-paragraphed text (Reuters): an indented line directly follows a non-blank prose line.
    indent_mode = any(
        cur.kind == _PLAIN and cur.indent > base_indent and prev.kind in (_PLAIN, _LIST)
        for prev, cur in zip(lines, lines[1:], strict=False)
    )
    if indent_mode:  # the indent alone decides paragraphs: one width serves the data rows and list items
        document_width = _wrap_width(lines)
        wrap_widths = [document_width] * len(lines) if document_width else None
    else:
        wrap_widths = _wrap_widths(lines)
    # Only text that is not hard-wrapped needs the local evidence of each run.
    run_widths = [0] * len(lines) if wrap_widths or indent_mode else _run_widths(lines)
    blocks: list[_Block] = []
    parts: list[str] = []
    parts_kind = _BLANK
    hyphen_evidence: list[_HyphenEvidence | None] = [None]

    def flush() -> None:
        nonlocal parts, parts_kind
        if parts:
            is_table = parts_kind == _TABLE
            text = "\n".join(parts) if is_table else _join_wrapped(parts, lines, hyphen_evidence)
            blocks.append(_Block(text, is_table, len(parts)))
        parts = []
        parts_kind = _BLANK

    # Cheap gates first: most prose lines are long and none of their neighbours holds a digit.
    data_rows = _data_run_lines(lines, wrap_widths) if any(_DIGIT.search(ln.text) for ln in lines) else set()
    for index, line in enumerate(lines):
        kind = line.kind
        if kind == _BLANK:
            flush()
            continue
        text = line.text
        # (a dateline starts with two capitals, a byline with "By ")
        if kind == _PLAIN and (
            (text[:2].isupper() and _is_dateline(text)) or (text[:3] in ("By ", "BY ") and _is_byline(text))
        ):
            flush()
            parts.append(line.text)
            flush()
            continue
        if index in data_rows:
            # Kept line by line, as a table block: a data row is not a wrapped piece of a sentence.
            if parts_kind != _TABLE or index - 1 not in data_rows:
                flush()
            parts.append(line.text)
            parts_kind = _TABLE
            continue
        if kind == _TABLE:
            if parts_kind != _TABLE:
                flush()
            parts.append(line.text)
            parts_kind = _TABLE
            continue
        if kind == _PLAIN and parts_kind == _PLAIN and line.indent <= base_indent:
            wrap_width = wrap_widths[index - 1] if wrap_widths else None
            if indent_mode or _continues_line(parts[-1], line.text, wrap_width, run_widths[index - 1]):
                parts.append(line.text)
                continue
        # A list item absorbs its wrapped continuation, however that is indented.
        if kind == _PLAIN and parts_kind == _LIST:
            wrap_width = wrap_widths[index - 1] if wrap_widths else None
            if _continues_line(parts[-1], line.text, wrap_width, run_widths[index - 1], sentence_end_breaks=True):
                parts.append(line.text)
                continue
        flush()
        parts.append(line.text)
        parts_kind = kind
        if kind == _STANDALONE:
            flush()
    flush()
    return blocks


def _drop_junk_blocks(blocks: list[_Block], removed_chars: dict, removed_lines: dict) -> list[_Block]:
    """Drop prose paragraphs that match a junk pattern once rejoined ("Follow us" / "on Twitter")."""
    kept: list[_Block] = []
    for block in blocks:
        if not block.is_table:
            # one-line paragraphs were judged line by line already; a contact appeal may be wrapped
            rule = _junk_rule(block.text) if block.n_lines > 1 and len(block.text) <= _MAX_JUNK_CHARS else None
            if rule is not None:
                _remove(rule, block.text, block.n_lines, removed_chars, removed_lines)
                continue
        kept.append(block)
    return kept


_HEADER_ZONE_BLOCKS = 3
_FOOTER_ZONE_BLOCKS = 4


def _drop_learned_blocks(
    blocks: list[_Block], boilerplate: frozenset[int], removed_chars: dict, removed_lines: dict
) -> list[_Block]:
    """Drop short prose paragraphs joined from two or more lines whose `block_key` is learned template.

    Only the header and footer zones are looked at (the first and last few paragraphs): a site wraps its
    template sentences with the body above or below the article, and hashing every paragraph of every
    document would cost more than the rest of the learned-boilerplate check.
    """
    kept: list[_Block] = []
    n = len(blocks)
    for index, block in enumerate(blocks):
        if (
            (index < _HEADER_ZONE_BLOCKS or index >= n - _FOOTER_ZONE_BLOCKS)
            and block.n_lines >= 2
            and not block.is_table
            and _is_block_key_candidate(block.text, _word_count(block.text))
            and block_key(block.text) in boilerplate
            and not _is_structure_line(block.text)
        ):
            _remove("learned_boilerplate", block.text, block.n_lines, removed_chars, removed_lines)
            continue
        kept.append(block)
    return kept


def _drop_repeats(blocks: list[_Block], removed_chars: dict, removed_lines: dict) -> list[_Block]:
    """Drop later copies of prose paragraphs of >= _MIN_REPEAT_WORDS words (case folded), and the rest
    of a body pasted twice.

    Short paragraphs, short ones with numbers and table blocks are content even when they repeat, except
    inside a second copy of the body: once a long paragraph repeats, the paragraphs after it that repeat
    the ones after its first copy, in the same order, are that copy too (its list lines, its data rows),
    and so are the list lines just before it that repeat those before the first copy.
    """
    first_seen: dict[str, int] = {}  # long paragraph -> its index in `kept`
    kept: list[_Block] = []
    follows: int | None = None  # index in `kept` the next block would repeat, inside a second copy

    def drop(block: _Block) -> None:
        _remove("repeated_paragraph", block.text, block.n_lines, removed_chars, removed_lines)

    for block in blocks:
        if follows is not None:
            if follows < len(kept) and kept[follows].text.casefold() == block.text.casefold():
                drop(block)
                follows += 1
                continue
            follows = None
        words = _word_count(block.text)
        if (
            not block.is_table
            and words >= _MIN_REPEAT_WORDS
            and (words >= _MIN_NUMERIC_REPEAT_WORDS or not _DIGIT.search(block.text))
        ):
            key = block.text.casefold()
            original = first_seen.get(key)
            if original is not None:
                drop(block)
                # the list lines just kept that repeat those before the original are the copy's start
                back = 1
                while (
                    original - back >= 0
                    and len(kept) - back > original
                    and _LIST_ITEM.match(kept[-back].text)
                    and kept[-back].text.casefold() == kept[original - back].text.casefold()
                ):
                    back += 1
                for _ in range(back - 1):
                    drop(kept.pop())
                follows = original + 1
                continue
            first_seen[key] = len(kept)
        kept.append(block)
    return kept


def _is_comment_header(block: _Block) -> bool:
    return (
        not block.is_table
        and _may_be_junk(block.text)
        and _COMMENT_HEADER.fullmatch(block.text) is not None
        and _LETTER.search(block.text) is not None
    )


def _is_comment_tail(block: _Block) -> bool:
    if block.is_table:
        return False
    if _word_count(block.text) <= _MAX_SHORT_TAIL_WORDS:
        return True
    hits = 0
    for _ in _COMMENT_POLICY.finditer(block.text):
        hits += 1
        if hits >= 2:
            return True
    return False


def _drop_comment_section(blocks: list[_Block], removed_chars: dict, removed_lines: dict) -> list[_Block]:
    """Drop a trailing comment section and any leftover standalone comment prompts."""
    # Walk back from the end while paragraphs look like comment policy; the earliest header inside that
    # stretch starts the section.
    if not any(_is_comment_header(block) for block in blocks):
        return blocks
    cut = len(blocks)
    i = len(blocks) - 1
    while i >= 0 and (_is_comment_header(blocks[i]) or _is_comment_tail(blocks[i])):
        if _is_comment_header(blocks[i]):
            cut = i
        i -= 1
    kept: list[_Block] = []
    for index, block in enumerate(blocks):
        if index >= cut or _is_comment_header(block):
            _remove("comment_section", block.text, block.n_lines, removed_chars, removed_lines)
            continue
        kept.append(block)
    return kept


def _clean_once(
    raw: str,
    removed_chars: dict[str, int],
    removed_lines: dict[str, int],
    find_title: bool,
    boilerplate: frozenset[int] = frozenset(),
) -> tuple[str | None, str]:
    """Return (title, body) after one pass of every step, adding what it removed to the counts."""
    text = _normalize_unicode(raw, removed_chars)
    lines = _classify_lines(text, removed_chars, removed_lines, boilerplate)
    if boilerplate:
        lines = _drop_learned_lines(lines, removed_chars, removed_lines)
    title = None
    if find_title:
        title, lines = _detect_title(lines)
    # Paragraph keys are learned from blank-line separated paragraphs: a body without blank lines (Reuters'
    # indented paragraphs) has none to look up.
    has_paragraphs = boilerplate and any(line.kind == _BLANK for line in lines)
    blocks = _build_blocks(lines)
    if has_paragraphs:
        blocks = _drop_learned_blocks(blocks, boilerplate, removed_chars, removed_lines)
    blocks = _drop_junk_blocks(blocks, removed_chars, removed_lines)
    blocks = _drop_repeats(blocks, removed_chars, removed_lines)
    blocks = _drop_comment_section(blocks, removed_chars, removed_lines)
    return title, "\n\n".join(block.text for block in blocks)


def clean_document(
    raw: str, boilerplate: frozenset[int] = frozenset(), trace: list[tuple[str, str]] | None = None
) -> CleanedDocument:
    """Return the headline, clean body and per-rule removal counts of one raw document.

    `boilerplate` holds the `line_key`s learned for the document's drop (`learn_boilerplate`): whole
    short lines with those keys are removed as `learned_boilerplate`. When `trace` is a list, every
    removed line or paragraph is appended to it as (rule, text).
    """
    removed_chars = dict.fromkeys(CLEAN_RULES, 0)
    if trace is not None:
        removed_chars = _TracedCounts(removed_chars, trace)
    removed_lines = dict.fromkeys(CLEAN_RULES, 0)
    title, body = _clean_once(raw, removed_chars, removed_lines, find_title=True, boilerplate=boilerplate)
    # ftfy judges mojibake line by line, so rejoining hard-wrapped lines can give it new context. When
    # the body may still hold mojibake, clean it again until it is stable, so that cleaning is idempotent.
    for _ in range(_MAX_FTFY_ROUNDS):
        if body.isascii() or not _NEEDS_FULL_FTFY.search(body):
            break
        _, again = _clean_once(body, removed_chars, removed_lines, find_title=False, boilerplate=boilerplate)
        if again == body:
            break
        body = again
    return CleanedDocument(title, body, removed_chars, removed_lines)


_CLEANUP_ENTRIES = pl.List(pl.Struct({"key": pl.String, "value": pl.Int64}))


def clean_batch(docs: pl.DataFrame, boilerplate: frozenset[int] = frozenset()) -> pl.DataFrame:
    """`docs` with `raw_text` replaced by title, text, dateline_place, byline (`article_structure`),
    n_chars_raw, n_chars_removed, cleanup and cleanup_lines (characters and lines removed per rule, as
    key/value entries); `boilerplate` as in `clean_document`."""
    results = [clean_document(raw, boilerplate) for raw in docs["raw_text"]]
    structure = [article_structure(r.title, r.text) for r in results]
    return docs.with_columns(
        title=pl.Series([r.title for r in results], dtype=pl.String),
        text=pl.Series([r.text for r in results], dtype=pl.String),
        dateline_place=pl.Series([place for place, _ in structure], dtype=pl.String),
        byline=pl.Series([byline for _, byline in structure], dtype=pl.String),
        n_chars_raw=pl.col("raw_text").str.len_chars().cast(pl.Int64),
        n_chars_removed=pl.Series([sum(r.removed_chars.values()) for r in results], dtype=pl.Int64),
        cleanup=pl.Series(
            [[{"key": k, "value": v} for k, v in r.removed_chars.items()] for r in results],
            dtype=_CLEANUP_ENTRIES,
        ),
        cleanup_lines=pl.Series(
            [[{"key": k, "value": v} for k, v in r.removed_lines.items()] for r in results],
            dtype=_CLEANUP_ENTRIES,
        ),
    ).drop("raw_text")
