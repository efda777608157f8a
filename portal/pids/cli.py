"""`portal pids …`: the DOI registrations that are not done yet, and retrying them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from portal.services import Services


def _services() -> Services:
    from portal.services import build_services
    from portal.settings import load_settings

    return build_services(load_settings())


@click.group("pids")
def pids() -> None:
    """DOI registrations with DataCite: list those not done, retry them."""


@pids.command("retry")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also DOIs still waiting for their backoff and those the registry refused.",
)
def pids_retry(everything: bool) -> None:
    """Send pending DOI registrations again (those whose backoff is over); exit status 1 if any is left undone.
    A scheduler (cron, a job queue) runs this, or calls `portal.pids.registrations.retry_pending(services)`."""
    from portal.pids.registrations import retry_pending

    svc = _services()
    try:
        if svc.registrations is None:
            click.echo(f"the {svc.settings.pid_provider!r} PID provider registers nothing")
            return
        report = svc.registrations.retry(everything=True) if everything else retry_pending(svc)
    finally:
        svc.close()
    for doi in report.registered:
        click.echo(f"registered {doi}")
    for doi in report.pending:
        click.echo(f"still pending {doi}")
    for doi in report.rejected:
        click.echo(f"refused {doi}")
    if report.pending or report.rejected:
        raise SystemExit(1)


@pids.command("list")
def pids_list() -> None:
    """DOIs not registered yet: pending (with the next attempt) and refused (with the registry's reason)."""
    svc = _services()
    try:
        if svc.registrations is None:
            click.echo(f"the {svc.settings.pid_provider!r} PID provider registers nothing")
            return
        rows, total = svc.registrations.unfinished(size=1000)
    finally:
        svc.close()
    for r in rows:
        when = f" next attempt {r.next_attempt_at:%Y-%m-%d %H:%M:%S}" if r.next_attempt_at else ""
        field = f" [{r.error_field}]" if r.error_field else ""
        click.echo(f"{r.doi}\t{r.kind} {r.recid}\t{r.state}{when}\tattempts {r.attempts}{field}\t{r.last_error or ''}")
    click.echo(f"{total} not registered")
