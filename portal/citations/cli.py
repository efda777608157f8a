"""`portal citations …`: import who cites the portal's records from Scholix link files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.i18n import N_

if TYPE_CHECKING:
    from portal.services import Services


def _services() -> Services:
    from portal.services import build_services
    from portal.settings import load_settings

    return build_services(load_settings())


@click.group("citations")
def citations() -> None:
    """Citations of records: import them from Scholix link files."""


@citations.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def citations_import(path: Path) -> None:
    """Add the citations of PATH, a Scholix JSON link file (as ScholExplorer serves it). Links whose one side is a
    record of this portal (by DOI) and whose relation is a citation are added; every other link is reported by its
    position, and the good ones are kept. Exit status 1 when any link was refused."""
    from portal.errors import Invalid

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise Invalid(N_("not JSON: {err}"), err=err, source=str(path), field="file") from None
    svc = _services()
    try:
        report = svc.citations.import_scholix(document)
    finally:
        svc.close()
    for position, reason in report.refused:
        click.echo(f"link {position}: {reason}", err=True)
    click.echo(f"{report.added} added, {report.known} known already, {len(report.refused)} refused")
    if report.refused:
        raise SystemExit(1)
