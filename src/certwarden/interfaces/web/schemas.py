"""API schemas for the OpenAPI document.

Handlers return the services' own ``to_json()`` dictionaries (the same field
names as the CLI's ``--json``); these models describe those shapes for the
documentation and for request bodies. They allow extra fields, so a service
adding a field never breaks a response.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from certwarden.services.readmodel import STATES

__all__ = [
    "AlertOut",
    "AuditOut",
    "CertificateOut",
    "CertificatePage",
    "Problem",
    "StoreIn",
    "TokenIn",
    "UserIn",
    "UserPatch",
]

StateName = Literal[STATES]  # type: ignore[valid-type]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Problem(_Open):
    detail: Any = Field(description="What went wrong, in words (or a list of field problems).")
    errors: dict[str, str] | None = Field(
        default=None, description="Settings field -> message, for every bad field."
    )


class Revocation(_Open):
    status: str = Field(
        description="good, revoked, unknown, could_not_tell, exempt (ocsp-nocheck responder) or not_checked (never good by default)"
    )
    reason: str | None
    checked_at: str | None
    revoked_at: str | None


class CertificateOut(_Open):
    id: int
    store: str
    lsc: bool
    role: str
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    serial: str
    not_before: str
    not_after: str
    days_left: float
    expired: bool
    sha256: str
    sha1: str
    sans: list[str]
    key_type: str
    key_size: int
    signature_algorithm: str
    weak_signature: bool = Field(
        description="signed with SHA-1 or MD5: revocation checks refuse it "
        "(weak_signature_algorithm) unless legacy signatures are accepted"
    )
    is_ca: bool
    key_usage: list[str]
    extended_key_usage: list[str]
    ocsp_signing: bool
    ocsp_uris: list[str]
    ca_issuer_uris: list[str]
    crl_uris: list[str]
    subject_key_id: str | None
    authority_key_id: str | None
    issuer_id: int | None
    issuer_sha256: str | None
    source: str
    source_detail: str
    imported_at: str
    revocation: Revocation


class _PageOf(_Open):
    total: int
    limit: int
    offset: int


class CertificatePage(_PageOf):
    items: list[CertificateOut]


class CertificateList(_Open):
    items: list[CertificateOut]
    total: int


class StoreOut(_Open):
    name: str
    description: str
    builtin: bool
    certificates: int
    lifetime_share: str | None = Field(
        default=None, description="Expiry notices by lifetime share (e.g. 33%); null: by days"
    )


class StorePage(_PageOf):
    items: list[StoreOut]


class StoreIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, examples=["partner-trust"])
    description: str = Field(default="", max_length=2000)


class ImportedOut(_Open):
    id: int
    sha256: str
    subject: str
    store: str
    role: str
    file: str


class RejectionOut(_Open):
    file: str
    problem: str
    code: str | None = None


class ImportReportOut(_Open):
    files: int
    imported: list[ImportedOut]
    duplicates: list[ImportedOut]
    rejected: list[RejectionOut]
    notes: list[str]


class AlertOut(_Open):
    id: int
    created_at: str
    kind: str
    severity: str
    certificate_id: int | None
    sha256: str | None
    subject: str
    store: str
    message: str
    details: dict[str, Any]


class AlertPage(_PageOf):
    items: list[AlertOut]


class OcspCheckOut(_Open):
    id: int
    checked_at: str
    trigger: str
    status: str
    reason: str | None
    detail: str
    revoked_at: str | None
    revocation_reason: str | None
    trust_model: str | None
    signer_sha256: str | None
    responder_url: str | None
    this_update: str | None
    next_update: str | None
    has_response: bool
    source: str | None = None
    crl_number: str | None = None
    crl_sha256: str | None = None


class OcspCheckPage(_PageOf):
    items: list[OcspCheckOut]


class UserOut(_Open):
    id: int
    username: str
    role: str
    created_at: str
    disabled: bool


class UserPage(_PageOf):
    items: list[UserOut]


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["alice"])
    password: str = Field(min_length=1, max_length=1024)
    role: Literal["admin", "viewer"] = "viewer"


class UserPatch(BaseModel):
    role: Literal["admin", "viewer"] | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class TokenOut(_Open):
    id: int
    username: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    expires_at: str | None = Field(default=None, description="When it stops working (null: never).")
    scope: Literal["full", "read"] = Field(
        default="full", description="full: the user's role; read: GET and HEAD only."
    )
    active: bool


class TokenPage(_PageOf):
    items: list[TokenOut]


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret. Shown once: store it now.")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, examples=["monitoring script"])
    username: str | None = Field(
        default=None, description="Whose token (admins only; default: yourself)."
    )
    expires: str | None = Field(
        default=None,
        max_length=32,
        description="Lifetime, like 12h, 30d or 52w (default: until revoked).",
        examples=["30d"],
    )
    scope: Literal["full", "read"] = Field(
        default="full", description="full: the user's role; read: GET and HEAD only."
    )


class AuditOut(_Open):
    id: int
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(_PageOf):
    items: list[AuditOut]


class MeOut(UserOut):
    via: str
    token: TokenOut | None = None


class Health(_Open):
    status: str
    database: str


class CommonCriteriaIn(BaseModel):
    common_criteria: bool


class CheckIn(BaseModel):
    refs: list[str] = Field(default_factory=list, max_length=1000, description="IDs or SHA-256")
    all: bool = Field(default=False, description="Check every monitored certificate.")
