"""``background`` must be a bool and ``key`` needs ``background=True``, on every helper of
the app's public API that takes them (discovered): refused before anything is sent."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import django_twofactor
from django_twofactor.backends import locmem
from tests.background_arguments import BAD
from twofactor_notify.errors import InvalidInputError

from .test_tasks import PHONE

#: A valid call of each helper, without ``background`` and ``key``.
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "send_sms": ((PHONE, "hello"), {}),
    "send_mass_sms": (([(PHONE, "hello")],), {}),
}


def _queueing() -> list[str]:
    return sorted(
        name
        for name in django_twofactor.__all__
        if callable(getattr(django_twofactor, name))
        and "background" in inspect.signature(getattr(django_twofactor, name)).parameters
    )


def test_every_queueing_helper_is_called() -> None:
    assert _queueing() == sorted(CALLS)


@pytest.mark.django_db
@pytest.mark.parametrize(("extra", "field"), BAD, ids=lambda v: str(v))
@pytest.mark.parametrize("helper", sorted(CALLS))
def test_a_bad_background_or_key_is_refused_before_anything_is_sent(
    helper: str, extra: dict[str, Any], field: str
) -> None:
    args, kwargs = CALLS[helper]
    locmem.outbox.clear()
    with pytest.raises(InvalidInputError) as refused:
        getattr(django_twofactor, helper)(*args, **kwargs, **extra)
    assert refused.value.field == field, refused.value
    assert locmem.outbox == []
    getattr(django_twofactor, helper)(*args, **kwargs)  # the same call without them: sent
    assert len(locmem.outbox) == 1
