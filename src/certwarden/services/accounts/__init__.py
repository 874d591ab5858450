"""Accounts: local users, login throttling, API tokens and the audit log.

    from certwarden.services.accounts import UserService, AuthenticationError

Modules, one job each:

* :mod:`.records` — the values: Role, UserInfo, TokenInfo, AuditRecord;
* :mod:`.users` — users and their argon2 password hashes;
* :mod:`.login` — password logins behind a per-name and per-address throttle in the database;
* :mod:`.sessions` — server-side web sessions (ended at sign-out and by changes to the user);
* :mod:`.tokens` — API tokens (only their SHA-256 is stored) and the verification cache;
* :mod:`.audit` — the audit log;
* :mod:`.service` — :class:`UserService`, the one handle over all of them.

Nothing here knows about HTTP or cookies; the web layer and the CLI both call it.
"""

from certwarden.errors import AuthenticationError, LoginBusyError, LoginThrottledError
from certwarden.services.accounts.audit import CLI_ACTOR, Actor, AuditLog, os_user
from certwarden.services.accounts.records import AuditRecord, Role, TokenInfo, TokenScope, UserInfo
from certwarden.services.accounts.service import InitialAdmin, UserService
from certwarden.services.accounts.tokens import TOKEN_PREFIX, token_lifetime

__all__ = [
    "CLI_ACTOR",
    "TOKEN_PREFIX",
    "Actor",
    "AuditLog",
    "AuditRecord",
    "AuthenticationError",
    "InitialAdmin",
    "LoginBusyError",
    "LoginThrottledError",
    "Role",
    "TokenInfo",
    "TokenScope",
    "UserInfo",
    "UserService",
    "os_user",
    "token_lifetime",
]
