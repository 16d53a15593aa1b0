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
