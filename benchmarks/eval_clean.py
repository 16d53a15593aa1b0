"""Evaluate the clean stage: restore real BBC articles from injected junk, read real pages, measure speed.

Run: `.venv/bin/python -m benchmarks.eval_clean [--half tuning|test|both] [--no-speed | --speed-only]
[--speed-baseline REV] [--speed-repeats N]` (reads ../shared, or $TEXTDROPS_SHARED; says so and exits 0
without it).

Quality on synthetic drops. Every BBC article (headline line, blank line, paragraphs separated by blank
lines) is the ground truth. The articles are split in two halves that share no article (even / odd), and
each half becomes one synthetic drop made with its own junk family (`Family`):

- the tuning half (`TUNING`): five made-up sites (navigation header, newsletter box, share row, cookie
  banner, copyright line, comment section, full-sentence footer, a header line between headline and
  body), credits in `CREDIT_FORMATS`, bylines and datelines in `TUNING_*` forms, and wraps at one width
  of 65-75 columns, indented paragraphs, or a width per paragraph of 60-80. The rules were tuned on it.
- the test half (`TEST`): written before any tuning on this split and never tuned on: five other sites
  (`TEST_SITES`) with other wordings, other credit forms, other byline and dateline forms, and other
  wrap styles (one width of 50-64 or 76-95, a width per paragraph of 50-95, indented paragraphs at
  per-paragraph widths, no wrap).

Both carry per-page junk too (photo credits with varying names, "related" link lists made of other
headlines, the body pasted twice, mojibake, CRLF, NBSP and zero-width characters), and article structure
that must stay in the text: a byline line and a dateline (own line or leading the first paragraph).
`learn_boilerplate` runs over each drop's `document_line_keys`, then every page is cleaned and compared:

- exact: the cleaned paragraphs equal the article's (whitespace normalised); the title is scored apart;
- sentences kept: each sentence of the article appears in the cleaned text; a lost sentence that differs
  only by the space after a hyphen where the wrap fell ("MacLeod- Henderson" given back as
  "MacLeod-Henderson") is also counted apart: textwrap writes both spellings as "MacLeod-\nHenderson",
  so the input no longer says which it was;
- datelines and bylines kept; junk removed: the share of injected junk characters gone from the output.

Real pages: ../shared/gold/stories-dev (197 articles from many outlets, as a crawler extracted them) is
cleaned as one drop; what each rule removed is listed, and every output is written to
benchmarks/results/clean_stories_dev/ (text, then the removed lines with their rule) for a person to read.

Speed: `clean_document` over ~2,000 Reuters-21578 articles in one process (MB of UTF-8 text per second
per core), without and with a learned boilerplate set, and the cost of the counting pass (best of
`--speed-repeats` rounds, CPU time). `--speed-baseline REV` (e.g. main) times REV's clean stage
alongside, alternating the two in the same run, so that a loaded machine slows both alike.

Results are printed and written to benchmarks/results/clean.json.
"""

import argparse
import json
import os
import random
import re
import sys
import textwrap
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-windows-1252 codec used to make mojibake)

from benchmarks.revisions import stage_at
from tasks.clean import clean_document, count_line_keys, document_line_keys, learn_boilerplate

SEED = 20160314
N_REUTERS_DOCS = 2000
RESULTS = Path(__file__).resolve().parent / "results" / "clean.json"
LINE_JUNK = ("site_header", "photo_credit", "share_prompt", "newsletter", "cookie_notice", "related_links")
LINE_JUNK += ("copyright", "comment_section")
DOC_JUNK = ("repeated_body", "hard_wrap", "indent_paragraphs", "mojibake", "crlf", "nbsp_zero_width")

# --- made-up sites: their template wordings (fresh; not the curated patterns of tasks/clean/junk.py) -----

