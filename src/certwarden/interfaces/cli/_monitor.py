"""Certificate Expiry Monitor commands: ``monitor``, ``smtp``, ``alerts``, ``outbox``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from certwarden.adapters.smtp import SMTP_ENV
from certwarden.core.expiry import FIELD_LABELS, format_frequency
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError, InvalidFieldsError
from certwarden.interfaces.cli._context import console, console_err, get_app, print_json
from certwarden.services.monitor import SERVICE_TITLE, RunReport, SimulationReport
from certwarden.services.shared.alerts import list_alerts
from certwarden.services.shared.outbox import DeliveryReport

monitor_app = typer.Typer(
    help="Certificate Expiry Monitor: settings, the service, runs and what-if simulation.",
    no_args_is_help=True,
)
monitor_settings_app = typer.Typer(
    help="Show (no subcommand) or change (set) the Certificate Monitor settings.",
    invoke_without_command=True,
)
smtp_app = typer.Typer(help="The mail server notices are sent through.", no_args_is_help=True)
smtp_settings_app = typer.Typer(
    help="Show (no subcommand) or change (set) the SMTP settings.", invoke_without_command=True
)
alerts_app = typer.Typer(help="The alert history.", no_args_is_help=True)
outbox_app = typer.Typer(help="Notices waiting for, or done with, delivery.", no_args_is_help=True)

MONITOR_FLAGS = {
    "start_days": "--start-days",
    "frequency": "--frequency",
    "email_enabled": "--email/--no-email",
    "lsc_enabled": "--lsc/--no-lsc",
    "emails": "--emails",
}
SMTP_FLAGS = {
    "host": "--host",
    "port": "--port",
    "security": "--security",
    "username": "--username",
    "password": "--password-env",
    "from_address": "--from",
    "timeout_seconds": "--timeout",
}


def register(app: typer.Typer) -> None:
    monitor_app.add_typer(monitor_settings_app, name="settings")
    smtp_app.add_typer(smtp_settings_app, name="settings")
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(smtp_app, name="smtp")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(outbox_app, name="outbox")


def _when(value: datetime | None) -> str:
    return iso_z(value) or "-"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds % 86400 == 0 and seconds:
        return f"{sign}{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{sign}{seconds // 3600}h"
    return f"{sign}{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _settings_failed(exc: InvalidFieldsError, flags: dict[str, str]) -> typer.Exit:
    """Print every bad field with the option that sets it; nothing was saved."""
    for field, message in exc.errors.items():
        console_err.print(
            f"[bold red]error:[/] {flags.get(field, field)}: {message}",
            highlight=False,
            soft_wrap=True,
        )
    console_err.print("nothing was saved", highlight=False)
    return typer.Exit(1)


# ---------------------------------------------------------------- monitor settings


@monitor_settings_app.callback()
def monitor_settings_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the Certificate Monitor settings."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_app(ctx).monitor.settings()
    data = settings.to_json()
    if as_json:
        print_json(data)
        return
    table = Table("setting", "value", "option", show_header=True)
    shown = {
        "start_days": f"{settings.start_days} day(s) before expiry",
        "frequency": format_frequency(settings.frequency),
        "email_enabled": "on" if settings.email_enabled else "off",
        "lsc_enabled": "on" if settings.lsc_enabled else "off",
        "emails": "; ".join(settings.emails) or "-",
    }
    for field, label in FIELD_LABELS.items():
        table.add_row(label, shown[field], MONITOR_FLAGS[field])
    console.print(table)


@monitor_settings_app.command("set")
def monitor_settings_set(
    ctx: typer.Context,
    start_days: Annotated[
        str | None,
        typer.Option("--start-days", help="Notification Start Time: days before expiry (1-365)."),
    ] = None,
    frequency: Annotated[
        str | None,
        typer.Option(
            "--frequency", help="Notification Frequency: hours or days, e.g. 12h or 2d (>= 1h)."
        ),
    ] = None,
    email: Annotated[
        bool | None,
        typer.Option("--email/--no-email", help="Enable E-mail notification."),
    ] = None,
    lsc: Annotated[
        bool | None, typer.Option("--lsc/--no-lsc", help="Enable LSC Monitoring.")
    ] = None,
    emails: Annotated[
        str | None,
        typer.Option("--emails", help="E-mail IDs, separated by semicolons ('' clears them)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Change Certificate Monitor settings. Every field is checked; nothing is saved
    when any is bad."""
    values: dict[str, Any] = {}
    for field, value in (
        ("start_days", start_days),
        ("frequency", frequency),
        ("email_enabled", email),
        ("lsc_enabled", lsc),
        ("emails", emails),
    ):
        if value is not None:
            values[field] = value
    if not values:
        raise typer.BadParameter(
            "give at least one of --start-days, --frequency, --email/--no-email, "
            "--lsc/--no-lsc, --emails"
        )
    try:
        settings = get_app(ctx).monitor.update_settings(values)
    except InvalidFieldsError as exc:
        raise _settings_failed(exc, MONITOR_FLAGS) from exc
    if as_json:
        print_json(settings.to_json())
    else:
        console.print("Certificate Monitor settings saved.")


