"""``certwarden serve``: the web UI, the REST API and the background services
in one process.

The background loop runs every few seconds in a worker thread: it calls
``monitor.tick(now)`` (whose runs first probe the monitored TLS endpoints),
``revocation.tick(now)``, ``connections.tick(now)`` (re-checks long-lived TLS
connections), ``syslog.forward(now)`` and ``outbox.deliver_due(now)`` (each
decides itself whether anything is due; ``now`` comes from the app's clock). On shutdown (Ctrl-C, SIGTERM) the server stops taking requests, the
loop finishes the round it is in — a monitor run is one transaction, queued
notices stay queued — and then the process exits.

Before it touches anything (migrations, the first admin, the demo's settings),
``serve`` takes the data directory's lock (SQLite: one server per database,
:mod:`certwarden.adapters.instance_lock`) and binds its port: a second server
on the same data directory, or on a busy port, is refused with nothing written.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certwarden.adapters.instance_lock import InstanceLock
from certwarden.composition import LEASE_ENV, App, instance_lock_directory
from certwarden.errors import ConnectionLostError, InputError, LeaseLostError
from certwarden.interfaces.cli import _logs as logs
from certwarden.interfaces.cli._context import cli_state, console, console_err, get_app
from certwarden.interfaces.cli._safe import safe

if TYPE_CHECKING:
    from certwarden.demo.runtime import DemoRuntime
    from certwarden.interfaces.web.metrics import LoopMetrics
    from certwarden.services.cluster import Lease
    from certwarden.services.shared.claims import Tenure

__all__ = ["register"]

log = logging.getLogger("certwarden.serve")


def _log_failure(message: str, *args: object) -> None:
    """Log the failure being handled: with its traceback, except a lost database
    connection, which is one line (it says what happened; the round after
    retries with a fresh connection)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, ConnectionLostError):
        log.warning(f"{message}: %s; it is tried again at the next round", *args, exc)
    else:
        log.exception(message, *args)


ADMIN_PASSWORD_ENV = "CERTWARDEN_ADMIN_PASSWORD"  # noqa: S105 - a variable name


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def _lease(app: App, job: str) -> Lease | None:
    """This instance's lease on ``job`` (renewed or taken), or None: another runs it."""
    try:
        return app.cluster.acquire(job, app.clock.now())
    except Exception:
        _log_failure("could not take or renew the %s lease", job)
        return None


@contextmanager
def _job(app: App, job: str) -> Iterator[Lease | None]:
    """This instance's lease on ``job`` (None: another runs it), kept by the lease
    keeper while the block runs, however long it takes."""
    lease = _lease(app, job)
    with app.keeper.lease(lease):
        yield lease


def _tenure(app: App, lease: Lease | None) -> Tenure | None:
    """A lease as the outboxes' claims take it (token and fence), or None."""
    from certwarden.services.shared.claims import Tenure

    return Tenure(lease.token, app.cluster.fence(lease)) if lease else None


def proxy_options(trusted: list[str]) -> dict[str, Any]:
    """uvicorn's options for ``--trusted-proxy``: X-Forwarded-For and -Proto are
    believed only from those addresses or networks; with none given, from nobody
    (the client is the peer of the TCP connection, loopback included)."""
    import ipaddress

    for value in trusted:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is not an IP address or network (like 10.0.0.5 or 10.0.0.0/24)",
                param_hint="--trusted-proxy",
            ) from None
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": list(trusted)}


def run_round(app: App, metrics: LoopMetrics) -> None:
    """One pass of the background work; each part's failure is logged, not fatal.

    Each scheduled job runs here only while this instance holds its lease
    (several instances may share a PostgreSQL database); long-lived TLS
    connections are this instance's own and re-checked here always.
    """
    try:
        app.cluster.heartbeat(app.clock.now())
    except Exception:
        metrics.loop_errors.labels("cluster").inc()
        _log_failure("the cluster heartbeat failed")
    _run_jobs(app, metrics)
    try:
        # The leases as this round left them: the cluster gauges on /metrics.
        metrics.cluster(app.cluster.status(app.clock.now()))
    except Exception:
        metrics.loop_errors.labels("cluster").inc()
        _log_failure("could not read the cluster's state")


