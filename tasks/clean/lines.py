"""Line by line: split the text into labelled lines, drop junk lines and learned template lines (step 2)."""

from .boilerplate import MAX_KEY_WORDS, collapsed_key, is_key_candidate
from .junk import (
    CAPTION_CREDIT_CHARS,
    CAPTION_CREDIT_END,
    COMMENT_HEADER_RE,
    CREDIT_MARKER_RE,
    JUNK_LINE,
    LINK_LIST_HEADER,
    MAX_CAPTION_WORDS,
    MAX_JUNK_CHARS,
    is_contact_appeal,
    is_credit,
    is_link_title,
    may_be_contact_appeal,
    may_be_junk,
    may_end_in_credit,
)
from .removals import Removals
from .shapes import (
    BLANK,
    DIGIT,
    LEARNED,
    LETTER,
    LIST,
    LIST_ITEM,
    MIN_NUMERIC_REPEAT_WORDS,
    PLAIN,
    STANDALONE,
    TABLE,
    Line,
    closes_sentence,
    is_table_row,
    may_be_list_item,
    word_count,
)
from .structure import is_structure_line


def classify_lines(text: str, removals: Removals, boilerplate: frozenset[int] = frozenset()) -> list[Line]:
    """Split into lines, drop junk lines and label the rest (blank, plain, list, table, standalone).

    Lines whose `line_key` is in `boilerplate` are labelled learned; `drop_learned_lines` decides.
    """
    out: list[Line] = []
    pending_credit = False  # previous kept line was a bare "©": this line may be the credited name
    pending_links = False  # inside a "Related:" link list
    in_list = False  # a list item came since the last blank line
    whitespace = 0  # characters of whitespace removed, added to the counts once at the end
    for line in text.split("\n"):
        stripped = line.strip(" ")
        if not stripped:
            if line:
                whitespace += len(line)
                removals.lines["whitespace"] += 1
            pending_links = False
            in_list = False
            if out and out[-1].kind != BLANK:
                out.append(Line("", BLANK, 0))
            continue
        is_table = is_table_row(stripped)
        collapsed = " ".join(stripped.split()) if (is_table or "  " in stripped) else stripped
        if pending_credit:
            pending_credit = False
            if is_credit(collapsed):
                removals.remove("photo_credit", line, 1)
                continue
        if pending_links:
            if is_link_title(collapsed):
                removals.remove("navigation", line, 1)
                continue
            pending_links = False
        # A lower-case line that continues an unfinished sentence is prose ("sponsored by the merchant
        # bank and ..."), whatever its first words; junk is judged again on whole paragraphs later.
        if not (collapsed[0].islower() and out and out[-1].kind in (PLAIN, LIST) and not closes_sentence(out[-1].text)):
            if boilerplate and not is_table and is_key_candidate(collapsed):
                if collapsed_key(collapsed) in boilerplate:
                    whitespace += len(line) - len(collapsed)
                    out.append(Line(collapsed, LEARNED, len(line) - len(line.lstrip(" "))))
                    continue
            # both gates compare case-folded text: fold a short line once (longer ones are never junk)
            folded = collapsed.casefold() if len(collapsed) <= MAX_JUNK_CHARS else None
            if folded is not None and may_be_junk(collapsed, folded):
                if CREDIT_MARKER_RE.fullmatch(collapsed):
                    removals.remove("photo_credit", line, 1)
                    pending_credit = True
                    continue
                match = JUNK_LINE.fullmatch(collapsed)
                if match is not None:
                    rule = match.lastgroup
                    removals.remove(rule, line, 1)
                    pending_links = rule == "navigation" and LINK_LIST_HEADER.fullmatch(collapsed) is not None
                    continue
                if COMMENT_HEADER_RE.fullmatch(collapsed) and LETTER.search(collapsed):
                    out.append(Line(collapsed, STANDALONE, 0))
                    continue
            if folded is not None and may_be_contact_appeal(collapsed, folded) and is_contact_appeal(collapsed):
                removals.remove("contact_appeal", line, 1)
                continue
            if (
                ("/" in collapsed or ":" in collapsed or collapsed[-1] in ")]")
                and may_end_in_credit(collapsed)
                and word_count(collapsed) <= MAX_CAPTION_WORDS
                and CAPTION_CREDIT_END.search(collapsed[-CAPTION_CREDIT_CHARS:])
            ):
                removals.remove("photo_credit", line, 1)
                continue
        indent = len(line) - len(line.lstrip(" ")) if line[0] == " " else 0
        if is_table:
            out.append(Line(line.rstrip(" "), TABLE, indent))
            whitespace += len(line) - len(line.rstrip(" "))
            continue
        whitespace += len(line) - len(collapsed)
        # A dash after an unfinished sentence is the sentence's own dash, wrapped: not a list item.
        kind = PLAIN
        if (
            may_be_list_item(collapsed)
            and LIST_ITEM.match(collapsed)
            and (in_list or not out or out[-1].kind != PLAIN or closes_sentence(out[-1].text))
        ):
            kind = LIST
            in_list = True
        out.append(Line(collapsed, kind, indent))
    removals.chars["whitespace"] += whitespace
    return out