# ------------------------------------------------------------------ service control


@monitor_app.command("status")
def monitor_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Status, last run, next run, and why the interval is what it is."""
    app = get_app(ctx)
    st = app.monitor.status()
    if as_json:
        print_json(st.to_json())
        return
    now = app.clock.now()
    console.print(f"{SERVICE_TITLE}: [bold]{st.status.label}[/] (since {_when(st.changed_at)})")
    last = st.last_run
    if st.last_run_at and last:
        console.print(
            f"last run:  {_when(st.last_run_at)} ({last.get('trigger')}): "
            f"{last.get('notified', 0)} notified ({last.get('expired', 0)} expired, "
            f"{last.get('expiring', 0)} expiring)"
            + (", digest queued" if last.get("digest_queued") else "")
        )
    else:
        console.print("last run:  never")
    if st.next_run_at:
        console.print(f"next run:  {_when(st.next_run_at)} (in {_span(st.next_run_at - now)})")
    else:
        console.print("next run:  none scheduled")
    if st.interval:
        console.print(f"interval:  {_span(st.interval)}")
    console.print(f"why:       {st.explanation}", soft_wrap=True)


@monitor_app.command("start")
def monitor_start(ctx: typer.Context) -> None:
    """Start the service (first run 24 hours later; 1 hour if a certificate is within a day)."""
    app = get_app(ctx)
    started = app.monitor.start()
    st = app.monitor.status()
    console.print(
        (f"{SERVICE_TITLE} started" if started else f"{SERVICE_TITLE} is already running")
        + f"; next run {_when(st.next_run_at)}"
    )


@monitor_app.command("stop")
def monitor_stop(ctx: typer.Context) -> None:
    """Stop the service (no runs until it is started again)."""
    stopped = get_app(ctx).monitor.stop()
    console.print(f"{SERVICE_TITLE} stopped" if stopped else f"{SERVICE_TITLE} is already stopped")


@monitor_app.command("restart")
def monitor_restart(ctx: typer.Context) -> None:
    """Restart the service: the next run is scheduled from now (24 hours, or 1 hour)."""
    nxt = get_app(ctx).monitor.restart()
    console.print(
        f"{SERVICE_TITLE} restarted; next run {_when(nxt.at)} ({nxt.explanation})", soft_wrap=True
    )


@monitor_app.command("run-now")
def monitor_run_now(
    ctx: typer.Context,
    deliver: Annotated[
        bool,
        typer.Option("--deliver/--no-deliver", help="Deliver the outbox right after the run."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Run the monitor once, now; then deliver what the outbox holds."""
    app = get_app(ctx)
    report = app.monitor.run_now()
    delivery = app.outbox.deliver_due(app.clock.now()) if deliver else None
    if as_json:
        print_json({"run": report.to_json(), "delivery": delivery.to_json() if delivery else None})
    else:
        _print_run(report)
        if delivery is not None:
            _print_delivery(delivery)
    if delivery is not None and (delivery.failed or delivery.skipped):
        raise typer.Exit(1)


