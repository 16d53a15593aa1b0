"""The removal rules and their accounting: every removed character and line counts under one rule."""

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


class Removals:
    """What cleanup removed from one document: characters and lines per rule, and with `trace` the removed
    lines and paragraphs themselves as (rule, text), for audits (`clean_document(trace=)`)."""

    def __init__(self, trace: list[tuple[str, str]] | None = None) -> None:
        self.chars = dict.fromkeys(CLEAN_RULES, 0)
        self.lines = dict.fromkeys(CLEAN_RULES, 0)
        self.trace = trace

    def remove(self, rule: str, text: str, n_lines: int) -> None:
        """Count `text` (`n_lines` lines of it) as removed by `rule`."""
        self.chars[rule] += len(text)
        self.lines[rule] += n_lines
        if self.trace is not None:
            self.trace.append((rule, text))
