import io

from textdrops.progress import Progress


def test_progress_reports_documents_and_rate_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream, enabled=True)
    progress.start("annotate", 3)
    progress.advance(2)
    progress.advance(1)
    shown = stream.getvalue()
    assert "annotate: 2/3 documents" in shown
    assert "annotate: 3/3 documents" in shown and "docs/s" in shown
    assert shown.endswith("\n")


def test_progress_is_quiet_when_not_a_terminal():
    stream = io.StringIO()  # isatty() is False
    progress = Progress(stream)
    progress.start("load", 10)
    progress.advance(10)
    assert stream.getvalue() == ""