_MAX_LIST_HEADER_WORDS = 6


def _link_list_end(lines: list[Line], start: int) -> int:
    """Return the last index of the link titles listed from `start` under a header, or start - 1.

    Link titles are short capitalised lines without sentence punctuation, up to a blank line or the end;
    when any line of that run is not one (a wrapped paragraph ends in "."), there is no list.
    """
    end = start
    has_words_only_title = False  # a list of data lines ("Shr 1.53 dlrs vs 1.21 dlrs") is not links
    while end < len(lines) and lines[end].kind != BLANK:
        line = lines[end]
        # Headlines may ask or exclaim, but never end in a full stop.
        text = line.text.rstrip("?!")
        if line.kind not in (PLAIN, LIST, LEARNED) or not text or text[0].islower() or not is_link_title(text):
            return start - 1
        has_words_only_title = has_words_only_title or not DIGIT.search(text)
        end += 1
    return end - 1 if has_words_only_title else start - 1


def _is_data_line(line: Line) -> bool:
    """True for a table row or a short line with a number ("Shr 1.31 dlrs vs 86 cts")."""
    if line.kind == TABLE:
        return True
    return (
        line.kind not in (BLANK, LEARNED)
        and word_count(line.text) < MIN_NUMERIC_REPEAT_WORDS
        and bool(DIGIT.search(line.text))
    )


_MAX_DATA_LABEL_WORDS = 5
_MIN_ARTICLE_LINE_WORDS = 15


def _article_bounds(lines: list[Line]) -> tuple[int, int]:
    """Indices of the first and last article-length prose line (len(lines) and -1 when there is none)."""
    article_lines = [
        i
        for i, line in enumerate(lines)
        if line.kind in (PLAIN, LIST) and word_count(line.text) >= _MIN_ARTICLE_LINE_WORDS
    ]
    return (article_lines[0], article_lines[-1]) if article_lines else (len(lines), -1)


def drop_learned_lines(lines: list[Line], removals: Removals) -> list[Line]:
    """Drop lines labelled learned boilerplate, unless the next line continues them as one sentence.

    (`classify_lines` already keeps a learned line that continues the sentence of the line before it.)
    A learned list header takes the link titles below it; a learned line next to data lines stays.
    """
    out: list[Line] = []
    link_list_end = -1  # lines up to this index are the link titles under a learned list header
    # Header and footer zones: before the first and after the last article-length line not learned; only
    # a learned line of more than MAX_KEY_WORDS words needs them, so they are found when one comes.
    article_bounds: tuple[int, int] | None = None
    for index, line in enumerate(lines):
        if index <= link_list_end:
            removals.remove("learned_boilerplate", line.text, 1)
            continue
        if line.kind != LEARNED:
            out.append(line)
            continue
        # the rest of a sentence kept because it goes on here ("... the companies they write" / "about.")
        goes_on = out and out[-1].kind in (PLAIN, LIST) and not closes_sentence(out[-1].text)
        # a dateline or byline recurs across a day's stories: it stays; so does a long learned sentence
        # in the middle of the article
        in_body = False
        if word_count(line.text) > MAX_KEY_WORDS:
            if article_bounds is None:
                article_bounds = _article_bounds(lines)
            in_body = article_bounds[0] < index < article_bounds[1]
        if in_body or is_structure_line(line.text) or (goes_on and line.text[0].islower()):
            out.append(Line(line.text, PLAIN, line.indent))
            continue
        following = lines[index + 1] if index + 1 < len(lines) else None
        continued = (
            following is not None
            and following.kind in (PLAIN, LIST, LEARNED)
            and following.text[0].islower()
            and not closes_sentence(line.text)
        )
        if continued:
            kind = LIST if LIST_ITEM.match(line.text) else PLAIN
            out.append(Line(line.text, kind, line.indent))
            continue
        list_end = index
        if word_count(line.text) <= _MAX_LIST_HEADER_WORDS and not closes_sentence(line.text):
            list_end = _link_list_end(lines, index + 1)
        # Labels of a data block recur in every earnings report ("Nine mths", "Year"): they are content.
        near_data = word_count(line.text) <= _MAX_DATA_LABEL_WORDS and any(
            0 <= near < len(lines) and _is_data_line(lines[near]) for near in (index - 1, index + 1)
        )
        # A label that introduces the line right under it ("Scorers:" / the names) is the article's own.
        introduces = line.text.endswith(":") and following is not None and following.kind in (PLAIN, LIST, TABLE)
        if (near_data or introduces) and list_end == index:
            out.append(Line(line.text, PLAIN, line.indent))
            continue
        removals.remove("learned_boilerplate", line.text, 1)
        link_list_end = list_end
        if out and out[-1].kind == BLANK and index + 1 < len(lines) and lines[index + 1].kind == BLANK:
            out.pop()
    while out and out[-1].kind == BLANK:
        out.pop()
    return out