SITES = (
    {
        "name": "The Harbour Courier",
        "header": ["Home > News > UK & World"],
        "share": ["Send this story to a friend", "WhatsApp | Messenger | Copy the link"],
        "newsletter": ["Get the Courier Morning Briefing in your inbox every weekday - it's free"],
        "cookie": ["We and our partners store data on your device to personalise content. Manage choices"],
        "copyright": ["The Harbour Courier Ltd, registered in England No. 0441273"],
        "comments": ["Reader reactions", "Log in to add your view. Posts are checked before they appear."],
        "related": "You might also like",
        "between": ["Audio version of this story"],
        "footer": ["The Harbour Courier is a member of the regional press council and follows its code."],
    },
    {
        "name": "Midland Gazette",
        "header": ["Midland Gazette | Local news you can trust"],
        "share": ["Pass it on:"],
        "newsletter": ["Never miss a story: join 80,000 readers of the Gazette daily digest"],
        "cookie": ["Midland Gazette uses small files to improve your experience. OK, got it"],
        "copyright": ["Midland Gazette 2005. Content may not be reproduced without permission."],
        "comments": ["What do you think?", "Sort by: Newest | Oldest | Most liked"],
        "related": "Further reading",
        "between": ["Gallery: 6 pictures"],
        "footer": [
            "Midland Gazette journalists are paid by the Gazette Trust, which never sees stories before they run."
        ],
    },
    {
        "name": "Northern Post",
        "header": ["Northern Post", "Today's paper | Puzzles | Obituaries | Weather"],
        "share": ["Spread the word on social media"],
        "newsletter": ["Enjoyed this? The Post Politics email lands every Friday. Sign me up"],
        "cookie": ["Your privacy choices: we use tracking technologies. Agree and close"],
        "copyright": ["Published by Northern Post Media Group. Terms | Privacy | Contact"],
        "comments": ["Discussion (0)", "Be the first to have your say on this story"],
        "related": "More in this section",
        "between": ["Partner feature"],
        "footer": ["If you have a story for the Northern Post newsdesk, we would like to hear from you."],
    },
    {
        "name": "City Wire",
        "header": ["CITY WIRE - business, markets, money"],
        "share": ["Email this article | Print | Bookmark"],
        "newsletter": ["Want markets news before breakfast? Try City Wire Premium free for 30 days"],
        "cookie": ["This page stores identifiers in your browser. Read our privacy notice"],
        "copyright": ["City Wire is a trading name of CW Publishing plc"],
        "comments": ["Conversation", "Readers' posts are moderated and may take an hour to appear"],
        "related": "Also on City Wire",
        "between": ["Premium"],
        "footer": ["City Wire reporters do not hold shares in the companies they write about."],
    },
    {
        "name": "Weekend Observer Online",
        "header": ["Weekend Observer Online"],
        "share": ["Like this story? Pass it to a friend"],
        "newsletter": ["Fancy a weekly round-up? Put your address in the box below"],
        "cookie": ["To give you the best possible experience this site keeps small data files. Fine by me"],
        "copyright": ["Material on this site is the property of WOO Publishing, 2005"],
        "comments": ["Reader replies", "Please keep your posts civil and on topic"],
        "related": "In other news",
        "between": ["Video: 2:14"],
        "footer": ["Weekend Observer Online is funded by readers like you and relies on their support every week."],
    },
)
FIRST_NAMES = "Anna Ben Chloe David Emma Farid Grace Hiro Ines Jack Kemi Liam Maya Nikos Olga Pablo Rosa Sam".split()
LAST_NAMES = "Adeyemi Brown Chen Dubois Evans Fischer Garcia Hughes Ivanova Jones Kowalski Lee Murphy".split()
AGENCIES = ("AP", "AFP", "Reuters", "EPA", "PA", "Getty")
CREDIT_FORMATS = (
    "{name}/{agency}",
    "Picture: {name} / {agency}",
    "(Photo by {name})",
    "{agency} via {name}",
    "Photograph by {name} for {site}",
    "Pic credit: {agency}",
)


# Structure every article may carry, which cleanup must keep: a byline line under the headline and a
# dateline, on its own line or leading the first paragraph. Tuning and test halves use different forms.
TUNING_BYLINES = ("By {name}", "By {name} in {place}")
TUNING_DATELINES_OWN_LINE = ("{PLACE} 2005-03-14", "{PLACE}, March 14 (Reuters)")
TUNING_DATELINE_LEADS = ("{PLACE} (Reuters) - ", "{PLACE}, March 14 (Reuters) - ")
PLACES = ("London", "Washington", "Paris", "New York", "Tokyo", "Berlin", "Moscow", "Nairobi", "Sydney")

