"""Every line the command line writes, redacted: one boundary for stdout and stderr.

The commands print through :class:`~twofactor_notify.cli.console.Console`, but a run also
writes through channels no command controls: a plugin's ``print`` or ``warnings.warn``, a
library's log records (``-v``, or logging's last-resort handler for warnings and errors
without it), a traceback. :func:`redacted_output` puts a :class:`RedactingStream` in place
of ``sys.stdout`` and ``sys.stderr`` for the whole run, and registers the keys the run read
(from the environment or the hidden prompt) with :mod:`twofactor_notify.redaction`, so they
stay hidden after the client that used them was closed: every character any of these
channels writes passes through :func:`~twofactor_notify.redaction.redact`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from ..redaction import forget_secret, redact, register_secret

__all__ = ["RedactingStream", "hide_for_this_run", "redacted_output"]

#: Text held back waiting for the end of its line is written out past this size anyway.
_MAX_PENDING = 64 * 1024
#: Characters kept back from such a write: longer than any secret, in any of its spellings.
_HOLD_BACK = 4096


class RedactingStream:
    """A text stream that writes to ``stream`` with every secret redacted.

    Text is held until the end of its line (``\\n`` or ``\\r``) or a :meth:`flush`, so a
    secret written in two pieces (``print`` writes its arguments one by one) is still seen
    whole. Numbers are left as they are: ``--json`` prints them on purpose (see
    :func:`~twofactor_notify.redaction.redact`'s ``request_values``). Every other attribute
    (``encoding``, ``isatty``, ``fileno``…) is the wrapped stream's: bytes written to its
    ``buffer`` bypass the redaction (the command line writes none).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending = ""
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        """Queue ``text``; write every complete line of what is queued, redacted."""
        with self._lock:
            self._pending += text
            cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
            if cut < 0 and len(self._pending) > _MAX_PENDING:
                # no line end in sight: write it redacted, all but a tail where a secret may
                # have begun (cutting first could split a key, which redact() then misses)
                done = redact(self._pending, request_values=False)
                self.stream.write(done[:-_HOLD_BACK])
                self._pending = done[-_HOLD_BACK:]
                return len(text)
            if cut >= 0:
                ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
                self.stream.write(redact(ready, request_values=False))
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Write what is queued, redacted, and flush the wrapped stream."""
        with self._lock:
            if self._pending:
                ready, self._pending = self._pending, ""
                self.stream.write(redact(ready, request_values=False))
            self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


_held: list[str] = []


def hide_for_this_run(secret: str) -> None:
    """Keep ``secret`` (a key typed at the prompt) redacted until the run ends, even after
    the client it was given to has been closed and forgot it."""
    register_secret(secret)
    _held.append(secret)


@contextlib.contextmanager
def redacted_output(key_variables: Iterable[str] = (), *, restore: bool = True) -> Iterator[None]:
    """Run the block with ``sys.stdout`` and ``sys.stderr`` redacted and the values of the
    environment variables ``key_variables`` (the keys the run reads) registered as secrets.

    The variables are named rather than their values passed, so that no caller's frame
    holds a key.

    :param restore: put the streams back and forget the keys on exit (a run inside a
        larger program). A process that is the command line passes ``False``: what the
        interpreter itself writes while it exits (a warning, a traceback) is redacted too.
    """
    mark = len(_held)  # what an enclosing run holds stays held when this one ends
    for name in key_variables:
        if os.environ.get(name, "").strip():
            hide_for_this_run(os.environ[name].strip())
    streams = sys.stdout, sys.stderr
    wrapped = [
        s if isinstance(s, RedactingStream) or s is None else RedactingStream(s) for s in streams
    ]
    sys.stdout, sys.stderr = wrapped
    try:
        yield
    finally:
        for stream in wrapped:
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        if restore:
            sys.stdout, sys.stderr = streams
            while len(_held) > mark:
                forget_secret(_held.pop())
