"""The clean stage: repair unicode, drop junk, rejoin hard-wrapped lines, find headline and article structure.

`clean_document(raw)` turns the decoded text of one file into a `CleanedDocument`: an optional headline,
a clean body and a per-rule account of what was thrown away, so a user can audit every removal.

Where each part lives: `encoding` (step 1), `junk` (the curated families) and `lines` (step 2, line by line),
`boilerplate` (learning a drop's template), `headline` (step 3), `structure` (datelines and bylines),
`unwrap` (step 4), `paragraphs` (steps 2, 5, 6 on joined paragraphs), `document` (the driver) and `batch`
(frames: `clean_batch`, `clean_documents`). `removals` names the rules and counts what each removed.

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

from .batch import CleanedBatch, clean_batch, clean_documents
from .boilerplate import (
    block_key,
    boilerplate_threshold,
    count_line_keys,
    document_line_keys,
    learn_boilerplate,
    learn_drop_boilerplate,
    line_key,
    line_key_counts,
)
from .document import CleanedDocument, clean_document
from .removals import CLEAN_RULES
from .structure import Dateline, article_structure, find_dateline, is_byline, is_structure_line

__all__ = [
    "CLEAN_RULES",
    "CleanedBatch",
    "CleanedDocument",
    "Dateline",
    "article_structure",
    "block_key",
    "boilerplate_threshold",
    "clean_batch",
    "clean_document",
    "clean_documents",
    "count_line_keys",
    "document_line_keys",
    "find_dateline",
    "learn_boilerplate",
    "learn_drop_boilerplate",
    "line_key",
    "line_key_counts",
    # used by benchmarks/eval_entities.py (dateline and byline counts)
    "is_byline",
    "is_structure_line",
]
