"""Change events of a monitored endpoint's certificate, the pure part.

    state, event = observe(state, leaf_facts(cert), now=now, damping=timedelta(hours=24))

Each successful probe hands the leaf it found to :func:`observe` with the
endpoint's :class:`ChangeState` (a small bounded history of the certificates
seen there). When the leaf differs from the one last *announced*, the change
is one of

* ``renewed``: same subject, a new certificate (new key or serial), not older;
* ``issuer_changed``: a different issuer signed it;
* ``key_reused``: a new certificate with the same public key (a finding:
  renewals should make new keys);
* ``rolled_back``: a certificate seen before comes back, older than the one
  announced;
* ``several_certificates``: the endpoint switches back and forth between
  certificates it served before (a load balancer whose backends differ) —
  said once for that set, not as a stream of renewals and rollbacks;
* ``replaced``: anything else (another subject).

Damping: at most one event per endpoint per ``damping`` period. A change seen
while damped is not lost: the first probe after the period compares what is
served then with what was announced last. Nothing here reads a clock or
does I/O; the state is plain JSON for the endpoint's row.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certwarden.core.durations import format_duration, parse_duration
from certwarden.core.timefmt import iso_z
from certwarden.errors import InvalidFieldsError

__all__ = [
    "DEFAULT_DAMPING",
    "SECTION",
    "ChangeEvent",
    "ChangeKind",
    "ChangeSettings",
    "ChangeState",
    "LeafFacts",
    "SeenCertificate",
    "leaf_facts",
    "observe",
]

SECTION = "endpoint_changes"
DEFAULT_DAMPING = timedelta(hours=24)
MIN_DAMPING = timedelta(hours=1)
MAX_DAMPING = timedelta(days=30)
# Bounds on the state kept per endpoint (work per probe stays constant).
MAX_HISTORY = 8
MAX_SWITCHES = 32
# Switches older than this are forgotten (an alternation is a recent pattern).
SWITCH_MEMORY = timedelta(days=30)
# Returns to a certificate seen before, within the switches remembered, that
# make an alternation rather than a rollback.
ALTERNATION_RETURNS = 2


@enum.unique
class ChangeKind(enum.StrEnum):
    RENEWED = "renewed"
    ISSUER_CHANGED = "issuer_changed"
    KEY_REUSED = "key_reused"
    ROLLED_BACK = "rolled_back"
    SEVERAL_CERTIFICATES = "several_certificates"
    REPLACED = "replaced"


@dataclass(frozen=True)
class LeafFacts:
    """What a change is judged on, read from the leaf once."""

    sha256: str
    serial: str  # lowercase hex
    subject: str
    issuer: str
    key_sha256: str  # SHA-256 of the SubjectPublicKeyInfo DER
    not_before: datetime
    not_after: datetime


def leaf_facts(cert: x509.Certificate) -> LeafFacts:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return LeafFacts(
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        serial=format(cert.serial_number, "x"),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        key_sha256=hashlib.sha256(spki).hexdigest(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


@dataclass(frozen=True)
class SeenCertificate:
    facts: LeafFacts
    first_seen_at: datetime
    last_seen_at: datetime
    arrivals: int = 1  # how many times the endpoint switched to it

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        return {
            "sha256": f.sha256,
            "serial": f.serial,
            "subject": f.subject,
            "issuer": f.issuer,
            "key_sha256": f.key_sha256,
            "not_before": iso_z(f.not_before),
            "not_after": iso_z(f.not_after),
            "first_seen_at": iso_z(self.first_seen_at),
            "last_seen_at": iso_z(self.last_seen_at),
            "arrivals": self.arrivals,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SeenCertificate:
        facts = LeafFacts(
            sha256=str(raw["sha256"]),
            serial=str(raw["serial"]),
            subject=str(raw["subject"]),
            issuer=str(raw["issuer"]),
            key_sha256=str(raw["key_sha256"]),
            not_before=_time(raw["not_before"]),
            not_after=_time(raw["not_after"]),
        )
        return cls(
            facts, _time(raw["first_seen_at"]), _time(raw["last_seen_at"]), int(raw["arrivals"])
        )


@dataclass(frozen=True)
class Switch:
    """The endpoint served ``to_sha256`` where it served ``from_sha256`` before."""

    at: datetime
    from_sha256: str
    to_sha256: str
    returned: bool  # to a certificate this endpoint served before

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "from": self.from_sha256,
            "to": self.to_sha256,
            "returned": self.returned,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Switch:
        return cls(_time(raw["at"]), str(raw["from"]), str(raw["to"]), bool(raw["returned"]))


@dataclass(frozen=True)
class ChangeState:
    """Per endpoint: what it served, what was announced, when, and a bounded history."""

    current: str | None = None  # the leaf served at the last successful probe
    announced: str | None = None  # the leaf the last event (or the first probe) named
    announced_set: tuple[str, ...] = ()  # the set a several_certificates event named
    alerted_at: datetime | None = None
    damped: int = 0  # switches not announced since the last event
    history: tuple[SeenCertificate, ...] = ()
    switches: tuple[Switch, ...] = field(default_factory=tuple)

    def seen(self, sha256: str | None) -> SeenCertificate | None:
        return next((h for h in self.history if h.facts.sha256 == sha256), None)

    def taking_turns(self, now: datetime, damping: timedelta) -> frozenset[str]:
        """The certificates served now or in turn lately: the current one, and those
        the endpoint came back to (served more than once) within twice ``damping``.
        A balancer's certificates stay in the inventory instead of leaving and
        arriving again at every switch."""
        recent = {
            h.facts.sha256
            for h in self.history
            if h.arrivals > 1 and now - h.last_seen_at <= 2 * damping
        }
        return frozenset(recent | ({self.current} if self.current else set()))

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "announced": self.announced,
            "announced_set": list(self.announced_set),
            "alerted_at": iso_z(self.alerted_at) if self.alerted_at else None,
            "damped": self.damped,
            "history": [h.to_json() for h in self.history],
            "switches": [s.to_json() for s in self.switches],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> ChangeState:
        """The stored state; a missing or unreadable one starts afresh (it is only history)."""
        if not raw:
            return cls()
        try:
            return cls(
                current=raw.get("current"),
                announced=raw.get("announced"),
                announced_set=tuple(str(s) for s in raw.get("announced_set") or ()),
                alerted_at=_time(raw["alerted_at"]) if raw.get("alerted_at") else None,
                damped=int(raw.get("damped") or 0),
                history=tuple(SeenCertificate.from_json(h) for h in raw.get("history") or ()),
                switches=tuple(Switch.from_json(s) for s in raw.get("switches") or ()),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return cls()


@dataclass(frozen=True)
class ChangeEvent:
    kind: ChangeKind
    old: LeafFacts
    new: LeafFacts
    findings: tuple[ChangeKind, ...]  # every description that fits, ``kind`` first
    certificates: tuple[str, ...] = ()  # several_certificates: the set served
    damped: int = 0  # switches not announced while damped

    def message(self, where: str) -> str:
        old, new = self.old, self.new
        what = {
            ChangeKind.RENEWED: "was renewed",
            ChangeKind.ISSUER_CHANGED: f"has a certificate from another issuer ({_shown(new.issuer)})",
            ChangeKind.KEY_REUSED: "has a new certificate with the same public key as before",
            ChangeKind.ROLLED_BACK: "went back to an older certificate it served before",
            ChangeKind.SEVERAL_CERTIFICATES: (
                f"serves {len(self.certificates)} certificates in turn (a load balancer?)"
            ),
            ChangeKind.REPLACED: f"serves another certificate ({_shown(new.subject)})",
        }[self.kind]
        return (
            f"endpoint {where} {what}: SHA-256 {old.sha256[:16]}... (serial {old.serial}, "
            f"notAfter {iso_z(old.not_after)}) -> {new.sha256[:16]}... (serial {new.serial}, "
            f"notAfter {iso_z(new.not_after)})"
        )

    def details(self) -> dict[str, Any]:
        def side(f: LeafFacts) -> dict[str, Any]:
            return {
                "sha256": f.sha256,
                "serial": f.serial,
                "subject": f.subject,
                "issuer": f.issuer,
                "not_after": iso_z(f.not_after),
                "key_sha256": f.key_sha256,
            }

        return {
            "change": self.kind.value,
            "findings": [k.value for k in self.findings],
            "old": side(self.old),
            "new": side(self.new),
            "certificates": list(self.certificates),
            "damped_switches": self.damped,
        }


@dataclass(frozen=True)
class ChangeSettings:
    """Section ``endpoint_changes``: at most one change event per endpoint per ``damping``."""

    damping: timedelta = DEFAULT_DAMPING

    def to_json(self) -> dict[str, Any]:
        return {"damping": format_duration(self.damping)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> ChangeSettings:
        if not raw:
            return cls()
        return cls.validate(raw)

    @classmethod
    def validate(cls, raw: Mapping[str, Any], base: ChangeSettings | None = None) -> ChangeSettings:
        """Raises InvalidFieldsError naming every bad field (``damping``, unknown names)."""
        base = base or cls()
        errors = {k: "unknown setting" for k in raw if k != "damping"}
        damping = base.damping
        if "damping" in raw:
            try:
                damping = parse_duration(
                    str(raw["damping"]), default_unit="h", minimum=MIN_DAMPING, maximum=MAX_DAMPING
                )
            except ValueError as exc:
                errors["damping"] = str(exc)
        if errors:
            raise InvalidFieldsError(errors)
        return cls(damping)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHOWN_MAX = 300


def _shown(name: str) -> str:
    """A certificate's name in a message: one line, control characters as ``\\xNN``, bounded."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def _time(raw: Any) -> datetime:
    value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without an offset: {raw!r}")
    return value


