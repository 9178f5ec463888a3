"""The R1 form is URL-encoded by the client itself (cheaper than requests' generic path); the
bytes on the wire must be exactly what requests would have written for the same mapping."""

from __future__ import annotations

import requests
from hypothesis import given
from hypothesis import strategies as st

from twofactor_notify.client import _form_body

_values = st.one_of(st.none(), st.text(max_size=40))


def _requests_body(form: dict[str, str | None]) -> str:
    prepared = requests.Session().prepare_request(
        requests.Request("POST", "http://127.0.0.1/API/R1/", data=form)
    )
    assert prepared.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return prepared.body or ""


@given(st.dictionaries(st.text(min_size=1, max_size=12), _values, min_size=1, max_size=8))
def test_form_body_matches_requests(form: dict[str, str | None]) -> None:
    assert _form_body(form) == _requests_body(form).encode("ascii")


def test_form_body_examples() -> None:
    form = {"module": "TRANS_SMS", "to": "919876543210,919876543211", "msg": "a b&c=d+é ₹\n"}
    assert _form_body(form) == _requests_body(dict(form)).encode("ascii")
    assert _form_body({"a": None, "b": ""}) == b"b="
