"""Certificate Revocation settings, enterprise parameters and Common Criteria mode.

Three persisted sections (SPEC section 3; the chapter's "Configure Certificate
Revocation via OCSP"):

* ``revocation`` -> :class:`RevocationSettings` (Security > Certificate Revocation),
* ``params`` -> :class:`EnterpriseParams` (Certificate Validity Check and its
  frequency, for long-lived connections),
* ``security`` -> :class:`SecuritySettings` (Common Criteria mode).

Pure: validation only. :meth:`from_dict` checks every field and raises one
:class:`~certwarden.errors.InvalidFieldsError` naming each bad one, so a form can
show every message at once and nothing is saved while any is bad.
"""

from __future__ import annotations

import enum
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any, Self, TypeVar

from certwarden.core.algorithms import LegacySignatures
from certwarden.core.ocsp.results import HashAlgorithm, NonceMode, ValidationOptions
from certwarden.errors import InvalidFieldsError

__all__ = [
    "PARAMS_SECTION",
    "REVOCATION_SECTION",
    "SECURITY_SECTION",
    "EnterpriseParams",
    "IntervalUnit",
    "RequestMethod",
    "ResponderSource",
    "RevocationSettings",
    "SecuritySettings",
    "SourceOrder",
    "recheck_interval",
]

REVOCATION_SECTION = "revocation"
PARAMS_SECTION = "params"
SECURITY_SECTION = "security"

_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_INTERVAL = timedelta(days=365)
_INTERVAL = re.compile(r"^\s*(\d+)\s*(h|hours?|d|days?)\s*$", re.IGNORECASE)
_MAX_VALIDITY_FREQUENCY_HOURS = 720  # 30 days


@enum.unique
class ResponderSource(enum.StrEnum):
    """Where the responder URL comes from."""

    CONFIGURED = "configured"  # "Use configured OCSP URI"
    CERTIFICATE = "certificate"  # "Use OCSP URI from Certificate" (AIA)


@enum.unique
class SourceOrder(enum.StrEnum):
    """Which revocation sources answer, in which order (CRLs: issue 13).

    The second source is asked only when the first could not tell.
    """

    OCSP_ONLY = "ocsp-only"  # today's behaviour, the default (an upgraded installation too)
    OCSP_FIRST = "ocsp-first"  # CRL when OCSP cannot tell
    CRL_FIRST = "crl-first"  # OCSP when the CRL cannot tell
    CRL_ONLY = "crl-only"

    @property
    def sources(self) -> tuple[str, ...]:
        """``("ocsp",)``, ``("ocsp", "crl")``, ``("crl", "ocsp")`` or ``("crl",)``."""
        return {
            SourceOrder.OCSP_ONLY: ("ocsp",),
            SourceOrder.OCSP_FIRST: ("ocsp", "crl"),
            SourceOrder.CRL_FIRST: ("crl", "ocsp"),
            SourceOrder.CRL_ONLY: ("crl",),
        }[self]


@enum.unique
class IntervalUnit(enum.StrEnum):
    HOURS = "hours"
    DAYS = "days"


@enum.unique
class RequestMethod(enum.StrEnum):
    POST = "post"
    GET = "get"  # RFC 5019, for small requests


E = TypeVar("E", bound=enum.Enum)


