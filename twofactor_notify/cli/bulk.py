"""``send-bulk``: a CSV file of messages, streamed through the bulk endpoint in chunks.

Rows are read lazily and sent a chunk at a time (``Transport.iter_bulk``), so a file of
millions of rows needs the memory of one chunk. Each row's outcome goes to the result file
as soon as its chunk is answered.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from ..models import BulkMessage, BulkResult
from ..validation import MAX_BULK_CHUNK
from .connection import make_transport
from .console import Console, mask_number
from .errors import EXIT_FAILURE, EXIT_OK, CommandError, UsageError
from .progress import ProgressBar

__all__ = ["COLUMNS", "RESULT_COLUMNS", "CSVFormatError", "register"]

#: The columns of the input file, in the order used when it has no header row.
COLUMNS = ("phone", "text", "sender", "callback_value1", "callback_value2")
#: The columns of the result file.
RESULT_COLUMNS = ("row", "phone", "status", "message_id", "reason")
_SHOWN_PROBLEMS = 10
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script: phone numbers have none


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
        "of up to 1000. Exits 0 when every row was accepted, 1 otherwise.",
    )
    bulk.add_argument("file", metavar="FILE.csv", help="the messages ('-' reads stdin)")
    bulk.add_argument("--sender", metavar="ID", help="sender id for rows that name none")
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
        data = self.raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.consumed += size
        return size


@dataclass(slots=True)
class _Row:
    number: int
    phone: str


@dataclass(slots=True)
class _Tally:
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + self.rejected + self.failed

    def counters(self) -> str:
        return (
            f"{self.total} rows  {self.accepted} accepted  {self.rejected} rejected  "
            f"{self.failed} failed"
        )

    def note(self, row: _Row, status: str, reason: str) -> None:
        if len(self.problems) < _SHOWN_PROBLEMS:
            self.problems.append((row.number, row.phone, status, reason))


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
        self.pending: dict[int, _Row] = {}  # stream index -> row, until its chunk is answered
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

    def __iter__(self) -> Iterator[BulkMessage]:
        for number, values in self.rows():
            phone = values.get("phone", "")
            self.pending[number - 1] = _Row(number, phone)
            yield BulkMessage(
                to=phone,
                text=values.get("text", ""),
                sender=values.get("sender") or self.default_sender or "",
                callback_value1=values.get("callback_value1") or None,
                callback_value2=values.get("callback_value2") or None,
            )


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


def _check_result_path(result: str | None, source: str) -> None:
    """Refuse a result file that is the input file (writing it would destroy the input)."""
    if result is None or source == "-":
        return
    same = os.path.realpath(result) == os.path.realpath(source)
    if not same and os.path.exists(result):
        try:
            same = os.path.samefile(result, source)
        except OSError:
            same = False
    if same:
        raise UsageError(f"--result {result} is the input file: choose another file")


def _validate_file(path: str, args: argparse.Namespace) -> int:
    """Read a whole regular file once before anything is sent; returns its row count.

    A malformed file is refused up front (exit 2), so a bad quote near the end of a big file
    cannot stop a send half way. Memory stays flat: rows are only counted.
    """
    source, _, _ = _open_input(path)
    with _text(source) as text:
        try:
            messages = _CSVMessages(text, args.sender, path, allow_newlines=args.allow_newlines)
            return sum(1 for _ in messages.rows())
        except CSVFormatError as exc:
            raise UsageError(f"{exc.message}; nothing was sent") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path} is not a readable UTF-8 CSV file: {exc}") from None


class _ResultFile:
    """The ``--result`` file, written to a temporary file beside it and renamed into place
    at the end: the file named is replaced only when there is something to put there, and
    never left half-truncated by a command that failed before sending."""

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
        self.writer.writeheader()

    def flush(self) -> None:
        self.handle.flush()

    def finish(self, keep: bool) -> None:
        """Close; rename into place when ``keep``, else remove the temporary file."""
        self.handle.close()
        if keep:
            os.replace(self.temp, self.path)
        else:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)


def _record(
    result: BulkResult,
    messages: _CSVMessages,
    tally: _Tally,
    writer: csv.DictWriter[str] | None,
) -> None:
    """Write one chunk's outcomes, in row order, and forget those rows."""
    outcomes: dict[int, tuple[str, str, str]] = {}  # index -> status, message id, reason
    for a in result.accepted:
        outcomes[a.index] = ("accepted", a.message_id, "")
    for r in result.rejected:
        outcomes.setdefault(r.index, ("rejected", "", r.reason))
    for failure in result.failed_chunks:
        reason = f"{failure.error}: {failure.message}"
        if failure.outcome_unknown and "may have" not in failure.message.lower():
            reason += " (may have been sent: check delivery reports before sending again)"
        for i in range(failure.start, failure.start + failure.count):
            outcomes.setdefault(i, ("failed", "", reason))  # a local rejection stays one
    for index in sorted(outcomes):
        status, message_id, reason = outcomes[index]
        row = messages.pending.pop(index, None) or _Row(index + 1, "")
        if status == "accepted":
            tally.accepted += 1
        else:
            if status == "rejected":
                tally.rejected += 1
            else:
                tally.failed += 1
            tally.note(row, status, reason)
        if writer is not None:
            writer.writerow(
                {
                    "row": row.number,
                    "phone": row.phone,
                    "status": status,
                    "message_id": message_id,
                    "reason": reason,
                }
            )


