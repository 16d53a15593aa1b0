"""Stopping a run on request (SIGTERM, Ctrl-C, hang-up), and children that never outlive their parent.

`textdrops run` turns SIGTERM, SIGINT and SIGHUP into `Cancelled`, which the flow records as a
`cancelled` run before the command stops its worker pool and temporary server and exits. Whatever kills
the command (SIGKILL too), its children exit on their own: each watches its parent (`watch_parent`).
Stdlib only: worker processes and the server's launcher import this without Prefect.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1
_WAKE_SIGNAL = signal.SIGURG  # ignored by default; only used to interrupt the main thread's wait


class Cancelled(BaseException):  # noqa: N818  (like KeyboardInterrupt: `except Exception` lets it through)
    """The run was asked to stop by a signal."""

    def __init__(self, signum: int):
        super().__init__(f"cancelled by {signal.Signals(signum).name}")
        self.signum = signum


def cancel_signal(exc: BaseException) -> int | None:
    """The signal number when `exc` means "stop requested" (ours, Prefect's TerminationSignal, Ctrl-C)."""
    if isinstance(exc, Cancelled):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if type(exc).__name__ == "TerminationSignal":  # Prefect's own SIGTERM bridge, active during a flow run
        return getattr(exc, "signal", signal.SIGTERM)
    return None


def cancel_message(signum: int) -> str:
    return f"cancelled by {signal.Signals(signum).name}"


def raise_cancelled_on_signals() -> None:
    """From now on the first SIGTERM, SIGINT or SIGHUP raises Cancelled in the main thread; later ones are
    ignored so that the run can record itself and stop its children undisturbed. Call from the main thread.

    Python runs signal handlers in the main thread only, and only once it runs again: when the kernel
    delivers the signal to another thread (any thread may take a signal sent to the process) while the
    main thread sleeps in a lock wait (the flow waiting for its batches), nothing would happen until a
    batch finished. So a helper thread learns of every signal (`signal.set_wakeup_fd`) and wakes the main
    thread with a real, harmless signal (SIGURG, no-op handler); the main thread then runs the pending
    handler, ours or the one Prefect installs for SIGTERM during a flow run.
    """
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received:
            return
        received.append(signum)
        raise Cancelled(signum)

    for signum in STOP_SIGNALS:
        if signum != signal.SIGTERM and signal.getsignal(signum) is signal.SIG_IGN:
            continue  # ignored on purpose (nohup, a background job of a script): stays ignored
        signal.signal(signum, handler)
    signal.signal(_WAKE_SIGNAL, lambda signum, frame: None)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    main = threading.main_thread().ident
    assert main is not None

    def wake_main_thread() -> None:
        stops = {int(s) for s in STOP_SIGNALS}
        while True:
            arrived = os.read(read_end, 64)
            if stops.intersection(arrived):
                signal.pthread_kill(main, _WAKE_SIGNAL)

    threading.Thread(target=wake_main_thread, name="wake-main-on-signal", daemon=True).start()


def ignore_stop_signals() -> None:
    for signum in STOP_SIGNALS:
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signum, signal.SIG_IGN)


def exit_now(code: int) -> None:
    """Exit without waiting for busy threads (a stage stuck in a long loop would hold a normal exit)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def watch_parent(
    parent_pid: int, on_orphaned: int = signal.SIGTERM, grace: float = 5.0, kernel_signal: bool = True
) -> None:
    """Stop this process when its parent dies, however it dies.

    A daemon thread checks the parent every half second, sends `on_orphaned` to this process and, if it
    is still alive `grace` seconds later, exits it. With `kernel_signal` on Linux the kernel sends the
    signal at once (PR_SET_PDEATHSIG); only for children started by the parent's main thread, since the
    kernel sends it when the *thread* that started the child ends.
    """
    if kernel_signal and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(on_orphaned), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        with contextlib.suppress(OSError):
            os.kill(os.getpid(), on_orphaned)
        time.sleep(grace)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before the watch began
        os._exit(1)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def run_module_watching_parent() -> None:
    """`python -m textdrops.stopping PARENT_PID MODULE ARGS...`: run MODULE (like `python -m`) as a child
    that exits with its parent. The temporary Prefect server is started this way."""
    import runpy

    parent_pid, module, *args = sys.argv[1:]
    watch_parent(int(parent_pid))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    run_module_watching_parent()
