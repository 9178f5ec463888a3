"""While the ledger or the sender is unavailable, a message's retries back off: each wait is
at most twice the one before, never above the cap, and spread over the last half of it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

tasks = pytest.importorskip("celery_twofactor")


@pytest.mark.parametrize("first", [tasks.LEDGER_RETRY_DELAY, tasks.CONFIG_RETRY_DELAY])
def test_the_wait_doubles_per_retry_up_to_the_cap(first: float) -> None:
    ceilings = []
    for retries in range(40):
        task = SimpleNamespace(request=SimpleNamespace(retries=retries))
        waits = [tasks._backoff(task, first) for _ in range(200)]
        ceiling = min(first * 2**retries, tasks.GIVE_BACK_MAX_DELAY)
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (retries, waits[:5])
        assert max(waits) - min(waits) > ceiling / 10  # spread, not one instant
        ceilings.append(max(waits))
    assert ceilings[0] <= first
    assert max(ceilings) <= tasks.GIVE_BACK_MAX_DELAY
    assert ceilings[-1] > tasks.GIVE_BACK_MAX_DELAY / 2  # it does grow to the cap


def test_a_task_without_a_retry_count_waits_the_first_delay() -> None:
    task = SimpleNamespace(request=SimpleNamespace(retries=None))
    assert tasks._backoff(task, tasks.LEDGER_RETRY_DELAY) >= tasks.LEDGER_RETRY_DELAY / 2
    assert tasks._backoff(task, tasks.LEDGER_RETRY_DELAY) <= tasks.LEDGER_RETRY_DELAY