# --- the test half: written before any tuning on this split, never tuned on -----------------------------
# Other sites and wordings, junk in other positions (header junk between the headline and the body, a
# recurring full-sentence footer wrapped with the body, credits right under the headline), other credit
# and structure forms, and other wrap styles (widths outside 65-75, a width per paragraph, no wrap).

TEST_SITES = (
    {
        "name": "Valley Times",
        "header": ["THE VALLEY TIMES", "Menu | Search | Sign in"],
        "between": ["Promoted content"],
        "share": ["Share via email or social networks"],
        "newsletter": ["The Valley Times daily edition: the stories that matter, delivered at six."],
        "footer": [
            "This story was produced with support from the Valley Foundation, which has no say over "
            "what we cover or how we cover it."
        ],
        "comments": ["17 readers responded", "Join our community to comment on this article."],
        "related": "Read next",
    },
    {
        "name": "Coastline Daily",
        "header": ["Coastline Daily - independent since 1921"],
        "between": ["Story continues after this message"],
        "share": ["Send | Post | Copy"],
        "newsletter": ["Like what you read? Get Coastline Daily's evening bulletin straight to your phone."],
        "footer": [
            "Coastline Daily is owned by its readers, and every penny of their support goes into our reporting."
        ],
        "comments": ["Your views", "All replies are reviewed by our editors before publication."],
        "related": "Elsewhere on the site",
    },
    {
        "name": "Metro Ledger",
        "header": ["Metro Ledger", "Politics | Business | Culture | Sport | Opinion"],
        "between": ["Paid partner message"],
        "share": ["Found this useful? Tell a colleague"],
        "newsletter": ["The Ledger Briefing is free and arrives every morning at 7am."],
        "footer": [
            "Corrections and clarifications can be sent to the readers' editor, who will reply within two working days."
        ],
        "comments": ["Discuss", "Comments are open for 48 hours after publication."],
        "related": "Recommended for you",
    },
    {
        "name": "Harbourside Herald",
        "header": ["HARBOURSIDE HERALD | Est. 1888"],
        "between": ["Listen to this article (4 min)"],
        "share": ["Bookmark | Gift this article"],
        "newsletter": ["Every Sunday our editors choose the week's best reads for you."],
        "footer": ["The Harbourside Herald is a member of the Independent Press Standards Organisation."],
        "comments": ["Have your views", "Replies may be edited for length and clarity."],
        "related": "You may have missed",
    },
    {
        "name": "The Plainsman",
        "header": ["The Plainsman Online"],
        "between": ["Image 1 of 3"],
        "share": ["Post this to your feed"],
        "newsletter": ["Want more like this? Our weekend letter collects the Plainsman's best journalism."],
        "footer": ["Reporting for this article was supported by a grant from the Plains News Fund."],
        "comments": ["Talk about it", "Be respectful: posts that break our rules are removed."],
        "related": "More stories like this",
    },
)
TEST_CREDIT_FORMATS = (
    "Photograph: {name}/{site}",
    "Image: {agency}",
    "{name} | {agency}",
    "Credit: {name} for {site}",
    "(Image: {agency}/{name})",
)
TEST_BYLINES = ("By {name}", "By {NAME}", "By {name}, {site}", "By {name} and {name2}")
TEST_DATELINES_OWN_LINE = ("{PLACE} 2005-02-21", "{PLACE}, Feb 21 (AP)")
TEST_DATELINE_LEADS = ("{PLACE} (AP) — ", "{PLACE}, Feb. 21 (AFP) - ", "{PLACE} -- ")


@dataclass(frozen=True)
class Family:
    """The junk, structure and wrap styles pages of one half of the evaluation are made with."""

    name: str
    sites: tuple[dict, ...]
    credit_formats: tuple[str, ...]
    bylines: tuple[str, ...]
    datelines_own_line: tuple[str, ...]
    dateline_leads: tuple[str, ...]
    junk_between: bool  # header junk between headline and body (an ad label, an image credit)
    wrap_styles: tuple[str, ...]


TUNING = Family(
    "tuning",
    SITES,
    CREDIT_FORMATS,
    TUNING_BYLINES,
    TUNING_DATELINES_OWN_LINE,
    TUNING_DATELINE_LEADS,
    True,
    ("none", "one_width", "indent", "per_paragraph_narrow"),
)
TEST = Family(
    "test",
    TEST_SITES,
    TEST_CREDIT_FORMATS,
    TEST_BYLINES,
    TEST_DATELINES_OWN_LINE,
    TEST_DATELINE_LEADS,
    True,
    ("none", "one_width_wide", "per_paragraph", "indent_per_paragraph"),
)