def _print_run(report: RunReport) -> None:
    console.print(
        f"run at {_when(report.at)}: {len(report.notices)} certificate(s) notified"
        + (
            f", {report.already_notified} already notified in this slot"
            if report.already_notified
            else ""
        )
    )
    if report.notices:
        table = Table("kind", "days left", "not after (UTC)", "store", "subject", "sha256")
        for n in report.notices:
            c = n.certificate
            table.add_row(
                n.kind.value,
                f"{n.days_left:.1f}",
                _when(c.not_after),
                c.store,
                c.subject,
                c.sha256[:16],
            )
        console.print(table)
    if report.notices and report.email_enabled:
        console.print(
            ("digest queued for " if report.digest_queued else "digest already queued for ")
            + "; ".join(report.recipients)
        )
    elif report.notices:
        console.print("e-mail notification is off: alerts recorded, no e-mail")
    if report.next_run:
        console.print(
            f"next run {_when(report.next_run.at)}: {report.next_run.explanation}", soft_wrap=True
        )


def _print_delivery(report: DeliveryReport) -> None:
    if report.skipped:
        console_err.print(f"[yellow]outbox:[/] {report.skipped}", soft_wrap=True)
        return
    if report.sent:
        console.print(f"outbox: {len(report.sent)} notice(s) sent")
    for msg_id, error in report.failed.items():
        console_err.print(
            f"[red]outbox:[/] notice #{msg_id} not delivered (will retry): {error}", soft_wrap=True
        )
    if not report.sent and not report.failed:
        console.print(
            "outbox: nothing to deliver"
            + (f" ({report.waiting} waiting for a retry)" if report.waiting else "")
        )


@monitor_app.command("simulate")
def monitor_simulate(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help="How many days to simulate (1-366).")],
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="ISO-8601 start time, e.g. 2026-07-01T00:00Z; simulated as a (re)start then. "
            "[default: now, continuing the current schedule]",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Replay the schedule and the notification rules with a simulated clock over the
    current inventory and settings. Nothing is stored and nothing is sent."""
    begin = None
    if start is not None:
        try:
            begin = datetime.fromisoformat(start.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise InputError(f"--from {start!r} is not an ISO-8601 time") from exc
        if begin.tzinfo is None:
            raise InputError(f"--from {start!r} needs a UTC offset, e.g. 2026-07-01T00:00Z")
    report = get_app(ctx).monitor.simulate(days, begin)
    if as_json:
        print_json(report.to_json())
        return
    _print_simulation(report)


def _print_simulation(report: SimulationReport) -> None:
    console.print(
        f"Simulated {_when(report.start)} to {_when(report.end)} "
        f"({len(report.runs)} run(s); nothing stored or sent)."
    )
    console.print(f"Schedule: {report.basis}", soft_wrap=True)
    s = report.settings
    console.print(
        f"Settings: start {s.start_days}d before expiry, every {format_frequency(s.frequency)}, "
        f"e-mail {'to ' + '; '.join(s.emails) if s.email_enabled else 'off'}, "
        f"LSC {'on' if s.lsc_enabled else 'off'}",
        soft_wrap=True,
    )
    table = Table("run at (UTC)", "after", "would notify", "next in", "why")
    previous = report.start
    for run in report.runs:
        notes = "; ".join(
            f"{n.kind.value} {n.certificate.subject} ({n.certificate.store}, {n.days_left:.1f}d)"
            for n in run.notices
        )
        if run.notices and run.email_enabled:
            notes += f" -> e-mail to {len(run.recipients)} address(es)"
        nxt = run.next_run
        table.add_row(
            _when(run.at).removesuffix(" UTC"),
            _span(run.at - previous),
            notes or "-",
            _span(nxt.interval) if nxt else "-",
            nxt.reason.value if nxt else "-",
        )
        previous = run.at
    console.print(table)


# ---------------------------------------------------------------------------- smtp


@smtp_settings_app.callback()
def smtp_settings_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the effective SMTP settings (the password is never shown)."""
    if ctx.invoked_subcommand is not None:
        return
    outbox = get_app(ctx).outbox
    settings = outbox.smtp_settings()
    from_env = outbox.env_overrides
    data = settings.to_json()
    if as_json:
        print_json({**data, "from_environment": list(from_env)})
        return
    table = Table("setting", "value", "source")
    for field, value in data.items():
        source = SMTP_ENV[field] if field in from_env else "stored"
        table.add_row(field, str(value) if value != "" else "-", source)
    console.print(table)
    if not settings.configured:
        console.print("No SMTP host is set: notices wait in the outbox until one is.")


