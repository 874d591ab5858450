"""The CRL source: certificates judged by their issuer's CRL, fetched from their CDPs.

For each certificate (its issuer already known) the distribution points of
its CRLDistributionPoints extension are tried in order (``http(s)://`` with
:mod:`certwarden.adapters.crl_http`, ``ldap(s)://`` with
:mod:`certwarden.adapters.crl_ldap`) until one yields a CRL the core could
judge by (:mod:`.crl_core`).

The CRL of a URL is shared by every certificate that names it:

* **one fetch per URL**, however many certificates (and concurrent checks)
  ask at once: a fetch in flight is awaited, not repeated;
* **held between fetches** (in memory, and in ``crl_sources`` / ``crl_blobs``
  across restarts): fetched again once ``nextUpdate - refresh margin`` is
  reached, never more often than the fetch floor (a failed try counts), with
  a conditional GET (ETag / If-Modified-Since) where the server allows;
* **a failed or refused fetch keeps the last valid CRL** — a fetch error, a
  body that is not a CRL, a CRL that does not verify, or one whose number is
  lower than the one held (a replay) — and the result says so; past its
  nextUpdate the held CRL makes the answer ``stale``, never good.

A fetched CRL becomes the one held only once the core validated an answer
from it. It must not judge CRLs itself or apply the policy; it reads and
writes only the CRL store (:mod:`.crl_store`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certwarden.adapters.crl_http import (
    AiohttpCrlFetcher,
    CrlFetcher,
    CrlFetchError,
    CrlFetchOptions,
    FetchedCrl,
)
from certwarden.adapters.crl_ldap import LdapCrlFetcher
from certwarden.adapters.db import Database
from certwarden.core.crl import CertRef, cert_ref
from certwarden.core.crl import crl_urls as core_crl_urls
from certwarden.core.ocsp.results import (
    Reason,
    RevocationResult,
    Source,
    ValidationOptions,
    iso_z,
)
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.services.revocation import crl_store
from certwarden.services.revocation.crl_core import Crl, CrlJudge, CrlLoadError, judge_for, load_crl
from certwarden.services.revocation.model import Target

__all__ = ["CrlSource", "FetcherFactory", "crl_urls"]

FetcherFactory = Callable[[CrlFetchOptions], CrlFetcher]
_SCHEMES = ("http://", "https://", "ldap://", "ldaps://")
# Results that say nothing about the CRL itself: another distribution point may do better.
_NO_CRL = frozenset(
    {
        Reason.RESPONDER_UNREACHABLE,
        Reason.TIMEOUT,
        Reason.HTTP_ERROR,
        Reason.BAD_CONTENT_TYPE,
        Reason.RESPONSE_TOO_LARGE,
        Reason.MALFORMED_RESPONSE,
        Reason.MALFORMED_CRL,
    }
)
_SHA256 = hashes.SHA256()
_MEMORY = 64  # CRLs kept parsed in memory (the rest are read back from the store)


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The certificate's CRL distribution point URIs that certwarden can fetch, in order."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    urls: list[str] = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                uri = name.value
                if uri.lower().startswith(_SCHEMES) and uri not in urls:
                    urls.append(uri)
    return urls


@dataclass
class _Held:
    crl: Crl
    etag: str | None
    last_modified: str | None
    fetched_at: datetime | None


@dataclass
class _Obtained:
    """What one URL gave this run: a new CRL to try, the one held, and why not better."""

    url: str
    candidate: Crl | None = None
    fetched: FetchedCrl | None = None
    held: _Held | None = None
    error_reason: Reason | None = None
    error: str | None = None
    refused: bool = False  # the candidate's refusal is recorded once


class CrlSource:
    """Statuses from CRLs (see the module docstring).

    Args:
        db: where the CRLs held are kept between runs.
        http_fetcher, ldap_fetcher: build the fetchers for a run (tests pass
            the real ones pointed at loopback servers).
    """

    def __init__(
        self,
        db: Database,
        *,
        http_fetcher: FetcherFactory = AiohttpCrlFetcher,
        ldap_fetcher: FetcherFactory = LdapCrlFetcher,
    ) -> None:
        self._db = db
        self._http_factory = http_fetcher
        self._ldap_factory = ldap_fetcher
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[tuple[int, str], asyncio.Task[_Obtained]] = {}
        # Fetches that failed, by reason, since the process started (metrics).
        self.fetch_errors: Counter[str] = Counter()
        self.fetches = 0  # fetches made (tests and metrics: the dedupe is observable)

    def forget(self) -> None:
        """Drop the CRLs held in memory (they are read back from the store)."""
        with self._lock:
            self._held.clear()

    async def statuses(
        self,
        targets: Sequence[tuple[Target, x509.Certificate]],
        *,
        settings: RevocationSettings,
        now: datetime,
        common_criteria: bool = True,
    ) -> list[RevocationResult]:
        """One result per ``(target, its issuer)``, in order.

        ``common_criteria``: the mode in force; legacy (SHA-1) CRL signatures
        are accepted only outside it, when the settings say so (the default,
        True, fails closed).
        """
        options = CrlFetchOptions(
            max_bytes=settings.crl_max_bytes,
            connect_timeout=min(settings.connect_timeout, settings.crl_timeout),
            total_timeout=settings.crl_timeout,
        )
        run = _Run(
            self,
            settings,
            options,
            now,
            settings.validation_options_for(common_criteria=common_criteria),
        )
        try:
            refs = [cert_ref(target.cert) for target, _ in targets]
            # Every URL that is a certificate's first choice is obtained at once,
            # concurrently; the certificates are then judged one after the other
            # (an answer already settled costs no task), a fallback URL awaited
            # only where the first gave no CRL.
            firsts = {urls[0] for urls in map(_fetchable, refs) if urls}
            await asyncio.gather(*(run.obtained(url) for url in firsts))
            return [
                await run.one(target, issuer, ref)
                for (target, issuer), ref in zip(targets, refs, strict=True)
            ]
        finally:
            await run.aclose()

    # ------------------------------------------------------------ the store

    def _held_for(self, url: str, rec: crl_store.CrlRecord | None, max_bytes: int) -> _Held | None:
        """The CRL held for ``url``: from memory while it is the one the store names
        (another instance may have stored a newer one), else read back from the store."""
        if rec is None or rec.sha256 is None:
            return None
        with self._lock:
            held = self._held.get(url)
            if held is not None and held.crl.sha256 == rec.sha256:
                self._held.move_to_end(url)
                return held
        with self._db.session() as s:
            der = crl_store.blob(s, rec.sha256)
        if der is None:
            return None
        try:
            loaded = load_crl(der, max_bytes=max(max_bytes, len(der)), source=url)
        except CrlLoadError:
            return None
        held = _Held(loaded, rec.etag, rec.last_modified, rec.fetched_at)
        self._remember(url, held)
        return held

    def _remember(self, url: str, held: _Held) -> None:
        with self._lock:
            self._held[url] = held
            self._held.move_to_end(url)
            while len(self._held) > _MEMORY:
                self._held.popitem(last=False)

    def promote(self, ob: _Obtained, now: datetime) -> None:
        """``ob``'s new CRL validated an answer: it is the one held from now on."""
        crl, fetched = ob.candidate, ob.fetched
        if crl is None or fetched is None:
            return
        with self._lock:
            current = self._held.get(ob.url)
            if current is not None and current.crl.sha256 == crl.sha256:
                return
        with self._db.session() as s:
            crl_store.save_crl(
                s,
                ob.url,
                der=crl.der,
                sha256=crl.sha256,
                issuer=crl.issuer.rfc4514_string(),
                this_update=crl.this_update,
                next_update=crl.next_update,
                crl_number=crl.number,
                entries=len(crl.index),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                now=now,
            )
        self._remember(ob.url, _Held(crl, fetched.etag, fetched.last_modified, now))

    def refuse(self, ob: _Obtained, result: RevocationResult, now: datetime) -> None:
        """``ob``'s new CRL could not be trusted: recorded as the URL's last error."""
        reason = result.reason.value if result.reason else "refused"
        self._failed(ob.url, now, reason, f"the CRL fetched was refused: {result.detail}")

    def _failed(self, url: str, now: datetime, reason: str, detail: str) -> None:
        self.fetch_errors[reason] += 1
        with self._db.session() as s:
            crl_store.save_attempt(s, url, now=now, error=detail, reason=reason)

    # ------------------------------------------------------------- fetching

    @staticmethod
    def _due(
        rec: crl_store.CrlRecord | None,
        held: _Held | None,
        settings: RevocationSettings,
        now: datetime,
    ) -> bool:
        attempted = rec.attempted_at if rec is not None else None
        if attempted is not None and now - attempted < settings.crl_fetch_floor:
            return False  # the floor: a failed try counts too
        if held is None:
            return True
        next_update = held.crl.next_update
        if next_update is None:
            return True  # no promise of a next one: fetched again once the floor allows
        return now >= next_update - settings.crl_refresh_margin

    async def obtain(self, url: str, run: _Run) -> _Obtained:
        """What ``url`` gives now: one fetch at a time per URL, shared by every caller."""
        key = (id(asyncio.get_running_loop()), url)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._obtain(url, run))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _obtain(self, url: str, run: _Run) -> _Obtained:
        settings, now = run.settings, run.now
        with self._db.session() as s:
            rec = crl_store.record(s, url)
        held = self._held_for(url, rec, settings.crl_max_bytes)
        ob = _Obtained(url, held=held)
        if not self._due(rec, held, settings, now):
            if rec is not None and rec.last_error:
                ob.error, ob.error_reason = rec.last_error, _reason(rec.last_error_reason)
            if held is None and ob.error is None:
                ob.error_reason = Reason.RESPONDER_UNREACHABLE
                ob.error = f"no CRL from {url} is held and the fetch floor has not passed"
            return ob
        fetcher = run.fetcher(url)
        self.fetches += 1
        try:
            fetched = await fetcher.fetch(
                url,
                etag=held.etag if held else None,
                last_modified=held.last_modified if held else None,
            )
        except CrlFetchError as exc:
            self._failed(url, now, exc.code.value, exc.detail)
            ob.error, ob.error_reason = exc.detail, exc.code
            return ob
        if fetched.body is None:
            with self._db.session() as s:
                crl_store.save_attempt(s, url, now=now, confirmed=True)
            if held is None:
                ob.error_reason = Reason.HTTP_ERROR
                ob.error = f"{url} answered 304 Not Modified, but no CRL from it is held"
            return ob
        try:
            candidate = load_crl(fetched.body, max_bytes=settings.crl_max_bytes, source=url)
        except CrlLoadError as exc:
            self._failed(url, now, exc.reason.value, f"{url}: {exc.detail}")
            ob.error, ob.error_reason = f"{url}: {exc.detail}", exc.reason
            return ob
        if (
            held is not None
            and held.crl.number is not None
            and candidate.number is not None
            and candidate.number < held.crl.number
        ):
            # RFC 5280 5.2.3: CRL numbers only increase; an older CRL is a replay.
            detail = (
                f"{url} served CRL number {candidate.number}, older than the number "
                f"{held.crl.number} held; the newer one is kept"
            )
            self._failed(url, now, Reason.CRL_NUMBER_REGRESSED.value, detail)
            ob.error, ob.error_reason = detail, Reason.CRL_NUMBER_REGRESSED
            return ob
        if held is not None and held.crl.sha256 == candidate.sha256:
            with self._db.session() as s:
                crl_store.save_attempt(s, url, now=now, confirmed=True)
            return ob
        with self._db.session() as s:
            crl_store.save_attempt(s, url, now=now)
        ob.candidate, ob.fetched = candidate, fetched
        return ob


