"""The django-otp device that delivers its tokens by SMS through 2Factor."""

from __future__ import annotations

import contextlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import django.conf
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django_otp.models import (
    CooldownMixin,
    GenerateNotAllowed,
    SideChannelDevice,
    ThrottlingMixin,
    TimestampMixin,
)

from django_twofactor.locking import write_transaction
from twofactor_notify.boundary import at_boundary
from twofactor_notify.errors import (
    InvalidInputError,
    InvalidPhoneNumberError,
    OutcomeUnknownError,
    TwoFactorError,
)
from twofactor_notify.models import OTPSent
from twofactor_notify.redaction import library_logger, redact
from twofactor_notify.transport import Transport
from twofactor_notify.validation import validate_otp_code, validate_otp_phone

from .conf import (
    MODE_LOCAL,
    challenge_message,
    get_transport,
    no_delivery_transport,
    settings,
)
from .errors import ChallengeDeliveryError, stack_without_text

__all__ = ["TwoFactorSMSDevice", "mask_number", "validate_number"]

logger = library_logger("otp_twofactor")

#: Digits of a locally generated token (2Factor's custom-OTP endpoint takes 4 to 6).
TOKEN_DIGITS = 6
_TOKEN_HASH_SALT = "otp_twofactor.TwoFactorSMSDevice.token"  # noqa: S105 - a salt, not a secret


def validate_number(value: str) -> None:
    """Field validator: ``value`` must be a number 2Factor's OTP endpoints take (any form
    people type; an Indian number, :func:`twofactor_notify.validation.validate_otp_phone`)."""
    try:
        validate_otp_phone(value, region=settings.OTP_TWOFACTOR_REGION)
    except InvalidPhoneNumberError as exc:
        raise ValidationError(
            gettext("Enter a valid phone number (%(reason)s)."),
            code="invalid_phone_number",
            params={"reason": exc.message},
        ) from None