@dataclass
class Page:
    """One synthetic page: its raw text, the article it came from and the junk injected into it."""

    raw: str
    title: str
    paragraphs: list[str]
    site: int
    junk_types: set[str] = field(default_factory=set)
    junk_lines: list[tuple[str, str]] = field(default_factory=list)  # (junk type, line)
    byline: str | None = None
    dateline: str | None = None
    structure_blocks: set[str] = field(default_factory=set)
    wrap_width: int | None = None  # width of the last wrapped paragraph


def shared_folder() -> Path:
    override = os.environ.get("TEXTDROPS_SHARED")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared"


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def read_bbc(folder: Path) -> list[tuple[str, list[str]]]:
    """Return (headline, paragraphs) of every BBC article that decodes as UTF-8 and has a body."""
    articles = []
    for path in sorted(folder.glob("*/*.txt")):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        head, _, body = text.strip().partition("\n")
        paragraphs = [_norm(p) for p in re.split(r"\n\s*\n", body) if p.strip()]
        if head.strip() and paragraphs:
            articles.append((_norm(head), paragraphs))
    return articles


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _credit(rng: random.Random, site: dict, formats: tuple[str, ...]) -> str:
    return rng.choice(formats).format(name=_name(rng), agency=rng.choice(AGENCIES), site=site["name"])


def _structure(rng: random.Random, family: Family, site: dict) -> tuple[str | None, str | None, str | None]:
    """(byline line, dateline line, dateline lead of the first paragraph): article structure to keep."""
    byline = dateline = lead = None
    if rng.random() < 0.3:
        name, name2 = _name(rng), _name(rng)
        byline = rng.choice(family.bylines).format(
            name=name, NAME=name.upper(), name2=name2, site=site["name"], place=rng.choice(PLACES)
        )
    place = rng.choice(PLACES)
    roll = rng.random()
    if roll < 0.15:
        dateline = rng.choice(family.datelines_own_line).format(PLACE=place.upper())
    elif roll < 0.35:
        lead = rng.choice(family.dateline_leads).format(PLACE=place.upper())
    return byline, dateline, lead