def _fetchable(ref: CertRef) -> list[str]:
    """The certificate's CDP URLs that certwarden can fetch, in order."""
    return [u for u in core_crl_urls(ref) if u.lower().startswith(_SCHEMES)]


def _reason(value: str | None) -> Reason:
    try:
        return Reason(value) if value else Reason.RESPONDER_UNREACHABLE
    except ValueError:
        return Reason.RESPONDER_UNREACHABLE


class _Run:
    """One call of :meth:`CrlSource.statuses`: its settings, fetchers and what each URL gave."""

    def __init__(
        self,
        source: CrlSource,
        settings: RevocationSettings,
        options: CrlFetchOptions,
        now: datetime,
        validation: ValidationOptions,
    ) -> None:
        self.source = source
        self.settings = settings
        self.options = options
        self.now = now
        self.validation = validation
        self._fetchers: dict[str, CrlFetcher] = {}
        self._obtained: dict[str, asyncio.Future[_Obtained]] = {}
        # One judge per issuing CA and set of CRLs: the core validates them once.
        self._judges: dict[tuple[bytes, tuple[str, ...]], CrlJudge] = {}
        # Issuer fingerprints by object (kept with the object, so an id is never reused),
        # and answers with their URL: the core shares one GOOD result per plan.
        self._prints: dict[int, tuple[x509.Certificate, bytes]] = {}
        self._answers: dict[tuple[int, str], tuple[RevocationResult, RevocationResult]] = {}

    def _from(self, result: RevocationResult, url: str) -> RevocationResult:
        """``result`` with the distribution point it came from (shared answers: once)."""
        key = (id(result), url)
        known = self._answers.get(key)
        if known is not None and known[0] is result:
            return known[1]
        answered = replace(result, responder_url=url)
        self._answers[key] = (result, answered)
        return answered

    def judge(
        self, cert: CertRef, issuer: x509.Certificate, crls: Sequence[Crl]
    ) -> RevocationResult:
        print_ = self._prints.get(id(issuer))
        if print_ is None:
            print_ = self._prints[id(issuer)] = (issuer, issuer.fingerprint(_SHA256))
        key = (print_[1], tuple(c.sha256 for c in crls))
        judge = self._judges.get(key)
        if judge is None:
            judge = self._judges[key] = judge_for(
                issuer, crls, now=self.now, options=self.validation
            )
        return judge.check(cert)

    async def deltas(self, base: Crl) -> tuple[list[Crl], list[_Obtained]]:
        """The delta CRLs the base names (Freshest CRL, RFC 5280 5.2.6), fetched like any."""
        found: list[Crl] = []
        obtained: list[_Obtained] = []
        for url in base.freshest:
            if not url.lower().startswith(_SCHEMES):
                continue
            ob = await self._get(url)
            crl = ob.candidate or (ob.held.crl if ob.held is not None else None)
            if crl is not None and crl.is_delta:
                found.append(crl)
                obtained.append(ob)
        return found, obtained

    def fetcher(self, url: str) -> CrlFetcher:
        kind = "ldap" if url.lower().startswith("ldap") else "http"
        found = self._fetchers.get(kind)
        if found is None:
            factory = self.source._ldap_factory if kind == "ldap" else self.source._http_factory
            found = self._fetchers[kind] = factory(self.options)
        return found

    async def aclose(self) -> None:
        for fetcher in self._fetchers.values():
            await fetcher.aclose()

    async def obtained(self, url: str) -> None:
        await self._get(url)

    async def _get(self, url: str) -> _Obtained:
        future = self._obtained.get(url)
        if future is None:
            future = self._obtained[url] = asyncio.ensure_future(self.source.obtain(url, self))
        if future.done():
            return future.result()  # every certificate after the first: no await
        return await asyncio.shield(future)

    async def one(self, target: Target, issuer: x509.Certificate, ref: CertRef) -> RevocationResult:
        urls = _fetchable(ref)
        if not urls:
            return RevocationResult.could_not_tell(
                Reason.NO_CRL_DISTRIBUTION_POINT,
                f"{target.subject} names no http(s) or ldap CRL distribution point",
                source=Source.CRL,
            )
        first: RevocationResult | None = None
        for url in urls:
            result = await self._at(url, ref, issuer)
            if result.validated or result.reason not in _NO_CRL:
                return result
            first = first or result
        return first or RevocationResult.could_not_tell(
            Reason.NO_CRL_DISTRIBUTION_POINT, "no CRL", source=Source.CRL
        )

    async def _at(self, url: str, target: CertRef, issuer: x509.Certificate) -> RevocationResult:
        ob = await self._get(url)
        if ob.candidate is not None:
            deltas, delta_obs = await self.deltas(ob.candidate)
            result = self.judge(target, issuer, [ob.candidate, *deltas])
            if result.validated:
                self.source.promote(ob, self.now)
                self._promote_deltas(result, delta_obs)
                return self._from(result, url)
            if not ob.refused:
                ob.refused = True
                self.source.refuse(ob, result, self.now)
            if ob.held is None:
                return self._from(result, url)
            # The last valid CRL stands; the one just fetched is not tried again this run.
            ob.candidate = None
            ob.error_reason = result.reason
            ob.error = f"the CRL just fetched from {url} was refused: {result.detail}"
        if ob.held is None:
            return RevocationResult.could_not_tell(
                ob.error_reason or Reason.RESPONDER_UNREACHABLE,
                ob.error or f"no CRL could be had from {url}",
                source=Source.CRL,
                responder_url=url,
            )
        deltas, delta_obs = await self.deltas(ob.held.crl)
        result = self.judge(target, issuer, [ob.held.crl, *deltas])
        if result.validated:
            self._promote_deltas(result, delta_obs)
        result = self._from(result, url)
        if ob.error:
            held = ob.held.crl
            note = (
                f"{ob.error}; judged by the last valid CRL from {url} "
                f"(number {held.number if held.number is not None else '-'}, "
                f"thisUpdate {iso_z(held.this_update)}, nextUpdate {iso_z(held.next_update)}), "
                "kept until its nextUpdate"
            )
            result = replace(
                result,
                detail=f"{result.detail}; {note}" if result.detail else note,
                problems=(*result.problems, note),
            )
        return result

    def _promote_deltas(self, result: RevocationResult, obtained: Sequence[_Obtained]) -> None:
        for ob in obtained:
            if ob.candidate is not None and ob.candidate.sha256 == result.delta_crl_sha256:
                self.source.promote(ob, self.now)
