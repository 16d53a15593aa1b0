"""Unicode repair: mojibake, invisible and control characters, line breaks and odd spaces (step 1).

ftfy repairs mojibake ("donâ€™t" -> "don’t") and normalises to NFC while keeping typographic quotes and
dashes; BOM, zero-width, bidi and control characters go; CRLF/CR and other line separators become "\n";
tabs, NBSP and odd unicode spaces become plain spaces. For speed, ASCII text skips ftfy, and the full
(slow) ftfy pass only runs when the text holds a mojibake signature; other text gets ftfy's cheap fixes
(ligatures, full-width forms) and NFC. HTML entities are not decoded (that is the HTML extractor's job).
"""

import re
import unicodedata

import ftfy
import ftfy.chardata
import ftfy.fixes

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
NEEDS_FULL_FTFY = re.compile(f"[\xc2-\xf4][{_CP1252_CONTINUATION}]|[\x1b\x80-\x9f\ud800-\udfff]")
_LIGATURE_OR_WIDE_CHARS = sorted({*ftfy.chardata.LIGATURES, *ftfy.chardata.WIDTH_MAP})
LIGATURE_OR_WIDE = re.compile("[" + "".join(re.escape(chr(c)) for c in _LIGATURE_OR_WIDE_CHARS) + "]")
# Line breaks other than "\n". NEL (\x85) is a C1 byte: it counts as a line break only once ftfy has had
# the chance to read C1 bytes as the cp1252 characters they usually are ("\x85" -> "…").
LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\u2028\u2029]")
_LINE_BREAKS_AND_NEL = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0 controls except \t and \n, soft hyphen, zero-width and bidi marks, word joiners, BOM, interlinear
# annotation marks, lone surrogates and tag characters: all invisible in rendered text.
_INVISIBLE_CHARS = (
    "\x00-\x08\x0e-\x1f\x7f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f"
)
INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
_INVISIBLE_AND_C1 = re.compile(f"[{_INVISIBLE_CHARS}\x80-\x9f]")
# Tabs and every unicode space other than the plain one.
_ODD_SPACES = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# ftfy's output can itself hold invisible characters ("â€‹" is a zero-width space) whose removal brings
# new mojibake together; a few rounds make the result stable (cleaning it again changes nothing).
MAX_FTFY_ROUNDS = 3


_ASCII_INVISIBLE = bytes(c for c in range(128) if INVISIBLE.match(chr(c)))


def has_line_break(text: str) -> bool:
    """False when `LINE_BREAKS` cannot match (a fast pre-check: a scan for each character is cheaper)."""
    return "\r" in text or "\x0b" in text or "\x0c" in text or "\u2028" in text or "\u2029" in text


def normalize_unicode(raw: str, removed_chars: dict[str, int]) -> str:
    """Return `raw` with mojibake repaired, invisible characters removed and line breaks as "\\n"."""
    text = LINE_BREAKS.sub("\n", raw) if has_line_break(raw) else raw
    removed_chars["whitespace"] += len(raw) - len(text)
    if text.isascii():
        # The invisible characters of ASCII are its controls: deleting bytes is ~3x faster than the regex.
        encoded = text.encode("ascii")
        visible = encoded.translate(None, _ASCII_INVISIBLE)
        removed_chars["control_chars"] += len(encoded) - len(visible)
        text = visible.decode("ascii") if len(visible) < len(encoded) else text
        return text.replace("\t", " ") if "\t" in text else text
    # Invisible characters go before ftfy looks for mojibake, so that it sees what the reader sees.
    text, n_invisible = INVISIBLE.subn("", text)
    removed_chars["control_chars"] += n_invisible
    if LIGATURE_OR_WIDE.search(text):
        text = ftfy.fixes.fix_character_width(ftfy.fixes.fix_latin_ligatures(text))
    for _ in range(MAX_FTFY_ROUNDS):
        if not NEEDS_FULL_FTFY.search(text):
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
