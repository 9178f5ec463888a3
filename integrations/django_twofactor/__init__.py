"""Django app for twofactor-notify: SMS backends, phone + OTP login, delivery webhooks.

Add ``"django_twofactor"`` to ``INSTALLED_APPS`` and configure ``TWOFACTOR_NOTIFY``; then::

    from django_twofactor import send_otp, verify_otp, send_sms, send_mass_sms, get_transport
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["get_transport", "send_mass_sms", "send_otp", "send_sms", "verify_otp"]

if TYPE_CHECKING:
    from .api import get_transport, send_mass_sms, send_otp, send_sms, verify_otp


def __getattr__(name: str) -> Any:
    # Imported on first use so that importing the app package (INSTALLED_APPS) stays light.
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