def make_page(
    title: str, paragraphs: list[str], headlines: list[str], rng: random.Random, family: Family = TUNING
) -> Page:
    """Return a page of one article with seeded junk around and inside it, made with `family`'s styles."""
    site_index = rng.randrange(len(family.sites))
    site = family.sites[site_index]
    byline, dateline, lead = _structure(rng, family, site)
    paragraphs = list(paragraphs)
    if lead:
        paragraphs[0] = lead + paragraphs[0]
    structure = [line for line in (byline, dateline) if line]
    page = Page("", title, structure + paragraphs, site_index)
    page.byline, page.dateline = byline, dateline or (lead.strip(" -—") if lead else None)
    top: list[str] = []
    between: list[str] = []
    bottom: list[list[str]] = []

    def junk(kind: str, lines: list[str]) -> list[str]:
        page.junk_types.add(kind)
        page.junk_lines.extend((kind, line) for line in lines)
        return lines

    if rng.random() < 0.6:
        top = junk("site_header", list(site["header"]))
    if family.junk_between and rng.random() < 0.3:
        # header junk between the headline and the body: an ad label or an image credit
        if rng.random() < 0.5:
            between = junk("between_headline_and_body", list(site["between"]))
        else:
            between = junk("between_headline_and_body", [_credit(rng, site, family.credit_formats)])
    article = list(paragraphs)
    if rng.random() < 0.25:
        page.junk_types.add("repeated_body")
        article = article + article
    body_blocks = [[p] for p in article]
    if rng.random() < 0.4:
        at = rng.randrange(0, min(3, len(body_blocks)) + 1)
        body_blocks.insert(at, junk("photo_credit", [_credit(rng, site, family.credit_formats)]))
    if rng.random() < 0.35 and len(body_blocks) > 3:
        at = rng.randrange(2, len(body_blocks))
        body_blocks.insert(at, junk("newsletter", list(site["newsletter"])))
    body_blocks[0:0] = [[line] for line in structure]
    page.structure_blocks = set(structure)
    if rng.random() < 0.4:
        bottom.append(junk("share_prompt", list(site["share"])))
    if rng.random() < 0.3:
        links = rng.sample(headlines, rng.randint(2, 4))
        bottom.append(junk("related_links", [site["related"], *links]))
    if rng.random() < 0.3:
        bottom.append(junk("comment_section", list(site["comments"])))
    if "footer" in site and rng.random() < 0.4:
        bottom.append(junk("footer_sentence", list(site["footer"])))
    if "copyright" in site and rng.random() < 0.4:
        bottom.append(junk("copyright", list(site["copyright"])))
    if "cookie" in site and rng.random() < 0.3:
        bottom.append(junk("cookie_notice", list(site["cookie"])))

    parts = []
    if top:
        parts.append("\n".join(top))
    parts.append(title)
    if between:
        parts.append("\n".join(between))
    # Junk blocks stay whole lines; article paragraphs are wrapped (and, in the test half, footers too).
    blocks = []
    for block in body_blocks:
        if len(block) == 1 and block[0] in paragraphs:
            blocks.append(("para", block[0]))
        elif len(block) == 1 and block[0] in page.structure_blocks:
            blocks.append(("structure", block[0]))
        else:
            blocks.append(("junk", "\n".join(block)))
    parts.append(_wrap_mixed(blocks, rng, page, family))
    for block in bottom:
        # full-sentence footers are wrapped like the body (at its last width)
        if block == site.get("footer") and page.wrap_width:
            parts.append(textwrap.fill(" ".join(block), page.wrap_width))
        else:
            parts.append("\n".join(block))
    raw = "\n\n".join(parts) + "\n"
    if rng.random() < 0.2:
        page.junk_types.add("mojibake")
        raw = raw.encode("utf-8").decode("sloppy-windows-1252")
    if rng.random() < 0.3:
        page.junk_types.add("nbsp_zero_width")
        raw = _sprinkle_invisible(raw, rng)
    if rng.random() < 0.3:
        page.junk_types.add("crlf")
        raw = raw.replace("\n", "\r\n")
    page.raw = raw
    return page


def _wrap_mixed(blocks: list[tuple[str, str]], rng: random.Random, page: Page, family: Family) -> str:
    """Wrap the article paragraphs (not junk or structure lines) in one of `family`'s wrap styles."""
    style = rng.choice(family.wrap_styles)
    if style == "none":
        return "\n\n".join(text for _, text in blocks)
    page.junk_types.add("hard_wrap")
    page.junk_types.add(f"wrap_{style}")
    if style == "one_width":
        width = rng.randint(65, 75)
        widths = [width] * len(blocks)
    elif style == "indent":
        width = rng.randint(65, 75)
        widths = [width] * len(blocks)
    elif style == "one_width_wide":
        width = rng.choice((rng.randint(50, 64), rng.randint(76, 95)))
        widths = [width] * len(blocks)
    elif style == "per_paragraph_narrow":  # the tuning half's widths
        widths = [rng.randint(60, 80) for _ in blocks]
    else:  # per_paragraph, indent_per_paragraph: quotes and pasted blocks wrapped at their own widths
        widths = [rng.randint(50, 95) for _ in blocks]
    page.wrap_width = widths[-1] if widths else None
    if style.startswith("indent"):
        page.junk_types.add("indent_paragraphs")
        return "\n".join(
            textwrap.fill(text, w, initial_indent="    ") if kind == "para" else text
            for (kind, text), w in zip(blocks, widths, strict=True)
        )
    return "\n\n".join(
        textwrap.fill(text, w) if kind == "para" else text for (kind, text), w in zip(blocks, widths, strict=True)
    )


def _sprinkle_invisible(raw: str, rng: random.Random) -> str:
    chars = list(raw)
    for i, char in enumerate(chars):
        if char == " " and rng.random() < 0.05:
            chars[i] = "\u00a0"
        elif char.isalpha() and rng.random() < 0.005:
            chars[i] = char + "\u200b"
    return "".join(chars)


_HYPHEN_SPACE = re.compile(r"(\w)- (\w)")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"“‘'(A-Z0-9])")


