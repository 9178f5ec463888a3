"""A :class:`~twofactor_notify.background.ledger.SendLedger` shared through Redis.

Each key is a Redis hash; every change is one Lua script, so a claim and the outcome that
follows are atomic across any number of workers and machines. Times come from the Redis
server's clock (``TIME``), so machines whose clocks disagree still agree on leases.

Keys (under ``prefix``, default ``twofactor:ledger:``):

* ``<prefix>k:<key>`` — the record (a hash). ``SENT`` and ``FAILED`` records expire after
  ``retention`` seconds (default 7 days: longer than any broker keeps a task); ``SENDING``,
  ``RETRY_WAIT`` and ``UNKNOWN`` ones never expire.
* ``<prefix>sending`` — sorted set of claimed keys by lease end, for :meth:`RedisLedger.unknown`
  to find claims whose worker died and whose task never came back.
* ``<prefix>unknown`` — sorted set of keys whose outcome is unknown, oldest first.
* ``<prefix>unreadable`` — sorted set of keys whose envelope a worker could not read.
* ``<prefix>m:<key>`` — a digest of the message queued under the key (:meth:`RedisLedger.hold_key`),
  kept ``retention`` seconds, so that a different message under a used key is refused.
* ``<prefix>pending`` — sorted set of keys handed to the queue and not claimed yet, by the time
  they were noted (:meth:`RedisLedger.note_queued`); the claim removes them.
* ``<prefix>envelopes`` — hash of those keys' envelopes (JSON), for
  :meth:`RedisLedger.unclaimed` to hand over again a message whose task the broker lost.

Every change (claim, outcome, release, resolution) is one round trip: its script answers with
the record it leaves behind, so a send costs a worker three Redis round trips in all (the
first look, the claim, the outcome) besides the throttle's one.

Needs the ``redis`` package (``pip install "twofactor-notify[redis]"``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidInputError
from .envelope import Envelope, EnvelopeError
from .ledger import ClaimResult, LedgerRecord, LedgerState, SendLedger, check_resolution

__all__ = ["NOT_HANDED_OVER", "RedisLedger", "Unclaimed"]

# Common head of every script: KEYS[1] record, KEYS[2] sending zset, KEYS[3] unknown zset,
# KEYS[4] unreadable zset, KEYS[5] pending zset, KEYS[6] envelopes hash.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

_CLAIM = (
    _NOW
    + """
redis.call('ZREM', KEYS[5], ARGV[5])
redis.call('HDEL', KEYS[6], ARGV[5])
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or state == 'retry_wait' or state == 'unreadable' then
  redis.call('ZREM', KEYS[4], ARGV[5])
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  local lease_until = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'state', 'sending', 'token', ARGV[1], 'lease_until', lease_until,
             'kind', ARGV[3], 'recipients', ARGV[4], 'updated_at', now)
  redis.call('PERSIST', KEYS[1])
  redis.call('ZADD', KEYS[2], lease_until, ARGV[5])
  return {'granted', '0', redis.call('HGETALL', KEYS[1])}
end
if state == 'sending' then
  local lease_until = tonumber(redis.call('HGET', KEYS[1], 'lease_until'))
  if lease_until > now then
    return {'busy', tostring(lease_until - now), redis.call('HGETALL', KEYS[1])}
  end
  redis.call('HSET', KEYS[1], 'state', 'unknown', 'updated_at', now,
             'error', 'the worker sending it stopped before recording an outcome')
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZADD', KEYS[3], now, ARGV[5])
end
return {'final', '0', redis.call('HGETALL', KEYS[1])}
"""
)

# ARGV: token, new state, error, provider_ids (JSON or ''), retention seconds, key
_FINISH = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', {}} end
local function lost() return {'lost', redis.call('HGETALL', KEYS[1])} end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return lost() end
if redis.call('HGET', KEYS[1], 'note') then return lost() end
if state ~= 'sending' and state ~= 'unknown' then return lost() end
if ARGV[2] == 'unknown' and state == 'unknown' then return lost() end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'error', ARGV[3], 'updated_at', now)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'provider_ids', ARGV[4]) end
redis.call('ZREM', KEYS[2], ARGV[6])
if ARGV[2] == 'unknown' then
  redis.call('ZADD', KEYS[3], now, ARGV[6])
else
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
return {'ok', redis.call('HGETALL', KEYS[1])}
"""
)

# ARGV: token, error, max_attempts, retention, key
_RELEASE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', {}} end
if state ~= 'sending' or redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return {'lost', redis.call('HGETALL', KEYS[1])}
end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
redis.call('ZREM', KEYS[2], ARGV[5])
if attempts >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[2], 'token', '', 'updated_at', now)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
else
  redis.call('HSET', KEYS[1], 'state', 'retry_wait', 'error', ARGV[2], 'token', '',
             'updated_at', now)
