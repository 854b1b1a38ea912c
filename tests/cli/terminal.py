"""A real terminal for the REPL tests: ``ormcli`` in a tmux pane of its own tmux server.

tmux is a terminal emulator that answers cursor-position requests, so prompt-toolkit knows the
screen's height and draws what it draws on a user's terminal (the bottom toolbar, completion
menus); ``screen()`` is the pane's text as a user sees it. pexpect's pseudo-terminal answers no
such request (the toolbar stays hidden there). Callers: ``tests/cli/test_cli_tmux.py``. Leaves
out: colours (``NO_COLOR=1``) and anything but text.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

TMUX = shutil.which("tmux")


class Pane:
    """One command running in a tmux server of its own (``tmux -L ormcli-test-...``)."""

    def __init__(
        self,
        tmp_path: Path,
        argv: list[str],
        *,
        width: int = 120,
        height: int = 30,
        env: dict[str, str] | None = None,
    ) -> None:
        assert TMUX is not None
        self.server = f"ormcli-test-{uuid.uuid4().hex[:12]}"  # a tmux server of its own
        environ = {
            **os.environ,
            "NO_COLOR": "1",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            **(env or {}),
        }
        environ.pop("PROMPT_TOOLKIT_NO_CPR", None)
        environ.pop("ORMCLI_DB", None)
        environ.pop("TMUX", None)
        # The exit status is written on the screen by a shell around the command (tmux's own
        # pane_dead_status is sometimes never filled in for a pane whose pty closed first).
        wrapper = '"$0" "$@"; echo "[exit $?]"; sleep 600'
        self._tmux(
            "new-session", "-d", "-x", str(width), "-y", str(height),
            "--", "sh", "-c", wrapper, *argv, env=environ,
        )  # fmt: skip
        self.socket_path = self._tmux("display-message", "-p", "#{socket_path}").strip()

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.server, "-f", os.devnull, *args],
            capture_output=True, text=True, env=env, check=True, timeout=20,
        )  # fmt: skip
        return done.stdout

    def screen(self) -> str:
        """The pane's visible text, one line per row (trailing spaces dropped)."""
        return "\n".join(line.rstrip() for line in self._tmux("capture-pane", "-p").splitlines())

    def wait(self, pattern: str, timeout: float = 20.0) -> str:
        """Wait until ``pattern`` (a regular expression) is on the screen; return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen:\n{text}")
            time.sleep(0.05)

    def wait_for(self, test: Callable[[str], bool], timeout: float = 20.0) -> str:
        """Wait until ``test(screen)`` holds; return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{test.__name__} never held; the screen:\n{text}")
            time.sleep(0.05)

    def bottom(self) -> str:
        """The last non-empty row of the screen (where the toolbar is)."""
        return next((line for line in reversed(self.screen().splitlines()) if line.strip()), "")

    def send(self, *keys: str) -> None:
        """Type text literally (``send("count Tag")``); use :meth:`key` for Enter, Tab..."""
        for text in keys:
            self._tmux("send-keys", "-l", text)

    def key(self, *names: str) -> None:
        """Press keys by tmux name: ``Enter``, ``Tab``, ``C-c``, ``C-d``, ``BSpace``."""
        self._tmux("send-keys", *names)

    def exit_status(self, timeout: float = 20.0) -> int:
        """Wait for the command to end; its exit status."""
        found = re.search(r"\[exit (\d+)\]", self.wait(r"\[exit \d+\]", timeout))
        assert found is not None
        return int(found.group(1))

    def close(self) -> None:
        """Stop this pane's own tmux server (never another) and remove its socket file."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._tmux("kill-server")
        if self.socket_path:  # tmux leaves the socket file of a killed server behind
            Path(self.socket_path).unlink(missing_ok=True)
