"""Prometheus metrics, in the conventions the certificate exporters made familiar.

Per certificate (labels ``store``, ``subject_CN``, ``issuer_CN``,
``serial_number``, ``fingerprint`` = the first 16 hex digits of SHA-256), when
the per-certificate switch allows it (:class:`MetricsOptions`):

* ``x509_cert_not_before`` / ``x509_cert_not_after``: epoch seconds (the
  exporters' names, kept for their dashboards and alerts);
* ``x509_cert_expired``: 1 once notAfter has passed (RFC 5280: strictly after);
* ``certwarden_cert_revocation_status``: 1, with a ``status`` label of
  ``good``, ``revoked``, ``unknown``, ``could_not_tell``, ``exempt`` or ``not_checked`` —
  a certificate never checked is ``not_checked``, never ``good``.

Always: certificates per expiry and revocation state, OCSP checks recorded per
status, outbox notices per state, the services' state with their last and next
runs (``*_timestamp_seconds``), ``certwarden_monitor_runs_total`` (every run,
scheduled or manual, by any process: counted in the database), and — from the
``serve`` loop, which times them — revocation runs and outbox deliveries
(``*_total``) with their latencies.

Label values are escaped as the text format requires (backslash, double quote
and line feed, by prometheus_client); every other control character (a CR in a
CN, ESC, NUL, C1, U+2028/9, lone surrogates) is written as the visible text
``\\xNN`` / ``\\uNNNN``, so that no reader, however it splits lines, sees a
broken exposition. The rendered text is cached (:mod:`.metrics_cache`).
CRLs (:func:`crl_metrics`): ``x509_crl_next_update_timestamp_seconds`` and
``x509_crl_stale`` per distribution point (labels ``url``, ``issuer``),
``certwarden_crl_last_fetch_failed{url,reason}`` for a URL whose last fetch
failed, and ``certwarden_crl_fetch_errors_total{reason}`` counted by this process.
Notification channels: ``certwarden_channel_notices{channel,state}`` (pending,
sent) and ``certwarden_channel_notices_retrying{channel}``.

Everything from the database is read at scrape time by a custom collector
(no global state); the loop's counters live in a registry owned by one app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from certwarden.composition import App
from certwarden.services.cluster import ClusterStatus
from certwarden.services.monitor import SERVICE_NAME as MONITOR_SERVICE
from certwarden.services.readmodel import RevocationState

__all__ = [
    "PER_CERTIFICATE_LIMIT",
    "CertwardenCollector",
    "LoopMetrics",
    "MetricsOptions",
    "MetricsRegistry",
    "crl_metrics",
    "label_value",
]

# No ``*_created`` series: epoch values are named ``*_timestamp_seconds`` here, and
# a counter's start is what Prometheus sees as a reset anyway.
disable_created_metrics()  # type: ignore[no-untyped-call]

LABELS = ["store", "subject_CN", "issuer_CN", "serial_number", "fingerprint"]
_STATUSES = {s.value for s in RevocationState}
# Above this many certificates, "auto" leaves the per-certificate series out (the
# summary stays): 10,000 certificates are about 40,000 series and 10 MB per scrape.
PER_CERTIFICATE_LIMIT = 10_000
PER_CERTIFICATE_MODES = ("auto", "always", "never")
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def label_value(text: str) -> str:
    """``text`` as a label value: control characters other than LF as visible text
    (prometheus_client escapes backslash, double quote and LF as the format says)."""
    return _UNSAFE.sub(_visible, text) if _UNSAFE.search(text) else text


@dataclass(frozen=True)
class MetricsOptions:
    """How ``/metrics`` is served.

    Attributes:
        per_certificate: ``auto`` (per-certificate series up to
            :data:`PER_CERTIFICATE_LIMIT` certificates, the summary alone above),
            ``always`` or ``never``. ``/metrics?detail=summary`` is always the summary.
        refresh_seconds: how often the background task renders the cached text.
    """

    per_certificate: str = "auto"
    refresh_seconds: float = 15.0
    limit: int = PER_CERTIFICATE_LIMIT

    def __post_init__(self) -> None:
        if self.per_certificate not in PER_CERTIFICATE_MODES:
            raise ValueError(
                f"per-certificate metrics {self.per_certificate!r}: use auto, always or never"
            )
        if not 1 <= self.refresh_seconds <= 3600:
            raise ValueError(f"metrics refresh {self.refresh_seconds!r} s: use 1 to 3600")

    def wants_certificates(self, total: int) -> bool:
        if self.per_certificate == "auto":
            return total <= self.limit
        return self.per_certificate == "always"


def _status(raw: str | None) -> str:
    if raw is None:
        return RevocationState.NOT_CHECKED.value
    return raw if raw in _STATUSES else RevocationState.COULD_NOT_TELL.value


class CertwardenCollector(Collector):
    """Reads the inventory and the services' state from the database at every scrape."""

    def __init__(
        self,
        app: App,
        window: timedelta,
        *,
        per_certificate: Callable[[int], bool] | bool = True,
    ) -> None:
        self._app = app
        self._window = window
        self.per_certificate = per_certificate

    def describe(self) -> list[Metric]:
        return []  # collected lazily; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        app = self._app
        now = app.clock.now()
        counts = app.overview.counts(window=self._window)
        wanted = self.per_certificate
        if wanted(counts.total) if callable(wanted) else wanted:
            yield from self._per_certificate(now.timestamp())
        yield from crl_metrics(app, now)
        by_expiry = GaugeMetricFamily(
            "certwarden_certificates",
            "Certificates per expiry state (valid, expiring = inside the notification window, expired).",
            labels=["state"],
        )
        for state, n in counts.expiry.items():
            by_expiry.add_metric([state], n)
        yield by_expiry
        by_revocation = GaugeMetricFamily(
            "certwarden_certificates_revocation",
            "Certificates per latest revocation status (not_checked is never counted as good).",
            labels=["status"],
        )
        for state, n in counts.revocation.items():
            by_revocation.add_metric([state], n)
        yield by_revocation
        checks = GaugeMetricFamily(
            "certwarden_ocsp_checks_recorded",
            "Revocation checks recorded (ocsp_checks rows), per status.",
            labels=["status"],
        )
        recorded = app.overview.ocsp_check_counts()
        for status in sorted(_STATUSES - {"not_checked"} | set(recorded)):
            checks.add_metric([status], recorded.get(status, 0))
        yield checks
        outbox = GaugeMetricFamily(
            "certwarden_outbox_notices", "Notices in the outbox per state.", labels=["state"]
        )
        stored = app.overview.outbox_counts()
        for state in sorted({"pending", "sent"} | set(stored)):
            outbox.add_metric([state], stored.get(state, 0))
        yield outbox
        yield GaugeMetricFamily(
            "certwarden_outbox_retrying",
            "Pending notices that failed at least once and wait for a retry.",
            value=app.overview.outbox_failing(),
        )
        yield from _channel_metrics(app)
        yield from self._services()

    def _per_certificate(self, now: float) -> Iterator[Metric]:
        not_after = GaugeMetricFamily(
            "x509_cert_not_after", "Certificate notAfter, epoch seconds.", labels=LABELS
        )
        not_before = GaugeMetricFamily(
            "x509_cert_not_before", "Certificate notBefore, epoch seconds.", labels=LABELS
        )
        expired = GaugeMetricFamily(
            "x509_cert_expired", "1 when the certificate has expired.", labels=LABELS
        )
        revocation = GaugeMetricFamily(
            "certwarden_cert_revocation_status",
            "1 for the certificate's latest revocation status "
            "(good, revoked, unknown, could_not_tell, exempt, not_checked).",
            labels=[*LABELS, "status"],
        )
        for store, cn, icn, serial, sha, nb, na, status in self._app.overview.metric_rows():
            labels = [label_value(store), label_value(cn), label_value(icn), serial, sha[:16]]
            after = na.timestamp()
            not_after.add_metric(labels, after)
            not_before.add_metric(labels, nb.timestamp())
            expired.add_metric(labels, 1.0 if now > after else 0.0)
            revocation.add_metric([*labels, _status(status)], 1.0)
        yield not_after
        yield not_before
        yield expired
        yield revocation

    def _services(self) -> Iterator[Metric]:
        app = self._app
        up = GaugeMetricFamily(
            "certwarden_service_running", "1 while a background service runs.", labels=["service"]
        )
        last = GaugeMetricFamily(
            "certwarden_service_last_run_timestamp_seconds",
            "When a background service last ran.",
            labels=["service"],
        )
        nxt = GaugeMetricFamily(
            "certwarden_service_next_run_timestamp_seconds",
            "When a background service runs next.",
            labels=["service"],
        )
        monitor = app.monitor.status()
        runs = CounterMetricFamily(
            "certwarden_monitor_runs",
            "Certificate Expiry Monitor runs, scheduled or manual (run now), by any process.",
            labels=["trigger"],
        )
        for trigger in sorted({"scheduled", "manual"} | set(monitor.runs)):
            runs.add_metric([trigger], monitor.runs.get(trigger, 0))
        yield runs
        up.add_metric([MONITOR_SERVICE], 1.0 if monitor.status.value == "running" else 0.0)
        if monitor.last_run_at:
            last.add_metric([MONITOR_SERVICE], monitor.last_run_at.timestamp())
        if monitor.next_run_at:
            nxt.add_metric([MONITOR_SERVICE], monitor.next_run_at.timestamp())
        for state in app.overview.service_states():
            if state.name == MONITOR_SERVICE:
                continue
            up.add_metric([state.name], 1.0 if state.status == "running" else 0.0)
            if state.last_run_at:
                last.add_metric([state.name], state.last_run_at.timestamp())
            if state.next_run_at:
                nxt.add_metric([state.name], state.next_run_at.timestamp())
        yield up
        yield last
        yield nxt