def run_send_bulk(args: argparse.Namespace) -> int:
    """Check the file, then stream it through ``iter_bulk`` and report every row."""
    console = Console(as_json=args.json)
    name = "stdin" if args.file == "-" else args.file
    _check_result_path(args.result, args.file)
    source, size, regular = _open_input(args.file)
    text = _text(source)
    tally = _Tally()
    result: _ResultFile | None = None
    finished = False
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
            if regular:
                _validate_file(args.file, args)
            if args.result is not None:
                result = _ResultFile(args.result)
            writer = result.writer if result is not None else None
            progress = ProgressBar.for_terminal(size, quiet=args.quiet)
            try:
                for chunk in transport.iter_bulk(messages, chunk_size=args.chunk_size):
                    _record(chunk, messages, tally, writer)
                    if result is not None:
                        result.flush()  # a crash later keeps what was reported
                    progress.update(source.consumed, tally.counters())
            except (CSVFormatError, UnicodeDecodeError) as exc:
                progress.finish(tally.counters())
                problem = exc.message if isinstance(exc, CSVFormatError) else str(exc)
                raise CommandError(
                    f"stopped: {problem}. The {tally.total} rows before it were sent "
                    "and reported; nothing after it was sent"
                    + (f" (see {args.result})" if args.result else "")
                ) from None
            progress.finish(tally.counters())
        finished = True
    finally:
        text.close()
        if result is not None:
            # keep partial results: they say which rows went (never resend those blindly)
            result.finish(keep=finished or tally.total > 0)
    _report(console, tally, args.result)
    return EXIT_OK if tally.rejected == tally.failed == 0 else EXIT_FAILURE


def _report(console: Console, tally: _Tally, result_path: str | None) -> None:
    console.json(
        {
            "total": tally.total,
            "accepted": tally.accepted,
            "rejected": tally.rejected,
            "failed": tally.failed,
            "problems": [
                {"row": row, "phone": phone, "status": status, "reason": reason}
                for row, phone, status, reason in tally.problems
            ],
            "result_file": result_path,
        }
    )
    console.line(f"{console.mark(True)} {tally.accepted} of {tally.total} rows accepted")
    if tally.rejected:
        console.line(f"{console.mark(False)} {tally.rejected} rejected")
    if tally.failed:
        console.line(f"{console.mark(False)} {tally.failed} failed (whole requests failed)")
    for row, phone, status, reason in tally.problems:
        shown = mask_number(phone) if phone else "(no number)"
        console.line(f"    row {row:<6} {shown:<16} {status}: {reason}")
    hidden = tally.rejected + tally.failed - len(tally.problems)
    if hidden > 0:
        console.line(f"    ... and {hidden} more" + ("" if result_path else " (use --result)"))
    if result_path:
        console.line(f"  results written to {result_path}")
