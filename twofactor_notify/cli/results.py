"""The result file of ``send-bulk``: one line per row, written atomically, read back to resume.

A row is identified across runs by its number *and* a hash of its content
(:func:`row_hash`): a resumed run refuses an input whose rows changed, rather than skip the
wrong ones. Lines are written in row order, which lets a resumed run read the old file
alongside the input, a line at a time (memory stays flat however big the files are).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import EXIT_OUTCOME_UNKNOWN, CommandError, UsageError

__all__ = [
    "ACCEPTED",
    "FAILED",
    "REJECTED",
    "RESULT_COLUMNS",
    "STATUSES",
    "UNKNOWN",
    "PreviousResults",
    "ResultFile",
    "ResultFileError",
    "ResultLine",
    "check_result_path",
    "row_hash",
]

#: 2Factor accepted the row (``message_id`` says as what).
ACCEPTED = "accepted"
#: Refused on its own, locally or by 2Factor: not sent.
REJECTED = "rejected"
#: Its whole request failed in a way that means it was not sent.
FAILED = "failed"
#: It may have been sent: its request timed out, broke, was interrupted in flight...
UNKNOWN = "unknown"
STATUSES = (ACCEPTED, REJECTED, FAILED, UNKNOWN)

#: The columns of the result file.
RESULT_COLUMNS = ("row", "phone", "status", "message_id", "reason", "row_hash")
_HASH = re.compile(r"[0-9a-f]{16}")

# The input columns a row's hash covers, in this order (kept here, not imported, so that the
# hash of a row cannot change when the input's accepted columns grow).
_HASHED = ("phone", "text", "sender", "callback_value1", "callback_value2")


def row_hash(values: Mapping[str, str]) -> str:
    """16 hex digits identifying a row's content (its values by column, header order aside)."""
    digest = hashlib.sha256(b"twofactor-notify row v1")
    for name in _HASHED:
        data = values.get(name, "").encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ResultLine:
    """One line of the result file."""

    row: int
    phone: str
    status: str
    message_id: str = ""
    reason: str = ""
    row_hash: str = ""

    def as_dict(self) -> dict[str, str | int]:
        """The line as the CSV writer takes it."""
        return {
            "row": self.row,
            "phone": self.phone,
            "status": self.status,
            "message_id": self.message_id,
            "reason": self.reason,
            "row_hash": self.row_hash,
        }


def check_result_path(path: str, option: str = "--result") -> None:
    """Refuse, before anything is sent, a result path that cannot be written in place: ``-``,
    a directory, a missing or unwritable folder, something other than a regular file.

    :raises UsageError: naming the problem (exit 2).
    """
    if path in ("", "-"):
        raise UsageError(
            f"{option} {path!r}: give a file name (the result file is renamed into place, so "
            "it cannot be stdout; --json prints the summary there); nothing was sent"
        )
    folder = os.path.dirname(os.path.abspath(path))
    problem = None
    if os.path.isdir(path):
        problem = "is a directory"
    elif os.path.lexists(path) and not os.path.isfile(path):
        problem = "exists and is not a regular file"
    elif not os.path.isdir(folder):
        problem = f"cannot be created: its folder {folder} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"cannot be written: its folder {folder} is not writable"
    if problem is not None:
        raise UsageError(f"{option} {path} {problem}; nothing was sent")


class ResultFileError(CommandError):
    """The result file could not be written or put in place after sending may have begun
    (exit 3): rows may have gone, and the lines recorded are in the ``.partial`` file kept
    beside it."""

    exit_code = EXIT_OUTCOME_UNKNOWN