end
return {'ok', redis.call('HGETALL', KEYS[1])}
"""
)

# KEYS[1] sending zset, KEYS[2] unknown zset; ARGV: record prefix, limit
_SWEEP = (
    _NOW
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(expired) do
  local record = ARGV[1] .. key
  redis.call('ZREM', KEYS[1], key)
  if redis.call('HGET', record, 'state') == 'sending'
     and tonumber(redis.call('HGET', record, 'lease_until')) <= now then
    redis.call('HSET', record, 'state', 'unknown', 'updated_at', now,
               'error', 'the worker sending it stopped before recording an outcome')
    redis.call('ZADD', KEYS[2], now, key)
  end
end
return #expired
"""
)

# ARGV: error, key
_UNREADABLE = (
    _NOW
    + """
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'unreadable' then return 'kept' end
redis.call('HSET', KEYS[1], 'state', 'unreadable', 'error', ARGV[1], 'updated_at', now)
redis.call('ZADD', KEYS[4], now, ARGV[2])
return 'ok'
"""
)

# ARGV: state, note, retention, key
_RESOLVE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'unknown' and not (state == 'unreadable' and ARGV[1] == 'failed') then
  return {'not_unknown', {}}
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'note', ARGV[2], 'token', '', 'updated_at', now)
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {'ok', redis.call('HGETALL', KEYS[1])}
"""
)

# KEYS: the key's message mark. ARGV: fingerprint, seconds to keep it.
# 2: marked now; 1: marked already with this message; 0: another message holds the key.
_HOLD = """
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 2
end
if held == ARGV[1] then return 1 end
return 0
"""

# KEYS[1] pending zset, KEYS[2] envelopes hash. ARGV: key, envelope JSON ('': none kept).
_NOTE = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
"""
)

# KEYS[1] pending zset, KEYS[2] envelopes hash. ARGV: record prefix, seconds, limit,
# error for a key that cannot be sent again, its kind, retention, '1' to only look.
# Answers [key, envelope JSON or '', ...]: '' for a key recorded failed now.
_UNCLAIMED = (
    _NOW
    + """
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]),
                        'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local look = ARGV[7] == '1'
for _, key in ipairs(keys) do
  local record = ARGV[1] .. key
  local state = redis.call('HGET', record, 'state')
  local envelope = redis.call('HGET', KEYS[2], key)
  if state and state ~= 'retry_wait' then
    -- queued again after a worker took the key: that copy has nothing left to do
    if not look then
      redis.call('ZREM', KEYS[1], key)
      redis.call('HDEL', KEYS[2], key)
    end
  elseif envelope then
    if not look then redis.call('ZADD', KEYS[1], now, key) end
    table.insert(out, key)
    table.insert(out, envelope)
  else
    if not look then
      if not state then
        redis.call('HSET', record, 'state', 'failed', 'error', ARGV[4], 'kind', ARGV[5],
                   'attempts', 0, 'token', '', 'updated_at', now)
        redis.call('EXPIRE', record, tonumber(ARGV[6]))
      end
      redis.call('ZREM', KEYS[1], key)
      redis.call('HDEL', KEYS[2], key)
    end
    if not state then
      table.insert(out, key)
      table.insert(out, '')
    end
  end
end
return out
"""
)

#: The error of a key whose task was lost before any worker took it, and whose envelope was
#: not kept (an OTP with a code of its own): it is recorded failed, never sent.
NOT_HANDED_OVER = "not handed over: its task was lost before a worker took it"


@dataclass(frozen=True, slots=True)
class Unclaimed:
    """A key handed to the queue that no worker claimed (:meth:`RedisLedger.unclaimed`).

    :param key: the key.
    :param envelope: its envelope, to hand to the queue again; ``None`` when it cannot be
        sent again (an OTP with its own code, or an envelope this process cannot read): the
        key is then recorded ``failed`` (or ``unreadable``) and ``error`` says why.
    """

    key: str
    envelope: Envelope | None
    error: str = ""


