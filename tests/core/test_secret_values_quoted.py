"""A value after a secret's name is hidden whole, however it is quoted.

``api_key='…'``, ``token="…"``, ``authorization=Bearer …``: the Sentry scrubber
(:func:`twofactor_notify.sentry.scrub_event`) and the log filter
(:class:`twofactor_notify.redaction.RedactingFilter`, for ``token=``) must take in the quotes
or the scheme with the value, and leave what follows the value alone. Hypothesis chooses the
name's spelling, the quoting, the value and what surrounds it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from twofactor_notify.redaction import RedactingFilter
from twofactor_notify.sentry import scrub_event

#: Every name the scrubber treats as a secret's, as applications spell them.
SENTRY_NAMES = st.sampled_from(
    [
        "otp",
        "OTP",
        "api_key",
        "apikey",
        "api-key",
        "secret_key",
        "Secret-Key",
        "authorization",
        "Authorization",
        "webhook_token",
        "x_twofactor_token",
        "token",
    ]
)
VALUES = st.from_regex(r"[A-Za-z0-9_.+/-]{6,24}", fullmatch=True)
#: How the value is written: bare, quoted either way (closed or not), after a scheme.
QUOTING = st.sampled_from(
    ["bare", "single", "double", "single open", "double open", "Bearer", "Basic", "Token"]
)
BEFORE = st.sampled_from(["", "x ", "?", "a=1&", "call(", "{'k': 1} "])
AFTER = st.sampled_from(["", "&next=1", " rest", "; rest", "#frag", ")"])


def _written(quoting: str, value: str, inner_space: bool) -> str:
    quoted = value[:3] + " " + value[3:] if inner_space else value
    return {
        "bare": value,
        "single": f"'{quoted}'",
        "double": f'"{quoted}"',
        "single open": f"'{quoted}",
        "double open": f'"{quoted}',
        "Bearer": f"Bearer {value}",
        "Basic": f"Basic {value}",
        "Token": f"Token {value}",
    }[quoting]


@dataclass(frozen=True)
class Case:
    """A secret's ``name=value`` in a line: the ``text``, and the part of it (``kept``) that
    must come through unchanged."""

    name: str
    value: str
    text: str
    kept: str


def _case(name: str, quoting: str, value: str, before: str, after: str, inner_space: bool) -> Case:
    if quoting.endswith("open"):
        after = ""  # an unclosed quote runs to the end: nothing after it is kept
    elif after == ")" and quoting not in ("single", "double"):
        after = ""  # a bare value runs to a separator (&, space, quote, #, ;): ")" goes too
    written = _written(quoting, value, inner_space)
    return Case(name, value, f"{before}{name}={written}{after}", after)


def cases(names: st.SearchStrategy[str]) -> st.SearchStrategy[Case]:
    """Cases for a secret's name spelt as ``names`` draws, quoted and surrounded every way."""
    return st.builds(
        _case,
        name=names,
        quoting=QUOTING,
        value=VALUES,
        before=BEFORE,
        after=AFTER,
        inner_space=st.booleans(),
    )


def _assert_hidden(out: str, case: Case) -> None:
    text = case.text
    assert case.value not in out, (text, out)
    assert case.value[3:] not in out, (text, out)  # nor the part after a space inside quotes
    assert f"{case.name}=<redacted>" in out, (text, out)
    assert out.endswith(case.kept), (text, out)


@settings(max_examples=300, deadline=None)
@given(case=cases(SENTRY_NAMES))
def test_the_sentry_scrubber_hides_a_quoted_or_schemed_value_whole(case: Case) -> None:
    event = scrub_event({"message": case.text, "extra": {"line": case.text}})
    for out in (event["message"], event["extra"]["line"]):
        _assert_hidden(out, case)


@settings(max_examples=200, deadline=None)
@given(case=cases(st.sampled_from(["token", "Token", "TOKEN", "%74oken"])))
def test_the_log_filter_hides_a_quoted_or_schemed_token_whole(case: Case) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.quoted_values")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info("line %s", case.text)
    finally:
        logger.removeHandler(handler)
    _assert_hidden(stream.getvalue().rstrip("\n"), case)