def _channel_metrics(app: App) -> Iterator[Metric]:
    """The channels' outbox, per channel: what waits (and retries) and what was delivered."""
    notices = GaugeMetricFamily(
        "certwarden_channel_notices",
        "Notification channel notices in the channels' outbox, per channel and state.",
        labels=["channel", "state"],
    )
    retrying = GaugeMetricFamily(
        "certwarden_channel_notices_retrying",
        "Pending channel notices that failed at least once and wait for a retry.",
        labels=["channel"],
    )
    for figures in app.overview.channel_figures():
        channel = label_value(figures.channel)
        notices.add_metric([channel, "pending"], figures.pending)
        notices.add_metric([channel, "sent"], figures.sent)
        retrying.add_metric([channel], figures.retrying)
    yield notices
    yield retrying


def crl_metrics(app: App, now: datetime) -> Iterator[Metric]:
    """The CRLs held per distribution point, their freshness, and fetch errors by reason."""
    next_update = GaugeMetricFamily(
        "x509_crl_next_update_timestamp_seconds",
        "nextUpdate of the CRL held for a distribution point (epoch seconds).",
        labels=["url", "issuer"],
    )
    stale = GaugeMetricFamily(
        "x509_crl_stale",
        "1 when no fresh CRL is held for a distribution point (past nextUpdate, or none valid).",
        labels=["url", "issuer"],
    )
    failed = GaugeMetricFamily(
        "certwarden_crl_last_fetch_failed",
        "1 for a distribution point whose last fetch failed, with the reason.",
        labels=["url", "reason"],
    )
    for view in app.revocation.crls(now):
        record = view.record
        if record.attempted_at is None and record.sha256 is None:
            continue  # named by a certificate, never fetched (CRLs off, or not yet)
        labels = [label_value(record.url), label_value(record.issuer or "")]
        if record.next_update is not None and record.sha256 is not None:
            next_update.add_metric(labels, record.next_update.timestamp())
        stale.add_metric(labels, 0 if view.freshness == "fresh" else 1)
        if record.last_error:
            failed.add_metric([label_value(record.url), record.last_error_reason or "unknown"], 1)
    yield next_update
    yield stale
    yield failed
    errors = CounterMetricFamily(
        "certwarden_crl_fetch_errors",
        "CRL fetches that failed or were refused in this process, by reason.",
        labels=["reason"],
    )
    for reason, n in sorted(app.revocation.crl.fetch_errors.items()):
        errors.add_metric([reason], n)
    yield errors


