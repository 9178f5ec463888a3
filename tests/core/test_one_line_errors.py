"""Every text of every library error is one line, whatever text it was built from.

The error classes are discovered (every subclass of ``TwoFactorError`` in the package and
the adapters); Hypothesis chooses the texts. An error's ``message``, ``details``,
``request``, ``request_id``, ``str()``, ``repr()`` and ``args`` hold no line break and no
other control character, set at construction or later; text without them is kept as given.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

import twofactor_notify
from twofactor_notify.errors import BulkRequestError, TwoFactorError, one_line

TEXT_FIELDS = ("message", "details", "request", "request_id")


PACKAGES = ("twofactor_notify", "django_twofactor", "flask_twofactor", "otp_twofactor")


def _error_classes() -> list[type[TwoFactorError]]:
    for package in PACKAGES:
        with contextlib.suppress(ImportError):
            root = importlib.import_module(package)
            for info in pkgutil.walk_packages(root.__path__, package + "."):
                if info.name.endswith("__main__") or ".migrations" in info.name:
                    continue
                with contextlib.suppress(Exception):  # a framework the module needs is unset
                    importlib.import_module(info.name)
    found, pending = {TwoFactorError}, list(TwoFactorError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            found.add(cls)
    return sorted(found, key=lambda c: c.__qualname__)


CLASSES = _error_classes()


def _on_one_line(text: str) -> bool:
    return len(text.splitlines()) <= 1 and one_line(text) == text


def _texts(error: TwoFactorError) -> dict[str, str]:
    texts = {"str": str(error), "repr": repr(error), "args[0]": str(error.args[0])}
    for name in TEXT_FIELDS:
        value = getattr(error, name)
        if value is not None:
            texts[name] = value
    if isinstance(error, BulkRequestError) and error.error_type is not None:
        texts["error_type"] = error.error_type
    return texts


def test_the_classes_are_found() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"TwoFactorError", "ServerError", "RequestRejectedError", "BulkRequestError"} <= names
    assert twofactor_notify.errors.OutcomeUnknownError in CLASSES
    assert "ChallengeDeliveryError" in names  # the adapters' own are found too


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
@given(message=st.text(), details=st.text(), request=st.text(), request_id=st.text())
def test_an_error_is_one_line_whatever_it_is_given(
    cls: type[TwoFactorError], message: str, details: str, request: str, request_id: str
) -> None:
    error = cls(message)  # every class takes its message first; the rest are set later
    error.details, error.request, error.request_id = details, request, request_id
    if isinstance(error, BulkRequestError):
        error.error_type = details
    for where, text in _texts(error).items():
        assert _on_one_line(text), f"{cls.__name__} {where}: {text!r}"


@given(
    message=st.text(),
    details=st.text(),
    request=st.text(),
)
def test_the_constructor_keeps_each_text_on_one_line(
    message: str, details: str, request: str
) -> None:
    error = TwoFactorError(message, status=400, details=details, request=request)
    for where, text in _texts(error).items():
        assert _on_one_line(text), f"{where}: {text!r}"


@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Zl", "Zp", "Cs", "Cf"))))
def test_a_text_without_controls_is_kept_as_given(text: str) -> None:
    error = TwoFactorError(text, details=text)
    assert error.message == text and error.details == text and error.args == (text,)


@given(st.text(alphabet=string.printable + "\x85\u2028\u2029\x1b\u202e"))
def test_each_control_is_written_as_its_escape(text: str) -> None:
    escaped = one_line(text)
    assert _on_one_line(escaped)
    # the escapes read back as the text (backslashes aside, which are kept as they are)
    if "\\" not in text:
        assert escaped.encode("ascii", "backslashreplace").decode("unicode_escape") == text


def test_a_message_changed_later_stays_on_one_line() -> None:
    error = TwoFactorError("refused")
    error.message = "refused:\nsecond line"
    assert error.message == "refused:\\nsecond line"
    assert str(error) == "refused:\\nsecond line"
