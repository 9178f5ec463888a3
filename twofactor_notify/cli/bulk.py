"""``send-bulk``: a CSV file of messages, streamed through the bulk endpoint in chunks.

Rows are read lazily and sent a chunk at a time, so a file of millions of rows needs the
memory of one chunk. Each row's outcome goes to the result file as soon as its chunk is
answered; the result file (:mod:`.results`) is what ``--resume`` reads to send only what did
not go. SIGINT and SIGTERM (:mod:`.interrupt`) end a run with that file complete.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from ..errors import TwoFactorError
from ..models import BulkMessage, BulkResult
from ..redaction import redact
from ..transport import Transport
from ..validation import MAX_BULK_CHUNK
from .connection import make_transport
from .console import Console, mask_number
from .errors import EXIT_FAILURE, EXIT_OK, EXIT_OUTCOME_UNKNOWN, CommandError, UsageError
from .interrupt import Interrupted, SignalGuard, interruption
from .options import option_type
from .progress import ProgressBar
from .results import (
    ACCEPTED,
    FAILED,
    REJECTED,
    RESULT_COLUMNS,
    UNKNOWN,
    PreviousResults,
    ResultFile,
    ResultLine,
    check_result_path,
    row_hash,
)

__all__ = ["COLUMNS", "RESULT_COLUMNS", "CSVFormatError", "InputChangedError", "register"]

#: The columns of the input file, in the order used when it has no header row.
COLUMNS = ("phone", "text", "sender", "callback_value1", "callback_value2")
_SHOWN_PROBLEMS = 10
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script: phone numbers have none
# Rows waiting for their chunk (settled rows of a --resume file queue behind the first row
# to send): a chunk goes early rather than let them grow without bound.
_MAX_WAITING = 10 * MAX_BULK_CHUNK


def _chunk_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_BULK_CHUNK:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_BULK_CHUNK}")
    return value


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    """Add the ``send-bulk`` command."""
    bulk = commands.add_parser(
        "send-bulk",
        parents=[parent],
        help="send the messages of a CSV file through the bulk endpoint",
        description="Send every row of a CSV file (columns: phone,text[,sender,"
        "callback_value1,callback_value2]; a header row naming them is optional) in chunks "
        "of up to 1000. Exits 0 when every row was accepted, 3 when some may or may not have "
        "been sent, 1 otherwise; 130/143 when interrupted (the result file is still written).",
    )
    bulk.add_argument("file", metavar="FILE.csv", help="the messages ('-' reads stdin)")
    bulk.add_argument(
        "--sender",
        metavar="ID",
        type=option_type("sender"),
        help="sender id for rows that name none",
    )
    bulk.add_argument(
        "--result", metavar="FILE.csv", help="write each row's outcome (row,phone,status,...)"
    )
    bulk.add_argument(
        "--chunk-size",
        metavar="N",
        type=_chunk_size,
        default=MAX_BULK_CHUNK,
        help=f"messages per request (1-{MAX_BULK_CHUNK}, default {MAX_BULK_CHUNK})",
    )
    bulk.add_argument(
        "--allow-newlines",
        action="store_true",
        help="accept line breaks inside (quoted) fields; refused by default because an "
        "unbalanced quote makes one field of the rows after it",
    )
    bulk.add_argument(
        "--resume",
        metavar="RESULT.csv",
        help="the result file of an earlier run of the same input: send only the rows it "
        "does not record as accepted or of unknown outcome (it is updated in place unless "
        "--result names another file)",
    )
    bulk.add_argument(
        "--resend-unknown",
        action="store_true",
        help="with --resume, send again the rows of unknown outcome: they may have been "
        "sent already, and then their recipients get them twice",
    )
    bulk.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    bulk.set_defaults(handler=run_send_bulk)


class _CountingReader(io.RawIOBase):
    """A binary reader that counts the bytes read, for the progress bar."""

    def __init__(self, raw: BinaryIO, *, owns: bool) -> None:
        super().__init__()
        self.raw = raw
        self.owns = owns
        self.consumed = 0

    def close(self) -> None:
        if self.owns and not self.closed:
            self.raw.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        # read1: what is there (at most one read of the source), so rows piped in slowly are
        # sent as they come, not once a whole buffer has filled
        raw = self.raw
        size = len(buffer)
        data = raw.read1(size) if isinstance(raw, io.BufferedIOBase) else raw.read(size)
        size = len(data)
        buffer[:size] = data
        self.consumed += size
        return size


class CSVFormatError(Exception):
    """The input is not a CSV file this command can trust (bad quoting, a line break in a
    field, more fields than columns...): sending stops before the row that shows it."""

    def __init__(self, message: str, *, row: int) -> None:
        super().__init__(message)
        self.message = message
        #: The data row (1-based, header and blank lines not counted) where it was found.
        self.row = row


class _CSVMessages:
    """Iterates a CSV file as :class:`BulkMessage` objects, remembering each one's row.

    Parsing is strict (``csv.Error`` on a stray quote), and a line break inside a field is
    refused unless ``allow_newlines``: a quote left open swallows the rows after it into one
    field, and those rows (other people's messages) would go to one recipient.
    """

    def __init__(
        self,
        stream: IO[str],
        default_sender: str | None,
        name: str,
        *,
        allow_newlines: bool = False,
    ) -> None:
        self.reader = csv.reader(stream, strict=True)
        self.default_sender = default_sender
        self.name = name
        self.allow_newlines = allow_newlines
        self.columns: tuple[str, ...] = COLUMNS
        self._rows = 0
        self._first = self._read_header()
        self.check_sender()

    def _next_record(self) -> list[str] | None:
        try:
            for record in self.reader:
                if any(cell.strip() for cell in record):
                    return record
        except csv.Error as exc:
            raise CSVFormatError(
                f"{self.name}, row {self._rows + 1} (line {self.reader.line_num}): {exc} "
                "(a stray or unbalanced quote?)",
                row=self._rows + 1,
            ) from None
        return None

    def _read_header(self) -> list[str] | None:
        first = self._next_record()
        if first is None:
            raise UsageError(f"{self.name} has no rows")
        names = [cell.strip().lower() for cell in first]
        if not (_LETTER.search(names[0]) or any(n in COLUMNS for n in names)):
            return first  # a data row: the columns are COLUMNS, in order
        accepted = (
            f"accepted columns: {','.join(COLUMNS)} (phone and text required; "
            "the header row may be left out when the columns are in that order)"
        )
        unknown = [n or "(blank)" for n in names if n not in COLUMNS]
        if unknown:
            raise UsageError(
                f"{self.name}: the first row looks like a header, but "
                f"{', '.join(unknown)} is not a column name; {accepted}"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UsageError(f"{self.name}: column(s) named twice: {', '.join(repeated)}")
        missing = [n for n in ("phone", "text") if n not in names]
        if missing:
            raise UsageError(
                f"{self.name}: the header has no {' or '.join(missing)} column; {accepted}"
            )
        self.columns = tuple(names)
        return None

    def check_sender(self) -> None:
        """Refuse a file without senders when no ``--sender`` was given."""
        if self.default_sender is None and "sender" not in self.columns:
            raise UsageError(f"give --sender, or a sender column in {self.name}")

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """``(row number, values by column)`` of every data row, checked.

        :raises CSVFormatError: at the first row that shows the file is malformed.
        """
        line = self.reader.line_num
        record = self._first
        if record is None:
            record = self._next_record()
        width = len(self.columns)
        while record is not None:
            self._rows += 1
            if len(record) > width and any(cell.strip() for cell in record[width:]):
                raise CSVFormatError(
                    f"{self.name}, row {self._rows} (line {line + 1}): {len(record)} fields, "
                    f"but the file has {width} columns ({','.join(self.columns)})",
                    row=self._rows,
                )
            if self.default_sender is None and not _value(record, self.columns, "sender"):
                raise CSVFormatError(
                    f"{self.name}, row {self._rows} (line {line + 1}): no sender: the row's "
                    "sender is empty and no --sender was given",
                    row=self._rows,
                )
            if not self.allow_newlines and any("\n" in cell or "\r" in cell for cell in record):
                raise CSVFormatError(
                    f"{self.name}, row {self._rows} (line {line + 1}): a field holds a line "
                    "break, usually a quote left open that swallowed the rows after it; fix "
                    "the file, or pass --allow-newlines if the line breaks are meant",
                    row=self._rows,
                )
            yield (
                self._rows,
                {name: record[i].strip() for i, name in enumerate(self.columns) if i < len(record)},
            )
            line = self.reader.line_num
            record = self._next_record()


def _value(record: list[str], columns: tuple[str, ...], name: str) -> str:
    """The stripped value of column ``name`` in ``record`` (``""`` when absent)."""
    if name not in columns:
        return ""
    index = columns.index(name)
    return record[index].strip() if index < len(record) else ""


def _open_input(path: str) -> tuple[_CountingReader, int | None, bool]:
    """The input as a counting reader, its size (if known) and whether it is a regular file
    (one that can be read twice)."""
    if path == "-":
        return _CountingReader(sys.stdin.buffer, owns=False), None, False
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the wrapper
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(raw.fileno())
    except OSError:
        return _CountingReader(raw, owns=True), None, False
    regular = stat.S_ISREG(info.st_mode)
    return _CountingReader(raw, owns=True), info.st_size if regular else None, regular


def _text(source: _CountingReader) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedReader(source), encoding="utf-8-sig", newline="")


def _check_not_input(option: str, path: str | None, source: str) -> None:
    """Refuse ``--result`` or ``--resume`` naming the input file (writing it would destroy
    the input)."""
    if path is None or source == "-":
        return
    same = os.path.realpath(path) == os.path.realpath(source)
    if not same and os.path.exists(path):
        try:
            same = os.path.samefile(path, source)
        except OSError:
            same = False
    if same:
        raise UsageError(f"{option} {path} is the input file: choose another file")


class InputChangedError(Exception):
    """A row of the input is not the row the ``--resume`` file recorded under its number."""

    def __init__(self, name: str, row: int, resume: str) -> None:
        self.row = row
        self.message = (
            f"{name} row {row} is not the row {resume} recorded as row {row} (its content "
            "differs): resume with the same input, rows unchanged and in the same order"
        )
        super().__init__(self.message)


class InputShorterError(InputChangedError):
    """The input ended before rows the ``--resume`` file records (checked at the end of
    stdin; a regular file is refused before anything is sent)."""

    def __init__(self, name: str, last: int, resume: str, unseen: int) -> None:
        Exception.__init__(self)
        self.row = last + 1
        self.message = (
            f"{name} ended after row {last}, but {resume} records {unseen} row(s) beyond it: "
            "resume with the same input (their lines are kept in the result file)"
        )
        self.args = (self.message,)


def _validate_file(path: str, args: argparse.Namespace) -> None:
    """Read a whole regular file once before anything is sent.

    A malformed file is refused up front (exit 2), so a bad quote near the end of a big file
    cannot stop a send half way; with ``--resume``, so is an input whose rows are not the
    ones the result file recorded. Memory stays flat: rows are only compared and counted.
    """
    source, _, _ = _open_input(path)
    previous = PreviousResults(args.resume) if args.resume else None
    rows = 0
    try:
        with _text(source) as text:
            messages = _CSVMessages(text, args.sender, path, allow_newlines=args.allow_newlines)
            for rows, values in messages.rows():
                if previous is None:
                    continue
                line = previous.line_for(rows)
                if line is not None:
                    if line.row_hash != row_hash(values):
                        raise InputChangedError(path, rows, args.resume)
                    previous.advance()
            if previous is not None and previous.peek() is not None:
                raise UsageError(
                    f"{args.resume} records rows beyond row {rows}, the last of {path}: "
                    "resume with the same input; nothing was sent"
                )
    except CSVFormatError as exc:
        raise UsageError(f"{exc.message}; nothing was sent") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not a readable UTF-8 CSV file: {exc}") from None
    except InputChangedError as exc:
        raise UsageError(f"{exc.message}; nothing was sent") from None
    finally:
        if previous is not None:
            previous.close()


@dataclass(slots=True)
class _Entry:
    """A row read from the input, until its line is written."""

    number: int
    phone: str
    digest: str
    previous: ResultLine | None  # its line in the --resume file
    message: BulkMessage | None  # None: settled by the earlier run, not sent again


@dataclass(slots=True)
class _Tally:
    """What this run did (``accepted``... ``unknown``) and what it carried over unsent."""

    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    unknown: int = 0
    kept_accepted: int = 0
    kept_unknown: int = 0
    problems: list[ResultLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows sent (or attempted) by this run."""
        return self.accepted + self.rejected + self.failed + self.unknown

    @property
    def skipped(self) -> int:
        """Rows of the ``--resume`` file not sent again."""
        return self.kept_accepted + self.kept_unknown

    def counters(self) -> str:
        text = (
            f"{self.total} rows  {self.accepted} accepted  {self.rejected} rejected  "
            f"{self.failed} failed"
        )
        if self.unknown:
            text += f"  {self.unknown} unknown"
        if self.skipped:
            text += f"  {self.skipped} skipped"
        return text

    def count(self, line: ResultLine) -> None:
        if line.status == ACCEPTED:
            self.accepted += 1
            return
        if line.status == REJECTED:
            self.rejected += 1
        elif line.status == FAILED:
            self.failed += 1
        else:
            self.unknown += 1
        if len(self.problems) < _SHOWN_PROBLEMS:
            self.problems.append(line)

    def exit_code(self) -> int:
        """0 every row accepted (now or before), 3 some outcome unknown, else 1."""
        if self.unknown or self.kept_unknown:
            return EXIT_OUTCOME_UNKNOWN
        return EXIT_OK if self.rejected == self.failed == 0 else EXIT_FAILURE


def _outcomes(result: BulkResult) -> dict[int, tuple[str, str, str]]:
    """Each index's ``(status, message id, reason)`` in one chunk's result."""
    outcomes: dict[int, tuple[str, str, str]] = {}
    for a in result.accepted:
        outcomes[a.index] = (ACCEPTED, a.message_id, "")
    for r in result.rejected:
        outcomes.setdefault(r.index, (REJECTED, "", r.reason))
    for failure in result.failed_chunks:
        reason = f"{failure.error}: {failure.message}"
        status = FAILED
        if failure.outcome_unknown:
            status = UNKNOWN
            if "may have" not in failure.message.lower():
                reason += " (may have been sent"
                reason += ": check delivery reports before sending again)"
        for i in range(failure.start, failure.start + failure.count):
            outcomes.setdefault(i, (status, "", reason))  # a local rejection stays one
    return outcomes


class _BulkRun:
    """The rows of one ``send-bulk`` run, from the input to the result file.

    Rows wait in :attr:`buffer` (in row order) until their chunk is answered; then their
    lines are written, in a critical section that a signal cannot cut. When the run ends
    early, :meth:`abandon` writes what is known about the rows still waiting.
    """

    def __init__(self, args: argparse.Namespace, name: str, guard: SignalGuard) -> None:
        self.args = args
        self.name = name
        self.guard = guard
        self.tally = _Tally()
        self.buffer: list[_Entry] = []
        self.in_flight = False  # the buffer's messages are (or may be) on their way
        self.output: ResultFile | None = None
        self.previous: PreviousResults | None = None
        self.rows_read = 0
        self.first_unsent: int | None = None  # set by abandon: rows from here were not sent

    def open(self, result_path: str | None) -> None:
        """Open the ``--resume`` file to read and the result file to write."""
        if self.args.resume:
            self.previous = PreviousResults(self.args.resume)
        if result_path is not None:
            self.output = ResultFile(result_path)

    def entries(self, messages: _CSVMessages) -> Iterator[_Entry]:
        """The input's rows, each with its line in the ``--resume`` file, if any."""
        for number, values in messages.rows():
            digest = row_hash(values)
            previous = None
            if self.previous is not None:
                previous = self.previous.line_for(number)
                if previous is not None:
                    if previous.row_hash != digest:
                        raise InputChangedError(self.name, number, self.args.resume)
                    self.previous.advance()
            message = None
            if previous is not None and previous.status == ACCEPTED:
                self.tally.kept_accepted += 1
            elif (
                previous is not None and previous.status == UNKNOWN and not self.args.resend_unknown
            ):
                self.tally.kept_unknown += 1
            else:
                message = BulkMessage(
                    to=values.get("phone", ""),
                    text=values.get("text", ""),
                    sender=values.get("sender") or self.args.sender or "",
                    callback_value1=values.get("callback_value1") or None,
                    callback_value2=values.get("callback_value2") or None,
                )
            self.rows_read = number
            yield _Entry(number, values.get("phone", ""), digest, previous, message)

    def send_all(
        self,
        transport: Transport,
        messages: _CSVMessages,
        progress: ProgressBar,
        source: _CountingReader,
    ) -> None:
        """Read every row, send the ones to send a chunk at a time, write every line."""
        waiting = 0  # messages in the buffer
        for entry in self.entries(messages):
            if entry.message is None and waiting == 0:
                with self.guard.critical():
                    self._write(entry.previous)  # settled before, nothing ahead of it
                continue
            self.buffer.append(entry)
            if entry.message is not None:
                waiting += 1
            if waiting == self.args.chunk_size or len(self.buffer) >= _MAX_WAITING:
                self._send(transport)
                waiting = 0
                progress.update(source.consumed, self.tally.counters())
        if waiting:
            self._send(transport)
        with self.guard.critical():
            for entry in self.buffer:
                self._write(entry.previous)
            self.buffer.clear()
            unseen = 0
            if self.previous is not None:  # rows of the old file the input does not have
                for line in self.previous.rest():
                    self._write(line)  # kept: the record of them must not be lost
                    unseen += 1
        if unseen:
            # (a regular file is checked whole before sending; stdin only now, at its end)
            raise InputShorterError(self.name, self.rows_read, self.args.resume, unseen)

    def _send(self, transport: Transport) -> None:
        """Send the buffer's messages as one request and write the buffer's lines."""
        with self.guard.critical():
            self.in_flight = True
        sent = [e for e in self.buffer if e.message is not None]
        outcomes: dict[int, tuple[str, str, str]] = {}
        batch = [e.message for e in sent if e.message is not None]
        for result in transport.iter_bulk(batch, chunk_size=len(batch)):
            outcomes.update(_outcomes(result))
        with self.guard.critical():
            missing = (UNKNOWN, "", "2Factor's answer did not mention it (may have been sent)")
            decided = {id(e): outcomes.get(i, missing) for i, e in enumerate(sent)}
            for entry in self.buffer:
                if entry.message is None:
                    self._write(entry.previous)
                    continue
                status, message_id, reason = decided[id(entry)]
                line = ResultLine(
                    entry.number, entry.phone, status, message_id, reason, entry.digest
                )
                self.tally.count(line)
                self._write(line)
            self.buffer.clear()
            self.in_flight = False
            if self.output is not None:
                self.output.flush()  # a crash later keeps what was reported

    def _write(self, line: ResultLine | None) -> None:
        if line is None:
            return
        if self.output is not None:
            self.output.write(line)

    def abandon(self, stop: BaseException) -> None:
        """The run ends early: write the lines of the rows still waiting, then the lines of
        the ``--resume`` file it never reached, so the result file stays complete.

        A chunk in flight is written ``unknown``, unless ``stop`` is an error that says
        it was not sent (a refused key, a plugin's refusal...).
        """
        not_sent = isinstance(stop, TwoFactorError) and not stop.outcome_unknown
        if self.in_flight and not not_sent:
            if isinstance(stop, Interrupted):
                what = f"interrupted by {stop.name}"
            else:
                what = f"stopped by {type(stop).__name__}"
            reason = (
                f"{what} while its request was in flight: it may have been sent, so it is "
                "not sent again on --resume (check delivery reports; --resend-unknown)"
            )
            for entry in self.buffer:
                if entry.message is None:
                    self._write(entry.previous)
                    continue
                line = ResultLine(entry.number, entry.phone, UNKNOWN, "", reason, entry.digest)
                self.tally.count(line)
                self._write(line)
        else:
            for entry in self.buffer:
                if entry.message is not None and self.first_unsent is None:
                    self.first_unsent = entry.number
                self._write(entry.previous)
        self.buffer.clear()
        self.in_flight = False
        if self.first_unsent is None:
            self.first_unsent = self.rows_read + 1
        if self.previous is not None:
            for line in self.previous.rest():
                self._write(line)

    def close(self, keep: bool) -> None:
        """Close the files; the result file is renamed into place when ``keep``."""
        if self.previous is not None:
            self.previous.close()
        if self.output is not None:
            self.output.finish(keep)


def run_send_bulk(args: argparse.Namespace) -> int:
    """Check the file, then stream it in chunks and report every row.

    SIGINT and SIGTERM end the run at once; the result file is still written (atomically)
    with every row answered so far and the chunk in flight marked ``unknown``.
    """
    console = Console(as_json=args.json)
    name = "stdin" if args.file == "-" else args.file
    result_path = args.result if args.result is not None else args.resume
    if args.resend_unknown and not args.resume:
        raise UsageError("--resend-unknown goes with --resume")
    _check_not_input("--resume", args.resume, args.file)
    _check_not_input("--result", args.result, args.file)
    if result_path is not None:  # refused now, not after every row went
        check_result_path(result_path, "--result" if args.result is not None else "--resume")
    with SignalGuard() as guard:
        run = _BulkRun(args, name, guard)
        try:
            try:
                stop = _send_bulk(args, name, run, result_path)
            except CommandError:
                raise
            except BaseException as exc:
                # an error CPython made of the guard's signal is the interruption
                signal_stop = interruption(exc, guard)
                if not isinstance(signal_stop, Interrupted) or signal_stop is exc:
                    raise
                raise signal_stop from None
        except Interrupted as exc:
            if run.output is None and run.tally.total == 0:
                raise _exit(exc.exit_code, f"interrupted by {exc.name}; nothing was sent") from None
            stop = exc
        except TwoFactorError:
            # a refused key, a plugin's refusal...: the error line comes from the caller,
            # but what went is said here, once sending had started
            if run.first_unsent is not None:
                _report(console, run.tally, result_path, not_sent_from=run.first_unsent)
            raise
        except CommandError:
            raise
        except Exception as exc:
            if run.first_unsent is None:  # stopped before anything could be sent
                raise
            # a plugin's crash, a failing disk...: rows may have gone (the chunk in flight
            # is written unknown), so never exit 1, which a script may retry
            _report(console, run.tally, result_path, not_sent_from=run.first_unsent)
            raise _exit(
                EXIT_OUTCOME_UNKNOWN,
                f"stopped by {type(exc).__name__}: {redact(str(exc))[:200]}; the rows in "
                "flight are recorded as unknown"
                + (f" in {result_path}" if result_path else "")
                + " (outcome unknown: check delivery reports before sending them again)",
            ) from None
    _report(console, run.tally, result_path)
    if stop is None:
        return run.tally.exit_code()
    raise _stopped(stop, run, result_path)


def _send_bulk(
    args: argparse.Namespace, name: str, run: _BulkRun, result_path: str | None
) -> BaseException | None:
    """The run itself; returns what stopped it early (an interruption, a bad input row) or
    ``None`` when every row was read. Any other error propagates, after the result file is
    written."""
    source, size, regular = _open_input(args.file)
    text = _text(source)
    opened = False
    try:
        try:
            messages = _CSVMessages(text, args.sender, name, allow_newlines=args.allow_newlines)
        except CSVFormatError as exc:
            raise UsageError(f"{exc.message}; nothing was sent") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{name} is not a readable UTF-8 CSV file: {exc}") from None
        # Keys first (a missing key must not cost the old result file), then the whole file
        # is checked, then the result file is opened: nothing is sent before all of that.
        with make_transport(args) as transport:
            if args.resume:
                PreviousResults.check(args.resume)
            if regular:
                _validate_file(args.file, args)
            progress = ProgressBar.for_terminal(size, quiet=args.quiet)
            try:
                with run.guard.critical():  # no temporary file left unnamed by a signal
                    run.open(result_path)
                    opened = True
                run.send_all(transport, messages, progress, source)
            except BaseException as exc:
                run.guard.hold()  # write what is known; a second Ctrl-C cannot cut it
                progress.stop(run.tally.counters())
                stop = interruption(exc, run.guard) or exc
                run.abandon(stop)
                if isinstance(stop, (Interrupted, CSVFormatError, InputChangedError)):
                    return stop
                if isinstance(stop, UnicodeDecodeError):
                    return stop
                raise
            run.guard.hold()
            progress.finish(run.tally.counters())
        return None
    finally:
        run.guard.hold()
        text.close()
        # Once sending may have started, every exit path puts the result file in place.
        run.close(keep=opened)


def _exit(code: int, message: str) -> CommandError:
    error = CommandError(message)
    error.exit_code = code
    return error


def _stopped(stop: BaseException, run: _BulkRun, result_path: str | None) -> CommandError:
    """The error line of a run that ended early."""
    tally = run.tally
    where = f" (in {result_path})" if result_path else ""
    unsent = f"nothing from row {run.first_unsent} on was sent" if run.first_unsent else ""
    if isinstance(stop, Interrupted):
        parts = [f"interrupted by {stop.name}: {tally.total} rows were sent and reported{where}"]
        if tally.unknown:
            parts.append(
                f"{tally.unknown} of them (the request in flight) may or may not have gone"
            )
        if unsent:
            parts.append(unsent)
        if result_path:
            parts.append(f"to send the rest, run the same command with --resume {result_path}")
        else:
            parts.append("no --result file was given, so there is no record to resume from")
        return _exit(stop.exit_code, "; ".join(parts))
    problem = stop.message if isinstance(stop, (CSVFormatError, InputChangedError)) else str(stop)
    return CommandError(
        f"stopped: {problem}. The {tally.total} rows before it were sent and reported{where}"
        + (f"; {unsent}" if unsent else "")
    )


def _report(
    console: Console, tally: _Tally, result_path: str | None, *, not_sent_from: int | None = None
) -> None:
    console.json(
        {
            "total": tally.total,
            "accepted": tally.accepted,
            "rejected": tally.rejected,
            "failed": tally.failed,
            "unknown": tally.unknown,
            "skipped": tally.skipped,
            "problems": [
                {"row": p.row, "phone": p.phone, "status": p.status, "reason": p.reason}
                for p in tally.problems
            ],
            "result_file": result_path,
        }
    )
    console.line(f"{console.mark(True)} {tally.accepted} of {tally.total} rows accepted")
    if tally.rejected:
        console.line(f"{console.mark(False)} {tally.rejected} rejected")
    if tally.failed:
        console.line(
            f"{console.mark(False)} {tally.failed} failed (not sent: whole requests failed)"
        )
    if tally.unknown:
        console.line(
            f"{console.mark(False)} {tally.unknown} outcome unknown (may have been sent: check "
            "delivery reports before sending them again)"
        )
    if tally.skipped:
        console.line(
            f"  {tally.skipped} rows not sent again (--resume): {tally.kept_accepted} accepted "
            f"before, {tally.kept_unknown} of unknown outcome"
            + (" (--resend-unknown sends those)" if tally.kept_unknown else "")
        )
    for p in tally.problems:
        shown = mask_number(p.phone) if p.phone else "(no number)"
        console.line(f"    row {p.row:<6} {shown:<16} {p.status}: {p.reason}")
    hidden = tally.rejected + tally.failed + tally.unknown - len(tally.problems)
    if hidden > 0:
        console.line(f"    ... and {hidden} more" + ("" if result_path else " (use --result)"))
    if not_sent_from is not None:
        console.line(f"  stopped: nothing from row {not_sent_from} on was sent")
    if result_path:
        console.line(f"  results written to {result_path}")
