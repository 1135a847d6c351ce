"""What ``trainbridge dev`` prints: each child's lines prefixed with its name, and one progress
line per model run.

On a terminal the progress lines stay at the bottom, one per run in flight, each rewritten in
place (the lines above them scroll as usual); a run that ends leaves its last line behind.
Elsewhere (a pipe, a file, CI) each change of a run's state is one more line."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Mapping
from typing import TextIO

PROGRESS = "progress"
"""The name progress lines are prefixed with when they are not drawn in place."""

_UP_AND_CLEAR = "\x1b[{n}F\x1b[J"
"""Cursor to the start of the line ``n`` lines up, then clear to the end of the screen."""


def prefixed(name: str, line: str) -> str:
    return f"{name:<13}| {line}"


class Console:
    """Prints for ``trainbridge dev``; ``terminal`` (default: whether ``stream`` is one)
    chooses between progress drawn in place and progress as more lines."""

    def __init__(self, stream: TextIO | None = None, *, terminal: bool | None = None) -> None:
        self._stream = stream or sys.stdout
        self.terminal = self._stream.isatty() if terminal is None else terminal
        self._footer: dict[str, str] = {}
        """The progress lines drawn at the bottom (terminal), by model run."""
        self._shown: dict[str, str] = {}
        """The state last printed for each run (elsewhere)."""
        self._lock = threading.Lock()
        """The demo client writes from a thread of its own."""

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self._write(prefixed(name, line) + "\n")

    def progress(self, run: str, line: str, state: str, *, ended: bool) -> None:
        """The run's progress ``line``; ``state`` is what counts as a change off a terminal
        (its elapsed time keeps changing). An ``ended`` run is drawn for the last time."""
        with self._lock:
            self._progress(run, line, state, ended=ended)

    def _progress(self, run: str, line: str, state: str, *, ended: bool) -> None:
        if not self.terminal:
            if self._shown.get(run) != state:
                self._shown[run] = state
                self._stream.write(prefixed(PROGRESS, line) + "\n")
                self._stream.flush()
            return
        footer = {**self._footer, run: line}
        if ended:
            del footer[run]
            self._redraw(footer, above=prefixed(PROGRESS, line) + "\n")
        else:
            self._redraw(footer)

    def _write(self, text: str) -> None:
        """``text`` above the progress lines, which are drawn again below it."""
        if self.terminal:
            self._redraw(self._footer, above=text)
        else:
            self._stream.write(text)
            self._stream.flush()

    def _redraw(self, footer: Mapping[str, str], above: str = "") -> None:
        erase = _UP_AND_CLEAR.format(n=len(self._footer)) if self._footer else ""
        self._stream.write(erase + above + self._drawn(footer))
        self._stream.flush()
        self._footer = dict(footer)

    @staticmethod
    def _drawn(footer: Mapping[str, str]) -> str:
        """One terminal row per line (clipped to its width: a wrapped line would leave a
        stale row behind when the footer is erased)."""
        width = shutil.get_terminal_size().columns - 1
        return "".join(prefixed(PROGRESS, line)[:width] + "\n" for line in footer.values())
