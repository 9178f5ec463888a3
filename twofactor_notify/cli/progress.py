"""A small progress bar for long sends, drawn on a terminal's stderr (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import IO

__all__ = ["ProgressBar"]

_WIDTH = 24
_INTERVAL = 0.1  # seconds between redraws


class ProgressBar:
    """Redraws one line (``\\r``) with a bar and counters; silent unless ``enabled``.

    :param total: the amount that means 100 % (bytes of the input file), or ``None`` when
        unknown (then only the counters are shown).
    :param stream: where to draw (stderr by default).
    :param enabled: draw at all; callers pass "stderr is a terminal and not --quiet".
    """

    def __init__(
        self, total: int | None, *, stream: IO[str] | None = None, enabled: bool = True
    ) -> None:
        self.total = total if total and total > 0 else None
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._last_draw = 0.0
        self._drawn = False
        self._width = 0

    @classmethod
    def for_terminal(cls, total: int | None, *, quiet: bool) -> ProgressBar:
        """A bar on stderr that draws only when stderr is a terminal and not ``quiet``."""
        stream = sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(total, stream=stream, enabled=tty and not quiet)

    def update(self, done: int, counters: str, *, force: bool = False) -> None:
        """Show ``done`` (out of :attr:`total`) and a counters text, at most ten times a second."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < _INTERVAL:
            return
        self._last_draw = now
        if self.total:
            fraction = min(done / self.total, 1.0)
            filled = int(fraction * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            text = f"[{bar}] {fraction * 100:3.0f}%  {counters}"
        else:
            text = counters
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + padding)
        self.stream.flush()
        self._drawn = True

    def finish(self, counters: str) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self.update(self.total or 0, counters, force=True)
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def stop(self, counters: str) -> None:
        """Draw the state reached and end the line (the work stopped before its end)."""
        if not self.enabled:
            return
        if self._drawn:
            padding = " " * max(0, self._width - len(counters))
            self.stream.write("\r" + counters + padding + "\n")
            self.stream.flush()
