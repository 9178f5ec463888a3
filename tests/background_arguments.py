"""The bad ``background`` / ``key`` arguments every queueing helper must refuse (Django's
and Flask's), with the field each error must name."""

from __future__ import annotations

from typing import Any

BAD: list[tuple[dict[str, Any], str]] = [
    ({"background": "no"}, "background"),
    ({"background": 1}, "background"),
    ({"background": None}, "background"),
    ({"key": "order-1"}, "key"),
    ({"background": False, "key": "order-1"}, "key"),
]
