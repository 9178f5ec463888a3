"""A realistic, reproducible spread of valid Indian mobile numbers.

Indian mobile numbers are ten digits starting 6 to 9. The leading pairs below follow the
rough weight of the operators' series (most numbers in use start 9, 8 or 7; the 6 series is
the newest), so that the numbers are spread over the whole plan rather than one block.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["indian_mobiles"]

_SERIES = {
    "9": 40,
    "8": 26,
    "7": 24,
    "6": 10,
}


def indian_mobiles(
    count: int | None = None, *, seed: int = 2024, form: str = "e164"
) -> Iterator[str]:
    """Yield ``count`` numbers (forever when ``None``) as ``+91XXXXXXXXXX`` (``form="e164"``)
    or as the 10-digit national form people type (``form="national"``)."""
    rng = random.Random(seed)
    firsts = list(_SERIES)
    weights = list(_SERIES.values())
    prefix = "+91" if form == "e164" else ""
    produced = 0
    while count is None or produced < count:
        first = rng.choices(firsts, weights)[0]
        yield f"{prefix}{first}{rng.randrange(10**9):09d}"
        produced += 1