def _run_jobs(app: App, metrics: LoopMetrics) -> None:
    started = metrics.timer()
    try:
        with _job(app, "monitor") as lease:
            report = (
                app.monitor.tick(app.clock.now(), fence=app.cluster.fence(lease)) if lease else None
            )
        if report is not None:
            log.info("%s", logs.monitor_run(report))
            metrics.monitor_notices.inc(len(report.notices))
            metrics.monitor_duration.observe(metrics.timer() - started)
    except LeaseLostError as exc:
        log.warning("%s", exc)
    except Exception:
        metrics.loop_errors.labels("monitor").inc()
        _log_failure("the Certificate Expiry Monitor tick failed")
    try:
        # The leader plans a due run; every instance checks chunks of it below.
        with _job(app, "revocation") as lease:
            tick = (
                app.revocation.tick(
                    app.clock.now(),
                    fence=app.cluster.fence(lease),
                    node=app.cluster.node_id,
                    work=False,
                )
                if lease
                else None
            )
        if tick is not None and tick.ran:
            log.info("%s", logs.revocation_run(tick))
    except LeaseLostError as exc:
        log.warning("%s", exc)
    except Exception:
        metrics.loop_errors.labels("revocation").inc()
        _log_failure("the scheduled revocation check failed")
    _work_chunks(app, metrics)
    try:
        # Long-lived TLS connections first: a peer that turned revoked is
        # closed before anything more is sent to it.
        rechecked = app.connections.tick(app.clock.now())
        for closed in rechecked.closed:
            log.warning("closed the %s connection to %s: %s", closed.purpose, closed.where,
                        closed.verdict.why)  # fmt: skip
    except Exception:
        metrics.loop_errors.labels("connections").inc()
        _log_failure("the re-check of long-lived TLS connections failed")
    try:
        with _job(app, "syslog") as lease:
            forwarded = app.syslog.forward(app.clock.now()) if lease else None
        if forwarded is not None and forwarded.sent:
            log.info("syslog: %d alert(s) forwarded, %d waiting", forwarded.sent, forwarded.pending)
        if forwarded is not None and forwarded.error:
            log.warning("syslog forwarding (will retry): %s", forwarded.error)
    except Exception:
        metrics.loop_errors.labels("syslog").inc()
        _log_failure("syslog forwarding failed")
    try:
        with _job(app, "ari") as lease:
            renewal = app.ari.tick(app.clock.now()) if lease else None
        for cert_id, error in renewal.failed.items() if renewal else ():
            log.warning("ACME renewal information for certificate %s (will retry): %s",
                        cert_id, error)  # fmt: skip
    except Exception:
        metrics.loop_errors.labels("ari").inc()
        _log_failure("the ACME renewal information round failed")
    try:
        # Channel notices belong to the outbox job: the same lease and claims, their own table.
        with _job(app, "outbox") as lease:
            tenure = _tenure(app, lease)
            channels = app.channels.deliver_due(app.clock.now(), tenure=tenure) if tenure else None
        if channels is not None and channels.sent:
            log.info("channels: %d notice(s) sent", len(channels.sent))
    except LeaseLostError as exc:
        log.warning("%s", exc)
    except Exception:
        metrics.loop_errors.labels("outbox").inc()
        _log_failure("channel delivery failed")
    started = metrics.timer()
    try:
        with _job(app, "outbox") as lease:
            tenure = _tenure(app, lease)
            delivery = app.outbox.deliver_due(app.clock.now(), tenure=tenure) if tenure else None
        if delivery is None:
            return
        if delivery.sent or delivery.failed:
            log.info("%s", logs.delivery_round(delivery))
            metrics.outbox_sent.inc(len(delivery.sent))
            metrics.outbox_failed.inc(len(delivery.failed))
            metrics.outbox_duration.observe(metrics.timer() - started)
        for msg_id, error in delivery.failed.items():
            log.warning("notice %s not delivered (will retry): %s", msg_id, error)
    except LeaseLostError as exc:
        log.warning("%s", exc)
    except Exception:
        metrics.loop_errors.labels("outbox").inc()
        _log_failure("outbox delivery failed")


# Chunks of a scheduled revocation run one instance checks per round, at most
# (the round's other jobs wait meanwhile; the heartbeat is renewed between).
CHUNKS_PER_ROUND = 8


def _work_chunks(app: App, metrics: LoopMetrics) -> None:
    """This instance's share of the scheduled revocation runs: claim, check, commit."""
    hold = app.cluster.lease
    for _ in range(CHUNKS_PER_ROUND):
        try:
            now = app.clock.now()
            claim = app.revocation.claim_chunk(app.cluster.node_id, now, hold)
            if claim is None:
                return
            # A check outlasting the hold (a slow responder) keeps its claim.
            renew = partial(app.revocation.renew_claim, claim, hold=hold)
            with app.keeper.holding(claim.what, renew):
                done = app.revocation.check_chunk(claim, now)
        except LeaseLostError as exc:
            log.warning("%s", exc)
            continue
        except Exception:
            metrics.loop_errors.labels("revocation").inc()
            _log_failure("a chunk of the scheduled revocation check failed")
            return
        for status, count in done.report.counts().items():
            if count:
                metrics.ocsp_results.labels(status).inc(count)
        log.info("%s", logs.revocation_chunk(done))
        if done.run_done is not None:
            metrics.revocation_runs.inc()
            took = (app.clock.now() - done.claim.run_started_at).total_seconds()
            metrics.revocation_duration.observe(max(took, 0.0))
        try:
            app.cluster.heartbeat(app.clock.now())
        except Exception:
            metrics.loop_errors.labels("cluster").inc()
            _log_failure("the cluster heartbeat failed")