class _Bound:
    """A labelled counter with its ``instance`` label bound: ``.labels(task)``."""

    def __init__(self, parent: Counter, instance: str) -> None:
        self._parent = parent
        self._instance = instance

    def labels(self, *values: str) -> Any:
        return self._parent.labels(self._instance, *values)

    def collect(self) -> Iterable[Metric]:
        return self._parent.collect()


class LoopMetrics:
    """Counters and latencies of the ``serve`` loop's work, in one app's own registry.

    What this process did carries an ``instance`` label (its cluster node id:
    several instances may share a database); the cluster's view —
    ``certwarden_cluster_leader{job}`` (1 while this instance holds the job's
    lease) and ``certwarden_cluster_nodes{state}`` (alive / gone) — is set each
    round from the database by :meth:`cluster`, so a scrape reads nothing.
    """

    def __init__(self, registry: CollectorRegistry, *, instance: str = "") -> None:
        buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
        me = ["instance"]
        self.instance = instance
        self.monitor_notices = Counter(
            "certwarden_monitor_notices",
            "Certificates notified by monitor runs of this process.",
            me,
            registry=registry,
        ).labels(instance)
        self.monitor_duration = Histogram(
            "certwarden_monitor_run_duration_seconds",
            "How long monitor runs took.",
            me,
            registry=registry,
            buckets=buckets,
        ).labels(instance)
        self.revocation_runs = Counter(
            "certwarden_revocation_runs",
            "Scheduled revocation check runs done by this process.",
            me,
            registry=registry,
        ).labels(instance)
        self.ocsp_results = _Bound(
            Counter(
                "certwarden_ocsp_results",
                "Certificates checked by scheduled revocation runs, per result status.",
                [*me, "status"],
                registry=registry,
            ),
            instance,
        )
        self.revocation_duration = Histogram(
            "certwarden_revocation_run_duration_seconds",
            "How long scheduled revocation runs (all OCSP requests of a run) took.",
            me,
            registry=registry,
            buckets=buckets,
        ).labels(instance)
        self.outbox_sent = Counter(
            "certwarden_outbox_sent", "Notices the mail server accepted.", me, registry=registry
        ).labels(instance)
        self.outbox_failed = Counter(
            "certwarden_outbox_failed",
            "Delivery attempts that failed (retried later).",
            me,
            registry=registry,
        ).labels(instance)
        self.outbox_duration = Histogram(
            "certwarden_outbox_delivery_duration_seconds",
            "How long delivery rounds that sent or tried something took.",
            me,
            registry=registry,
            buckets=buckets,
        ).labels(instance)
        self.loop_errors = _Bound(
            Counter(
                "certwarden_loop_errors",
                "Errors raised by a background task (the loop logs and carries on).",
                [*me, "task"],
                registry=registry,
            ),
            instance,
        )
        self.cluster_leader = Gauge(
            "certwarden_cluster_leader",
            "1 while this instance holds the job's lease (runs it), else 0.",
            [*me, "job"],
            registry=registry,
        )
        self.cluster_nodes = Gauge(
            "certwarden_cluster_nodes",
            "Instances registered on the database, alive or gone (heartbeat older than the lease).",
            ["state"],
            registry=registry,
        )

    def cluster(self, status: ClusterStatus) -> None:
        """Set the cluster gauges from ``status`` (read by the loop each round)."""
        for lease in status.leases:
            held = lease.holder == status.this_node and not lease.expired
            self.cluster_leader.labels(self.instance, lease.job).set(1 if held else 0)
        gone = sum(1 for n in status.nodes if n.gone)
        self.cluster_nodes.labels("alive").set(len(status.nodes) - gone)
        self.cluster_nodes.labels("gone").set(gone)

    @staticmethod
    def timer() -> float:
        return time.perf_counter()


