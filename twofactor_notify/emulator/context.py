"""What every route needs: the state, the delivery scheduler and the answer style."""

from __future__ import annotations

from dataclasses import dataclass

from .delivery import DeliveryScheduler
from .state import EmulatorState

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """Shared by the API routes of one emulator.

    :param sandbox_style_success: answer a matched OTP with ``"Status": "Success"`` (the
        sandbox section's shape) instead of the reference example's ``"Status": "Error"``.
    """

    state: EmulatorState
    deliveries: DeliveryScheduler
    sandbox_style_success: bool = False
