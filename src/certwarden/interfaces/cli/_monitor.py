"""Certificate Expiry Monitor commands: ``monitor`` (settings, the service, runs, simulation).

The mail side (``smtp``, ``alerts``, ``outbox``) is in ``_mail.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from certwarden.core.expiry import FIELD_LABELS, format_frequency
from certwarden.errors import InputError, InvalidFieldsError
from certwarden.interfaces.cli._channels import print_channel_delivery
from certwarden.interfaces.cli._context import (
    cli_actor,
    console,
    get_app,
    print_json,
)
from certwarden.interfaces.cli._layout import Col, fit_table, span, when
from certwarden.interfaces.cli._mail import print_delivery
from certwarden.interfaces.cli._options import fields_failed
from certwarden.interfaces.cli._safe import safe
from certwarden.services.monitor import SERVICE_TITLE, RunReport, SimulationReport

__all__ = ["MONITOR_FLAGS", "register"]

monitor_app = typer.Typer(
    help="Certificate Expiry Monitor: settings, the service, runs and what-if simulation.",
    no_args_is_help=True,
)
monitor_settings_app = typer.Typer(
    help="Show (no subcommand) or change (set) the Certificate Monitor settings.",
    invoke_without_command=True,
)

MONITOR_FLAGS = {
    "start_days": "--start-days",
    "frequency": "--frequency",
    "major_within": "--major-within",
    "critical_within": "--critical-within",
    "email_enabled": "--email/--no-email",
    "lsc_enabled": "--lsc/--no-lsc",
    "emails": "--emails",
}


def register(app: typer.Typer) -> None:
    monitor_app.add_typer(monitor_settings_app, name="settings")
    app.add_typer(monitor_app, name="monitor")


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
    cols = [Col("setting", "key"), Col("value", "text", min_width=20), Col("option", "key")]
    shown = {
        "start_days": f"{settings.start_days} day(s) before expiry",
        "frequency": format_frequency(settings.frequency),
        "major_within": f"{format_frequency(settings.major_within)} before expiry",
        "critical_within": f"{format_frequency(settings.critical_within)} before expiry"
        " (and once expired)",
        "email_enabled": "on" if settings.email_enabled else "off",
        "lsc_enabled": "on" if settings.lsc_enabled else "off",
        "emails": "; ".join(settings.emails) or "-",
    }
    rows = [[label, shown[field], MONITOR_FLAGS[field]] for field, label in FIELD_LABELS.items()]
    console.print(fit_table(console, cols, rows))


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
    major_within: Annotated[
        str | None,
        typer.Option(
            "--major-within",
            help="Major Level: notify once more (severity major) this long before expiry, "
            "e.g. 7d (shorter than the start time).",
        ),
    ] = None,
    critical_within: Annotated[
        str | None,
        typer.Option(
            "--critical-within",
            help="Critical Level: notify once more (severity critical) this long before "
            "expiry, e.g. 1d (shorter than --major-within); expiry is critical too.",
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
        ("major_within", major_within),
        ("critical_within", critical_within),
        ("email_enabled", email),
        ("lsc_enabled", lsc),
        ("emails", emails),
    ):
        if value is not None:
            values[field] = value
    if not values:
        raise typer.BadParameter(
            "give at least one of --start-days, --frequency, --major-within, "
            "--critical-within, --email/--no-email, "
            "--lsc/--no-lsc, --emails"
        )
    try:
        saved = get_app(ctx).changes.save_monitor_settings(cli_actor(), values)
    except InvalidFieldsError as exc:
        raise fields_failed(exc, MONITOR_FLAGS) from exc
    if as_json:
        print_json(saved)
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
    console.print(f"{SERVICE_TITLE}: [bold]{st.status.label}[/] (since {when(st.changed_at)})")
    last = st.last_run
    if st.last_run_at and last:
        console.print(
            f"last run:  {when(st.last_run_at)} ({last.get('trigger')}): "
            f"{last.get('notified', 0)} notified ({last.get('expired', 0)} expired, "
            f"{last.get('expiring', 0)} expiring)"
            + (", digest queued" if last.get("digest_queued") else "")
        )
    else:
        console.print("last run:  never")
    if st.next_run_at:
        console.print(f"next run:  {when(st.next_run_at)} (in {span(st.next_run_at - now)})")
    else:
        console.print("next run:  none scheduled")
    if st.interval:
        console.print(f"interval:  {span(st.interval)}")
    console.print(f"why:       {safe(st.explanation)}", soft_wrap=True)


@monitor_app.command("start")
def monitor_start(ctx: typer.Context) -> None:
    """Start the service (first run 24 hours later; 1 hour if a certificate is within a day)."""
    app = get_app(ctx)
    started = app.changes.start_monitor(cli_actor())
    st = app.monitor.status()
    console.print(
        (f"{SERVICE_TITLE} started" if started else f"{SERVICE_TITLE} is already running")
        + f"; next run {when(st.next_run_at)}"
    )


@monitor_app.command("stop")
def monitor_stop(ctx: typer.Context) -> None:
    """Stop the service (no runs until it is started again)."""
    stopped = get_app(ctx).changes.stop_monitor(cli_actor())
    console.print(f"{SERVICE_TITLE} stopped" if stopped else f"{SERVICE_TITLE} is already stopped")


@monitor_app.command("restart")
def monitor_restart(ctx: typer.Context) -> None:
    """Restart the service: the next run is scheduled from now (24 hours, or 1 hour)."""
    nxt = get_app(ctx).changes.restart_monitor(cli_actor())
    console.print(
        f"{SERVICE_TITLE} restarted; next run {when(nxt.at)} ({safe(nxt.explanation)})",
        soft_wrap=True,
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
    report = app.changes.run_monitor_now(cli_actor())
    delivery = app.outbox.deliver_due(app.clock.now()) if deliver else None
    channels = app.channels.deliver_due(app.clock.now()) if deliver else None
    if as_json:
        print_json(
            {
                "run": report.to_json(),
                "delivery": delivery.to_json() if delivery else None,
                "channels": channels.to_json() if channels else None,
            }
        )
    else:
        _print_run(report)
        if delivery is not None:
            print_delivery(delivery)
        if channels is not None:
            print_channel_delivery(channels)
    if delivery is not None and (delivery.failed or delivery.skipped):
        raise typer.Exit(1)
    if channels is not None and channels.failed:
        raise typer.Exit(1)


def _print_run(report: RunReport) -> None:
    console.print(
        f"run at {when(report.at)}: {len(report.notices)} certificate(s) notified"
        + (
            f", {report.already_notified} already notified in this slot"
            if report.already_notified
            else ""
        )
    )
    if report.notices:
        cols = [
            Col("kind", "key"),
            Col("days left", "key", justify="right"),
            Col("not after (UTC)", "key"),
            Col("store", "name", min_width=8),
            Col("subject", "name", min_width=12, weight=2),
            Col("sha256", "key", optional=1),
        ]
        rows = [
            [
                n.kind.value,
                f"{n.days_left:.1f}",
                when(n.certificate.not_after).removesuffix(" UTC"),
                n.certificate.store,
                n.certificate.subject,
                n.certificate.sha256[:16],
            ]
            for n in report.notices
        ]
        console.print(fit_table(console, cols, rows))
    if report.notices and report.email_enabled:
        console.print(
            ("digest queued for " if report.digest_queued else "digest already queued for ")
            + safe("; ".join(report.recipients)),
            soft_wrap=True,
        )
    elif report.notices:
        console.print("e-mail notification is off: alerts recorded, no e-mail")
    if report.next_run:
        console.print(
            f"next run {when(report.next_run.at)}: {safe(report.next_run.explanation)}",
            soft_wrap=True,
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
            raise InputError(f"--from {start}: is not an ISO-8601 time") from exc
        if begin.tzinfo is None:
            raise InputError(f"--from {start}: needs a UTC offset, e.g. 2026-07-01T00:00Z")
    report = get_app(ctx).monitor.simulate(days, begin)
    if as_json:
        print_json(report.to_json())
        return
    _print_simulation(report)


def _print_simulation(report: SimulationReport) -> None:
    console.print(
        f"Simulated {when(report.start)} to {when(report.end)} "
        f"({len(report.runs)} run(s); nothing stored or sent)."
    )
    console.print(f"Schedule: {safe(report.basis)}", soft_wrap=True)
    s = report.settings
    console.print(
        f"Settings: start {s.start_days}d before expiry, every {format_frequency(s.frequency)}, "
        f"e-mail {safe('to ' + '; '.join(s.emails)) if s.email_enabled else 'off'}, "
        f"LSC {'on' if s.lsc_enabled else 'off'}",
        soft_wrap=True,
    )
    cols = [
        Col("run at (UTC)", "key"),
        Col("after", "key"),
        Col("would notify", "text", min_width=20),
        Col("next in", "key"),
        Col("why", "key", optional=1),
    ]
    rows = []
    previous = report.start
    for run in report.runs:
        notes = "; ".join(
            f"{n.kind.value} {n.certificate.subject} ({n.certificate.store}, {n.days_left:.1f}d)"
            for n in run.notices
        )
        if run.notices and run.email_enabled:
            notes += f" -> e-mail to {len(run.recipients)} address(es)"
        nxt = run.next_run
        rows.append(
            [
                when(run.at).removesuffix(" UTC"),
                span(run.at - previous),
                notes or "-",
                span(nxt.interval) if nxt else "-",
                nxt.reason.value if nxt else "-",
            ]
        )
        previous = run.at
    console.print(fit_table(console, cols, rows))
