"""``send-bulk``: a CSV file of messages, streamed through the bulk endpoint in chunks.

Rows are read lazily and sent a chunk at a time (``Transport.iter_bulk``), so a file of
millions of rows needs the memory of one chunk. Each row's outcome goes to the result file
as soon as its chunk is answered.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from ..models import BulkMessage, BulkResult
from ..validation import MAX_BULK_CHUNK
from .connection import make_transport
from .console import Console, mask_number
from .errors import EXIT_FAILURE, EXIT_OK, CommandError, UsageError
from .progress import ProgressBar

__all__ = ["COLUMNS", "RESULT_COLUMNS", "register"]

#: The columns of the input file, in the order used when it has no header row.
COLUMNS = ("phone", "text", "sender", "callback_value1", "callback_value2")
#: The columns of the result file.
RESULT_COLUMNS = ("row", "phone", "status", "message_id", "reason")
_SHOWN_PROBLEMS = 10


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


class _CSVMessages:
    """Iterates a CSV file as :class:`BulkMessage` objects, remembering each one's row."""

    def __init__(self, stream: IO[str], default_sender: str | None, name: str) -> None:
        self.reader = csv.reader(stream)
        self.default_sender = default_sender
        self.name = name
        self.pending: dict[int, _Row] = {}  # stream index -> row, until its chunk is answered
        self.columns: tuple[str, ...] = COLUMNS
        self._first = self._read_header()

    def _next_record(self) -> list[str] | None:
        for record in self.reader:
            if any(cell.strip() for cell in record):
                return record
        return None

    def _read_header(self) -> list[str] | None:
        first = self._next_record()
        if first is None:
            raise UsageError(f"{self.name} has no rows")
        names = [cell.strip().lower() for cell in first]
        if "phone" in names and "text" in names:
            unknown = [n for n in names if n not in COLUMNS]
            if unknown:
                raise UsageError(
                    f"{self.name}: unknown column(s) {', '.join(unknown)}; "
                    f"expected {','.join(COLUMNS)}"
                )
            self.columns = tuple(names)
            first = None
        if self.default_sender is None and "sender" not in self.columns:
            raise UsageError(f"give --sender, or a sender column in {self.name}")
        return first

    def __iter__(self) -> Iterator[BulkMessage]:
        index = 0
        record = self._first
        if record is None:
            record = self._next_record()
        while record is not None:
            values = {
                name: record[i].strip() for i, name in enumerate(self.columns) if i < len(record)
            }
            phone = values.get("phone", "")
            self.pending[index] = _Row(index + 1, phone)
            yield BulkMessage(
                to=phone,
                text=values.get("text", ""),
                sender=values.get("sender") or self.default_sender or "",
                callback_value1=values.get("callback_value1") or None,
                callback_value2=values.get("callback_value2") or None,
            )
            index += 1
            record = self._next_record()


def _open_input(path: str) -> tuple[_CountingReader, int | None]:
    if path == "-":
        return _CountingReader(sys.stdin.buffer, owns=False), None
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the wrapper
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        size: int | None = os.fstat(raw.fileno()).st_size
    except OSError:
        size = None
    return _CountingReader(raw, owns=True), size


def _open_result(path: str | None) -> tuple[IO[str] | None, csv.DictWriter[str] | None]:
    if path is None:
        return None, None
    try:
        handle = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
    writer.writeheader()
    return handle, writer


def _record(
    result: BulkResult,
    messages: _CSVMessages,
    tally: _Tally,
    writer: csv.DictWriter[str] | None,
) -> None:
    """Write one chunk's outcomes, in row order, and forget those rows."""
    outcomes: list[tuple[int, str, str, str]] = []  # index, status, message id, reason
    outcomes.extend((a.index, "accepted", a.message_id, "") for a in result.accepted)
    outcomes.extend((r.index, "rejected", "", r.reason) for r in result.rejected)
    for failure in result.failed_chunks:
        reason = f"{failure.error}: {failure.message}"
        if failure.outcome_unknown:
            reason += " (may have been sent: check delivery reports before sending again)"
        outcomes.extend(
            (i, "failed", "", reason) for i in range(failure.start, failure.start + failure.count)
        )
    for index, status, message_id, reason in sorted(outcomes):
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
    """Stream the file through ``iter_bulk`` and report every row."""
    console = Console(as_json=args.json)
    source, size = _open_input(args.file)
    text = io.TextIOWrapper(io.BufferedReader(source), encoding="utf-8-sig", newline="")
    result_handle: IO[str] | None = None
    tally = _Tally()
    try:
        name = "stdin" if args.file == "-" else args.file
        try:
            messages = _CSVMessages(text, args.sender, name)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"{name} is not a readable UTF-8 CSV file: {exc}") from None
        result_handle, writer = _open_result(args.result)
        progress = ProgressBar.for_terminal(size, quiet=args.quiet)
        with make_transport(args) as transport:
            try:
                for result in transport.iter_bulk(messages, chunk_size=args.chunk_size):
                    _record(result, messages, tally, writer)
                    if result_handle is not None:
                        result_handle.flush()  # a crash later keeps what was reported
                    progress.update(source.consumed, tally.counters())
            except (csv.Error, UnicodeDecodeError) as exc:
                progress.finish(tally.counters())
                raise CommandError(
                    f"{name}: stopped reading after row {tally.total}: {exc} "
                    f"(the {tally.total} rows before it were sent and reported)"
                ) from None
        progress.finish(tally.counters())
    finally:
        text.close()
        if result_handle is not None:
            result_handle.close()
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
