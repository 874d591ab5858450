"""Helpers the service packages share, owned by none of them.

* :mod:`.settings_store` — settings sections, one JSON row each (validation lives in ``core``);
* :mod:`.alerts` — the alert log (idempotent by dedupe key; a bulk variant);
* :mod:`.outbox` — the never-lose-a-notice outbox and its delivery over SMTP;
* :mod:`.sync_bridge` — running the async services from synchronous code.

They sit below every use-case package: nothing here imports inventory,
monitor, revocation, TLS, accounts or the read model (import-linter holds it).
"""