class _Checker:
    """Collects field errors while reading a mapping."""

    def __init__(self, data: Mapping[str, Any], known: set[str]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}
        for key in sorted(set(data) - known):
            self.errors[key] = f"unknown setting; known settings: {', '.join(sorted(known))}"

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        self.errors[name] = f"must be true or false, not {value!r}"
        return default

    def choice(self, name: str, kind: type[E], default: E) -> E:
        value = self.data.get(name, default)
        try:
            return kind(value.strip().lower() if isinstance(value, str) else value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            self.errors[name] = f"must be one of {allowed}, not {value!r}"
            return default

    def number(
        self,
        name: str,
        default: float,
        *,
        low: float,
        high: float,
        integer: bool = False,
        unit: str = "",
    ) -> float:
        value = self.data.get(name, default)
        parsed: float | None = None
        if isinstance(value, bool):
            parsed = None
        elif isinstance(value, int | float):
            parsed = float(value)
        elif isinstance(value, str):
            try:
                parsed = float(value.strip())
            except ValueError:
                parsed = None
        if parsed is None or not math.isfinite(parsed):
            self.errors[name] = f"must be a number, not {value!r}"
            return default
        if integer and parsed != int(parsed):
            self.errors[name] = f"must be a whole number, not {value!r}"
            return default
        if not low <= parsed <= high:
            self.errors[name] = f"must be between {low:g} and {high:g}{unit}, not {parsed:g}"
            return default
        return int(parsed) if integer else parsed

    def text(self, name: str, default: str, check: Callable[[str], str | None]) -> str:
        value = self.data.get(name, default)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.errors[name] = f"must be text, not {value!r}"
            return default
        value = value.strip()
        problem = check(value)
        if problem:
            self.errors[name] = problem
            return default
        return value

    def done(self) -> None:
        if self.errors:
            raise InvalidFieldsError(self.errors)


_BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def check_responder_url(value: str) -> str | None:
    """None when ``value`` is empty or a usable http/https URL, else the problem."""
    if not value:
        return None
    if len(value) > 2048:
        return "is longer than 2048 characters"
    if any(ch.isspace() for ch in value):
        return f"{value!r} contains white space"
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"{value!r} is not a valid URL ({exc})"
    if parts.scheme.lower() not in {"http", "https"}:
        return f"{value!r} must be an http:// or https:// URL"
    if not parts.hostname:
        return f"{value!r} has no host name"
    if port == 0:
        return f"{value!r} has port 0"
    if parts.fragment:
        return f"{value!r} must not have a #fragment"
    return None


def _check_store(value: str) -> str | None:
    if not _STORE_NAME.match(value):
        return f"{value!r} is not a store name (letters, digits, '.', '_', '-')"
    return None


class _Section:
    """Shared (de)serialisation for the frozen settings dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        raise NotImplementedError

    def updated(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied (InvalidFieldsError names every bad field)."""
        return self.from_dict({**self.to_dict(), **changes})

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class RevocationSettings(_Section):
    """Security > Certificate Revocation, plus the request options.

    Defaults follow the appliance: OCSP and the scheduled check are off until
    an administrator turns them on; Check Every is 24 hours.
    """

    enable_ocsp: bool = False
    responder_source: ResponderSource = ResponderSource.CERTIFICATE
    configured_uri: str = ""
    enable_revocation_check: bool = False
    check_every: int = 24
    check_every_unit: IntervalUnit = IntervalUnit.HOURS
    hash_algorithm: HashAlgorithm = HashAlgorithm.SHA1
    nonce: NonceMode = NonceMode.SEND
    method: RequestMethod = RequestMethod.POST
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    trusted_responder_store: str = "tomcat-trust"
    # Freshness (RFC 6960 4.2.2.1): the clock skew allowed around thisUpdate and
    # nextUpdate, and the oldest thisUpdate accepted when a response has no nextUpdate.
    clock_skew_seconds: int = 300
    max_age_hours: int = 24
    # SHA-1 signatures on responses and certificates (core/algorithms.py):
    # refused unless accepted here, and never in Common Criteria mode.
    legacy_signatures: LegacySignatures = LegacySignatures.REFUSE
    # CRLs (issue 13): off, and the order ocsp-only, until an administrator
    # turns them on; a stored section from before has neither key.
    enable_crl: bool = False
    order: SourceOrder = SourceOrder.OCSP_ONLY
    crl_max_mib: int = 50  # the size cap while a CRL is read
    crl_timeout: float = 30.0  # seconds for one CRL fetch (HTTP or LDAP)
    crl_refresh_margin_minutes: int = 60  # fetched again this long before nextUpdate
    crl_fetch_floor_minutes: int = 15  # never fetched more often than this

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources asked, in order, leaving out a disabled one (``()``: none)."""
        enabled = {"ocsp": self.enable_ocsp, "crl": self.enable_crl}
        return tuple(name for name in self.order.sources if enabled[name])

    @property
    def revocation_enabled(self) -> bool:
        """True when any source will be asked (OCSP, CRLs, or both)."""
        return bool(self.sources)

    @property
    def crl_max_bytes(self) -> int:
        return self.crl_max_mib * 1024 * 1024

    @property
    def crl_refresh_margin(self) -> timedelta:
        return timedelta(minutes=self.crl_refresh_margin_minutes)

    @property
    def crl_fetch_floor(self) -> timedelta:
        return timedelta(minutes=self.crl_fetch_floor_minutes)

    @property
    def validation_options(self) -> ValidationOptions:
        """How responses are judged under these settings, legacy signatures refused.

        Fail closed: what judges a live check uses :meth:`validation_options_for`,
        which knows the Common Criteria mode.
        """
        return self.validation_options_for(common_criteria=True)

    def validation_options_for(self, *, common_criteria: bool) -> ValidationOptions:
        """How responses are judged under these settings in that mode.

        Legacy (SHA-1) signatures are accepted only when the setting says so
        and Common Criteria mode is off.
        """
        return ValidationOptions(
            skew=timedelta(seconds=self.clock_skew_seconds),
            max_age=timedelta(hours=self.max_age_hours),
            nonce_mode=self.nonce,
            accept_legacy_signatures=(
                self.legacy_signatures is LegacySignatures.ACCEPT and not common_criteria
            ),
        )

    @property
    def check_interval(self) -> timedelta:
        """Check Every as a duration."""
        if self.check_every_unit is IntervalUnit.DAYS:
            return timedelta(days=self.check_every)
        return timedelta(hours=self.check_every)

    @property
    def scheduled_checks_enabled(self) -> bool:
        """The Check Every schedule runs when a source is on and Revocation Check is checked."""
        return self.revocation_enabled and self.enable_revocation_check

    def describe_source(self) -> str:
        if self.responder_source is ResponderSource.CONFIGURED:
            return f"configured URI {self.configured_uri}"
        return "the OCSP URI in each certificate (AIA)"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RevocationSettings:
        d = cls()
        c = _Checker(data or {}, cls.field_names())
        enable_ocsp = c.boolean("enable_ocsp", d.enable_ocsp)
        source = c.choice("responder_source", ResponderSource, d.responder_source)
        uri = c.text("configured_uri", d.configured_uri, check_responder_url)
        if (
            enable_ocsp
            and source is ResponderSource.CONFIGURED
            and not uri
            and "configured_uri" not in c.errors
        ):
            c.errors["configured_uri"] = (
                "is required when OCSP is enabled with 'Use configured OCSP URI'"
            )
        enable_check = c.boolean("enable_revocation_check", d.enable_revocation_check)
        data = dict(data or {})
        every_text = data.get("check_every")
        if isinstance(every_text, str) and not every_text.strip().isdigit():
            # "24h", "2 days": the number and the unit in one field.
            match = _INTERVAL.match(every_text)
            if match is None:
                c.errors["check_every"] = (
                    f"{every_text!r} is not an interval; write a number and hours or days, "
                    "like 24h or 2d"
                )
            else:
                c.data = {
                    **c.data,
                    "check_every": match.group(1),
                    "check_every_unit": "days" if match.group(2).startswith("d") else "hours",
                }
        unit = c.choice("check_every_unit", IntervalUnit, d.check_every_unit)
        max_every = _MAX_INTERVAL.days * (24 if unit is IntervalUnit.HOURS else 1)
        every = (
            d.check_every
            if "check_every" in c.errors
            else int(
                c.number(
                    "check_every",
                    d.check_every,
                    low=1,
                    high=max_every,
                    integer=True,
                    unit=f" {unit}",
                )
            )
        )
        hash_algorithm = c.choice("hash_algorithm", HashAlgorithm, d.hash_algorithm)
        nonce = c.choice("nonce", NonceMode, d.nonce)
        method = c.choice("method", RequestMethod, d.method)
        connect = c.number("connect_timeout", d.connect_timeout, low=0.1, high=60, unit=" s")
        total = c.number("total_timeout", d.total_timeout, low=0.1, high=300, unit=" s")
        if (
            "connect_timeout" not in c.errors
            and "total_timeout" not in c.errors
            and total < connect
        ):
            c.errors["total_timeout"] = (
                f"must not be shorter than the connect timeout ({connect:g} s), not {total:g}"
            )
        skew = int(
            c.number(
                "clock_skew_seconds",
                d.clock_skew_seconds,
                low=0,
                high=3600,
                integer=True,
                unit=" s",
            )
        )
        max_age = int(
            c.number("max_age_hours", d.max_age_hours, low=1, high=720, integer=True, unit=" h")
        )
        legacy = c.choice("legacy_signatures", LegacySignatures, d.legacy_signatures)
        store = c.text("trusted_responder_store", d.trusted_responder_store, _check_store)
        if not store and "trusted_responder_store" not in c.errors:
            c.errors["trusted_responder_store"] = "must name a trust store"
        crl = _crl_fields(c, d)
        c.done()
        return cls(
            enable_ocsp=enable_ocsp,
            responder_source=source,
            configured_uri=uri,
            enable_revocation_check=enable_check,
            check_every=every,
            check_every_unit=unit,
            hash_algorithm=hash_algorithm,
            nonce=nonce,
            method=method,
            connect_timeout=connect,
            total_timeout=total,
            trusted_responder_store=store,
            clock_skew_seconds=skew,
            max_age_hours=max_age,
            legacy_signatures=legacy,
            **crl,
        )


def _crl_fields(c: _Checker, d: RevocationSettings) -> dict[str, Any]:
    """The CRL fields of :class:`RevocationSettings`, checked into ``c``."""
    enable_crl = c.boolean("enable_crl", d.enable_crl)
    order = c.choice("order", SourceOrder, d.order)
    if not enable_crl and "crl" in order.sources and not ({"order", "enable_crl"} & set(c.errors)):
        c.errors["order"] = (
            f"the order {order.value} uses CRLs but Enable CRL is off; "
            "turn on Enable CRL or choose the order ocsp-only"
        )
    cap = int(c.number("crl_max_mib", d.crl_max_mib, low=1, high=1024, integer=True, unit=" MiB"))
    timeout = c.number("crl_timeout", d.crl_timeout, low=1, high=600, unit=" s")
    margin = int(
        c.number(
            "crl_refresh_margin_minutes",
            d.crl_refresh_margin_minutes,
            low=0,
            high=7 * 24 * 60,
            integer=True,
            unit=" min",
        )
    )
    floor = int(
        c.number(
            "crl_fetch_floor_minutes",
            d.crl_fetch_floor_minutes,
            low=1,
            high=7 * 24 * 60,
            integer=True,
            unit=" min",
        )
    )
    return {
        "enable_crl": enable_crl,
        "order": order,
        "crl_max_mib": cap,
        "crl_timeout": timeout,
        "crl_refresh_margin_minutes": margin,
        "crl_fetch_floor_minutes": floor,
    }


@dataclass(frozen=True)
class EnterpriseParams(_Section):
    """Enterprise parameters, Certificate Revocation and Expiry group."""

    certificate_validity_check: bool = False
    validity_check_frequency_hours: int = 24

    @property
    def validity_check_frequency(self) -> timedelta:
        return timedelta(hours=self.validity_check_frequency_hours)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EnterpriseParams:
        d = cls()
        c = _Checker(data or {}, cls.field_names())
        check = c.boolean("certificate_validity_check", d.certificate_validity_check)
        frequency = c.data.get("validity_check_frequency_hours")
        if isinstance(frequency, str) and not frequency.strip().isdigit():
            match = _INTERVAL.match(frequency)
            if match is None:
                c.errors["validity_check_frequency_hours"] = (
                    f"{frequency!r} is not a number of hours; write e.g. 12 or 12h (or 2d)"
                )
            else:
                n = int(match.group(1)) * (24 if match.group(2).startswith("d") else 1)
                c.data = {**c.data, "validity_check_frequency_hours": n}
        hours = (
            d.validity_check_frequency_hours
            if c.errors.get("validity_check_frequency_hours")
            else int(
                c.number(
                    "validity_check_frequency_hours",
                    d.validity_check_frequency_hours,
                    low=1,
                    high=_MAX_VALIDITY_FREQUENCY_HOURS,
                    integer=True,
                    unit=" hours",
                )
            )
        )
        c.done()
        return cls(certificate_validity_check=check, validity_check_frequency_hours=hours)


@dataclass(frozen=True)
class SecuritySettings(_Section):
    """Common Criteria mode: only a Good answer allows (core/policy.py)."""

    common_criteria: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SecuritySettings:
        d = cls()
        c = _Checker(data or {}, cls.field_names())
        cc = c.boolean("common_criteria", d.common_criteria)
        c.done()
        return cls(common_criteria=cc)


def recheck_interval(revocation: RevocationSettings, params: EnterpriseParams) -> timedelta | None:
    """How often a long-lived connection's certificate is re-checked, or None.

    None when Certificate Validity Check is off. Otherwise Check Every when the
    scheduled revocation check is on — the chapter: "The interval value of the
    Enable Revocation Check parameter ... takes precedence over the value of the
    Validity Check Frequency enterprise parameter" — else Validity Check Frequency.
    """
    if not params.certificate_validity_check:
        return None
    if revocation.scheduled_checks_enabled:
        return revocation.check_interval
    return params.validity_check_frequency
