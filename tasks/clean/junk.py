"""Curated junk: the families of whole lines that are a page's furniture, not its article (step 2).

Each family is one `JunkFamily` record: its anchored patterns, the words (or characters) every line it
matches starts with, and the rule its removals count under. The combined line pattern and the cheap gate
in front of it (`may_be_junk`) are derived from the records, so a new family is one record.
Image captions that end in their credit, appeals for tips with an address or number, and comment
section headers are matched here too.
"""

import re
from dataclasses import dataclass

from .shapes import closes_sentence, word_count

# --- Junk line patterns --------------------------------------------------------------------------------
# Each family is matched against a whole line (or paragraph) after whitespace collapsing, case-insensitive,
# and only when that line is at most MAX_JUNK_CHARS long. Order matters only between families that
# could both match: copyright is tried before photo_credit so "© 2016 Rudaw" counts as copyright.

MAX_JUNK_CHARS = 320

AGENCIES = (
    r"(?:getty(?: images)?|afp|reuters|ap(?: photo)?|epa(?:-efe)?|sputnik|tass|ria novosti|xinhua|anadolu agency"
    r"|shutterstock|istock(?:photo)?|alamy(?: stock photo)?|pa(?: wire| media)?|bloomberg|rex features"
    r"|rex/shutterstock|corbis|wikimedia commons|flickr)"
)
NAME_PATTERN = r"[\w.'’&-]+(?: [\w.'’&-]+){0,4}"
_NETWORKS = r"(?:twitter|x|facebook|instagram|linkedin|youtube|tiktok|google\+?|social media|telegram)"


# The first word of a line, as the gate looks it up: letters and the "'", "-", "+" inside words ("e-mail",
# "editor's", "google+"); patterns may glue a year or a colon to it ("Copyright2016", "Photo:X").
_FIRST_WORD = re.compile(r"(?:[^\W\d_]|['+-])+")


def _first_word(collapsed: str) -> str:
    """The case-folded first word of a line: its first run of letters and "'", "-", "+"."""
    space = collapsed.find(" ")
    word = (collapsed[:space] if space >= 0 else collapsed).casefold()
    if not word.isalpha():  # most first words are letters only: the regex is for the others
        match = _FIRST_WORD.match(word)
        word = match[0] if match else ""
    # a case-insensitive regex takes the dotless "ı" for "i", which case folding keeps apart
    return word.replace("ı", "i") if "ı" in word else word


# "\d" matches the decimal digits of every script
_DECIMAL_DIGITS = frozenset(chr(code) for code in range(0x110000) if chr(code).isdecimal())


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class JunkFamily:
    """One family of junk lines: its patterns, the cheap signs every line they match shows, and its rule.

    A pattern is matched against a whole line (or rejoined paragraph) after whitespace collapsing,
    case-insensitive. Every line a pattern can match starts with one of `first_words` (its first run of
    letters, "'", "-" and "+", case-folded) or one of `first_chars` (or a digit), or holds one of `signs`
    (case-folded): the gate in
    front of the regexes (`may_be_junk`) is built from these, and a property test checks each family's
    patterns against its own signs.
    """

    name: str
    rule: str  # the CLEAN_RULES entry its removals count under
    patterns: tuple[str, ...]
    first_words: frozenset[str] = frozenset()
    first_chars: str = ""
    starts_with_number: bool = False  # a line may start with a digit (any script's: "\\d" matches them all)
    signs: tuple[str, ...] = ()

    @property
    def alternation(self) -> str:
        return "|".join(f"(?:{pattern})" for pattern in self.patterns)

    def may_match(self, collapsed: str) -> bool:
        """False when no pattern of this family can match the whole line (its own gate)."""
        if collapsed[0] in self.first_chars or (self.starts_with_number and collapsed[0] in _DECIMAL_DIGITS):
            return True
        folded = collapsed.casefold()
        return _first_word(collapsed) in self.first_words or any(sign in folded for sign in self.signs)


