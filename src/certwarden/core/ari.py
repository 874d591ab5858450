"""ACME Renewal Information (RFC 9773), the pure part: names, answers, schedule, judgement.

A CA that speaks ARI publishes, for each certificate it issued, a *suggested
renewal window* at ``<renewalInfo>/<certID>`` (its ACME directory names the
``renewalInfo`` URL). certwarden does not renew anything; it watches:

* the window has opened and no renewal of the certificate has appeared ->
  an alert (the CA wants it replaced now, whatever its notAfter says);
* the CA moved the window earlier than it said before -> an alert with the
  CA's explanation URL: this is how a CA announces a mass revocation.

Polling follows RFC 9773 section 4.3: again after the server's Retry-After,
clamped to [1 minute, 1 day] (the RFC's "reasonable limits"); certwarden's
own default without one is 6 hours; after a failed fetch, back-off from 1
minute doubling to 1 day. A failed fetch never raises an alert: the last
good window stays the one judged.
"""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from cryptography import x509

from certwarden.errors import InvalidFieldsError

__all__ = [
    "DEFAULT_POLL",
    "MAX_BODY_BYTES",
    "MAX_POLL",
    "MIN_POLL",
    "AriAnswerError",
    "AriCondition",
    "AriDirectory",
    "RenewalWindow",
    "backoff",
    "conditions",
    "next_poll",
    "parse_renewal_info",
    "renewal_id",
    "renewal_info_url",
    "validate_directory",
]

MIN_POLL = timedelta(minutes=1)
MAX_POLL = timedelta(days=1)
DEFAULT_POLL = timedelta(hours=6)
MAX_BODY_BYTES = 64 * 1024  # a renewalInfo answer is a few hundred bytes
_MAX_URL = 2048


class AriAnswerError(ValueError):
    """A renewalInfo answer or certificate ARI cannot use; the message says what."""


@enum.unique
class AriCondition(enum.StrEnum):
    WINDOW_OPEN = "renewal_window_open"  # the window has started, no renewal seen
    MOVED_EARLIER = "renewal_window_moved"  # the CA moved the window earlier


@dataclass(frozen=True)
class RenewalWindow:
    """A suggested renewal window (``start`` < ``end``), and the CA's explanation."""

    start: datetime
    end: datetime
    explanation_url: str | None = None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def renewal_id(cert: x509.Certificate) -> str:
    """RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER content octets).

    The serial's octets are its two's-complement DER encoding (a leading zero
    when the high bit is set), without tag and length.

    Raises:
        AriAnswerError: the certificate has no Authority Key Identifier with a
            keyIdentifier (ARI cannot name it), or a serial that is not positive.
    """
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        raise AriAnswerError("the certificate has no Authority Key Identifier") from None
    if not aki.key_identifier:
        raise AriAnswerError("the Authority Key Identifier has no keyIdentifier")
    serial = cert.serial_number
    if serial <= 0:
        raise AriAnswerError("the serial number is not positive")
    octets = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # room for the sign bit
    return f"{_b64url(aki.key_identifier)}.{_b64url(octets)}"


def renewal_info_url(base: str, cert: x509.Certificate) -> str:
    """The certificate's renewalInfo resource under the directory's ``renewalInfo`` URL."""
    return f"{base.rstrip('/')}/{renewal_id(cert)}"


