"""Values each transport option must refuse, shared by the core's and the adapters' tests.

Keyed by the core builder's option names: a test asserts the table covers every option of
:data:`twofactor_notify.config.OPTIONS`, so a new option is not left untested.
"""

from __future__ import annotations

from typing import Any

#: stands for "the path of an existing file" (FILE_PATH must name a directory)
A_FILE = __file__

BAD_VALUES: dict[str, list[Any]] = {
    "backend": ["carrier-pigeon", 5, None],
    "api_key": ["short", 12345678, "bad key/with spaces"],
    "secret_key": [123, b"secret-bytes"],
    "base_url": ["2factor.in", "ftp://example.com", "https://", 5],
    "timeout": [0, -1, "soon", float("nan"), float("inf"), True, (1, 2, 3)],
    "region": ["XX", "India", 91, ""],
    "rate_limit": [-1, 0, "fast", True],
    "encryption_mode": ["ECB", 1],
    "sender_id": ["TOOLONG1", "A-B", b"TF", -5],
    "otp_template": ["../x", 5.5],
    "otp_length": [5, 0, 8, "six", True],
    "plugins": [["no_such_module_xyz.Plugin"], 42, [None]],
    "load_entrypoints": ["maybe", 2],
    "show_otp": ["no", "yes", 2, None],
    "file_path": [5, ["sms"], A_FILE],
}


def bad_cases() -> list[tuple[str, Any]]:
    """``(option, bad value)`` pairs, for ``pytest.mark.parametrize``."""
    return [(option, value) for option, values in BAD_VALUES.items() for value in values]