JUNK_FAMILIES: tuple[JunkFamily, ...] = (
    # "Copyright 2016 Rudaw", "© 2016 X. All rights reserved", "(c) Copyright Reuters 1987", lines that
    # end in "All rights reserved".
    JunkFamily(
        "copyright",
        "copyright",
        first_words=_words("copyright"),
        first_chars="©(",
        signs=("rights reserved",),
        patterns=(
            # ("copyright" glued to a letter is another word: the gate looks words up by their letters)
            r"(?:copyright(?![^\W\d_])|©|\(c\))\s*(?:©|\(c\)|copyright)?\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)\b.{0,120}",
            r"(?:copyright|©|\(c\))\s*(?:©|\(c\))?\s*[^.!?]{0,120}\ball rights reserved\b.{0,80}",
            r"[^.!?]{0,120}\ball rights reserved[.!]?",
            # ("copyright-" or "copyright'" begins another word, as the gate reads first words)
            r"copyright(?![\w'+-])\s*(?:©|\(c\))?\s*" + NAME_PATTERN + r"[.]?",
        ),
    ),
    # "© Sputnik/ Alexei Druzhinin", "Photo: X", "Image copyright X", "Image caption X",
    # "AFP/Getty Images", "Reuters/Kevin Lamarque", "(c) Reuters", "Getty Images", "Photo".
    JunkFamily(
        "photo_credit",
        "photo_credit",
        first_words=_words("""
            photo photos photograph photographs picture pictures pic pics image images credit credits getty
            shutterstock istock istockphoto alamy gallery afp ap reuters epa epa-efe sputnik tass ria xinhua
            anadolu bloomberg rex corbis wikimedia flickr pa
            """),
        first_chars="©([",
        starts_with_number=True,
        signs=("/", "|"),
        patterns=(
            r"(?:©|\(c\))\s*[^.!?]{1,100}",
            r"(?:photo(?:graph)?s?|pictures?|pics?|images?|credits?|(?:photo|pic(?:ture)?|image) credits?)"
            r"(?:\s*[:|]\s*.{0,150})?",
            r"(?:photo(?:graph)?s?|pictures?|pics?|images?)\s+(?:by|courtesy(?: of)?)\s+[^.!?,;]{1,60}",
            # The same in brackets, as captions print them: "(Photo by X)", "[Picture: X/AP]", "(X/Reuters)".
            r"[(\[](?:photo(?:graph)?s?|pictures?|pics?|images?|credits?)(?:\s*:|\s+by|\s+courtesy(?: of)?)"
            r"\s*[^()\[\]]{1,100}[)\]]",
            r"[(\[]" + NAME_PATTERN + r"\s*/\s*" + AGENCIES + r"[)\]]",
            r"image (?:copyright|caption|source)\b.{0,200}",
            rf"(?:{NAME_PATTERN}\s*/\s*)?(?:getty images|shutterstock|istock(?:photo)?|alamy(?: stock photo)?)"
            rf"(?:\s*(?:/|\bvia\b)\s*{NAME_PATTERN})?",  # (a whole "via", not the end of a glued word)
            NAME_PATTERN + r"\s*[/|]\s*" + AGENCIES + r"(?:\s*[/|]\s*" + NAME_PATTERN + r")?",
            AGENCIES + r"\s*(?:[/|]|\bvia\b)\s*" + NAME_PATTERN,
            r"(?:gallery\s*\|\s*)?\d+ (?:photos|pictures|images)",
        ),
    ),
    # "Share this article", share-button rows ("Facebook Twitter Email"), "Follow us on Twitter",
    # "Subscribe to our newsletter", "Sign up for our daily email".
    JunkFamily(
        "social_prompt",
        "social_prompt",
        first_words=_words("""
            share tweet email e-mail print save whatsapp facebook twitter linkedin reddit pinterest messenger copy
            google google+ follow like find join connect subscribe sign register get
            """),
        first_chars="",
        signs=(),
        patterns=(
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
    ),
    # Ad slots and sponsored-content markers.
    JunkFamily(
        "advertisement",
        "advertisement",
        first_words=_words(
            "advertisement advertisements advertising advertorial sponsored ad ads paid report story article scroll"
            " continue"
        ),
        first_chars="",
        signs=(),
        patterns=(
            r"advertisements?|advertising|advertorial|sponsored(?: content| links?| stories| by [^.,;]{1,60})?"
            r"|ads? by \w+|paid (?:content|post|partnership)|ad feedback|report (?:this )?ad",
            r"(?:story|article) continues below(?: advertisement)?|scroll to continue(?: with content)?"
            r"|continue reading below|advertisement - continue reading below",
        ),
    ),
    # Cookie banners: need a cookie word together with consent wording.
    JunkFamily(
        "cookie_notice",
        "cookie_notice",
        first_words=_words("this our we by accept allow manage reject cookie"),
        first_chars="",
        signs=(),
        patterns=(
            r"(?:this|our) (?:web)?site uses cookies\b.{0,300}",
            r"we use cookies\b.{0,300}",
            r"by (?:continuing|using)\b(?=.{0,200}\bcookies?\b).{0,300}",
            r"(?:accept|allow|manage|reject) (?:all )?cookies(?: and continue)?[.!]?",
            r"cookie (?:policy|settings|preferences|notice|consent)[.!]?",
        ),
    ),
    # Reading aids of the page, not the story: "Read more: ...", "Related: ...", "Continue reading the main
    # story", media player chrome, "Click here to ...", "Back to top".
    JunkFamily(
        "navigation",
        "navigation",
        first_words=_words("""
            read see related more media jump back return skip view open click top most trending recommended
            editor's editors continue www share
            """),
        first_chars="+",
        signs=("/",),
        patterns=(
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
    ),
)
JUNK_LINE = re.compile("|".join(f"(?P<{family.rule}>{family.alternation})" for family in JUNK_FAMILIES), re.IGNORECASE)
# An image caption ends in its credit ("... found “inappropriate content” Dado Ruvic/Reuters", "... while
# tweens consume six hours. Photograph: Graeme Robertson for the Guardian"): such a line is the caption of
# a picture, not article text, whatever it says before the credit.
CAPTION_CREDIT_END = re.compile(
    rf"(?:^|\s)(?:{NAME_PATTERN}\s*/\s*{AGENCIES}(?:\s*/\s*{NAME_PATTERN})?"
    r"|(?:photo(?:graph)?|picture|image)s?\s*:\s*[^.!?:]{1,80}"
    r"|[(\[](?:photo(?:graph)?|picture|image)s?(?:\s*:|\s+by)\s*[^()\[\]]{1,80}[)\]])$",
    re.IGNORECASE,
)
MAX_CAPTION_WORDS = 60
CAPTION_CREDIT_CHARS = 120  # a credit is at most this long: only the line's end is searched


def may_end_in_credit(collapsed: str) -> bool:
    """False when the line cannot end in a caption credit (a fast pre-check of `CAPTION_CREDIT_END`)."""
    tail = collapsed[-CAPTION_CREDIT_CHARS:]
    return "/" in tail or ":" in tail or collapsed[-1] in ")]"


# Appeals to readers to send stories or tips, with an address or a number to send them to: "We pay for
# your stories! Do you have a story for The Sun Online news team? Email us at tips@... or call 0207 ...",
# "Got a tip? Contact us at ...", "Email: reporter@paper.com; Follow ... on Twitter". Only lines holding an
# "@", a link or a long number are tried (`_contact_appeal`).
CONTACT_APPEAL = re.compile(
    r"(?=.*\b(?:(?:e-?mail|call|contact|text|message|write to|tell|whatsapp) us|get in touch"
    r"|do you have a (?:story|tip|video|photo)|got a (?:story|tip|news tip)|have a (?:story|news )?tip"
    r"|send (?:us )?(?:your )?(?:tips?|stories|pictures|photos|videos))\b)"
    r"(?=.*(?:[\w.+-]+@[\w-]+\.\w|\d[\d ()-]{7,}\d|https?://|www\.)).{0,300}"
    r"|e-?mail\s*:\s*[\w.+-]+@[\w-]+\.[\w.]+\b.{0,200}",
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"\d[\d ()-]{7,}\d")


def may_be_contact_appeal(collapsed: str, folded: str | None = None) -> bool:
    """False when `CONTACT_APPEAL` cannot match (a fast pre-check): an appeal has an "@", or the words of
    an appeal ("... us", "get in touch", "have a", "got a", "send") and a link or a long number.
    `folded` is `collapsed.casefold()` when the caller has it."""
    if "@" in collapsed:
        return True
    if folded is None:
        folded = collapsed.casefold()
    if not (" us" in folded or "touch" in folded or "have a" in folded or "got a" in folded or "send" in folded):
        return False
    return "http" in folded or "www." in folded or _LONG_NUMBER.search(collapsed) is not None


def is_contact_appeal(collapsed: str) -> bool:
    """True for a short line that asks readers to send stories or tips to an address or number."""
    if len(collapsed) > MAX_JUNK_CHARS or not may_be_contact_appeal(collapsed):
        return False
    return CONTACT_APPEAL.fullmatch(collapsed) is not None


# A bare "©" (or "Photo:") line credits the next line: "©" / "Sputnik/ Alexei Druzhinin".
CREDIT_MARKER = JunkFamily(
    "credit_marker",
    "photo_credit",
    patterns=(r"(?:©|\(c\)|photo|photo credit|image|picture|credit)\s*:?",),
    first_words=_words("photo image picture credit"),
    first_chars="©(",
)
CREDIT_MARKER_RE = re.compile(CREDIT_MARKER.alternation, re.IGNORECASE)
_MAX_CREDIT_WORDS = 8
# A "Related stories:" header lists links below it: short lines without sentence punctuation.
LINK_LIST_HEADER = re.compile(
    r"(?:related|read more|see also|more on this story|more from \w+|most read|top stories)"
    r"(?: articles| stories| coverage| content| links| news)?\s*:?",
    re.IGNORECASE,
)
_MAX_LINK_WORDS = 15

# --- Comment section ------------------------------------------------------------------------------------
# Headers and prompts of a comment section (Blogger, WordPress, news sites). Matched on whole lines.
COMMENT_HEADER = JunkFamily(
    "comment_header",
    "comment_section",
    patterns=(
        r"(?:\d+\s+)?(?:reader )?comments?(?:\s*\(\d+\))?\s*:?|no comments?(?: yet)?\s*[:.!]?"
        r"|post (?:a|your|new) comment[.:]?|leave a (?:comment|reply)[.:]?|add (?:a|your) comment[.:]?"
        r"|join the (?:discussion|conversation)[.:]?|(?:show|view|load|hide|read) (?:all )?(?:\d+ )?comments?"
        r"(?:\s*\(\d+\))?|comments (?:are|have been) closed\.?|write a comment[.:]?|\d+ (?:responses?|replies)"
        r"|have your say|newer post(?:\s*older post)?(?:\s*home)?|older post(?:\s*home)?"
        r"|subscribe to: post comments \(atom\)"
        r"|post comments \(atom\)|comment policy|comments? guidelines|(?:\d+ )?(?:people )?(?:are )?commenting",
    ),
    first_words=_words(
        "reader comment comments no post leave add join show view load hide read write have newer older"
        " subscribe people are commenting"
    ),
    starts_with_number=True,
)
COMMENT_HEADER_RE = re.compile(COMMENT_HEADER.alternation, re.IGNORECASE)
# Words of comment-moderation policy: a long paragraph after a header needs two of them to count as policy.
COMMENT_POLICY = re.compile(
    r"\b(?:comments?|comment(?:ing|ers?)|moderat\w*|guidelines?|approv\w*|reject\w*|profanity|vulgarity"
    r"|abus\w*|offensive|terms (?:of|and) (?:use|service|conditions)|community (?:standards|rules)"
    r"|log ?in|sign ?in|register\w*|repl(?:y|ies)|posted by|discussions?|disqus)\b",
    re.IGNORECASE,
)
MAX_SHORT_TAIL_WORDS = 6

# Cheap gate before the patterns above, derived from the families' own signs: a line that starts with none
# of their first words or characters and holds none of their signs skips the regexes (most article lines).
_GATED_FAMILIES = (*JUNK_FAMILIES, CREDIT_MARKER, COMMENT_HEADER)
_JUNK_FIRST_WORDS = frozenset().union(*(family.first_words for family in _GATED_FAMILIES))
_JUNK_FIRST_CHARS = frozenset("".join(family.first_chars for family in _GATED_FAMILIES)) | (
    _DECIMAL_DIGITS if any(family.starts_with_number for family in _GATED_FAMILIES) else frozenset()
)


def _dotless_spellings(word: str) -> set[str]:
    """`word` with each "i" also as the dotless "ı", which a case-insensitive regex takes for it."""
    spellings = {""}
    for char in word:
        spellings = {head + spelled for head in spellings for spelled in ((char, "ı") if char == "i" else (char,))}
    return spellings


# The first words by their first letter, for the rare first word that is not all letters ("Photo:X").
_JUNK_WORDS_BY_LETTER: dict[str, tuple[str, ...]] = {}
for _word in sorted(_JUNK_FIRST_WORDS):
    for _spelling in _dotless_spellings(_word):
        _JUNK_WORDS_BY_LETTER[_spelling[0]] = (*_JUNK_WORDS_BY_LETTER.get(_spelling[0], ()), _spelling)
_JUNK_SIGNS = {sign for family in _GATED_FAMILIES for sign in family.signs}
# signs without letters are looked for before case folding, the others in the case-folded line
JUNK_SIGN_CHARS = tuple(sorted(sign for sign in _JUNK_SIGNS if sign.casefold() == sign.upper()))
JUNK_SIGN_PHRASES = tuple(sorted(_JUNK_SIGNS.difference(JUNK_SIGN_CHARS)))


def may_be_junk(collapsed: str, folded: str | None = None) -> bool:
    """False when no junk or comment pattern can match the whole line (a fast pre-check); `folded` is
    `collapsed.casefold()` when the caller has it.

    It runs for every line, so it is spelled out: its signs are `JUNK_SIGN_CHARS` and `JUNK_SIGN_PHRASES`
    (a test keeps them the same), and `_first_word`'s regex runs only for a first word that is not all
    letters and starts like a junk word.
    """
    if len(collapsed) > MAX_JUNK_CHARS:
        return False
    if collapsed[0] in _JUNK_FIRST_CHARS or "/" in collapsed or "|" in collapsed:
        return True
    if folded is None:
        folded = collapsed.casefold()
    space = folded.find(" ")
    word = folded[:space] if space >= 0 else folded
    if word in _JUNK_FIRST_WORDS:
        return True
    if not word.isalpha():
        starts = _JUNK_WORDS_BY_LETTER.get(word[0])
        if starts is not None and word.startswith(starts) and _first_word(word) in _JUNK_FIRST_WORDS:
            return True
    return "rights reserved" in folded


def junk_rule(collapsed: str) -> str | None:
    """Return the rule whose pattern matches the whole (short) line, or None."""
    folded = collapsed.casefold()
    if may_be_junk(collapsed, folded):
        match = JUNK_LINE.fullmatch(collapsed)
        if match:
            return match.lastgroup
    appeal = may_be_contact_appeal(collapsed, folded) and is_contact_appeal(collapsed)
    return "contact_appeal" if appeal else None


def is_credit(collapsed: str) -> bool:
    """True for a short name-like line that follows a bare "©": "Sputnik/ Alexei Druzhinin"."""
    words = word_count(collapsed)
    if words > _MAX_CREDIT_WORDS:
        return False
    return words <= 3 or collapsed[-1:] not in ".!?"


def is_link_title(collapsed: str) -> bool:
    return word_count(collapsed) <= _MAX_LINK_WORDS and not closes_sentence(collapsed)