def _older(a: LeafFacts, b: LeafFacts) -> bool:
    """Was ``a`` made before ``b`` (by notAfter, then notBefore)?"""
    return (a.not_after, a.not_before) < (b.not_after, b.not_before)


def _remember(
    state: ChangeState, facts: LeafFacts, now: datetime
) -> tuple[ChangeState, bool, bool]:
    """The state with this probe's leaf added. Returns (state, switched, returned)."""
    known = state.seen(facts.sha256)
    switched = state.current is not None and state.current != facts.sha256
    returned = switched and known is not None
    if known is None:
        entry = SeenCertificate(facts, now, now)
        history = [*state.history, entry]
    else:
        entry = replace(known, last_seen_at=now, arrivals=known.arrivals + int(switched))
        history = [entry if h is known else h for h in state.history]
    switches = list(state.switches)
    if switched and state.current is not None:
        switches.append(Switch(now, state.current, facts.sha256, returned))
    keep = {facts.sha256, state.announced, state.current, *state.announced_set}
    if len(history) > MAX_HISTORY:
        # The oldest seen goes first; the served and announced ones stay.
        drop = sorted(
            (h for h in history if h.facts.sha256 not in keep), key=lambda h: h.last_seen_at
        )[: len(history) - MAX_HISTORY]
        history = [h for h in history if h not in drop]
    switches = [s for s in switches if now - s.at <= SWITCH_MEMORY][-MAX_SWITCHES:]
    return (
        replace(state, current=facts.sha256, history=tuple(history), switches=tuple(switches)),
        switched,
        returned,
    )


