"""Run in the parallel workers: each must be on the locmem backend."""

from __future__ import annotations

import os

from django.test import SimpleTestCase

from django_twofactor.backends import get_backend


def _report(case: SimpleTestCase) -> None:
    backend = type(get_backend()).__module__
    print(f"\nworker pid={os.getpid()} backend={backend}", flush=True)
    case.assertEqual(backend, "django_twofactor.backends.locmem")


class FirstCase(SimpleTestCase):
    def test_backend(self) -> None:
        _report(self)


class SecondCase(SimpleTestCase):
    def test_backend(self) -> None:
        _report(self)
