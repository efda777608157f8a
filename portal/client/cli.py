"""`portal get`: list a record's files with their total size, then fetch them in parallel with one progress bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from portal.client.download import DownloadReport, download
from portal.client.records import ClientError, DownloadPlan, Protocol, list_files

LISTED = 20  # files named before a download starts (all of them with --dry-run)


class _Bar:
    """:class:`portal.client.download.Progress` on one rich bar (rich's task updates take a lock: thread-safe)."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def discount(self, n: int) -> None:
        # bytes already on disk leave the total, so rate and ETA speak of what is really transferred
        total = self.progress.tasks[self.task].total or 0
        self.progress.update(self.task, total=max(0, total - n))


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def show_plan(plan: DownloadPlan, console: Console, *, every: bool) -> None:
    shown = plan.files if every else plan.files[:LISTED]
    for f in shown:
        size = human(f.size) if f.size is not None else "size unknown"
        console.print(f"  {f.key}  [dim]{size}[/dim]", highlight=False)
    if len(shown) < len(plan.files):
        console.print(f"  … and {len(plan.files) - len(shown)} more", highlight=False)
    console.print(
        f"record {plan.recid} on {plan.server}: {len(plan.files)} file(s), {human(plan.total_bytes)} "
        f"({plan.total_bytes:,} bytes)",
        highlight=False,
    )


def run(
    recid: int,
    *,
    server: str,
    out: Path,
    glob: str | None,
    index: str | None,
    protocol: Protocol,
    parallel: int,
    dry_run: bool,
) -> int:
    """The command's work; returns its exit status (0 all fetched or already there, 1 some failed, 2 nothing
    could be listed)."""
    console = Console(stderr=True)
    try:
        plan = list_files(server, recid, glob=glob, index=index)
    except ClientError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    out_console = Console()
    show_plan(plan, out_console, every=dry_run)
    if dry_run or not plan.files:
        return 0
    columns = (
        TextColumn("[bold]get"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("get", total=plan.total_bytes)
        report = download(plan, out, protocol=protocol, parallel=parallel, progress=_Bar(progress, task))
    summarise(report, out_console, console)
    return 1 if report.failed else 0


def summarise(report: DownloadReport, out: Console, err: Console) -> None:
    counts = {s: sum(o.status == s for o in report.outcomes) for s in ("downloaded", "resumed", "skipped")}
    refetched = sum(o.refetched for o in report.outcomes)
    out.print(
        ", ".join(f"{n} {s}" for s, n in counts.items())
        + (f" ({refetched} damaged local copies refetched)" if refetched else "")
        + f"; {human(report.fetched)} fetched",
        highlight=False,
    )
    for o in report.failed:
        err.print(f"[red]failed:[/red] {o.key}: {o.error}", highlight=False)
    if report.failed:
        err.print(f"[red]{len(report.failed)} file(s) failed:[/red] " + " ".join(o.key for o in report.failed))


@click.command("get")
@click.argument("recid", type=int)
@click.option(
    "--server",
    envvar="PORTAL_SERVER",
    help="URL of the portal, or of any server with the CERN Open Data record API (default: PORTAL_SERVER, "
    "else PORTAL_BASE_URL).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Directory the files are saved in, under their keys.",
)
@click.option("--glob", "glob", metavar="PAT", help="Only files whose key matches this shell pattern (e.g. '*.root').")
@click.option("--index", metavar="KEY", help="Only the entries of this file index.")
@click.option("--protocol", type=click.Choice(["https", "root"]), default="https", show_default=True)
@click.option("--parallel", type=click.IntRange(1, 64), default=4, show_default=True, help="Files fetched at once.")
@click.option("--dry-run", is_flag=True, help="List the files and their total size; fetch nothing.")
def get(recid: int, server: str | None, **options: Any) -> None:
    """Download a record's files in parallel, resumed where an earlier run stopped, each checksum verified."""
    # the options go to run() as click parsed them: its typed signature is the one list of them
    if server is None:
        from portal.settings import load_settings

        server = load_settings().base_url
    sys.exit(run(recid, server=server, **options))