class ResultFile:
    """The ``--result`` file, written to a temporary file beside it and renamed into place
    by :meth:`finish`: the file named is replaced whole or not at all.

    A write that fails stops the run (:class:`ResultFileError`): later writes do nothing,
    and :meth:`finish` keeps the temporary file and names it rather than rename it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        try:
            fd, self.temp = tempfile.mkstemp(
                dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".partial"
            )
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.handle = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=RESULT_COLUMNS)
        #: The first write error, after which nothing more is written.
        self.failure: OSError | None = None
        #: Lines written, by status.
        self.counts = dict.fromkeys(STATUSES, 0)
        try:
            self.writer.writeheader()
        except OSError as exc:
            self.handle.close()
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None

    def _failed(self, exc: OSError, doing: str) -> ResultFileError:
        if self.failure is None:
            self.failure = exc
        return ResultFileError(
            f"{doing} {self.path} failed ({exc.strerror or type(exc).__name__}) after sending "
            f"had begun: the lines recorded until then are in {self.temp}; rows may have "
            "been sent, so check that file and delivery reports before sending again "
            "(outcome unknown)"
        )

    def write(self, line: ResultLine) -> None:
        """Add one line (callers write rows in ascending order)."""
        if self.failure is not None:
            return
        try:
            self.writer.writerow(line.as_dict())
        except OSError as exc:
            raise self._failed(exc, "writing") from None
        self.counts[line.status] = self.counts.get(line.status, 0) + 1

    def flush(self) -> None:
        """Push what was written to the temporary file (a crash keeps it there)."""
        if self.failure is not None:
            return
        try:
            self.handle.flush()
        except OSError as exc:
            raise self._failed(exc, "writing") from None

    def finish(self, keep: bool) -> None:
        """Close; rename into place when ``keep``, else remove the temporary file.

        :raises ResultFileError: ``keep`` and the file could not be completed or renamed;
            the temporary file stays, and the error names it.
        """
        if self.handle.closed:
            return
        try:
            self.handle.close()
        except OSError as exc:
            if keep:
                raise self._failed(exc, "writing") from None
        if not keep:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            return
        if self.failure is not None:
            raise self._failed(self.failure, "writing")
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            raise self._failed(exc, "renaming the results into") from None


class PreviousResults:
    """The result file of an earlier run, read in row order (``--resume``).

    :meth:`check` reads it whole once and refuses a file this command did not write (or
    one written before rows had hashes); then :meth:`peek`/:meth:`advance` walk it beside
    the input, and :meth:`rest` hands over the lines the run never reached.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - see close
        except OSError as exc:
            raise UsageError(f"cannot read --resume {path}: {exc.strerror or exc}") from None
        self._lines = self._read()
        self._next: ResultLine | None = None
        self._done = False
        #: The highest row number in the file (set by :meth:`check`).
        self.last_row = 0

    def _read(self) -> Iterator[ResultLine]:
        reader = csv.DictReader(self._handle)
        try:
            missing = [c for c in RESULT_COLUMNS if c not in (reader.fieldnames or ())]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise self._bad(1, str(exc)) from None
        if missing:
            raise UsageError(
                f"--resume {self.path} is not a send-bulk result file with row hashes "
                f"(no {', '.join(missing)} column); nothing was sent"
            )
        previous = 0
        while True:
            try:
                record = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise self._bad(reader.line_num, str(exc)) from None
            if record is None:
                return
            try:
                row = int(record["row"] or "")
            except ValueError:
                raise self._bad(reader.line_num, f"row {record['row']!r} is not a number") from None
            status = record["status"] or ""
            digest = record["row_hash"] or ""
            if row <= previous:
                raise self._bad(reader.line_num, "rows are not in ascending order")
            if status not in STATUSES:
                raise self._bad(reader.line_num, f"unknown status {status!r}")
            if not _HASH.fullmatch(digest):
                raise self._bad(reader.line_num, "no row_hash")
            previous = row
            yield ResultLine(
                row,
                record["phone"] or "",
                status,
                record["message_id"] or "",
                record["reason"] or "",
                digest,
            )

    def _bad(self, line: int, problem: str) -> UsageError:
        return UsageError(f"--resume {self.path}, line {line}: {problem}; nothing was sent")

    @classmethod
    def check(cls, path: str) -> int:
        """Read the file whole; returns its highest row number.

        :raises UsageError: it is not a result file this command wrote.
        """
        previous = cls(path)
        try:
            while previous.peek() is not None:
                previous.advance()
        finally:
            previous.close()
        return previous.last_row

    def peek(self) -> ResultLine | None:
        """The next line not yet taken."""
        if self._next is None and not self._done:
            self._next = next(self._lines, None)
            if self._next is None:
                self._done = True
            else:
                self.last_row = self._next.row
        return self._next

    def line_for(self, row: int) -> ResultLine | None:
        """The line of ``row`` if the next one is it (rows are asked for in order)."""
        line = self.peek()
        return line if line is not None and line.row == row else None

    def advance(self) -> None:
        """Take the next line."""
        self.peek()
        self._next = None

    def rest(self) -> Iterator[ResultLine]:
        """The lines not taken yet."""
        while (line := self.peek()) is not None:
            self.advance()
            yield line

    def close(self) -> None:
        """Close the file."""
        self._handle.close()