def observe(
    state: ChangeState, facts: LeafFacts, *, now: datetime, damping: timedelta
) -> tuple[ChangeState, ChangeEvent | None]:
    """Record that the endpoint served ``facts`` at ``now``; the change to announce, if any."""
    first = state.current is None and state.announced is None
    state, switched, returned = _remember(state, facts, now)
    if first:
        return replace(state, announced=facts.sha256, announced_set=(facts.sha256,)), None
    damped = state.alerted_at is not None and now - state.alerted_at < damping
    if facts.sha256 == state.announced or damped:
        return replace(state, damped=state.damped + int(switched)), None
    old_seen = state.seen(state.announced) or state.seen(state.current)
    if old_seen is None:  # unreadable history: start again from here
        return replace(state, announced=facts.sha256, announced_set=(facts.sha256,)), None
    old = old_seen.facts
    # Served before the announced one (a return now, or one while damped)?
    current_seen = state.seen(facts.sha256)
    was_seen = returned or (current_seen is not None and current_seen.arrivals > 1)
    returns = [s for s in state.switches if s.returned]
    if was_seen and len(returns) >= ALTERNATION_RETURNS:
        taking_turns = {facts.sha256} | {s.from_sha256 for s in returns}
        served = tuple(sorted(taking_turns | {s.to_sha256 for s in returns}))
        if len(state.announced_set) > 1 and set(served) <= set(state.announced_set):
            # Said already: the same certificates still take turns.
            return replace(state, announced=facts.sha256), None
        several = (ChangeKind.SEVERAL_CERTIFICATES,)
        event = ChangeEvent(several[0], old, facts, several, served, state.damped)
        return _announced(state, event, now, served), event
    findings: list[ChangeKind] = []
    if was_seen and _older(facts, old):
        findings.append(ChangeKind.ROLLED_BACK)
    if facts.issuer != old.issuer:
        findings.append(ChangeKind.ISSUER_CHANGED)
    if facts.key_sha256 == old.key_sha256:
        findings.append(ChangeKind.KEY_REUSED)
    if facts.subject == old.subject and not _older(facts, old):
        findings.append(ChangeKind.RENEWED)
    if not findings:
        findings.append(ChangeKind.REPLACED)
    event = ChangeEvent(findings[0], old, facts, tuple(findings), (), state.damped)
    return _announced(state, event, now, (facts.sha256,)), event


def _announced(
    state: ChangeState, event: ChangeEvent, now: datetime, served: tuple[str, ...]
) -> ChangeState:
    return replace(
        state, announced=event.new.sha256, announced_set=served, alerted_at=now, damped=0
    )
