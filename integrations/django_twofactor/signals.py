"""Django signals sent by the webhook views, after the report is stored.

Receivers get ``report`` (the core dataclass: :class:`twofactor_notify.models.DeliveryReport`
or :class:`twofactor_notify.models.ClickReport`) and ``record`` (the stored model row).
Each receiver is called on its own (:func:`django_twofactor.webhooks.send_each`): one that
raises is logged (its name and exception type only) and cannot stop another receiver, lose
the report or turn the webhook's answer into an error. Receivers get each report at least
once (see docs/django-webhooks.md): deduplicate on ``report.dedupe_key`` if that matters.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["click_received", "delivery_report_received"]

#: Sent for each new delivery report; ``sender`` is :class:`django_twofactor.models.DeliveryReport`.
delivery_report_received = Signal()
#: Sent for each new click report; ``sender`` is :class:`django_twofactor.models.ClickReport`.
click_received = Signal()
