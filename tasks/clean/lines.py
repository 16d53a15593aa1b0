"""Line by line: split the text into labelled lines, drop junk lines and learned template lines (step 2)."""

from .boilerplate import _MAX_KEY_WORDS, _collapsed_key, _is_key_candidate
from .junk import (
    _CAPTION_CREDIT_CHARS,
    _CAPTION_CREDIT_END,
    _COMMENT_HEADER,
    _CREDIT_MARKER,
    _JUNK_LINE,
    _LINK_LIST_HEADER,
    _MAX_CAPTION_WORDS,
    _MAX_JUNK_CHARS,
    _is_contact_appeal,
    _is_credit,
    _is_link_title,
    _may_be_contact_appeal,
    _may_be_junk,
    _may_end_in_credit,
)
from .removals import _remove
from .shapes import (
    _BLANK,
    _DIGIT,
    _LEARNED,
    _LETTER,
    _LIST,
    _LIST_ITEM,
    _MIN_NUMERIC_REPEAT_WORDS,
    _PLAIN,
    _STANDALONE,
    _TABLE,
    _ends_sentence,
    _is_table_row,
    _Line,
    _may_be_list_item,
    _word_count,
)
from .structure import _is_structure_line


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
            # both gates compare case-folded text: fold a short line once (longer ones are never junk)
            folded = collapsed.casefold() if len(collapsed) <= _MAX_JUNK_CHARS else None
            if folded is not None and _may_be_junk(collapsed, folded):
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
            if folded is not None and _may_be_contact_appeal(collapsed, folded) and _is_contact_appeal(collapsed):
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
