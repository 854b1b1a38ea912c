"""Ctrl-C while a command runs: cancel what the database is doing, keep everything else.

:class:`CancelOnInterrupt` wraps one command. While it is active, SIGINT no longer raises
``KeyboardInterrupt`` (which could land anywhere inside core, half-way through a commit or a
load); it only sets :attr:`CancelOnInterrupt.interrupted`, and a watcher thread, woken through
``signal.set_wakeup_fd`` (the C-level handler writes a byte even while the main thread is
blocked inside a driver), calls ``cancel`` — ``Database.cancel``, which asks the server (or
SQLite) to stop the running statement. The command then fails as any command fails (a commit
rolls back and keeps the staged work) and the caller says ``interrupted`` instead of the error.

Callers: ``repl.py`` around ``Workspace.execute``. What it leaves out: pure-Python work is not
cut short (it finishes, and its result is shown); outside the main thread it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any


class CancelOnInterrupt:
    """A context in which Ctrl-C cancels the running statement instead of raising."""

    def __init__(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel
        #: Ctrl-C was pressed while the context was active.
        self.interrupted = False
        #: What ``cancel`` raised, if it failed (the statement then ran on).
        self.cancel_error: BaseException | None = None
        self._active = False
        self._fds: list[int] = []
        self._thread: threading.Thread | None = None
        self._old_handler: Any = None
        self._old_wakeup = -1

    def __enter__(self) -> CancelOnInterrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        wake_r, wake_w = os.pipe()
        stop_r, stop_w = os.pipe()
        self._fds = [wake_r, wake_w, stop_r, stop_w]
        os.set_blocking(wake_w, False)
        self._wake, self._stop = wake_r, stop_w
        self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        self._old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self._active = True
        self._thread = threading.Thread(
            target=self._watch, args=(wake_r, stop_r), name="ormcli-cancel", daemon=True
        )
        self._thread.start()
        return self

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True

    def _watch(self, wake_r: int, stop_r: int) -> None:
        while True:
            ready, _, _ = select.select([wake_r, stop_r], [], [])
            if stop_r in ready:
                return
            data = os.read(wake_r, 512)
            if signal.SIGINT.value not in data:
                continue  # another signal (SIGWINCH, SIGCHLD) woke us
            self.interrupted = True
            try:
                self._cancel()
            except Exception as exc:  # a cancel that fails leaves the statement running
                self.cancel_error = exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._active:
            return
        signal.set_wakeup_fd(self._old_wakeup)
        signal.signal(signal.SIGINT, self._old_handler)
        os.write(self._stop, b"x")
        if self._thread is not None:
            self._thread.join()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._active = False
