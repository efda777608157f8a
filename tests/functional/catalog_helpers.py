"""Building records and apps for the catalogue's functional tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from portal.catalog.importers import read_record_file
from portal.services import Services


def dataset(recid: int, **extra: Any) -> dict[str, Any]:
    return {
        "recid": recid,
        "title": f"Dataset {recid}",
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "experiment": ["CMS"],
        "date_published": "2024-05-01",
        **extra,
    }


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def load_file(services: Services, path: Path):
    return services.catalog.load(read_record_file(path))