def background_loop(app: App, interval: float) -> Any:
    """A lifespan hook running :func:`run_round` every ``interval`` seconds."""

    @asynccontextmanager
    async def hook(web: Any) -> AsyncIterator[None]:
        metrics: LoopMetrics = web.state.metrics.loop
        stop = asyncio.Event()
        await asyncio.to_thread(app.cluster.register)
        app.keeper.start()  # renews the lease of a job that outlasts it

        async def loop() -> None:
            while not stop.is_set():
                # A thread: the services are synchronous; the event loop keeps serving.
                await asyncio.to_thread(run_round, app, metrics)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

        task = asyncio.create_task(loop(), name="certwarden-background")
        try:
            yield
        finally:
            stop.set()
            # Wait for the round in progress: no half-done run is left behind.
            await task
            await asyncio.to_thread(app.keeper.stop)
            # Hand the jobs over at once rather than after the lease.
            with suppress(Exception):
                await asyncio.to_thread(app.cluster.leave)

    return hook


def _stopper(demo: Any) -> Any:
    @asynccontextmanager
    async def hook(_web: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(demo.stop)

    return hook


def _initial_admin(app: App) -> None:
    if app.users.count_users():
        return
    given = os.environ.get(ADMIN_PASSWORD_ENV) or None
    created = app.users.ensure_initial_admin(given)
    if created is None:
        # Several instances started at once on one database: one of them created it.
        console.print(
            "user [bold]admin[/] was created a moment ago by another instance sharing the "
            "database (the password is in that instance's output"
            + (f", or {ADMIN_PASSWORD_ENV})" if given else ")"),
            soft_wrap=True,
            highlight=False,
        )
        return
    if created.password is None:
        console.print(f"created user [bold]admin[/] with the password from {ADMIN_PASSWORD_ENV}")
        return
    console.print(
        "created user [bold]admin[/] with the password "
        f"[bold]{created.password}[/] — shown this once; change it under Account after signing in",
        soft_wrap=True,
        highlight=False,
    )


def _check_interval(interval: float, lease_seconds: int) -> None:
    """Rounds at most half a lease apart: an instance renews its job leases and
    its heartbeat once a round, so rounds further apart would let its jobs pass
    to another instance between two of them, and show it as gone."""
    if interval * 2 > lease_seconds:
        raise typer.BadParameter(
            f"{interval:g} s is more than half the cluster lease ({lease_seconds} s, "
            f"{LEASE_ENV}): an instance renews its job leases and its heartbeat once a "
            "round, so between rounds that far apart its jobs would pass to another "
            f"instance and it would show as gone; give at most {lease_seconds / 2:g} s, "
            "or a longer lease",
            param_hint="--interval",
        )


def _check_tls_files(cert: Path, key: Path) -> None:
    """Load the certificate and key now, before anything is written (not in uvicorn's start)."""
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise InputError(
            f"--tls-cert {cert} / --tls-key {key}: cannot be used to serve HTTPS "
            f"({getattr(exc, 'reason', None) or exc}); give a PEM certificate chain and its "
            "unencrypted PEM private key"
        ) from exc


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound before anything is written.

    Raises:
        InputError: the port is busy (another server?) or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"{shown} is already in use (another server is listening there): "
                "give another --port, or stop that server; nothing was changed"
            ) from exc
        raise InputError(f"cannot listen on {shown}: {exc.strerror or exc}") from exc


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8080,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain) to serve HTTPS with.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Demo mode: demo PKI in demo-… stores, a demo OCSP responder and a "
            "captured-mail inbox on loopback.",
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            min=0.2,
            max=3600,
            help="Seconds between background rounds (at most half the cluster lease).",
        ),
    ] = 5.0,
    metrics_auth: Annotated[
        bool, typer.Option("--metrics-auth", help="/metrics needs an API token.")
    ] = False,
    metrics_per_certificate: Annotated[
        str,
        typer.Option(
            help="Per-certificate series on /metrics: auto (up to 10,000 certificates; "
            "above, the summary alone), always or never.",
        ),
    ] = "auto",
    metrics_refresh: Annotated[
        float,
        typer.Option(min=1, max=3600, help="Seconds between renders of the cached /metrics text."),
    ] = 15.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="A reverse proxy's address or network whose X-Forwarded-For is believed "
            "(repeatable; default: none, the TCP peer is the client).",
        ),
    ] = None,
    log_format: Annotated[
        str,
        typer.Option(help="text (one line a record) or json (one JSON object a line)."),
    ] = "text",
) -> None:
    """Run the web UI, the REST API and the background services."""
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither")
    for label, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise InputError(f"{label} {path}: no such file")
    if tls_cert is not None and tls_key is not None:
        _check_tls_files(tls_cert, tls_key)
    if metrics_per_certificate not in {"auto", "always", "never"}:
        raise typer.BadParameter(
            f"{metrics_per_certificate!r}: use auto, always or never",
            param_hint="--metrics-per-certificate",
        )
    if log_level not in {"debug", "info", "warning", "error"}:
        raise typer.BadParameter("use debug, info, warning or error", param_hint="--log-level")
    proxies = proxy_options(trusted_proxy or [])
    _check_interval(interval, cli_state(ctx).config().lease_seconds)
    if log_format not in logs.LOG_FORMATS:
        raise typer.BadParameter(f"{log_format!r}: use text or json", param_hint="--log-format")
    logs.configure_logging(log_level, log_format)
    options = _ServeOptions(
        tls_cert=tls_cert,
        tls_key=tls_key,
        demo=demo,
        interval=interval,
        metrics_auth=metrics_auth,
        metrics_per_certificate=metrics_per_certificate,
        metrics_refresh=metrics_refresh,
        log_level=log_level,
        log_format=log_format,
        proxies=proxies,
    )
    lock_dir = instance_lock_directory(cli_state(ctx).config())
    lock = InstanceLock.acquire(lock_dir) if lock_dir is not None else None
    try:
        listener = listen(host, port)
        try:
            _serve(ctx, listener, options)
        finally:
            listener.close()
    finally:
        if lock is not None:
            lock.release()


