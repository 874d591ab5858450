"""``certwarden cluster status``: the instances sharing this database and who runs what."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from certwarden.core.timefmt import iso_z
from certwarden.interfaces.cli._context import console, get_app, print_json

cluster_app = typer.Typer(
    help="Several instances on one PostgreSQL database: nodes and job leases.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")


@cluster_app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every registered instance (alive or gone) and the holder of each job's lease."""
    app = get_app(ctx)
    report = app.cluster.status()
    # The latest scheduled revocation run: its chunks done/pending, per node.
    run = app.revocation.run_progress()
    if as_json:
        data = report.to_json()
        data.pop("this_node")  # this command is not one of the instances
        data["revocation_run"] = run
        print_json(data)
        return
    nodes = Table("node", "host", "pid", "version", "started", "heartbeat", "state")
    for n in report.nodes:
        nodes.add_row(
            n.node_id[:12], n.host, str(n.pid), n.version, iso_z(n.started_at) or "",
            iso_z(n.heartbeat_at) or "", "gone" if n.gone else "alive",
        )  # fmt: skip
    console.print(nodes if report.nodes else "no instance is running (none has registered)")
    leases = Table("job", "holder", "tenure", "since", "expires", "state")
    for lease in report.leases:
        leases.add_row(
            lease.job, "-" if lease.expired else (lease.holder or "-")[:12], str(lease.token),
            iso_z(lease.acquired_at) if lease.acquired_at else "-",
            iso_z(lease.expires_at) or "", "expired" if lease.expired else "held",
        )  # fmt: skip
    if report.leases:
        console.print(leases)
    console.print(f"lease: {int(report.lease.total_seconds())} s", highlight=False)
    if run is not None:
        chunks = run["chunks"]
        console.print(
            f"revocation run {run['id']} ({run['state']}, {run['certificates']} certificates): "
            f"{chunks['done']}/{chunks['total']} chunks done, {chunks['claimed']} claimed, "
            f"{chunks['pending']} pending, {chunks['failed']} failed",
            highlight=False,
        )
        per_node = Table("node", "chunks done", "claimed", "certificates done")
        for n in run["nodes"]:
            per_node.add_row(
                n["node_id"][:12], str(n["chunks_done"]), str(n["chunks_claimed"]),
                str(n["certificates_done"]),
            )  # fmt: skip
        if run["nodes"]:
            console.print(per_node)