def score(pages: list[Page], boilerplate: frozenset[int]) -> dict:
    """Clean every page and compare it with its article."""
    exact = titles = sentences = sentences_kept = hyphen_space_only = 0
    datelines = datelines_kept = bylines = bylines_kept = 0
    per_type = defaultdict(lambda: {"docs": 0, "exact": 0, "junk_chars": 0, "junk_chars_removed": 0})
    failures = []
    for page in pages:
        doc = clean_document(page.raw, boilerplate)
        out_paragraphs = [_norm(p) for p in doc.text.split("\n\n") if p.strip()]
        is_exact = out_paragraphs == page.paragraphs
        exact += is_exact
        titles += doc.title is not None and _norm(doc.title) == page.title
        out_flat = " ".join(out_paragraphs)
        for paragraph in page.paragraphs:
            for sentence in _SENTENCE_SPLIT.split(paragraph):
                sentences += 1
                kept = sentence in out_flat
                sentences_kept += kept
                hyphen_space_only += not kept and _HYPHEN_SPACE.sub(r"\1-\2", sentence) in out_flat
        if page.dateline:
            datelines += 1
            datelines_kept += _norm(page.dateline) in out_flat
        if page.byline:
            bylines += 1
            bylines_kept += _norm(page.byline) in out_flat
        out_lines = set(out_paragraphs) | {_norm(doc.title or "")}
        for kind in page.junk_types | {"any"}:
            per_type[kind]["docs"] += 1
            per_type[kind]["exact"] += is_exact
        for kind, line in page.junk_lines:
            per_type[kind]["junk_chars"] += len(line)
            # A junk line survives when it is a whole output paragraph or is inside one.
            survived = _norm(line) in out_lines or _norm(line) in out_flat
            per_type[kind]["junk_chars_removed"] += 0 if survived else len(line)
        if not is_exact and len(failures) < 40:
            failures.append(
                {
                    "title": [page.title, doc.title],
                    "junk": sorted(page.junk_types),
                    "missing": [p[:100] for p in page.paragraphs if p not in out_paragraphs],
                    "extra": [p[:100] for p in out_paragraphs if p not in page.paragraphs],
                }
            )
    n = len(pages)
    return {
        "docs": n,
        "exact_share": exact / n,
        "title_share": titles / n,
        "sentences": sentences,
        "sentences_kept": sentences_kept,
        "sentences_kept_share": sentences_kept / sentences,
        "sentences_lost_only_a_space_after_a_hyphen": hyphen_space_only,
        "datelines": datelines,
        "datelines_kept": datelines_kept,
        "bylines": bylines,
        "bylines_kept": bylines_kept,
        "per_junk_type": {
            kind: {
                "docs": v["docs"],
                "exact_share": v["exact"] / v["docs"],
                **({"junk_chars_removed_share": v["junk_chars_removed"] / v["junk_chars"]} if v["junk_chars"] else {}),
            }
            for kind, v in sorted(per_type.items())
        },
        "failures": failures,
    }


def speed(shared: Path, baseline: str | None = None, repeats: int = 2) -> dict:
    """Throughput of clean_document (one process) on a seeded sample of Reuters-21578 articles.

    With `baseline` (a git revision), that revision's clean stage is timed too, in the same run: the two
    alternate (which one goes first changes each round) and each keeps its best of `repeats` rounds, so a
    loaded machine slows both alike.
    """
    files = sorted((shared / "corpora" / "reuters21578" / "articles").glob("*.txt"))
    sample = random.Random(SEED).sample(files, min(N_REUTERS_DOCS, len(files)))
    texts = [path.read_bytes().decode("utf-8") for path in sample]
    megabytes = sum(len(text.encode("utf-8")) for text in texts) / 1e6
    result = {"docs": len(texts), "megabytes": round(megabytes, 3)}
    sides: dict[str, dict] = {"this": {"module": stage_at(None, "clean") if baseline else sys.modules["tasks.clean"]}}
    if baseline:
        sides["baseline"] = {"module": stage_at(baseline, "clean"), "ref": baseline}
    for side in sides.values():
        module = side["module"]
        start = time.process_time()
        key_sets = [module.document_line_keys(text) for text in texts]
        side["line_keys_mb_per_s"] = megabytes / (time.process_time() - start)
        side["boilerplate"] = module.learn_boilerplate(key_sets, len(texts))
        side["learned_keys"] = len(side["boilerplate"])
    best = {(name, label): float("inf") for name in sides for label in ("clean", "learned")}
    for round_ in range(repeats):
        for name in list(sides)[:: 1 if round_ % 2 == 0 else -1]:
            module, boilerplate = sides[name]["module"], sides[name]["boilerplate"]
            for label, learned in (("clean", frozenset()), ("learned", boilerplate)):
                start = time.process_time()
                for text in texts:
                    module.clean_document(text, learned)
                best[name, label] = min(best[name, label], time.process_time() - start)
    for name, side in sides.items():
        side["clean_mb_per_s"] = megabytes / best[name, "clean"]
        side["clean_with_boilerplate_mb_per_s"] = megabytes / best[name, "learned"]
        del side["module"], side["boilerplate"]
    result |= sides.pop("this")
    if baseline:
        result["baseline"] = sides["baseline"]
    return result