def mask_number(number: str) -> str:
    """``+919876543210`` -> ``+91******3210``: enough for a person to recognise their phone."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


class TwoFactorSMSDevice(
    TimestampMixin,  # type: ignore[misc]  # django_otp ships no type hints
    CooldownMixin,  # type: ignore[misc]
    ThrottlingMixin,  # type: ignore[misc]
    SideChannelDevice,  # type: ignore[misc]
):
    """A device that sends a one-time token by SMS through 2Factor.in.

    It behaves like django-otp's ``EmailDevice``: :meth:`generate_challenge` sends a token
    (no more often than ``OTP_TWOFACTOR_COOLDOWN_DURATION``), :meth:`verify_token` accepts it
    once within ``OTP_TWOFACTOR_TOKEN_VALIDITY`` seconds, and failed verifications lock the
    device out exponentially (``OTP_TWOFACTOR_THROTTLE_FACTOR``).

    ``OTP_TWOFACTOR_MODE`` decides who makes the token:

    * ``"local"``: the device draws 6 digits with :mod:`secrets`, sends them through 2Factor's
      custom-OTP endpoint and stores only a keyed hash (HMAC-SHA256 with ``SECRET_KEY``) in
      :attr:`token`;
    * ``"remote"``: 2Factor generates the token (AUTOGEN) and checks it (VERIFY); the device
      stores only 2Factor's session id in :attr:`otp_session_id`.

    Each verification first reserves its attempt: it locks the device row
    (``select_for_update`` in a short transaction), checks the lock-out against the stored
    failure count and counts the attempt as a failure before comparing (a match clears the
    count). Parallel guesses, or guesses through stale instances, therefore cannot get past
    the lock-out. A token is consumed by a conditional ``UPDATE``, so two concurrent
    verifications of the same token succeed at most once.

    .. attribute:: number

        The phone number, stored in E.164 form (``+919876543210``).
    """

    number: models.CharField[str, str] = models.CharField(
        max_length=16,
        validators=[validate_number],
        help_text="The phone number that receives the tokens; stored in E.164 form.",
    )
    # Overrides SideChannelDevice.token: holds a 64-character keyed hash, never a token.
    token: models.CharField[str | None, str | None] = models.CharField(
        max_length=64,
        blank=True,
        null=True,
        editable=False,
        help_text="Keyed hash of the pending token (local mode); never the token itself.",
    )
    otp_session_id: models.CharField[str | None, str | None] = models.CharField(
        max_length=128,
        blank=True,
        null=True,
        editable=False,
        help_text="2Factor's session id of the pending token (remote mode).",
    )

    # Fields inherited from django-otp's untyped mixins, as this class uses them.
    name: str
    valid_until: datetime
    last_generated_timestamp: datetime | None

    class Meta:
        verbose_name = "2Factor SMS device"
        verbose_name_plural = "2Factor SMS devices"

    # ------------------------------------------------------------------ number

    @property
    def masked_number(self) -> str:
        """The number with all but its first three and last four characters hidden."""
        return mask_number(self.number or "")

    def clean(self) -> None:
        """Normalise :attr:`number` to E.164 when it is valid.

        An invalid number is reported once, by the field's validator
        (:func:`validate_number`, run by ``full_clean()`` and by model forms such as the
        admin's), not a second time here.
        """
        super().clean()
        with contextlib.suppress(ValidationError):
            self.number = self._normalized_number()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, normalising :attr:`number` (an invalid number raises ``ValidationError``).

        A new device saved without a name is named after its number: ``"SMS to
        +91******3210"`` (django-otp lists devices by name).
        """
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "number" in update_fields:
            self.number = self._normalized_number()
        if self._state.adding and not self.name:
            self.name = gettext("SMS to %(number)s") % {"number": self.masked_number}
        super().save(*args, **kwargs)

    def _normalized_number(self) -> str:
        try:
            return validate_otp_phone(self.number or "", region=settings.OTP_TWOFACTOR_REGION)
        except InvalidPhoneNumberError as exc:
            raise ValidationError(
                {"number": gettext("Enter a valid phone number (%s).") % exc.message}
            ) from None

    # ------------------------------------------------------------------ django-otp hooks

    def get_cooldown_duration(self) -> float:
        """``OTP_TWOFACTOR_COOLDOWN_DURATION``."""
        return settings.OTP_TWOFACTOR_COOLDOWN_DURATION

    def get_throttle_factor(self) -> float:
        """``OTP_TWOFACTOR_THROTTLE_FACTOR``."""
        return settings.OTP_TWOFACTOR_THROTTLE_FACTOR

    def get_transport(self) -> Transport:
        """The transport this device sends through (override to pick one per device).

        Not consulted while ``OTP_TWOFACTOR_NO_DELIVERY`` is true: the in-process
        :func:`~otp_twofactor.conf.no_delivery_transport` is used then, whatever this returns.
        """
        return get_transport()

    def _transport(self) -> Transport:
        """``OTP_TWOFACTOR_NO_DELIVERY``'s in-process transport, else :meth:`get_transport`."""
        if settings.OTP_TWOFACTOR_NO_DELIVERY:
            return no_delivery_transport()
        return self.get_transport()

    @at_boundary
    def deliver_challenge(self, otp: str | None) -> OTPSent:
        """Send the SMS: the given ``otp`` (local mode) or one 2Factor makes (``None``).

        The one override point for delivery; it must raise on failure. While
        ``OTP_TWOFACTOR_NO_DELIVERY`` is true the SMS stays in process, even when
        :meth:`get_transport` is overridden.
        """
        if settings.OTP_TWOFACTOR_NO_DELIVERY:
            logger.info(
                "OTP challenge of device %s kept in process (OTP_TWOFACTOR_NO_DELIVERY)",
                self.persistent_id,
            )
        return self._transport().send_otp(
            self.number,
            otp=otp,
            template=settings.OTP_TWOFACTOR_TEMPLATE,
            metadata={"otp_device": self.persistent_id},
        )

    # ------------------------------------------------------------------ challenge

    def generate_token(
        self, length: int = TOKEN_DIGITS, valid_secs: int | None = None, commit: bool = True
    ) -> str:
        """Make a new token, store its hash and validity, and return the token itself.

        (django-otp's version stores the token in clear; this one never does.)
        """
        token = f"{secrets.randbelow(10**length):0{length}d}"
        seconds = settings.OTP_TWOFACTOR_TOKEN_VALIDITY if valid_secs is None else valid_secs
        self.token = self._token_hash(token)
        self.otp_session_id = None
        self.valid_until = timezone.now() + timedelta(seconds=seconds)
        if commit:
            self.save(update_fields=["token", "otp_session_id", "valid_until"])
        return token

    def generate_challenge(self) -> str:
        """Send a new token by SMS and return the message for the user.

        While the cooldown runs, nothing is sent and the message says when the next one may
        be asked for (as django-otp's ``EmailDevice`` does). Any pending token is void from
        the moment a new one is asked for.

        :raises ChallengeDeliveryError: the SMS could not be sent, whatever the cause (a
            2Factor error, a plugin or transport bug: the cause is chained and logged, never
            shown). No token is valid then and the cooldown is given back -- except when the
            SMS may have gone out all the same (a timeout, or any error whose
            ``outcome_unknown`` is true, such as a gateway error after the request reached
            2Factor): the cooldown then stays and, in local mode, the token sent stays valid.
        :raises ConfigurationError: a setting the device reads itself is malformed
            (``OTP_TWOFACTOR_MODE``, ``OTP_TWOFACTOR_CHALLENGE_MESSAGE``): a configuration
            error, not a send failure, raised as itself with its ``key`` before anything is
            sent or counted.
        :raises ValidationError: an unsaved device (saved first) has an invalid number.
        """
        mode = settings.OTP_TWOFACTOR_MODE
        if self._state.adding:
            # a device made in memory and asked for a challenge is saved first, as
            # django-otp's own side-channel devices do (its pending token lives in the row)
            self.save()
        # formatted before anything is sent or counted: a broken message (or translation of
        # it) is a configuration error, not a code sent followed by an exception
        message = challenge_message(
            gettext(settings.OTP_TWOFACTOR_CHALLENGE_MESSAGE),
            self.masked_number,
            "OTP_TWOFACTOR_CHALLENGE_MESSAGE",
        )
        allowed, data = self.generate_is_allowed()
        if not allowed:
            return self._cooldown_message(data)
        now = timezone.now()
        previous = self.last_generated_timestamp
        if not self._claim_generation(now):
            self.refresh_from_db(fields=["last_generated_timestamp"])
            return self._cooldown_message(self.generate_is_allowed()[1])

        token = f"{secrets.randbelow(10**TOKEN_DIGITS):0{TOKEN_DIGITS}d}"
        valid_until = now + timedelta(seconds=settings.OTP_TWOFACTOR_TOKEN_VALIDITY)
        try:
            receipt = self.deliver_challenge(token if mode == MODE_LOCAL else None)
        except Exception as exc:
            if mode == MODE_LOCAL and _may_have_been_sent(exc):
                # The SMS may well arrive; its token must then work.
                self._update(token=self._token_hash(token), valid_until=valid_until)
            failure = self._delivery_failed(exc, now, previous, mode)
            # The token may arrive and work: it leaves no frame an error reporter records
            # (this one, or deliver_challenge's below it in the cause's traceback).
            del token
            raise failure from exc.with_traceback(None)

        if mode == MODE_LOCAL:
            stored = {"token": self._token_hash(token), "otp_session_id": None}
        else:
            stored = {"token": None, "otp_session_id": receipt.session_id}
        self._update(**stored, valid_until=valid_until)
        return message

    def _claim_generation(self, now: datetime) -> bool:
        """Start the cooldown and void the pending token, unless another request just did."""
        rows = type(self).objects.filter(pk=self.pk)
        if self.cooldown_enabled:
            since = now - timedelta(seconds=self.get_cooldown_duration())
            rows = rows.filter(
                Q(last_generated_timestamp__isnull=True) | Q(last_generated_timestamp__lt=since)
            )
        claimed = rows.update(
            last_generated_timestamp=now, token=None, otp_session_id=None, valid_until=now
        )
        if claimed:
            self.last_generated_timestamp = now
            self.token = self.otp_session_id = None
            self.valid_until = now
        return bool(claimed)

    def _delivery_failed(
        self, exc: Exception, now: datetime, previous: datetime | None, mode: str
    ) -> ChallengeDeliveryError:
        if isinstance(exc, TwoFactorError):
            # the library's errors are secret-free by construction
            logger.warning(
                "OTP challenge of device %s not delivered: %s: %s",
                self.persistent_id,
                type(exc).__name__,
                exc,
            )
        else:
            # a bug in a plugin, a transport or an override: the operator gets its type and
            # where it was raised; never its text, which may quote the number or the code
            logger.error(
                "OTP challenge of device %s not delivered: unexpected %s\n%s",
                self.persistent_id,
                type(exc).__name__,
                redact(stack_without_text(exc)),
            )
        if _may_have_been_sent(exc):
            # The SMS may have gone out: the cooldown stays, so that asking again cannot
            # deliver (and bill) it twice.
            if isinstance(exc, OutcomeUnknownError):
                cause = gettext("the SMS service did not answer in time.")
            else:
                cause = gettext("the SMS service reported an error, but the SMS may still arrive.")
            if mode == MODE_LOCAL:
                advice = gettext(
                    "If the code arrives, enter it; otherwise ask for a new one in a moment."
                )
            else:
                advice = gettext("Please ask for a new code in a moment.")
            return ChallengeDeliveryError(f"{cause} {advice}", retry_allowed=False)
        # Nothing was sent: give the cooldown back (unless another request took it since).
        type(self).objects.filter(pk=self.pk, last_generated_timestamp=now).update(
            last_generated_timestamp=previous
        )
        self.last_generated_timestamp = previous
        return ChallengeDeliveryError(
            gettext("the SMS could not be sent. Please try again in a moment.")
        )

    def _cooldown_message(self, data: dict[str, Any] | None) -> str:
        if data and data.get("reason") == GenerateNotAllowed.COOLDOWN_DURATION_PENDING:
            return gettext(
                "Token generation cooldown period has not expired yet. Next generation allowed %s."
            ) % naturaltime(data["next_generation_at"])
        return gettext("Token generation is not allowed at this time")

    # ------------------------------------------------------------------ verification

    @at_boundary
    def verify_token(self, token: object) -> bool:
        """Check ``token`` against the pending challenge; it is accepted at most once.

        The attempt is reserved first: the device row is locked and reloaded, the lock-out is
        checked against what is stored (not against this instance, which may be stale), and
        the attempt is counted as a failure before the token is compared. A match then clears
        the count. So a wrong, expired or replayed token counts toward throttling, and
        parallel guesses cannot slip past the lock-out. In remote mode a 2Factor outage (or
        a lost answer) makes this return ``False``, gives the reserved attempt back and ends
        the cooldown, so that a new code can be asked for at once.
        """
        try:
            # the one rule for codes (4 to 6 ASCII digits, a str): anything else, in either
            # mode, is a wrong code -- counted, never an exception
            code = validate_otp_code(token)
        except InvalidInputError:
            code = None
        now = timezone.now()
        previous = self._reserve_attempt(now)
        if previous is None:
            return False
        if code is None:
            result: bool | None = False
        elif self.otp_session_id:
            result = self._verify_remote(code, now)
        elif self.token:
            result = self._verify_local(code, now)
        else:
            result = False
        if result is None:
            self._release_attempt(now, previous)
        return bool(result)

    def _reserve_attempt(self, now: datetime) -> tuple[int, datetime | None] | None:
        """Lock the row, reload it, and count this attempt unless the device is locked out.

        Returns the failure count and timestamp as they were before (to give the attempt
        back), or ``None`` when verification is not allowed now.
        """
        fields = [
            "token",
            "otp_session_id",
            "valid_until",
            "throttling_failure_count",
            "throttling_failure_timestamp",
        ]
        with write_transaction(type(self)):
            stored = (
                type(self).objects.select_for_update().filter(pk=self.pk).values(*fields).first()
            )
            if stored is None:  # deleted meanwhile
                return None
            for name in fields:
                setattr(self, name, stored[name])
            if not self.verify_is_allowed()[0]:
                return None
            previous = (self.throttling_failure_count, self.throttling_failure_timestamp)
            self._update(throttling_failure_count=previous[0] + 1, throttling_failure_timestamp=now)
        return previous

    def _release_attempt(self, now: datetime, previous: tuple[int, datetime | None]) -> None:
        """Give back an attempt reserved at ``now`` (unless another one was counted since)."""
        count, timestamp = previous
        type(self).objects.filter(
            pk=self.pk,
            throttling_failure_count=count + 1,
            throttling_failure_timestamp=now,
        ).update(throttling_failure_count=count, throttling_failure_timestamp=timestamp)
        self.refresh_from_db(fields=["throttling_failure_count", "throttling_failure_timestamp"])

    def _verify_local(self, code: str, now: datetime) -> bool:
        stored = self.token or ""
        if not code or now >= self.valid_until:
            return False
        # every candidate is compared (SECRET_KEY, then SECRET_KEY_FALLBACKS), in constant time
        matches = [hmac.compare_digest(stored, digest) for digest in self._token_hashes(code)]
        if not any(matches):
            return False
        return self._consume(now, token=stored)

    def _verify_remote(self, code: str, now: datetime) -> bool | None:
        session_id = self.otp_session_id or ""
        if now >= self.valid_until:
            return False
        try:
            verification = self._transport().verify_otp(code, session_id=session_id)
        except InvalidInputError:
            return False  # not 4-6 digits: refused before any request
        except TwoFactorError as exc:
            logger.warning(
                "OTP verification of device %s failed: %s: %s",
                self.persistent_id,
                type(exc).__name__,
                exc,
            )
            # No answer: 2Factor may have matched (and so used up) the code all the same, so
            # the person may need a new one -- and must not wait for the cooldown to get it.
            self._end_cooldown(session_id)
            return None
        if verification.matched:
            return self._consume(now, otp_session_id=session_id)
        # A mismatch, or "expired"/unknown session: a failure (counted when reserved). The
        # session is kept on our side even when 2Factor calls it expired: a concurrent
        # request may be about to consume it with 2Factor's "OTP Matched" (2Factor answers
        # "OTP Expired" to whoever comes after the match); our own validity still ends it.
        return False

    def _end_cooldown(self, session_id: str) -> None:
        """Let a new challenge be asked for at once (while ``session_id`` is still pending)."""
        type(self).objects.filter(pk=self.pk, otp_session_id=session_id).update(
            last_generated_timestamp=None
        )
        self.last_generated_timestamp = None

    def _consume(self, now: datetime, **pending: str) -> bool:
        """Clear the pending challenge if it is still ``pending``; True for the one who did."""
        done = {
            "token": None,
            "otp_session_id": None,
            "valid_until": now,
            "throttling_failure_count": 0,
            "throttling_failure_timestamp": None,
            "last_generated_timestamp": None,
            "last_used_at": now,
        }
        claimed = (
            type(self).objects.filter(pk=self.pk, valid_until__gt=now, **pending).update(**done)
        )
        if not claimed:
            return False
        for name, value in done.items():
            setattr(self, name, value)
        return True

    def _update(self, **values: Any) -> None:
        type(self).objects.filter(pk=self.pk).update(**values)
        for name, value in values.items():
            setattr(self, name, value)

    def _token_hash(self, token: str, secret: str | bytes | None = None) -> str:
        return salted_hmac(
            _TOKEN_HASH_SALT, f"{self.pk}:{token}", secret=secret, algorithm="sha256"
        ).hexdigest()

    def _token_hashes(self, token: str) -> list[str]:
        """The hash of ``token`` under ``SECRET_KEY`` and each of ``SECRET_KEY_FALLBACKS``."""
        fallbacks = getattr(django.conf.settings, "SECRET_KEY_FALLBACKS", None) or []
        return [self._token_hash(token), *(self._token_hash(token, key) for key in fallbacks)]


def _may_have_been_sent(exc: BaseException) -> bool:
    """True when a failed send may have reached 2Factor all the same (``outcome_unknown``)."""
    return isinstance(exc, TwoFactorError) and bool(exc.outcome_unknown)
