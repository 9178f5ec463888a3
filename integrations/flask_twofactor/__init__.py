"""Flask extension for twofactor-notify: 2Factor.in SMS OTPs and notifications in Flask.

::

    from flask import Flask
    from flask_twofactor import TwoFactor

    app = Flask(__name__)
    app.config["TWOFACTOR_API_KEY"] = "..."
    twofactor = TwoFactor(app)

    with app.app_context():
        sent = twofactor.send_otp("9876543210")
        twofactor.verify_otp("123456", session_id=sent.session_id)
"""

from __future__ import annotations

try:
    import flask  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("flask_twofactor needs Flask: pip install 'twofactor-notify[flask]'") from exc

from .config import TwoFactorConfig
from .extension import EXTENSION_KEY, TwoFactor, TwoFactorState, get_state
from .login import LoginThrottledError, PhoneLogin
from .signals import click_received, delivery_received, message_failed, message_sent

__all__ = [
    "EXTENSION_KEY",
    "LoginThrottledError",
    "PhoneLogin",
    "TwoFactor",
    "TwoFactorConfig",
    "TwoFactorState",
    "click_received",
    "delivery_received",
    "get_state",
    "message_failed",
    "message_sent",
]
