"""Django signals sent by the webhook views, after the report is stored.

Receivers get ``report`` (the core dataclass: :class:`twofactor_notify.models.DeliveryReport`
or :class:`twofactor_notify.models.ClickReport`) and ``record`` (the stored model row).
The signals are sent with ``send_robust``: a receiver that raises is logged and cannot lose
the report or turn the webhook's answer into an error.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["click_received", "delivery_report_received"]

#: Sent for each new delivery report; ``sender`` is :class:`django_twofactor.models.DeliveryReport`.
delivery_report_received = Signal()
#: Sent for each new click report; ``sender`` is :class:`django_twofactor.models.ClickReport`.
click_received = Signal()
