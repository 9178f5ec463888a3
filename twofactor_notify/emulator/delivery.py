"""Delivery reports in time: each sent batch becomes report POSTs at its status time.

One scheduler thread keeps a heap of batches ordered by when their status is due (after
``delivery_delay``, or after the schedule time of a scheduled message) and hands each
report to the :class:`~.callbacks.CallbackPoster`. Only messages that had a callback URL
when they were sent are reported; the delivery *state* is on the records either way, so
the encrypted DLR lookup answers for every message.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Sequence

from .callbacks import Callback, CallbackPoster, click_payload, delivery_payload, reference_form
from .state import MessageRecord

__all__ = ["DeliveryScheduler"]


class DeliveryScheduler:
    """Posts delivery reports of recorded messages when they fall due."""

    def __init__(self, poster: CallbackPoster) -> None:
        self.poster = poster
        self._heap: list[tuple[float, int, int, Sequence[MessageRecord]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False

    def schedule(self, records: Sequence[MessageRecord]) -> None:
        """Plan reports for those of ``records`` that carry a callback URL."""
        due = [rec for rec in records if rec.callback_url]
        if not due:
            return
        when = min(rec.status_at for rec in due)
        with self._cond:
            if self._closed:
                return
            self._ensure_started()
            heapq.heappush(self._heap, (when, next(self._seq), self.poster.generation, due))
            self._cond.notify()

    def click(self, record: MessageRecord, url: str, ip: str) -> dict[str, str]:
        """POST a click on ``record``'s tracked link to ``url`` now; returns the payload."""
        payload = click_payload(record, ip)
        body = reference_form(payload)
        self.poster.submit(Callback("click", url, payload, True, self.poster.generation, body))
        return payload

    def clear(self) -> None:
        """Drop every planned report."""
        with self._cond:
            self._heap.clear()

    def open(self) -> None:
        """Accept work again after :meth:`stop`."""
        with self._cond:
            self._closed = False

    def stop(self) -> None:
        """Stop the scheduler thread; later batches are ignored until :meth:`open`."""
        with self._cond:
            self._closed = True
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2.0)
        with self._cond:
            self._stopping = False

    def _ensure_started(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="2factor-emulator-delivery", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap:
                        wait = self._heap[0][0] - time.time()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                _, _, generation, batch = heapq.heappop(self._heap)
            if generation != self.poster.generation:
                continue
            for rec in batch:
                form = rec.callback_format == "raw-url-encoded"
                url = rec.callback_url or ""
                payload = delivery_payload(rec)
                self.poster.submit(Callback("delivery", url, payload, form, generation))
