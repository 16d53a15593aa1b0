from pathlib import Path

from textdrops.schema import QUARANTINE_REASONS, README_MARKERS, markdown

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_schema_section_is_generated_from_the_schema_module():
    start, end = README_MARKERS
    section = README[README.index(start) + len(start) : README.index(end)]
    assert section == markdown(), "run: .venv/bin/python -m textdrops.schema --update-readme"


def test_readme_names_the_two_commands_and_every_quarantine_reason():
    assert "make run" in README and "make test" in README
    for reason in QUARANTINE_REASONS:
        assert f"`{reason}`" in README