@dataclass(frozen=True)
class _ServeOptions:
    tls_cert: Path | None
    tls_key: Path | None
    demo: bool
    interval: float
    metrics_auth: bool
    metrics_per_certificate: str
    metrics_refresh: float
    log_level: str
    log_format: str
    proxies: dict[str, Any]


def _serve(ctx: typer.Context, listener: socket.socket, options: _ServeOptions) -> None:
    import uvicorn

    tls_cert, tls_key, demo, interval = (
        options.tls_cert,
        options.tls_key,
        options.demo,
        options.interval,
    )
    app = get_app(ctx)
    app.keyring.confirm_secret(str(app.config.secret_path))
    _initial_admin(app)
    hooks: list[Any] = []
    inbox = None
    notes: list[str] = []
    runtime: DemoRuntime | None = None
    if demo:
        from certwarden.demo.runtime import start_demo

        runtime = start_demo(
            data_dir=app.config.data_dir,
            clock=app.clock,
            inventory=app.inventory,
            monitor=app.monitor,
            revocation=app.revocation,
            outbox=app.outbox,
        )
        hooks.append(_stopper(runtime))
        # The demo wrote settings (mail server, OCSP responder): on the record.
        app.changes.record(
            "system", "demo.start", "demo", {"notes": runtime.notes, "fresh": runtime.fresh}
        )
        inbox, notes = runtime.mailbox, runtime.notes
        for note in notes:
            console.print(f"[dim]demo:[/] {safe(note)}", highlight=False, soft_wrap=True)
    hooks.append(background_loop(app, interval))
    from certwarden.interfaces.web import create_app  # the web stack only for `serve`
    from certwarden.interfaces.web.metrics import MetricsOptions

    server: uvicorn.Server | None = None
    try:
        web = create_app(
            app,
            demo_inbox=inbox,
            demo_notes=notes,
            metrics_public=not options.metrics_auth,
            metrics=MetricsOptions(
                per_certificate=options.metrics_per_certificate,
                refresh_seconds=options.metrics_refresh,
            ),
            lifespan_hooks=hooks,
        )
        # Everything built so far lives as long as the process: keep it out of the
        # collector's way (fewer full collections under load).
        gc.freeze()
        host, port = listener.getsockname()[:2]
        scheme = "https" if tls_cert else "http"
        shown = f"[{host}]" if ":" in host else host
        if options.log_format == "json":
            log.info("serving on %s://%s:%d/", scheme, shown, port)
        else:
            console_err.print(f"certwarden: serving on {scheme}://{shown}:{port}/", highlight=False)
        config = uvicorn.Config(
            web,
            host=host,
            port=port,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            log_level=options.log_level,
            log_config=None,  # uvicorn's records go through the handler configured above
            timeout_graceful_shutdown=30,
            lifespan="on",
            **options.proxies,
        )
        server = uvicorn.Server(config)
        server.run(sockets=[listener])
    finally:
        if runtime is not None and (server is None or not server.started):
            # The server never came up: the demo's settings must not name
            # servers that end with this process.
            runtime.stop()
            runtime.undo_settings()
    if server is None or not server.started:
        console_err.print("certwarden: the server did not start (see the log above)")
        raise typer.Exit(1)
