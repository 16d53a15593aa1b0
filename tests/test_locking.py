import subprocess
import sys
import threading
import time

import pytest

from textdrops.locking import DropBusyError, drop_lock


def test_a_second_writer_waits_then_fails_clearly(tmp_path):
    held, release = threading.Event(), threading.Event()

    def holder():
        with drop_lock(tmp_path, "d", timeout=5):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    messages = []
    try:
        with (
            pytest.raises(DropBusyError, match="still being processed"),
            drop_lock(tmp_path, "d", 0.6, messages.append),
        ):
            pass
    finally:
        release.set()
        thread.join()
    assert messages and "waiting" in messages[0]
    with drop_lock(tmp_path, "d", timeout=1):  # free again once the holder is done
        pass


def test_a_killed_holder_does_not_leave_the_lock_stuck(tmp_path):
    code = (
        "import sys, time; from pathlib import Path; from textdrops.locking import drop_lock\n"
        f"with drop_lock(Path({str(tmp_path)!r}), 'd', 5):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(DropBusyError):
            with drop_lock(tmp_path, "d", timeout=0.3):
                pass
        proc.kill()
        proc.wait(10)
        started = time.monotonic()
        with drop_lock(tmp_path, "d", timeout=5):
            assert time.monotonic() - started < 2
    finally:
        proc.kill()


def test_a_later_drop_waits_for_an_earlier_drop_being_processed_but_not_the_reverse(tmp_path):
    from textdrops.locking import wait_for_earlier_drops

    held, release = threading.Event(), threading.Event()

    def earlier_run():
        with drop_lock(tmp_path, "2016-03-15", timeout=5):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=earlier_run)
    thread.start()
    held.wait(5)
    try:
        started = time.monotonic()
        assert wait_for_earlier_drops(tmp_path, "2016-03-14", timeout=5) == []  # nothing earlier is running
        assert time.monotonic() - started < 0.5
        messages: list[str] = []
        assert wait_for_earlier_drops(tmp_path, "2016-03-16", 0.6, messages.append) == ["2016-03-15"]  # gave up
        assert "2016-03-15" in messages[-1]
        threading.Timer(1.0, release.set).start()
        started = time.monotonic()
        assert wait_for_earlier_drops(tmp_path, "2016-03-16", timeout=10) == []
        assert time.monotonic() - started >= 0.9  # it waited for the earlier drop's run to end
    finally:
        release.set()
        thread.join()


HOLDER = {"flow_run_id": "0b9c1e1a-2f3d-4c5e-8a7b-6c5d4e3f2a1b", "flow_run_name": "2016-03-15-deployment"}


def _held_elsewhere(out_dir, run: dict):
    """A thread holding drop `d` of out_dir as flow run `run`; set its release event to end it."""
    held, release = threading.Event(), threading.Event()

    def holder():
        with drop_lock(out_dir, "d", timeout=5, run=run):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    return thread, release


def test_a_run_waiting_for_a_drop_is_told_which_flow_run_holds_it(tmp_path):
    thread, release = _held_elsewhere(tmp_path, HOLDER)
    messages = []
    try:
        with (
            pytest.raises(DropBusyError, match=r"flow run '2016-03-15-deployment' \(0b9c1e1a-.*\), pid \d+"),
            drop_lock(tmp_path, "d", 0.6, messages.append),
        ):
            pass
    finally:
        release.set()
        thread.join()
    assert "flow run '2016-03-15-deployment' (0b9c1e1a-2f3d-4c5e-8a7b-6c5d4e3f2a1b)" in messages[0]


def test_a_run_on_another_machine_is_told_which_flow_run_holds_the_drops_lease(
    s3_server, aws_env, tmp_path, monkeypatch
):
    from textdrops.remote import working_copy

    url = s3_server.url("leases")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-a"))
    machine_a = working_copy(url)
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-b"))
    machine_b = working_copy(url)  # its own local lock: only the lease on the store is shared
    thread, release = _held_elsewhere(machine_a, HOLDER)
    try:
        with (
            pytest.raises(
                DropBusyError, match=rf"flow run '2016-03-15-deployment' \(0b9c1e1a-.*\), pid \d+ on .*{url}"
            ),
            drop_lock(machine_b, "d", 0.6),
        ):
            pass
    finally:
        release.set()
        thread.join()
    with drop_lock(machine_b, "d", timeout=5):  # the lease is released with the lock
        pass
