"""The wire layer: one method per 2Factor endpoint, typed results, typed errors.

:class:`TwoFactorClient` knows URLs, bodies and answers; it fires no hooks and imports no
framework. It is thread-safe: one pooled :class:`requests.Session` serves every thread.

Retries happen only where a retry cannot send twice: when the connection could not be made
(the request never left), and for the delivery-status lookup, which changes nothing. A send
whose answer did not come raises :class:`OutcomeUnknownError` and is never retried.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from twofactor_notify.redaction import library_logger

from .boundary import ErrorBoundary
from .bulk import (
    collect_bulk_results,
    iter_chunk_results,
    note_chunk,
    parse_bulk_answer,
    prepare_chunk,
)
from .codec import AESCodec, EncryptionCodec, EncryptionMode
from .credentials import (
    API_KEY_PLACEHOLDER,
    SECRET_KEY_PLACEHOLDER,
    Credentials,
    KeyPlacingAdapter,
    Secret,
    install_key_placing_adapter,
)
from .errors import (
    APIConnectionError,
    AuthenticationError,
    BulkRequestError,
    ConfigurationError,
    DecryptionError,
    InvalidInputError,
    InvalidPhoneNumberError,
    InvalidResponseError,
    OTPError,
    OutcomeUnknownError,
    RateLimitedError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    TwoFactorError,
)
from .models import (
    BulkMessage,
    BulkResult,
    DeliveryLookup,
    DeliveryStatus,
    OTPMessage,
    OTPSent,
    SMSMessage,
    SMSSent,
    Verification,
    VerificationOutcome,
)
from .phone import DEFAULT_REGION, r1_form, v1_path_form
from .ratelimit import Limiter, RateLimiter
from .redaction import (
    REDACTED,
    forget_secret,
    hide_request_values_of,
    install_log_filter,
    redact,
    register_secret,
)
from .validation import (
    MAX_BULK_CHUNK,
    check_otp_message,
    check_sms_message,
    coerce_bulk_messages,
    format_schedule_time,
    validate_base_url,
    validate_otp_code,
    validate_otp_phone,
    validate_session_id,
    validate_sms_date,
    validate_template,
    validate_timeout,
)

__all__ = ["DEFAULT_BASE_URL", "TwoFactorClient"]

logger = library_logger("twofactor_notify.client")

DEFAULT_BASE_URL = "https://2factor.in"
_API_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{7,127}")
_USER_AGENT = "twofactor-notify/0.1"

# Documented "Details" strings -> error classes. Verification outcomes are not errors.
_DETAIL_ERRORS: tuple[tuple[str, type[TwoFactorError], str | None], ...] = (
    ("invalid api key", AuthenticationError, None),
    ("service is inactive", AuthenticationError, None),
    ("invalid phone number", InvalidPhoneNumberError, "phone"),
    ("invalid otp code", OTPError, "otp"),
    ("secret-key is missing", AuthenticationError, None),
    ("decryption failed", AuthenticationError, None),
    ("http get is not supported", RequestRejectedError, None),
    ("schedule", InvalidInputError, "schedule_at"),
    ("failed to parse request body as json", BulkRequestError, None),
)
_VERIFY_OUTCOMES: tuple[tuple[str, VerificationOutcome], ...] = (
    ("otp matched", VerificationOutcome.MATCHED),
    ("otp mismatch", VerificationOutcome.MISMATCH),
    ("otp expired", VerificationOutcome.EXPIRED),
    ("no entry exists", VerificationOutcome.UNKNOWN_SESSION),
    ("sessionid combination", VerificationOutcome.UNKNOWN_SESSION),
)


def _held(api_key: object) -> Secret:
    # a Secret as given; anything else (a str, or a wrong type refused just after) wrapped
    return api_key if isinstance(api_key, Secret) else Secret(api_key)


def _mask_phone(segment: str) -> str:
    return segment if len(segment) <= 4 else "*" * (len(segment) - 4) + segment[-4:]


class TwoFactorClient(ErrorBoundary):
    """A client for the 2Factor.in HTTP API.

    The keys are kept in a :class:`~twofactor_notify.credentials.Credentials` holder and put
    into a request only by the session's last layer (see :mod:`twofactor_notify.credentials`);
    every public method hands out only :class:`~twofactor_notify.errors.TwoFactorError`, with
    nothing chained (see :mod:`twofactor_notify.boundary`).

    :param api_key: the account's API key (travels in V1 URL paths; redacted everywhere).
    :param base_url: ``https://2factor.in``, or an emulator's URL.
    :param timeout: seconds for connect and for read, for every call (a float or a
        ``(connect, read)`` pair).
    :param session: a :class:`requests.Session` to use (the client does not close it; it
        wraps the adapter the session uses for ``base_url`` in a
        :class:`~twofactor_notify.credentials.KeyPlacingAdapter`, which passes other requests
        through untouched).
    :param pool_size: connections kept per host; size it to the number of threads sending.
    :param secret_key: the account's secret key, for the encrypted endpoints.
    :param codec: the framing for the encrypted endpoints; default :class:`AESCodec`.
    :param encryption_mode: ``"GCM"`` (default) or ``"CBC"``.
    :param region: region assumed for phone numbers typed without a country code.
    :param rate_limit: calls per second to stay under (2Factor's default is 200), or a
        :class:`~twofactor_notify.ratelimit.Limiter`; ``None`` for no client-side limit.
    :param connect_retries: how many times a connection that could not be made is retried.
    """

    def __init__(
        self,
        api_key: str | Secret,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = 10.0,
        session: requests.Session | None = None,
        pool_size: int = 32,
        secret_key: str | Secret | None = None,
        codec: EncryptionCodec | None = None,
        encryption_mode: EncryptionMode = "GCM",
        region: str = DEFAULT_REGION,
        rate_limit: float | Limiter | None = None,
        connect_retries: int = 2,
    ) -> None:
        # Held as Secrets from here on: a frame of this constructor shows no key either.
        api_key = _held(api_key)
        secret_key = Secret.wrap(secret_key)
        if not isinstance(api_key.reveal(), str) or not _API_KEY.fullmatch(api_key.reveal()):
            raise ConfigurationError(
                "api_key must be the 2Factor API key (letters, digits and '-', 8 to 128)"
            )
        try:
            base_url = validate_base_url(base_url)
            timeout = validate_timeout(timeout)
        except InvalidInputError as exc:
            raise ConfigurationError(exc.message, key=exc.field) from None
        self._credentials = Credentials(api_key, secret_key)
        # for the log filter, which also hides other clients' keys
        register_secret(self._credentials.reveal_api_key())
        if secret_key is not None:
            register_secret(str(secret_key.reveal()))
        install_log_filter()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.region = region
        self.connect_retries = max(0, connect_retries)
        self._codec: EncryptionCodec | None = codec
        if codec is None and secret_key is not None:
            self._codec = AESCodec(secret_key, encryption_mode)
        if isinstance(rate_limit, int | float):
            self._limiter: Limiter | None = RateLimiter(rate_limit)
        else:
            self._limiter = rate_limit
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = KeyPlacingAdapter(
                HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _settle_environment(session, self.base_url)
        session.headers.setdefault("User-Agent", _USER_AGENT)
        self._session = session
        install_key_placing_adapter(session, self.base_url + "/")
        self._closed = False

    def __repr__(self) -> str:
        return f"TwoFactorClient(base_url={self.base_url!r}, api_key={REDACTED!r})"

    def close(self) -> None:
        """Close the connection pool (if the client created it) and forget the secrets."""
        if self._closed:
            return
        self._closed = True
        if self._owns_session:
            self._session.close()
        forget_secret(self._credentials.reveal_api_key())
        secret_key = self._credentials.reveal_secret_key()
        if secret_key:
            forget_secret(secret_key)

    def __enter__(self) -> TwoFactorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ OTP

    def send_otp(
        self,
        phone: str,
        *,
        template: str | None = None,
        otp: str | None = None,
        length: int = 6,
        include_otp: bool = False,
    ) -> OTPSent:
        """Send an OTP by SMS (V1).

        * ``otp=None, length=6`` -> ``AUTOGEN`` (2Factor generates 6 digits);
        * ``include_otp=True`` -> ``AUTOGEN2`` (the OTP comes back in :attr:`OTPSent.otp`);
        * ``length=4`` -> ``AUTOGEN3``;
        * ``otp="1234"`` -> custom OTP (4-6 digits).

        Each with ``/{template}`` appended when a template name is given.
        """
        # The transports' own checks (one definition): a direct call is refused alike.
        message = check_otp_message(
            OTPMessage(
                to=phone, template=template, otp=otp, length=length, include_otp=include_otp
            ),
            region=self.region,
        )
        e164 = message.to
        segments = [v1_path_form(e164)]
        labels = [_mask_phone(segments[0])]
        if message.otp is not None:
            segments.append(message.otp)
            labels.append("<otp>")
        else:
            variant = (
                "AUTOGEN3"
                if message.length == 4
                else ("AUTOGEN2" if message.include_otp else "AUTOGEN")
            )
            segments.append(variant)
            labels.append(variant)
        if message.template is not None:
            segments.append(message.template)
            labels.append(message.template)
        body = self._get_v1(segments, labels, send=True)
        session_id = self._details(body)
        returned = body.get("OTP")
        otp_value = message.otp
        if otp_value is None and returned:
            otp_value = str(returned)
        return OTPSent(session_id=session_id, to=e164, otp=otp_value)

    def send_template_sms(self, phone: str, template: str) -> OTPSent:
        """Send a template with no OTP (``/SMS/{phone}/{template}``, from the sandbox section)."""
        e164 = validate_otp_phone(phone, region=self.region)
        segment = v1_path_form(e164)
        validate_template(template)
        if template.upper().startswith(("AUTOGEN", "VERIFY")) or template.isdigit():
            raise InvalidInputError(
                "a template name cannot look like an OTP or an endpoint name", field="template"
            )
        body = self._get_v1([segment, template], [_mask_phone(segment), template], send=True)
        return OTPSent(session_id=self._details(body), to=e164)

    def verify_otp(
        self,
        code: str,
        *,
        session_id: str | None = None,
        phone: str | None = None,
    ) -> Verification:
        """Verify an OTP by session id (VERIFY) or by phone number (VERIFY3): exactly one.

        Returns a :class:`Verification` whose outcome is decided by 2Factor's ``Details``:
        matched, mismatch, expired or unknown session. Errors (bad key, outage) raise.
        """
        if (session_id is None) == (phone is None):
            raise InvalidInputError("give exactly one of session_id and phone", field="session_id")
        code = validate_otp_code(code)
        if session_id is not None:
            sid = validate_session_id(session_id)
            return self._verify(["VERIFY", sid, code], ["VERIFY", sid, "<otp>"])
        assert phone is not None
        segment = v1_path_form(validate_otp_phone(phone, region=self.region))
        return self._verify(["VERIFY3", segment, code], ["VERIFY3", _mask_phone(segment), "<otp>"])

    def verify_otp_sandbox(self, code: str, *, session_id: str) -> Verification:
        """VERIFY2: the sandbox's error-testing form (always ``OTP Mismatch`` in the sandbox)."""
        code = validate_otp_code(code)
        sid = validate_session_id(session_id)
        return self._verify(["VERIFY2", sid, code], ["VERIFY2", sid, "<otp>"])

    # ------------------------------------------------------------------ R1 text messages

    def send_sms(
        self,
        to: str | Iterable[str],
        text: str,
        *,
        sender: str,
        promotional: bool = False,
        schedule_at: datetime | None = None,
        pe_id: str | None = None,
        ct_id: str | None = None,
        campaign_name: str | None = None,
        campaign_webhook: str | None = None,
        shorten_urls: bool = False,
        shorten_url_webhook: str | None = None,
        shorten_url_callback: str | None = None,
    ) -> SMSSent:
        """Send a transactional (``TRANS_SMS``) or promotional (``PROMO_SMS``) SMS via R1.

        ``to`` is one number or several (sent as one request, comma-separated).
        """
        return self.send_message(
            SMSMessage(
                to=to,  # type: ignore[arg-type]  # SMSMessage makes a tuple of it
                text=text,
                sender=sender,
                promotional=promotional,
                schedule_at=schedule_at,
                pe_id=pe_id,
                ct_id=ct_id,
                campaign_name=campaign_name,
                campaign_webhook=campaign_webhook,
                shorten_urls=shorten_urls,
                shorten_url_webhook=shorten_url_webhook,
                shorten_url_callback=shorten_url_callback,
            )
        )

    def send_message(self, message: SMSMessage) -> SMSSent:
        """Send an :class:`SMSMessage` via R1 (what :meth:`send_sms` builds)."""
        form = self._r1_form(message)
        body = self._request(
            "POST",
            f"{self.base_url}/API/R1/",
            label=f"POST /API/R1/ module={form['module']}",
            data=form,
            send=True,
        )
        return SMSSent(
            message_id=self._details(body), to=tuple("+" + p for p in form["to"].split(","))
        )

    def _r1_form(self, message: SMSMessage) -> dict[str, str]:
        # The transports' own checks (one definition): a direct call is refused alike.
        message = check_sms_message(message, region=self.region)
        form = {
            "module": "PROMO_SMS" if message.promotional else "TRANS_SMS",
            "apikey": API_KEY_PLACEHOLDER,
            "to": ",".join(r1_form(p) for p in message.to),
            "from": message.sender,
            "msg": message.text,
        }
        if message.schedule_at is not None:
            form["scheduletime"] = format_schedule_time(message.schedule_at)
        optional = {
            "peid": message.pe_id,
            "ctid": message.ct_id,
            "campaignname": message.campaign_name,
            "campaignwebhook": message.campaign_webhook,
            "shortenurlwebhook": message.shorten_url_webhook,
            "shortenurlcallback": message.shorten_url_callback,
        }
        form.update({name: value for name, value in optional.items() if value is not None})
        if message.shorten_urls:
            form["shortenurl"] = "1"
        return form

    # ------------------------------------------------------------------ bulk

    def iter_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = MAX_BULK_CHUNK,
    ) -> Iterator[BulkResult]:
        """Send any number of messages in requests of at most ``chunk_size`` (<= 1000).

        Reads ``messages`` lazily and yields one :class:`BulkResult` per request, with
        indexes relative to the whole stream: results can be consumed as they come and
        memory stays flat. A request that fails yields a :class:`BulkChunkFailure` (with
        ``outcome_unknown`` set if it may have been accepted) and the next one still goes.
        """
        return iter_chunk_results(coerce_bulk_messages(messages), chunk_size, self.send_bulk_chunk)

    def send_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = MAX_BULK_CHUNK,
    ) -> BulkResult:
        """Send any number of messages; one combined result (see :meth:`iter_bulk`)."""
        return collect_bulk_results(self.iter_bulk(messages, chunk_size=chunk_size))

    def send_bulk_chunk(self, messages: Sequence[BulkMessage]) -> BulkResult:
        """One ``R1/Bulk`` request of 1 to 1000 messages; indexes are positions in ``messages``.

        Messages that fail local checks are rejected without being sent; if none is left,
        no request is made.
        """
        if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
            raise InvalidInputError(
                f"messages must be a sequence of BulkMessage, not {type(messages).__name__}",
                field="messages",
            )
        messages = list(coerce_bulk_messages(messages))  # a wrong item type: one error
        if not 1 <= len(messages) <= MAX_BULK_CHUNK:
            raise InvalidInputError(
                f"a bulk request takes 1 to {MAX_BULK_CHUNK} messages, not {len(messages)}",
                field="messages",
            )
        chunk = prepare_chunk(messages, region=self.region)
        if not chunk.payload:
            return BulkResult(rejected=tuple(chunk.rejected))
        payload = {"module": "TRANS_SMS", "apikey": API_KEY_PLACEHOLDER, "messages": chunk.payload}
        try:
            body = self._request(
                "POST",
                f"{self.base_url}/API/R1/Bulk/",
                label=f"POST /API/R1/Bulk/ ({len(chunk.payload)} messages)",
                data=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                headers={"Content-Type": "application/json"},
                send=True,
            )
        except TwoFactorError as exc:
            raise note_chunk(exc, chunk) from None
        return parse_bulk_answer(body, chunk)

    # ------------------------------------------------------------------ encrypted endpoints

    def send_sms_encrypted(self, to: str | Iterable[str], text: str, *, sender: str) -> SMSSent:
        """Send a transactional SMS through the encrypted endpoint (``module=ENC``)."""
        message = check_sms_message(
            SMSMessage(to=to, text=text, sender=sender),  # type: ignore[arg-type]
            region=self.region,
        )
        numbers = [r1_form(p) for p in message.to]
        payload = {
            "module": "TRANS_SMS",
            "apikey": API_KEY_PLACEHOLDER,
            "to": ",".join(numbers),
            "from": message.sender,
            "msg": message.text,
        }
        answer = self._encrypted(payload, send=True)
        return SMSSent(message_id=self._details(answer), to=tuple("+" + n for n in numbers))

    def lookup_delivery(self, session_id: str, sms_date: date | None = None) -> DeliveryLookup:
        """Delivery status of a message (encrypted ``TRANS_SMS_DLR``) sent on ``sms_date``.

        2Factor files messages by their day in India Standard Time. ``sms_date`` defaults to
        today in IST; an aware ``datetime`` (such as a message's ``sent_at``) is converted to
        IST; a plain ``date`` or a naive ``datetime`` is read as IST (as ``schedule_at`` is).
        """
        payload = {
            "module": "TRANS_SMS_DLR",
            "apikey": API_KEY_PLACEHOLDER,
            "sessionid": validate_session_id(session_id),
            "smsdate": validate_sms_date(sms_date),
        }
        answer = self._encrypted(payload, send=False)
        details = str(answer.get("Details", ""))
        status = answer.get("DeliveryStatus")
        if not status:
            return DeliveryLookup(found=False, details=details)
        return DeliveryLookup(
            found=True,
            details=details,
            status=DeliveryStatus.parse(str(status)),
            sent_at=_parse_time(answer.get("SentAt")),
            delivered_at=_parse_time(answer.get("DeliveredAt")),
        )

    def _encrypted(self, payload: Mapping[str, str], *, send: bool) -> dict[str, Any]:
        codec = self._codec
        if codec is None or not self._credentials.has_secret_key:
            raise ConfigurationError(
                "the encrypted endpoints need secret_key= (and optionally codec=)"
            )
        # The payload names the key by its placeholder; the wire layer swaps the key in,
        # then encrypts the body with ``seal``.
        response = self._send(
            "POST",
            f"{self.base_url}/API/R1/?module=ENC&encmode={codec.mode}",
            label=f"POST /API/R1/?module=ENC&encmode={codec.mode} ({payload['module']})",
            data=json.dumps(payload).encode("utf-8"),
            headers={"Secret-Key": SECRET_KEY_PLACEHOLDER, "Content-Type": "text/plain"},
            send=send,
            seal=codec.encrypt,
        )
        label = f"POST /API/R1/?module=ENC ({payload['module']})"
        try:
            return self._encrypted_answer(response, codec, label)
        except TwoFactorError as error:
            _flag_outcome(error, response.status_code, changes_state=send)
            raise

    def _encrypted_answer(
        self, response: requests.Response, codec: EncryptionCodec, label: str
    ) -> dict[str, Any]:
        """Read an encrypted endpoint's answer: plaintext JSON errors, encrypted successes."""
        if 300 <= response.status_code < 400:
            self._raise_for_status(response, None, label)
        text = response.content.decode("utf-8", "replace").strip()
        try:
            body: Any = json.loads(text)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            if response.status_code >= 400:
                self._raise_for_status(response, None, label)
            try:
                body = json.loads(codec.decrypt(text))
            except Exception as exc:  # a codec of the caller's may raise anything
                # its text scrubbed: a codec may quote its key or what it decrypted
                shown = self._credentials.describe_failure(exc)
                raise DecryptionError(
                    f"2Factor's encrypted answer could not be read: {shown}",
                    status=response.status_code,
                    request=label,
                ) from None
            if not isinstance(body, dict):
                raise InvalidResponseError(
                    "decrypted answer is not a JSON object",
                    status=response.status_code,
                    request=label,
                )
        if response.status_code >= 400 or str(body.get("Status", "")).lower() == "error":
            self._raise_for_status(response, body, label)  # 429 (with Retry-After) and 5xx
            self._raise_api_error(response.status_code, body, label)
        details = body.get("Details")
        # The reference's sample keeps Details itself encrypted; decrypt it when it is.
        if (
            isinstance(details, str)
            and details
            and not details.startswith(("1 record", "No record"))
        ):
            # not encrypted after all, or a codec of the caller's that fails on it: kept as is
            with contextlib.suppress(Exception):
                body["Details"] = codec.decrypt(details).decode("utf-8")
        return body

    # ------------------------------------------------------------------ HTTP plumbing

    def _get_v1(
        self, segments: Sequence[str], labels: Sequence[str], *, send: bool
    ) -> dict[str, Any]:
        label = "GET /API/V1/<api-key>/SMS/" + "/".join(labels)
        return self._request("GET", self._v1_url(segments), label=label, send=send)

    def _verify(self, segments: Sequence[str], labels: Sequence[str]) -> Verification:
        label = "GET /API/V1/<api-key>/SMS/" + "/".join(labels)
        response = self._send(
            "GET", self._v1_url(segments), label=label, send=False, retry_reads=False
        )
        try:
            return self._verification(response, label)
        except TwoFactorError as error:
            _flag_outcome(error, response.status_code, changes_state=True)  # an OTP matches once
            raise

    def _verification(self, response: requests.Response, label: str) -> Verification:
        body = self._json(response, label)
        status = response.status_code
        answered = 200 <= status < 300
        if not answered:
            self._raise_for_status(response, body, label)  # a redirect, 429, 5xx
        details = str(body.get("Details", ""))
        lowered = details.lower()
        for needle, outcome in _VERIFY_OUTCOMES:
            if needle in lowered:
                if outcome is VerificationOutcome.MATCHED and not answered:
                    # Only a 2xx answer is 2Factor's verdict; a match in anything else (a
                    # proxy's page, a replayed body) is never believed.
                    raise InvalidResponseError(
                        f"an HTTP {status} answer said the OTP matched; only a 2xx answer "
                        "counts, so this is not a match",
                        status=status,
                        details=redact(details),
                        request=label,
                    )
                return Verification(outcome=outcome, details=redact(details))
        self._raise_for_status(response, body, label)
        if response.status_code >= 400 or _is_error_body(body):
            # not a verification outcome: a refusal (bad API key, phone length...)
            self._raise_api_error(response.status_code, body, label)
        shown = redact(details)
        raise InvalidResponseError(
            f"verification answer not understood: {shown[:80]!r}",
            status=response.status_code,
            details=shown,
            request=label,
        )

    def _request(
        self,
        method: str,
        url: str,
        *,
        label: str,
        send: bool,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        response = self._send(method, url, label=label, data=data, headers=headers, send=send)
        try:
            body = self._json(response, label)
            self._raise_for_status(response, body, label)  # 429 (with Retry-After) and 5xx
            if response.status_code >= 400 or _is_error_body(body):
                self._raise_api_error(response.status_code, body, label)
        except TwoFactorError as error:
            _flag_outcome(error, response.status_code, changes_state=send)
            raise
        return body

    def _send(
        self,
        method: str,
        url: str,
        *,
        label: str,
        send: bool,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_reads: bool | None = None,
        seal: Callable[[bytes], str] | None = None,
    ) -> requests.Response:
        """Make the call with timeouts, the rate limit and the safe retries; map failures.

        ``url``, ``data`` and ``headers`` hold key placeholders only: the session's
        :class:`KeyPlacingAdapter` puts the keys in (and, with ``seal``, encrypts the body)
        on its own copy of the request, just before the socket.
        """
        if self._closed:
            raise ConfigurationError("the client is closed")
        idempotent = (not send) if retry_reads is None else retry_reads
        # whatever the answer echoes of this request (its numbers, its OTP) stays out of the
        # errors and logs built from it: redact() hides them from here on
        hide_request_values_of(lambda: _request_values(url, data))
        if not self._owns_session:  # an injected session may have been re-mounted since
            install_key_placing_adapter(self._session, url)
        auth = self._credentials.auth(seal)
        body = data
        if isinstance(data, Mapping):
            # A form, encoded here as requests would (UTF-8, ``+`` for spaces, ``None``
            # left out): requests' generic encoding of a mapping costs about 50 µs a call.
            # (``data`` itself stays the mapping: the lambda above reads it.)
            body, headers = _form_body(data), {**_FORM_HEADERS, **(headers or {})}
        attempt = 0
        while True:
            if self._limiter is not None:
                self._limiter.acquire()
            started = time.perf_counter()
            try:
                # Never follow a redirect: it would send the key (in the URL, the form or the
                # Secret-Key header) to whatever host the Location names.
                response = self._session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    auth=auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.ConnectTimeout:
                error: TwoFactorError = APIConnectionError(
                    "could not connect to 2Factor in time (the request was not sent)",
                    request=label,
                )
                retry = True
            except requests.exceptions.ReadTimeout:
                error = _timeout_error(label, send=send, changes_state=not idempotent)
                retry = idempotent
            except requests.exceptions.SSLError as exc:
                error = APIConnectionError(
                    f"TLS failed: {_describe(exc)} (the request was not sent)", request=label
                )
                retry = False
            except requests.exceptions.ConnectionError as exc:
                if _never_sent(exc):
                    error = APIConnectionError(
                        f"could not connect to 2Factor: {_describe(exc)} "
                        "(the request was not sent)",
                        request=label,
                    )
                    retry = True
                elif send:
                    error = OutcomeUnknownError(
                        "the connection broke before 2Factor answered; the message may have "
                        "been accepted, so it is not retried",
                        request=label,
                    )
                    retry = False
                elif not idempotent:
                    error = OutcomeUnknownError(
                        "the connection broke before 2Factor answered; the verification may "
                        "have used the OTP up, so it is not retried",
                        request=label,
                    )
                    retry = False
                else:
                    error = APIConnectionError(
                        f"the connection broke before 2Factor answered: {_describe(exc)}",
                        request=label,
                    )
                    retry = idempotent
            except requests.exceptions.RequestException as exc:
                # The answer started but could not be read (cut short, undecodable) or an
                # injected session gave up retrying: the request reached the server.
                if send or not idempotent:
                    error = OutcomeUnknownError(
                        f"2Factor's answer could not be read ({_describe(exc)}); the call may "
                        "have taken effect, so it is not retried",
                        request=label,
                    )
                    retry = False
                else:
                    error = APIConnectionError(f"request failed: {_describe(exc)}", request=label)
                    retry = idempotent
            else:
                logger.debug(
                    "%s -> %s in %.1f ms",
                    label,
                    response.status_code,
                    (time.perf_counter() - started) * 1000,
                )
                return response
            logger.debug("%s failed: %s", label, type(error).__name__)
            if not retry or attempt >= self.connect_retries:
                raise error
            attempt += 1
            time.sleep(min(0.1 * 2**attempt, 1.0))

    def _v1_url(self, segments: Sequence[str]) -> str:
        """A V1 URL: the key's placeholder, then each segment percent-encoded."""
        path = "/".join(quote(s, safe="") for s in segments)
        return f"{self.base_url}/API/V1/{API_KEY_PLACEHOLDER}/SMS/{path}"

    def _json(self, response: requests.Response, label: str) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            body = None
        if not isinstance(body, dict):
            self._raise_for_status(response, None, label)
            content_type = response.headers.get("Content-Type", "unknown type")
            raise InvalidResponseError(
                f"2Factor answered with a body that is not a JSON object "
                f"({content_type}, {len(response.content)} bytes)",
                status=response.status_code,
                request=label,
            )
        return body

    def _raise_for_status(
        self, response: requests.Response, body: Mapping[str, Any] | None, label: str
    ) -> None:
        """Raise for statuses whose meaning does not depend on the body (429, 5xx)."""
        status = response.status_code
        details = redact(str(body.get("Details", ""))) if body else None
        if status == 429:
            raise RateLimitedError(
                "2Factor's rate limit was reached (HTTP 429)",
                status=status,
                details=details,
                request=label,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"2Factor answered with a redirect (HTTP {status}); it is not followed, because "
                "following it would send the API key to another address",
                status=status,
                request=label,
            )
        if status >= 500:
            raise ServerError(
                "2Factor had a server error", status=status, details=details, request=label
            )

    def _raise_api_error(self, status: int, body: Mapping[str, Any], label: str) -> None:
        if status == 429 or status >= 500:
            response = requests.Response()
            response.status_code = status
            self._raise_for_status(response, body, label)
        if "success" in body:  # the bulk endpoint's error shape
            raise _bulk_error(status, body, label)
        details = redact(str(body.get("Details", "")))
        lowered = details.lower()
        for needle, cls, field in _DETAIL_ERRORS:
            if needle in lowered:
                kwargs: dict[str, Any] = {"status": status, "details": details, "request": label}
                if issubclass(cls, InvalidInputError):
                    kwargs["field"] = field
                raise cls(f"2Factor refused the request: {details}", **kwargs)
        raise RequestRejectedError(
            f"2Factor refused the request: {details or 'no details given'}",
            status=status,
            details=details,
            request=label,
        )

    def _details(self, body: Mapping[str, Any]) -> str:
        """The id a successful send answers with (only sends call this)."""
        details = body.get("Details")
        if not isinstance(details, str) or not details:
            # A success without its id: the message may well be queued. The body is not kept
            # on the error: an AUTOGEN2 answer carries the OTP.
            error = InvalidResponseError("2Factor's success answer has no Details id")
            error.outcome_unknown = True
            raise error
        return details


# Fields of a request body that hold phone numbers (R1's form and JSON, Bulk's messages).
_NUMBER_FIELDS = frozenset({"to", "smsto", "phone", "mobile"})


_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def _form_body(form: Mapping[str, Any]) -> bytes:
    """``form`` URL-encoded, as requests encodes a mapping given as ``data``."""
    return urlencode([(k, v) for k, v in form.items() if v is not None], doseq=True).encode("ascii")


def _request_values(url: str, data: Any) -> tuple[list[str], list[str]]:
    """The phone numbers and OTPs a request carries, wherever they are in it: the digit
    segments of a V1 path (a number, or a 4-6 digit OTP) and the number fields of a form
    or JSON body."""
    phones: list[str] = []
    otps: list[str] = []
    path = urlsplit(url).path
    if "/SMS/" in path:
        for segment in path.split("/SMS/", 1)[1].split("/"):
            value = unquote(segment).lstrip("+")
            if value.isascii() and value.isdigit():
                (otps if len(value) <= 6 else phones).append(value)
    body: Any = data
    if isinstance(data, bytes | str):
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            body = None
    pending = [body]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            for key, value in item.items():
                if str(key).lower() in _NUMBER_FIELDS and isinstance(value, str):
                    phones.extend(value.split(","))
                elif isinstance(value, Mapping | list):
                    pending.append(value)
        elif isinstance(item, list):
            pending.extend(item)
    return phones, otps


def _retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header, given in seconds or as an HTTP date.

    ``None`` for anything else, and for waits over a day (a broken or hostile header).
    """
    if not value or not value.isascii():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
        seconds = max(seconds, 0.0)
    return seconds if 0 <= seconds < 86_400 else None


def _flag_outcome(error: TwoFactorError, status: int, changes_state: bool) -> None:
    """Mark an error on a state-changing call whose request may have taken effect.

    A gateway error (500, 502, 504) can come after 2Factor queued the message, and a 2xx
    whose body cannot be read is most likely a success we cannot see.
    """
    if not changes_state:
        return
    if (isinstance(error, ServerError) and status in (500, 502, 504)) or (
        isinstance(error, InvalidResponseError) and 200 <= status < 300
    ):
        error.outcome_unknown = True


def _settle_environment(session: requests.Session, base_url: str) -> None:
    """Read the environment's proxy and CA-bundle settings once, not on every request.

    With ``trust_env`` on, requests looks up proxies (and ``no_proxy``), ``.netrc`` and the CA
    bundle variables for every call: about a third of a call's CPU here. The client talks
    to one host, so it resolves them for that host when it is created and turns the lookup
    off. ``.netrc`` is not needed: 2Factor authenticates by the key in the URL.
    """
    proxies = requests.utils.get_environ_proxies(base_url)
    session.proxies.update({k: v for k, v in proxies.items() if k != "no"})
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def _is_error_body(body: Mapping[str, Any]) -> bool:
    if body.get("success") is False:
        return True
    return str(body.get("Status", "")).lower() == "error"


def _bulk_error(status: int, body: Mapping[str, Any], label: str) -> TwoFactorError:
    problems = body.get("details") or []
    texts = []
    for p in problems if isinstance(problems, list) else []:
        if isinstance(p, Mapping):
            texts.append(str(p.get("error", "")))
    joined = "; ".join(t for t in texts if t) or str(body.get("error", "bulk request refused"))
    joined = redact(joined)
    request_id = str(body.get("requestId", "")) or None
    if "invalid api key" in joined.lower():
        return AuthenticationError(
            f"2Factor refused the API key: {joined}",
            status=status,
            details=joined,
            request=label,
            request_id=request_id,
        )
    return BulkRequestError(
        f"2Factor refused the bulk request: {joined}",
        status=status,
        details=joined,
        request=label,
        request_id=request_id,
        error_type=str(body.get("errorType", "")) or None,
    )


def _timeout_error(label: str, *, send: bool, changes_state: bool) -> TwoFactorError:
    if send:
        return OutcomeUnknownError(
            "2Factor did not answer in time; the message may have been accepted, so it is "
            "not retried (check delivery reports before sending again)",
            request=label,
        )
    if changes_state:
        return OutcomeUnknownError(
            "2Factor did not answer in time; the verification may have used the OTP up, so "
            "it is not retried",
            request=label,
        )
    return RequestTimeoutError("2Factor did not answer in time", request=label)


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was never established (so nothing reached 2Factor)."""
    import urllib3.exceptions as u3

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(
            cause, u3.NewConnectionError | u3.NameResolutionError | ConnectionRefusedError
        ):
            return True
        if isinstance(cause, u3.MaxRetryError) and cause.reason is not None:
            cause = cause.reason
            continue
        nxt = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = nxt or cause.__cause__ or cause.__context__
    return False


def _describe(exc: BaseException) -> str:
    """Name the innermost cause of a requests/urllib3 error.

    Their messages embed the full URL (API key, phone number, OTP), so only class names
    are used: ``ConnectionError (NewConnectionError)``.
    """
    names = [type(exc).__name__]
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        reason = getattr(cause, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else None
        if nxt is None and cause.args and isinstance(cause.args[0], BaseException):
            nxt = cause.args[0]
        cause = nxt or cause.__cause__ or cause.__context__
        if cause is not None:
            names.append(type(cause).__name__)
    inner = names[-1]
    return names[0] if inner == names[0] else f"{names[0]} ({inner})"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