def fingerprint(envelope: Envelope) -> str:
    """A digest of what the envelope's message is, for telling two messages under one key
    apart. An OTP's own code is left out: a digest of six digits gives them away."""
    message = envelope.message.to_dict()
    message.pop("otp", None)
    text = json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RedisLedger(SendLedger):
    """The ledger in Redis, shared by every worker that uses the same server and ``prefix``.

    :param client: a ``redis.Redis`` client (``decode_responses`` either way).
    :param prefix: prepended to every Redis key.
    :param retention: seconds a ``SENT`` or ``FAILED`` record is kept (at-most-once holds for
        redeliveries within this time; keep it longer than your broker keeps tasks).
    """

    def __init__(
        self, client: Any, *, prefix: str = "twofactor:ledger:", retention: int = 7 * 86_400
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.retention = int(retention)
        self._claim = client.register_script(_CLAIM)
        self._finish_script = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)
        self._sweep = client.register_script(_SWEEP)
        self._resolve = client.register_script(_RESOLVE)
        self._unreadable = client.register_script(_UNREADABLE)
        self._hold = client.register_script(_HOLD)
        self._note = client.register_script(_NOTE)
        self._unclaimed = client.register_script(_UNCLAIMED)

    def __repr__(self) -> str:
        return f"RedisLedger(prefix={self.prefix!r})"

    def _keys(self, key: str) -> list[str]:
        return [
            self.prefix + "k:" + key,
            self.prefix + "sending",
            self.prefix + "unknown",
            self.prefix + "unreadable",
            self.prefix + "pending",
            self.prefix + "envelopes",
        ]

    def claim(self, envelope: Envelope, *, token: str, lease: float) -> ClaimResult:
        """See :meth:`SendLedger.claim`."""
        key = envelope.key
        outcome, wait, fields = self._claim(
            keys=self._keys(key),
            args=[token, float(lease), envelope.kind, json.dumps(envelope.message.recipients), key],
        )
        record = _record(key, fields)
        if record is None:  # pragma: no cover - the script just wrote it
            raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
        verdict = _text(outcome)
        return ClaimResult(verdict == "granted", record, wait=float(_text(wait)))

    def _finish(
        self, key: str, token: str, state: LedgerState, error: str, ids: str
    ) -> LedgerRecord:
        answer, fields = self._finish_script(
            keys=self._keys(key), args=[token, state.value, error, ids, self.retention, key]
        )
        record = _record(key, fields)
        if _text(answer) == "missing" or record is None:
            raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
        return record

    def record_sent(self, key: str, *, token: str, provider_ids: Iterable[str]) -> LedgerRecord:
        """See :meth:`SendLedger.record_sent`."""
        return self._finish(key, token, LedgerState.SENT, "", json.dumps(list(provider_ids)))

    def record_failed(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_failed`."""
        return self._finish(key, token, LedgerState.FAILED, error, "")

    def record_unknown(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unknown`."""
        return self._finish(key, token, LedgerState.UNKNOWN, error, "")

    def release(self, key: str, *, token: str, error: str, max_attempts: int) -> LedgerRecord:
        """See :meth:`SendLedger.release`."""
        answer, fields = self._release(
            keys=self._keys(key), args=[token, error, int(max_attempts), self.retention, key]
        )
        record = _record(key, fields)
        if _text(answer) == "missing" or record is None:
            raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
        return record

    def record_unreadable(self, key: str, *, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unreadable`."""
        self._unreadable(keys=self._keys(key), args=[error, key])
        record = self.get(key)
        if record is None:  # pragma: no cover - the script just wrote it, or it was there
            raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
        return record

    def unreadable(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unreadable`."""
        keys = self.client.zrange(self.prefix + "unreadable", 0, max(0, limit - 1))
        records = [self.get(_text(k)) for k in keys]
        return [r for r in records if r is not None]

    def hold_key(self, envelope: Envelope) -> bool:
        """Mark the envelope's key as naming its message, when it is queued (one round trip).

        Queueing the same message under the key again is allowed (the ledger sends it once);
        a *different* message raises :class:`InvalidInputError` (``field`` ``"key"``) instead
        of being queued and silently never sent. The mark is kept ``retention`` seconds, as a
        final record is. Returns True when this call made the mark (see :meth:`release_key`).
        """
        held = int(
            self._hold(
                keys=[self.prefix + "m:" + envelope.key],
                args=[fingerprint(envelope), self.retention],
            )
        )
        if held == 0:
            raise InvalidInputError(
                f"key {envelope.key!r} was used for a different message; a key names one "
                "message: give this one its own key",
                field="key",
            )
        return held == 2

    def release_key(self, envelope: Envelope) -> None:
        """Undo :meth:`hold_key` for a message that was not queued after all."""
        self.client.delete(self.prefix + "m:" + envelope.key)

    def note_queued(self, envelope: Envelope) -> None:
        """Note ``envelope`` as handed to the queue (one round trip); call it *before* the
        broker gets the message, so that no message is ever queued without its note.

        Until a worker claims the key, :meth:`unclaimed` can find it and give its envelope
        back to be queued again: a broker can lose a message before any worker records it
        (Kombu's Redis transport, a worker killed between taking the message and noting it as
        unacknowledged). An OTP with its own code is noted without its envelope: it is never
        kept here, so it cannot be sent again, only recorded failed.
        """
        message: Any = envelope.message
        keep = getattr(message, "otp", None) is None
        self._note(
            keys=[self.prefix + "pending", self.prefix + "envelopes"],
            args=[envelope.key, envelope.to_json() if keep else ""],
        )

    def forget_queued(self, envelope: Envelope) -> None:
        """Undo :meth:`note_queued` for a message the queue did not take after all."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self.prefix + "pending", envelope.key)
        pipe.hdel(self.prefix + "envelopes", envelope.key)
        pipe.execute()

    def unclaimed(
        self, older_than: float, limit: int = 1000, *, dry_run: bool = False
    ) -> list[Unclaimed]:
        """Keys noted (:meth:`note_queued`) at least ``older_than`` seconds ago that no
        worker has claimed since, oldest first, with their envelopes: their task may be lost.

        Each one returned is noted again as of now (handing it to the queue again is the
        caller's part), so that a second caller within ``older_than`` seconds does not take
        it too. A key noted without its envelope (an OTP with its own code) is recorded
        ``failed`` (:data:`NOT_HANDED_OVER`) and returned with no envelope; so is one whose
        envelope this process cannot read (recorded ``unreadable``). A key queued again
        after a worker had taken it is dropped: that copy has nothing to do. ``dry_run``
        changes nothing and returns what would be.
        """
        flat = self._unclaimed(
            keys=[self.prefix + "pending", self.prefix + "envelopes"],
            args=[
                self.prefix + "k:",
                max(0.0, float(older_than)),
                max(0, int(limit)),
                NOT_HANDED_OVER,
                "otp",
                self.retention,
                "1" if dry_run else "0",
            ],
        )
        found: list[Unclaimed] = []
        for raw_key, raw_envelope in zip(flat[0::2], flat[1::2], strict=True):
            key, text = _text(raw_key), _text(raw_envelope)
            if not text:
                found.append(Unclaimed(key, None, NOT_HANDED_OVER))
                continue
            try:
                found.append(Unclaimed(key, Envelope.from_json(text)))
            except EnvelopeError as exc:
                error = f"unreadable envelope: {exc.field or 'envelope'}"
                if not dry_run:
                    self.record_unreadable(key, error=error)
                found.append(Unclaimed(key, None, error))
        return found

    def get(self, key: str) -> LedgerRecord | None:
        """See :meth:`SendLedger.get`."""
        return _record(key, self.client.hgetall(self.prefix + "k:" + key))

    def sweep(self, limit: int = 1000) -> int:
        """Turn claims whose lease ran out into ``UNKNOWN``; how many expired claims were seen.

        :meth:`unknown` calls it, so a claim whose task never came back is surfaced too.
        """
        return int(
            self._sweep(
                keys=[self.prefix + "sending", self.prefix + "unknown"],
                args=[self.prefix + "k:", int(limit)],
            )
        )

    def unknown(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unknown`."""
        self.sweep()
        keys = self.client.zrange(self.prefix + "unknown", 0, max(0, limit - 1))
        records = [self.get(_text(k)) for k in keys]
        return [r for r in records if r is not None]

    def resolve(self, key: str, *, state: LedgerState, note: str = "") -> LedgerRecord:
        """See :meth:`SendLedger.resolve`."""
        check_resolution(state)
        answer, fields = self._resolve(
            keys=self._keys(key), args=[state.value, note or "resolved", self.retention, key]
        )
        record = _record(key, fields)
        if _text(answer) != "ok" or record is None:
            raise InvalidInputError(f"key {key!r} has no unknown outcome to resolve", field="key")
        return record


def _record(key: str, raw: Any) -> LedgerRecord | None:
    """The record of ``key`` from a hash's fields: ``HGETALL``'s mapping, or the flat
    ``[field, value, ...]`` list a script returns; ``None`` when there are none."""
    if not raw:
        return None
    items = raw.items() if isinstance(raw, dict) else zip(raw[0::2], raw[1::2], strict=True)
    data = {_text(k): _text(v) for k, v in items}
    return LedgerRecord(
        key=key,
        state=LedgerState(data["state"]),
        kind=data.get("kind", ""),
        recipients=tuple(json.loads(data.get("recipients") or "[]")),
        attempts=int(data.get("attempts") or 0),
        provider_ids=tuple(json.loads(data.get("provider_ids") or "[]")),
        error=data.get("error", ""),
        token=data.get("token", ""),
        lease_until=float(data.get("lease_until") or 0.0),
        updated_at=(
            datetime.fromtimestamp(float(data["updated_at"]), UTC)
            if data.get("updated_at")
            else None
        ),
        note=data.get("note", ""),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
