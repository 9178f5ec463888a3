"""Bulk sends: building ``R1/Bulk`` requests and mapping answers back to the caller's indexes.

The bulk endpoint answers with the accepted messages (``messages``, in request order, without
their index) and the refused ones (``rejectedSamples``, with their 0-based index in the
request). The name "samples" suggests the list may be cut short, so accepted messages are
matched to request positions by order and number, and any position neither accepted nor
reported is returned as rejected "without a reason" rather than silently dropped.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    SendRefusedError,
    TwoFactorError,
)
from .models import (
    BulkAccepted,
    BulkBatch,
    BulkChunkFailure,
    BulkMessage,
    BulkRejection,
    BulkResult,
)
from .phone import bulk_form
from .validation import MAX_BULK_CHUNK, check_bulk_message, coerce_bulk_messages

__all__ = [
    "CheckedChunk",
    "PreparedChunk",
    "background_batches",
    "chunk_failure",
    "collect_bulk_results",
    "iter_chunk_results",
    "merge_bulk_results",
    "note_chunk",
    "note_positions",
    "parse_bulk_answer",
    "prepare_chunk",
    "restore_positions",
    "shift_indexes",
    "split_checked",
]

#: Errors that stop a bulk send: every later chunk would fail the same way.
_FATAL = (AuthenticationError, ConfigurationError, SendRefusedError)

UNMATCHED_REASON = "2Factor's answer does not say whether this message was accepted"


@dataclasses.dataclass(slots=True)
class CheckedChunk:
    """A chunk after the checks: the messages that may go, where they were, what was refused."""

    messages: list[BulkMessage]  # checked (numbers in E.164)
    positions: list[int]  # index in the chunk of each message above
    rejected: list[BulkRejection]  # at their index in the chunk


def split_checked(messages: Sequence[BulkMessage], *, region: str) -> CheckedChunk:
    """Run :func:`~twofactor_notify.validation.check_bulk_message` on each message.

    A refused message becomes a :class:`BulkRejection` whose reason names the field
    (``"text: message text is empty"``); the others go on, in order.
    """
    checked = CheckedChunk(messages=[], positions=[], rejected=[])
    for index, m in enumerate(messages):
        try:
            message = check_bulk_message(m, region=region)
        except InvalidInputError as exc:
            to = getattr(m, "to", "")
            checked.rejected.append(
                BulkRejection(
                    index=index,
                    to=to if isinstance(to, str) else "",
                    reason=f"{exc.field}: {exc.message}",
                )
            )
            continue
        checked.messages.append(message)
        checked.positions.append(index)
    return checked


def restore_positions(result: BulkResult, checked: CheckedChunk) -> BulkResult:
    """``result`` (indexes in ``checked.messages``) with indexes in the chunk, plus the
    messages the checks refused."""
    where = checked.positions
    rejected = [BulkRejection(where[r.index], r.to, r.reason) for r in result.rejected]
    rejected.extend(checked.rejected)
    rejected.sort(key=lambda r: r.index)
    failed = [
        dataclasses.replace(f, start=start, count=count)
        for f in result.failed_chunks
        for start, count in _runs(where[f.start : f.start + f.count])
    ]
    return BulkResult(
        accepted=tuple(BulkAccepted(where[a.index], a.message_id, a.to) for a in result.accepted),
        rejected=tuple(rejected),
        failed_chunks=tuple(failed),
        request_ids=result.request_ids,
    )


def note_positions(exc: TwoFactorError, checked: CheckedChunk) -> TwoFactorError:
    """Like :func:`note_chunk`, for a chunk whose refused messages never left the transport.

    What the client noted (positions within what it was given) is moved to positions in the
    chunk, and the transport's own rejections are added.
    """
    where = checked.positions
    noted: tuple[tuple[int, ...], tuple[BulkRejection, ...]] | None = getattr(
        exc, "_bulk_chunk", None
    )
    positions, rejected = noted if noted is not None else (tuple(range(len(where))), ())
    moved = [BulkRejection(where[r.index], r.to, r.reason) for r in rejected]
    exc._bulk_chunk = (  # type: ignore[attr-defined]
        tuple(where[p] for p in positions),
        tuple(sorted([*moved, *checked.rejected], key=lambda r: r.index)),
    )
    return exc


@dataclasses.dataclass(slots=True)
class PreparedChunk:
    """A chunk split into what goes to 2Factor and what was refused locally."""

    payload: list[dict[str, str]]
    positions: list[int]  # caller index (within the chunk) of each payload entry
    rejected: list[BulkRejection]


def prepare_chunk(messages: Sequence[BulkMessage], *, region: str) -> PreparedChunk:
    """Check each message (the transports' own checks); build the wire entries of the rest."""
    checked = split_checked(messages, region=region)
    payload: list[dict[str, str]] = []
    for m in checked.messages:
        entry = {"smsFrom": m.sender, "smsTo": bulk_form(m.to), "smsText": m.text}
        if m.callback_value1 is not None:
            entry["callback_value1"] = m.callback_value1
        if m.callback_value2 is not None:
            entry["callback_value2"] = m.callback_value2
        if m.callback_format is not None:
            entry["callback_format"] = m.callback_format
        payload.append(entry)
    return PreparedChunk(payload=payload, positions=checked.positions, rejected=checked.rejected)


def parse_bulk_answer(body: Mapping[str, Any], chunk: PreparedChunk) -> BulkResult:
    """Map a successful bulk answer back to indexes within the chunk.

    Refusals carry their request index. Acceptances do not: 2Factor lists them in request
    order. When the acceptances and the refusals account for every message sent, order
    alone places them exactly. Otherwise (``rejectedSamples`` may be a sample, numbers may
    come back masked) only an acceptance whose number matches is placed, and every message
    left unplaced is reported as a failure with ``outcome_unknown``: a guess could call a
    delivered message rejected, and invite a duplicate send.
    """
    accepted_raw = [m for m in _list(body.get("messages")) if isinstance(m, Mapping)]
    rejected = list(chunk.rejected)
    refused: set[int] = set()
    for item in _list(body.get("rejectedSamples")):
        if not isinstance(item, Mapping):
            continue
        sent_index = item.get("index")
        if isinstance(sent_index, int) and 0 <= sent_index < len(chunk.positions):
            refused.add(sent_index)
            rejected.append(
                BulkRejection(
                    index=chunk.positions[sent_index],
                    to=str(item.get("phone", chunk.payload[sent_index]["smsTo"])),
                    reason=str(item.get("reason", "rejected")),
                )
            )
    candidates = [i for i in range(len(chunk.positions)) if i not in refused]
    placed: list[tuple[int, Mapping[str, Any]]] = []
    if len(accepted_raw) == len(candidates):
        placed = list(zip(candidates, accepted_raw, strict=True))
    else:
        cursor = 0
        for item in accepted_raw:
            to = str(item.get("smsTo", ""))
            probe = cursor
            while probe < len(candidates) and chunk.payload[candidates[probe]]["smsTo"] != to:
                probe += 1
            if probe < len(candidates):
                placed.append((candidates[probe], item))
                cursor = probe + 1
    accepted = [
        BulkAccepted(
            index=chunk.positions[sent_index],
            message_id=str(item.get("messageId", "")),
            to=chunk.payload[sent_index]["smsTo"],
        )
        for sent_index, item in placed
    ]
    unplaced = sorted(set(candidates) - {sent_index for sent_index, _ in placed})
    unknown = tuple(
        BulkChunkFailure(
            start=start,
            count=count,
            error="UnmatchedAnswer",
            message=UNMATCHED_REASON,
            outcome_unknown=True,
        )
        for start, count in _runs([chunk.positions[i] for i in unplaced])
    )
    rejected.sort(key=lambda r: r.index)
    request_id = body.get("requestId")
    return BulkResult(
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        failed_chunks=unknown,
        request_ids=(str(request_id),) if request_id else (),
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _runs(positions: Iterable[int]) -> Iterator[tuple[int, int]]:
    """``(start, count)`` of each run of consecutive positions (given in ascending order)."""
    start = count = 0
    for position in positions:
        if count and position == start + count:
            count += 1
            continue
        if count:
            yield start, count
        start, count = position, 1
    if count:
        yield start, count


def shift_indexes(result: BulkResult, offset: int) -> BulkResult:
    """The same result with every index moved by ``offset`` (chunk -> whole stream)."""
    if offset == 0:
        return result
    # Direct construction: dataclasses.replace() costs ~2.5x as much per item, and a bulk
    # stream shifts every accepted message.
    return BulkResult(
        accepted=tuple(BulkAccepted(a.index + offset, a.message_id, a.to) for a in result.accepted),
        rejected=tuple(BulkRejection(r.index + offset, r.to, r.reason) for r in result.rejected),
        failed_chunks=tuple(
            dataclasses.replace(f, start=f.start + offset) for f in result.failed_chunks
        ),
        request_ids=result.request_ids,
    )


def chunk_failure(exc: BaseException, *, start: int, count: int) -> BulkChunkFailure:
    """Describe a request that failed as a whole (the error text is secret-free)."""
    message = exc.message if isinstance(exc, TwoFactorError) else type(exc).__name__
    return BulkChunkFailure(
        start=start,
        count=count,
        error=type(exc).__name__,
        message=message,
        outcome_unknown=isinstance(exc, TwoFactorError) and exc.outcome_unknown,
    )


def note_chunk(exc: TwoFactorError, chunk: PreparedChunk) -> TwoFactorError:
    """Record on ``exc`` which messages of its chunk were sent and which refused locally.

    :func:`iter_chunk_results` reads it, so that a failed request marks only the messages it
    carried as failed, and the ones refused before sending stay rejections.
    """
    # Only positions and local rejections: the payload holds message texts (and OTPs).
    exc._bulk_chunk = (tuple(chunk.positions), tuple(chunk.rejected))  # type: ignore[attr-defined]
    return exc


def _failed_chunk_result(exc: TwoFactorError, size: int, offset: int) -> BulkResult:
    noted: tuple[tuple[int, ...], tuple[BulkRejection, ...]] | None = getattr(
        exc, "_bulk_chunk", None
    )
    if noted is None:  # nothing known about the chunk: all of it failed
        return BulkResult(failed_chunks=(chunk_failure(exc, start=offset, count=size),))
    positions, rejected = noted
    return shift_indexes(
        BulkResult(
            rejected=rejected,
            failed_chunks=tuple(
                chunk_failure(exc, start=start, count=count) for start, count in _runs(positions)
            ),
        ),
        offset,
    )


def iter_chunk_results(
    messages: Iterable[BulkMessage],
    chunk_size: int,
    send_chunk: Callable[[tuple[BulkMessage, ...]], BulkResult],
) -> Iterator[BulkResult]:
    """Read ``messages`` lazily in chunks, send each with ``send_chunk``, yield each result.

    Indexes in the yielded results are positions in ``messages``. A chunk that fails with a
    :class:`TwoFactorError` yields a :class:`BulkChunkFailure` and the next chunk still goes;
    a refused key, a configuration error or a plugin's refusal stops the send, since every
    later chunk would meet it too.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise InvalidInputError(
            f"chunk_size must be an int, not {type(chunk_size).__name__}", field="chunk_size"
        )
    if not 1 <= chunk_size <= MAX_BULK_CHUNK:
        raise InvalidInputError(
            f"chunk_size must be between 1 and {MAX_BULK_CHUNK}", field="chunk_size"
        )
    iterator = iter(messages)
    offset = 0
    while chunk := tuple(itertools.islice(iterator, chunk_size)):
        try:
            result = send_chunk(chunk)
        except _FATAL:
            raise
        except TwoFactorError as exc:
            yield _failed_chunk_result(exc, len(chunk), offset)
        else:
            yield shift_indexes(result, offset)
        offset += len(chunk)


def background_batches(
    messages: object, chunk_size: int, key: str | None
) -> list[tuple[BulkBatch, str | None]]:
    """What a bulk send with ``background=True`` queues: ``messages`` checked (see
    :func:`~twofactor_notify.validation.coerce_bulk_messages`) and cut into batches of
    ``chunk_size`` (kept within 1 to 1000), one envelope and one request each, with its
    idempotency key (``key:0``, ``key:1``… when ``key`` is given, else ``None``: generated)."""
    items = list(coerce_bulk_messages(messages))
    size = max(1, min(int(chunk_size), MAX_BULK_CHUNK))
    if key is not None:
        from .background.envelope import validate_key

        validate_key(key, suffix=f":{max(0, (len(items) - 1) // size)}")  # the longest
    return [
        (
            BulkBatch(messages=tuple(items[start : start + size])),
            None if key is None else f"{key}:{n}",
        )
        for n, start in enumerate(range(0, len(items), size))
    ]


def collect_bulk_results(results: Iterable[BulkResult]) -> BulkResult:
    """Merge a stream of chunk results; an error that stops it carries what went before.

    When a chunk raises (a refused key, the send guard's global limit...), the earlier
    chunks were already sent: their merged result is attached to the error as
    ``partial_result``, so the caller knows which messages went and does not resend them.
    """
    done: list[BulkResult] = []
    try:
        for result in results:
            done.append(result)
    except TwoFactorError as exc:
        exc.partial_result = merge_bulk_results(done)
        raise
    return merge_bulk_results(done)


def merge_bulk_results(results: Iterable[BulkResult]) -> BulkResult:
    """Combine per-chunk results into one."""
    accepted: list[BulkAccepted] = []
    rejected: list[BulkRejection] = []
    failed: list[BulkChunkFailure] = []
    request_ids: list[str] = []
    for r in results:
        accepted.extend(r.accepted)
        rejected.extend(r.rejected)
        failed.extend(r.failed_chunks)
        request_ids.extend(r.request_ids)
    return BulkResult(
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        failed_chunks=tuple(failed),
        request_ids=tuple(request_ids),
    )