def _when(value: object, name: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise AriAnswerError(f"suggestedWindow.{name} is not an RFC 3339 time")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AriAnswerError(f"suggestedWindow.{name} {value!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise AriAnswerError(f"suggestedWindow.{name} {value!r} has no time zone")
    return when.astimezone(UTC)


def parse_renewal_info(body: bytes) -> RenewalWindow:
    """Read a renewalInfo answer (RFC 9773 4.2): ``suggestedWindow`` and ``explanationURL``.

    Raises:
        AriAnswerError: too large, not JSON, no window, a window whose end is not
            after its start, or an explanation URL that is not http(s).
    """
    if len(body) > MAX_BODY_BYTES:
        raise AriAnswerError(f"the answer is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise AriAnswerError("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise AriAnswerError("the answer is not a JSON object")
    window = data.get("suggestedWindow")
    if not isinstance(window, dict):
        raise AriAnswerError("the answer has no suggestedWindow object")
    start, end = _when(window.get("start"), "start"), _when(window.get("end"), "end")
    if end <= start:
        raise AriAnswerError("suggestedWindow.end is not after suggestedWindow.start")
    url = data.get("explanationURL")
    if url is not None and (
        not isinstance(url, str)
        or len(url) > _MAX_URL
        or not url.lower().startswith(("https://", "http://"))
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url)
    ):
        raise AriAnswerError("explanationURL is not an http(s) URL")
    return RenewalWindow(start, end, url)


def next_poll(retry_after: str | None, now: datetime) -> datetime:
    """When to ask again after a good answer: Retry-After (seconds or HTTP-date), clamped."""
    wait = DEFAULT_POLL
    if retry_after:
        text = retry_after.strip()
        parsed: timedelta | None = None
        if text.isdigit() and len(text) <= 12:
            parsed = timedelta(seconds=int(text))
        else:
            try:
                date = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                date = None
            if date is not None:
                if date.tzinfo is None:
                    date = date.replace(tzinfo=UTC)
                parsed = date - now
        if parsed is not None:
            wait = parsed
    return now + min(max(wait, MIN_POLL), MAX_POLL)


def backoff(failures: int, now: datetime) -> datetime:
    """When to ask again after ``failures`` failed fetches in a row (1 min doubling, at most 1 day)."""
    exponent = min(max(failures, 1) - 1, 20)
    wait: timedelta = min(MIN_POLL * (2**exponent), MAX_POLL)
    return now + wait


def conditions(
    window: RenewalWindow,
    *,
    previous: RenewalWindow | None,
    renewed: bool,
    now: datetime,
) -> list[AriCondition]:
    """What deserves an alert in ``window``, given the window seen before it.

    ``renewed``: a renewal of the certificate is already in the inventory (the
    monitor's renewal rule); then an open window asks nothing of anyone.
    """
    found: list[AriCondition] = []
    if previous is not None and window.start < previous.start:
        found.append(AriCondition.MOVED_EARLIER)
    if not renewed and now >= window.start:
        found.append(AriCondition.WINDOW_OPEN)
    return found


@dataclass(frozen=True)
class AriDirectory:
    """An ACME directory that speaks ARI, for the certificates of a store or of an issuer.

    ``scope`` is ``store`` (``key``: the store's name) or ``issuer`` (``key``: the
    issuing CA's SHA-256). An issuer's directory wins over its store's.
    """

    scope: str
    key: str
    url: str

    def to_json(self) -> dict[str, str]:
        return {"scope": self.scope, "key": self.key, "url": self.url}


def validate_directory(scope: str, key: str, url: str) -> AriDirectory:
    """An :class:`AriDirectory`, or InvalidFieldsError naming each bad field."""
    errors: dict[str, str] = {}
    key = key.strip()
    url = url.strip()
    if scope == "issuer":
        key = key.lower().replace(":", "")
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            errors["issuer"] = f"{key[:80]!r} is not a SHA-256 fingerprint (64 hex digits)"
    elif scope == "store":
        if not key or len(key) > 128:
            errors["store"] = "name a store (at most 128 characters)"
    else:
        errors["scope"] = f"{scope[:40]!r} is neither store nor issuer"
    if (
        not url.lower().startswith(("https://", "http://"))
        or len(url) > _MAX_URL
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url)
    ):
        errors["url"] = f"{url[:80]!r} is not an http(s) URL of an ACME directory"
    if errors:
        raise InvalidFieldsError(errors)
    return AriDirectory(scope, key, url)