def evaluate_half(articles: list[tuple[str, list[str]]], family: Family, seed: int) -> dict:
    """Build one synthetic drop of `articles` with `family`'s junk, learn its template, score cleanup."""
    rng = random.Random(seed)
    headlines = [title for title, _ in articles]
    pages = [make_page(title, paragraphs, headlines, rng, family) for title, paragraphs in articles]
    key_sets = [document_line_keys(page.raw) for page in pages]
    boilerplate = learn_boilerplate(count_line_keys(key_sets), len(pages))
    with_learning = score(pages, boilerplate)
    curated_only = score(pages, frozenset())
    return {
        "learned_keys": len(boilerplate),
        "with_learned_boilerplate": with_learning,
        "curated_only": {k: v for k, v in curated_only.items() if k != "failures"},
    }


def stories_dev(folder: Path, out_folder: Path) -> dict:
    """Real multi-outlet text: clean ../shared/gold/stories-dev as one drop and list what each rule removed.

    There is no clean reference for these pages, so the score is read by a person: every document's
    output is written to `out_folder` (title, text, then each removed line with its rule) for reading.
    """
    paths = sorted(folder.glob("*/*.txt"))
    raws = [path.read_bytes().decode("utf-8", errors="replace") for path in paths]
    boilerplate = learn_boilerplate(count_line_keys(document_line_keys(raw) for raw in raws), len(raws))
    per_rule: dict[str, dict] = defaultdict(lambda: {"lines": 0, "chars": 0, "examples": defaultdict(int)})
    out_folder.mkdir(parents=True, exist_ok=True)
    titles = 0
    for path, raw in zip(paths, raws, strict=True):
        trace: list[tuple[str, str]] = []
        doc = clean_document(raw, boilerplate, trace)
        titles += doc.title is not None
        for rule, text in trace:
            per_rule[rule]["lines"] += 1
            per_rule[rule]["chars"] += len(text)
            per_rule[rule]["examples"][text[:90]] += 1
        removed = "\n".join(f"[{rule}] {text}" for rule, text in trace)
        (out_folder / path.name).write_text(
            f"TITLE: {doc.title}\n\n{doc.text}\n\n=== removed ===\n{removed}\n", encoding="utf-8"
        )
    return {
        "docs": len(raws),
        "learned_keys": len(boilerplate),
        "titles": titles,
        "per_rule": {
            rule: {
                "lines": v["lines"],
                "chars": v["chars"],
                "top_examples": sorted(v["examples"].items(), key=lambda kv: -kv[1])[:12],
            }
            for rule, v in sorted(per_rule.items(), key=lambda kv: -kv[1]["lines"])
        },
        "outputs": str(out_folder),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("tuning", "test", "both"), default="both")
    parser.add_argument("--no-speed", action="store_true", help="skip the Reuters speed measurement")
    parser.add_argument("--speed-only", action="store_true", help="only the Reuters speed measurement")
    parser.add_argument("--speed-baseline", help="a git revision (e.g. main) whose clean stage is timed alongside")
    parser.add_argument("--speed-repeats", type=int, default=2, help="rounds of the speed measurement (best counts)")
    args = parser.parse_args(argv)
    shared = shared_folder()
    bbc = shared / "corpora" / "bbc"
    if not bbc.is_dir():
        print(f"eval_clean: shared data not found at {shared} (set TEXTDROPS_SHARED); nothing to evaluate.")
        return 0
    articles = read_bbc(bbc)
    # Articles alternate between the halves, so the halves share no article.
    halves = {"tuning": (articles[0::2], TUNING, SEED), "test": (articles[1::2], TEST, SEED + 1)}
    results: dict = {"seed": SEED}
    for name, (half_articles, family, seed) in halves.items():
        if args.half in (name, "both") and not args.speed_only:
            results[name] = evaluate_half(half_articles, family, seed)
    stories = shared / "gold" / "stories-dev"
    if stories.is_dir() and args.half == "both" and not args.speed_only:
        results["stories_dev"] = stories_dev(stories, RESULTS.parent / "clean_stories_dev")
    reuters = shared / "corpora" / "reuters21578"
    results["speed_reuters"] = (
        speed(shared, args.speed_baseline, args.speed_repeats) if reuters.is_dir() and not args.no_speed else None
    )
    _print(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {RESULTS}")
    return 0


def _print(results: dict) -> None:
    for half in ("tuning", "test"):
        if half not in results:
            continue
        learned, curated = results[half]["with_learned_boilerplate"], results[half]["curated_only"]
        print(f"\n== {half} half: {learned['docs']} pages, {results[half]['learned_keys']} learned boilerplate keys")
        print(f"{'':34}{'curated+learned':>16}{'curated only':>14}")
        for label, key in (("restored exactly", "exact_share"), ("title correct", "title_share")):
            print(f"{label:34}{learned[key]:>16.1%}{curated[key]:>14.1%}")
        print(f"{'sentences kept':34}{learned['sentences_kept_share']:>16.2%}{curated['sentences_kept_share']:>14.2%}")
        print(
            f"{'sentences kept (count)':34}{learned['sentences_kept']:>10,}/{learned['sentences']:,}"
            f"  lost only by the space after a wrapped hyphen: {learned['sentences_lost_only_a_space_after_a_hyphen']}"
        )
        print(
            f"{'datelines kept':34}{learned['datelines_kept']:>10,}/{learned['datelines']:,}"
            f"   bylines kept {learned['bylines_kept']:,}/{learned['bylines']:,}"
        )
        print(f"\n{'junk type':26}{'docs':>6}{'exact':>9}{'junk removed':>14}{'exact (curated only)':>22}")
        for kind, row in learned["per_junk_type"].items():
            removed = row.get("junk_chars_removed_share")
            removed_text = f"{removed:.1%}" if removed is not None else "-"
            print(
                f"{kind:26}{row['docs']:>6}{row['exact_share']:>9.1%}{removed_text:>14}"
                f"{curated['per_junk_type'][kind]['exact_share']:>22.1%}"
            )
    stories = results.get("stories_dev")
    if stories:
        print(
            f"\nstories-dev (real pages, {stories['docs']} documents as one drop, {stories['learned_keys']} learned "
            f"keys, {stories['titles']} headlines found); removed per rule (outputs in {stories['outputs']}):"
        )
        for rule, row in stories["per_rule"].items():
            print(f"  {rule:20}{row['lines']:>5} lines {row['chars']:>7,} chars")
            for text, n in row["top_examples"][:4]:
                print(f"      {n:>3} x {text!r}")
    speed_result = results["speed_reuters"]
    if speed_result:
        print(
            f"\nReuters ({speed_result['docs']} docs, {speed_result['megabytes']:.1f} MB), one core: "
            f"clean {speed_result['clean_mb_per_s']:.1f} MB/s, with learned boilerplate "
            f"{speed_result['clean_with_boilerplate_mb_per_s']:.1f} MB/s, line keys "
            f"{speed_result['line_keys_mb_per_s']:.1f} MB/s ({speed_result['learned_keys']} keys learned)"
        )
        baseline = speed_result.get("baseline")
        if baseline:
            print(
                f"  {baseline['ref']} in the same run: clean {baseline['clean_mb_per_s']:.1f} MB/s, with learned "
                f"boilerplate {baseline['clean_with_boilerplate_mb_per_s']:.1f} MB/s, line keys "
                f"{baseline['line_keys_mb_per_s']:.1f} MB/s; this / {baseline['ref']}: "
                f"{speed_result['clean_mb_per_s'] / baseline['clean_mb_per_s']:.2f}x and "
                f"{speed_result['clean_with_boilerplate_mb_per_s'] / baseline['clean_with_boilerplate_mb_per_s']:.2f}x"
            )


if __name__ == "__main__":
    sys.exit(main())