@smtp_settings_app.command("set")
def smtp_settings_set(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Mail server host name or IP.")] = None,
    port: Annotated[str | None, typer.Option("--port", help="Port (25, 587, 465 ...).")] = None,
    security: Annotated[
        str | None, typer.Option("--security", help="starttls, tls (implicit) or none.")
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="Login name ('' for none).")
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            help="Name of an environment variable holding the password (read now, stored).",
        ),
    ] = None,
    clear_password: Annotated[
        bool, typer.Option("--clear-password", help="Forget the stored password.")
    ] = False,
    sender: Annotated[str | None, typer.Option("--from", help="The From address.")] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Seconds to wait for the server (1-300).")
    ] = None,
) -> None:
    """Change the SMTP settings. Every field is checked; nothing is saved when any is bad."""
    values: dict[str, Any] = {}
    for field, value in (
        ("host", host),
        ("port", port),
        ("security", security),
        ("username", username),
        ("from_address", sender),
        ("timeout_seconds", timeout),
    ):
        if value is not None:
            values[field] = value
    if password_env is not None and clear_password:
        raise typer.BadParameter("give --password-env or --clear-password, not both")
    if clear_password:
        values["password"] = ""
    if password_env is not None:
        secret = os.environ.get(password_env)
        if not secret:
            raise _settings_failed(
                InvalidFieldsError(
                    {"password": f"environment variable {password_env!r} is not set or empty"}
                ),
                SMTP_FLAGS,
            )
        values["password"] = secret
    if not values:
        raise typer.BadParameter(
            "give at least one of --host, --port, --security, --username, --password-env, "
            "--clear-password, --from, --timeout"
        )
    try:
        get_app(ctx).outbox.update_smtp_settings(values)
    except InvalidFieldsError as exc:
        raise _settings_failed(exc, SMTP_FLAGS) from exc
    console.print("SMTP settings saved.")


# -------------------------------------------------------------------- alerts/outbox


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10000, help="At most this many.")
    ] = 100,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind (expiring, expired ...).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The alert history, newest first."""
    app = get_app(ctx)
    with app.db.session() as s:
        alerts = list_alerts(s, limit=limit, kind=kind)
    if as_json:
        print_json([a.to_json() for a in alerts])
        return
    table = Table("id", "at (UTC)", "kind", "severity", "store", "message")
    for a in alerts:
        table.add_row(
            str(a.id),
            _when(a.created_at).removesuffix(" UTC"),
            a.kind,
            a.severity,
            a.store,
            a.message,
        )
    console.print(table)


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="Only pending or only sent notices.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10000, help="At most this many.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Notices with their state, attempts and last error, newest first."""
    if state is not None and state not in {"pending", "sent"}:
        raise typer.BadParameter(
            f"{state!r} is not a state; use pending or sent", param_hint="--state"
        )
    entries = get_app(ctx).outbox.list(state=state, limit=limit)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    table = Table(
        "id", "created (UTC)", "state", "attempts", "next attempt", "last error", "subject"
    )
    for e in entries:
        table.add_row(
            str(e.id),
            _when(e.created_at).removesuffix(" UTC"),
            e.state,
            str(e.attempts),
            _when(e.next_attempt_at).removesuffix(" UTC"),
            e.last_error or "-",
            e.subject,
        )
    console.print(table)


@outbox_app.command("deliver")
def outbox_deliver(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Deliver every notice that is due now. Exit code 1 when any could not be delivered."""
    app = get_app(ctx)
    report = app.outbox.deliver_due(app.clock.now())
    if as_json:
        print_json(report.to_json())
    else:
        _print_delivery(report)
    if report.failed or report.skipped:
        raise typer.Exit(1)
