"""Accounts: local users, login throttling, API tokens and the audit log.

    from certwarden.services.accounts import UserService, AuthenticationError

Modules, one job each:

* :mod:`.records` — the values: Role, UserInfo, TokenInfo, AuditRecord;
* :mod:`.users` — users and their argon2 password hashes;
* :mod:`.login` — password logins behind a per-name and per-address throttle; the session key;
* :mod:`.tokens` — API tokens (only their SHA-256 is stored) and the verification cache;
* :mod:`.audit` — the audit log;
* :mod:`.service` — :class:`UserService`, the one handle over all of them.

Nothing here knows about HTTP or cookies; the web layer and the CLI both call it.
"""

from certwarden.services.accounts.audit import CLI_ACTOR, Actor, AuditLog, os_user
from certwarden.services.accounts.login import AuthenticationError, LoginThrottledError
from certwarden.services.accounts.records import AuditRecord, Role, TokenInfo, UserInfo
from certwarden.services.accounts.service import UserService
from certwarden.services.accounts.tokens import TOKEN_PREFIX

__all__ = [
    "CLI_ACTOR",
    "TOKEN_PREFIX",
    "Actor",
    "AuditLog",
    "AuditRecord",
    "AuthenticationError",
    "LoginThrottledError",
    "Role",
    "TokenInfo",
    "UserInfo",
    "UserService",
    "os_user",
]
