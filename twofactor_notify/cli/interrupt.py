"""Ctrl-C (SIGINT) and SIGTERM as an exception that never lands inside a critical section,
and the command line's process-wide SIGINT handler.

``send-bulk`` must know, whatever instant a signal arrives, which rows went: a signal that
arrived while a chunk's outcomes were being written would leave that chunk half recorded.
:class:`SignalGuard` turns both signals into :class:`Interrupted` (a ``KeyboardInterrupt``,
so code that cleans up after Ctrl-C does so for SIGTERM too) and holds it back while a
:meth:`SignalGuard.critical` section runs, raising it as soon as the section ends.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

from ..command_line import on_first_sigint, sigint_seen

__all__ = [
    "Interrupted",
    "SignalGuard",
    "ignore_swallowed_interrupts",
    "interruption",
    "on_first_sigint",
    "raise_if_interrupted",
    "sigint_seen",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; :attr:`signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        """``"SIGINT"`` or ``"SIGTERM"``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by this signal: 130, 143."""
        return 128 + self.signum


class SignalGuard:
    """While entered, SIGINT and SIGTERM raise :class:`Interrupted`, except inside
    :meth:`critical` sections, which are finished first.

    Handlers can only be installed from the main thread; elsewhere the guard does nothing
    (Python delivers signals to the main thread only).
    """

    def __init__(self) -> None:
        #: The first signal received, if any.
        self.received: int | None = None
        self._depth = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # the run is already stopping: a second signal changes nothing
        self.received = signum
        if self._depth == 0:
            raise Interrupted(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Run the block to its end; a signal received meanwhile is raised after it."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.received is not None:
            raise Interrupted(self.received)

    def hold(self) -> None:
        """Raise nothing more (the command is already on its way out, writing what it knows)."""
        self._depth += 1


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if :func:`on_first_sigint` has run.

    Python swallows an exception raised where it cannot propagate (a weakref callback of
    the import system, a ``__del__``): a Ctrl-C landing there would be lost, and the
    command would go on to send. The command line calls this before it makes a client.
    """
    if sigint_seen():
        raise KeyboardInterrupt


def interruption(
    error: BaseException, guard: SignalGuard | None = None
) -> KeyboardInterrupt | None:
    """The interruption ``error`` stands for, or ``None`` if it is an error of its own.

    ``error`` itself when it is a ``KeyboardInterrupt`` (:class:`Interrupted` included).
    Otherwise, once ``guard`` or :func:`on_first_sigint` has received a signal, whatever
    error ended the run is that signal's doing: CPython replaces the exception a signal
    handler raised with another one when the handler runs inside some of its own C code.
    Seen on 3.11 to 3.13: a Ctrl-C landing while ``from module import name`` formats the
    message of a failed lookup (the standard library does that in ``try``/``except
    ImportError`` blocks, ``ssl`` among them) leaves ``TypeError: expected a message
    argument``. Every place of the command line that ends a run on an interruption asks
    this function instead of testing the exception's type.
    """
    if isinstance(error, KeyboardInterrupt):
        return error
    if guard is not None and guard.received is not None:
        return Interrupted(guard.received)
    if sigint_seen():
        return KeyboardInterrupt()
    return None


def ignore_swallowed_interrupts() -> None:
    """Make ``sys.unraisablehook`` say nothing of a ``KeyboardInterrupt`` Python swallowed
    (:func:`raise_if_interrupted` raises it again); other unraisable errors are reported
    as before."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)

    sys.unraisablehook = hook