class MetricsRegistry:
    """One app's metrics: the database part rendered into a cache, plus the loop's registry.

    ``render`` builds the text from the database (what the cache calls);
    ``scrape`` is what ``/metrics`` answers: the cached text and the loop's counters.
    """

    def __init__(
        self,
        app: App,
        window: Callable[[], timedelta],
        options: MetricsOptions | None = None,
    ) -> None:
        from certwarden.interfaces.web.metrics_cache import MetricsCache

        self._app = app
        self._window = window
        self.options = options or MetricsOptions()
        self.loop_registry = CollectorRegistry(auto_describe=False)
        self.loop = LoopMetrics(self.loop_registry, instance=app.cluster.node_id)
        self.cache = MetricsCache(
            self.render, app.overview.data_version, self.options.refresh_seconds
        )

    def render(self, *, per_certificate: bool = True) -> bytes:
        """The database part, rendered now (``per_certificate=False``: the summary only;
        True: per-certificate series as the options allow)."""
        registry = CollectorRegistry(auto_describe=False)
        wanted: Callable[[int], bool] | bool = (
            self.options.wants_certificates if per_certificate else False
        )
        registry.register(CertwardenCollector(self._app, self._window(), per_certificate=wanted))
        return generate_latest(registry)

    def loop_text(self) -> bytes:
        """The serve loop's counters and latencies (a few dozen lines: rendered per scrape)."""
        return generate_latest(self.loop_registry)

    def scrape_parts(self, *, summary: bool = False) -> tuple[bytes, bytes]:
        """What ``/metrics`` sends, as two parts (the cached text is never copied:
        sixteen scrapers at once share one object)."""
        return self.cache.get(summary=summary), self.loop_text()

    def scrape(self, *, summary: bool = False) -> bytes:
        """What ``/metrics`` answers, joined (tests, tools)."""
        return b"".join(self.scrape_parts(summary=summary))
