"""``background`` must be a bool and ``key`` needs ``background=True``, on every sending
method of the extension that takes them (discovered): refused before anything is sent."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from flask import Flask

from flask_twofactor import TwoFactor
from tests.background_arguments import BAD
from twofactor_notify.errors import InvalidInputError
from twofactor_notify.models import BulkMessage

from .conftest import PHONE

#: A valid call of each method, without ``background`` and ``key``.
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "send_sms": ((PHONE, "hello"), {}),
    "send_bulk": (([BulkMessage(to=PHONE, text="hello", sender="TFACTR")],), {}),
}


def _queueing() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(TwoFactor, inspect.isfunction)
        if not name.startswith("_") and "background" in inspect.signature(member).parameters
    )


def test_every_queueing_method_is_called() -> None:
    assert _queueing() == sorted(CALLS)


@pytest.mark.parametrize(("extra", "field"), BAD, ids=lambda v: str(v))
@pytest.mark.parametrize("method", sorted(CALLS))
def test_a_bad_background_or_key_is_refused_before_anything_is_sent(
    app: Flask, twofactor: TwoFactor, method: str, extra: dict[str, Any], field: str
) -> None:
    args, kwargs = CALLS[method]
    with app.app_context(), twofactor.record_messages() as outbox:
        with pytest.raises(InvalidInputError) as refused:
            getattr(twofactor, method)(*args, **kwargs, **extra)
        assert refused.value.field == field, refused.value
        assert outbox == []
        getattr(twofactor, method)(*args, **kwargs)  # the same call without them: sent
        assert len(outbox) == 1
