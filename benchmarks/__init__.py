"""Benchmarks of twofactor-notify: each prints a table of ratios against a baseline measured
in the same run. Run ``python -m benchmarks`` (``--smoke`` for tiny sizes, ``--only NAME``).

They are scripts, not tests: no timing is ever asserted in the test suite.
"""

from __future__ import annotations

#: The benchmark modules, in the order they run.
MODULES = ("overhead", "ratelimit", "bulk", "concurrency", "webhooks", "storm", "background")
