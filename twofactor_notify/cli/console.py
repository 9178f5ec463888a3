"""What the commands print: aligned human lines with ✓/✗ marks, or JSON.

Phone numbers are masked (``+91******3210``) in human output; OTP values and keys are
never printed.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from ..plugins.logging import mask_number

__all__ = ["Console", "mask_number"]


def _can_encode(stream: IO[str], text: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Console:
    """Writes a command's results to ``out`` (stdout by default).

    :param out: where results go.
    :param as_json: print one JSON document instead of human lines.
    """

    def __init__(self, out: IO[str] | None = None, *, as_json: bool = False) -> None:
        self.out = out if out is not None else sys.stdout
        self.as_json = as_json
        fancy = _can_encode(self.out, "✓✗")
        #: the mark of a step that went as expected, and of one that did not
        self.ok_mark = "✓" if fancy else "+"
        self.fail_mark = "✗" if fancy else "x"

    def line(self, text: str = "") -> None:
        """Print one human line (nothing in JSON mode)."""
        if not self.as_json:
            print(text, file=self.out, flush=True)

    def mark(self, ok: bool) -> str:
        """``✓`` or ``✗``."""
        return self.ok_mark if ok else self.fail_mark

    def step(self, ok: bool, label: str, detail: str = "", *, width: int = 28) -> None:
        """Print ``  ✓ label  detail`` with the details aligned."""
        text = f"  {self.mark(ok)} {label:<{width}}"
        self.line(f"{text} {detail}".rstrip())

    def json(self, data: Any) -> None:
        """Print ``data`` as JSON (only in JSON mode)."""
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False, default=str), file=self.out)
            self.out.flush()
